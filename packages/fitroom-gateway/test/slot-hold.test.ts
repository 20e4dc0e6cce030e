import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim } from '@tryon/fitroom-sim';
import { RateLimiter } from '@tryon/rate-limiter';
import { Operations } from '@tryon/records';
import { makeImage, testRedisUrl, uniqueId } from '@tryon/testing';
import { FitRoomPool } from '../src/index.js';

const KEYS = ['hold-key-a', 'hold-key-b', 'hold-key-c'];
const LIMIT = 4;
const WINDOW_MS = 2_000;
const TIMEOUT_MS = 1_000;
const CREATES_PER_KEY = 12;

let sim: Awaited<ReturnType<typeof startSim>>;
let steadySim: Awaited<ReturnType<typeof startSim>>;
let redis: Redis;
let image: Buffer;

beforeAll(async () => {
  // The simulator refuses nothing (its limit is far above ours) but counts every arrival, so
  // its max_in_window shows what our limiter let through in any rolling window.
  sim = await startSim({
    keys: Object.fromEntries(KEYS.map((k) => [k, 1_000])),
    rateLimit: 1_000,
    rateWindowMs: WINDOW_MS,
    // Slow answers: each create takes most of the client timeout.
    routeLatencyMs: { create: { min: 500, max: 800 } },
    seed: 7,
  });
  // Every create answered after exactly 500 ms: the order of sends is known in advance.
  steadySim = await startSim({
    keys: Object.fromEntries(KEYS.map((k) => [k, 1_000])),
    rateLimit: 1_000,
    rateWindowMs: WINDOW_MS,
    routeLatencyMs: { create: { min: 500, max: 500 } },
    seed: 8,
  });
  redis = new Redis(testRedisUrl());
  image = await makeImage({ width: 64, height: 96 });
});

afterAll(async () => {
  await sim?.close();
  await steadySim?.close();
  redis?.disconnect();
});

describe('a budget slot held from the moment its request is sent', () => {
  it(
    'creates that wait long for the create gate never put more than the limit in any window',
    { timeout: 60_000 },
    async () => {
      const prefix = uniqueId('slot-hold');
      const limiter = new RateLimiter({
        redis,
        prefix,
        limit: LIMIT,
        windowMs: WINDOW_MS,
        requestTimeoutMs: TIMEOUT_MS,
        maxWaitStepMs: 20,
      });
      const pool = new FitRoomPool({
        baseUrl: sim.url,
        apiKeys: KEYS,
        limiter,
        operations: new Operations(redis, prefix),
        timeoutMs: TIMEOUT_MS,
        downloadTimeoutMs: TIMEOUT_MS,
        // Few places for many creates: most wait at the gate far longer than the timeout.
        createsInFlight: 3,
        logger: { warn: () => undefined },
      });
      const input = {
        clothType: 'upper' as const,
        model: { data: image, contentType: 'image/jpeg' },
        cloth: { data: image, contentType: 'image/jpeg' },
      };
      const creates = pool.keys.flatMap((key) =>
        Array.from({ length: CREATES_PER_KEY }, () =>
          pool
            .createTask(key, input, () => Promise.resolve())
            .then(
              () => 'created',
              (error: unknown) => (error instanceof Error ? error.name : 'error'),
            ),
        ),
      );
      const outcomes = await Promise.all(creates);
      const stats = sim.stats();
      const peaks = Object.fromEntries(KEYS.map((k) => [k, stats.keys[k]!.max_in_window]));
      console.log(
        `slot hold: limit ${LIMIT} per ${WINDOW_MS} ms, max_in_window ${JSON.stringify(peaks)}`,
      );
      expect(outcomes.filter((o) => o !== 'created')).toEqual([]);
      for (const key of KEYS) {
        expect(stats.keys[key]!.tasks_created).toBe(CREATES_PER_KEY);
        expect(stats.keys[key]!.max_in_window, key).toBeLessThanOrEqual(LIMIT);
      }
    },
  );
});

function limiterAndPool(prefix: string, baseUrl: string, createsInFlight: number) {
  const limiter = new RateLimiter({
    redis,
    prefix,
    limit: LIMIT,
    windowMs: WINDOW_MS,
    requestTimeoutMs: TIMEOUT_MS,
    maxWaitStepMs: 20,
  });
  return new FitRoomPool({
    baseUrl,
    apiKeys: KEYS.slice(0, 2),
    limiter,
    operations: new Operations(redis, prefix),
    timeoutMs: TIMEOUT_MS,
    downloadTimeoutMs: TIMEOUT_MS,
    createsInFlight,
    logger: { warn: () => undefined },
  });
}

describe('a slot lapsing while its create waits for the gate', () => {
  it(
    'is not handed to another process before the waiting create is sent and answered',
    { timeout: 60_000 },
    async () => {
      const prefix = uniqueId('slot-lapse');
      // Process one: a single create place, taken first by key B's creates (500 ms each).
      const one = limiterAndPool(prefix, steadySim.url, 1);
      // Process two: plenty of places, spending key A as soon as a slot frees.
      const two = limiterAndPool(prefix, steadySim.url, 10);
      const input = {
        clothType: 'upper' as const,
        model: { data: image, contentType: 'image/jpeg' },
        cloth: { data: image, contentType: 'image/jpeg' },
      };
      const create = (pool: FitRoomPool, key: number) =>
        pool.createTask(pool.keys[key]!, input, () => Promise.resolve());
      const creates = Array.from({ length: LIMIT }, () => create(one, 1));
      await sleep(100);
      // Key A's creates hold their tokens behind key B's at the gate for about 2 s, while the
      // token's hold (window + timeout) runs out after 3 s: the last two are sent after that.
      creates.push(...Array.from({ length: LIMIT }, () => create(one, 0)));
      await sleep(200);
      creates.push(...Array.from({ length: 6 }, () => create(two, 0)));
      await Promise.all(creates);
      const peak = steadySim.stats().keys[KEYS[0]!]!.max_in_window;
      console.log(`slot lapse: limit ${LIMIT} per ${WINDOW_MS} ms, key A max_in_window ${peak}`);
      expect(steadySim.stats().keys[KEYS[0]!]!.tasks_created).toBe(LIMIT + 6);
      expect(peak).toBeLessThanOrEqual(LIMIT);
    },
  );
});
