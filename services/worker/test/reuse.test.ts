import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { redisConnection } from '@tryon/queues';
import { Records } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import { createTestBucket, eventually, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '../src/index.js';
import { storeAsset, submitBatch } from './support.js';

const TIME_SCALE = 50;
let sim: RunningSim;
let config: Config;
let redis: Redis;
let records: Records;
let storage: Storage;
let worker: RunningWorker;

beforeAll(async () => {
  sim = await startSim({ timeScale: TIME_SCALE, keys: { 'reuse-key': 1_000 }, seed: 3 });
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('reuse'),
      simUrl: sim.url,
      apiKeys: ['reuse-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('reuse'),
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

async function runBatch(items: Parameters<typeof submitBatch>[4], freshRenders = false) {
  const batchId = await submitBatch(records, config.redisUrl, config.prefix, 'acme', items, {
    freshRenders,
  });
  await eventually(
    () => records.getBatch(batchId),
    (b) => b?.status === 'completed',
    { timeoutMs: 30_000 },
  );
  const ids = await records.itemIds(batchId);
  return Promise.all(ids.map(async (id) => (await records.getItem(id))!));
}

describe('rendered pairs are reused', () => {
  it('a pair rendered before costs no FitRoom request, unless the batch asks for fresh renders', async () => {
    const model = await storeAsset(records, storage, 'acme', { r: 90, g: 30, b: 30 });
    const shirt = await storeAsset(records, storage, 'acme', { r: 10, g: 200, b: 30 });
    const trousers = await storeAsset(records, storage, 'acme', { r: 10, g: 20, b: 230 });
    const pairs = [
      { model, cloth: shirt, cloth_type: 'upper' as const },
      { model, cloth: shirt, lower_cloth: trousers, cloth_type: 'combo' as const },
    ];
    const first = await runBatch(pairs);
    const afterFirst = sim.stats().keys['reuse-key']!;
    expect(afterFirst.creates).toBe(2);

    const second = await runBatch([...pairs, { ...pairs[0]!, hd_mode: true }]);
    const afterSecond = sim.stats().keys['reuse-key']!;
    // Only the HD variant is new: the two repeated pairs cost nothing.
    expect(afterSecond.creates).toBe(3);
    expect(afterSecond.total - afterFirst.total).toBeLessThanOrEqual(4);
    for (const [i, item] of second.slice(0, 2).entries()) {
      expect(item.status).toBe('completed');
      expect(item.attempts).toBe(0);
      expect(item.result?.sha256).toBe(first[i]!.result?.sha256);
      expect(item.result?.key).toBe(`results/${item.batch_id}/${item.id}.jpg`);
    }

    await runBatch([pairs[0]!], true);
    expect(sim.stats().keys['reuse-key']!.creates).toBe(4);
  });
});
