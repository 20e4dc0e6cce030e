import type { Batch, Item } from '@tryon/domain';
import type { BatchRecord, ItemRecord } from './records.js';

/** Where a tenant fetches an item's result image through the API. */
export const itemResultUrl = (publicUrl: string, itemId: string): string =>
  `${publicUrl}/v1/items/${itemId}/result`;

/** Where a tenant fetches one of an item's earlier results (0 is the oldest). */
export const previousResultUrl = (publicUrl: string, itemId: string, index: number): string =>
  `${publicUrl}/v1/items/${itemId}/previous-results/${index}`;

/** An item as the API and webhooks show it: no internal fields, the result with its URL. */
export function publicItem(record: ItemRecord, publicUrl: string): Item {
  const { tenant_id: _tenant, run: _run, result, previous_results: previous, ...item } = record;
  return {
    ...item,
    result: result ? { ...result, url: itemResultUrl(publicUrl, record.id) } : null,
    previous_results: previous.map((earlier, index) => ({
      ...earlier,
      url: previousResultUrl(publicUrl, record.id, index),
    })),
  };
}

export function publicBatch(record: BatchRecord): Batch {
  const { tenant_id: _tenant, completion_seq: _seq, enqueued: _enqueued, ...batch } = record;
  return batch;
}
