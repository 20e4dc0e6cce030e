import { defineScript } from '@tryon/redis';

/**
 * A tenant's open event streams: one sorted set, member = stream id, score = the moment (ms, by
 * Redis's own clock) its lease ends. A live stream renews its lease; a stream whose api process
 * died stops renewing and drops out when its lease ends, so a crash leaks no slot for long.
 *
 * KEYS: the tenant's streams. ARGV: limit, lease ms, stream id.
 * Returns [taken (1 or 0), streams open after the call].
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[1]) then
  return {0, open}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return {1, open + 1}
`;

/** KEYS: the tenant's streams. ARGV: lease ms, stream id. Extends the stream's lease. */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
`;

/** KEYS: the tenant's streams. ARGV: stream id. Frees the stream's slot. */
const RELEASE = `
return redis.call('ZREM', KEYS[1], ARGV[1])
`;

export const takeStreamSlotScript = defineScript<[taken: number, open: number]>({
  name: 'recordsTakeStreamSlot',
  numberOfKeys: 1,
  lua: TAKE,
});

export const renewStreamSlotScript = defineScript<number>({
  name: 'recordsRenewStreamSlot',
  numberOfKeys: 1,
  lua: RENEW,
});

export const releaseStreamSlotScript = defineScript<number>({
  name: 'recordsReleaseStreamSlot',
  numberOfKeys: 1,
  lua: RELEASE,
});
