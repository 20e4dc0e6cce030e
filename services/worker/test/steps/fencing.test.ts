import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES, type TryonJobData } from '@tryon/domain';
import { createTryonQueue, redisConnection, tryonJob, type TryonQueue } from '@tryon/queues';
import { createTryonProcessor } from '../../src/tryon-processor.js';
import { startStepHarness, type StepHarness } from './harness.js';

let h: StepHarness;
let connection: Redis;
let queue: TryonQueue;
beforeAll(async () => {
  h = await startStepHarness('fencing');
  connection = redisConnection(h.config.redisUrl);
  queue = createTryonQueue(connection, h.config.prefix);
});
afterAll(async () => {
  await queue?.close();
  connection?.disconnect();
  await h?.close();
});

/** A worker that takes jobs by hand: the job is active and locked by `token` for `lockMs`. */
async function takeJob(token: string, lockMs: number): Promise<Job<TryonJobData>> {
  const taker = new Worker<TryonJobData>(QUEUES.tryon, null, {
    connection: redisConnection(h.config.redisUrl),
    prefix: h.config.prefix,
    lockDuration: lockMs,
  });
  try {
    const job = (await taker.getNextJob(token)) as Job<TryonJobData> | undefined;
    if (!job) throw new Error('no job to take');
    return job;
  } finally {
    await taker.close();
  }
}

describe('fencing: a job acts only while it holds its lock', () => {
  it('a job whose lock lapsed (its worker was paused) changes nothing', async () => {
    const { item } = await h.newItem();
    const job = tryonJob(item);
    await queue.add(job.name, job.data, job.opts);
    const taken = await takeJob('paused-worker', 100);
    await sleep(300); // the worker was paused past its lock; another may run the item now

    const outcome = await createTryonProcessor(h.env.deps)(taken, 'paused-worker');
    expect(outcome).toBe('stale_run');
    expect((await queue.getJob(taken.id!))!.data).toEqual(job.data);
    expect(await h.records.getItem(item.id)).toMatchObject({ status: 'queued', attempts: 0 });
  });

  it('a job that holds its lock runs its steps', async () => {
    const { item } = await h.newItem();
    const job = tryonJob(item);
    await queue.add(job.name, job.data, job.opts);
    const taken = await takeJob('live-worker', 30_000);

    // Prepared, then parked in the admission line (a delayed job).
    await expect(createTryonProcessor(h.env.deps)(taken, 'live-worker')).rejects.toMatchObject({
      name: 'DelayedError',
    });
    expect((await queue.getJob(taken.id!))!.data).toMatchObject({ step: 'create' });
  });
});
