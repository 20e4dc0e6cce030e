import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTryonQueue, redisConnection, tryonJob, type TryonQueue } from '@tryon/queues';
import { Records, type ItemRecord } from '@tryon/records';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { wakeAdmitted } from '../src/admitter.js';
import { oneItemBatch } from './support.js';

/** An admitted item's job runs now, whichever of the api and the admitter queued it first. */

const redis = redisConnection(testRedisUrl());
const prefix = uniqueId('admitter-wake');
const records = new Records(redis, prefix);
let queue: TryonQueue;

beforeAll(() => {
  queue = createTryonQueue(redis, prefix);
});
afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
});

const queuedItem = () => oneItemBatch(records);

/** What the api does after answering a submit: the item's job, asleep until admitted. */
async function apiQueuesSleepingJob(item: ItemRecord): Promise<void> {
  const { name, data, opts } = tryonJob(item, { parked: true });
  await queue.add(name, data, opts);
}

const stateOf = async (item: ItemRecord) => (await queue.getJob(`${item.id}.0`))?.getState();

describe('wakeAdmitted', () => {
  it('promotes a job asleep in line, and queues one the api has not queued yet', async () => {
    const sleeping = await queuedItem();
    await apiQueuesSleepingJob(sleeping);
    expect(await stateOf(sleeping)).toBe('delayed');
    await wakeAdmitted(queue, records, { itemId: sleeping.id, run: 0 });
    expect(await stateOf(sleeping)).toBe('waiting');

    const notQueued = await queuedItem();
    await wakeAdmitted(queue, records, { itemId: notQueued.id, run: 0 });
    expect(await stateOf(notQueued)).toBe('waiting');
  });

  it('promotes the api job that landed between its look and its add', async () => {
    const item = await queuedItem();
    let looked = false;
    // The same queue, except that the api's add lands right after the admitter's first look.
    const racing: Parameters<typeof wakeAdmitted>[0] = {
      getJob: async (id) => {
        const seen = await queue.getJob(id);
        if (!looked) {
          looked = true;
          await apiQueuesSleepingJob(item);
        }
        return seen;
      },
      add: (name, data, opts) => queue.add(name, data, opts),
    };
    await wakeAdmitted(racing, records, { itemId: item.id, run: 0 });
    expect(looked).toBe(true);
    expect(await stateOf(item)).toBe('waiting');
  });
});
