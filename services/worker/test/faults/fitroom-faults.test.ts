import type { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
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
import { submitBatch } from '../support.js';
import { FAST_RECOVERY, catalog, errorLines, expectSettled, finishedCount } from './harness.js';

const TIME_SCALE = 20;
const ITEMS = 150;
const KEY = 'faulty-key';
const EXPIRED_LINK = 'download link expired; polling for a fresh one';

let sim: RunningSim | undefined;
let redis: Redis | undefined;
let storage: Storage | undefined;
const workers: ServiceProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await sim?.close();
  storage?.close();
  redis?.disconnect();
});

/**
 * Another client spending our key: `lanes` loops sending status requests with it, as fast as
 * the answers come, until `requests` were sent. Answers how many of them FitRoom refused (429).
 */
async function anotherClient(url: string, requests: number, lanes = 16): Promise<number> {
  let sent = 0;
  let refused = 0;
  const lane = async () => {
    while (sent < requests) {
      sent++;
      const answer = await request(`${url}/api/tryon/v2/tasks/1`, {
        headers: { 'x-api-key': KEY },
      });
      await answer.body.dump();
      if (answer.statusCode === 429) refused++;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return refused;
}

describe('FitRoom at its worst: 5xx, FAILED tasks, slow answers, expired links, foreign 429s', () => {
  it(
    'every item still finishes, no task is paid twice, and nothing unhandled is logged',
    { timeout: 180_000 },
    async () => {
      sim = await startSim({
        timeScale: TIME_SCALE,
        keys: { [KEY]: 1_000_000 },
        serverErrorRate: 0.05,
        unavailableRate: 0.05,
        failureRate: 0.05,
        latencyMs: { min: 20, max: 150 },
        // Every signed link is dead on arrival until enough expired downloads were seen.
        downloadUrlTtlMs: 1,
        seed: 41,
      });
      const env = serviceEnv({
        prefix: uniqueId('fitroom-faults'),
        simUrl: sim.url,
        apiKeys: [KEY],
        timeScale: TIME_SCALE,
        bucket: await createTestBucket('fitroom-faults'),
        extra: { ...FAST_RECOVERY, LOG_LEVEL: 'info' },
      });
      const config = loadConfig(env);
      redis = redisConnection(config.redisUrl);
      storage = createStorage(config.storage);
      const records = new Records(redis, config.prefix);
      const items = await catalog(records, storage, ITEMS);
      workers.push(spawnService('worker', env), spawnService('worker', env));
      const output = () => workers.map((w) => w.output()).join('\n');
      const expiredLinks = () => output().split(EXPIRED_LINK).length - 1;
      const started = Date.now();
      const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
        freshRenders: true,
      });

      // Expired links: the worker polls again for a fresh one, and again, until links live longer.
      await eventually(
        () => Promise.resolve(expiredLinks()),
        (n) => n >= 5,
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      sim.configure({ downloadUrlTtlMs: 600_000 });

      // Someone else spends our key for a while: FitRoom answers us 429s we did not cause.
      await eventually(
        () => finishedCount(records, batchId),
        (done) => done >= 40,
        { timeoutMs: 90_000, intervalMs: 100 },
      );
      const before429 = sim.stats().keys[KEY]!.http_429;
      const refusedToOther = await anotherClient(sim.url, 400);

      const {
        completed,
        failed,
        items: done,
      } = await expectSettled(records, storage, batchId, ITEMS, 150_000);
      const stats = sim.stats();
      const key = stats.keys[KEY]!;
      const answers = (route: string) => key.requests[route] ?? {};
      const createAnswers = answers('POST /api/tryon/v2/tasks');
      const pollAnswers = answers('GET /api/tryon/v2/tasks/:id');
      const figures = {
        items: ITEMS,
        completed,
        failed,
        failures: done.flatMap((i) => (i.error ? [i.error.code] : [])),
        tasks: stats.tasks,
        http_5xx:
          (createAnswers['500'] ?? 0) +
          (createAnswers['503'] ?? 0) +
          (pollAnswers['500'] ?? 0) +
          (pollAnswers['503'] ?? 0),
        http_429_to_us: key.http_429 - refusedToOther,
        http_429_to_other_client: refusedToOther,
        http_429_before_other_client: before429,
        expired_links: expiredLinks(),
        batch_ms: Date.now() - started,
      };
      console.log(`fitroom faults figures: ${JSON.stringify(figures)}`);
      // Each completed item has exactly one task that did not fail: no task was paid twice.
      expect(stats.tasks.created - stats.tasks.failed).toBe(completed);
      expect(stats.tasks.failed).toBeGreaterThan(0);
      expect(figures.http_5xx).toBeGreaterThan(0);
      // Our own budget never over-sent: every 429 we got came while the other client spent the key.
      expect(before429).toBe(0);
      expect(figures.http_429_to_us).toBeGreaterThan(0);
      expect(figures.expired_links).toBeGreaterThanOrEqual(5);
      // Only an item whose task failed three times may fail, or one whose creates got two 500s
      // in a row (each may have made a task: FITROOM_AMBIGUOUS_CREATES retries only once).
      for (const item of done.filter((i) => i.status === 'failed')) {
        expect(['fitroom_task_failed', 'fitroom_create_ambiguous']).toContain(item.error?.code);
      }
      expect(errorLines(output())).toEqual([]);
    },
  );
});
