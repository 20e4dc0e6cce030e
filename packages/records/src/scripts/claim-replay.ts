import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/**
 * KEYS: replay counter, cooldown lock. ARGV: cooldown ms (0: none), counter TTL s.
 * Returns [replay number (0 when refused), ms until the cooldown ends].
 */
const CLAIM_REPLAY = `
local cooldown = tonumber(ARGV[1])
if cooldown > 0 then
  if not redis.call('SET', KEYS[2], '1', 'PX', cooldown, 'NX') then
    return {0, redis.call('PTTL', KEYS[2])}
  end
end
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return {n, 0}
`;

export const claimReplayScript = defineScript<[replay: number, retryInMs: number]>({
  name: 'recordsClaimReplay',
  numberOfKeys: 2,
  lua: CLAIM_REPLAY,
});

export function claimReplay(
  redis: Redis,
  keys: { counter: string; cooldown: string },
  args: { cooldownMs: number; counterTtlS: number },
): Promise<[replay: number, retryInMs: number]> {
  return claimReplayScript.run(
    redis,
    [keys.counter, keys.cooldown],
    [args.cooldownMs, args.counterTtlS],
  );
}
