import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@tryon/logger';
import { createTryonQueue, redisConnection, tryonJobId, type TryonQueue } from '@tryon/queues';
import { BatchRetention, Records, type NewItem } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { BatchSettler } from '../src/batch-settler.js';
import { Sweeper } from '../src/sweeper.js';

/** The sweep walks open items in bounded chunks, carrying on where the last tick stopped. */

const redis = redisConnection(testRedisUrl());
const prefix = uniqueId('sweep-chunks');
const records = new Records(redis, prefix);
const retention = new BatchRetention(redis, prefix);
const logger = createLogger({ service: 'test', level: 'silent' });
let queue: TryonQueue;
let storage: Storage;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sweep-chunks-'));
  storage = createStorage({ driver: 'fs', dataDir });
  queue = createTryonQueue(redis, prefix);
});
afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  storage.close();
  redis.disconnect();
  await rm(dataDir, { recursive: true, force: true });
});

const items = (n: number): NewItem[] =>
  Array.from({ length: n }, (_, i) => ({
    model: `https://img.example/m${i}.jpg`,
    cloth: `https://img.example/c${i}.jpg`,
    cloth_type: 'upper' as const,
  }));

describe('Sweeper in chunks', () => {
  it('checks at most itemsPerTick open items per tick and resumes from its cursor', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(25) });
    const sweeper = new Sweeper({
      redis,
      prefix,
      records,
      retention,
      settler: new BatchSettler({ records, retention, storage, retentionMs: 60_000, logger }),
      queue,
      abandon: () => Promise.resolve(false),
      // Every item is older than this: none is taken for one still being queued.
      intervalMs: 1,
      logger,
      itemsPerTick: 10,
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    // No item has a job (as if Redis lost them): each tick queues again the chunk it reaches.
    const ticks = [await sweeper.sweep(), await sweeper.sweep(), await sweeper.sweep()];
    expect(ticks.map((r) => r.checked)).toEqual([10, 10, 5]);
    expect(ticks.map((r) => r.requeued)).toEqual([10, 10, 5]);
    expect(ticks.map((r) => r.passComplete)).toEqual([false, false, true]);
    const all = await records.getItems(await records.itemIds(batch.id));
    expect(all).toHaveLength(25);
    const jobs = await Promise.all(all.map((item) => queue.getJob(tryonJobId(item.id, item.run))));
    expect(jobs.every((job) => job !== undefined)).toBe(true);
    // The next pass starts from the first item again; every job is there now.
    const next = await sweeper.sweep();
    expect(next).toMatchObject({ checked: 10, requeued: 0, passComplete: false });
  });
});
