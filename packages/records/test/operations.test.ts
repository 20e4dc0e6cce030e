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

  it("keeps a batch's delivery attempts newest first, bounded by limit", async () => {
    for (let attempt = 1; attempt <= 3; attempt++) {
      await ops.recordDelivery('bat_d', {
        event_id: 'msg_1',
        type: 'item.completed',
        attempt,
        ok: attempt === 3,
        status: attempt === 3 ? 204 : 503,
        error: attempt === 3 ? null : 'answered 503',
        duration_ms: 12,
      });
    }
    const all = await ops.deliveries('bat_d');
    expect(all.map((d) => d.attempt)).toEqual([3, 2, 1]);
    expect(all[0]).toMatchObject({ ok: true, status: 204, error: null, event_id: 'msg_1' });
    expect(Date.parse(all[0]!.at)).not.toBeNaN();
    expect((await ops.deliveries('bat_d', 2)).map((d) => d.attempt)).toEqual([3, 2]);
    expect(await ops.deliveries('bat_none')).toEqual([]);
  });

  it('numbers the replays of a batch, and refuses one inside the cooldown', async () => {
    expect(await ops.claimReplay('bat_r')).toEqual({ replay: 1 });
    expect(await ops.claimReplay('bat_r')).toEqual({ replay: 2 });
    // A long cooldown: the second claim is refused with the time left, whatever the machine's speed.
    expect(await ops.claimReplay('bat_r', 600_000)).toEqual({ replay: 3 });
    const refused = await ops.claimReplay('bat_r', 600_000);
    expect(refused.replay).toBeNull();
    if (refused.replay === null) {
      expect(refused.retryInMs).toBeGreaterThan(0);
      expect(refused.retryInMs).toBeLessThanOrEqual(600_000);
    }
    // Without a cooldown (operators), a replay is always numbered.
    expect(await ops.claimReplay('bat_r')).toEqual({ replay: 4 });
    expect(await ops.claimReplay('bat_other', 600_000)).toEqual({ replay: 1 });
    expect(await redis.ttl(`${ops.prefix}:batch:bat_r:replays`)).toBeGreaterThan(30 * 86_400);
  });
});
