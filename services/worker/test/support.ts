import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '@tryon/config';
import { startSim, type RunningSim, type SimOptions } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { assetIdFor } from '@tryon/domain';
import { createTryonQueue, redisConnection, tryonJob } from '@tryon/queues';
import { Records, type ItemRecord, type NewItem } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import { createTestBucket, makeImage, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '../src/index.js';

/** Stores an image the way POST /v1/assets does: content-addressed bytes plus the asset record. */
export async function storeAsset(
  records: Records,
  storage: Storage,
  tenantId: string,
  color: { r: number; g: number; b: number },
  size = { width: 400, height: 600 },
): Promise<string> {
  const bytes = await makeImage({ ...size, color });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const stored = await storage.put(`assets/${sha256}`, bytes, { contentType: 'image/jpeg' });
  const id = assetIdFor(tenantId, sha256);
  await records.saveAsset(tenantId, {
    id,
    sha256,
    bytes: stored.bytes,
    ...size,
    content_type: 'image/jpeg',
    storage_key: stored.key,
  });
  return id;
}

/** A fresh one-item batch of tenant acme, recorded only (no job): its item, queued. */
export async function oneItemBatch(records: Records): Promise<ItemRecord> {
  const { batch } = await records.createBatch({
    tenantId: 'acme',
    items: [
      {
        model: 'https://img.example/m.jpg',
        cloth: 'https://img.example/c.jpg',
        cloth_type: 'upper',
      },
    ],
  });
  const [id] = await records.itemIds(batch.id);
  return (await records.getItem(id!))!;
}

/** Records a batch and queues its jobs, as POST /v1/batches does. */
export async function submitBatch(
  records: Records,
  redisUrl: string,
  prefix: string,
  tenantId: string,
  items: NewItem[],
  options: {
    webhookUrl?: string;
    freshRenders?: boolean;
    inputChecks?: boolean;
    idempotencyKey?: string;
  } = {},
): Promise<string> {
  const { batch } = await records.createBatch({ tenantId, items, ...options });
  const connection: Redis = redisConnection(redisUrl);
  const queue = createTryonQueue(connection, prefix);
  try {
    const ids = await records.itemIds(batch.id);
    const stored = await Promise.all(ids.map((id) => records.getItem(id)));
    await queue.addBulk(stored.map((item) => tryonJob(item!)));
    await records.markEnqueued(batch.id);
  } finally {
    await queue.close();
    connection.disconnect();
  }
  return batch.id;
}

export interface InProcessStack {
  sim: RunningSim;
  config: Config;
  records: Records;
  storage: Storage;
  worker: RunningWorker;
  close(): Promise<void>;
}

/**
 * A simulator (one key, the given options) and a worker in this process on the test Redis and
 * S3, under a fresh prefix: what a worker test needs to submit batches and read their items.
 */
export async function startWorkerStack(
  label: string,
  simOptions: Omit<SimOptions, 'keys'> = {},
  timeScale = 50,
): Promise<InProcessStack> {
  const key = `${label}-key`;
  const sim = await startSim({ timeScale, keys: { [key]: 1_000 }, ...simOptions });
  const config = loadConfig(
    serviceEnv({
      prefix: uniqueId(label),
      simUrl: sim.url,
      apiKeys: [key],
      timeScale,
      bucket: await createTestBucket(label),
    }),
  );
  const redis = redisConnection(config.redisUrl);
  const storage = createStorage(config.storage);
  const worker = await startWorker(config, {
    logger: createLogger({ service: 'tryon-worker', level: 'warn' }),
  });
  return {
    sim,
    config,
    records: new Records(redis, config.prefix),
    storage,
    worker,
    async close() {
      await worker.close();
      storage.close();
      redis.disconnect();
      await sim.close();
    },
  };
}
