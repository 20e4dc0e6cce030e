import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import {
  createTestBucket,
  eventually,
  freePort,
  serviceEnv,
  spawnService,
  uniqueId,
  type ServiceProcess,
} from '@tryon/testing';
import {
  allItems,
  apiClient,
  redisServer,
  type BatchView,
  type RedisServer,
} from './faults-support.js';

const TIME_SCALE = 20;
const TOKEN = 'acme-token-redis-restart';
const FIRST = 100;
const SECOND = 20;

let sim: RunningSim | undefined;
let redis: RedisServer | undefined;
let directory: string | undefined;
const processes: ServiceProcess[] = [];
afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  await redis?.shutdown();
  await sim?.close();
  if (directory) await rm(directory, { recursive: true, force: true });
});

describe('Redis restarted mid-batch (appendonly yes)', { timeout: 180_000 }, () => {
  it('api and workers reconnect and no item, count or job is lost', async ({ onTestFailed }) => {
    directory = await mkdtemp(join(tmpdir(), 'redis-restart-'));
    redis = redisServer({ port: await freePort(), directory });
    await redis.start();
    sim = await startSim({ timeScale: TIME_SCALE, keys: { 'restart-key': 1_000_000 }, seed: 51 });
    const port = await freePort();
    const env = serviceEnv({
      prefix: uniqueId('redis-restart'),
      simUrl: sim.url,
      apiKeys: ['restart-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('redis-restart'),
      extra: {
        REDIS_URL: redis.url,
        PORT: String(port),
        API_TOKENS: `acme:${TOKEN}`,
        TRYON_RETRY_BACKOFF_MS: '100',
        WORKER_SWEEP_INTERVAL_MS: '1000',
        LOG_LEVEL: 'info',
      },
    });
    const apiProcess = spawnService('api', env);
    processes.push(apiProcess, spawnService('worker', env), spawnService('worker', env));
    onTestFailed(() => {
      for (const p of processes) console.log(p.output().slice(-5_000));
    });
    const api = apiClient(`http://127.0.0.1:${port}`, TOKEN);
    await eventually(
      () => api.call('GET', '/healthz').catch(() => ({ status: 0 })),
      (r) => r.status === 200,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    for (const worker of processes.slice(1)) {
      await eventually(
        () => Promise.resolve(worker.output()),
        (text) => text.includes('worker started'),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    }

    const models = await api.uploadImages(4, 1);
    const garments = await api.uploadImages(5, 2);
    const submit = (count: number) =>
      api.call<BatchView>('POST', '/v1/batches', {
        items: Array.from({ length: count }, (_, i) => ({
          model: models[i % models.length],
          cloth: garments[i % garments.length],
          cloth_type: 'upper',
          external_id: `sku-${i}`,
        })),
        // Every item pays for its own task: creates count items exactly.
        fresh_renders: true,
      });
    const batch = (id: string) => api.call<BatchView>('GET', `/v1/batches/${id}`);
    const finished = (b: BatchView) => b.counts.completed + b.counts.failed + b.counts.cancelled;
    const first = await submit(FIRST);
    expect(first.status).toBe(202);
    const started = Date.now();
    await eventually(
      () => batch(first.json.id),
      (r) => finished(r.json) >= 30,
      { timeoutMs: 60_000, intervalMs: 100 },
    );

    const down = Date.now();
    await redis.shutdown();
    // A request while Redis is down waits for it, and is answered once it is back.
    const duringOutage = batch(first.json.id);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await redis.start();
    const outageMs = Date.now() - down;
    expect((await duringOutage).status).toBe(200);

    // The api takes new work after the restart.
    const second = await submit(SECOND);
    expect(second.status).toBe(202);
    for (const [submitted, total] of [
      [first, FIRST],
      [second, SECOND],
    ] as const) {
      const done = await eventually(
        () => batch(submitted.json.id),
        (r) => r.json.status === 'completed',
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      const items = await allItems(api, submitted.json.id);
      expect(items).toHaveLength(total);
      const completed = items.filter((i) => i.status === 'completed');
      const failed = items.filter((i) => i.status === 'failed');
      expect(done.json.counts).toEqual({
        total,
        queued: 0,
        running: 0,
        completed: completed.length,
        failed: failed.length,
        cancelled: 0,
      });
      expect(completed.length).toBe(total);
      for (const item of completed) expect(item.result?.key).toMatch(/^results\//);
    }
    const creates = sim.stats().keys['restart-key']!.creates;
    console.log(
      `redis restart figures: ${JSON.stringify({
        items: FIRST + SECOND,
        creates,
        outage_ms: outageMs,
        batch_ms: Date.now() - started,
        reconnect_warnings: processes.map(
          (p) => p.output().split('redis connection error').length - 1,
        ),
      })}`,
    );
    // No task was paid twice.
    expect(creates).toBe(FIRST + SECOND);
    for (const process of processes) {
      const output = process.output();
      // Redis keeps what it is given here: no durability warning, and nothing unhandled.
      expect(output).not.toContain('appendonly off');
      expect(output).not.toMatch(/unhandled|uncaught/i);
    }
    expect(apiProcess.child.exitCode).toBeNull();
  });
});
