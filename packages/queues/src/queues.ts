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

/**
 * Retries of a step that failed for a passing reason (FitRoom 5xx, network, storage outage):
 * exponential from 2 s, about 35 minutes in all before the item fails.
 */
export const TRYON_JOB_OPTIONS: JobsOptions = {
  attempts: 11,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: { age: 24 * 3_600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3_600 },
};

/** One job per item run: a retried item gets a new job, a resubmitted batch does not double. */
export const tryonJobId = (itemId: string, run: number): string => `${itemId}.${run}`;

export function tryonJob(item: { id: string; batch_id: string; tenant_id: string; run: number }) {
  return {
    name: 'tryon',
    data: {
      itemId: item.id,
      batchId: item.batch_id,
      tenantId: item.tenant_id,
      step: 'prepare',
    } satisfies TryonJobData,
    opts: { ...TRYON_JOB_OPTIONS, jobId: tryonJobId(item.id, item.run) },
  };
}

export function createTryonQueue(connection: Redis, prefix: string): TryonQueue {
  return new Queue<TryonJobData>(QUEUES.tryon, { connection, prefix });
}

export function createWebhookQueue(connection: Redis, prefix: string): WebhookQueue {
  return new Queue<WebhookJobData>(QUEUES.webhooks, { connection, prefix });
}
