import { describe, expect, it } from 'vitest';
import { TRYON_BACKOFF_TYPE, TRYON_JOB_OPTIONS, tryonJob, tryonRetryDelay } from '../src/index.js';

describe('try-on retry backoff', () => {
  it('doubles from the base: 2 s by default, about 35 minutes over the 10 retries', () => {
    expect([1, 2, 3, 4].map((n) => tryonRetryDelay(2_000, n))).toEqual([
      2_000, 4_000, 8_000, 16_000,
    ]);
    const retries = (TRYON_JOB_OPTIONS.attempts ?? 1) - 1;
    const total = Array.from({ length: retries }, (_, i) => tryonRetryDelay(2_000, i + 1)).reduce(
      (a, b) => a + b,
    );
    expect(total / 60_000).toBeCloseTo(34.1, 1);
    expect(tryonRetryDelay(50, 1)).toBe(50);
  });

  it("queues jobs with the worker's backoff type, so the worker's setting applies", () => {
    const job = tryonJob({ id: 'itm_1', batch_id: 'bat_1', tenant_id: 'acme', run: 2 });
    expect(job.opts.backoff).toEqual({ type: TRYON_BACKOFF_TYPE });
    expect(job.opts.jobId).toBe('itm_1.2');
  });
});
