import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { ClothType, contentTypeForName, WEB_IMAGE_TYPES } from '@tryon/domain';
import { usageError } from './errors.js';
import { stemOf } from './names.js';
import { displayPath } from './output.js';

/**
 * What `--models`, `--garments` and `--lower` name: a directory of images, a CSV listing them,
 * or one image file. Everything about the inputs is checked here, before any upload, and every
 * problem names the file and CSV line.
 */

/** The cloth types the API takes, from its schema. */
export const CLOTH_TYPES: readonly ClothType[] = ClothType.anyOf.map((literal) => literal.const);

/** An image the API takes as it is (.jpg, .jpeg, .png, .webp), by the shared media-type table. */
export function isImageName(name: string): boolean {
  // extname: a file named just `png` has no extension, so it is not an image.
  return WEB_IMAGE_TYPES.includes(contentTypeForName(extname(name)) ?? '');
}

export type ImageSource =
  | {
      kind: 'file';
      /** Absolute path. */
      path: string;
      /** As the user would recognise it: the name in the folder, the CSV's path value. */
      label: string;
    }
  | { kind: 'url'; url: string; label: string };

export interface InputImage {
  source: ImageSource;
  /** The side's part of an item's external_id: the CSV's external_id, else the file stem. */
  name: string;
  /** Garments only: the CSV's cloth_type. */
  clothType?: ClothType;
  /** Garments only: the CSV's lower_path or lower_url. */
  lower?: InputImage;
}

export type InputRole = 'models' | 'garments' | 'lower';

const byName = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });

export async function readImages(spec: string, role: InputRole): Promise<InputImage[]> {
  const path = resolve(spec);
  const info = await stat(path).catch(() => {
    throw usageError(`--${role} ${spec}: no such file or directory`, 'input_not_found');
  });
  if (info.isDirectory()) return readDirectory(path, spec, role);
  if (extname(path).toLowerCase() === '.csv') {
    return readCsv(await readText(path, spec, role), path, spec, role);
  }
  if (isImageName(path)) {
    return [{ source: { kind: 'file', path, label: basename(path) }, name: stemOf(path) }];
  }
  throw usageError(
    `--${role} ${spec}: expected a directory of images, a .csv file or an image ` +
      '(.jpg, .jpeg, .png, .webp)',
    'invalid_input',
  );
}

async function readText(path: string, spec: string, role: InputRole): Promise<string> {
  return readFile(path, 'utf8').catch((error: unknown) => {
    throw usageError(`--${role} ${spec}: ${(error as Error).message}`, 'input_unreadable');
  });
}

/** The images directly in a directory (not its subdirectories, not hidden files), sorted. */
export async function readDirectory(
  path: string,
  spec: string,
  role: InputRole,
): Promise<InputImage[]> {
  const entries = await readdir(path, { withFileTypes: true }).catch((error: unknown) => {
    throw usageError(`--${role} ${spec}: ${(error as Error).message}`, 'input_unreadable');
  });
  const names = entries
    .filter((entry) => entry.isFile() || entry.isSymbolicLink())
    .map((entry) => entry.name)
    .filter((name) => !name.startsWith('.') && isImageName(name))
    .sort(byName.compare);
  if (names.length === 0) {
    throw usageError(
      `--${role} ${spec}: no images in this directory (.jpg, .jpeg, .png, .webp)`,
      'no_images',
    );
  }
  return names.map((name) => ({
    source: { kind: 'file', path: join(path, name), label: name },
    name: stemOf(name),
  }));
}

const COLUMNS: Record<InputRole, string[]> = {
  models: ['path', 'url', 'external_id'],
  garments: ['path', 'url', 'external_id', 'cloth_type', 'lower_path', 'lower_url'],
  lower: ['path', 'url', 'external_id'],
};

/**
 * A CSV with a header row: `path` (relative to the CSV) or `url` per row, optional
 * `external_id`; garments also `cloth_type` and `lower_path` or `lower_url`. Other columns are
 * ignored, so a catalog export can be used as it is.
 */
export function readCsv(text: string, csvPath: string, spec: string, role: InputRole) {
  const where = (line?: number) => `--${role} ${spec}${line ? ` line ${line}` : ''}`;
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parse(text, {
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }) as unknown as typeof rows;
  } catch (error) {
    const e = error as Error & { lines?: number };
    throw usageError(`${where(e.lines)}: ${e.message}`, 'invalid_csv');
  }
  const [header, ...records] = rows;
  if (!header) throw usageError(`${where()}: the CSV is empty`, 'invalid_csv');
  const columns = header.record.map((name) => name.trim().toLowerCase());
  if (!columns.includes('path') && !columns.includes('url')) {
    throw usageError(
      `${where(1)}: the header needs a "path" or "url" column (found: ${columns.join(', ')})`,
      'invalid_csv',
    );
  }
  const index = new Map<string, number>();
  for (const name of COLUMNS[role]) {
    const at = columns.indexOf(name);
    if (at >= 0) index.set(name, at);
  }
  const base = dirname(csvPath);
  const images: InputImage[] = [];
  for (const { record, info } of records) {
    const cell = (name: string) => {
      const at = index.get(name);
      return at === undefined ? '' : (record[at] ?? '').trim();
    };
    const line = info.lines;
    const source = sourceOf(cell('path'), cell('url'), base, `${where(line)}`);
    if (!source) continue;
    const externalId = cell('external_id');
    const image: InputImage = { source, name: externalId || stemOf(sourceKey(source)) };
    if (role === 'garments') {
      const clothType = cell('cloth_type');
      if (clothType) {
        if (!CLOTH_TYPES.includes(clothType as ClothType)) {
          throw usageError(
            `${where(line)}: cloth_type "${clothType}" is not one of ${CLOTH_TYPES.join(', ')}`,
            'invalid_csv',
          );
        }
        image.clothType = clothType as ClothType;
      }
      const lower = sourceOf(cell('lower_path'), cell('lower_url'), base, `${where(line)} (lower)`);
      if (lower) image.lower = { source: lower, name: stemOf(sourceKey(lower)) };
    }
    images.push(image);
  }
  if (images.length === 0) throw usageError(`${where()}: no rows with an image`, 'no_images');
  return images;
}

/** A row's image: exactly one of path and url; null for a row with neither (skipped). */
function sourceOf(path: string, url: string, base: string, where: string): ImageSource | null {
  if (path && url) throw usageError(`${where}: give path or url, not both`, 'invalid_csv');
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw usageError(`${where}: "${url}" is not a URL`, 'invalid_csv');
    }
    // https; the API decides whether plain http is allowed (it is only on private setups).
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw usageError(`${where}: "${url}" is not an https URL`, 'invalid_csv');
    }
    return { kind: 'url', url: parsed.href, label: url };
  }
  if (!path) return null;
  if (!isImageName(path)) {
    throw usageError(`${where}: "${path}" is not a .jpg, .jpeg, .png or .webp file`, 'invalid_csv');
  }
  return { kind: 'file', path: isAbsolute(path) ? path : resolve(base, path), label: path };
}

export function sourceKey(source: ImageSource): string {
  return source.kind === 'file' ? source.path : source.url;
}

/**
 * Every local file named by the inputs, once each, checked to exist: a missing one is a typo
 * in the inputs, so every missing file is named at once, before anything is uploaded. (A file
 * that exists but cannot be read or is refused is reported by the upload, which goes on with
 * the others.)
 */
export async function localFiles(images: InputImage[]): Promise<string[]> {
  const paths = new Set<string>();
  for (const image of images) {
    for (const source of [image.source, image.lower?.source]) {
      if (source?.kind === 'file') paths.add(source.path);
    }
  }
  const missing: string[] = [];
  await Promise.all(
    [...paths].map(async (path) => {
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) missing.push(displayPath(path));
    }),
  );
  if (missing.length > 0) {
    throw usageError(
      missing.length === 1
        ? `${missing[0]}: no such file`
        : `no such files: ${missing.sort().join(', ')}`,
      'input_not_found',
    );
  }
  return [...paths];
}
