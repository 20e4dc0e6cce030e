import { PassThrough, type Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ZipFile } from 'yazl';
import { csvLine, defuseFormula, FileStems, resultExtension } from '@tryon/domain';
import type { ItemRecord, Records } from '@tryon/records';
import type { Storage } from '@tryon/storage';
import { itemPages } from './results-export.js';

export const ZIP_MANIFEST_NAME = 'manifest.csv';

/** The manifest's columns: one row per image in the ZIP, in submission order. */
export const ZIP_MANIFEST_COLUMNS = [
  'item_id',
  'external_id',
  'file',
  'review',
  'result_bytes',
  'result_sha256',
] as const;

export interface ResultsZipOptions {
  records: Records;
  storage: Storage;
  batchId: string;
  /** Only the results a person approved. */
  approvedOnly: boolean;
  onError: (error: unknown) => void;
}

interface ZipEntry {
  item: ItemRecord;
  result: NonNullable<ItemRecord['result']>;
  file: string;
}

/**
 * A batch's result images as a ZIP, streamed: the images (named as `tryon download` names
 * them: safe external ids, unique in the batch) and then `manifest.csv`. Nothing is held in
 * memory beyond one page of items: the next page is read from Redis when the last image of
 * the current one starts streaming, and each image is read from storage only when its turn
 * comes (yazl's lazy entries). Images are stored, not deflated: they are compressed already.
 */
export function resultsZipStream(options: ResultsZipOptions): Readable {
  const { records, storage, batchId, approvedOnly } = options;
  const zip = new ZipFile();
  const out = new PassThrough();
  const pages = itemPages(records, batchId);
  const stems = new FileStems();
  const manifest: string[] = [csvLine(ZIP_MANIFEST_COLUMNS)];

  const fail = (error: unknown) => {
    options.onError(error);
    out.destroy(error instanceof Error ? error : new Error(String(error)));
  };

  const entriesOf = (items: ItemRecord[]): ZipEntry[] =>
    items.flatMap((item) => {
      const result = item.result;
      if (item.status !== 'completed' || !result) return [];
      if (approvedOnly && item.review !== 'approved') return [];
      return [{ item, result, file: `${stems.next(item)}.${resultExtension(result)}` }];
    });

  const addEntry = (entry: ZipEntry, onStart: (() => void) | null) => {
    const { item, result, file } = entry;
    manifest.push(
      csvLine([
        item.id,
        defuseFormula(item.external_id ?? ''),
        file,
        item.review ?? '',
        String(result.bytes),
        result.sha256,
      ]),
    );
    const mtime = new Date(item.completed_at ?? item.updated_at);
    zip.addReadStreamLazy(file, { compress: false, mtime, size: result.bytes }, (callback) => {
      onStart?.();
      storage.get(result.key).then(
        (object) =>
          object
            ? callback(null, object.body)
            : callback(
                new Error(`result of ${item.id} missing from storage: ${result.key}`),
                null!,
              ),
        (error: unknown) => callback(error, null!),
      );
    });
  };

  /** Adds the next page's images, or the manifest and the end when no page is left. */
  const fill = async (): Promise<void> => {
    for (;;) {
      const next = await pages.next();
      if (next.done) {
        zip.addBuffer(Buffer.from(manifest.join('')), ZIP_MANIFEST_NAME, { mtime: new Date() });
        zip.end();
        return;
      }
      const entries = entriesOf(next.value);
      if (entries.length === 0) continue;
      entries.forEach((entry, i) =>
        addEntry(entry, i === entries.length - 1 ? () => void fill().catch(fail) : null),
      );
      return;
    }
  };

  zip.on('error', fail);
  zip.outputStream.on('error', fail);
  zip.outputStream.pipe(out);
  void fill().catch(fail);
  return out;
}

/** Answers a batch's results ZIP as a download (the /v1 route and the dashboard's link alike). */
export function sendResultsZip(
  request: FastifyRequest,
  reply: FastifyReply,
  options: Omit<ResultsZipOptions, 'onError'>,
): FastifyReply {
  const { batchId, approvedOnly } = options;
  const body = resultsZipStream({
    ...options,
    onError: (error) => request.log.error({ err: error, batchId }, 'results ZIP'),
  });
  const name = `${batchId}-results${approvedOnly ? '-approved' : ''}.zip`;
  return reply
    .type('application/zip')
    .header('content-disposition', `attachment; filename="${name}"`)
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .send(body);
}
