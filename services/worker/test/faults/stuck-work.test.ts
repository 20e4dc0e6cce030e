import { UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { createTryonQueue, redisConnection, tryonJob } from '@tryon/queues';
import { Records } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import { createTestBucket, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '../../src/index.js';
import { submitBatch } from '../support.js';
import { FAST_RECOVERY, catalog, expectSettled } from './harness.js';

const TIME_SCALE = 20;

let sim: RunningSim | undefined;
let worker: RunningWorker | undefined;
let redis: Redis | undefined;
let storage: Storage | undefined;
afterEach(async () => {
  await worker?.close();
  await sim?.close();
});
afterAll(() => {
  storage?.close();
  redis?.disconnect();
});

async function setup(label: string, extra: Record<string, string> = {}) {
  sim = await startSim({ timeScale: TIME_SCALE, keys: { [`${label}-key`]: 1_000_000 }, seed: 71 });
  const config: Config = loadConfig(
    serviceEnv({
      prefix: uniqueId(label),
      simUrl: sim.url,
      apiKeys: [`${label}-key`],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket(label),
      extra: { ...FAST_RECOVERY, ...extra },
    }),
  );
  redis ??= redisConnection(config.redisUrl);
  storage?.close();
  storage = createStorage(config.storage);
  const records = new Records(redis, config.prefix);
  const start = async () => {
    worker = await startWorker(config, {
      logger: createLogger({ service: 'tryon-worker', level: 'error' }),
    });
  };
  return { sim, config, records, storage, start };
}

describe('work that would otherwise stay stuck', { timeout: 90_000 }, () => {
  it('tasks that stay CREATED or PROCESSING past FITROOM_TASK_TIMEOUT_MS fail their item', async () => {
    // 2 s of real time: 40 FitRoom seconds at this scale.
    const { sim, config, records, storage, start } = await setup('reaper', {
      FITROOM_TASK_TIMEOUT_MS: '2000',
    });
    await start();
    const items = await catalog(records, storage, 3);
    // FitRoom keeps the first batch's tasks CREATED for an hour...
    sim.configure({ durations: { queuedMs: 3_600_000, normalMs: 7_200_000 } });
    const queuedBatch = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
      freshRenders: true,
    });
    const created = await expectSettled(records, storage, queuedBatch, 3, 60_000);
    // ... and the second one's PROCESSING for an hour.
    sim.configure({ durations: { queuedMs: 500, normalMs: 3_600_000 } });
    const slowBatch = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
      freshRenders: true,
    });
    const processing = await expectSettled(records, storage, slowBatch, 3, 60_000);
    for (const [done, status] of [
      [created, 'CREATED'],
      [processing, 'PROCESSING'],
    ] as const) {
      expect(done.failed).toBe(3);
      for (const item of done.items) {
        expect(item.error?.code).toBe('fitroom_task_timeout');
        expect(item.error?.message).toContain(`was still ${status}`);
        expect(item.fitroom_task_id).not.toBeNull();
      }
    }
    // One task each: a timed-out task is not created again.
    expect(sim.stats().tasks.created).toBe(6);
  });

  it('the sweep queues again items whose job vanished, and fails one whose job ended', async () => {
    const { config, records, storage, start } = await setup('sweep');
    const items = await catalog(records, storage, 4);
    const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
      freshRenders: true,
    });
    const ids = await records.itemIds(batchId);
    const [vanished, ended] = ids;
    const queue = createTryonQueue(redis!, config.prefix);
    const jobOf = async (id: string) => tryonJob((await records.getItem(id))!);
    // Every job is lost, as Redis would lose them without AOF or with eviction...
    for (const id of ids) await queue.remove((await jobOf(id)).opts.jobId);
    // ... one ends for good without its item being finished, as when BullMQ gives up on it...
    const ender = await jobOf(ended!);
    await queue.add(ender.name, ender.data, ender.opts);
    const standIn = new Worker(
      queue.name,
      () => {
        throw new UnrecoverableError('gave up on it');
      },
      { connection: redis!.duplicate(), prefix: config.prefix, autorun: false },
    );
    const failed = new Promise((resolve) =>
      standIn.once('failed', (job) => resolve(job?.finishedOn)),
    );
    void standIn.run();
    expect(await failed).toBeGreaterThan(0);
    await standIn.close();
    // ... and two come back; the vanished item's job does not.
    for (const id of ids.slice(2)) {
      const job = await jobOf(id);
      await queue.add(job.name, job.data, job.opts);
    }
    await queue.close();

    // A batch whose submitting request died after recording it, before queueing its jobs.
    const { batch: unqueued } = await records.createBatch({
      tenantId: 'acme',
      items: items.slice(0, 2),
      freshRenders: true,
    });

    await start();
    const { items: done } = await expectSettled(records, storage, batchId, 4, 60_000);
    const rescued = await expectSettled(records, storage, unqueued.id, 2, 60_000);
    expect(rescued.completed).toBe(2);
    const byId = new Map(done.map((item) => [item.id, item]));
    expect(byId.get(vanished!)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(byId.get(ended!)).toMatchObject({
      status: 'failed',
      error: { code: 'job_lost', message: expect.stringContaining('retry the batch') as unknown },
    });
    expect(done.filter((i) => i.status === 'completed')).toHaveLength(3);
  });
});
