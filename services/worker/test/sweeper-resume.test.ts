import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@tryon/logger';
import { createTryonQueue, tryonJobId, type TryonQueue } from '@tryon/queues';
import { BatchRetention, Records } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import { loadConfig } from '@tryon/config';
import { createTestBucket, serviceEnv, testRedisUrl, uniqueId } from '@tryon/testing';
import { BatchSettler } from '../src/batch-settler.js';
import { Sweeper } from '../src/sweeper.js';
import { oneItemBatch } from './support.js';

let redis: Redis;
let queue: TryonQueue;
let storage: Storage;
let records: Records;
let sweeper: Sweeper;

beforeAll(async () => {
  const prefix = uniqueId('sweep-resume');
  const config = loadConfig(
    serviceEnv({
      prefix,
      simUrl: 'http://127.0.0.1:9',
      apiKeys: ['k'],
      timeScale: 1,
      bucket: await createTestBucket('sweep-resume'),
    }),
  );
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  queue = createTryonQueue(redis, prefix);
  storage = createStorage(config.storage);
  records = new Records(redis, prefix);
  const retention = new BatchRetention(redis, prefix);
  const logger = createLogger({ service: 'sweep-test', level: 'error' });
  sweeper = new Sweeper({
    redis,
    prefix,
    records,
    retention,
    settler: new BatchSettler({ records, retention, storage, retentionMs: 60_000, logger }),
    queue,
    abandon: () => Promise.resolve(false),
    intervalMs: 1,
    logger,
  });
});
afterAll(async () => {
  await queue.close();
  storage.close();
  redis.disconnect();
});

async function runningItem(taskId: string | null) {
  const item = await oneItemBatch(records);
  await records.transition(item, ['queued'], 'running');
  if (taskId) await records.updateItem(item.id, { fitroom_task_id: taskId });
  await sleep(5); // older than the sweep's grace for submissions still adding their jobs
  return item;
}

describe('the sweep, for an open item whose job vanished', () => {
  it('resumes polling its saved FitRoom task instead of creating another', async () => {
    const item = await runningItem('task-paid-for');
    await sweeper.sweep();
    const job = await queue.getJob(tryonJobId(item.id, item.run));
    expect(job?.data).toMatchObject({ step: 'poll', taskId: 'task-paid-for' });
    expect(job?.data.taskCreatedAt).toEqual(expect.any(Number));
  });

  it('starts from prepare when no task was created', async () => {
    const item = await runningItem(null);
    await sweeper.sweep();
    const job = await queue.getJob(tryonJobId(item.id, item.run));
    expect(job?.data).toMatchObject({ step: 'prepare' });
    expect(job?.data.taskId).toBeUndefined();
  });
});
