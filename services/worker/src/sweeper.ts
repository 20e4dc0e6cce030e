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
}

export interface SweepReport {
  /** Open items whose job was gone: queued again under the same job id. */
  requeued: number;
  /** Open items whose job had ended for good: failed with a reason. */
  failed: number;
  /** Finished batches given their manifest and expiry. */
  settled: number;
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

const BATCH_PAGE = 200;

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

  /** One pass over every live batch. */
  async sweep(): Promise<SweepReport> {
    const { retention, records, settler, logger } = this.options;
    const report: SweepReport = { requeued: 0, failed: 0, settled: 0 };
    // Settled batches leave the live set while we walk it: a batch skipped now is seen next time.
    for (let offset = 0; ; offset += BATCH_PAGE) {
      const ids = await retention.liveBatches(offset, BATCH_PAGE);
      for (const batchId of ids) {
        const batch = await records.getBatch(batchId);
        if (!batch || batch.completed_at !== null) {
          if (await settler.settle(batchId)) report.settled++;
        } else {
          // Also a batch whose submitting request died before it queued the jobs.
          await this.checkJobs(batchId, report);
        }
      }
      if (ids.length < BATCH_PAGE) break;
    }
    if (report.requeued + report.failed + report.settled > 0) {
      logger.info(report, 'sweep repaired or settled work');
    }
    return report;
  }

  private async checkJobs(batchId: string, report: SweepReport): Promise<void> {
    const { records, queue, redis, logger, intervalMs } = this.options;
    const open = [
      ...(await records.itemIds(batchId, 'queued')),
      ...(await records.itemIds(batchId, 'running')),
    ];
    for (let start = 0; start < open.length; start += ITEM_CHUNK) {
      const chunk = open.slice(start, start + ITEM_CHUNK);
      const items = (await Promise.all(chunk.map((id) => records.getItem(id)))).filter(
        (item): item is ItemRecord =>
          item !== null && (item.status === 'queued' || item.status === 'running'),
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
}
