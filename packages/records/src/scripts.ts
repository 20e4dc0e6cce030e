/**
 * Item state changes run as one Lua script so that batch counts (the cardinalities of one sorted
 * set per state) stay exact under any number of concurrent workers, and so that exactly one
 * caller learns that a batch has just finished and sends batch.completed.
 *
 * KEYS: item hash, batch hash, batch key prefix (for the per-state sets).
 * ARGV: target status, now (ms), allowed current statuses (comma-separated), the batch's events
 * channel (batchEventsChannel), then field/value pairs.
 * Returns [changed (1/0/-1 missing), batchFinished (1/0), completionSeq, previous status].
 * A status change (or the batch finishing) PUBLISHes one small JSON message on the channel,
 * `{"items":[id],"status":to,"finished":bool}`, built by concatenation: no cjson on the hot path.
 */
export const TRANSITION = `
local item, batch, batchPrefix = KEYS[1], KEYS[2], KEYS[3]
local to, now = ARGV[1], ARGV[2]
local current = redis.call('HGET', item, 'status')
if not current then return {-1, 0, 0, ''} end
local allowed = false
for status in string.gmatch(ARGV[3], '[^,]+') do
  if status == current then allowed = true end
end
if not allowed then return {0, 0, 0, current} end
local itemId = redis.call('HGET', item, 'id')
local idx = redis.call('HGET', item, 'idx')
local fields = {'status', to, 'updated_at', now}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', item, unpack(fields))
if to == 'running' and current ~= 'running' then redis.call('HSET', item, 'started_at', now) end
if current ~= to then
  redis.call('ZREM', batchPrefix .. ':state:' .. current, itemId)
  redis.call('ZADD', batchPrefix .. ':state:' .. to, idx, itemId)
end
local batchStatus = redis.call('HGET', batch, 'status')
if to == 'running' and batchStatus == 'queued' then
  redis.call('HSET', batch, 'status', 'running', 'started_at', now)
  batchStatus = 'running'
end
if to == 'queued' and (batchStatus == 'completed') then
  -- A retried item reopens its batch; its next completion is a new cycle with a new event.
  redis.call('HSET', batch, 'status', 'running', 'completed_at', '')
  batchStatus = 'running'
end
local open = redis.call('ZCARD', batchPrefix .. ':state:queued') + redis.call('ZCARD', batchPrefix .. ':state:running')
local finished, seq = 0, 0
if open == 0 and redis.call('HGET', batch, 'completed_at') == '' then
  local final = 'completed'
  if batchStatus == 'cancelled' then final = 'cancelled' end
  seq = redis.call('HINCRBY', batch, 'completion_seq', 1)
  redis.call('HSET', batch, 'status', final, 'completed_at', now)
  finished = 1
end
if current ~= to or finished == 1 then
  redis.call('PUBLISH', ARGV[4], '{"items":["' .. itemId .. '"],"status":"' .. to ..
    '","finished":' .. (finished == 1 and 'true' or 'false') .. '}')
end
return {1, finished, seq, current}
`;

/** A cancel or retry of more items than this publishes their count only, not their ids. */
export const MOVE_ALL_EVENT_IDS = 1_000;

/**
 * Moves every item of one state to another in one step (cancel: queued -> cancelled; retry:
 * failed -> queued) and settles the batch status. Runs in Redis so no worker can start an item
 * halfway through. KEYS: batch hash, batch key prefix, item key prefix.
 * ARGV: from, to, now, new batch status, the batch's events channel, then fields to set on each
 * item. Returns [moved item ids..., then finished flag and completion seq as the last two entries].
 * Always PUBLISHes one message (the batch status may change even when nothing moved):
 * `{"count":n,"items":[ids] (only up to MOVE_ALL_EVENT_IDS of them),"status":to,"finished":bool}`.
 */
export const MOVE_ALL = `
local batch, batchPrefix, itemPrefix = KEYS[1], KEYS[2], KEYS[3]
local from, to, now, batchStatus = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local fields = {'status', to, 'updated_at', now}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
local fromSet, toSet = batchPrefix .. ':state:' .. from, batchPrefix .. ':state:' .. to
local moved = redis.call('ZRANGE', fromSet, 0, -1, 'WITHSCORES')
local ids = {}
for i = 1, #moved, 2 do
  local id, idx = moved[i], moved[i + 1]
  local itemKey = itemPrefix .. id
  if to == 'queued' then
    redis.call('HINCRBY', itemKey, 'run', 1)
  end
  redis.call('HSET', itemKey, unpack(fields))
  redis.call('ZADD', toSet, idx, id)
  ids[#ids + 1] = id
end
redis.call('DEL', fromSet)
if #ids > 0 or batchStatus == 'cancelled' then
  redis.call('HSET', batch, 'status', batchStatus)
end
if to == 'queued' and #ids > 0 then
  redis.call('HSET', batch, 'completed_at', '')
end
local finished, seq = 0, 0
local open = redis.call('ZCARD', batchPrefix .. ':state:queued') + redis.call('ZCARD', batchPrefix .. ':state:running')
if open == 0 and redis.call('HGET', batch, 'completed_at') == '' then
  seq = redis.call('HINCRBY', batch, 'completion_seq', 1)
  redis.call('HSET', batch, 'completed_at', now)
  finished = 1
end
local listed = ''
if #ids > 0 and #ids <= ${MOVE_ALL_EVENT_IDS} then listed = '"items":["' .. table.concat(ids, '","') .. '"],' end
redis.call('PUBLISH', ARGV[5], '{"count":' .. #ids .. ',' .. listed .. '"status":"' .. to ..
  '","finished":' .. (finished == 1 and 'true' or 'false') .. '}')
ids[#ids + 1] = finished
ids[#ids + 1] = seq
return ids
`;

/**
 * Writes a chunk of a new batch's items from one compact JSON argument: building the same
 * writes as ten thousand client-side commands costs far more CPU in Node than in Redis.
 * KEYS: batch key prefix. ARGV: item key prefix, batch id, tenant id, now, JSON
 * [[id, idx, model, cloth, lower_cloth, cloth_type, hd(0/1), external_id, metadata], ...].
 */
export const STORE_ITEMS = `
local batchPrefix, itemPrefix = KEYS[1], ARGV[1]
local batchId, tenantId, now = ARGV[2], ARGV[3], ARGV[4]
local items = cjson.decode(ARGV[5])
local positions = {}
for _, it in ipairs(items) do
  redis.call('HSET', itemPrefix .. it[1],
    'id', it[1], 'batch_id', batchId, 'tenant_id', tenantId, 'idx', it[2], 'run', 0,
    'status', 'queued', 'model', it[3], 'cloth', it[4], 'lower_cloth', it[5],
    'cloth_type', it[6], 'hd_mode', it[7], 'external_id', it[8], 'metadata', it[9],
    'fitroom_task_id', '', 'attempts', 0, 'created_at', now, 'updated_at', now,
    'completed_at', '')
  positions[#positions + 1] = it[2]
  positions[#positions + 1] = it[1]
end
redis.call('ZADD', batchPrefix .. ':items', unpack(positions))
redis.call('ZADD', batchPrefix .. ':state:queued', unpack(positions))
return #items
`;
