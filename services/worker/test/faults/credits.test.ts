import type { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { redisConnection } from '@tryon/queues';
import { budgetKeyFor } from '@tryon/rate-limiter';
import { CreditBook, Records } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import {
  createTestBucket,
  serviceEnv,
  spawnService,
  uniqueId,
  type ServiceProcess,
} from '@tryon/testing';
import { submitBatch } from '../support.js';
import { FAST_RECOVERY, catalog, errorLines, expectSettled } from './harness.js';

const TIME_SCALE = 20;
const ITEMS = 100;
const KEYS = ['credits-key-one', 'credits-key-two'];
const RATE_LIMIT = 60;
/** Real ms; a late create is answered after 3 s, well past it. */
const CLIENT_TIMEOUT_MS = 1_500;
/**
 * tryon_worker_credits_total per `key/kind`, summed over the workers: each worker's /metrics is
 * found from its "listening" log line.
 */
async function creditCounters(outputs: string[]): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  for (const output of outputs) {
    const url = /"url":"([^"]+)"[^\n]*worker http server listening/.exec(output)?.[1];
    if (!url) throw new Error('a worker did not log its http address');
    const metrics = await request(`${url}/metrics`);
    const text = await metrics.body.text();
    for (const [, key, kind, value] of text.matchAll(
      /^tryon_worker_credits_total\{key="([^"]+)",kind="([^"]+)"\} (\d+)$/gm,
    )) {
      sums[`${key}/${kind}`] = (sums[`${key}/${kind}`] ?? 0) + Number(value);
    }
  }
  return sums;
}

/** The only ways an item may fail here: two creates in a row without a usable answer. */
const ALLOWED_FAILURES = new Set(['fitroom_create_ambiguous']);

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

describe('every credit accounted for: creates answered late, reset, 5xx after the task exists', () => {
  it(
    'no 429 of our making, every item finished, FitRoom charged within [spent, spent + possibly_spent]',
    { timeout: 180_000 },
    async () => {
      sim = await startSim({
        timeScale: TIME_SCALE,
        keys: Object.fromEntries(KEYS.map((k) => [k, 1_000_000])),
        rateLimit: RATE_LIMIT,
        faults: {
          // The task is made and charged; the answer comes 3 s (real) later, after our timeout.
          lateCreate: { rate: 0.06 },
          lateCreateMs: 60_000,
          resetAfterCreate: { rate: 0.06 },
          errorAfterCreate: { rate: 0.06 },
          // Spurious 429s that ask for no wait at all.
          retryAfterZero: { rate: 0.03 },
        },
        // Slow answers of every kind (FitRoom ms: 0.1-0.6 s real for a create).
        routeLatencyMs: { create: { min: 2_000, max: 12_000 }, poll: { min: 500, max: 4_000 } },
        latencyMs: { min: 5, max: 40 },
        seed: 1111,
      });
      const env = serviceEnv({
        prefix: uniqueId('credits-faults'),
        simUrl: sim.url,
        apiKeys: KEYS,
        timeScale: TIME_SCALE,
        bucket: await createTestBucket('credits-faults'),
        extra: {
          ...FAST_RECOVERY,
          // No worker dies here: a longer lock keeps a loaded machine's stalls from costing locks.
          WORKER_LOCK_DURATION_MS: '20000',
          FITROOM_TIMEOUT_MS: String(CLIENT_TIMEOUT_MS),
          FITROOM_RATE_LIMIT: String(RATE_LIMIT),
          WORKER_CREATES_IN_FLIGHT: '6',
          LOG_LEVEL: 'info',
        },
      });
      const config = loadConfig(env);
      redis = redisConnection(config.redisUrl);
      storage = createStorage(config.storage);
      const records = new Records(redis, config.prefix);
      const items = await catalog(records, storage, ITEMS);
      workers.push(spawnService('worker', env), spawnService('worker', env));
      const output = () => workers.map((w) => w.output()).join('\n');
      const started = Date.now();
      const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
        freshRenders: true,
      });

      const {
        completed,
        failed,
        items: done,
      } = await expectSettled(records, storage, batchId, ITEMS, 150_000);
      const batch = (await records.getBatch(batchId))!;
      const stats = sim.stats();
      const byKey = await new CreditBook(redis, config.prefix).byKey(KEYS.map(budgetKeyFor));
      const perKey = KEYS.map((key, i) => {
        const s = stats.keys[key]!;
        const creates = s.requests['POST /api/tryon/v2/tasks'] ?? {};
        return {
          key,
          tasks_created: s.tasks_created,
          spent: byKey[i]!.spent,
          possibly_spent: byKey[i]!.possibly_spent,
          max_in_window: s.max_in_window,
          http_429: s.http_429,
          creates_reset: creates.reset ?? 0,
          creates_500: creates['500'] ?? 0,
        };
      });
      const figures = {
        items: ITEMS,
        completed,
        failed,
        failures: done.flatMap((i) => (i.error ? [i.error.code] : [])),
        batch_credits: batch.credits,
        tasks_created: perKey.reduce((sum, k) => sum + k.tasks_created, 0),
        keys: perKey,
        batch_ms: Date.now() - started,
      };
      console.log(`credit figures: ${JSON.stringify(figures)}`);

      // The faults really happened: tasks were made whose answer we never read.
      expect(batch.credits.possibly_spent).toBeGreaterThan(0);
      expect(perKey.reduce((sum, k) => sum + k.http_429, 0)).toBeGreaterThan(0);
      for (const key of perKey) {
        // No 429 of our making: no window ever saw more than the limit (the 429s were spurious).
        expect(key.max_in_window, key.key).toBeLessThanOrEqual(RATE_LIMIT);
        // The invariant, per key.
        expect(key.tasks_created, key.key).toBeGreaterThanOrEqual(key.spent);
        expect(key.tasks_created, key.key).toBeLessThanOrEqual(key.spent + key.possibly_spent);
      }
      // ... per batch (this batch is the keys' only work) ...
      const { spent, possibly_spent: possiblySpent } = batch.credits;
      expect(figures.tasks_created).toBeGreaterThanOrEqual(spent);
      expect(figures.tasks_created).toBeLessThanOrEqual(spent + possiblySpent);
      // ... and the batch is the sum of its items.
      expect(spent).toBe(done.reduce((sum, i) => sum + i.credits.spent, 0));
      expect(possiblySpent).toBe(done.reduce((sum, i) => sum + i.credits.possibly_spent, 0));
      // Every completed item paid at least its own task.
      for (const item of done.filter((i) => i.status === 'completed')) {
        expect(item.credits.spent, item.id).toBeGreaterThanOrEqual(1);
      }
      for (const item of done.filter((i) => i.status === 'failed')) {
        expect(ALLOWED_FAILURES.has(item.error!.code), item.error!.code).toBe(true);
        expect(item.credits.possibly_spent, item.id).toBeGreaterThanOrEqual(2);
      }
      // The Prometheus counters of the workers say the same per key.
      const counters = await creditCounters(workers.map((w) => w.output()));
      KEYS.map(budgetKeyFor).forEach((budgetKey, i) => {
        expect(counters[`${budgetKey}/spent`] ?? 0).toBe(byKey[i]!.spent);
        expect(counters[`${budgetKey}/possibly_spent`] ?? 0).toBe(byKey[i]!.possibly_spent);
      });
      expect(errorLines(output())).toEqual([]);
    },
  );
});
