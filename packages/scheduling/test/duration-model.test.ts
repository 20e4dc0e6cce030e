import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '@tryon/redis';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { distributionOf, DurationModel, QUANTILE_POINTS } from '../src/index.js';

const redis = new Redis(testRedisUrl());
afterAll(() => redis.disconnect());

function model(prefix: string) {
  return new DurationModel({
    redis,
    prefix,
    defaults: { normal: { meanMs: 9_000, sdMs: 900 }, hd: { meanMs: 30_000, sdMs: 3_000 } },
    fitroomSecondMs: 50,
    refreshMs: 0,
  });
}

describe('DurationModel', () => {
  it('answers the defaults until it has seen enough tasks', async () => {
    const durations = model(uniqueId('dur'));
    await durations.observe('normal', 100, 103);
    await durations.refresh();
    expect(durations.estimate('normal')).toEqual({ meanMs: 9_000, sdMs: 900 });
  });

  it('learns mean and spread from FitRoom timestamps, shared by every process', async () => {
    const prefix = uniqueId('dur');
    const writer = model(prefix);
    // A simulator at 20x: a FitRoom second is 50 ms; tasks of 8 to 10 FitRoom seconds.
    for (let i = 0; i < 400; i++) await writer.observe('normal', 1_000, 1_000 + 8 + (i % 3));
    const reader = model(prefix);
    await reader.refresh();
    const learned = reader.estimate('normal');
    expect(learned.meanMs).toBeGreaterThan(420);
    expect(learned.meanMs).toBeLessThan(480);
    // The spread of 8, 9, 10 s (0.82 s = 41 ms) less the rounding noise of whole seconds.
    expect(learned.sdMs).toBeGreaterThan(20);
    expect(learned.sdMs).toBeLessThan(45);
    expect(reader.estimate('hd')).toEqual({ meanMs: 30_000, sdMs: 3_000 });
    expect(reader.samples('normal')).toBe(400);
    // The quantiles of the last 200 durations, for the poll planner: 8, 9 and 10 s exactly.
    const dist = distributionOf(learned);
    expect(learned.quantilesMs).toHaveLength(QUANTILE_POINTS);
    expect(dist.quantile(0)).toBe(400);
    expect(dist.quantile(0.5)).toBe(450);
    expect(dist.quantile(1)).toBe(500);
  });

  it('keeps only a window of recent durations, so the quantiles follow FitRoom when it slows down', async () => {
    const prefix = uniqueId('dur');
    const writer = new DurationModel({
      redis,
      prefix,
      defaults: { normal: { meanMs: 9_000, sdMs: 900 }, hd: { meanMs: 30_000, sdMs: 3_000 } },
      fitroomSecondMs: 50,
      refreshMs: 0,
      window: 20,
    });
    for (let i = 0; i < 30; i++) await writer.observe('normal', 1_000, 1_009);
    for (let i = 0; i < 20; i++) await writer.observe('normal', 1_000, 1_030);
    await writer.refresh();
    expect(distributionOf(writer.estimate('normal')).quantile(0)).toBe(1_500);
    expect(await redis.hlen(new RedisKeys(prefix).durations('normal'))).toBe(3 + 20);
  });

  it('ignores impossible durations', async () => {
    const durations = model(uniqueId('dur'));
    await durations.observe('hd', 100, 100);
    await durations.observe('hd', 100, 90);
    expect(await redis.exists(`${uniqueId('x')}:durations:hd`)).toBe(0);
  });

  it('keeps its last estimate when Redis is gone, without an unhandled rejection', async () => {
    const prefix = uniqueId('dur');
    for (let i = 0; i < 10; i++) await model(prefix).observe('normal', 1_000, 1_010);
    const closed = new Redis(testRedisUrl());
    const durations = new DurationModel({
      redis: closed,
      prefix,
      defaults: { normal: { meanMs: 9_000, sdMs: 900 }, hd: { meanMs: 30_000, sdMs: 3_000 } },
      fitroomSecondMs: 50,
      refreshMs: 0,
    });
    await durations.refresh();
    const learned = durations.estimate('normal');
    expect(learned.meanMs).toBe(500);
    await closed.quit();
    await new Promise((resolve) => setTimeout(resolve, 5)); // older than refreshMs (0)
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      expect(durations.estimate('normal')).toEqual(learned);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      await expect(durations.refresh()).rejects.toThrow(/Connection is closed/);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
