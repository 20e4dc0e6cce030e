import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/**
 * Takes the expiry off a batch that is open again (retried), one chunk of item hashes per call,
 * and puts it back in the live set. KEYS: batch hash, its item list, its five state sets,
 * deliveries, the live set, the item family prefix. ARGV: batch id, first item position, chunk
 * size. Returns the item hashes handled, or 0 after the last chunk.
 */
const KEEP_BATCH = `
local batch, items, live, itemFamily = KEYS[1], KEYS[2], KEYS[9], KEYS[10]
local batchId = ARGV[1]
local first, count = tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = redis.call('ZRANGE', items, first, first + count - 1)
for _, id in ipairs(ids) do redis.call('PERSIST', itemFamily .. id) end
if #ids == count then return #ids end
for i = 1, 8 do redis.call('PERSIST', KEYS[i]) end
if redis.call('HEXISTS', batch, 'expires_at') == 1 then redis.call('HSET', batch, 'expires_at', '') end
local created = redis.call('HGET', batch, 'created_at')
if created then redis.call('ZADD', live, 'NX', tonumber(created), batchId) end
return 0
`;

export const keepBatchScript = defineScript<number>({
  name: 'recordsKeepBatch',
  numberOfKeys: 10,
  lua: KEEP_BATCH,
});

export function keepBatchChunk(
  redis: Redis,
  keys: RedisKeys,
  batchId: string,
  chunk: { first: number; count: number },
): Promise<number> {
  return keepBatchScript.run(
    redis,
    [
      keys.batch(batchId),
      keys.batchItems(batchId),
      ...keys.batchStates(batchId),
      keys.batchDeliveries(batchId),
      keys.liveBatches(),
      keys.itemFamily(),
    ],
    [batchId, chunk.first, chunk.count],
  );
}
