import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { BatchRetention, Operations, Records, type NewItem } from '../src/index.js';

const DAY_MS = 86_400_000;
let redis: Redis;
let records: Records;
let retention: BatchRetention;
let operations: Operations;
beforeAll(() => {
  redis = new Redis(testRedisUrl());
  const prefix = uniqueId('retention');
  records = new Records(redis, prefix);
  retention = new BatchRetention(redis, prefix);
  operations = new Operations(redis, prefix);
});
afterAll(() => redis.disconnect());

const items = (n: number): NewItem[] =>
  Array.from({ length: n }, (_, i) => ({
    model: `ast_model${i}`,
    cloth: `ast_cloth${i}`,
    cloth_type: 'upper' as const,
  }));

/** Every Redis key of this test's prefix that names the batch or one of its items. */
async function keysOf(batchId: string): Promise<string[]> {
  const ids = new Set([batchId, ...(await records.itemIds(batchId))]);
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await redis.scan(cursor, 'MATCH', `${records.prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...page.filter((key) => key.split(':').some((part) => ids.has(part))));
  } while (cursor !== '0');
  return keys;
}

async function finish(batchId: string, outcome: 'completed' | 'failed'): Promise<void> {
  for (const id of await records.itemIds(batchId)) {
    await records.transition({ id, batch_id: batchId }, ['queued'], 'running');
    await records.transition({ id, batch_id: batchId }, ['running'], outcome, {
      error: outcome === 'failed' ? { code: 'fitroom_task_failed', message: 'no' } : null,
    });
  }
}

describe('BatchRetention', () => {
  it('keeps a batch live until it finishes, then gives every record of it an expiry', async () => {
    // More items than one script call handles, with an idempotency key and a delivery.
    const { batch } = await records.createBatch({
      tenantId: 'acme',
      items: items(1_203),
      idempotencyKey: 'retention-key',
    });
    await operations.recordDelivery(batch.id, {
      event_id: 'msg_1',
      type: 'item.completed',
      attempt: 1,
      ok: true,
      status: 204,
      error: null,
      duration_ms: 3,
    });
    expect(await retention.liveBatches()).toContain(batch.id);
    expect(await retention.expireBatch(batch.id, 30 * DAY_MS)).toBe(false);

    await finish(batch.id, 'completed');
    expect(await retention.expireBatch(batch.id, 30 * DAY_MS)).toBe(true);
    expect(await retention.liveBatches()).not.toContain(batch.id);
    const keys = [
      ...(await keysOf(batch.id)),
      `${records.prefix}:tenant:acme:idempotency:retention-key`,
    ];
    // batch hash, items, completed set, deliveries, 1,203 item hashes, idempotency key
    expect(keys).toHaveLength(4 + 1_203 + 1);
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect(ttl, key).toBeGreaterThan(29 * DAY_MS);
      expect(ttl, key).toBeLessThanOrEqual(30 * DAY_MS);
    }
    // A delivery after the batch got its expiry expires with it.
    await redis.del(`${records.prefix}:batch:${batch.id}:deliveries`);
    await operations.recordDelivery(batch.id, {
      event_id: 'msg_2',
      type: 'batch.completed',
      attempt: 1,
      ok: true,
      status: 204,
      error: null,
      duration_ms: 3,
    });
    expect(await redis.pttl(`${records.prefix}:batch:${batch.id}:deliveries`)).toBeGreaterThan(
      29 * DAY_MS,
    );
  });

  it('takes the expiry off again when a retry reopens the batch', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(3) });
    await finish(batch.id, 'failed');
    expect(await retention.expireBatch(batch.id, DAY_MS)).toBe(true);
    expect(await redis.pttl(`${records.prefix}:batch:${batch.id}`)).toBeGreaterThan(0);

    const { requeued } = await records.retryBatch(batch.id);
    expect(requeued).toHaveLength(3);
    expect(await retention.liveBatches()).toContain(batch.id);
    for (const key of await keysOf(batch.id)) expect(await redis.pttl(key), key).toBe(-1);
    // Open: nothing expires until it finishes again.
    expect(await retention.expireBatch(batch.id, DAY_MS)).toBe(false);
    expect(await redis.pttl(`${records.prefix}:batch:${batch.id}`)).toBe(-1);
  });

  it('never shortens a longer expiry, and forgets a batch that is gone', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(1) });
    await finish(batch.id, 'completed');
    const replays = `${records.prefix}:batch:${batch.id}:replays`;
    await redis.set(replays, '1', 'EX', 40 * 86_400);
    await retention.expireBatch(batch.id, DAY_MS);
    expect(await redis.pttl(replays)).toBeGreaterThan(39 * DAY_MS);

    await redis.zadd(`${records.prefix}:batches:live`, 1, 'bat_gone');
    expect(await retention.expireBatch('bat_gone', DAY_MS)).toBe(true);
    expect(await retention.liveBatches()).not.toContain('bat_gone');
  });
});
