import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/**
 * Lua scripts of the shared FitRoom budget. Each runs atomically in Redis and reads Redis's own
 * clock (TIME), so worker processes on different machines agree on "now" without synced clocks.
 *
 * One sorted set per API key holds the slots: member = token id, score = the moment (ms) the slot
 * frees. A slot taken for a request is held until `holdMs` (window + request timeout) because we
 * cannot know when the server will count the request; when the answer arrives the slot is moved
 * to answer time + window. FitRoom counts a request somewhere between our take and its answer,
 * so our slot always outlives FitRoom's entry for it: we can never hold fewer slots than FitRoom
 * counts, hence never overflow its rolling window. A request that waits after its take (the
 * create gate) restarts its hold when it is sent (hold-from-now.ts), so the bound holds from the
 * send, however long the wait.
 */

/**
 * KEYS: slots, pause. ARGV: limit, holdMs, tokenId, a pause reason that does not stop this
 * request ('' for none). Returns [granted, waitMs, paused, now].
 */
const LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pausedFor = redis.call('PTTL', KEYS[2])
if pausedFor > 0 and (ARGV[4] == '' or redis.call('GET', KEYS[2]) ~= ARGV[4]) then
  return {0, pausedFor, 1, now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
local holdMs = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + holdMs, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], holdMs)
  return {1, 0, 0, now}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now, 0, now}
`;

export type AcquireReply = [granted: number, waitMs: number, paused: number, now: number];

export const acquireScript = defineScript<AcquireReply>({
  name: 'rateLimiterAcquire',
  numberOfKeys: 2,
  lua: LUA,
});

export function acquireSlot(
  redis: Redis,
  keys: { slots: string; pause: string },
  args: { limit: number; holdMs: number; tokenId: string; pauseIgnored?: string },
): Promise<AcquireReply> {
  return acquireScript.run(
    redis,
    [keys.slots, keys.pause],
    [args.limit, args.holdMs, args.tokenId, args.pauseIgnored ?? ''],
  );
}
