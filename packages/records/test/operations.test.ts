import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { Operations } from '../src/index.js';

let redis: Redis;
let ops: Operations;
beforeAll(() => {
  redis = new Redis(testRedisUrl());
  ops = new Operations(redis, uniqueId('ops'));
});
afterAll(() => redis.disconnect());

describe('Operations', () => {
  it('counts tasks in flight', async () => {
    await ops.taskStarted('itm_a', '1001');
    await ops.taskStarted('itm_b', '1002');
    await ops.taskStarted('itm_a', '1001');
    await ops.taskEnded('itm_b');
    expect(await ops.tasksInFlight()).toBe(1);
  });

  it('keeps the most recent FitRoom errors, newest first, bounded', async () => {
    for (let i = 0; i < 105; i++) {
      await ops.recordFitroomError({
        budgetKey: 'key-1',
        operation: 'createTask',
        code: 'server_error',
        status: 500,
        message: `boom ${i}`,
        itemId: null,
      });
    }
    const recent = await ops.recentFitroomErrors(3);
    expect(recent.map((e) => e.message)).toEqual(['boom 104', 'boom 103', 'boom 102']);
    expect(await redis.llen(`${ops.prefix}:fitroom:errors`)).toBe(100);
  });

  it('makes one dev webhook secret that every process shares', async () => {
    const other = new Operations(new Redis(testRedisUrl()), ops.prefix);
    try {
      const [a, b] = await Promise.all([ops.devWebhookSecret(), other.devWebhookSecret()]);
      expect(a).toBe(b);
      expect(a.length).toBeGreaterThanOrEqual(32);
    } finally {
      other.redis.disconnect();
    }
  });
});
