/**
 * When to poll a FitRoom task. Every poll costs one request from the same budget as a create;
 * every moment between a task's completion and the poll that sees it is lag. The planner knows
 * the distribution of task durations (learned, see DurationModel) and nothing about the shape of
 * FitRoom's progress, and picks each poll to minimize
 *
 *     expected (polls x pollCost + lag)
 *
 * over the rest of the task, conditioned on the time already elapsed (a small dynamic program
 * over the conditional quantiles of the duration). The exchange rate pollCost follows the
 * pressure on the key's budget (0 idle .. 1 saturated; see poll-pacing.ts for how it is read):
 *
 * - Saturated budget: every request spent on a poll is a task not created, so a poll costs as
 *   much lag as a minute or two, and the first poll goes where every task seen so far was done
 *   (at most a window after the create): one poll per task.
 * - Nearly saturated: the first poll goes where nearly every task is done (the end of a tight
 *   distribution, the end of the fast mode of a bimodal one, a high quantile of a long tail).
 * - Idle budget: requests are free, latency is what matters: polls start early and no two are
 *   further apart than maxGapIdleMs, so a finished task is noticed within that gap.
 * - In between, pollCost moves geometrically and the longest gap widens with the pressure.
 *
 * Whatever the costs, no poll is planned past the distribution's high quantile. A task that
 * outlives nearly every task seen so far is beyond what the distribution knows: it may live half
 * its age again, and its share of the requests is spread evenly over that time (overdueGapMs):
 * the shortest gap while the key has requests to spare, half its own age once the key is
 * saturated, so a task that hangs until its timeout costs a handful of polls there, not one
 * every poll interval (300 in FitRoom's 10 minutes). A table learned from a few dozen tasks ends
 * early, so a small batch's last task is often overdue: spread, its polls last until the window
 * gives requests back, where the shortest gap would spend them all and leave it waiting a window.
 * Progress is only a bounded hint: FitRoom's progress need not be linear in time (it may crawl
 * and then jump, or stall at 95), so an extrapolation from it may pull a poll earlier, never
 * before a conditional quantile of the duration, and never pushes one later.
 */
import { DurationDistribution, normalQuantiles } from './duration-distribution.js';

export interface DurationEstimate {
  /** Mean created -> completed time, in our milliseconds. */
  meanMs: number;
  /** Standard deviation of that time. */
  sdMs: number;
  /**
   * The learned distribution as a quantile table (see DurationDistribution); without it, a
   * normal of the mean and sd above.
   */
  quantilesMs?: readonly number[];
}

export interface PollPolicy {
  /** Shortest gap between two polls of one task, when idle and when saturated. */
  minGapIdleMs: number;
  minGapSaturatedMs: number;
  /** Longest gap between two polls when idle; it grows as 1 / (1 - pressure). */
  maxGapIdleMs: number;
  /** What one poll is worth in milliseconds of lag, when idle and when saturated. */
  pollCostIdleMs: number;
  pollCostSaturatedMs: number;
  /** No poll is planned later than this quantile of the duration. */
  highQuantile: number;
  /**
   * At saturation a task's first poll goes where every task seen was done, but no later than
   * this after its create (the budget's window): by then the key has given back every request
   * it had at the create, and one outlier among the tasks learned would otherwise hold back the
   * first poll of every task (a rare task longer than this costs one more poll).
   */
  latestFirstPollMs: number;
  /** Beyond the high quantile, how much longer a task may live, as a share of its age (see overdueGapMs). */
  overdueHorizonShare: number;
  /** A progress extrapolation may pull a poll earlier, but not before this conditional quantile (idle, saturated). */
  hintFloorIdleQ: number;
  hintFloorSaturatedQ: number;
}

/**
 * A policy in proportion to the poll interval: all gaps scale with the time scale of the run.
 * `refillMs` (window / limit) is how often the key's budget gives back a request: no task polls
 * more often than that, or a single long task fills the window in a burst and whatever comes
 * within the next window waits for that burst to age out. `windowMs` bounds the first poll at
 * saturation (latestFirstPollMs).
 */
export function defaultPollPolicy(
  minGapSaturatedMs: number,
  refillMs = 0,
  windowMs = Number.POSITIVE_INFINITY,
): PollPolicy {
  const eighth = Math.max(1, Math.round(minGapSaturatedMs / 8));
  const minGapIdleMs = Math.min(minGapSaturatedMs, Math.max(eighth, Math.round(refillMs)));
  return {
    minGapIdleMs,
    minGapSaturatedMs,
    maxGapIdleMs: Math.max(minGapIdleMs, Math.round(minGapSaturatedMs / 2)),
    pollCostIdleMs: eighth,
    // A poll at saturation is worth a minute or two of lag: every second poll of a task is a
    // request past 2N, and a rolling window can make one such request cost a whole window.
    pollCostSaturatedMs: minGapSaturatedMs * 60,
    highQuantile: 0.99,
    latestFirstPollMs: windowMs,
    overdueHorizonShare: 0.5,
    hintFloorIdleQ: 0.1,
    hintFloorSaturatedQ: 0.6,
  };
}

export function distributionOf(estimate: DurationEstimate): DurationDistribution {
  return new DurationDistribution(
    estimate.quantilesMs ?? normalQuantiles(estimate.meanMs, estimate.sdMs),
  );
}

interface Costs {
  pollCostMs: number;
  minGapMs: number;
  maxGapMs: number;
}

/** The shortest gap between two polls of one task at pressure p. */
function minGapAt(policy: PollPolicy, p: number): number {
  return policy.minGapIdleMs + (policy.minGapSaturatedMs - policy.minGapIdleMs) * p;
}

function costsAt(policy: PollPolicy, p: number): Costs {
  const ratio = policy.pollCostSaturatedMs / policy.pollCostIdleMs;
  return {
    pollCostMs: policy.pollCostIdleMs * ratio ** p,
    minGapMs: minGapAt(policy, p),
    maxGapMs: p >= 1 ? Infinity : policy.maxGapIdleMs / (1 - p),
  };
}

/**
 * The gap before the next poll of an overdue task (past the high quantile) at pressure p: from
 * the shortest idle gap at 0 to the whole horizon (half its age) at 1, geometric in between
 * (overduePressure picks the p that spreads the task's share of the requests over its horizon).
 */
export function overdueGapMs(policy: PollPolicy, elapsedMs: number, p: number): number {
  const shortest = policy.minGapIdleMs;
  const horizon = overdueHorizonMs(policy, elapsedMs);
  return shortest * (horizon / shortest) ** Math.min(1, Math.max(0, p));
}

/**
 * The pressure whose overdue gap spreads `perTask` polls evenly over the task's horizon, so that
 * it still has requests when the horizon ends, whether or not the window has given any back.
 */
export function overduePressure(policy: PollPolicy, elapsedMs: number, perTask: number): number {
  const shortest = policy.minGapIdleMs;
  const horizon = overdueHorizonMs(policy, elapsedMs);
  if (perTask * shortest >= horizon) return 0;
  if (perTask <= 1 || horizon <= shortest) return 1;
  return Math.log(horizon / perTask / shortest) / Math.log(horizon / shortest);
}

/** How much longer an overdue task may live: a share of its age, at least the shortest gap. */
export function overdueHorizonMs(policy: PollPolicy, elapsedMs: number): number {
  return Math.max(policy.minGapIdleMs, elapsedMs * policy.overdueHorizonShare);
}

/** Cells of the dynamic program: equal shares of the remaining probability up to the high quantile. */
const CELLS = 48;

/**
 * The time (since create) of the next poll of a task not finished at `elapsedMs` that minimizes
 * expected polls x pollCost + lag, the polls at least minGap apart. The candidate times are the
 * conditional quantiles g_0 = elapsed < g_1 < ... < g_CELLS = the high quantile, each cell holding
 * the same share m of the probability; V(i) is the expected cost from g_i on:
 *
 *   V(i) = min over j > i of  pollCost + (sum over cells k in (i, j] of m (g_j - mid_k)
 *                                        + S(g_j) V(j)) / S(g_i)
 *
 * with V(CELLS) = one more poll. Beyond the high quantile nothing is known (see nextPollDelayMs).
 */
function plannedPollAt(
  dist: DurationDistribution,
  elapsedMs: number,
  costs: Costs,
  high: number,
): number {
  const start = dist.cdf(elapsedMs);
  if (start >= high) return elapsedMs + costs.minGapMs;
  const m = (high - start) / CELLS;
  const g: number[] = [elapsedMs];
  for (let k = 1; k <= CELLS; k++) g.push(Math.max(elapsedMs, dist.quantile(start + k * m)));
  const mid = (k: number): number => dist.quantile(start + (k - 0.5) * m);
  const survival = (i: number): number => 1 - start - i * m;
  const value = new Array<number>(CELLS + 1).fill(0);
  const choice = new Array<number>(CELLS + 1).fill(CELLS);
  value[CELLS] = costs.pollCostMs;
  for (let i = CELLS - 1; i >= 0; i--) {
    let best = Infinity;
    let lagMass = 0;
    let massMid = 0;
    for (let j = i + 1; j <= CELLS; j++) {
      massMid += m * mid(j);
      lagMass += m;
      if (g[j]! - g[i]! < costs.minGapMs && j < CELLS) continue;
      const lag = g[j]! * lagMass - massMid;
      const cost = costs.pollCostMs + (lag + survival(j) * value[j]!) / survival(i);
      if (cost < best) {
        best = cost;
        choice[i] = j;
      }
    }
    value[i] = best;
  }
  return g[choice[0]!]!;
}

/**
 * Milliseconds from the create answer to the first poll. While items wait in line (pressure 1)
 * it goes where every task seen so far was done, at most latestFirstPollMs: a poll that misses
 * is a create not made, and when a batch's 2N requests fill whole windows one request more
 * costs a whole window.
 */
export function firstPollDelayMs(
  policy: PollPolicy,
  estimate: DurationEstimate,
  pressure: number,
): number {
  const dist = distributionOf(estimate);
  if (pressure >= 1) return Math.round(Math.min(dist.quantile(1), policy.latestFirstPollMs));
  const costs = costsAt(policy, Math.max(0, pressure));
  const at = plannedPollAt(dist, 0, { ...costs, minGapMs: 0 }, policy.highQuantile);
  // The longest gap counts from where the earliest tasks end.
  return Math.max(0, Math.round(Math.min(at, dist.quantile(0.01) + costs.maxGapMs)));
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
  pressure: number,
): number {
  const p = Math.min(1, Math.max(0, pressure));
  const dist = distributionOf(estimate);
  const { progress, elapsedMs } = observation;
  // An overdue task's progress says nothing its age does not: a stalled 95 % would poll it at the
  // shortest gap.
  if (dist.cdf(elapsedMs) >= policy.highQuantile) {
    return Math.round(overdueGapMs(policy, elapsedMs, p));
  }
  const costs = costsAt(policy, p);
  let at = plannedPollAt(dist, elapsedMs, costs, policy.highQuantile);
  // While a burst's free requests are rationed (0 < p < 1, see poll-pacing.ts) the plan's polls
  // are all a task gets: a hint that added some would spend the last tasks' share.
  const rationed = p > 0 && p < 1;
  if (!rationed && observation.status === 'PROCESSING' && progress > 0 && progress < 100) {
    // Progress counts from the start of processing, not from our create: the extrapolation errs late.
    const extrapolated = elapsedMs + (elapsedMs * (100 - progress)) / progress;
    const floorQ = policy.hintFloorIdleQ + (policy.hintFloorSaturatedQ - policy.hintFloorIdleQ) * p;
    at = Math.min(at, Math.max(extrapolated, dist.conditionalQuantile(floorQ, elapsedMs)));
  }
  const gap = Math.min(
    Math.max(at - elapsedMs, costs.minGapMs),
    Math.max(costs.minGapMs, costs.maxGapMs),
  );
  return Math.round(gap);
}
