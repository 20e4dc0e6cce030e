import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ItemError, TryonJobData } from '@tryon/domain';
import { tryonJob, tryonJobId, type TryonQueue } from '@tryon/queues';
import type { BatchRetention, ItemRecord, Records } from '@tryon/records';
import { RedisKeys } from '@tryon/redis';
import type { BatchSettler } from './batch-settler.js';

export interface SweeperOptions {
  redis: Redis;
  prefix: string;
  records: Records;
  retention: BatchRetention;
  settler: BatchSettler;
  queue: TryonQueue;
  /** Fails an open item whose job ended for good without finishing it; false if not open. */
  abandon(itemId: string, jobId: string, reason: ItemError): Promise<boolean>;
  intervalMs: number;
  logger: Logger;
  /** Open items one tick checks at most (default ITEMS_PER_TICK); the walk goes on next tick. */
  itemsPerTick?: number;
}

export interface SweepReport {
  /** Open items whose job was gone: queued again under the same job id. */
  requeued: number;
  /** Open items whose job had ended for good: failed with a reason. */
  failed: number;
  /** Finished batches given their manifest and expiry. */
  settled: number;
  /** Open items looked at in this tick. */
  checked: number;
  /** The tick reached the end of the live batches: the next one starts from the first again. */
  passComplete: boolean;
}

/** What BullMQ writes on a job that was running in a worker that died too many times. */
export const STALLED_TOO_OFTEN = 'job stalled more than allowable limit';

/** Why an item failed whose job ended without finishing it, in words for the tenant. */
export function endedJobReason(failedReason: string | null | undefined): ItemError {
  if (failedReason === STALLED_TOO_OFTEN) {
    return {
      code: 'worker_lost',
      message:
        'the worker running this item stopped (crashed or was killed) too many times; retry the batch to run it again',
    };
  }
  return {
    code: 'job_lost',
    message: "the item's job ended without finishing it; retry the batch to run it again",
  };
}

/**
 * The job of an open item that lost its job: one whose FitRoom task was created resumes polling
 * that task (its key comes from the item's admission, see the poll step) instead of paying for
 * another; any other starts from prepare.
 */
export function resumeJob(item: ItemRecord): {
  name: string;
  data: TryonJobData;
  opts: ReturnType<typeof tryonJob>['opts'];
} {
  const job = tryonJob(item);
  if (item.status !== 'running' || !item.fitroom_task_id) return job;
  const data: TryonJobData = {
    ...job.data,
    step: 'poll',
    taskId: item.fitroom_task_id,
    // The task was created at the latest when the item last changed.
    taskCreatedAt: Date.parse(item.updated_at),
  };
  return { ...job, data };
}

const ITEM_CHUNK = 500;
/**
 * Open items one tick looks at: a bounded cost per tick however much is open (30,000 open items
 * take a few ticks, not one long one). A finished batch to settle counts as one chunk.
 */
export const ITEMS_PER_TICK = 1_500;
const OPEN_STATES = ['queued', 'running'] as const;

/** Where the walk stands between ticks: kept in Redis, as the next tick may be another process's. */
interface SweepCursor {
  /** Position in the live batches (by creation). */
  batch: number;
  /** Index in OPEN_STATES. */
  state: number;
  /** Position in that state's set of the batch. */
  item: number;
}
const START: SweepCursor = { batch: 0, state: 0, item: 0 };

/**
 * The net under crashes and lost writes, run by one worker process at a time every
 * `intervalMs`: an open item whose job vanished (Redis lost it, someone removed it) is queued
 * again; one whose job ended for good without finishing it (BullMQ gave up after repeated
 * worker deaths) fails with a reason; a finished batch that was not settled (its worker died
 * first, storage was down, the API cancelled it) gets its manifest and expiry.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(private readonly options: SweeperOptions) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.sweepIfLeader()
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'sweep failed'))
      .finally(() => (this.running = null));
  }

  /** Sweeps unless another process has swept within the interval. */
  async sweepIfLeader(): Promise<SweepReport | null> {
    const { redis, prefix, intervalMs } = this.options;
    const lease = Math.max(50, Math.round(intervalMs * 0.9));
    const leaseKey = new RedisKeys(prefix).sweepLease();
    const taken = await redis.set(leaseKey, randomUUID(), 'PX', lease, 'NX');
    return taken === 'OK' ? this.sweep() : null;
  }

  /**
   * The next stretch of the walk over every live batch, from where the last tick stopped: open
   * items up to the tick's budget, finished batches settled on the way. Items and batches move
   * while we walk (an item changes state, a batch settles and leaves the live set): one skipped
   * now is seen on the next pass.
   */
  async sweep(): Promise<SweepReport> {
    const { logger } = this.options;
    const report: SweepReport = {
      requeued: 0,
      failed: 0,
      settled: 0,
      checked: 0,
      passComplete: false,
    };
    const cursorKey = new RedisKeys(this.options.prefix).sweepCursor();
    let cursor = await this.loadCursor(cursorKey);
    let budget = this.options.itemsPerTick ?? ITEMS_PER_TICK;
    while (budget > 0) {
      const next = await this.step(cursor, Math.min(budget, ITEM_CHUNK), report);
      if (next === null) {
        cursor = START;
        report.passComplete = true;
        break;
      }
      budget -= next.cost;
      cursor = next.cursor;
    }
    await this.options.redis.set(cursorKey, JSON.stringify(cursor));
    if (report.requeued + report.failed + report.settled > 0) {
      logger.info(report, 'sweep repaired or settled work');
    }
    return report;
  }

  private async loadCursor(key: string): Promise<SweepCursor> {
    const saved = await this.options.redis.get(key);
    if (!saved) return START;
    try {
      return { ...START, ...(JSON.parse(saved) as Partial<SweepCursor>) };
    } catch {
      return START;
    }
  }

  /** One chunk of the walk: its cost and where it leaves the cursor; null past the last batch. */
  private async step(
    cursor: SweepCursor,
    chunk: number,
    report: SweepReport,
  ): Promise<{ cursor: SweepCursor; cost: number } | null> {
    const { retention, records, settler, redis, prefix, logger } = this.options;
    const [batchId] = await retention.liveBatches(cursor.batch, 1);
    if (batchId === undefined) return null;
    const nextBatch = { batch: cursor.batch + 1, state: 0, item: 0 };
    const batch = await records.getBatch(batchId);
    if (!batch || batch.completed_at !== null) {
      const settled = await settler.settle(batchId).catch((error: unknown) => {
        logger.warn({ err: error, batchId }, 'sweep could not settle a batch; next pass');
        return false;
      });
      if (!settled) return { cursor: nextBatch, cost: chunk };
      report.settled++;
      // It left the live set: the next batch now stands at this position.
      return { cursor: { ...nextBatch, batch: cursor.batch }, cost: chunk };
    }
    // Also a batch whose submitting request died before it queued the jobs.
    const state = OPEN_STATES[cursor.state] ?? 'running';
    const stateKey = new RedisKeys(prefix).batchState(batchId, state);
    const ids = await redis.zrange(stateKey, cursor.item, cursor.item + chunk - 1);
    await this.checkJobs(batchId, ids, report);
    report.checked += ids.length;
    const cost = Math.max(1, ids.length);
    if (ids.length === chunk) return { cursor: { ...cursor, item: cursor.item + chunk }, cost };
    if (cursor.state + 1 < OPEN_STATES.length) {
      return { cursor: { ...cursor, state: cursor.state + 1, item: 0 }, cost };
    }
    return { cursor: nextBatch, cost };
  }

  /** Open items of a batch whose job vanished or ended for good: queued again or failed. */
  private async checkJobs(batchId: string, chunk: string[], report: SweepReport): Promise<void> {
    const { records, queue, redis, logger, intervalMs } = this.options;
    const items = (await records.getItems(chunk)).filter(
      (item): item is ItemRecord => item.status === 'queued' || item.status === 'running',
    );
    const pipeline = redis.pipeline();
    for (const item of items) {
      const jobId = tryonJobId(item.id, item.run);
      pipeline.hmget(queue.toKey(jobId), 'name', 'finishedOn', 'failedReason');
    }
    const replies = ((await pipeline.exec()) ?? []).map(([, reply]) => reply);
    for (const [i, item] of items.entries()) {
      const [name, finishedOn, failedReason] = (replies[i] ?? []) as (string | null)[];
      const jobId = tryonJobId(item.id, item.run);
      if (!name) {
        // Give a submission or retry that is still adding its jobs the time to do so.
        if (Date.now() - Date.parse(item.updated_at) < intervalMs) continue;
        // Same job id: if the job appears meanwhile, this adds nothing.
        const job = resumeJob(item);
        await queue.add(job.name, job.data, job.opts);
        logger.warn({ itemId: item.id, batchId, jobId }, 'an open item had no job: queued again');
        report.requeued++;
      } else if (finishedOn) {
        const failed = await this.options.abandon(item.id, jobId, endedJobReason(failedReason));
        if (failed) {
          logger.warn(
            { itemId: item.id, batchId, jobId, failedReason },
            'failed an item whose job had ended',
          );
          report.failed++;
        }
      }
    }
  }
}
