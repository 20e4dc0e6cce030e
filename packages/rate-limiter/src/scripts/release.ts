import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/** KEYS: slots. ARGV: tokenId, windowMs, holdMs. Moves the slot's expiry to answer time + window. */
const LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry then
  return 0
end
local freeAt = now + tonumber(ARGV[2])
if freeAt < tonumber(expiry) then
  redis.call('ZADD', KEYS[1], 'XX', freeAt, ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

export const releaseScript = defineScript<number>({
  name: 'rateLimiterRelease',
  numberOfKeys: 1,
  lua: LUA,
});

export function releaseSlot(
  redis: Redis,
  slotsKey: string,
  args: { tokenId: string; windowMs: number; holdMs: number },
): Promise<number> {
  return releaseScript.run(redis, [slotsKey], [args.tokenId, args.windowMs, args.holdMs]);
}
