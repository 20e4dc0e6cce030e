import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/**
 * Gives a finished batch's records an expiry (never shortening a longer one already set), one
 * chunk of item hashes per call; the last call covers the batch's own keys and drops the batch
 * from the live set. Refuses (-2) once the batch is open again (a retry), -1 when it is gone.
 * KEYS: batch hash, its item list, its five state sets, deliveries, replay counter, its
 * admission line, the live set, the item family prefix, then its idempotency key if it has one.
 * ARGV: batch id, ttl ms, first item position, chunk size, now ms.
 * Returns the item hashes handled in this chunk, or 0 after the last one.
 */
const EXPIRE_BATCH = `
local batch, items, live, itemFamily = KEYS[1], KEYS[2], KEYS[11], KEYS[12]
local batchId, ttl = ARGV[1], tonumber(ARGV[2])
local first, count, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if not redis.call('HGET', batch, 'tenant_id') then
  redis.call('ZREM', live, batchId)
  return -1
end
if redis.call('HGET', batch, 'completed_at') == '' then return -2 end
local function keep(key)
  local left = redis.call('PTTL', key)
  if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', key, ttl) end
end
local ids = redis.call('ZRANGE', items, first, first + count - 1)
for _, id in ipairs(ids) do keep(itemFamily .. id) end
if #ids == count then return #ids end
-- The item list, state sets, deliveries, replays, admission leftovers and idempotency key.
for i = 2, #KEYS do
  if i ~= 11 and i ~= 12 then keep(KEYS[i]) end
end
redis.call('HSET', batch, 'expires_at', now + ttl)
keep(batch)
redis.call('ZREM', live, batchId)
return 0
`;

export const expireBatchScript = defineScript<number>({
  name: 'recordsExpireBatch',
  numberOfKeys: 'variable',
  lua: EXPIRE_BATCH,
});

export function expireBatchChunk(
  redis: Redis,
  keys: RedisKeys,
  batch: { id: string; idempotencyKey: string | null },
  chunk: { ttlMs: number; first: number; count: number; now: number },
): Promise<number> {
  const id = batch.id;
  return expireBatchScript.run(
    redis,
    [
      keys.batch(id),
      keys.batchItems(id),
      ...keys.batchStates(id),
      keys.batchDeliveries(id),
      keys.batchReplays(id),
      keys.admissionBatch(id),
      keys.liveBatches(),
      keys.itemFamily(),
      ...(batch.idempotencyKey ? [batch.idempotencyKey] : []),
    ],
    [id, chunk.ttlMs, chunk.first, chunk.count, chunk.now],
  );
}
