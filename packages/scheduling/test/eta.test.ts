import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import {
  Admission,
  batchEta,
  DurationDistribution,
  itemsAhead,
  normalQuantile,
  QUANTILE_POINTS,
  tailMs,
  REQUESTS_PER_TASK,
  throughputPerMs,
  type EtaInput,
} from '../src/index.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

/** One key, 60 per minute, normal tasks of 9 s, admission room to spare. */
const base: EtaInput = {
  left: 300,
  ahead: 0,
  keys: 1,
  rateLimit: 60,
  rateWindowMs: 60_000,
  requestsPerTask: REQUESTS_PER_TASK,
  taskMs: 9_000,
  concurrency: 8,
  now: NOW,
};

const seconds = (input: Partial<EtaInput>) => batchEta({ ...base, ...input })!.seconds;

describe('batchEta', () => {
  it('is items over the budget (30 tasks a minute per key); the tail within it', () => {
    // 300 tasks at 0.5 per second: 600 s. The line closes in rounds of a window, so the last
    // task (9 s, within a window) was created a window before the last request.
    expect(batchEta(base)).toEqual({
      seconds: 600,
      at: new Date(NOW + 600_000).toISOString(),
    });
  });

  it('more keys: shorter', () => {
    expect(seconds({ keys: 3, concurrency: 24 })).toBeLessThan(seconds({ keys: 1 }));
    expect(seconds({ keys: 3, concurrency: 24 })).toBe(200);
  });

  it('HD tasks: longer', () => {
    expect(seconds({ taskMs: 30_000 })).toBeGreaterThan(seconds({ taskMs: 9_000 }));
  });

  it('work queued ahead: longer', () => {
    expect(seconds({ ahead: 600 })).toBe(1800);
  });

  it('too little concurrency bounds the rate below the budget', () => {
    // 2 tasks in flight of 9 s each: 2/9 per second, under the budget's 1/2.
    expect(throughputPerMs({ ...base, concurrency: 2 })).toBeCloseTo(2 / 9_000);
    // Ten rounds of two 9 s tasks; the last round is the tail.
    expect(seconds({ left: 20, concurrency: 2 })).toBe(90);
  });

  it('spends the requests free in the window at once: a small batch on a fresh key takes its longest task', () => {
    // 12 items, 24 requests, 60 free: no wait for the budget, only the tail.
    expect(seconds({ left: 12, concurrency: 12, freeRequests: 60 })).toBe(9);
    // 120 items: (240 - 60) requests at one a second (DESIGN.md's lower bound).
    expect(seconds({ left: 120, freeRequests: 60 })).toBe(180);
    // 31 items: two requests past the free window, and the longest task after the create.
    expect(seconds({ left: 31, concurrency: 31, freeRequests: 60 })).toBe(9);
  });

  it('ends with the longest of the last wave, from the learned distribution', () => {
    // Log-normal, median 9 s, sigma 0.6: the largest of 12 is about its 92nd percentile.
    const taskQuantilesMs = Array.from({ length: QUANTILE_POINTS }, (_, i) => {
      const q = Math.min(0.9995, Math.max(0.0005, i / (QUANTILE_POINTS - 1)));
      return 9_000 * Math.exp(0.6 * normalQuantile(q));
    });
    const longest = new DurationDistribution(taskQuantilesMs).quantile(1 - 1 / 13);
    expect(tailMs({ taskMs: 10_770, taskQuantilesMs, rateWindowMs: 60_000 }, 12)).toBe(longest);
    expect(seconds({ left: 12, concurrency: 12, freeRequests: 60, taskQuantilesMs })).toBe(
      Math.ceil(longest / 1000),
    );
    // One item: its median.
    expect(tailMs({ taskMs: 10_770, taskQuantilesMs, rateWindowMs: 60_000 }, 1)).toBeCloseTo(
      9_000,
      -1,
    );
    // A batch the budget paces: its line closes in rounds of a window, which hide the tail ...
    expect(seconds({ left: 300, concurrency: 40, taskQuantilesMs })).toBe(600);
    // ... unless most tasks outlive a window (median 45 s, p90 97 s): then its last wave is
    // created on a saturated key and first polled a window later (the longest seen is longer).
    const slow = taskQuantilesMs.map((ms) => 5 * ms);
    expect(seconds({ left: 300, concurrency: 40, taskQuantilesMs: slow })).toBe(660);
  });

  it('a paused key delays it by the pause', () => {
    expect(seconds({ delayMs: 60_000 })).toBe(660);
  });

  it('nothing left: null; no key: null', () => {
    expect(batchEta({ ...base, left: 0, ahead: 50 })).toBeNull();
    expect(batchEta({ ...base, keys: 0 })).toBeNull();
  });
});

describe('itemsAhead', () => {
  const ours = { id: 'b-ours', tenantId: 't1', priority: 0 };

  it('another tenant shares round-robin: at most as many as ours go first', () => {
    const line = [
      { tenantId: 't2', batchId: 'big', priority: 0, waiting: 10_000 },
      { tenantId: 't3', batchId: 'small', priority: 0, waiting: 4 },
      { tenantId: 't1', batchId: 'b-ours', priority: 0, waiting: 10 },
    ];
    expect(itemsAhead(line, ours)).toBe(10 + 4);
  });

  it('within the tenant: higher priority entirely, equal round-robin, lower not at all', () => {
    const mine = { ...ours, priority: 2 };
    const line = [
      { tenantId: 't1', batchId: 'urgent', priority: 5, waiting: 30 },
      { tenantId: 't1', batchId: 'peer', priority: 2, waiting: 100 },
      { tenantId: 't1', batchId: 'later', priority: 2, waiting: 3 },
      { tenantId: 't1', batchId: 'low', priority: 0, waiting: 50 },
      { tenantId: 't1', batchId: 'b-ours', priority: 2, waiting: 10 },
      // Our tenant needs 30 + 10 + 3 + 10 = 53 rounds: the other tenant fills 53 of them.
      { tenantId: 't2', batchId: 'other', priority: 0, waiting: 1_000 },
    ];
    expect(itemsAhead(line, mine, 7)).toBe(7 + 30 + 10 + 3 + 53);
  });

  it('all of ours admitted: nothing waits in front of it', () => {
    const line = [{ tenantId: 't2', batchId: 'big', priority: 0, waiting: 500 }];
    expect(itemsAhead(line, ours, 9)).toBe(0);
  });
});

describe('Admission.depths', () => {
  const redis = new Redis(testRedisUrl());
  afterAll(() => redis.disconnect());

  it('reads every waiting batch with its tenant and priority, and the admitted count', async () => {
    const admission = new Admission(redis, uniqueId('eta'));
    await admission.parkMany({ id: 'b1', tenantId: 't1', priority: 3 }, ['i1', 'i2', 'i3']);
    await admission.parkMany({ id: 'b2', tenantId: 't2', priority: 0 }, ['i4']);
    const { line, admitted } = await admission.depths();
    expect(line.sort((a, b) => a.batchId.localeCompare(b.batchId))).toEqual([
      { tenantId: 't1', batchId: 'b1', priority: 3, waiting: 3 },
      { tenantId: 't2', batchId: 'b2', priority: 0, waiting: 1 },
    ]);
    expect(admitted).toBe(0);
  });
});
