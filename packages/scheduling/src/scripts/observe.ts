import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/**
 * Exponentially weighted mean and variance, updated atomically so every worker process feeds
 * and reads one model. The weight of a new sample is 1/n while n is small (a plain average),
 * then a floor that lets the model follow FitRoom when its speed changes. The same hash keeps
 * the last `window` samples themselves (fields s0, s1, ..., a ring indexed by n), from which the
 * distribution's quantiles are read: mean and variance say nothing of a long tail or two modes.
 * KEYS: the mode's model hash. ARGV: sample (ms), weight floor, window. Returns the sample count.
 */
const OBSERVE = `
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local mean = tonumber(redis.call('HGET', KEYS[1], 'mean') or '0')
local var = tonumber(redis.call('HGET', KEYS[1], 'var') or '0')
local x = tonumber(ARGV[1])
n = n + 1
local alpha = math.max(1 / n, tonumber(ARGV[2]))
local delta = x - mean
mean = mean + alpha * delta
var = (1 - alpha) * (var + alpha * delta * delta)
local slot = 's' .. ((n - 1) % tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'n', n, 'mean', tostring(mean), 'var', tostring(var), slot, tostring(x))
return n
`;

export const observeScript = defineScript<number>({
  name: 'durationObserve',
  numberOfKeys: 1,
  lua: OBSERVE,
});

export function observeDuration(
  redis: Redis,
  modelKey: string,
  sampleMs: number,
  alpha: number,
  window: number,
): Promise<number> {
  return observeScript.run(redis, [modelKey], [sampleMs, alpha, window]);
}
