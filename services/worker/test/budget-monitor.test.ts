import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '@tryon/logger';
import { redisConnection } from '@tryon/queues';
import { RateLimiter } from '@tryon/rate-limiter';
import { Admission } from '@tryon/scheduling';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { BudgetMonitor } from '../src/budget-monitor.js';

const redis = redisConnection(testRedisUrl());
const prefix = uniqueId('budget-monitor');
const logger = createLogger({ service: 'test', level: 'silent' });
const WINDOW_MS = 2_000;
const limiter = new RateLimiter({
  redis,
  prefix,
  limit: 10,
  windowMs: WINDOW_MS,
  requestTimeoutMs: 1_000,
});
const admission = new Admission(redis, prefix);
const monitor = new BudgetMonitor(limiter, admission, ['key-a'], 60_000, logger);

afterAll(() => redis.disconnect());

describe('BudgetMonitor outlook', () => {
  it('counts the requests free now and those leaving the window within a horizon', async () => {
    for (let i = 0; i < 4; i++) await limiter.release(await limiter.acquire('key-a'));
    await monitor.refresh();
    const outlook = monitor.outlook('key-a');
    expect(outlook.itemsWaiting).toBe(false);
    expect(outlook.limit).toBe(10);
    // 6 free now; the 4 answered requests leave one window after their answers.
    expect(outlook.requestsWithin(0)).toBe(6);
    expect(outlook.requestsWithin(WINDOW_MS / 2)).toBe(6);
    expect(outlook.requestsWithin(WINDOW_MS + 500)).toBe(10);
  });

  it('reads an unknown key, and any key while items wait in line, as saturated', async () => {
    expect(monitor.outlook('key-b').itemsWaiting).toBe(true);
    await admission.park({ id: 'item-1', batchId: 'batch-1', tenantId: 'acme', priority: 0 });
    await monitor.refresh();
    expect(monitor.outlook('key-a').itemsWaiting).toBe(true);
  });
});
