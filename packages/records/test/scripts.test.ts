import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisKeys, type RedisScript } from '@tryon/redis';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { BatchRetention, Operations, Records } from '../src/index.js';
import { claimReplayScript } from '../src/scripts/claim-replay.js';
import { expireBatchScript } from '../src/scripts/expire-batch.js';
import { keepBatchScript } from '../src/scripts/keep-batch.js';
import { moveAllScript } from '../src/scripts/move-all.js';
import { shareExpiryScript } from '../src/scripts/share-expiry.js';
import { storeItemsScript } from '../src/scripts/store-items.js';
import { takeOver, takeOverScript } from '../src/scripts/take-over.js';
import { transitionScript } from '../src/scripts/transition.js';

// A fresh connection per test: whatever is registered on it, this test's calls registered.
let redis: Redis;
let prefix: string;
let keys: RedisKeys;
beforeEach(() => {
  redis = new Redis(testRedisUrl());
  prefix = uniqueId('records-scripts');
  keys = new RedisKeys(prefix);
});
afterEach(() => redis.disconnect());

async function expectRanByCommand(...scripts: RedisScript<unknown>[]): Promise<void> {
  for (const script of scripts) {
    expect(script.isRegistered(redis), script.name).toBe(true);
    expect(await redis.script('EXISTS', script.sha), script.name).toEqual([1]);
  }
}

const items = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    model: `m${i}`,
    cloth: `c${i}`,
    cloth_type: 'upper' as const,
  }));

describe('records scripts, each through its defined command', () => {
  it('STORE_ITEMS, TRANSITION and MOVE_ALL keep the per-state sets exact', async () => {
    const records = new Records(redis, prefix);
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(3) });
    const [a, b] = await records.itemIds(batch.id);
    expect(await redis.zcard(keys.batchState(batch.id, 'queued'))).toBe(3);
    const moved = await records.transition({ id: a!, batch_id: batch.id }, ['queued'], 'running');
    expect(moved).toMatchObject({ changed: true, previous: 'queued' });
    await records.transition({ id: b!, batch_id: batch.id }, ['queued'], 'failed');
    const { cancelled, batchFinished } = await records.cancelBatch(batch.id);
    expect(cancelled).toHaveLength(1);
    expect(batchFinished).toBe(false);
    expect(await redis.zrange(keys.batchState(batch.id, 'running'), 0, -1)).toEqual([a]);
    await expectRanByCommand(storeItemsScript, transitionScript, moveAllScript);
  });

  it('TAKE_OVER replaces a holder only while it is the one seen', async () => {
    const key = keys.idempotency('acme', 'k');
    await redis.set(key, 'bat_old');
    expect(await takeOver(redis, key, 'bat_other', 'bat_new')).toBe(false);
    expect(await takeOver(redis, key, 'bat_old', 'bat_new')).toBe(true);
    expect(await redis.get(key)).toBe('bat_new');
    await expectRanByCommand(takeOverScript);
  });

  it('EXPIRE_BATCH and KEEP_BATCH give and take back the expiry of every record', async () => {
    const records = new Records(redis, prefix);
    const retention = new BatchRetention(redis, prefix);
    const { batch } = await records.createBatch({
      tenantId: 'acme',
      items: items(2),
      idempotencyKey: 'once',
    });
    for (const id of await records.itemIds(batch.id)) {
      await records.transition({ id, batch_id: batch.id }, ['queued'], 'failed');
    }
    expect(await retention.expireBatch(batch.id, 60_000)).toBe(true);
    const [first] = await records.itemIds(batch.id);
    expect(await redis.pttl(keys.item(first!))).toBeGreaterThan(0);
    expect(await redis.pttl(keys.idempotency('acme', 'once'))).toBeGreaterThan(0);
    await records.retryBatch(batch.id);
    expect(await redis.pttl(keys.item(first!))).toBe(-1);
    expect(await redis.pttl(keys.batch(batch.id))).toBe(-1);
    expect(await retention.liveBatches()).toContain(batch.id);
    await expectRanByCommand(expireBatchScript, keepBatchScript, moveAllScript);
  });

  it('SHARE_EXPIRY (inside a MULTI) and CLAIM_REPLAY', async () => {
    const operations = new Operations(redis, prefix);
    await redis.set(keys.batch('bat_x'), '1', 'PX', 90_000);
    await operations.recordDelivery('bat_x', {
      event_id: 'evt',
      type: 'item.completed',
      attempt: 1,
      ok: true,
      status: 200,
      error: null,
      duration_ms: 5,
    });
    expect(await redis.pttl(keys.batchDeliveries('bat_x'))).toBeGreaterThan(80_000);
    expect(await operations.claimReplay('bat_x', 10_000)).toEqual({ replay: 1 });
    expect(await operations.claimReplay('bat_x', 10_000)).toMatchObject({ replay: null });
    await expectRanByCommand(shareExpiryScript, claimReplayScript);
  });
});
