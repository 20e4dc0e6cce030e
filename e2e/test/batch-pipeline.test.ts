import { createHash } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig, type Config } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import {
  createTestBucket,
  eventually,
  makeImage,
  serviceEnv,
  startWebhookReceiver,
  testS3,
  uniqueId,
  type WebhookReceiver,
} from '@tryon/testing';
import { tenantSigningSecret } from '@tryon/webhooks';
import { startWorker, type RunningWorker } from '@tryon/worker';

const TIME_SCALE = 50;
const TOKEN = 'acme-token-0123456789';

let sim: RunningSim;
let receiver: WebhookReceiver;
let config: Config;
let api: RunningApi;
let worker: RunningWorker;

async function call<T>(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; json: T }> {
  const response = await request(`${api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: response.statusCode, json: (await response.body.json()) as T };
}

async function upload(images: Buffer[]): Promise<string[]> {
  const form = new FormData();
  images.forEach((bytes, i) =>
    form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), `img-${i}.jpg`),
  );
  const response = await fetch(`${api.url}/v1/assets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: form,
  });
  const json = (await response.json()) as { assets: { id: string }[] };
  expect(response.status).toBeLessThan(300);
  return json.assets.map((a) => a.id);
}

beforeAll(async () => {
  sim = await startSim({ timeScale: TIME_SCALE, keys: { 'e2e-key': 1_000_000 }, seed: 7 });
  receiver = await startWebhookReceiver();
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('e2e'),
      simUrl: sim.url,
      apiKeys: ['e2e-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('e2e'),
      extra: { API_TOKENS: `acme:${TOKEN}` },
    }),
  );
  const logger = createLogger({ service: 'tryon-worker', level: 'warn' });
  worker = await startWorker(config, { logger });
  api = await startApi(config, { logger: { level: 'warn' } });
});

afterAll(async () => {
  await api?.close();
  await worker?.close();
  await receiver?.close();
  await sim?.close();
});

describe('a batch from POST to stored results and webhooks', () => {
  it('runs a 5 x 10 matrix with mixed cloth types, a combo pair and hd_mode', async () => {
    const models = await upload(
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          makeImage({ width: 600 + i * 10, height: 900, color: { r: 40 * i, g: 90, b: 160 } }),
        ),
      ),
    );
    const garments = await upload(
      await Promise.all(
        Array.from({ length: 11 }, (_, i) =>
          makeImage({ width: 400, height: 500 + i, color: { r: 200, g: 20 * i, b: 60 } }),
        ),
      ),
    );
    const types = ['upper', 'lower', 'full_set'] as const;
    const submitted = await call<{ id: string; status: string; counts: { total: number } }>(
      'POST',
      '/v1/batches',
      {
        matrix: {
          models,
          garments: [
            ...garments
              .slice(0, 9)
              .map((cloth, g) => ({ cloth, cloth_type: types[g % 3], external_id: `g${g}` })),
            {
              cloth: garments[9],
              lower_cloth: garments[10],
              cloth_type: 'combo',
              external_id: 'outfit',
            },
          ],
          hd_mode: true,
        },
        webhook_url: receiver.url,
      },
    );
    expect(submitted.status).toBe(202);
    expect(submitted.json.counts.total).toBe(50);
    // A normal-mode item next to the HD matrix: both modes share the one budget.
    const normal = await call<{ id: string }>('POST', '/v1/batches', {
      items: [{ model: models[0], cloth: garments[0], cloth_type: 'upper', hd_mode: false }],
    });
    expect(normal.status).toBe(202);

    const batchId = submitted.json.id;
    const done = await eventually(
      () =>
        call<{ status: string; counts: Record<string, number>; progress: number }>(
          'GET',
          `/v1/batches/${batchId}`,
        ),
      (r) => r.json.status === 'completed',
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    expect(done.json.counts).toEqual({
      total: 50,
      queued: 0,
      running: 0,
      completed: 50,
      failed: 0,
      cancelled: 0,
    });
    expect(done.json.progress).toBe(1);

    interface ItemView {
      id: string;
      status: string;
      cloth_type: string;
      hd_mode: boolean;
      attempts: number;
      fitroom_task_id: string;
      result: { key: string; sha256: string; url: string };
    }
    const items: ItemView[] = [];
    let cursor: string | null = null;
    do {
      const page: { json: { items: ItemView[]; next_cursor: string | null } } = await call(
        'GET',
        `/v1/batches/${batchId}/items?limit=20${cursor ? `&cursor=${cursor}` : ''}`,
      );
      items.push(...page.json.items);
      cursor = page.json.next_cursor;
    } while (cursor);
    expect(items).toHaveLength(50);
    expect(items.filter((i) => i.cloth_type === 'combo')).toHaveLength(5);

    // Every stored result is byte-identical to the image the simulator served for its task.
    const s3 = testS3();
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const served = sim.stats().downloads;
    const bucket = (config.storage as { bucket: string }).bucket;
    for (const item of items) {
      expect(item).toMatchObject({ status: 'completed', attempts: 1, hd_mode: true });
      expect(item.result.key).toBe(`results/${batchId}/${item.id}.jpg`);
      const object = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: item.result.key }),
      );
      const sha = createHash('sha256')
        .update(await object.Body!.transformToByteArray())
        .digest('hex');
      expect(sha).toBe(item.result.sha256);
      expect(sha).toBe(served[item.fitroom_task_id]);
    }
    client.destroy();
    // The result is also served through the API.
    const resultPath = `/v1/items/${items[0]!.id}/result`;
    expect(items[0]!.result.url.endsWith(resultPath)).toBe(true);
    const image = await request(`${api.url}${resultPath}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(image.statusCode).toBe(200);
    expect(
      createHash('sha256')
        .update(Buffer.from(await image.body.arrayBuffer()))
        .digest('hex'),
    ).toBe(items[0]!.result.sha256);

    // One item.completed per item and a single batch.completed, signed with the tenant's secret.
    await receiver.waitFor((r) => r.length >= 51, 30_000);
    const secret = await call<{ secret: string }>('GET', '/v1/webhooks/secret');
    expect(secret.json.secret).toBe(tenantSigningSecret(config.webhooks.secret!, 'acme'));
    const verifier = new Webhook(secret.json.secret);
    const events = receiver.received.map((r) => {
      const headers = {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      };
      return {
        id: headers['webhook-id'],
        ...(verifier.verify(r.body, headers) as {
          type: string;
          data: { id: string; counts?: { completed: number } };
        }),
      };
    });
    const itemEvents = events.filter((e) => e.type === 'item.completed');
    expect(new Set(itemEvents.map((e) => e.data.id))).toEqual(new Set(items.map((i) => i.id)));
    const batchEvents = events.filter((e) => e.type === 'batch.completed');
    expect(batchEvents).toHaveLength(1);
    expect(batchEvents[0]!.data).toMatchObject({
      id: batchId,
      status: 'completed',
      counts: { completed: 50 },
    });
    const first = receiver.received[0]!;
    expect(() =>
      new Webhook(tenantSigningSecret(config.webhooks.secret!, 'globex')).verify(first.body, {
        'webhook-id': String(first.headers['webhook-id']),
        'webhook-timestamp': String(first.headers['webhook-timestamp']),
        'webhook-signature': String(first.headers['webhook-signature']),
      }),
    ).toThrow();

    // The normal-mode item finishes too.
    const normalDone = await eventually(
      () => call<{ status: string }>('GET', `/v1/batches/${normal.json.id}`),
      (r) => r.json.status === 'completed',
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(normalDone.json.status).toBe('completed');

    // The budget held all along: no 429, no rolling window above the limit, one create per item.
    const stats = sim.stats().keys['e2e-key']!;
    expect(stats.http_429).toBe(0);
    expect(stats.max_in_window).toBeLessThanOrEqual(60);
    expect(stats.creates).toBe(51);
  });
});
