import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Records } from '@tryon/records';
import { RedisKeys, type RedisScript } from '@tryon/redis';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { Admission, DurationModel, keyCap } from '../src/index.js';
import { admitScript } from '../src/scripts/admit.js';
import { assignedScript } from '../src/scripts/assigned.js';
import { depthsScript } from '../src/scripts/depths.js';
import { observeScript } from '../src/scripts/observe.js';
import { parkManyScript, parkScript } from '../src/scripts/park.js';
import { releaseScript } from '../src/scripts/release.js';

// A fresh connection per test: whatever is registered on it, this test's calls registered.
let redis: Redis;
let prefix: string;
beforeEach(() => {
  redis = new Redis(testRedisUrl());
  prefix = uniqueId('sched-scripts');
});
afterEach(() => redis.disconnect());

async function expectRanByCommand(...scripts: RedisScript<unknown>[]): Promise<void> {
  for (const script of scripts) {
    expect(script.isRegistered(redis), script.name).toBe(true);
    expect(await redis.script('EXISTS', script.sha), script.name).toEqual([1]);
  }
}

describe('scheduling scripts, each through its defined command', () => {
  it('PARK, PARK_MANY, ADMIT, ASSIGNED, DEPTHS and RELEASE on declared keys', async () => {
    const records = new Records(redis, prefix);
    const admission = new Admission(redis, prefix);
    const keys = new RedisKeys(prefix);
    const newItems = Array.from({ length: 3 }, (_, i) => ({
      model: `m${i}`,
      cloth: `c${i}`,
      cloth_type: 'upper' as const,
    }));
    const { batch } = await records.createBatch({ tenantId: 'acme', items: newItems });
    const [first, ...rest] = await records.itemIds(batch.id);
    expect(
      await admission.park({ id: first!, batchId: batch.id, tenantId: 'acme', priority: 2 }),
    ).toBe(true);
    expect(
      await admission.parkMany({ id: batch.id, tenantId: 'acme', priority: 2 }, [first!, ...rest]),
    ).toBe(2);
    expect(await admission.depths()).toEqual({
      line: [{ tenantId: 'acme', batchId: batch.id, priority: 2, waiting: 3 }],
      admitted: 0,
    });
    const rooms = [
      { budgetKey: 'key-a', cap: keyCap(60, 60_000) },
      { budgetKey: 'key-b', cap: keyCap(60, 60_000) },
    ];
    const admitted = await admission.admit(rooms, { normal: 1 / 10_000, hd: 1 / 33_000 }, 2);
    expect(admitted).toHaveLength(2);
    expect(new Set(admitted.map((a) => a.budgetKey))).toEqual(new Set(['key-a', 'key-b']));
    expect(await admission.assigned()).toEqual(expect.arrayContaining(admitted));
    expect(await redis.hlen(keys.admissionInFlight('key-a'))).toBe(1);
    expect(await admission.release(admitted[0]!.itemId)).toBe(true);
    expect(await admission.release(admitted[0]!.itemId)).toBe(false);
    await expectRanByCommand(
      parkScript,
      parkManyScript,
      admitScript,
      assignedScript,
      depthsScript,
      releaseScript,
    );
  });

  it('OBSERVE feeds the shared duration model', async () => {
    const model = new DurationModel({
      redis,
      prefix,
      defaults: { normal: { meanMs: 9_000, sdMs: 1_000 }, hd: { meanMs: 30_000, sdMs: 3_000 } },
      fitroomSecondMs: 1_000,
      refreshMs: 0,
      minSamples: 2,
    });
    await model.observe('normal', 100, 108);
    await model.observe('normal', 200, 210);
    await model.refresh();
    expect(model.samples('normal')).toBe(2);
    expect(model.estimate('normal').meanMs).toBeCloseTo(9_000, 0);
    await expectRanByCommand(observeScript);
  });
});
