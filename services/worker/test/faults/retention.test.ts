import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { redisConnection } from '@tryon/queues';
import { liveBatchesKey, Operations, Records, type ItemRecord } from '@tryon/records';
import { createStorage, manifestKey, type Storage } from '@tryon/storage';
import {
  createTestBucket,
  eventually,
  serviceEnv,
  startWebhookReceiver,
  uniqueId,
  type WebhookReceiver,
} from '@tryon/testing';
import { startWorker, type RunningWorker } from '../../src/index.js';
import { submitBatch } from '../support.js';
import { catalog, expectSettled } from './harness.js';

const TIME_SCALE = 50;
const DAY_MS = 86_400_000;

let sim: RunningSim;
let config: Config;
let redis: Redis;
let records: Records;
let storage: Storage;
let receiver: WebhookReceiver;
let worker: RunningWorker;

beforeAll(async () => {
  // A third of the tasks fail, with no second task: the manifest shows errors too.
  sim = await startSim({
    timeScale: TIME_SCALE,
    keys: { 'retention-key': 1_000_000 },
    failureRate: 0.3,
    seed: 81,
  });
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('retention'),
      simUrl: sim.url,
      apiKeys: ['retention-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('retention'),
      extra: { FITROOM_FAILED_TASK_RETRIES: '0', WORKER_SWEEP_INTERVAL_MS: '500' },
    }),
  );
  redis = redisConnection(config.redisUrl);
  records = new Records(redis, config.prefix);
  storage = createStorage(config.storage);
  receiver = await startWebhookReceiver();
  worker = await startWorker(config, {
    logger: createLogger({ service: 'tryon-worker', level: 'error' }),
  });
});

afterAll(async () => {
  await worker?.close();
  await receiver?.close();
  await sim?.close();
  storage?.close();
  redis?.disconnect();
});

interface Manifest {
  batch: { id: string; status: string; counts: Record<string, number> };
  records_expire_at: string;
  items: {
    id: string;
    external_id: string | null;
    status: string;
    result_key: string | null;
    error: { code: string; message: string } | null;
  }[];
}

async function readManifest(batchId: string): Promise<Manifest | null> {
  const object = await storage.get(manifestKey(batchId));
  if (!object) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of object.body) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString()) as Manifest;
}

/** Every Redis key that names the batch or one of its items, with its time to live. */
async function batchKeys(batchId: string): Promise<Map<string, number>> {
  const ids = new Set([batchId, ...(await records.itemIds(batchId))]);
  const keys = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, page] = await redis.scan(cursor, 'MATCH', `${config.prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of page) {
      if (key.split(':').some((part) => ids.has(part))) keys.set(key, await redis.pttl(key));
    }
  } while (cursor !== '0');
  return keys;
}

const lineOf = (item: ItemRecord) => ({
  id: item.id,
  external_id: item.external_id,
  status: item.status,
  result_key: item.result?.key ?? null,
  error: item.error,
});

describe('a finished batch is settled for retention', { timeout: 90_000 }, () => {
  it('writes its manifest next to its results and gives every Redis record of it an expiry', async () => {
    const items = await catalog(records, storage, 12);
    const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
      webhookUrl: receiver.url,
      freshRenders: true,
      idempotencyKey: 'retention-batch-1',
    });
    const { items: done, completed, failed } = await expectSettled(records, storage, batchId, 12);
    expect(completed).toBeGreaterThan(0);
    expect(failed).toBeGreaterThan(0);
    // Every event delivered and recorded: the deliveries list exists too.
    await receiver.waitFor((r) => r.length >= 13);
    const operations = new Operations(redis, config.prefix);
    await eventually(
      () => operations.deliveries(batchId),
      (d) => d.length >= 13,
      { timeoutMs: 10_000 },
    );

    const manifest = await eventually(
      () => readManifest(batchId),
      (m) => m !== null,
      { timeoutMs: 10_000 },
    );
    const batch = await records.getBatch(batchId);
    expect(manifest!.batch).toMatchObject({
      id: batchId,
      status: 'completed',
      counts: batch!.counts,
    });
    expect(manifest!.items).toEqual(done.map(lineOf));
    for (const line of manifest!.items) {
      if (line.status === 'completed') {
        expect(line.result_key).toBe(`results/${batchId}/${line.id}.jpg`);
        expect(line.error).toBeNull();
      } else {
        expect(line.error?.code).toBe('fitroom_task_failed');
      }
    }

    const keys = await batchKeys(batchId);
    keys.set(
      `${config.prefix}:tenant:acme:idempotency:retention-batch-1`,
      await redis.pttl(`${config.prefix}:tenant:acme:idempotency:retention-batch-1`),
    );
    const kinds = [...keys.keys()].map((key) =>
      key.slice(config.prefix.length + 1).replace(/(bat|itm)_[a-z0-9]+/g, '{id}'),
    );
    console.log(
      `retention figures: ${JSON.stringify({ keys: keys.size, kinds: [...new Set(kinds)] })}`,
    );
    // The batch hash, item list, state sets, deliveries, idempotency key and 12 item hashes.
    expect(keys.size).toBeGreaterThanOrEqual(12 + 6);
    expect(kinds).toEqual(
      expect.arrayContaining(['batch:{id}', 'batch:{id}:deliveries', 'item:{id}']),
    );
    for (const [key, ttl] of keys) {
      expect(ttl, key).toBeGreaterThan(29.9 * DAY_MS);
      expect(ttl, key).toBeLessThanOrEqual(30 * DAY_MS);
    }
    expect(await redis.zscore(liveBatchesKey(config.prefix), batchId)).toBeNull();
    expect(Date.parse(manifest!.records_expire_at) - Date.now()).toBeGreaterThan(29.9 * DAY_MS);
  });

  it('settles a batch the API finished by cancelling it, through the sweep', async () => {
    const { batch } = await records.createBatch({
      tenantId: 'acme',
      items: (await catalog(records, storage, 3)).map((item) => ({ ...item })),
    });
    await records.cancelBatch(batch.id);
    const manifest = await eventually(
      () => readManifest(batch.id),
      (m) => m !== null,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(manifest!.batch).toMatchObject({ status: 'cancelled', counts: { cancelled: 3 } });
    expect(manifest!.items.map((i) => i.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    await eventually(
      () => redis.pttl(`${config.prefix}:batch:${batch.id}`),
      (ttl) => ttl > 0,
      { timeoutMs: 10_000 },
    );
    for (const [key, ttl] of await batchKeys(batch.id)) expect(ttl, key).toBeGreaterThan(0);
  });
});
