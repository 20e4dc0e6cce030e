import type { Logger } from 'pino';
import type { ItemError, TryonJobData } from '@tryon/domain';
import type { CreditBook, ItemRecord, Operations, Records } from '@tryon/records';
import type { WebhookQueue } from '@tryon/queues';
import type { Storage } from '@tryon/storage';
import type {
  Admission,
  DurationEstimate,
  DurationModel,
  ParkedItem,
  PollPolicy,
} from '@tryon/scheduling';
import type { FitRoomPool, InputCheckFlights } from '@tryon/fitroom-gateway';
import type { PrepareContext } from '../prepare.js';
import type { ResultCache } from '../result-cache.js';
import type { ItemFinisher } from './finish.js';

export interface TryonDeps {
  records: Records;
  operations: Operations;
  storage: Storage;
  pool: FitRoomPool;
  webhookQueue: WebhookQueue;
  prepare: PrepareContext;
  resultCache: ResultCache;
  /** FitRoom's input-check answers by image content (batches with input_checks). */
  inputChecks: InputCheckFlights;
  /** The waiting room in front of FitRoom: an item creates a task only once admitted. */
  admission: Admission;
  durations: DurationModel;
  pollPolicy: PollPolicy;
  /** The pressure on a key's budget for polling, 0 idle .. 1 saturated (cached readings; see poll-pacing.ts). */
  pollPressure(budgetKey: string, estimate: DurationEstimate, elapsedMs: number): number;
  /** Reads the budget again now (the cached reading may be from before this item was admitted). */
  readBudget(): Promise<void>;
  /** A slot was given back: admit the next item now rather than at the next tick. */
  onSlotReleased(): void;
  /** A parked job wakes up this often to look for its admission, should a promotion be lost. */
  parkRecheckMs: number;
  /** A task unfinished this long after create fails the item. */
  taskTimeoutMs: number;
  /** FAILED tasks re-created before the item fails. */
  failedTaskRetries: number;
  /** FitRoom credits per item, batch and key. */
  credits: CreditBook;
  /** A create whose answer never came: `retry` once, or `fail` the item (FITROOM_AMBIGUOUS_CREATES). */
  ambiguousCreates: 'retry' | 'fail';
  /** A create's credit was settled as spent or possibly spent (Prometheus counters). */
  onCredit?(budgetKey: string, kind: 'spent' | 'possibly_spent'): void;
  /** When every key is paused, look again after at most this long. */
  pausedRecheckMs: number;
  /** The job lock's duration (WORKER_LOCK_DURATION_MS): a fence check renews it by this much. */
  lockDurationMs?: number;
  webhookRetryScheduleMs: number[];
  publicUrl: string;
  /** The batch just finished (this caller's change finished it): manifest and expiry. */
  onBatchFinished?(batchId: string): Promise<void>;
  logger: Logger;
  /** Step durations and detection lag, for the worker's /metrics. */
  observer?: StepObserver;
}

export type TryonOutcome =
  'completed' | 'failed' | 'cancelled' | 'item_gone' | 'stale_run' | 'already_finished';

/**
 * What a step asks the driver to do next:
 * - `next`: save this job data and run the step it names, now;
 * - `delayMs`: save `data` (when given) and come back later as a delayed job;
 * - `park`: wait in the admission line (delayed for the recheck interval, then parked);
 * - `done`: the job is over with this outcome.
 */
export type StepOutcome =
  | { next: TryonJobData }
  | { delayMs: number; data?: TryonJobData }
  | { park: ParkedItem }
  | { done: TryonOutcome };

/** What every step may use: the services and the finisher of items. */
export interface StepEnv {
  deps: TryonDeps;
  finisher: ItemFinisher;
}

export interface StepObserver {
  stepDuration(step: string, ms: number): void;
  /** From FitRoom's completed_at to the poll that saw it. */
  detectionLag(ms: number): void;
}

/** One run of one step for one item. */
export interface StepRun {
  jobId: string | undefined;
  item: ItemRecord;
  data: TryonJobData;
  /** Saves the job data at once (before the step goes on), returning it. */
  save(data: TryonJobData): Promise<TryonJobData>;
  /**
   * Throws StaleRunError unless this job still holds its lock: a worker that was paused past its
   * lock must not act (spend a credit, write) while another worker runs the same item.
   */
  fence(): Promise<void>;
  /** The key the step talks to, set by the step: FitRoom refusals blame this key. */
  budgetKey: string | undefined;
}

export type Step = (env: StepEnv, run: StepRun) => Promise<StepOutcome>;

/** Thrown inside a step to fail the item with a reason the tenant will read. */
export class ItemFailure extends Error {
  override readonly name = 'ItemFailure';
  constructor(readonly reason: ItemError) {
    super(reason.message);
  }
}

/** This job no longer holds its lock, or acts for a run the item has left: it must change nothing. */
export class StaleRunError extends Error {
  override readonly name = 'StaleRunError';
}
