import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { createTestBucket, eventually, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '@tryon/worker';
import { allItems, apiClient, type BatchView } from './faults-support.js';

const TIME_SCALE = 20;
const TOKEN = 'acme-token-keys-faults';
const ADMIN_TOKEN = 'admin-token-keys-faults';
const GOOD = 'good-key';
const BROKE = 'broke-key'; // no credit: FitRoom answers 402
const WRONG = 'wrong-key'; // unknown to FitRoom: 401

/** A key's non-secret budget name, as /admin shows it (budgetKeyFor in @tryon/rate-limiter). */
const budgetKeyFor = (apiKey: string) =>
  `key-${createHash('sha256').update(apiKey).digest('hex').slice(0, 12)}`;

interface KeyState {
  budget_key: string;
  paused: boolean;
  reason: string | null;
}
interface KeysAnswer {
  keys: KeyState[];
  try_on: { paused: boolean; reason: string | null; usable_keys: number };
}

let sim: RunningSim;
let api: RunningApi;
let worker: RunningWorker;
let tenant: ReturnType<typeof apiClient>;
let admin: ReturnType<typeof apiClient>;
let models: string[];
let garments: string[];

beforeAll(async () => {
  sim = await startSim({
    timeScale: TIME_SCALE,
    keys: { [GOOD]: 1_000_000, [BROKE]: 0 },
    seed: 61,
  });
  const config = loadConfig(
    serviceEnv({
      prefix: uniqueId('keys'),
      simUrl: sim.url,
      apiKeys: [GOOD, BROKE, WRONG],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('keys'),
      extra: {
        API_TOKENS: `acme:${TOKEN}`,
        ADMIN_TOKEN,
        TRYON_RETRY_BACKOFF_MS: '100',
        WORKER_SWEEP_INTERVAL_MS: '1000',
      },
    }),
  );
  worker = await startWorker(config, {
    logger: createLogger({ service: 'tryon-worker', level: 'error' }),
  });
  api = await startApi(config, { logger: { level: 'error' } });
  tenant = apiClient(api.url, TOKEN);
  admin = apiClient(api.url, ADMIN_TOKEN);
  models = await tenant.uploadImages(3, 3);
  garments = await tenant.uploadImages(4, 4);
});

afterAll(async () => {
  await api?.close();
  await worker?.close();
  await sim?.close();
});

async function submit(count: number): Promise<string> {
  const answer = await tenant.call<BatchView>('POST', '/v1/batches', {
    items: Array.from({ length: count }, (_, i) => ({
      model: models[i % models.length],
      cloth: garments[i % garments.length],
      cloth_type: 'upper',
    })),
    fresh_renders: true,
  });
  expect(answer.status).toBe(202);
  return answer.json.id;
}

async function completes(batchId: string, total: number): Promise<void> {
  const done = await eventually(
    () => tenant.call<BatchView>('GET', `/v1/batches/${batchId}`),
    (r) => r.json.status === 'completed',
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  expect(done.json.counts).toMatchObject({ total, completed: total, failed: 0, queued: 0 });
  const items = await allItems(tenant, batchId);
  expect(items.filter((i) => i.status === 'completed')).toHaveLength(total);
}

const keys = () => admin.call<KeysAnswer>('GET', '/admin/keys');
const keyOf = (answer: KeysAnswer, apiKey: string) =>
  answer.keys.find((k) => k.budget_key === budgetKeyFor(apiKey))!;

describe(
  'FitRoom keys without credit, wrong keys, and no usable key at all',
  { timeout: 120_000 },
  () => {
    it('a 402 or 401 pauses that key and the others go on', async () => {
      const batchId = await submit(30);
      await completes(batchId, 30);
      const stats = sim.stats();
      expect(stats.keys[GOOD]!.creates).toBe(30);
      // The broke key was tried, refused with 402, and paused; the wrong one answered 401.
      expect(stats.keys[BROKE]!.requests['POST /api/tryon/v2/tasks']?.['402']).toBeGreaterThan(0);
      expect(stats.keys[BROKE]!.creates).toBe(0);
      expect(stats.unauthorized).toBeGreaterThan(0);

      const answer = (await keys()).json;
      expect(keyOf(answer, GOOD)).toMatchObject({ paused: false, reason: null });
      expect(keyOf(answer, BROKE)).toMatchObject({ paused: true, reason: 'insufficient_credit' });
      expect(keyOf(answer, WRONG)).toMatchObject({ paused: true, reason: 'unauthorized' });
      expect(answer.try_on).toEqual({ paused: false, reason: null, usable_keys: 1 });
      // /admin/status names the paused keys and why.
      const status = await admin.call<{ paused_keys: { budget_key: string; reason: string }[] }>(
        'GET',
        '/admin/status',
      );
      expect(status.json.paused_keys).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            budget_key: budgetKeyFor(BROKE),
            reason: 'insufficient_credit',
          }),
          expect.objectContaining({ budget_key: budgetKeyFor(WRONG), reason: 'unauthorized' }),
        ]),
      );
    });

    it('with no usable key items wait, none fails, the admin sees why, and a resume restarts work', async () => {
      sim.configure({ keys: { [GOOD]: 0 } }); // the last good key runs out of credit
      const batchId = await submit(20);
      const paused = await eventually(keys, (r) => r.json.try_on.paused, {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      expect(paused.json.try_on).toMatchObject({ paused: true, usable_keys: 0 });
      expect(paused.json.try_on.reason).toMatch(/every FitRoom key is paused/);
      expect(paused.json.try_on.reason).toMatch(/insufficient_credit/);
      expect(paused.json.try_on.reason).toMatch(/unauthorized/);
      // While no key is usable, items wait: none fails for it.
      const waiting = await tenant.call<BatchView>('GET', `/v1/batches/${batchId}`);
      expect(waiting.json.counts).toMatchObject({ completed: 0, failed: 0 });
      expect(waiting.json.status).not.toBe('completed');

      // Credit topped up; the operator resumes the key instead of waiting out its pause.
      sim.configure({ keys: { [GOOD]: 1_000_000 } });
      const resumed = await admin.call<{ key: KeyState; try_on: KeysAnswer['try_on'] }>(
        'POST',
        `/admin/keys/${budgetKeyFor(GOOD)}/resume`,
      );
      expect(resumed.status).toBe(200);
      expect(resumed.json.key).toMatchObject({ budget_key: budgetKeyFor(GOOD), paused: false });
      expect(resumed.json.try_on).toMatchObject({ paused: false, usable_keys: 1 });
      await completes(batchId, 20);
    });

    it('a resumed key that was out of credit takes work again; a wrong key stays paused', async () => {
      sim.configure({ keys: { [BROKE]: 1_000_000 } });
      const resumed = await admin.call('POST', `/admin/keys/${budgetKeyFor(BROKE)}/resume`);
      expect(resumed.status).toBe(200);
      await completes(await submit(30), 30);
      expect(sim.stats().keys[BROKE]!.creates).toBeGreaterThan(0);
      expect(keyOf((await keys()).json, WRONG)).toMatchObject({ paused: true });
    });

    it('the resume route wants the admin token and a known key', async () => {
      expect((await tenant.call('POST', `/admin/keys/${budgetKeyFor(GOOD)}/resume`)).status).toBe(
        401,
      );
      const unknown = await admin.call<{ error: { code: string } }>(
        'POST',
        '/admin/keys/key-nope/resume',
      );
      expect(unknown.status).toBe(404);
      expect(unknown.json.error.code).toBe('key_not_found');
    });
  },
);
