import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '@tryon/config';
import type { TryonJobData } from '@tryon/domain';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { createWebhookQueue, redisConnection, tryonJob } from '@tryon/queues';
import { RateLimiter } from '@tryon/rate-limiter';
import { CreditBook, Operations, Records, type ItemRecord } from '@tryon/records';
import { Admission, DurationModel, defaultPollPolicy } from '@tryon/scheduling';
import { createStorage, type Storage } from '@tryon/storage';
import { createTestBucket, serviceEnv, uniqueId } from '@tryon/testing';
import { createSafeDispatcher } from '@tryon/webhooks';
import { FitRoomPool, InputCheckFlights } from '@tryon/fitroom-gateway';
import { ResultCache } from '../../src/result-cache.js';
import { ItemFinisher, type StepEnv, type StepRun } from '../../src/steps/index.js';
import { storeAsset } from '../support.js';

/** Real Redis, S3 and simulator behind the services a step uses; no worker, no BullMQ worker. */
export interface StepHarness {
  sim: RunningSim;
  config: Config;
  env: StepEnv;
  records: Records;
  storage: Storage;
  /** A one-item batch (upper garment) and the item's first job data. */
  newItem(options?: {
    freshRenders?: boolean;
    inputChecks?: boolean;
  }): Promise<{ item: ItemRecord; data: TryonJobData }>;
  /** A step run whose saves are kept in `saved`. */
  runFor(item: ItemRecord, data: TryonJobData): StepRun & { saved: TryonJobData[] };
  close(): Promise<void>;
}

export async function startStepHarness(
  label: string,
  options: { keys?: number } = {},
): Promise<StepHarness> {
  const apiKeys = Array.from({ length: options.keys ?? 1 }, (_, i) => `${label}-key${i || ''}`);
  const sim = await startSim({
    timeScale: 50,
    keys: Object.fromEntries(apiKeys.map((k) => [k, 1_000])),
    seed: 5,
  });
  const config = loadConfig(
    serviceEnv({
      prefix: uniqueId(label),
      simUrl: sim.url,
      apiKeys,
      timeScale: 50,
      bucket: await createTestBucket(label),
    }),
  );
  const redis: Redis = redisConnection(config.redisUrl);
  const bull: Redis = redisConnection(config.redisUrl);
  const records = new Records(redis, config.prefix);
  const operations = new Operations(redis, config.prefix);
  const storage = createStorage(config.storage);
  const logger = createLogger({ service: 'step-test', level: 'warn' });
  const limiter = new RateLimiter({
    redis,
    prefix: config.prefix,
    limit: config.fitroom.rateLimit,
    windowMs: config.fitroom.rateWindowMs,
    requestTimeoutMs: config.fitroom.timeoutMs,
  });
  const pool = new FitRoomPool({
    baseUrl: config.fitroom.baseUrl,
    apiKeys: config.fitroom.apiKeys,
    limiter,
    operations,
    timeoutMs: config.fitroom.timeoutMs,
    downloadTimeoutMs: config.fitroom.downloadTimeoutMs,
    createsInFlight: 2,
    logger,
  });
  const dispatcher = createSafeDispatcher({ allowPrivateNetworks: true, connectTimeoutMs: 5_000 });
  const webhookQueue = createWebhookQueue(bull, config.prefix);
  const deps = {
    records,
    operations,
    storage,
    pool,
    webhookQueue,
    prepare: {
      redis,
      prefix: config.prefix,
      records,
      storage,
      dispatcher,
      fetchTimeoutMs: 5_000,
      maxBytes: 20_000_000,
    },
    resultCache: new ResultCache(redis, config.prefix),
    inputChecks: new InputCheckFlights(redis, config.prefix),
    admission: new Admission(redis, config.prefix),
    durations: new DurationModel({
      redis,
      prefix: config.prefix,
      defaults: { normal: { meanMs: 200, sdMs: 20 }, hd: { meanMs: 300, sdMs: 30 } },
      fitroomSecondMs: 20,
      refreshMs: 100,
    }),
    pollPolicy: defaultPollPolicy(
      config.fitroom.pollIntervalMs,
      config.fitroom.rateWindowMs / config.fitroom.rateLimit,
    ),
    pollPressure: () => 0,
    readBudget: () => Promise.resolve(),
    onSlotReleased: () => undefined,
    parkRecheckMs: 60_000,
    taskTimeoutMs: 60_000,
    failedTaskRetries: 1,
    credits: new CreditBook(redis, config.prefix),
    ambiguousCreates: 'retry' as 'retry' | 'fail',
    pausedRecheckMs: 100,
    webhookRetryScheduleMs: [100],
    publicUrl: 'http://localhost',
    logger,
  };
  const env: StepEnv = { deps, finisher: new ItemFinisher(deps) };
  let shade = 0;
  return {
    sim,
    config,
    env,
    records,
    storage,
    async newItem(options = {}) {
      shade += 1;
      const model = await storeAsset(records, storage, 'acme', { r: 100, g: shade, b: 40 });
      const cloth = await storeAsset(records, storage, 'acme', { r: 10, g: shade, b: 200 });
      const { batch } = await records.createBatch({
        tenantId: 'acme',
        items: [{ model, cloth, cloth_type: 'upper' }],
        ...options,
      });
      const [id] = await records.itemIds(batch.id);
      const item = (await records.getItem(id!))!;
      return { item, data: tryonJob(item).data };
    },
    runFor(item, data) {
      const saved: TryonJobData[] = [];
      return {
        jobId: 'test-job',
        item,
        data,
        budgetKey: data.budgetKey,
        saved,
        save: (next) => {
          saved.push(next);
          return Promise.resolve(next);
        },
        fence: () => Promise.resolve(),
      };
    },
    async close() {
      await webhookQueue.close();
      storage.close();
      await dispatcher.close();
      redis.disconnect();
      bull.disconnect();
      await sim.close();
    },
  };
}
