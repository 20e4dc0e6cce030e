import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { releaseLock, tryLock } from '../src/index.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(testRedisUrl());
});
afterAll(() => redis.disconnect());

describe('lock', () => {
  it('has one holder at a time, released only by its holder', async () => {
    const key = uniqueId('lock');
    const token = await tryLock(redis, key, 10_000);
    expect(token).toEqual(expect.any(String));
    expect(await tryLock(redis, key, 10_000)).toBeNull();
    expect(await releaseLock(redis, key, 'someone-else')).toBe(false);
    expect(await redis.exists(key)).toBe(1);
    expect(await releaseLock(redis, key, token!)).toBe(true);
    expect(await tryLock(redis, key, 10_000)).toEqual(expect.any(String));
  });

  it('lapses after its time, so a dead holder blocks no one for long', async () => {
    const key = uniqueId('lock');
    const first = await tryLock(redis, key, 50);
    expect(first).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 120));
    const second = await tryLock(redis, key, 10_000);
    expect(second).not.toBeNull();
    // The first holder's late release leaves the second holder's lock alone.
    expect(await releaseLock(redis, key, first!)).toBe(false);
    expect(await redis.get(key)).toBe(second);
  });
});
