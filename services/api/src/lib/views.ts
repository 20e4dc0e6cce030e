import type { Batch, Item } from '@tryon/domain';
import type { BatchRecord, ItemRecord } from '@tryon/records';

/** The public Batch: what a tenant may see of the stored record. */
export function publicBatch(record: BatchRecord): Batch {
  return {
    id: record.id,
    status: record.status,
    counts: record.counts,
    progress: record.progress,
    webhook_url: record.webhook_url,
    idempotency_key: record.idempotency_key,
    metadata: record.metadata,
    priority: record.priority,
    created_at: record.created_at,
    completed_at: record.completed_at,
  };
}

/** The public Item, its result with the URL that serves the stored image. */
export function publicItem(record: ItemRecord, publicUrl: string): Item {
  const { tenant_id: _tenant, run: _run, result, ...item } = record;
  return {
    ...item,
    result: result ? { ...result, url: resultUrl(publicUrl, record.id) } : null,
  };
}

export const resultUrl = (publicUrl: string, itemId: string): string =>
  `${publicUrl}/v1/items/${encodeURIComponent(itemId)}/result`;
