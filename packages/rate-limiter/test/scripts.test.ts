import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RedisScript } from '@tryon/redis';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { RateLimiter } from '../src/index.js';
import { acquireScript } from '../src/scripts/acquire.js';
import { pauseScript, resumeScript } from '../src/scripts/pause.js';
import { releaseScript } from '../src/scripts/release.js';
import { usageScript } from '../src/scripts/usage.js';

// A fresh connection per test: whatever is registered on it, this test's calls registered.
let redis: Redis;
beforeEach(() => {
  redis = new Redis(testRedisUrl());
});
afterEach(() => redis.disconnect());

describe('rate limiter scripts, each through its defined command', () => {
  it('ACQUIRE, RELEASE, PAUSE, RESUME and USAGE (inside a MULTI)', async () => {
    const limiter = new RateLimiter({
      redis,
      prefix: uniqueId('rl-scripts'),
      limit: 2,
      windowMs: 60_000,
      requestTimeoutMs: 1_000,
    });
    const token = await limiter.acquire('key-a');
    await limiter.release(token);
    expect(await limiter.usage('key-a')).toMatchObject({ inUse: 1, inFlight: 0, pausedMs: 0 });
    await limiter.pause('key-a', 5_000, 'rate_limited');
    const attempt = await limiter.tryAcquire('key-a');
    expect(attempt).toMatchObject({ token: null, paused: true });
    expect(await limiter.usage('key-a')).toMatchObject({ pausedReason: 'rate_limited' });
    await limiter.resume('key-a');
    const scripts: RedisScript<unknown>[] = [
      acquireScript,
      releaseScript,
      pauseScript,
      resumeScript,
      usageScript,
    ];
    for (const script of scripts) {
      expect(script.isRegistered(redis), script.name).toBe(true);
      expect(await redis.script('EXISTS', script.sha), script.name).toEqual([1]);
    }
  });
});
