import type { Redis } from 'ioredis';
import type { RedisKeys } from '@tryon/redis';

/** A batch search (GET /v1/batches?q=) looks at this many of the newest batches at most. */
export const BATCH_SEARCH_SCAN = 10_000;
/** Batch names read per Redis round trip while searching. */
const BATCH_SEARCH_PAGE = 500;

/** Ids of the tenant's newest batches whose name or id contains `needle` (lower case). */
export async function searchBatchIds(
  redis: Redis,
  keys: RedisKeys,
  tenantId: string,
  needle: string,
  limit: number,
): Promise<string[]> {
  const found: string[] = [];
  for (let start = 0; start < BATCH_SEARCH_SCAN && found.length < limit;) {
    const ids = await redis.zrevrange(
      keys.tenantBatches(tenantId),
      start,
      start + BATCH_SEARCH_PAGE - 1,
    );
    if (ids.length === 0) break;
    start += ids.length;
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hmget(keys.batch(id), 'id', 'name');
    const rows = ((await pipeline.exec()) ?? []).map(([, row]) => row as (string | null)[]);
    ids.forEach((id, i) => {
      const [exists, name] = rows[i] ?? [];
      // An expired batch has no hash any more: it is not listed anyway.
      if (!exists || found.length >= limit) return;
      if ((name ?? '').toLowerCase().includes(needle) || id.toLowerCase().includes(needle)) {
        found.push(id);
      }
    });
  }
  return found;
}
