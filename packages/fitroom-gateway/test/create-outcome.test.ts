import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { RateLimiter } from '@tryon/rate-limiter';
import { Operations } from '@tryon/records';
import { freePort, makeImage, testRedisUrl, uniqueId } from '@tryon/testing';
import { FitRoomPool, createOutcomeOf, type CreateOutcome } from '../src/index.js';

const KEY = 'outcome-key';
const BROKE_KEY = 'outcome-broke-key';
const TIMEOUT_MS = 400;

let sim: RunningSim;
let redis: Redis;
let image: Buffer;

beforeAll(async () => {
  sim = await startSim({ timeScale: 50, keys: { [KEY]: 1_000, [BROKE_KEY]: 0 }, seed: 5 });
  redis = new Redis(testRedisUrl());
  image = await makeImage({ width: 64, height: 96 });
});

afterAll(async () => {
  await sim?.close();
  redis?.disconnect();
});

const NO_FAULTS = {
  lateCreate: {},
  resetAfterCreate: {},
  errorAfterCreate: {},
  retryAfterZero: {},
};

beforeEach(() => {
  sim.configure({ faults: NO_FAULTS, serverErrorRate: 0, unavailableRate: 0 });
});

function pool(baseUrl: string, apiKey = KEY): FitRoomPool {
  const prefix = uniqueId('outcome');
  return new FitRoomPool({
    baseUrl,
    apiKeys: [apiKey],
    limiter: new RateLimiter({
      redis,
      prefix,
      limit: 60,
      windowMs: 60_000,
      requestTimeoutMs: 5_000,
    }),
    operations: new Operations(redis, prefix),
    timeoutMs: TIMEOUT_MS,
    downloadTimeoutMs: TIMEOUT_MS,
    createsInFlight: 2,
    logger: { warn: () => undefined },
  });
}

/** One create through the pool: what the ledger was told, and what FitRoom charged for it. */
async function createOnce(gateway: FitRoomPool, apiKey = KEY) {
  const charged = () => sim.stats().keys[apiKey]?.tasks_created ?? 0;
  const before = charged();
  const ledger: string[] = [];
  const input = {
    clothType: 'upper' as const,
    model: { data: image, contentType: 'image/jpeg' },
    cloth: { data: image, contentType: 'image/jpeg' },
  };
  const error = await gateway
    .createTask(gateway.keys[0]!, input, () => Promise.resolve(), {
      open: () => Promise.resolve(void ledger.push('open')),
      settle: (outcome: CreateOutcome) => Promise.resolve(void ledger.push(outcome)),
    })
    .then(
      () => null,
      (e: unknown) => e,
    );
  return {
    error,
    outcome: error ? createOutcomeOf(error) : 'spent',
    ledger,
    charged: charged() - before,
  };
}

describe('create outcomes', () => {
  it('an answered create is spent: one task, one credit', async () => {
    const result = await createOnce(pool(sim.url));
    expect(result).toMatchObject({ error: null, ledger: ['open', 'spent'], charged: 1 });
  });

  it('a create answered after the client timeout is possibly spent (FitRoom made the task)', async () => {
    sim.configure({ faults: { ...NO_FAULTS, lateCreate: { every: 1 }, lateCreateMs: 50_000 } });
    const result = await createOnce(pool(sim.url));
    expect(result.outcome).toBe('possibly_spent');
    expect(result.ledger).toEqual(['open', 'possibly_spent']);
    expect(result.charged).toBe(1);
  });

  it('a connection reset after the task was made is possibly spent', async () => {
    sim.configure({ faults: { ...NO_FAULTS, resetAfterCreate: { every: 1 } } });
    const result = await createOnce(pool(sim.url));
    expect(result).toMatchObject({ outcome: 'possibly_spent', charged: 1 });
    expect(result.ledger).toEqual(['open', 'possibly_spent']);
  });

  it('a 500 on create is possibly spent (the task may exist)', async () => {
    sim.configure({ faults: { ...NO_FAULTS, errorAfterCreate: { every: 1 } } });
    const result = await createOnce(pool(sim.url));
    expect(result).toMatchObject({ outcome: 'possibly_spent', charged: 1 });
    expect((result.error as { status?: number }).status).toBe(500);
  });

  it('a 503 (offline for maintenance) and a 402 are refused: answered, nothing spent', async () => {
    sim.configure({ unavailableRate: 1 });
    const unavailable = await createOnce(pool(sim.url));
    expect(unavailable).toMatchObject({ outcome: 'refused', charged: 0 });
    expect(unavailable.ledger).toEqual(['open', 'refused']);
    sim.configure({ unavailableRate: 0 });
    const broke = await createOnce(pool(sim.url, BROKE_KEY), BROKE_KEY);
    expect(broke).toMatchObject({ outcome: 'refused', charged: 0 });
  });

  it('a create that could not connect was never sent: safe to send again', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const result = await createOnce(pool(closed));
    expect(result.outcome).toBe('not_sent');
    expect(result.ledger).toEqual(['open', 'not_sent']);
  });

  it('a ledger that could not open stops the create before it is sent, and is not settled', async () => {
    const gateway = pool(sim.url);
    const charged = sim.stats().keys[KEY]!.tasks_created;
    const settled: string[] = [];
    const input = {
      clothType: 'upper' as const,
      model: { data: image, contentType: 'image/jpeg' },
      cloth: { data: image, contentType: 'image/jpeg' },
    };
    const failure = await gateway
      .createTask(gateway.keys[0]!, input, () => Promise.resolve(), {
        open: () => Promise.reject(new Error('redis down')),
        settle: (outcome) => Promise.resolve(void settled.push(outcome)),
      })
      .catch((e: unknown) => e);
    expect((failure as Error).message).toBe('redis down');
    expect(settled).toEqual([]);
    expect(sim.stats().keys[KEY]!.tasks_created).toBe(charged);
  });

  it('anything thrown before the request (budget, form) is not sent', () => {
    expect(createOutcomeOf(new Error('redis down'))).toBe('not_sent');
  });
});
