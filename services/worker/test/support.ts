import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { assetIdFor } from '@tryon/domain';
import { createTryonQueue, redisConnection, tryonJob } from '@tryon/queues';
import type { NewItem, Records } from '@tryon/records';
import type { Storage } from '@tryon/storage';
import { makeImage } from '@tryon/testing';

/** Stores an image the way POST /v1/assets does: content-addressed bytes plus the asset record. */
export async function storeAsset(
  records: Records,
  storage: Storage,
  tenantId: string,
  color: { r: number; g: number; b: number },
  size = { width: 400, height: 600 },
): Promise<string> {
  const bytes = await makeImage({ ...size, color });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const stored = await storage.put(`assets/${sha256}`, bytes, { contentType: 'image/jpeg' });
  const id = assetIdFor(tenantId, sha256);
  await records.saveAsset(tenantId, {
    id,
    sha256,
    bytes: stored.bytes,
    ...size,
    content_type: 'image/jpeg',
    storage_key: stored.key,
  });
  return id;
}

/** Records a batch and queues its jobs, as POST /v1/batches does. */
export async function submitBatch(
  records: Records,
  redisUrl: string,
  prefix: string,
  tenantId: string,
  items: NewItem[],
  options: {
    webhookUrl?: string;
    freshRenders?: boolean;
    inputChecks?: boolean;
    idempotencyKey?: string;
  } = {},
): Promise<string> {
  const { batch } = await records.createBatch({ tenantId, items, ...options });
  const connection: Redis = redisConnection(redisUrl);
  const queue = createTryonQueue(connection, prefix);
  try {
    const ids = await records.itemIds(batch.id);
    const stored = await Promise.all(ids.map((id) => records.getItem(id)));
    await queue.addBulk(stored.map((item) => tryonJob(item!)));
    await records.markEnqueued(batch.id);
  } finally {
    await queue.close();
    connection.disconnect();
  }
  return batch.id;
}
