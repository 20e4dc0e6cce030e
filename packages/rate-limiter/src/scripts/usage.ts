import { defineScript } from '@tryon/redis';

/**
 * KEYS: slots, pause, waiting polls, waiting others. ARGV: windowMs. Returns [inUse,
 * inFlightUntilAnswer, pausedMs, now, freesInMs, pollsWaiting, othersWaiting]; in-flight = not
 * yet released; freesInMs = when each slot frees, from now, ascending; waiting = listed waiters
 * whose listing has not lapsed (see acquire.ts).
 */
const LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local inUse = redis.call('ZCARD', KEYS[1])
local inFlight = redis.call('ZCOUNT', KEYS[1], now + tonumber(ARGV[1]) + 1, '+inf')
local slots = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local frees = {}
for i = 2, #slots, 2 do frees[#frees + 1] = tonumber(slots[i]) - now end
local pollsWaiting = redis.call('ZCOUNT', KEYS[3], now + 1, '+inf')
local othersWaiting = redis.call('ZCOUNT', KEYS[4], now + 1, '+inf')
return {inUse, inFlight, redis.call('PTTL', KEYS[2]), now, frees, pollsWaiting, othersWaiting}
`;

export type UsageReply = [
  inUse: number,
  inFlight: number,
  pausedMs: number,
  now: number,
  freesInMs: number[],
  pollsWaiting: number,
  othersWaiting: number,
];

export const usageScript = defineScript<UsageReply>({
  name: 'rateLimiterUsage',
  numberOfKeys: 4,
  lua: LUA,
});
