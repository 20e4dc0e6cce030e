import { defineScript } from '@tryon/redis';

/**
 * KEYS: slots, pause. ARGV: windowMs. Returns [inUse, inFlightUntilAnswer, pausedMs, now,
 * freesInMs]; in-flight = not yet released; freesInMs = when each slot frees, from now, ascending.
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
return {inUse, inFlight, redis.call('PTTL', KEYS[2]), now, frees}
`;

export type UsageReply = [
  inUse: number,
  inFlight: number,
  pausedMs: number,
  now: number,
  freesInMs: number[],
];

export const usageScript = defineScript<UsageReply>({
  name: 'rateLimiterUsage',
  numberOfKeys: 2,
  lua: LUA,
});
