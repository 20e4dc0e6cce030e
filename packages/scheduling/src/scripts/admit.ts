import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/**
 * Admits waiting items in fair order while keys have room (see the notes in ../admission.ts).
 * KEYS: tenants, tenant family prefix, batch line family prefix, parked,
 * assigned, seq, item family prefix, then the in-flight hash of each usable key, in ARGV order.
 * ARGV: weightNormal, weightHd, maxAdmissions, requestsPerTask, then per usable key: name, cap,
 * spare (requests free in its window now), closing (tasks allowed in flight at the line's end).
 * A key has room while its weights stay within its cap (the steady rate), while its free
 * requests cover every task in flight on it plus this one, requestsPerTask each (a burst into a
 * free window), or while it has fewer tasks in flight than closing.
 * Returns a flat list: itemId, run, key, itemId, run, key, ...
 */
const ADMIT = `
local tenants, tenantFamily, batchFamily = KEYS[1], KEYS[2], KEYS[3]
local parkedSet, assigned, seqKey, itemFamily = KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local weights = { ['0'] = tonumber(ARGV[1]), ['1'] = tonumber(ARGV[2]) }
local maxAdmissions = tonumber(ARGV[3])
local perTask = tonumber(ARGV[4])
local keys = {}
for i = 5, #ARGV, 4 do
  local name, cap, spare = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local closing = tonumber(ARGV[i + 3])
  local inflight = KEYS[7 + #keys + 1]
  local used, count = 0, 0
  local entries = redis.call('HGETALL', inflight)
  for j = 1, #entries, 2 do
    -- An item that finished without releasing its slot (a crash) gives it back here.
    local status = redis.call('HGET', itemFamily .. entries[j], 'status')
    if status == 'queued' or status == 'running' then
      used = used + tonumber(entries[j + 1])
      count = count + 1
    else
      redis.call('HDEL', inflight, entries[j])
      redis.call('HDEL', assigned, entries[j])
    end
  end
  keys[#keys + 1] = {
    name = name, cap = cap, spare = spare, closing = closing,
    used = used, count = count, inflight = inflight,
  }
end

-- Room in weight units: the steady cap's, the free window's (tasks it can still serve whole),
-- or the closing line's (tasks, whatever the weights they were admitted with).
local function room(key)
  local burst = (key.spare / perTask - key.count) * weights['0']
  local closing = (key.closing - key.count) * weights['0']
  return math.max(key.cap - key.used, burst, closing)
end

local admitted = {}
local guard = 0
while #admitted < maxAdmissions * 3 and guard < 10000 do
  guard = guard + 1
  local best = nil
  for _, key in ipairs(keys) do
    if best == nil or room(key) > room(best) then best = key end
  end
  if best == nil then break end
  local tenant = redis.call('ZRANGE', tenants, 0, 0)[1]
  if not tenant then break end
  local tenantBatches = tenantFamily .. tenant
  local batch = redis.call('ZRANGE', tenantBatches, 0, 0, 'WITHSCORES')
  if #batch == 0 then
    redis.call('ZREM', tenants, tenant)
  else
    local batchId, batchScore = batch[1], tonumber(batch[2])
    local list = batchFamily .. batchId
    local itemId = redis.call('LINDEX', list, 0)
    if not itemId then
      redis.call('ZREM', tenantBatches, batchId)
    else
      local item = redis.call('HMGET', itemFamily .. itemId, 'status', 'hd_mode', 'run')
      if item[1] ~= 'queued' then
        -- Cancelled, or gone, while it waited: drop it.
        redis.call('LPOP', list)
        redis.call('SREM', parkedSet, itemId)
      else
        local weight = weights[item[2] or '0'] or weights['0']
        if best.count > 0 and room(best) < weight then break end
        redis.call('LPOP', list)
        redis.call('SREM', parkedSet, itemId)
        redis.call('HSET', best.inflight, itemId, tostring(weight))
        redis.call('HSET', assigned, itemId, best.name)
        best.used = best.used + weight
        best.count = best.count + 1
        local seq = redis.call('INCR', seqKey)
        redis.call('ZADD', tenants, seq, tenant)
        redis.call('ZADD', tenantBatches, math.floor(batchScore / 1e12) * 1e12 + seq, batchId)
        admitted[#admitted + 1] = itemId
        admitted[#admitted + 1] = item[3] or '0'
        admitted[#admitted + 1] = best.name
      end
      if redis.call('LLEN', list) == 0 then redis.call('ZREM', tenantBatches, batchId) end
    end
    if redis.call('ZCARD', tenantBatches) == 0 then redis.call('ZREM', tenants, tenant) end
  end
end
return admitted
`;

/** The number of keys depends on how many budget keys have room: the caller passes it. */
export const admitScript = defineScript<string[]>({
  name: 'admissionAdmit',
  numberOfKeys: 'variable',
  lua: ADMIT,
});

export function admitItems(
  redis: Redis,
  keys: RedisKeys,
  rooms: { budgetKey: string; cap: number; spareRequests: number; closingTasks: number }[],
  options: {
    weightNormal: number;
    weightHd: number;
    maxAdmissions: number;
    requestsPerTask: number;
  },
): Promise<string[]> {
  return admitScript.run(
    redis,
    [
      keys.admissionTenants(),
      keys.admissionTenantFamily(),
      keys.admissionBatchFamily(),
      keys.admissionParked(),
      keys.admissionAssigned(),
      keys.admissionSeq(),
      keys.itemFamily(),
      ...rooms.map((room) => keys.admissionInFlight(room.budgetKey)),
    ],
    [
      options.weightNormal,
      options.weightHd,
      options.maxAdmissions,
      options.requestsPerTask,
      ...rooms.flatMap((room) => [
        room.budgetKey,
        room.cap,
        Math.max(0, room.spareRequests),
        Math.max(0, room.closingTasks),
      ]),
    ],
  );
}
