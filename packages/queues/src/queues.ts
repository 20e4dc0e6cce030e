import { Queue, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { QUEUES, type TryonJobData, type WebhookJobData } from '@tryon/domain';

export type TryonQueue = Queue<TryonJobData>;
export type WebhookQueue = Queue<WebhookJobData>;

/**
 * A Redis connection fit for BullMQ: commands wait through a reconnect instead of failing
 * (maxRetriesPerRequest: null), which is what lets workers ride out a Redis restart.
 */
export function redisConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...options });
}

/** The try-on worker's own backoff strategy (BullMQ custom type): see tryonRetryDelay. */
export const TRYON_BACKOFF_TYPE = 'tryon';

/**
 * Retries of a step that failed for a passing reason (FitRoom 5xx, network, storage outage):
 * exponential from TRYON_RETRY_BACKOFF_MS (2 s: about 35 minutes in all before the item fails).
 * The delay is the worker's to compute, so jobs already queued follow its current setting.
 */
export const TRYON_JOB_OPTIONS: JobsOptions = {
  attempts: 11,
  backoff: { type: TRYON_BACKOFF_TYPE },
  removeOnComplete: { age: 24 * 3_600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3_600 },
};

/** Delay before retry number `attemptsMade` (1, 2, ...): base, 2 x base, 4 x base, ... */
export function tryonRetryDelay(baseMs: number, attemptsMade: number): number {
  return Math.round(baseMs * 2 ** Math.max(0, attemptsMade - 1));
}

/** One job per item run: a retried item gets a new job, a resubmitted batch does not double. */
export const tryonJobId = (itemId: string, run: number): string => `${itemId}.${run}`;

/**
 * A job whose item was parked for admission when its batch was recorded sleeps as a delayed
 * job until the admitter promotes it: ten thousand waiting items cost no worker any work. This
 * long sleep is only the net under a promotion that got lost; waking early costs a re-park.
 */
export const PARKED_JOB_DELAY_MS = 60 * 60_000;

export function tryonJob(
  item: { id: string; batch_id: string; tenant_id: string; run: number },
  options: { parked?: boolean } = {},
) {
  return {
    name: 'tryon',
    data: {
      itemId: item.id,
      batchId: item.batch_id,
      tenantId: item.tenant_id,
      step: 'prepare',
    } satisfies TryonJobData,
    opts: {
      ...TRYON_JOB_OPTIONS,
      jobId: tryonJobId(item.id, item.run),
      // Spread, so that lost promotions of a big batch never wake all at once.
      ...(options.parked && { delay: Math.round(PARKED_JOB_DELAY_MS * (1 + Math.random() / 10)) }),
    },
  };
}

export function createTryonQueue(connection: Redis, prefix: string): TryonQueue {
  return new Queue<TryonJobData>(QUEUES.tryon, { connection, prefix });
}

export function createWebhookQueue(connection: Redis, prefix: string): WebhookQueue {
  return new Queue<WebhookJobData>(QUEUES.webhooks, { connection, prefix });
}
