import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createTryonQueue, redisConnection, tryonJobId } from '@tryon/queues';
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
import { submitBatch } from '../support.js';
import { FAST_RECOVERY, catalog, createsOf, expectSettled, finishedCount } from './harness.js';

const TIME_SCALE = 20;

let sim: RunningSim | undefined;
let redis: Redis | undefined;
let storage: Storage | undefined;
/** Every worker process a test started, killed or not: their output is kept for the report. */
const started: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.kill()));
  await sim?.close();
});
afterAll(() => {
  storage?.close();
  redis?.disconnect();
});

async function setup(label: string, keys: string[], extra: Record<string, string> = {}) {
  const env = serviceEnv({
    prefix: uniqueId(label),
    simUrl: sim!.url,
    apiKeys: keys,
    timeScale: TIME_SCALE,
    bucket: await createTestBucket(label),
    extra: { ...FAST_RECOVERY, ...extra },
  });
  const config = loadConfig(env);
  redis ??= redisConnection(config.redisUrl);
  storage?.close();
  storage = createStorage(config.storage);
  const records = new Records(redis, config.prefix);
  const worker = () => {
    const process = spawnService('worker', env);
    started.push(process);
    return process;
  };
  return { config, records, storage, worker };
}

describe('worker processes killed with SIGKILL mid-batch', { timeout: 240_000 }, () => {
  it('lose no item and pay for at most one extra task per kill', async ({ onTestFailed }) => {
    const ITEMS = 200;
    const WORKERS = 3;
    /** Kill -9 one worker each time this many items are done, and start a new one at once. */
    const KILL_AT = [10, 50, 90, 130, 170];
    sim = await startSim({
      timeScale: TIME_SCALE,
      keys: { 'crash-a': 1_000_000, 'crash-b': 1_000_000 },
      // Slow answers keep steps running, so a kill finds some in flight.
      latencyMs: { min: 20, max: 80 },
      seed: 21,
    });
    const { config, records, storage, worker } = await setup('crash', ['crash-a', 'crash-b']);
    onTestFailed(() => {
      for (const p of started) console.log(p.output().slice(-3_000));
    });
    const items = await catalog(records, storage, ITEMS);
    const workers = Array.from({ length: WORKERS }, worker);
    const begin = Date.now();
    const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
      freshRenders: true,
    });

    const kills: number[] = [];
    for (const [n, threshold] of KILL_AT.entries()) {
      await eventually(
        () => finishedCount(records, batchId),
        (done) => done >= threshold,
        { timeoutMs: 90_000, intervalMs: 100 },
      );
      await workers[n % WORKERS]!.kill();
      kills.push(Date.now() - begin);
      workers[n % WORKERS] = worker();
    }

    const {
      items: done,
      completed,
      failed,
    } = await expectSettled(records, storage, batchId, ITEMS);
    const creates = createsOf(sim);
    // Jobs that were running in a killed worker and were picked up again (BullMQ's stall count).
    const queue = createTryonQueue(redis!, config.prefix);
    const stalls = await Promise.all(
      done.map((i) => redis!.hget(queue.toKey(tryonJobId(i.id, i.run)), 'stc')),
    );
    await queue.close();
    const figures = {
      items: ITEMS,
      kills: kills.length,
      creates,
      completed,
      failed,
      failures: done.flatMap((i) => (i.error ? [i.error.code] : [])),
      steps_picked_up_after_a_kill: stalls.filter((n) => Number(n ?? 0) > 0).length,
      batch_ms: Date.now() - begin,
      kill_times_ms: kills,
    };
    console.log(`crash figures: ${JSON.stringify(figures)}`);
    expect(kills).toHaveLength(KILL_AT.length);
    // A kill can interrupt the one create its process had in flight, before its task id was
    // saved: that task is paid twice. Never more than one per kill.
    expect(creates).toBeLessThanOrEqual(ITEMS + kills.length);
    expect(creates).toBeGreaterThanOrEqual(ITEMS);
  });

  it('an item whose step keeps losing its worker fails with a reason', async ({ onTestFailed }) => {
    const ITEMS = 6;
    // Answers take 3 s: a worker killed now has steps in flight.
    sim = await startSim({
      timeScale: TIME_SCALE,
      keys: { 'lost-key': 1_000 },
      latencyMs: { min: 3_000, max: 3_000 },
      seed: 22,
    });
    // No second chance for a step whose worker died (production allows 3 deaths).
    const { config, records, storage, worker } = await setup('lost', ['lost-key'], {
      WORKER_MAX_STALLED_COUNT: '0',
    });
    onTestFailed(() => {
      for (const p of started) console.log(p.output().slice(-3_000));
    });
    const items = await catalog(records, storage, ITEMS);
    const first = worker();
    const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
      freshRenders: true,
    });
    const queue = createTryonQueue(redis!, config.prefix);
    await eventually(
      () => queue.getActiveCount(),
      (active) => active > 0,
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    await first.kill();
    await queue.close();
    sim.configure({ latencyMs: { min: 0, max: 0 } });
    worker();

    const { items: done, failed } = await expectSettled(records, storage, batchId, ITEMS, 90_000);
    console.log(
      `lost worker figures: ${JSON.stringify({ items: ITEMS, failed, errors: done.map((i) => i.error?.code ?? null) })}`,
    );
    expect(failed).toBeGreaterThan(0);
    for (const item of done.filter((i) => i.status === 'failed')) {
      expect(item.error).toMatchObject({
        code: 'worker_lost',
        message: expect.stringContaining('retry the batch') as unknown,
      });
    }
  });
});
