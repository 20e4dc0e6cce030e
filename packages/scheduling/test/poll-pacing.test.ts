import { describe, expect, it } from 'vitest';
import {
  defaultPollPolicy,
  distributionOf,
  expectedPollsPerTask,
  firstPollDelayMs,
  nextPollDelayMs,
  pollPressure,
  type KeyOutlook,
} from '../src/index.js';
import { bimodal, lognormal, waiting } from './estimates.js';

// FitRoom milliseconds at time scale 1: poll interval 2 s, 60 requests a minute (one per second).
const policy = defaultPollPolicy(2_000, 1_000);

const outlook = (tasksInFlight: number, free: number, itemsWaiting = false): KeyOutlook => ({
  itemsWaiting,
  tasksInFlight,
  limit: 60,
  requestsWithin: () => free,
});

describe('expected polls per task', () => {
  it('fall from idle to saturated, to about one', () => {
    const polls = [0, 0.25, 0.5, 0.75, 1].map((p) => expectedPollsPerTask(policy, lognormal, p));
    expect(polls).toEqual([...polls].sort((a, b) => b - a));
    expect(polls[0]).toBeGreaterThan(5);
    expect(polls.at(-1)).toBeLessThan(1.3);
  });
});

describe('poll pressure', () => {
  it('is saturated while items wait in line, however free the window', () => {
    expect(pollPressure(policy, lognormal, outlook(1, 60, true))).toBe(1);
  });

  it('is idle for one task when its own earlier polls leave the window in time', () => {
    // A window full of the task's polls, 40 of which age out within the task's life.
    expect(pollPressure(policy, lognormal, outlook(1, 40))).toBe(0);
  });

  it('shares a free window out among a burst: the polls it plans fit in what is free', () => {
    for (const [tasks, free] of [
      [12, 48],
      [12, 24],
      [30, 45],
    ] as const) {
      const p = pollPressure(policy, lognormal, outlook(tasks, free));
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThan(1);
      // Within what linear steps of a tenth between tabulated pressures allow.
      expect(tasks * expectedPollsPerTask(policy, lognormal, p)).toBeLessThanOrEqual(free * 1.1);
    }
  });

  it('leaves a few requests of a free window to the tasks that will outlive the p99', () => {
    for (const [tasks, free] of [
      [12, 48],
      [6, 30],
    ] as const) {
      const p = pollPressure(policy, lognormal, outlook(tasks, free));
      const planned = tasks * expectedPollsPerTask(policy, lognormal, p);
      expect(planned).toBeLessThanOrEqual(0.9 * free - 6 + 0.1 * tasks);
    }
    // What is left once the reserve is out is not shared: one poll, at the p99.
    expect(pollPressure(policy, lognormal, outlook(1, 7))).toBe(1);
  });

  it('rises as the free requests fall, and is saturated when they cannot poll each task once', () => {
    const pressures = [60, 48, 36, 24, 12].map((free) =>
      pollPressure(policy, lognormal, outlook(12, free)),
    );
    expect(pressures).toEqual([...pressures].sort((a, b) => a - b));
    expect(pollPressure(policy, lognormal, outlook(12, 10))).toBe(1);
  });

  it('is higher for a task deep in the tail: more polls left, fewer requests freed in its life', () => {
    // Bimodal: most tasks 8-10 s, one in ten 45 s. Two slow ones left, 20 requests free.
    const fresh = pollPressure(policy, bimodal, outlook(2, 20), 0);
    const slow = pollPressure(policy, bimodal, outlook(2, 20), 15_000);
    expect(slow).toBeGreaterThan(fresh);
    expect(2 * expectedPollsPerTask(policy, bimodal, slow, 15_000)).toBeLessThanOrEqual(20 * 1.1);
    // At its idle gaps the slow task alone would spend the whole window before it ends.
    expect(expectedPollsPerTask(policy, bimodal, 0, 15_000)).toBeGreaterThan(20);
  });

  it('spreads what is free over an overdue task: half its age again, at most once a gap', () => {
    const p99 = distributionOf(lognormal).quantile(0.99);
    const elapsed = p99 + 10_000;
    const horizon = elapsed / 2;
    // Half its age again at the shortest idle gap (1 s) fits: idle.
    expect(pollPressure(policy, lognormal, outlook(1, 60), elapsed)).toBe(0);
    // Nothing free, or less than one poll's share: one poll after half its age.
    expect(pollPressure(policy, lognormal, outlook(1, 0), elapsed)).toBe(1);
    expect(pollPressure(policy, lognormal, outlook(2, 2), elapsed)).toBe(1);
    // In between, its share (a tenth held back) at even gaps over the horizon.
    for (const [tasks, free] of [
      [1, 10],
      [1, 4],
      [3, 20],
    ] as const) {
      const p = pollPressure(policy, lognormal, outlook(tasks, free), elapsed);
      const gap = nextPollDelayMs(policy, lognormal, waiting(elapsed), p);
      expect(horizon / gap).toBeCloseTo((0.9 * free) / tasks, 1);
    }
  });

  it('never leaves an overdue task without a request before the window gives one back', () => {
    // A small batch's last task outlives the learned p99 with 6 requests left in the window,
    // and none comes back for 40 s: each poll spreads what is left, so it is polled at least
    // once per half its age until then, and still has a request when they come back.
    const p99 = distributionOf(lognormal).quantile(0.99);
    let elapsed = p99;
    let free = 6;
    const refillAt = p99 + 40_000;
    while (elapsed < refillAt) {
      expect(free).toBeGreaterThan(0);
      const p = pollPressure(policy, lognormal, outlook(1, free), elapsed);
      const gap = nextPollDelayMs(policy, lognormal, waiting(elapsed), p);
      expect(gap).toBeLessThanOrEqual(Math.max(1_000, Math.ceil(elapsed / 2)));
      elapsed += gap;
      free -= 1;
    }
  });

  it('looks as far ahead as what is left of the task: its conditional high quantile', () => {
    const horizons: number[] = [];
    pollPressure(policy, lognormal, {
      itemsWaiting: false,
      tasksInFlight: 1,
      limit: 60,
      requestsWithin: (horizonMs) => {
        horizons.push(horizonMs);
        return 60;
      },
    });
    const dist = distributionOf(lognormal);
    expect(horizons).toEqual([dist.quantile(policy.highQuantile)]);
    horizons.length = 0;
    pollPressure(
      policy,
      lognormal,
      {
        itemsWaiting: false,
        tasksInFlight: 1,
        limit: 60,
        requestsWithin: (h) => (horizons.push(h), 60),
      },
      20_000,
    );
    expect(horizons).toEqual([dist.conditionalQuantile(policy.highQuantile, 20_000) - 20_000]);
  });
});

describe('the refill floor', () => {
  it('keeps a lone task from polling more often than its key gives a request back', () => {
    let at = firstPollDelayMs(policy, lognormal, 0);
    for (let polls = 0; polls < 100; polls++) {
      const gap = nextPollDelayMs(
        policy,
        lognormal,
        { status: 'CREATED', progress: 0, elapsedMs: at },
        0,
      );
      expect(gap).toBeGreaterThanOrEqual(1_000);
      at += gap;
    }
  });
});
