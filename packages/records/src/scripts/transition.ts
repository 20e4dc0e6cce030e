import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';
import { stateKeysLua } from './state-keys.js';

/**
 * Item state changes run as one Lua script so that batch counts (the cardinalities of one sorted
 * set per state) stay exact under any number of concurrent workers, and so that exactly one
 * caller learns that a batch has just finished and sends batch.completed.
 *
 * KEYS: item hash, batch hash, the batch's five state sets (ITEM_STATUSES order).
 * ARGV: target status, now (ms), allowed current statuses (comma-separated), the batch's events
 * channel, the run the caller acts for ('' for any), then field/value pairs (from the item codec).
 * Returns [changed (1/0/-1 missing/-2 another run), batchFinished (1/0), completionSeq, previous
 * status]. A caller acting for a run that is no longer the item's (a job that outlived a retry)
 * changes nothing.
 * A status change (or the batch finishing) PUBLISHes one small JSON message on the channel,
 * `{"items":[id],"status":to,"finished":bool}`, built by concatenation: no cjson on the hot path.
 */
const TRANSITION = `
local item, batch = KEYS[1], KEYS[2]
${stateKeysLua(3)}
local to, now = ARGV[1], ARGV[2]
local current = redis.call('HGET', item, 'status')
if not current then return {-1, 0, 0, ''} end
if ARGV[5] ~= '' and redis.call('HGET', item, 'run') ~= ARGV[5] then return {-2, 0, 0, current} end
local allowed = false
for status in string.gmatch(ARGV[3], '[^,]+') do
  if status == current then allowed = true end
end
if not allowed then return {0, 0, 0, current} end
local itemId = redis.call('HGET', item, 'id')
local idx = redis.call('HGET', item, 'idx')
local fields = {'status', to, 'updated_at', now}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', item, unpack(fields))
if to == 'running' and current ~= 'running' then redis.call('HSET', item, 'started_at', now) end
if current ~= to then
  redis.call('ZREM', stateKey[current], itemId)
  redis.call('ZADD', stateKey[to], idx, itemId)
end
local batchStatus = redis.call('HGET', batch, 'status')
if to == 'running' and batchStatus == 'queued' then
  redis.call('HSET', batch, 'status', 'running', 'started_at', now)
  batchStatus = 'running'
end
if to == 'queued' and (batchStatus == 'completed') then
  -- A retried item reopens its batch; its next completion is a new cycle with a new event,
  -- and its time taken counts from now.
  redis.call('HSET', batch, 'status', 'running', 'completed_at', '', 'retried_at', now)
  batchStatus = 'running'
end
local open = redis.call('ZCARD', stateKey.queued) + redis.call('ZCARD', stateKey.running)
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

export type TransitionReply = [changed: number, finished: number, seq: number, previous: string];

export const transitionScript = defineScript<TransitionReply>({
  name: 'recordsTransition',
  numberOfKeys: 7,
  lua: TRANSITION,
});

export function transitionItem(
  redis: Redis,
  keys: RedisKeys,
  item: { id: string; batch_id: string },
  change: { from: string[]; to: string; now: number; run?: number; fields: string[] },
): Promise<TransitionReply> {
  return transitionScript.run(
    redis,
    [keys.item(item.id), keys.batch(item.batch_id), ...keys.batchStates(item.batch_id)],
    [
      change.to,
      change.now,
      change.from.join(','),
      keys.batchEventsChannel(item.batch_id),
      change.run === undefined ? '' : String(change.run),
      ...change.fields,
    ],
  );
}
