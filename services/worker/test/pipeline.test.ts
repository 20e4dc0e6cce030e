import { createHash } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '@tryon/config';
import { assetIdFor } from '@tryon/domain';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { createTryonQueue, redisConnection, tryonJob } from '@tryon/queues';
import { Records, type NewItem } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
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
import { startWorker, type RunningWorker } from '../src/index.js';

const TIME_SCALE = 50;
const TENANT = 'acme';

let sim: RunningSim;
let receiver: WebhookReceiver;
let config: Config;
let redis: Redis;
let records: Records;
let storage: Storage;
let worker: RunningWorker;

/** Uploads an image the way the API does: content-addressed bytes plus the tenant's asset record. */
async function asset(color: { r: number; g: number; b: number }, width: number, height: number) {
  const bytes = await makeImage({ width, height, color });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const id = assetIdFor(TENANT, sha256);
  const stored = await storage.put(`assets/${sha256}`, bytes, { contentType: 'image/jpeg' });
  await records.saveAsset(TENANT, {
    id,
    sha256,
    bytes: stored.bytes,
    width,
    height,
    content_type: 'image/jpeg',
    storage_key: stored.key,
  });
  return id;
}

beforeAll(async () => {
  sim = await startSim({ timeScale: TIME_SCALE, keys: { 'pipeline-key': 1_000_000 }, seed: 7 });
  receiver = await startWebhookReceiver();
  const bucket = await createTestBucket('pipeline');
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('pipeline'),
      simUrl: sim.url,
      apiKeys: ['pipeline-key'],
      timeScale: TIME_SCALE,
      bucket,
      extra: { API_TOKENS: `${TENANT}:acme-token-123` },
    }),
  );
  redis = redisConnection(config.redisUrl);
  records = new Records(redis, config.prefix);
  storage = createStorage(config.storage);
  worker = await startWorker(config, {
    logger: createLogger({ service: 'worker', level: 'warn' }),
  });
});

afterAll(async () => {
  await worker?.close();
  storage?.close();
  redis?.disconnect();
  await receiver?.close();
  await sim?.close();
});

describe('worker pipeline', () => {
  it('takes a 5 x 10 matrix with mixed cloth types, a combo pair and hd_mode to stored results and signed webhooks', async () => {
    const models = await Promise.all(
      Array.from({ length: 5 }, (_, i) => asset({ r: 40 * i, g: 90, b: 160 }, 600 + i * 10, 900)),
    );
    const garments = await Promise.all(
      Array.from({ length: 11 }, (_, i) => asset({ r: 200, g: 20 * i, b: 60 }, 400, 500 + i)),
    );
    const types = ['upper', 'lower', 'full_set'] as const;
    const items: NewItem[] = [];
    models.forEach((model, m) => {
      for (let g = 0; g < 10; g++) {
        const combo = g === 9;
        items.push({
          model,
          cloth: garments[g]!,
          ...(combo && { lower_cloth: garments[10]! }),
          cloth_type: combo ? 'combo' : types[g % 3]!,
          hd_mode: m === 0 && g < 2,
          external_id: `m${m}-g${g}`,
        });
      }
    });
    const { batch } = await records.createBatch({
      tenantId: TENANT,
      items,
      webhookUrl: receiver.url,
    });
    const queue = createTryonQueue(redisConnection(config.redisUrl), config.prefix);
    const ids = await records.itemIds(batch.id);
    const itemRecords = await Promise.all(ids.map((id) => records.getItem(id)));
    await queue.addBulk(itemRecords.map((item) => tryonJob(item!)));
    await queue.close();

    const done = await eventually(
      () => records.getBatch(batch.id),
      (b) => b?.status === 'completed',
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    expect(done?.counts).toEqual({
      total: 50,
      queued: 0,
      running: 0,
      completed: 50,
      failed: 0,
      cancelled: 0,
    });

    // Every stored result is byte-identical to what the simulator served for that task.
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
    for (const id of ids) {
      const item = (await records.getItem(id))!;
      expect(item.status).toBe('completed');
      expect(item.attempts).toBe(1);
      expect(item.result?.key).toBe(`results/${batch.id}/${id}.jpg`);
      const object = await client.send(
        new GetObjectCommand({
          Bucket: (config.storage as { bucket: string }).bucket,
          Key: item.result!.key,
        }),
      );
      const bytes = Buffer.from(await object.Body!.transformToByteArray());
      const sha = createHash('sha256').update(bytes).digest('hex');
      expect(sha).toBe(item.result!.sha256);
      expect(sha).toBe(served[item.fitroom_task_id!]);
    }
    client.destroy();

    // One item.completed per item and a single batch.completed, all signed with the tenant's secret.
    await receiver.waitFor((r) => r.length >= 51, 30_000);
    const verifier = new Webhook(tenantSigningSecret(config.webhooks.secret!, TENANT));
    const events = receiver.received.map((r) => {
      const headers = {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      };
      return {
        id: headers['webhook-id'],
        event: verifier.verify(r.body, headers) as { type: string; data: Record<string, unknown> },
      };
    });
    const completedItems = events.filter((e) => e.event.type === 'item.completed');
    const batchCompleted = events.filter((e) => e.event.type === 'batch.completed');
    expect(new Set(completedItems.map((e) => e.event.data.id)).size).toBe(50);
    expect(batchCompleted).toHaveLength(1);
    expect((batchCompleted[0]!.event.data.counts as { completed: number }).completed).toBe(50);
    const otherTenant = new Webhook(tenantSigningSecret(config.webhooks.secret!, 'globex'));
    const first = receiver.received[0]!;
    expect(() =>
      otherTenant.verify(first.body, {
        'webhook-id': String(first.headers['webhook-id']),
        'webhook-timestamp': String(first.headers['webhook-timestamp']),
        'webhook-signature': String(first.headers['webhook-signature']),
      }),
    ).toThrow();

    // The budget held: no 429 and no rolling window above the limit.
    const stats = sim.stats().keys['pipeline-key']!;
    expect(stats.http_429).toBe(0);
    expect(stats.max_in_window).toBeLessThanOrEqual(60);
    expect(stats.creates).toBe(50);
  });
});
