import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { defineScript } from './script.js';

/** KEYS: the lock. ARGV: the holder's token. Compare-and-delete: only the holder releases it. */
const releaseLockScript = defineScript<number>({
  name: 'releaseLock',
  numberOfKeys: 1,
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
});

/** A lock held by one caller until it releases it or `ms` pass (SET NX PX). */
export async function tryLock(redis: Redis, key: string, ms: number): Promise<string | null> {
  const token = randomUUID();
  return (await redis.set(key, token, 'PX', ms, 'NX')) === 'OK' ? token : null;
}

/** Releases the lock if `token` still holds it; a lock that lapsed and was taken stays. */
export async function releaseLock(redis: Redis, key: string, token: string): Promise<boolean> {
  return (await releaseLockScript.run(redis, [key], [token])) === 1;
}
