import { describe, expect, it } from 'vitest';
import {
  defaultPollPolicy,
  distributionOf,
  expectedPollsPerTask,
  firstPollDelayMs,
  nextPollDelayMs,
  type DurationEstimate,
} from '../src/index.js';
import { bimodal, bimodalSamples, lognormal, waiting } from './estimates.js';

// All in FitRoom milliseconds at time scale 1: poll interval 2 s.
const policy = defaultPollPolicy(2_000);
const SATURATED = 1;
const IDLE = 0;

/** The simulator's default: 9 s, no learned table yet (a normal of the configured mean). */
const tight: DurationEstimate = { meanMs: 9_000, sdMs: 500 };
const at = (progress: number, elapsedMs: number) => ({
  status: 'PROCESSING' as const,
  progress,
  elapsedMs,
});

/** Polls a task of duration `taskMs` gets under the planner at a fixed pressure. */
function pollsFor(estimate: DurationEstimate, taskMs: number, pressure: number): number {
  let t = firstPollDelayMs(policy, estimate, pressure);
  let polls = 1;
  while (t < taskMs && polls < 1_000) {
    t += nextPollDelayMs(policy, estimate, waiting(t), pressure);
    polls++;
  }
  return polls;
}

describe('first poll', () => {
  it('goes where every task seen so far was done while items wait in line', () => {
    // A tight distribution (normal, no table yet): its 99.9th percentile, 9 s + 3.09 sd.
    expect(firstPollDelayMs(policy, tight, SATURATED)).toBe(10_545);
    // Two modes: the end of the slow one, so that no task needs a second poll.
    expect(firstPollDelayMs(policy, bimodal, SATURATED)).toBe(45_000);
    // A long tail: its longest.
    const longest = distributionOf(lognormal).quantile(1);
    expect(firstPollDelayMs(policy, lognormal, SATURATED)).toBe(Math.round(longest));
    expect(expectedPollsPerTask(policy, lognormal, SATURATED)).toBeLessThan(1.01);
  });

  it('goes no later than a window after the create, whatever the longest task seen', () => {
    const oneWindow = defaultPollPolicy(2_000, 1_000, 30_000);
    const longest = distributionOf(lognormal).quantile(1);
    expect(longest).toBeGreaterThan(30_000);
    expect(firstPollDelayMs(oneWindow, lognormal, SATURATED)).toBe(30_000);
    expect(firstPollDelayMs(oneWindow, tight, SATURATED)).toBe(10_545);
  });

  it('trades polls against lag just below saturation: the end of the fast mode, a long tail past its p90', () => {
    const nearly = 0.95;
    expect(firstPollDelayMs(policy, bimodal, nearly)).toBe(10_000);
    const first = firstPollDelayMs(policy, lognormal, nearly);
    expect(first).toBeGreaterThan(18_000);
    expect(first).toBeLessThan(30_000);
  });

  it('goes early when the budget is idle: the earliest tasks end plus at most the longest idle gap', () => {
    expect(firstPollDelayMs(policy, tight, IDLE)).toBe(8_837);
    expect(firstPollDelayMs(policy, bimodal, IDLE)).toBe(8_000);
    const earliest = distributionOf(lognormal).quantile(0.01);
    expect(firstPollDelayMs(policy, lognormal, IDLE)).toBe(Math.round(earliest + 1_000));
  });

  it('moves later as the budget fills', () => {
    for (const estimate of [tight, bimodal, lognormal]) {
      const delays = [0, 0.6, 0.7, 0.8, 0.9, 1].map((u) => firstPollDelayMs(policy, estimate, u));
      expect(delays).toEqual([...delays].sort((a, b) => a - b));
    }
  });
});

describe('next poll', () => {
  it('is never planned past the high quantile (p99) of the duration', () => {
    for (const estimate of [tight, bimodal, lognormal]) {
      const p99 = distributionOf(estimate).quantile(0.99);
      for (const elapsed of [1_000, 5_000, 9_000, 10_500, 15_000, 30_000]) {
        if (elapsed + 2_000 >= p99) continue;
        for (const u of [0, 0.7, 1]) {
          const delay = nextPollDelayMs(policy, estimate, waiting(elapsed), u);
          expect(elapsed + delay).toBeLessThanOrEqual(Math.ceil(p99));
        }
      }
    }
  });

  it('polls a task that outlives the high quantile at the shortest gap while the key has room', () => {
    expect(nextPollDelayMs(policy, lognormal, waiting(60_000), IDLE)).toBe(250);
    expect(nextPollDelayMs(policy, tight, waiting(12_000), IDLE)).toBe(250);
  });

  it('widens the gaps of an overdue task with the pressure, up to half its age', () => {
    const gaps = [0, 0.25, 0.5, 0.75, 1].map((u) =>
      nextPollDelayMs(policy, lognormal, waiting(60_000), u),
    );
    expect(gaps).toEqual([...gaps].sort((a, b) => a - b));
    expect(gaps[0]).toBe(250);
    expect(gaps[2]).toBeGreaterThan(2_000);
    expect(gaps.at(-1)).toBe(30_000);
  });

  it('waits half its age again before polling an overdue task on a saturated key', () => {
    expect(nextPollDelayMs(policy, lognormal, waiting(60_000), SATURATED)).toBe(30_000);
    expect(nextPollDelayMs(policy, tight, waiting(12_000), SATURATED)).toBe(6_000);
  });

  it('spends a handful of polls, not one per interval, on a task that hangs until its timeout', () => {
    const timeoutMs = 600_000;
    let elapsed = distributionOf(lognormal).quantile(0.99);
    let polls = 0;
    while (elapsed <= timeoutMs) {
      // Stalled at 95 %: an overdue task's progress must not pull its polls back to the shortest gap.
      elapsed += nextPollDelayMs(policy, lognormal, at(95, elapsed), SATURATED);
      polls += 1;
    }
    expect(polls).toBeLessThanOrEqual(8);
  });

  it('waits for the slow mode once the fast one has passed, at saturation', () => {
    // Missed at 10 s: the rest are the 45 s tasks.
    expect(nextPollDelayMs(policy, bimodal, waiting(10_000), SATURATED)).toBe(35_000);
  });

  it('keeps gaps short when the budget is idle, so a finished task is noticed within a second', () => {
    for (const estimate of [tight, bimodal, lognormal]) {
      for (const elapsed of [2_000, 8_000, 9_500, 12_000, 20_000]) {
        const delay = nextPollDelayMs(policy, estimate, waiting(elapsed), IDLE);
        expect(delay).toBeGreaterThanOrEqual(250);
        expect(delay).toBeLessThanOrEqual(1_000);
      }
    }
  });
});

describe('progress, a bounded hint', () => {
  it('never pushes a poll later: a task at 5 % early on is planned as if nothing were known', () => {
    for (const u of [IDLE, 0.7, SATURATED]) {
      expect(nextPollDelayMs(policy, lognormal, at(5, 5_000), u)).toBe(
        nextPollDelayMs(policy, lognormal, waiting(5_000), u),
      );
    }
  });

  it('pulls a poll earlier toward the extrapolated end, not before a conditional quantile', () => {
    const plain = nextPollDelayMs(policy, lognormal, waiting(5_000), SATURATED);
    const hinted = nextPollDelayMs(policy, lognormal, at(90, 5_000), SATURATED);
    // 90 % at 5 s extrapolates to 5.6 s; the floor at saturation is the conditional 60 %.
    const floor = distributionOf(lognormal).conditionalQuantile(0.6, 5_000);
    expect(hinted).toBeLessThan(plain);
    expect(hinted).toBe(Math.round(floor - 5_000));
  });

  it('adds no poll while a burst is rationed: between idle and saturated the plan stands', () => {
    for (const p of [0.3, 0.6, 0.9]) {
      expect(nextPollDelayMs(policy, lognormal, at(90, 5_000), p)).toBe(
        nextPollDelayMs(policy, lognormal, waiting(5_000), p),
      );
    }
    expect(nextPollDelayMs(policy, lognormal, at(90, 5_000), IDLE)).toBeLessThan(
      nextPollDelayMs(policy, lognormal, waiting(5_000), IDLE),
    );
  });
});

describe('polls per task', () => {
  it('is about one at saturation, whatever the family', () => {
    const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
    // Tasks drawn as the samples themselves (and, for the tight one, its whole range).
    expect(mean([8_000, 9_000, 9_500, 10_000].map((t) => pollsFor(tight, t, SATURATED)))).toBe(1);
    expect(mean(bimodalSamples.map((t) => pollsFor(bimodal, t, SATURATED)))).toBeLessThanOrEqual(
      1.1,
    );
    const lognormalTasks = Array.from({ length: 99 }, (_, i) =>
      distributionOf(lognormal).quantile((i + 1) / 100),
    );
    expect(mean(lognormalTasks.map((t) => pollsFor(lognormal, t, SATURATED)))).toBeLessThanOrEqual(
      1.25,
    );
  });

  it('is higher when the budget is idle (lag matters, requests are free)', () => {
    expect(pollsFor(lognormal, 9_000, IDLE)).toBeGreaterThan(pollsFor(lognormal, 9_000, SATURATED));
  });
});
