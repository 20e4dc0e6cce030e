import {
  drawDuration,
  drawQueued,
  progressPercent,
  type DurationShape,
  type ProgressShape,
  type QueuedFamily,
} from './behaviour.js';
import type { Random } from './random.js';

/** cloth_type of a create request. */
export type CreateClothType = 'upper' | 'lower' | 'full_set' | 'combo';
export const CREATE_CLOTH_TYPES: readonly CreateClothType[] = [
  'upper',
  'lower',
  'full_set',
  'combo',
];

export type TaskStatus = 'CREATED' | 'PROCESSING' | 'COMPLETED' | 'FAILED';

/**
 * A try-on task. All times are FitRoom (virtual) epoch ms, drawn at create: the status is
 * computed from the clock when asked, so there is no timer per task.
 */
export interface Task {
  id: string;
  /** The API key that created it; other keys get 404. */
  key: string;
  clothType: CreateClothType;
  hd: boolean;
  createdAt: number;
  startedAt: number;
  completedAt: number;
  outcome: 'COMPLETED' | 'FAILED';
  /** Key of the rendered result (see ResultStore); only for tasks that complete. */
  resultKey: string | undefined;
  /** Status polls answered for this task (200), for benchmarks. */
  polls: number;
  /** When a poll first answered COMPLETED or FAILED, FitRoom time; undefined until then. */
  seenAt: number | undefined;
  /** Its progress curve, fixed at create so progress stays monotonic across reconfiguration. */
  progress: ProgressShape;
  /** Polls before this FitRoom time answer 404 (the notFoundAfterCreate fault). */
  hiddenUntil: number | undefined;
}

/** The Get Task Status answer, fields exactly as (and in the order of) the document's examples. */
export type TaskView =
  | { task_id: string; status: 'CREATED'; progress: 0; created_at: number }
  | {
      task_id: string;
      status: 'PROCESSING';
      progress: number;
      created_at: number;
      started_at: number;
    }
  | {
      task_id: string;
      status: 'COMPLETED';
      download_signed_url: string;
      progress: 100;
      created_at: number;
      started_at: number;
      completed_at: number;
    }
  | {
      task_id: string;
      status: 'FAILED';
      error: string;
      created_at: number;
      started_at: number;
      completed_at: number;
    };

export const FAILED_MESSAGE = 'Failed to process try-on task';

export interface TaskTiming {
  /** Typical duration for this task's mode, FitRoom ms (mean or median, by family). */
  typicalMs: number;
  shape: DurationShape;
  queuedMs: number;
  queuedFamily: QueuedFamily;
  failureRate: number;
  progress: ProgressShape;
}

const unixSeconds = (ms: number): number => Math.floor(ms / 1000);

export class TaskStore {
  private readonly tasks = new Map<string, Task>();
  private nextId: number;

  constructor(
    firstId: number,
    private readonly random: Random,
  ) {
    this.nextId = firstId;
  }

  get size(): number {
    return this.tasks.size;
  }

  get(id: string): Task | undefined {
    return this.tasks.get(id);
  }

  /**
   * Draws duration, outcome and (for a variable wait) the time in CREATED, in that order so
   * default runs draw what they always drew, and records the task.
   */
  create(
    fields: Pick<Task, 'key' | 'clothType' | 'hd'>,
    now: number,
    timing: TaskTiming,
    resultKey: (willComplete: boolean) => string | undefined,
  ): Task {
    const id = String(this.nextId++);
    const duration = drawDuration(this.random, timing.typicalMs, timing.shape);
    const fails = this.random() < timing.failureRate;
    // A fixed wait lies inside the duration (as always); a drawn one comes before it.
    const fixedWait = timing.queuedFamily === 'fixed';
    const queued = fixedWait
      ? Math.min(timing.queuedMs, duration * 0.5)
      : drawQueued(this.random, timing.queuedMs, timing.queuedFamily);
    const task: Task = {
      id,
      ...fields,
      createdAt: now,
      startedAt: now + queued,
      completedAt: now + (fixedWait ? duration : queued + duration),
      outcome: fails ? 'FAILED' : 'COMPLETED',
      resultKey: resultKey(!fails),
      polls: 0,
      seenAt: undefined,
      progress: timing.progress,
      hiddenUntil: undefined,
    };
    this.tasks.set(id, task);
    return task;
  }

  statusAt(task: Task, now: number): TaskStatus {
    if (now < task.startedAt) return 'CREATED';
    if (now < task.completedAt) return 'PROCESSING';
    return task.outcome;
  }

  /** The answer of GET /api/tryon/v2/tasks/:id at FitRoom time `now`. */
  view(task: Task, now: number, downloadUrl: (task: Task) => string): TaskView {
    const created_at = unixSeconds(task.createdAt);
    const started_at = unixSeconds(task.startedAt);
    const completed_at = unixSeconds(task.completedAt);
    switch (this.statusAt(task, now)) {
      case 'CREATED':
        return { task_id: task.id, status: 'CREATED', progress: 0, created_at };
      case 'PROCESSING': {
        const share = (now - task.startedAt) / (task.completedAt - task.startedAt);
        const progress = progressPercent(share, task.progress);
        return { task_id: task.id, status: 'PROCESSING', progress, created_at, started_at };
      }
      case 'COMPLETED':
        return {
          task_id: task.id,
          status: 'COMPLETED',
          download_signed_url: downloadUrl(task),
          progress: 100,
          created_at,
          started_at,
          completed_at,
        };
      case 'FAILED':
        return {
          task_id: task.id,
          status: 'FAILED',
          error: FAILED_MESSAGE,
          created_at,
          started_at,
          completed_at,
        };
    }
  }

  /** Every task, oldest first (ids count up and a Map keeps insertion order). */
  all(): IterableIterator<Task> {
    return this.tasks.values();
  }

  counts(now: number): { created: number; completed: number; failed: number } {
    let completed = 0;
    let failed = 0;
    for (const task of this.tasks.values()) {
      if (now < task.completedAt) continue;
      if (task.outcome === 'COMPLETED') completed++;
      else failed++;
    }
    return { created: this.tasks.size, completed, failed };
  }
}
