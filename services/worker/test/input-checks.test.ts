import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { redisConnection } from '@tryon/queues';
import { Records } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import { createTestBucket, eventually, makeImage, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '../src/index.js';
import { storeAsset, submitBatch } from './support.js';

const TIME_SCALE = 50;
let sim: RunningSim;
let config: Config;
let redis: Redis;
let records: Records;
let storage: Storage;
let worker: RunningWorker;

/** A rejected model photo: FitRoom's model check answers 400001 (no person) for these bytes. */
const REJECTED = { r: 13, g: 13, b: 13 };

beforeAll(async () => {
  const rejected = await makeImage({ width: 400, height: 600, color: REJECTED });
  sim = await startSim({
    timeScale: TIME_SCALE,
    keys: { 'checks-key': 1_000 },
    inputCheckOverrides: {
      [createHash('sha256').update(rejected).digest('hex')]: {
        is_good: false,
        error_code: '400001',
        good_clothes_types: [],
      },
    },
  });
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('checks'),
      simUrl: sim.url,
      apiKeys: ['checks-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('checks'),
    }),
  );
  redis = redisConnection(config.redisUrl);
  records = new Records(redis, config.prefix);
  storage = createStorage(config.storage);
  worker = await startWorker(config, {
    logger: createLogger({ service: 'tryon-worker', level: 'warn' }),
  });
});

afterAll(async () => {
  await worker?.close();
  storage?.close();
  redis?.disconnect();
  await sim?.close();
});

describe('input checks, when a batch asks for them', () => {
  it('check each model photo once, and fail only the items whose model FitRoom rejects', async () => {
    const good = await storeAsset(records, storage, 'acme', { r: 200, g: 170, b: 150 });
    const rejected = await storeAsset(records, storage, 'acme', REJECTED);
    const garments = await Promise.all(
      [0, 1, 2].map((i) =>
        storeAsset(
          records,
          storage,
          'acme',
          { r: 10, g: 80 * i, b: 200 },
          { width: 300, height: 300 },
        ),
      ),
    );
    const items = [good, rejected].flatMap((model) =>
      garments.map((cloth) => ({ model, cloth, cloth_type: 'upper' as const })),
    );
    const queued = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
      inputChecks: true,
    });
    const done = await eventually(
      () => records.getBatch(queued),
      (b) => b?.status === 'completed',
      { timeoutMs: 30_000 },
    );
    expect(done?.counts).toMatchObject({ total: 6, completed: 3, failed: 3 });
    for (const id of await records.itemIds(queued)) {
      const item = (await records.getItem(id))!;
      if (item.model === rejected) {
        expect(item.error).toEqual({
          code: 'model_check_400001',
          message: "FitRoom's model check refused the model image: No person detected in the image",
        });
        expect(item.attempts).toBe(0);
      } else {
        expect(item.status).toBe('completed');
      }
    }
    const requests =
      sim.stats().keys['checks-key']!.requests['POST /api/tryon/input_check/v1/model'];
    // Two model photos, six items: two checks.
    expect(Object.values(requests ?? {}).reduce((a, b) => a + b, 0)).toBe(2);
    expect(sim.stats().keys['checks-key']!.creates).toBe(3);
  });
});
