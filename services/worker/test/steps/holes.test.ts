import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BudgetPausedError } from '@tryon/rate-limiter';
import { pollStep, TASK_VISIBILITY_GRACE_MS } from '../../src/steps/poll.js';
import { prepareStep } from '../../src/steps/prepare.js';
import { startStepHarness, type StepHarness } from './harness.js';

let h: StepHarness;
beforeAll(async () => {
  h = await startStepHarness('holes', { keys: 2 });
});
afterAll(() => h?.close());

const CHECK_MODEL = 'POST /api/tryon/input_check/v1/model';

/** Model checks the simulator answered, per API key (in the pool's order). */
function modelChecks(): number[] {
  const stats = h.sim.stats().keys;
  return h.config.fitroom.apiKeys.map((k) => {
    const byStatus = stats[k]?.requests[CHECK_MODEL] ?? {};
    return Object.values(byStatus).reduce((sum, n) => sum + n, 0);
  });
}

describe('a 404 right after create', () => {
  it('is a task not visible yet: polled again, not FAILED', async () => {
    const { item, data } = await h.newItem();
    const budgetKey = h.env.deps.pool.keys[0]!.budgetKey;
    const justCreated = {
      ...data,
      step: 'poll' as const,
      budgetKey,
      taskId: 'not-visible-yet',
      taskCreatedAt: Date.now(),
    };
    const outcome = await pollStep(h.env, h.runFor(item, justCreated));
    if (!('delayMs' in outcome))
      throw new Error(`expected a later poll, got ${JSON.stringify(outcome)}`);
    expect(outcome.data).toEqual({ ...justCreated, polls: 1 });

    // Past the grace it is lost: FAILED, and re-created.
    const longAgo = { ...justCreated, taskCreatedAt: Date.now() - TASK_VISIBILITY_GRACE_MS - 1 };
    const lost = await pollStep(h.env, h.runFor(item, longAgo));
    expect(lost).toMatchObject({ next: { step: 'create', failedTasks: 1, taskId: undefined } });
  });
});

describe('an input check before admission', () => {
  it('uses a key that is not paused', async () => {
    const [first, second] = h.env.deps.pool.keys;
    const { item, data } = await h.newItem({ inputChecks: true });
    await h.env.deps.pool.limiter.pause(first!.budgetKey, 60_000, 'rate_limited');
    try {
      const before = modelChecks();
      const run = h.runFor(item, data);
      const outcome = await prepareStep(h.env, run).catch((error: unknown) => error);
      expect(outcome).not.toBeInstanceOf(BudgetPausedError);
      expect(run.budgetKey).toBe(second!.budgetKey);
      expect(modelChecks()).toEqual([before[0], before[1]! + 1]);
    } finally {
      await h.env.deps.pool.limiter.resume(first!.budgetKey);
    }
  });

  it('uses the key whose pause ends first when every key is paused', async () => {
    const [first, second] = h.env.deps.pool.keys;
    const { item, data } = await h.newItem({ inputChecks: true });
    await h.env.deps.pool.limiter.pause(first!.budgetKey, 60_000, 'rate_limited');
    await h.env.deps.pool.limiter.pause(second!.budgetKey, 5_000, 'rate_limited');
    try {
      const run = h.runFor(item, data);
      const error = await prepareStep(h.env, run).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BudgetPausedError);
      expect((error as BudgetPausedError).budgetKey).toBe(second!.budgetKey);
      expect((error as BudgetPausedError).retryInMs).toBeLessThanOrEqual(5_000);
    } finally {
      await h.env.deps.pool.limiter.resume(first!.budgetKey);
      await h.env.deps.pool.limiter.resume(second!.budgetKey);
    }
  });
});
