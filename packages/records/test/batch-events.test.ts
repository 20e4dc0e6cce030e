import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, testRedisUrl, uniqueId } from '@tryon/testing';
import {
  BatchEventSubscriber,
  batchEventsChannel,
  Records,
  type BatchEvent,
  type NewItem,
} from '../src/index.js';

let redis: Redis;
let records: Records;
let subscriber: BatchEventSubscriber;
beforeAll(() => {
  redis = new Redis(testRedisUrl());
  records = new Records(redis, uniqueId('batch-events'));
  subscriber = new BatchEventSubscriber(redis, records.prefix);
});
afterAll(() => {
  subscriber.close();
  redis.disconnect();
});

const items = (n: number): NewItem[] =>
  Array.from({ length: n }, (_, i) => ({
    model: `https://img.example/model-${i}.jpg`,
    cloth: `https://img.example/cloth-${i}.jpg`,
    cloth_type: 'upper' as const,
  }));

async function numsub(batchId: string): Promise<number> {
  const [, count] = (await redis.pubsub('NUMSUB', batchEventsChannel(records.prefix, batchId))) as [
    string,
    number,
  ];
  return Number(count);
}

describe('batch events (pub/sub from the state-change scripts)', () => {
  it('publishes each status change, the finish, and one message per cancel', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(3) });
    const [a, b, c] = await records.itemIds(batch.id);
    const events: BatchEvent[] = [];
    const unsubscribe = await subscriber.subscribe(batch.id, (event) => {
      if (event !== 'resync') events.push(event);
    });
    expect(await numsub(batch.id)).toBe(1);

    await records.transition({ id: a!, batch_id: batch.id }, ['queued'], 'running');
    // Same status, other fields: no state change, no message.
    await records.transition({ id: a!, batch_id: batch.id }, ['running'], 'running', {
      attempts: 2,
    });
    // Not allowed from its status: nothing changes, nothing is published.
    await records.transition({ id: b!, batch_id: batch.id }, ['running'], 'completed');
    await records.cancelBatch(batch.id);
    await records.transition({ id: a!, batch_id: batch.id }, ['running'], 'completed');

    await eventually(
      () => Promise.resolve(events.length),
      (n) => n === 3,
    );
    expect(events).toEqual([
      { batchId: batch.id, items: [a], count: 1, status: 'running', finished: false },
      { batchId: batch.id, items: [b, c], count: 2, status: 'cancelled', finished: false },
      { batchId: batch.id, items: [a], count: 1, status: 'completed', finished: true },
    ]);

    unsubscribe();
    unsubscribe(); // idempotent
    await eventually(
      () => numsub(batch.id),
      (n) => n === 0,
    );
    expect(subscriber.channelCount).toBe(0);
  });

  it('one connection for every listener; the channel stays until its last listener leaves', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(1) });
    const [a] = await records.itemIds(batch.id);
    const seen: string[] = [];
    const [first, second] = await Promise.all([
      subscriber.subscribe(batch.id, () => seen.push('first')),
      subscriber.subscribe(batch.id, () => seen.push('second')),
    ]);
    expect(await numsub(batch.id)).toBe(1);
    first();
    expect(await numsub(batch.id)).toBe(1);
    await records.transition({ id: a!, batch_id: batch.id }, ['queued'], 'failed');
    await eventually(
      () => Promise.resolve(seen.length),
      (n) => n === 1,
    );
    expect(seen).toEqual(['second']);
    second();
    await eventually(
      () => numsub(batch.id),
      (n) => n === 0,
    );
  });
});
