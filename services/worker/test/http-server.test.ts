import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@tryon/testing';
import { startWorkerHttpServer, type WorkerHttpServer } from '../src/http-server.js';
import { startWorkerStack, storeAsset, submitBatch, type InProcessStack } from './support.js';

let stack: InProcessStack;
let http: WorkerHttpServer;
let receiver: Server;
let webhookUrl: string;
beforeAll(async () => {
  stack = await startWorkerStack('workerhttp', { seed: 5 });
  http = await startWorkerHttpServer(stack.worker.probes, { host: '127.0.0.1', port: 0 });
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await http?.close();
  await stack?.close();
  receiver?.close();
});

/** The value of one sample line of a Prometheus text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('worker http server', () => {
  it('reports healthy and ready while the worker runs', async () => {
    const health = await fetch(`${http.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({
      status: 'ok',
      checks: { redis: true, tryonLoop: true, webhookLoop: true },
    });
    const ready = await fetch(`${http.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('serves budget, jobs, webhook and event-loop metrics after a batch', async () => {
    const model = await storeAsset(stack.records, stack.storage, 'acme', { r: 90, g: 30, b: 30 });
    const cloth = await storeAsset(stack.records, stack.storage, 'acme', { r: 10, g: 200, b: 30 });
    const batchId = await submitBatch(
      stack.records,
      stack.config.redisUrl,
      stack.config.prefix,
      'acme',
      [{ model, cloth, cloth_type: 'upper' }],
      { webhookUrl },
    );
    await eventually(
      () => stack.records.getBatch(batchId),
      (b) => b?.status === 'completed',
      { timeoutMs: 30_000 },
    );
    const text = await eventually(
      async () => (await fetch(`${http.url}/metrics`)).text(),
      (t) => (sample(t, 'tryon_worker_webhook_deliveries_total{outcome="delivered"}') ?? 0) >= 1,
      { timeoutMs: 10_000 },
    );
    const contentType = (await fetch(`${http.url}/metrics`)).headers.get('content-type');
    expect(contentType).toMatch(/^text\/plain/);
    const limitLine = text.split('\n').find((l) => l.startsWith('tryon_worker_budget_limit{'));
    expect(limitLine).toMatch(/^tryon_worker_budget_limit\{key="[^"]+"\} 60$/);
    expect(text).toMatch(/^tryon_worker_budget_used\{key="[^"]+"\} \d+$/m);
    expect(text).toMatch(/^tryon_worker_budget_paused\{key="[^"]+"\} 0$/m);
    expect(sample(text, 'tryon_worker_jobs_running{queue="tryon"}')).toBe(0);
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    for (const step of ['prepare', 'create', 'poll', 'store', 'notify']) {
      expect(
        sample(text, `tryon_worker_step_duration_seconds_count{step="${step}"}`),
      ).toBeGreaterThanOrEqual(1);
    }
    expect(sample(text, 'tryon_worker_detection_lag_seconds_count')).toBe(1);
    for (const name of ['tryon_worker_fitroom_requests_total', 'tryon_worker_credits_total']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it('answers unknown paths and methods with JSON errors', async () => {
    const missing = await fetch(`${http.url}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
    const post = await fetch(`${http.url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('turns unready and unhealthy once the worker closes', async () => {
    await stack.worker.close();
    const ready = await fetch(`${http.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'failing', checks: { open: false } });
    expect((await fetch(`${http.url}/healthz`)).status).toBe(503);
  });
});
