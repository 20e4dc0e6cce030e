import { createHash } from 'node:crypto';
import { basename, extname, resolve } from 'node:path';
import { BATCH_NAME_MAX_LENGTH, extensionForContentType } from '@tryon/domain';

/** The API's limits on external_id and on a batch's name. */
export const EXTERNAL_ID_MAX = 256;
export const BATCH_NAME_MAX = BATCH_NAME_MAX_LENGTH;
/** File names stay well under the 255 bytes most file systems allow, extension included. */
const FILE_STEM_MAX_BYTES = 150;

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

/** A file's name without its directory and extension: `shots/anna.front.jpg` -> `anna.front`. */
export function stemOf(pathOrUrl: string): string {
  let name = pathOrUrl;
  if (/^https?:\/\//i.test(pathOrUrl)) {
    try {
      name = decodeURIComponent(new URL(pathOrUrl).pathname);
    } catch {
      name = new URL(pathOrUrl).pathname;
    }
  }
  const base = basename(name);
  const stem = base.slice(0, base.length - extname(base).length);
  return stem || base || 'image';
}

/**
 * The external_id of a model x garment pair: each side's CSV external_id or file stem, joined
 * with `__` (a combo garment's lower half joins with `+`). Cut to the API's limit with a hash
 * so two long ids stay different.
 */
export function pairExternalId(model: string, garment: string, lower?: string): string {
  const id = `${model}__${garment}${lower === undefined ? '' : `+${lower}`}`;
  if (id.length <= EXTERNAL_ID_MAX) return id;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 12);
  return `${id.slice(0, EXTERNAL_ID_MAX - 13)}~${hash}`;
}

/** Makes ids unique in order: the second `a` becomes `a~2`, the third `a~3`. */
export function uniqueIds(ids: string[]): string[] {
  const seen = new Set<string>();
  return ids.map((id) => {
    let candidate = id;
    for (let n = 2; seen.has(candidate); n++) candidate = `${id}~${n}`;
    seen.add(candidate);
    return candidate;
  });
}

/**
 * A name that is safe as a file name on Linux, macOS and Windows: letters (any script),
 * digits, `.`, `_`, `-`, `+` and `~`; everything else becomes `_`. No leading dot or dash
 * (hidden files, options), no reserved Windows device names, at most 150 bytes.
 */
export function safeFileStem(name: string): string {
  let stem = name
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}._+~-]+/gu, '_')
    .replace(/^[.\-_]+/, '')
    .replace(/[. ]+$/, '');
  if (Buffer.byteLength(stem) > FILE_STEM_MAX_BYTES) {
    const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
    let cut = stem;
    while (Buffer.byteLength(cut) > FILE_STEM_MAX_BYTES - 11) cut = cut.slice(0, -1);
    stem = `${cut}~${hash}`;
  }
  if (WINDOWS_RESERVED.test(stem.split('.')[0] ?? '')) stem = `_${stem}`;
  return stem;
}

/**
 * File stems for a batch's items, in item order: the safe external_id (the item id when there
 * is none), made unique case-insensitively by appending the item id. Stable from one run to
 * the next, so a second download finds the files of the first.
 */
export function itemFileStems(items: { id: string; external_id: string | null }[]): string[] {
  const taken = new Set<string>();
  return items.map((item) => {
    let stem = safeFileStem(item.external_id ?? '') || safeFileStem(item.id) || 'item';
    if (taken.has(stem.toLowerCase())) stem = `${stem}_${safeFileStem(item.id)}`;
    for (let n = 2; taken.has(stem.toLowerCase()); n++) stem = `${stem}_${n}`;
    taken.add(stem.toLowerCase());
    return stem;
  });
}

/** The file extension of a stored result: from its content type, else its storage key. */
export function resultExtension(result: { content_type: string; key: string }): string {
  const byType = extensionForContentType(result.content_type);
  if (byType) return byType;
  const fromKey = extname(result.key).slice(1).toLowerCase();
  return /^[a-z0-9]{1,5}$/.test(fromKey) ? fromKey : 'bin';
}

/** Extensions of the inputs that are files (a CSV, one image), cut from a default name. */
const INPUT_FILE_EXTENSION = /\.(csv|jpe?g|png|webp)$/i;

/**
 * A batch's name when --name is not given: the names of the folders (or CSVs, or files) it
 * was made from, `models x shirts`, or `models x tops + jeans` with combo lower halves.
 */
export function defaultBatchName(models: string, garments: string, lower?: string): string {
  const label = (input: string): string => {
    if (/^https?:\/\//i.test(input)) return stemOf(input);
    const base = basename(resolve(input));
    return base.replace(INPUT_FILE_EXTENSION, '') || base;
  };
  const name =
    `${label(models)} x ${label(garments)}` + (lower === undefined ? '' : ` + ${label(lower)}`);
  return name.length > BATCH_NAME_MAX ? `${name.slice(0, BATCH_NAME_MAX - 3)}...` : name;
}
