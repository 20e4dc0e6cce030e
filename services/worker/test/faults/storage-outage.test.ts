import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { redisConnection } from '@tryon/queues';
import { Records } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import {
  eventually,
  freePort,
  serviceEnv,
  spawnService,
  uniqueId,
  type ServiceProcess,
} from '@tryon/testing';
import { submitBatch } from '../support.js';
import {
  FAST_RECOVERY,
  catalog,
  createsOf,
  errorLines,
  expectSettled,
  finishedCount,
} from './harness.js';
import { s3rverProcess, type S3rverProcess } from './s3rver-process.js';

const TIME_SCALE = 20;
const ITEMS = 120;

let sim: RunningSim | undefined;
let s3: S3rverProcess | undefined;
let directory: string | undefined;
let redis: Redis | undefined;
let storage: Storage | undefined;
const workers: ServiceProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await s3?.kill();
  await sim?.close();
  storage?.close();
  redis?.disconnect();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** The worker's "retrying with backoff" warnings, by the step that failed. */
function retriesByStep(outputs: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of outputs.join('\n').split('\n')) {
    if (!line.includes('retrying with backoff')) continue;
    const { step } = JSON.parse(line) as { step: string };
    counts[step] = (counts[step] ?? 0) + 1;
  }
  return counts;
}

describe('the S3 server stopped for a while mid-batch', () => {
  it(
    'costs nothing: stores retry with backoff and every result is stored once it is back',
    { timeout: 180_000 },
    async () => {
      directory = await mkdtemp(join(tmpdir(), 's3-outage-'));
      s3 = s3rverProcess({ port: await freePort(), directory, bucket: 'outage' });
      await s3.start();
      sim = await startSim({ timeScale: TIME_SCALE, keys: { 'outage-key': 1_000_000 }, seed: 31 });
      const env = serviceEnv({
        prefix: uniqueId('s3-outage'),
        simUrl: sim.url,
        apiKeys: ['outage-key'],
        timeScale: TIME_SCALE,
        extra: { ...FAST_RECOVERY, ...s3.env },
      });
      const config = loadConfig(env);
      redis = redisConnection(config.redisUrl);
      storage = createStorage(config.storage);
      const records = new Records(redis, config.prefix);
      const items = await catalog(records, storage, ITEMS);
      workers.push(spawnService('worker', env), spawnService('worker', env));
      const outputs = () => workers.map((w) => w.output());
      const started = Date.now();
      const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
        freshRenders: true,
      });

      await eventually(
        () => finishedCount(records, batchId),
        (done) => done >= 30,
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      const down = Date.now();
      const finishedWhenDown = await finishedCount(records, batchId);
      await s3.kill();
      // Down until the workers have failed to store several results, and for four seconds at least.
      await eventually(
        () =>
          Promise.resolve({ stores: retriesByStep(outputs()).store ?? 0, ms: Date.now() - down }),
        ({ stores, ms }) => stores >= 3 && ms >= 4_000,
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      const finishedWhileDown = (await finishedCount(records, batchId)) - finishedWhenDown;
      await s3.start();
      const outageMs = Date.now() - down;

      const { completed, failed } = await expectSettled(records, storage, batchId, ITEMS);
      const retries = retriesByStep(outputs());
      const figures = {
        items: ITEMS,
        outage_ms: outageMs,
        finished_while_down: finishedWhileDown,
        retries_by_step: retries,
        completed,
        failed,
        creates: createsOf(sim),
        batch_ms: Date.now() - started,
      };
      console.log(`storage outage figures: ${JSON.stringify(figures)}`);
      // Nothing failed and nothing was paid twice: a failed store retries the store, not the task.
      expect(completed).toBe(ITEMS);
      expect(createsOf(sim)).toBe(ITEMS);
      expect(retries.store).toBeGreaterThanOrEqual(3);
      for (const output of outputs()) expect(errorLines(output)).toEqual([]);
    },
  );
});
