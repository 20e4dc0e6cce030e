/**
 * When a batch's open items should be done: budget arithmetic, no I/O. The API gathers the
 * inputs (counts, the admission line, learned durations); these functions only compute.
 */
import { CLOSING_QUANTILE } from './admission.js';
import { DurationDistribution } from './duration-distribution.js';

/**
 * Requests one task costs at saturation: one create and one poll. The worker keeps no running
 * count of polls per task, so this is the figure `pnpm bench` measures (2.015-2.043 requests
 * per task) and the admission cap assumes (keyCap).
 */
export const REQUESTS_PER_TASK = 2;

export interface EtaInput {
  /** This batch's items not finished yet (queued + running). */
  left: number;
  /** Items the shared keys will finish before this batch's last one (see itemsAhead). */
  ahead: number;
  /** FitRoom API keys the work shares. */
  keys: number;
  /** Requests per window per key (FITROOM_RATE_LIMIT, FITROOM_RATE_WINDOW_MS). */
  rateLimit: number;
  rateWindowMs: number;
  requestsPerTask: number;
  /** Mean duration of one of this batch's tasks at FitRoom (DurationModel). */
  taskMs: number;
  /**
   * The learned distribution of those durations (DurationModel's quantile table, the one the
   * poll planner uses): the batch ends with the longest of its last tasks, not an average one.
   */
  taskQuantilesMs?: readonly number[];
  /** Requests the usable keys' windows have free right now: spent at once, not at the budget's pace. */
  freeRequests?: number;
  /** Tasks in flight at once across the keys (the admission caps). */
  concurrency: number;
  /** Added as is: time until a paused key is usable again, say. */
  delayMs?: number;
  now: number;
}

export interface Eta {
  seconds: number;
  at: string;
}

/** Tasks per ms the keys can complete: the budget or the concurrency, whichever is lower. */
export function throughputPerMs(input: Omit<EtaInput, 'left' | 'ahead' | 'now'>): number {
  const budget = (input.keys * input.rateLimit) / input.rateWindowMs / input.requestsPerTask;
  const concurrency = input.concurrency / input.taskMs;
  return Math.min(budget, concurrency);
}

/**
 * The tail of a batch: the longest of its last tasks to run, which start together. Without a
 * learned distribution, one mean duration; with one, its quantile 1 - 1/(n + 1) for the n tasks
 * of the last wave (the expected largest of n draws), at most the 99th percentile. When the
 * budget paces the batch, its last tasks are created on a saturated key, whose first poll goes
 * at the longest duration seen, at most a window after the create (see poll-planner.ts).
 */
export function tailMs(
  input: Pick<EtaInput, 'taskMs' | 'taskQuantilesMs' | 'rateWindowMs'>,
  lastWave: number,
  saturated = false,
): number {
  if (!input.taskQuantilesMs || input.taskQuantilesMs.length < 2) return input.taskMs;
  const dist = new DurationDistribution(input.taskQuantilesMs);
  if (saturated) return Math.min(dist.quantile(1), input.rateWindowMs);
  return dist.quantile(Math.min(0.99, 1 - 1 / (Math.max(1, lastWave) + 1)));
}

/** Whether most tasks (CLOSING_QUANTILE of them) end within a window: see closingTasks. */
function mostEndWithinWindow(input: EtaInput): boolean {
  const q = input.taskQuantilesMs;
  const ms =
    q && q.length >= 2 ? new DurationDistribution(q).quantile(CLOSING_QUANTILE) : input.taskMs;
  return ms <= input.rateWindowMs;
}

/**
 * ETA = the time the budget needs for every request ahead and ours, less the requests the windows
 * have free now (or the concurrency's pace, if slower), and the tail (tailMs): after it, or for a
 * paced batch whose tasks mostly end within a window, the larger of the two. As the lower bound in
 * DESIGN.md: a small batch on a fresh key is its longest task. Null when nothing is left or nothing
 * can run (no key).
 */
export function batchEta(input: EtaInput): Eta | null {
  if (input.left <= 0) return null;
  const throughput = throughputPerMs(input);
  if (!(throughput > 0) || !(input.taskMs > 0)) return null;
  const tasks = input.ahead + input.left;
  const budgetPerMs = (input.keys * input.rateLimit) / input.rateWindowMs;
  const paced = Math.max(0, tasks * input.requestsPerTask - (input.freeRequests ?? 0));
  const concurrencyPerMs = input.concurrency / input.taskMs;
  const budgetMs = paced / budgetPerMs;
  const runMs = Math.max(budgetMs, tasks / concurrencyPerMs - input.taskMs);
  const lastWave = Math.min(input.left, Math.max(1, Math.round(input.concurrency)));
  const tail = tailMs(input, lastWave, paced > 0);
  // A paced line closes in rounds of a window (closingTasks): its last window polls tasks
  // created a window before, so the tail ends with the budget's time, not after it.
  const closesInRounds = paced > 0 && budgetMs >= runMs && mostEndWithinWindow(input);
  const ms =
    (closesInRounds ? Math.max(runMs, tail) : Math.max(0, runMs) + tail) + (input.delayMs ?? 0);
  const seconds = Math.ceil(ms / 1000);
  return { seconds, at: new Date(input.now + seconds * 1000).toISOString() };
}

/** A batch's items waiting in the admission line (see Admission.depths). */
export interface WaitingBatch {
  tenantId: string;
  batchId: string;
  /** 0-10, higher first within its tenant. */
  priority: number;
  waiting: number;
}

/**
 * Items served before this batch's last waiting one, by the admission order: round-robin
 * across tenants, within a tenant higher priority first and round-robin among equals.
 *
 * In the tenant: every item of a higher-priority batch, min(theirs, ours) of each
 * equal-priority batch, none of a lower one. That takes R = that + ours rounds; each other
 * tenant is served once per round, so it adds min(its waiting, R). Items already admitted
 * elsewhere (`othersInFlight`) finish first.
 */
export function itemsAhead(
  line: readonly WaitingBatch[],
  batch: { id: string; tenantId: string; priority: number },
  othersInFlight = 0,
): number {
  const ours = line.find((b) => b.batchId === batch.id)?.waiting ?? 0;
  // All admitted already: what others have in flight runs alongside, not before.
  if (ours === 0) return 0;
  let inTenant = 0;
  const otherTenants = new Map<string, number>();
  for (const b of line) {
    if (b.batchId === batch.id) continue;
    if (b.tenantId === batch.tenantId) {
      if (b.priority > batch.priority) inTenant += b.waiting;
      else if (b.priority === batch.priority) inTenant += Math.min(b.waiting, ours);
    } else {
      otherTenants.set(b.tenantId, (otherTenants.get(b.tenantId) ?? 0) + b.waiting);
    }
  }
  const rounds = inTenant + ours;
  let across = 0;
  for (const waiting of otherTenants.values()) across += Math.min(waiting, rounds);
  return Math.max(0, othersInFlight) + inTenant + across;
}
