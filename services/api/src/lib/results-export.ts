import { Readable } from 'node:stream';
import { csvLine, defuseFormula, type ItemStatus } from '@tryon/domain';
import { itemResultUrl, type ItemRecord, type Records } from '@tryon/records';

/** Items read per Redis round trip while a results file is written. */
const PAGE_SIZE = 500;

/** One row of a batch's results file, in this column order (the CSV header). */
export const RESULT_COLUMNS = [
  'item_id',
  'external_id',
  'status',
  'model',
  'cloth',
  'lower_cloth',
  'cloth_type',
  'hd_mode',
  'result_url',
  'result_bytes',
  'result_sha256',
  'review',
  'error_code',
  'error_message',
  'created_at',
  'completed_at',
  'metadata',
] as const;

export type ResultRow = Record<(typeof RESULT_COLUMNS)[number], unknown>;

export function resultRow(item: ItemRecord, publicUrl: string): ResultRow {
  return {
    item_id: item.id,
    external_id: item.external_id,
    status: item.status,
    model: item.model,
    cloth: item.cloth,
    lower_cloth: item.lower_cloth,
    cloth_type: item.cloth_type,
    hd_mode: item.hd_mode,
    // As publicItem shows it: the API route that serves the image.
    result_url: item.result ? itemResultUrl(publicUrl, item.id) : null,
    result_bytes: item.result?.bytes ?? null,
    result_sha256: item.result?.sha256 ?? null,
    review: item.review,
    error_code: item.error?.code ?? null,
    error_message: item.error?.message ?? null,
    created_at: item.created_at,
    completed_at: item.completed_at,
    metadata: item.metadata,
  };
}

/** The batch's items page by page, in submission order: one page in memory at a time. */
export async function* itemPages(
  records: Records,
  batchId: string,
  status?: ItemStatus,
): AsyncGenerator<ItemRecord[]> {
  let cursor: string | undefined;
  do {
    const page = await records.listItems(batchId, { status, limit: PAGE_SIZE, cursor });
    if (page.items.length > 0) yield page.items;
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
}

/** A CSV cell: empty for null, JSON for objects, and never something a spreadsheet runs. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean'
        ? String(value)
        : JSON.stringify(value);
  return defuseFormula(text);
}

export type ResultsFormat = 'jsonl' | 'csv';

/**
 * The body of results.jsonl or results.csv as a stream. Redis is read only as the client reads
 * (Readable.from pulls the next page when the socket drains), so a 10,000-item batch costs one
 * page of memory, however slow the client.
 */
export function resultsStream(
  records: Records,
  batchId: string,
  publicUrl: string,
  format: ResultsFormat,
): Readable {
  async function* lines(): AsyncGenerator<string> {
    if (format === 'csv') yield csvLine(RESULT_COLUMNS);
    for await (const items of itemPages(records, batchId)) {
      const rows = items.map((item) => resultRow(item, publicUrl));
      yield format === 'csv'
        ? rows.map((row) => csvLine(RESULT_COLUMNS.map((c) => csvCell(row[c])))).join('')
        : rows.map((row) => `${JSON.stringify(row)}\n`).join('');
    }
  }
  return Readable.from(lines(), { objectMode: false });
}
