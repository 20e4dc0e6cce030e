/**
 * Admission control and fair share, as Lua so that any number of worker processes share one
 * queue of waiting items without a leader.
 *
 * Waiting items are parked per batch (a FIFO list). Batches are ordered within their tenant by
 * priority, then round-robin; tenants are served round-robin. Whenever a budget key has room,
 * the next item goes to that key: a tenant that just arrived waits for at most one admission
 * behind a tenant with ten thousand items.
 *
 * Room on a key is measured in completions per millisecond: an admitted task holds a weight of
 * 1/W, W being how long it will occupy FitRoom (its expected duration up to the poll that finds
 * it finished). Little's law: a key completes about sum(1/W) tasks per ms, and its budget
 * allows limit / (2 * window) (one create and one poll per task); the cap is that times a little
 * slack. So about 5 normal tasks or 15 HD tasks are in flight per key, and mixed modes share.
 *
 * Keys (P = prefix): P:adm:tenants (zset tenant -> last served seq), P:adm:tenant:{t} (zset
 * batch -> (10 - priority) * 1e12 + last served seq), P:adm:batch:{b} (list of item ids),
 * P:adm:parked (set), P:adm:seq, P:adm:inflight:{key} (hash item -> weight),
 * P:adm:assigned (hash item -> key). Items are read from P:item:{id} (see @tryon/records).
 */

/** KEYS: none. ARGV: prefix, itemId, batchId, tenantId, priority. Returns 1 if parked now. */
export const PARK = `
local P, itemId, batchId, tenantId = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local priority = tonumber(ARGV[5])
if redis.call('HEXISTS', P .. ':adm:assigned', itemId) == 1 then return 0 end
if redis.call('SADD', P .. ':adm:parked', itemId) == 0 then return 0 end
redis.call('RPUSH', P .. ':adm:batch:' .. batchId, itemId)
local seq = redis.call('INCR', P .. ':adm:seq')
redis.call('ZADD', P .. ':adm:tenant:' .. tenantId, 'NX', (10 - priority) * 1e12 + seq, batchId)
-- A tenant that had nothing waiting goes to the front of the ring: served at the next admission,
-- then back to its place in the round.
if redis.call('ZSCORE', P .. ':adm:tenants', tenantId) == false then
  local first = redis.call('ZRANGE', P .. ':adm:tenants', 0, 0, 'WITHSCORES')
  local front = seq
  if first[2] then front = tonumber(first[2]) - 1 end
  redis.call('ZADD', P .. ':adm:tenants', front, tenantId)
end
return 1
`;

/**
 * ARGV: prefix, weightNormal, weightHd, maxAdmissions, then per usable key: name, cap.
 * Returns a flat list: itemId, run, key, itemId, run, key, ...
 */
export const ADMIT = `
local P = ARGV[1]
local weights = { ['0'] = tonumber(ARGV[2]), ['1'] = tonumber(ARGV[3]) }
local maxAdmissions = tonumber(ARGV[4])
local keys = {}
for i = 5, #ARGV, 2 do
  local name, cap = ARGV[i], tonumber(ARGV[i + 1])
  local inflight = P .. ':adm:inflight:' .. name
  local used = 0
  local entries = redis.call('HGETALL', inflight)
  for j = 1, #entries, 2 do
    -- An item that finished without releasing its slot (a crash) gives it back here.
    local status = redis.call('HGET', P .. ':item:' .. entries[j], 'status')
    if status == 'queued' or status == 'running' then
      used = used + tonumber(entries[j + 1])
    else
      redis.call('HDEL', inflight, entries[j])
      redis.call('HDEL', P .. ':adm:assigned', entries[j])
    end
  end
  keys[#keys + 1] = { name = name, cap = cap, used = used, inflight = inflight }
end

local admitted = {}
local tenants = P .. ':adm:tenants'
local guard = 0
while #admitted < maxAdmissions * 3 and guard < 10000 do
  guard = guard + 1
  local best = nil
  for _, key in ipairs(keys) do
    if best == nil or key.cap - key.used > best.cap - best.used then best = key end
  end
  if best == nil then break end
  local tenant = redis.call('ZRANGE', tenants, 0, 0)[1]
  if not tenant then break end
  local tenantBatches = P .. ':adm:tenant:' .. tenant
  local batch = redis.call('ZRANGE', tenantBatches, 0, 0, 'WITHSCORES')
  if #batch == 0 then
    redis.call('ZREM', tenants, tenant)
  else
    local batchId, batchScore = batch[1], tonumber(batch[2])
    local list = P .. ':adm:batch:' .. batchId
    local itemId = redis.call('LINDEX', list, 0)
    if not itemId then
      redis.call('ZREM', tenantBatches, batchId)
    else
      local item = redis.call('HMGET', P .. ':item:' .. itemId, 'status', 'hd_mode', 'run')
      if item[1] ~= 'queued' then
        -- Cancelled, or gone, while it waited: drop it.
        redis.call('LPOP', list)
        redis.call('SREM', P .. ':adm:parked', itemId)
      else
        local weight = weights[item[2] or '0'] or weights['0']
        if best.used > 0 and best.used + weight > best.cap then break end
        redis.call('LPOP', list)
        redis.call('SREM', P .. ':adm:parked', itemId)
        redis.call('HSET', best.inflight, itemId, tostring(weight))
        redis.call('HSET', P .. ':adm:assigned', itemId, best.name)
        best.used = best.used + weight
        local seq = redis.call('INCR', P .. ':adm:seq')
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

/** ARGV: prefix, itemId. Gives the item's slot back. Returns 1 if it held one. */
export const RELEASE = `
local P, itemId = ARGV[1], ARGV[2]
local key = redis.call('HGET', P .. ':adm:assigned', itemId)
if not key then return 0 end
redis.call('HDEL', P .. ':adm:inflight:' .. key, itemId)
redis.call('HDEL', P .. ':adm:assigned', itemId)
return 1
`;

/**
 * Parks a new batch's items in one call (the API does this as it records the batch).
 * ARGV: prefix, batchId, tenantId, priority, itemId... Returns how many were parked now.
 */
export const PARK_MANY = `
local P, batchId, tenantId = ARGV[1], ARGV[2], ARGV[3]
local priority = tonumber(ARGV[4])
local list = P .. ':adm:batch:' .. batchId
local parked = 0
for i = 5, #ARGV do
  local itemId = ARGV[i]
  if redis.call('HEXISTS', P .. ':adm:assigned', itemId) == 0
    and redis.call('SADD', P .. ':adm:parked', itemId) == 1 then
    redis.call('RPUSH', list, itemId)
    parked = parked + 1
  end
end
if parked == 0 then return 0 end
local seq = redis.call('INCR', P .. ':adm:seq')
redis.call('ZADD', P .. ':adm:tenant:' .. tenantId, 'NX', (10 - priority) * 1e12 + seq, batchId)
if redis.call('ZSCORE', P .. ':adm:tenants', tenantId) == false then
  local first = redis.call('ZRANGE', P .. ':adm:tenants', 0, 0, 'WITHSCORES')
  local front = seq
  if first[2] then front = tonumber(first[2]) - 1 end
  redis.call('ZADD', P .. ':adm:tenants', front, tenantId)
end
return parked
`;

/** ARGV: prefix. Returns itemId, run, key triples of every admitted item. */
export const ASSIGNED = `
local P = ARGV[1]
local entries = redis.call('HGETALL', P .. ':adm:assigned')
local out = {}
for i = 1, #entries, 2 do
  out[#out + 1] = entries[i]
  out[#out + 1] = redis.call('HGET', P .. ':item:' .. entries[i], 'run') or '0'
  out[#out + 1] = entries[i + 1]
end
return out
`;

/**
 * ARGV: prefix. The admission line's depths: tenant, batch, score, waiting, ... for every batch
 * with items in line, then the number of admitted items last. Read-only.
 */
export const DEPTHS = `
local P = ARGV[1]
local out = {}
for _, tenant in ipairs(redis.call('ZRANGE', P .. ':adm:tenants', 0, -1)) do
  local batches = redis.call('ZRANGE', P .. ':adm:tenant:' .. tenant, 0, -1, 'WITHSCORES')
  for i = 1, #batches, 2 do
    out[#out + 1] = tenant
    out[#out + 1] = batches[i]
    out[#out + 1] = batches[i + 1]
    out[#out + 1] = redis.call('LLEN', P .. ':adm:batch:' .. batches[i])
  end
end
out[#out + 1] = redis.call('HLEN', P .. ':adm:assigned')
return out
`;
