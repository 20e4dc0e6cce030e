import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';
import { stateKeysLua } from './state-keys.js';

/** A cancel or retry of more items than this publishes their count only, not their ids. */
export const MOVE_ALL_EVENT_IDS = 1_000;

/**
 * Moves every item of one state to another in one step (cancel: queued -> cancelled; retry:
 * failed -> queued) and settles the batch status. Runs in Redis so no worker can start an item
 * halfway through. KEYS: batch hash, the batch's five state sets (ITEM_STATUSES order), the item
 * family prefix. ARGV: from, to, now, new batch status, the batch's events channel, then
 * field/value pairs to set on each item (from the item codec). Returns [moved item ids..., then
 * finished flag and completion seq as the last two entries].
 * Always PUBLISHes one message (the batch status may change even when nothing moved):
 * `{"count":n,"items":[ids] (only up to MOVE_ALL_EVENT_IDS of them),"status":to,"finished":bool}`.
 */
const MOVE_ALL = `
local batch, itemFamily = KEYS[1], KEYS[7]
${stateKeysLua(2)}
local from, to, now, batchStatus = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local fields = {'status', to, 'updated_at', now}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
local fromSet, toSet = stateKey[from], stateKey[to]
local moved = redis.call('ZRANGE', fromSet, 0, -1, 'WITHSCORES')
local ids = {}
for i = 1, #moved, 2 do
  local id, idx = moved[i], moved[i + 1]
  local itemKey = itemFamily .. id
  if to == 'queued' then
    redis.call('HINCRBY', itemKey, 'run', 1)
  end
  redis.call('HSET', itemKey, unpack(fields))
  redis.call('ZADD', toSet, idx, id)
  ids[#ids + 1] = id
end
redis.call('DEL', fromSet)
-- Only a move that moved something sets the batch status: a cancel that finds nothing left to
-- cancel (every item running or finished, or the batch completing under it) leaves it as it is.
if #ids > 0 then
  redis.call('HSET', batch, 'status', batchStatus)
end
if to == 'queued' and #ids > 0 then
  -- A retry: the batch is open again, and its time taken counts from now.
  redis.call('HSET', batch, 'completed_at', '', 'retried_at', now)
end
local finished, seq = 0, 0
local open = redis.call('ZCARD', stateKey.queued) + redis.call('ZCARD', stateKey.running)
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

export const moveAllScript = defineScript<(string | number)[]>({
  name: 'recordsMoveAll',
  numberOfKeys: 7,
  lua: MOVE_ALL,
});

export function moveAllItems(
  redis: Redis,
  keys: RedisKeys,
  batchId: string,
  move: { from: string; to: string; now: number; batchStatus: string; fields: string[] },
): Promise<(string | number)[]> {
  return moveAllScript.run(
    redis,
    [keys.batch(batchId), ...keys.batchStates(batchId), keys.itemFamily()],
    [
      move.from,
      move.to,
      move.now,
      move.batchStatus,
      keys.batchEventsChannel(batchId),
      ...move.fields,
    ],
  );
}
