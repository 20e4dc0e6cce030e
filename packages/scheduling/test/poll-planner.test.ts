import { describe, expect, it } from 'vitest';
import { defaultPollPolicy, firstPollDelayMs, nextPollDelayMs } from '../src/index.js';

const policy = defaultPollPolicy(2_000);
const estimate = { meanMs: 9_000, sdMs: 500 };

describe('poll planner', () => {
  it('polls first at mean + 2 sd when the budget is saturated: nearly every task is done by then', () => {
    expect(firstPollDelayMs(policy, estimate, 1)).toBe(10_000);
    expect(firstPollDelayMs(policy, estimate, 0.95)).toBe(10_000);
  });

  it('polls first at mean - 1 sd when the budget is idle, to catch the end from the progress', () => {
    expect(firstPollDelayMs(policy, estimate, 0)).toBe(8_500);
    expect(firstPollDelayMs(policy, estimate, 0.5)).toBe(8_500);
  });

  it('moves the first poll linearly with utilization in between', () => {
    expect(firstPollDelayMs(policy, estimate, 0.7)).toBe(9_250);
  });

  it('polls again at the completion time extrapolated from the progress', () => {
    // 8 s in at 80 %: 2 s to go, plus a margin of a quarter sd (idle).
    expect(
      nextPollDelayMs(
        policy,
        estimate,
        { status: 'PROCESSING', progress: 80, elapsedMs: 8_000 },
        0,
      ),
    ).toBe(2_125);
    // Saturated: the margin doubles, since a second miss costs a task.
    expect(
      nextPollDelayMs(
        policy,
        estimate,
        { status: 'PROCESSING', progress: 80, elapsedMs: 8_000 },
        1,
      ),
    ).toBe(2_250);
  });

  it('never polls one task more often than the minimum gap', () => {
    expect(
      nextPollDelayMs(
        policy,
        estimate,
        { status: 'PROCESSING', progress: 99, elapsedMs: 9_900 },
        0,
      ),
    ).toBe(250);
    expect(
      nextPollDelayMs(
        policy,
        estimate,
        { status: 'PROCESSING', progress: 99, elapsedMs: 9_900 },
        1,
      ),
    ).toBe(2_000);
  });

  it('expects a full run from a task that has not started', () => {
    expect(
      nextPollDelayMs(policy, estimate, { status: 'CREATED', progress: 0, elapsedMs: 3_000 }, 0),
    ).toBe(6_125);
    expect(
      nextPollDelayMs(policy, estimate, { status: 'CREATED', progress: 0, elapsedMs: 9_500 }, 0),
    ).toBe(2_375);
  });
});
