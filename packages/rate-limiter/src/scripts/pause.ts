import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/**
 * KEYS: pause, resumed. ARGV: ms, reason, sentAgoMs (-1: not known). Extends a pause, never
 * shortens one. A refusal of a request sent before the key's last resume pauses nothing: the
 * operator resumed the key since (after topping up credit), and FitRoom's answer is older news.
 * Returns the pause, 0 for none.
 */
const LUA = `
local sentAgo = tonumber(ARGV[3])
if sentAgo >= 0 then
  local resumedAt = redis.call('GET', KEYS[2])
  if resumedAt then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if now - sentAgo < tonumber(resumedAt) then
      return 0
    end
  end
end
local current = redis.call('PTTL', KEYS[1])
if current >= tonumber(ARGV[1]) then
  return current
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
return tonumber(ARGV[1])
`;

export const pauseScript = defineScript<number>({
  name: 'rateLimiterPause',
  numberOfKeys: 2,
  lua: LUA,
});

export function pauseBudget(
  redis: Redis,
  keys: { pause: string; resumed: string },
  args: { ms: number; reason: string; sentAgoMs?: number | undefined },
): Promise<number> {
  return pauseScript.run(
    redis,
    [keys.pause, keys.resumed],
    [
      args.ms,
      args.reason,
      args.sentAgoMs === undefined ? -1 : Math.max(0, Math.floor(args.sentAgoMs)),
    ],
  );
}

/**
 * KEYS: pause, resumed. ARGV: keepMs. Ends the pause and notes when (Redis time), for as long as
 * a request sent before it can still be answered.
 */
const RESUME_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], now, 'PX', ARGV[1])
return now
`;

export const resumeScript = defineScript<number>({
  name: 'rateLimiterResume',
  numberOfKeys: 2,
  lua: RESUME_LUA,
});

export function resumeBudget(
  redis: Redis,
  keys: { pause: string; resumed: string },
  keepMs: number,
): Promise<number> {
  return resumeScript.run(redis, [keys.pause, keys.resumed], [Math.max(1, Math.ceil(keepMs))]);
}
