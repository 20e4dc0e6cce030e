import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { redisConnection } from '@tryon/queues';
import { Records } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import {
  createTestBucket,
  eventually,
  serviceEnv,
  spawnService,
  uniqueId,
  type ServiceProcess,
} from '@tryon/testing';
import { storeAsset, submitBatch } from './support.js';

/** Worker processes started by a test; killed afterwards whatever happened. */
const running: ServiceProcess[] = [];
let redis: Redis;
let bucket: string;
let storage: Storage;
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill()));
});
beforeAll(async () => {
  bucket = await createTestBucket('processes');
});
afterAll(() => {
  storage?.close();
  redis?.disconnect();
});

function setup(
  sim: RunningSim,
  timeScale: number,
  key: string,
  extra: Record<string, string> = {},
) {
  const env = serviceEnv({
    prefix: uniqueId('proc'),
    simUrl: sim.url,
    apiKeys: [key],
    timeScale,
    bucket,
    extra: { LOG_LEVEL: 'info', ...extra },
  });
  const config = loadConfig(env);
  redis ??= redisConnection(config.redisUrl);
  storage ??= createStorage(config.storage);
  const records = new Records(redis, config.prefix);
  return { env, config, records };
}

describe('worker processes', () => {
  it('two processes on one key never exceed the budget in any rolling window', async () => {
    const timeScale = 20;
    const sim = await startSim({ timeScale, keys: { 'shared-key': 1_000_000 }, seed: 11 });
    try {
      const { env, config, records } = setup(sim, timeScale, 'shared-key');
      const model = await storeAsset(records, storage, 'acme', { r: 10, g: 20, b: 30 });
      const garments = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          storeAsset(records, storage, 'acme', { r: 200, g: 50 * i, b: 0 }),
        ),
      );
      running.push(spawnService('worker', env), spawnService('worker', env));
      const items = Array.from({ length: 90 }, (_, i) => ({
        model,
        cloth: garments[i % 4]!,
        cloth_type: 'upper' as const,
      }));
      const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items);
      const batch = await eventually(
        () => records.getBatch(batchId),
        (b) => b?.status === 'completed',
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      expect(batch?.counts.completed).toBe(90);
      const stats = sim.stats().keys['shared-key']!;
      // 90 tasks need at least 180 requests: three full windows of 60, so the limit was reached.
      expect(stats.total).toBeGreaterThanOrEqual(180);
      expect(stats.http_429).toBe(0);
      expect(stats.max_in_window).toBeLessThanOrEqual(60);
      expect(stats.creates).toBe(90);
      // Both processes ran, and said at start whether Redis is set up to keep their work.
      const [, appendonly] = (await redis.config('GET', 'appendonly')) as [string, string];
      for (const process of running) {
        expect(process.output()).toContain('worker started');
        expect(process.output().includes('set appendonly yes')).toBe(appendonly !== 'yes');
      }
    } finally {
      await sim.close();
    }
  });

  it('a worker killed after create resumes polling the same task after restart', async () => {
    const timeScale = 20;
    // Tasks take 60 s of FitRoom time (3 s here): long enough to kill the worker mid-task.
    const sim = await startSim({
      timeScale,
      keys: { 'crash-key': 1_000 },
      durations: { normalMs: 60_000, jitter: 0 },
      seed: 5,
    });
    try {
      // The kill may land while the job is still active (between the create and its move to
      // delayed): its lock must then lapse before the new worker takes it, in seconds, not the
      // default 30 s lock plus 30 s stalled check.
      const { env, config, records } = setup(sim, timeScale, 'crash-key', {
        WORKER_LOCK_DURATION_MS: '4000',
        WORKER_STALLED_INTERVAL_MS: '1000',
      });
      const model = await storeAsset(records, storage, 'acme', { r: 1, g: 2, b: 3 });
      const cloth = await storeAsset(records, storage, 'acme', { r: 3, g: 2, b: 1 });
      const first = spawnService('worker', env);
      running.push(first);
      const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', [
        { model, cloth, cloth_type: 'upper' },
      ]);
      const [itemId] = await records.itemIds(batchId);
      const created = await eventually(
        () => records.getItem(itemId!),
        (item) => item?.fitroom_task_id !== null,
        { timeoutMs: 30_000 },
      );
      await first.kill();
      expect((await records.getItem(itemId!))?.status).toBe('running');

      running.push(spawnService('worker', env));
      const done = await eventually(
        () => records.getItem(itemId!),
        (item) => item?.status === 'completed',
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      expect(done?.fitroom_task_id).toBe(created?.fitroom_task_id);
      expect(done?.attempts).toBe(1);
      expect(sim.stats().keys['crash-key']!.creates).toBe(1);
    } finally {
      await sim.close();
    }
  });
});
