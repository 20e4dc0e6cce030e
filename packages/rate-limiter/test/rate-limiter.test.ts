import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import {
  BudgetPausedError,
  KEY_REFUSED_PAUSE_MS,
  RateLimiter,
  budgetKeyFor,
  type RateLimiterOptions,
  type Token,
} from '../src/index.js';

const connections: Redis[] = [];
function connect(): Redis {
  const redis = new Redis(testRedisUrl());
  connections.push(redis);
  return redis;
}

let prefix: string;
beforeAll(() => {
  prefix = uniqueId('rl');
});
afterAll(() => {
  for (const redis of connections) redis.disconnect();
});

function limiter(
  overrides: Partial<
    Pick<
      RateLimiterOptions,
      | 'limit'
      | 'windowMs'
      | 'requestTimeoutMs'
      | 'maxWaitStepMs'
      | 'pauseIgnored'
      | 'logger'
      | 'monotonicNow'
    >
  > = {},
) {
  return new RateLimiter({
    redis: connect(),
    prefix,
    limit: 5,
    windowMs: 300,
    requestTimeoutMs: 5_000,
    maxWaitStepMs: 20,
    ...overrides,
  });
}

/** The most events inside any half-open window [t, t + windowMs). */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= windowMs) start++;
    max = Math.max(max, end - start + 1);
  }
  return max;
}

describe('RateLimiter', () => {
  it('grants exactly the limit, then refuses while every slot is unanswered', async () => {
    const budget = limiter({ limit: 5 });
    const key = uniqueId('k');
    const grants = await Promise.all(Array.from({ length: 7 }, () => budget.tryAcquire(key)));
    expect(grants.filter((g) => g.token).length).toBe(5);
    const refused = await budget.tryAcquire(key);
    expect(refused.token).toBeNull();
    // Unanswered slots are held for window + request timeout, not just one window.
    expect(refused.token === null && refused.waitMs).toBeGreaterThan(300);
  });

  it('frees a slot one window after the answer arrived, not after the token was taken', async () => {
    const budget = limiter({ limit: 1, windowMs: 300 });
    const key = uniqueId('k');
    const first = await budget.tryAcquire(key);
    if (!first.token) throw new Error('first token refused');
    await sleep(150); // the request is in flight for 150 ms
    await budget.release(first.token);
    const refused = await budget.tryAcquire(key);
    expect(refused.token).toBeNull();
    if (refused.token) return;
    // It would free ~150 ms from now if counted from the take; counted from the answer it is ~300.
    expect(refused.waitMs).toBeGreaterThan(250);
    expect(refused.waitMs).toBeLessThanOrEqual(300);
    await sleep(refused.waitMs + 5);
    expect((await budget.tryAcquire(key)).token).not.toBeNull();
  });

  it('frees a slot whose answer never came after window + request timeout', async () => {
    const budget = limiter({ limit: 1, windowMs: 100, requestTimeoutMs: 200 });
    const key = uniqueId('k');
    expect((await budget.tryAcquire(key)).token).not.toBeNull();
    const refused = await budget.tryAcquire(key);
    expect(refused.token === null && refused.waitMs).toBeGreaterThan(200);
    await sleep(310);
    expect((await budget.tryAcquire(key)).token).not.toBeNull();
  });

  it('restarts a hold at send time, only ever longer, and refuses a lapsed slot in a full window', async () => {
    const budget = limiter({ limit: 1, windowMs: 100, requestTimeoutMs: 200 });
    const key = uniqueId('k');
    const first = await budget.tryAcquire(key);
    if (!first.token) throw new Error('first token refused');
    await sleep(150); // waited at the gate; sent now
    expect(await budget.holdFromNow(first.token)).toBe(true);
    const refused = await budget.tryAcquire(key);
    // Held until ~300 ms from the send, not ~150 ms from now as counted from the take.
    expect(refused.token === null && refused.waitMs).toBeGreaterThan(250);
    // Lapsed while waiting, and someone else took the slot: this token must not be sent.
    await sleep(320);
    const other = await budget.tryAcquire(key);
    expect(other.token).not.toBeNull();
    expect(await budget.holdFromNow(first.token)).toBe(false);
  });

  it('takes a lapsed slot again when the window has room', async () => {
    const budget = limiter({ limit: 2, windowMs: 50, requestTimeoutMs: 50 });
    const key = uniqueId('k');
    const first = await budget.tryAcquire(key);
    if (!first.token) throw new Error('first token refused');
    await sleep(120);
    expect(await budget.holdFromNow(first.token)).toBe(true);
    expect((await budget.usage(key)).inFlight).toBe(1);
  });

  it('moves every slot later when the Redis clock steps forward, once for all processes', async () => {
    // Each "process" reads its own monotonic clock; setting it back 5 s is, to the limiter, Redis's
    // wall clock stepping 5 s forward (as NTP or a resumed VM does): without the move, every
    // slot would free 5 s early while FitRoom still counts its request.
    let lag = 0;
    const monotonicNow = () => performance.now() - lag;
    const steps: number[] = [];
    const logger = {
      warn: (details: object) => steps.push((details as { movedMs: number }).movedMs),
    };
    const [one, other] = [1, 2].map(() =>
      limiter({ limit: 2, windowMs: 1_000, monotonicNow, logger }),
    );
    const key = uniqueId('k');
    for (const budget of [one!, other!]) {
      const attempt = await budget.tryAcquire(key);
      if (!attempt.token) throw new Error('token refused');
      await budget.release(attempt.token);
    }
    const before = await one!.tryAcquire(key);
    expect(before.token === null && before.waitMs).toBeLessThanOrEqual(1_000);
    lag = 5_000;
    const after = await one!.tryAcquire(key);
    expect(after.token === null && after.waitMs).toBeGreaterThan(5_000);
    expect(steps).toHaveLength(1);
    expect(steps[0]).toBeGreaterThanOrEqual(5_000 - 250);
    // The other process sees the same step: the slots are not moved twice.
    const seenByOther = await other!.tryAcquire(key);
    expect(seenByOther.token === null && seenByOther.waitMs).toBeLessThanOrEqual(6_000);
    expect(steps).toHaveLength(1);
    // Learned: the next answers agree with the stepped clock.
    await one!.tryAcquire(key);
    expect(steps).toHaveLength(1);
  });

  it('never lets more than the limit start in any rolling window across processes', async () => {
    const windowMs = 200;
    const limit = 6;
    const key = uniqueId('k');
    // Four "processes", each with its own Redis connection and eight concurrent callers.
    const processes = Array.from({ length: 4 }, () => limiter({ limit, windowMs }));
    const arrivals: number[] = [];
    const deadline = Date.now() + 1_200;
    let granted = 0;
    await Promise.all(
      processes.flatMap((budget) =>
        Array.from({ length: 8 }, async () => {
          while (Date.now() < deadline) {
            const token: Token = await budget.acquire(key);
            granted++;
            // The server counts the request at some moment between our take and its answer.
            await sleep(Math.random() * 15);
            arrivals.push(Date.now());
            await sleep(Math.random() * 15);
            await budget.release(token);
          }
        }),
      ),
    );
    expect(maxInWindow(arrivals, windowMs)).toBeLessThanOrEqual(limit);
    // The budget is used, not starved: well over one window's worth went through.
    expect(granted).toBeGreaterThan(limit * 2);
  });

  it('keeps budget keys independent', async () => {
    const budget = limiter({ limit: 1 });
    const a = uniqueId('a');
    const b = uniqueId('b');
    expect((await budget.tryAcquire(a)).token).not.toBeNull();
    expect((await budget.tryAcquire(b)).token).not.toBeNull();
    expect((await budget.tryAcquire(a)).token).toBeNull();
  });

  it('pauses a key with a reason, never shortens a pause, and resumes', async () => {
    const budget = limiter();
    const key = uniqueId('k');
    await budget.pause(key, 5_000, 'insufficient_credit');
    await budget.pause(key, 10, 'rate_limited');
    const attempt = await budget.tryAcquire(key);
    expect(attempt.token === null && attempt.paused).toBe(true);
    const usage = await budget.usage(key);
    expect(usage.pausedReason).toBe('insufficient_credit');
    expect(usage.pausedMs).toBeGreaterThan(4_000);
    await expect(budget.acquire(key)).rejects.toBeInstanceOf(BudgetPausedError);
    await budget.resume(key);
    expect((await budget.tryAcquire(key)).token).not.toBeNull();
    expect((await budget.usage(key)).pausedReason).toBeNull();
  });

  it('lets a limiter with pauseIgnored through a pause for that reason only, within the same slots', async () => {
    const budget = limiter({ limit: 2 });
    const checks = limiter({ limit: 2, pauseIgnored: 'insufficient_credit' });
    const key = uniqueId('k');
    await budget.pause(key, 5_000, 'insufficient_credit');
    expect((await budget.tryAcquire(key)).token).toBeNull();
    expect((await checks.tryAcquire(key)).token).not.toBeNull();
    expect((await checks.tryAcquire(key)).token).not.toBeNull();
    // The slots are the key's: the third waits for one to free, not for the pause.
    const full = await checks.tryAcquire(key);
    expect(full.token === null && !full.paused).toBe(true);
    const other = uniqueId('k');
    await budget.pause(other, 5_000, 'rate_limited');
    const refused = await checks.tryAcquire(other);
    expect(refused.token === null && refused.paused).toBe(true);
  });

  it('rests a refused key as FitRoom asks: Retry-After or a tenth of a window, 10 min for 401/402', async () => {
    const budget = limiter({ windowMs: 300 });
    const pausedFor = (code: string, retryAfterMs?: number) =>
      budget.pauseAfterRefusal(uniqueId('k'), code, retryAfterMs);
    expect(await pausedFor('rate_limited', 1_500)).toBe(1_500);
    expect(await pausedFor('rate_limited')).toBe(30);
    expect(await pausedFor('unauthorized')).toBe(KEY_REFUSED_PAUSE_MS);
    expect(await pausedFor('insufficient_credit')).toBe(KEY_REFUSED_PAUSE_MS);
    expect(await pausedFor('server_error')).toBe(0);
    const key = uniqueId('k');
    await budget.pauseAfterRefusal(key, 'insufficient_credit', undefined);
    expect(await budget.usage(key)).toMatchObject({ pausedReason: 'insufficient_credit' });
  });

  it('a refusal of a request sent before a resume pauses nothing; one sent after it pauses again', async () => {
    const budget = limiter();
    const key = uniqueId('k');
    const sentBeforeResume = Date.now();
    await budget.pauseAfterRefusal(key, 'insufficient_credit', undefined, sentBeforeResume);
    await sleep(20);
    await budget.resume(key);
    // The refused request's answer is handled only now, after the operator's resume.
    expect(
      await budget.pauseAfterRefusal(key, 'insufficient_credit', undefined, sentBeforeResume),
    ).toBe(0);
    expect(await budget.usage(key)).toMatchObject({ pausedMs: 0, pausedReason: null });
    await sleep(20);
    const sentAfterResume = Date.now();
    expect(
      await budget.pauseAfterRefusal(key, 'insufficient_credit', undefined, sentAfterResume),
    ).toBe(KEY_REFUSED_PAUSE_MS);
    expect(await budget.usage(key)).toMatchObject({ pausedReason: 'insufficient_credit' });
  });

  it('Retry-After: 0 or a past date still rests the key for one request share of the window', async () => {
    const budget = limiter({ limit: 60, windowMs: 60_000 });
    const key = uniqueId('k');
    expect(await budget.pauseAfterRefusal(key, 'rate_limited', 0)).toBe(1_000);
    expect((await budget.usage(key)).pausedMs).toBeGreaterThan(0);
    await expect(budget.acquire(key)).rejects.toBeInstanceOf(BudgetPausedError);
  });

  it('reports slots in use and in flight', async () => {
    const budget = limiter({ limit: 5 });
    const key = uniqueId('k');
    const t1 = await budget.acquire(key);
    await budget.acquire(key);
    await budget.release(t1);
    const usage = await budget.usage(key);
    expect([usage.inUse, usage.inFlight, usage.limit]).toEqual([2, 1, 5]);
  });

  /**
   * A key of 3 slots, all answered just now (they free in 300 ms), whose waiters stay listed
   * for 4 x 200 ms + 20: longer than the wait for the window.
   */
  async function spentKey() {
    const budget = limiter({ limit: 3, windowMs: 300, maxWaitStepMs: 200 });
    const key = uniqueId('k');
    const taken = await Promise.all([1, 2, 3].map(() => budget.acquire(key)));
    await Promise.all(taken.map((token) => budget.release(token)));
    return { budget, key };
  }

  it('serves waiting polls before creates when slots free while the key is put polls first', async () => {
    const { budget, key } = await spentKey();
    await budget.putFirst(key, 'poll', 5_000);
    const pollA = await budget.tryAcquire(key, { id: 'poll-a', kind: 'poll' });
    const pollB = await budget.tryAcquire(key, { id: 'poll-b', kind: 'poll' });
    expect([pollA.token, pollB.token]).toEqual([null, null]);
    await sleep(320); // the three slots have freed
    const creates = await Promise.all([1, 2, 3].map(() => budget.tryAcquire(key)));
    expect(creates.filter((attempt) => attempt.token)).toHaveLength(1);
    expect((await budget.tryAcquire(key, { id: 'poll-a', kind: 'poll' })).token).not.toBeNull();
    expect((await budget.tryAcquire(key, { id: 'poll-b', kind: 'poll' })).token).not.toBeNull();
    expect((await budget.tryAcquire(key)).token).toBeNull();
  });

  it('serves waiting creates before polls while the key is put creates first, whoever asks first without an order', async () => {
    const { budget, key } = await spentKey();
    await budget.putFirst(key, 'other', 5_000);
    const createA = { id: 'create-a', kind: 'other' } as const;
    const createB = { id: 'create-b', kind: 'other' } as const;
    expect((await budget.tryAcquire(key, createA)).token).toBeNull();
    expect((await budget.tryAcquire(key, createB)).token).toBeNull();
    await sleep(320); // the three slots have freed
    const polls = await Promise.all(
      ['p1', 'p2', 'p3'].map((id) => budget.tryAcquire(key, { id, kind: 'poll' })),
    );
    expect(polls.filter((attempt) => attempt.token)).toHaveLength(1);
    expect((await budget.tryAcquire(key, createA)).token).not.toBeNull();
    expect((await budget.tryAcquire(key, createB)).token).not.toBeNull();

    // No order: a waiting poll does not hold a create back.
    const other = uniqueId('k');
    const one = limiter({ limit: 1, windowMs: 300, maxWaitStepMs: 200 });
    await one.release(await one.acquire(other));
    await one.putFirst(other, 'poll', 5_000);
    await one.putFirst(other, null);
    expect((await one.tryAcquire(other, { id: 'p4', kind: 'poll' })).token).toBeNull();
    await sleep(320);
    expect((await one.tryAcquire(other)).token).not.toBeNull();
  });

  it('holds creates back for a poll that stopped waiting only until its listing lapses', async () => {
    const budget = limiter({ limit: 1, windowMs: 100, maxWaitStepMs: 200 });
    const key = uniqueId('k');
    await budget.putFirst(key, 'poll', 5_000);
    await budget.release(await budget.acquire(key));
    await expect(budget.acquire(key, AbortSignal.timeout(40), { kind: 'poll' })).rejects.toThrow(
      /aborted/,
    );
    await sleep(120); // the slot has freed, the listing (4 x 200 ms + 20) has not lapsed
    expect((await budget.tryAcquire(key)).token).toBeNull();
    const started = Date.now();
    await budget.acquire(key);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('stops waiting when the signal aborts', async () => {
    const budget = limiter({ limit: 1 });
    const key = uniqueId('k');
    await budget.acquire(key);
    await expect(budget.acquire(key, AbortSignal.timeout(50))).rejects.toThrow(/aborted/);
  });

  it('names keys without revealing them', () => {
    const name = budgetKeyFor('secret-api-key-123');
    expect(name).toMatch(/^key-[0-9a-f]{12}$/);
    expect(name).not.toContain('secret');
    expect(budgetKeyFor('secret-api-key-123')).toBe(name);
  });
});
