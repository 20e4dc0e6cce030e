/**
 * When to poll a FitRoom task. Every poll costs one request from the same budget as a create,
 * so the policy trades polls for latency according to how busy the key's budget is:
 *
 * - Saturated budget (utilization near 1): every spare request is a task not created, so the
 *   first poll goes late, at a high quantile of the learned duration (mean + 2 sd), and nearly
 *   every task is found finished at its first poll: about one poll per task, the floor.
 * - Idle budget: requests are free, latency is what matters. The first poll goes early (mean -
 *   1 sd); a task still running reports its progress, from which its completion time is
 *   extrapolated, and the next poll goes right then. Two polls per task, finished tasks noticed
 *   within a poll's round trip.
 * - In between, the quantile moves linearly with utilization.
 */

export interface DurationEstimate {
  /** Mean created -> completed time, in our milliseconds. */
  meanMs: number;
  /** Standard deviation of that time. */
  sdMs: number;
}

export interface PollPolicy {
  /** z of the first poll when the budget is idle and when it is saturated. */
  idleZ: number;
  saturatedZ: number;
  /** Utilization from which the budget counts as saturated, and below which as idle. */
  idleBelow: number;
  saturatedAbove: number;
  /** Shortest gap between two polls of one task, when idle and when saturated. */
  minGapIdleMs: number;
  minGapSaturatedMs: number;
}

/** A policy in proportion to a task duration: all gaps scale with the time scale of the run. */
export function defaultPollPolicy(minGapSaturatedMs: number): PollPolicy {
  return {
    idleZ: -1,
    saturatedZ: 2,
    idleBelow: 0.5,
    saturatedAbove: 0.9,
    minGapIdleMs: Math.max(1, Math.round(minGapSaturatedMs / 8)),
    minGapSaturatedMs,
  };
}

/** 0 when the budget is idle, 1 when saturated, linear in between. */
export function pressure(policy: PollPolicy, utilization: number): number {
  const span = policy.saturatedAbove - policy.idleBelow;
  return Math.min(1, Math.max(0, (utilization - policy.idleBelow) / span));
}

/** Milliseconds from the create answer to the first poll. */
export function firstPollDelayMs(
  policy: PollPolicy,
  estimate: DurationEstimate,
  utilization: number,
): number {
  const z = policy.idleZ + (policy.saturatedZ - policy.idleZ) * pressure(policy, utilization);
  return Math.max(0, Math.round(estimate.meanMs + z * estimate.sdMs));
}

export interface PollObservation {
  status: 'CREATED' | 'PROCESSING';
  /** FitRoom's progress, 0-100. */
  progress: number;
  /** Milliseconds since our create answer. */
  elapsedMs: number;
}

/** Milliseconds from now to the next poll of a task that was not finished at this poll. */
export function nextPollDelayMs(
  policy: PollPolicy,
  estimate: DurationEstimate,
  observation: PollObservation,
  utilization: number,
): number {
  const p = pressure(policy, utilization);
  const minGap = policy.minGapIdleMs + (policy.minGapSaturatedMs - policy.minGapIdleMs) * p;
  const { progress, elapsedMs } = observation;
  let remaining: number;
  if (observation.status === 'PROCESSING' && progress > 0 && progress < 100) {
    // Progress counts from the start of processing; counting from our create instead
    // overestimates the rest by the queued share, which errs on the side of one poll, not two.
    remaining = (elapsedMs * (100 - progress)) / progress;
  } else {
    // Not started yet: expect at least what is left of a typical run.
    remaining = Math.max(estimate.meanMs - elapsedMs, estimate.meanMs / 4);
  }
  // A small margin past the extrapolated end, larger under pressure where a second miss costs.
  const margin = estimate.sdMs * 0.25 * (1 + p);
  return Math.max(Math.round(minGap), Math.round(remaining + margin));
}
