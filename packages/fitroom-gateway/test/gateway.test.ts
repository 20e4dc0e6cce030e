import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FitRoomInsufficientCreditError } from '@tryon/fitroom-client';
import { startSim } from '@tryon/fitroom-sim';
import { RateLimiter } from '@tryon/rate-limiter';
import { Operations } from '@tryon/records';
import { makeImage, testRedisUrl, uniqueId } from '@tryon/testing';
import { FitRoomPool, InputCheckFlights } from '../src/index.js';

const RICH_KEY = 'gateway-rich-key';
const BROKE_KEY = 'gateway-broke-key';

let sim: Awaited<ReturnType<typeof startSim>>;
let redis: Redis;
let prefix: string;
let limiter: RateLimiter;
let operations: Operations;
let image: Buffer;

beforeAll(async () => {
  sim = await startSim({ timeScale: 50, keys: { [RICH_KEY]: 1000, [BROKE_KEY]: 0 }, seed: 11 });
  redis = new Redis(testRedisUrl());
  prefix = uniqueId('gw');
  limiter = new RateLimiter({ redis, prefix, limit: 5, windowMs: 2_000, requestTimeoutMs: 5_000 });
  operations = new Operations(redis, prefix);
  image = await makeImage({ width: 64, height: 96 });
});

afterAll(async () => {
  await sim?.close();
  redis?.disconnect();
});

function pool(apiKeys: string[]): FitRoomPool {
  return new FitRoomPool({
    baseUrl: sim.url,
    apiKeys,
    limiter,
    operations,
    timeoutMs: 5_000,
    downloadTimeoutMs: 5_000,
    createsInFlight: 1,
    logger: { warn: () => undefined },
  });
}

const input = () => ({
  clothType: 'upper' as const,
  model: { data: image, contentType: 'image/jpeg' },
  cloth: { data: image, contentType: 'image/jpeg' },
});

describe('FitRoomPool', () => {
  it('spends one token of the key budget per create and records the task before releasing', async () => {
    const gateway = pool([RICH_KEY]);
    const key = gateway.keys[0]!;
    const before = await limiter.usage(key.budgetKey);
    let recorded: string | null = null;
    const created = await gateway.createTask(key, input(), (task) => {
      recorded = task.task_id;
      return Promise.resolve();
    });
    expect(recorded).toBe(created.task_id);
    const after = await limiter.usage(key.budgetKey);
    // The token stays counted in the window (FitRoom counts the request) but is no longer held.
    expect(after.inUse).toBe(before.inUse + 1);
    expect(after.inFlight).toBe(0);
  });

  it('rests a key FitRoom refuses and records why for the status page', async () => {
    const gateway = pool([BROKE_KEY]);
    const key = gateway.keys[0]!;
    const refusal: unknown = await gateway
      .createTask(key, input(), () => Promise.resolve())
      .catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(FitRoomInsufficientCreditError);
    await gateway.keyProblem(key.budgetKey, refusal as FitRoomInsufficientCreditError, 'itm_1');
    expect((await limiter.usage(key.budgetKey)).pausedMs).toBeGreaterThan(0);
    const [latest] = await operations.recentFitroomErrors(1);
    expect(latest).toMatchObject({ budgetKey: key.budgetKey, code: 'insufficient_credit' });
    expect(JSON.stringify(latest)).not.toContain(BROKE_KEY);
  });
});

describe('InputCheckFlights', () => {
  it('asks once per image in a process, then answers from the cache', async () => {
    const flights = new InputCheckFlights(redis, prefix);
    let asks = 0;
    const ask = async () => {
      asks++;
      await sleep(50);
      return { is_good: true };
    };
    const answers = await Promise.all([1, 2, 3].map(() => flights.answer('model', 'a1', ask)));
    expect(answers).toEqual([{ is_good: true }, { is_good: true }, { is_good: true }]);
    expect(await new InputCheckFlights(redis, prefix).answer('model', 'a1', ask)).toEqual({
      is_good: true,
    });
    expect(asks).toBe(1);
  });

  it('with a lock, other processes wait for the holder instead of asking again', async () => {
    const lock = { lockMs: 2_000, tooLong: () => new Error('too long') };
    let asks = 0;
    const ask = async () => {
      asks++;
      await sleep(150);
      return { is_good: false, error_code: 400001 };
    };
    const processes = [1, 2, 3].map(() => new InputCheckFlights(redis, prefix));
    const answers = await Promise.all(processes.map((p) => p.answer('model', 'b2', ask, lock)));
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(asks).toBe(1);
    expect(await redis.exists(`${prefix}:input-check:model:b2:lock`)).toBe(0);
  });

  it('gives up with the caller-chosen error when the holder takes longer than the lock', async () => {
    // Another process holds the lock of this image and has not answered.
    await redis.set(`${prefix}:input-check:clothes:c3:lock`, 'other', 'PX', 5_000);
    const lock = { lockMs: 200, tooLong: () => new Error('too long') };
    let asks = 0;
    const ask = () => {
      asks++;
      return Promise.resolve({ is_good: true });
    };
    await expect(
      new InputCheckFlights(redis, prefix).answer('clothes', 'c3', ask, lock),
    ).rejects.toThrow('too long');
    expect(asks).toBe(0);
  });
});
