import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/**
 * KEYS: slots. ARGV: tokenId, holdMs, limit. Restarts a slot's hold at send time: a request
 * that waited after its token (for the create gate) must not lose its slot before it is even
 * sent. The hold only grows (a later free time wins). A slot that lapsed while waiting is taken
 * again if the window has room; otherwise returns 0 and the caller must wait for a new token.
 */
const LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holdMs = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
if not expiry or tonumber(expiry) < now + holdMs then
  redis.call('ZADD', KEYS[1], now + holdMs, ARGV[1])
end
if redis.call('PTTL', KEYS[1]) < holdMs then
  redis.call('PEXPIRE', KEYS[1], holdMs)
end
return 1
`;

export const holdFromNowScript = defineScript<number>({
  name: 'rateLimiterHoldFromNow',
  numberOfKeys: 1,
  lua: LUA,
});

export function holdSlotFromNow(
  redis: Redis,
  slotsKey: string,
  args: { tokenId: string; holdMs: number; limit: number },
): Promise<number> {
  return holdFromNowScript.run(redis, [slotsKey], [args.tokenId, args.holdMs, args.limit]);
}
