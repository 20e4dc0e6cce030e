import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/** KEYS: pause. ARGV: ms, reason. Extends a pause, never shortens one. Returns the pause. */
const LUA = `
local current = redis.call('PTTL', KEYS[1])
if current >= tonumber(ARGV[1]) then
  return current
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
return tonumber(ARGV[1])
`;

export const pauseScript = defineScript<number>({
  name: 'rateLimiterPause',
  numberOfKeys: 1,
  lua: LUA,
});

export function pauseBudget(
  redis: Redis,
  pauseKey: string,
  ms: number,
  reason: string,
): Promise<number> {
  return pauseScript.run(redis, [pauseKey], [ms, reason]);
}
