/**
 * How scarce a key's requests are for polling: the pressure (0 idle .. 1 saturated) the poll
 * planner trades polls against lag with. Requests are scarce when the polls the tasks in flight
 * will still make at that pressure do not fit in what the key can send while they run:
 *
 *     tasks in flight x polls left per task at pressure p  <=  requests free within H
 *
 * seen from the task being planned: its polls left are those of the planner's plan at p
 * conditioned on the time it has already run, H is what is left of its life (the conditional
 * high quantile of the duration, the last moment the planner plans a poll for), and the requests
 * free within H are those free now plus those leaving the rolling window by then. The pressure
 * is the lowest p that fits. So:
 * - one task at a time polls at idle gaps: its own earlier polls leave the window long before
 *   they could crowd it, however many they were;
 * - a burst of a dozen long-tailed tasks shares the free window out as a few polls each, rather
 *   than spending it on the first tasks' idle polls and starving the last (a share of the window
 *   by its use alone does that) or polling every task once at its p99 (a share counting only
 *   what is promised does that);
 * - a few requests are left out of those plans for the tasks that outlive the high quantile;
 * - a task past the distribution's high quantile may live half its age again: its share of what
 *   is free within that time is spread evenly over it (at most once a shortest gap, at least
 *   once in the whole of it);
 * - while items wait in line every request a poll takes delays a create: saturated.
 */
import type { DurationDistribution } from './duration-distribution.js';
import {
  distributionOf,
  firstPollDelayMs,
  nextPollDelayMs,
  overdueHorizonMs,
  overduePressure,
  type DurationEstimate,
  type PollPolicy,
} from './poll-planner.js';

export interface KeyOutlook {
  /** Items wait in the admission line for a key. */
  itemsWaiting: boolean;
  /** Tasks admitted to the key and not finished (the caller's among them). */
  tasksInFlight: number;
  /** Requests the key allows in one window. */
  limit: number;
  /** Requests the key can start within `horizonMs` from now: free now, or leaving the window by then. */
  requestsWithin(horizonMs: number): number;
}

/** Pressures at which polls per task are tabulated (linear in between). */
const PRESSURE_STEPS = 10;
/** The share of the free requests the pacing plans with. */
const PACING_SHARE = 0.9;
/**
 * The share of a window's requests the plans of tasks within their known durations leave to
 * those that outlive them (6 at 60 a minute): a burst's last task is often past the learned p99
 * (a table of a few dozen tasks ends early), and a batch's makespan is that task's end plus its
 * poll lag. Without them the burst's free window goes to the tasks that end early and the last
 * one waits for the window to give requests back.
 */
const TAIL_RESERVE_SHARE = 0.1;
/** Polls simulated along one task's plan before the rest is taken as negligible. */
const MAX_PLANNED_POLLS = 400;

/** The planner's polls for one task at a fixed pressure: their times and the task's survival at each. */
interface PlannedPolls {
  atMs: number[];
  alive: number[];
}

function plannedPolls(
  policy: PollPolicy,
  estimate: DurationEstimate,
  pressure: number,
  dist: DurationDistribution,
): PlannedPolls {
  const planned: PlannedPolls = { atMs: [], alive: [] };
  let at = firstPollDelayMs(policy, estimate, pressure);
  for (let i = 0; i < MAX_PLANNED_POLLS; i++) {
    const alive = 1 - dist.cdf(at);
    planned.atMs.push(at);
    planned.alive.push(alive);
    if (alive <= 1e-4) break;
    at += Math.max(1, nextPollDelayMs(policy, estimate, waiting(at), pressure));
  }
  return planned;
}

/**
 * Expected polls still to come for a task not finished at `elapsedMs`, under the planner's plan
 * from its create at a fixed pressure: the next poll always, each later one if the task outlived
 * the one before. At 0, the expected polls of a task from create to the poll that finds it done.
 */
function pollsLeft(planned: PlannedPolls, dist: DurationDistribution, elapsedMs: number): number {
  const running = Math.max(1e-4, 1 - dist.cdf(elapsedMs));
  let polls = 1;
  for (let k = 0; k < planned.atMs.length; k++) {
    if (planned.atMs[k]! > elapsedMs) polls += Math.min(1, planned.alive[k]! / running);
  }
  return polls;
}

export function expectedPollsPerTask(
  policy: PollPolicy,
  estimate: DurationEstimate,
  pressure: number,
  elapsedMs = 0,
): number {
  const dist = distributionOf(estimate);
  return pollsLeft(plannedPolls(policy, estimate, pressure, dist), dist, elapsedMs);
}

function waiting(elapsedMs: number) {
  return { status: 'CREATED' as const, progress: 0, elapsedMs };
}

const pressureSteps = (): number[] =>
  Array.from({ length: PRESSURE_STEPS + 1 }, (_, i) => i / PRESSURE_STEPS);

/** The plans at pressure i / PRESSURE_STEPS, per learned table (its array) or normal. */
const byTable = new WeakMap<readonly number[], PlannedPolls[]>();
const byNormal = new Map<string, PlannedPolls[]>();

function plansFor(policy: PollPolicy, estimate: DurationEstimate, dist: DurationDistribution) {
  const compute = (): PlannedPolls[] =>
    pressureSteps().map((p) => plannedPolls(policy, estimate, p, dist));
  // Keyed by the table alone: one policy per process (the poll interval is configuration).
  if (estimate.quantilesMs) {
    let plans = byTable.get(estimate.quantilesMs);
    if (!plans) byTable.set(estimate.quantilesMs, (plans = compute()));
    return plans;
  }
  const key = `${estimate.meanMs}/${estimate.sdMs}/${policy.minGapSaturatedMs}`;
  let plans = byNormal.get(key);
  if (!plans) {
    // Before a table is learned the mean moves with every task: keep only the recent few.
    if (byNormal.size >= 16) byNormal.delete(byNormal.keys().next().value!);
    byNormal.set(key, (plans = compute()));
  }
  return plans;
}

/**
 * The lowest pressure at which the tasks in flight can be polled within the key's budget, seen
 * from a task `elapsedMs` after its create (0 for its first poll): a task deep in a long tail has
 * more polls left than a new one, and only the requests freed within its remaining life help it.
 */
export function pollPressure(
  policy: PollPolicy,
  estimate: DurationEstimate,
  outlook: KeyOutlook,
  elapsedMs = 0,
): number {
  if (outlook.itemsWaiting) return 1;
  const dist = distributionOf(estimate);
  // Past the high quantile the distribution knows nothing: the task may live half its age again.
  const overdue = dist.cdf(elapsedMs) >= policy.highQuantile;
  const horizonMs = overdue
    ? overdueHorizonMs(policy, elapsedMs)
    : Math.max(
        policy.minGapSaturatedMs,
        dist.conditionalQuantile(policy.highQuantile, elapsedMs) - elapsedMs,
      );
  // A tenth held back: readings up to a refresh old, and the linear steps between pressures.
  const reserve = overdue ? 0 : TAIL_RESERVE_SHARE * outlook.limit;
  const usable = PACING_SHARE * outlook.requestsWithin(horizonMs) - reserve;
  const perTask = Math.max(0, usable) / Math.max(1, outlook.tasksInFlight);
  if (overdue) return overduePressure(policy, elapsedMs, perTask);
  const polls = plansFor(policy, estimate, dist).map((plan) => pollsLeft(plan, dist, elapsedMs));
  if (perTask >= polls[0]!) return 0;
  for (let i = 1; i <= PRESSURE_STEPS; i++) {
    const fewer = polls[i]!;
    if (perTask >= fewer) {
      // Between two steps: as far toward the lower pressure as the requests allow.
      const more = polls[i - 1]!;
      const share = more > fewer ? (more - perTask) / (more - fewer) : 1;
      return (i - 1 + share) / PRESSURE_STEPS;
    }
  }
  return 1;
}
