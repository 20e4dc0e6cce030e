import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { csvLine, type Item } from '@tryon/domain';
import type { TryonClient } from './api.js';
import { CliError, EXIT, NetworkError, usageError } from './errors.js';
import { itemFileStems, resultExtension } from './names.js';
import { mapLimit } from './pool.js';

export const MANIFEST_NAME = 'manifest.csv';
export const MANIFEST_COLUMNS = [
  'item_id',
  'external_id',
  'model_file',
  'garment_file',
  'status',
  'file',
  'error',
  'review',
] as const;
export type ManifestRow = Record<(typeof MANIFEST_COLUMNS)[number], string>;

export interface DownloadReport {
  out: string;
  manifest: string;
  items: number;
  /** Files written in this run. */
  downloaded: number;
  /** Files already there with the right size. */
  skipped: number;
  /** Items without a file: failed, cancelled or not finished yet. */
  missing: number;
  bytes: number;
}

export interface DownloadOptions {
  concurrency: number;
  /** Only the items a person approved (review: approved); the manifest lists only those. */
  approvedOnly?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Every completed item's image into `out` as `<external_id>.<ext>` (safe names, unique within
 * the batch), then `manifest.csv` with one row per item in submission order. A file already
 * there with the result's size is kept, so an interrupted download resumes; each file is
 * written to a temp name, checked against the result's size and sha256, then renamed.
 */
export async function downloadBatch(
  client: TryonClient,
  batchId: string,
  out: string,
  options: DownloadOptions,
): Promise<DownloadReport> {
  const all = await client.allItems(batchId);
  const items = options.approvedOnly ? all.filter((item) => item.review === 'approved') : all;
  await mkdir(out, { recursive: true }).catch((error: unknown) => {
    throw usageError(`--out ${out}: ${(error as Error).message}`, 'output_unwritable');
  });
  const stems = itemFileStems(items);
  const files = new Map<string, string>();
  const work: { item: Item; file: string }[] = [];
  items.forEach((item, i) => {
    if (item.status !== 'completed' || !item.result) return;
    const file = `${stems[i]}.${resultExtension(item.result)}`;
    files.set(item.id, file);
    work.push({ item, file });
  });

  let downloaded = 0;
  let skipped = 0;
  let bytes = 0;
  let done = 0;
  options.onProgress?.(0, work.length);
  await mapLimit(work, options.concurrency, async ({ item, file }) => {
    const path = join(out, file);
    const existing = await stat(path).catch(() => null);
    if (existing?.isFile() && existing.size === item.result!.bytes) {
      skipped++;
    } else {
      bytes += await fetchWithRetries(client, item, path);
      downloaded++;
    }
    options.onProgress?.(++done, work.length);
  });

  const manifest = join(out, MANIFEST_NAME);
  const temp = join(out, `.${MANIFEST_NAME}.${process.pid}.part`);
  await writeFile(temp, toCsv(manifestRows(items, files)));
  await rename(temp, manifest);
  return {
    out,
    manifest,
    items: items.length,
    downloaded,
    skipped,
    missing: items.length - files.size,
    bytes,
  };
}

/** A download cut off midway (a dropped connection, a timeout) is tried again twice. */
async function fetchWithRetries(client: TryonClient, item: Item, path: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchResult(client, item, path);
    } catch (error) {
      const final = error instanceof CliError && error.exitCode !== EXIT.api;
      if (final || attempt >= 3) throw error;
      await sleep(500 * attempt);
    }
  }
}

async function fetchResult(client: TryonClient, item: Item, path: string): Promise<number> {
  const expected = item.result!;
  const temp = join(dirname(path), `.${item.id}.${process.pid}.part`);
  const hash = createHash('sha256');
  let size = 0;
  try {
    const { body } = await client.itemResult(item.id);
    await pipeline(
      body,
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          size += chunk.length;
          callback(null, chunk);
        },
      }),
      createWriteStream(temp),
    );
    const sha256 = hash.digest('hex');
    if (size !== expected.bytes || sha256 !== expected.sha256) {
      throw new NetworkError(
        'download_mismatch',
        `GET /v1/items/${item.id}/result: got ${size} bytes (sha256 ${sha256.slice(0, 12)}), ` +
          `the item says ${expected.bytes} (sha256 ${expected.sha256.slice(0, 12)})`,
        false,
      );
    }
    await rename(temp, path);
    return size;
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** One manifest row per item; `files` maps item ids to the file written for them. */
export function manifestRows(items: Item[], files: Map<string, string>): ManifestRow[] {
  return items.map((item) => ({
    item_id: item.id,
    external_id: item.external_id ?? '',
    // Batches made by the CLI carry the file names; others fall back to their image refs.
    model_file: text(item.metadata?.model_file) || item.model,
    garment_file: text(item.metadata?.garment_file) || item.cloth,
    status: item.status,
    file: files.get(item.id) ?? '',
    error: item.error ? `${item.error.code}: ${item.error.message}` : '',
    review: item.review ?? '',
  }));
}

/** RFC 4180 (the workspace's one CSV writer): a header, then one CRLF-ended line per row. */
export function toCsv(rows: ManifestRow[]): string {
  const lines = [csvLine(MANIFEST_COLUMNS)];
  for (const row of rows) lines.push(csvLine(MANIFEST_COLUMNS.map((c) => row[c])));
  return lines.join('');
}
