import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/**
 * A tenant that had nothing waiting goes to the front of the ring: served at the next admission,
 * then back to its place in the round. Shared by PARK and PARK_MANY; expects `seq` and
 * KEYS[5] (the tenant's batches), KEYS[6] (the tenants ring).
 */
const JOIN_RING = `
redis.call('ZADD', KEYS[5], 'NX', (10 - priority) * 1e12 + seq, batchId)
if redis.call('ZSCORE', KEYS[6], tenantId) == false then
  local first = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
  local front = seq
  if first[2] then front = tonumber(first[2]) - 1 end
  redis.call('ZADD', KEYS[6], front, tenantId)
end
`;

/**
 * KEYS: assigned, parked, the batch's line, seq, the tenant's batches, tenants.
 * ARGV: itemId, batchId, tenantId, priority. Returns 1 if parked now.
 */
const PARK = `
local itemId, batchId, tenantId = ARGV[1], ARGV[2], ARGV[3]
local priority = tonumber(ARGV[4])
if redis.call('HEXISTS', KEYS[1], itemId) == 1 then return 0 end
if redis.call('SADD', KEYS[2], itemId) == 0 then return 0 end
redis.call('RPUSH', KEYS[3], itemId)
local seq = redis.call('INCR', KEYS[4])
${JOIN_RING}
return 1
`;

/**
 * Parks a new batch's items in one call (the API does this as it records the batch).
 * KEYS: as PARK. ARGV: batchId, tenantId, priority, itemId... Returns how many were parked now.
 */
const PARK_MANY = `
local batchId, tenantId = ARGV[1], ARGV[2]
local priority = tonumber(ARGV[3])
local parked = 0
for i = 4, #ARGV do
  local itemId = ARGV[i]
  if redis.call('HEXISTS', KEYS[1], itemId) == 0 and redis.call('SADD', KEYS[2], itemId) == 1 then
    redis.call('RPUSH', KEYS[3], itemId)
    parked = parked + 1
  end
end
if parked == 0 then return 0 end
local seq = redis.call('INCR', KEYS[4])
${JOIN_RING}
return parked
`;

export const parkScript = defineScript<number>({
  name: 'admissionPark',
  numberOfKeys: 6,
  lua: PARK,
});
export const parkManyScript = defineScript<number>({
  name: 'admissionParkMany',
  numberOfKeys: 6,
  lua: PARK_MANY,
});

function parkKeys(keys: RedisKeys, batchId: string, tenantId: string): string[] {
  return [
    keys.admissionAssigned(),
    keys.admissionParked(),
    keys.admissionBatch(batchId),
    keys.admissionSeq(),
    keys.admissionTenant(tenantId),
    keys.admissionTenants(),
  ];
}

export async function parkItem(
  redis: Redis,
  keys: RedisKeys,
  item: { id: string; batchId: string; tenantId: string; priority: number },
): Promise<boolean> {
  const parked = await parkScript.run(redis, parkKeys(keys, item.batchId, item.tenantId), [
    item.id,
    item.batchId,
    item.tenantId,
    item.priority,
  ]);
  return parked === 1;
}

export function parkItems(
  redis: Redis,
  keys: RedisKeys,
  batch: { id: string; tenantId: string; priority: number },
  itemIds: string[],
): Promise<number> {
  return parkManyScript.run(redis, parkKeys(keys, batch.id, batch.tenantId), [
    batch.id,
    batch.tenantId,
    batch.priority,
    ...itemIds,
  ]);
}
