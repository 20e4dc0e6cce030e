import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, testRedisUrl, uniqueId } from '@tryon/testing';
import { StreamSlots } from '../src/index.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(testRedisUrl());
});
afterAll(() => redis.disconnect());

describe('StreamSlots', () => {
  it('holds at most `limit` streams per tenant; a release frees a slot at once', async () => {
    const slots = new StreamSlots(redis, uniqueId('slots'), { limit: 2, leaseMs: 60_000 });
    const a = await slots.take('acme');
    const b = await slots.take('acme');
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(await slots.take('acme')).toBeNull();
    expect(await slots.take('globex')).not.toBeNull();
    await a!.release();
    await a!.release(); // idempotent: frees nothing of another stream
    expect(await slots.open('acme')).toBe(1);
    expect(await slots.take('acme')).not.toBeNull();
    expect(await slots.take('acme')).toBeNull();
  });

  it('frees the slots of a process that died (no release, no renewal) when their lease ends', async () => {
    const prefix = uniqueId('slots');
    const crashed = new StreamSlots(redis, prefix, { limit: 1, leaseMs: 300 });
    expect(await crashed.take('acme')).not.toBeNull();
    // Another process, same Redis: refused while the lease runs, granted once it has ended.
    const survivor = new StreamSlots(redis, prefix, { limit: 1, leaseMs: 60_000 });
    expect(await survivor.take('acme')).toBeNull();
    const slot = await eventually(
      () => survivor.take('acme'),
      (taken) => taken !== null,
      { timeoutMs: 10_000 },
    );
    expect(slot).not.toBeNull();
    // The key's own expiry follows the newest lease: an idle tenant leaves nothing behind.
    expect(await redis.pttl(`${prefix}:tenant:acme:event-streams`)).toBeGreaterThan(1_000);
  });

  it('keeps a renewed stream counted past its first lease', async () => {
    const prefix = uniqueId('slots');
    const slots = new StreamSlots(redis, prefix, { limit: 1, leaseMs: 2_000 });
    const slot = (await slots.take('acme'))!;
    // Renewed more often than the lease for several leases' worth of renewals.
    for (let i = 0; i < 6; i++) {
      await slot.renew();
      expect(await slots.take('acme')).toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await slot.release();
    expect(await slots.take('acme')).not.toBeNull();
  });
});
