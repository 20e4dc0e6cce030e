import { Worker } from 'bullmq';
import type { Config } from '@tryon/config';
import { QUEUES, type TryonJobData, type WebhookJobData } from '@tryon/domain';
import { createLogger, type Logger } from '@tryon/logger';
import {
  createTryonQueue,
  createWebhookQueue,
  redisConnection,
  redisDurabilityProblems,
  tryonRetryDelay,
} from '@tryon/queues';
import { RateLimiter } from '@tryon/rate-limiter';
import { BatchRetention, InputCheckCache, Operations, Records } from '@tryon/records';
import { createStorage } from '@tryon/storage';
import { Admission, DurationModel, defaultPollPolicy } from '@tryon/scheduling';
import { createSafeDispatcher, webhookRetryDelay } from '@tryon/webhooks';
import { Admitter } from './admitter.js';
import { BatchSettler } from './batch-settler.js';
import { BudgetMonitor } from './budget-monitor.js';
import { FitRoomPool } from './fitroom-pool.js';
import type { WorkerProbes } from './http-server.js';
import { WorkerMetrics } from './metrics.js';
import { configureImageLibrary } from './prepare.js';
import { ResultCache } from './result-cache.js';
import { Sweeper, endedJobReason } from './sweeper.js';
import { createTryonProcessor } from './tryon-processor.js';
import { createWebhookProcessor } from './webhook-processor.js';

export interface StartWorkerOptions {
  logger?: Logger;
  /** Webhook deliveries at once, per process. */
  webhookConcurrency?: number;
}

export interface RunningWorker {
  logger: Logger;
  metrics: WorkerMetrics;
  /** What /healthz, /readyz and /metrics report (http-server.ts). */
  probes: WorkerProbes;
  /** Stops taking jobs, lets running steps finish, then closes connections. Idempotent. */
  close(): Promise<void>;
}

/** Starts the try-on and webhook workers of one process. */
export async function startWorker(
  config: Config,
  options: StartWorkerOptions = {},
): Promise<RunningWorker> {
  if (config.fitroom.apiKeys.length === 0) {
    throw new Error('FITROOM_API_KEYS is empty: the worker needs at least one FitRoom API key');
  }
  const logger =
    options.logger ?? createLogger({ service: 'tryon-worker', level: config.logLevel });
  const redis = redisConnection(config.redisUrl);
  const bullConnection = redisConnection(config.redisUrl);
  // Without a listener ioredis prints every failed reconnect as an unhandled error event.
  for (const connection of [redis, bullConnection]) {
    connection.on('error', (error: Error) => logger.warn({ err: error }, 'redis connection error'));
  }
  for (const problem of await redisDurabilityProblems(redis)) logger.warn(problem);
  configureImageLibrary();
  const records = new Records(redis, config.prefix);
  const operations = new Operations(redis, config.prefix);
  const storage = createStorage(config.storage);
  const limiter = new RateLimiter({
    redis,
    prefix: config.prefix,
    limit: config.fitroom.rateLimit,
    windowMs: config.fitroom.rateWindowMs,
    requestTimeoutMs: config.fitroom.timeoutMs,
    maxWaitStepMs: Math.max(5, Math.min(250, config.fitroom.rateWindowMs / 100)),
  });
  const pool = new FitRoomPool({
    baseUrl: config.fitroom.baseUrl,
    apiKeys: config.fitroom.apiKeys,
    limiter,
    operations,
    timeoutMs: config.fitroom.timeoutMs,
    downloadTimeoutMs: config.fitroom.downloadTimeoutMs,
    createsInFlight: config.worker.createsInFlight,
    logger,
  });
  const webhookQueue = createWebhookQueue(bullConnection, config.prefix);
  const tryonQueue = createTryonQueue(bullConnection, config.prefix);
  const { rateLimit, rateWindowMs } = config.fitroom;
  const monitor = new BudgetMonitor(
    limiter,
    pool.keys.map((k) => k.budgetKey),
    Math.max(20, Math.round(rateWindowMs / 60)),
    logger,
  );
  await monitor.start();
  const jobsRunning: Record<string, number> = { [QUEUES.tryon]: 0, [QUEUES.webhooks]: 0 };
  const metrics = new WorkerMetrics({
    limiter,
    budgetKeys: pool.keys.map((k) => k.budgetKey),
    jobsRunning: () => ({ ...jobsRunning }),
  });
  const counted =
    <J, R>(queue: string, processor: (job: J, token?: string) => Promise<R>) =>
    async (job: J, token?: string): Promise<R> => {
      jobsRunning[queue] = (jobsRunning[queue] ?? 0) + 1;
      try {
        return await processor(job, token);
      } finally {
        jobsRunning[queue] = (jobsRunning[queue] ?? 1) - 1;
      }
    };
  const durations = new DurationModel({
    redis,
    prefix: config.prefix,
    defaults: {
      normal: { meanMs: config.fitroom.normalTaskMs, sdMs: config.fitroom.normalTaskMs * 0.1 },
      hd: { meanMs: config.fitroom.hdTaskMs, sdMs: config.fitroom.hdTaskMs * 0.1 },
    },
    // The budget is "60 per minute": FITROOM_RATE_WINDOW_MS is one FitRoom minute.
    fitroomSecondMs: rateWindowMs / 60,
    refreshMs: Math.max(100, Math.round(rateWindowMs / 30)),
  });
  await durations.refresh();
  const pollPolicy = defaultPollPolicy(config.fitroom.pollIntervalMs);
  const admission = new Admission(redis, config.prefix);
  const admitter = new Admitter({
    admission,
    records,
    monitor,
    durations,
    pollPolicy,
    queue: tryonQueue,
    rateLimit,
    rateWindowMs,
    intervalMs: Math.max(10, Math.min(250, Math.round(rateWindowMs / 60))),
    logger,
  });
  const dispatcher = createSafeDispatcher({
    allowPrivateNetworks: config.webhooks.allowPrivateNetworks,
    connectTimeoutMs: 10_000,
  });
  const masterSecret = config.webhooks.secret ?? (await operations.devWebhookSecret());
  const retention = new BatchRetention(redis, config.prefix);
  const settler = new BatchSettler({
    records,
    retention,
    storage,
    retentionMs: config.retentionDays * 86_400_000,
    logger,
  });
  // How soon a killed worker's running steps are retried, and how many deaths a job survives.
  const crashRecovery = {
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    maxStalledCount: config.worker.maxStalledCount,
  };

  const processTryon = createTryonProcessor({
    records,
    operations,
    storage,
    pool,
    webhookQueue,
    prepare: {
      redis,
      prefix: config.prefix,
      records,
      storage,
      dispatcher,
      fetchTimeoutMs: config.worker.imageFetchTimeoutMs,
      maxBytes: config.worker.imageMaxBytes,
    },
    resultCache: new ResultCache(redis, config.prefix),
    inputChecks: new InputCheckCache(redis, config.prefix),
    admission,
    durations,
    pollPolicy,
    utilization: (budgetKey) => monitor.utilization(budgetKey),
    onSlotReleased: () => admitter.poke(),
    // Parked jobs are woken by the admitter; this is only the net under a lost wake-up.
    parkRecheckMs: Math.max(60_000, 5 * rateWindowMs),
    taskTimeoutMs: config.fitroom.taskTimeoutMs,
    failedTaskRetries: config.fitroom.failedTaskRetries,
    pausedRecheckMs: Math.max(50, Math.round(config.fitroom.rateWindowMs / 12)),
    webhookRetryScheduleMs: config.webhooks.retryScheduleMs,
    publicUrl: config.publicUrl,
    onBatchFinished: (batchId) => settler.settleOrLeave(batchId),
    logger,
  });
  const tryonWorker = new Worker<TryonJobData>(QUEUES.tryon, counted(QUEUES.tryon, processTryon), {
    connection: bullConnection,
    prefix: config.prefix,
    concurrency: config.worker.concurrency,
    autorun: false,
    ...crashRecovery,
    settings: {
      backoffStrategy: (attemptsMade: number) =>
        tryonRetryDelay(config.worker.retryBackoffMs, attemptsMade),
    },
  });
  const webhookWorker = new Worker<WebhookJobData>(
    QUEUES.webhooks,
    counted(
      QUEUES.webhooks,
      createWebhookProcessor({
        operations,
        masterSecret,
        dispatcher,
        timeoutMs: config.webhooks.timeoutMs,
        onDelivered: (ok) => metrics.webhookDelivery(ok ? 'delivered' : 'failed'),
        logger,
      }),
    ),
    {
      connection: bullConnection,
      prefix: config.prefix,
      concurrency: options.webhookConcurrency ?? 20,
      autorun: false,
      ...crashRecovery,
      settings: {
        backoffStrategy: (attemptsMade: number) =>
          webhookRetryDelay(config.webhooks.retryScheduleMs, attemptsMade),
      },
    },
  );
  for (const worker of [tryonWorker, webhookWorker]) {
    worker.on('error', (error) => logger.error({ err: error, queue: worker.name }, 'worker error'));
    worker.on('failed', (job, error) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        logger.warn({ err: error, jobId: job.id, queue: worker.name }, 'job failed for good');
      }
    });
  }
  // A job BullMQ gave up on without our processor finishing its item (it kept losing its
  // worker): the item fails with a reason instead of staying open. The sweep is the net under this.
  tryonWorker.on('failed', (job, error) => {
    if (!job?.finishedOn || job.id === undefined) return;
    processTryon
      .abandon(job.data.itemId, job.id, endedJobReason(error.message))
      .catch((abandonError: unknown) =>
        logger.warn({ err: abandonError, jobId: job.id }, 'could not fail the item of a dead job'),
      );
  });
  const sweeper = new Sweeper({
    redis,
    prefix: config.prefix,
    records,
    retention,
    settler,
    queue: tryonQueue,
    abandon: (itemId, jobId, reason) => processTryon.abandon(itemId, jobId, reason),
    intervalMs: config.worker.sweepIntervalMs,
    logger,
  });
  // run() settles when the worker closes; a rejection then (Redis gone mid-close) is only logged.
  for (const worker of [tryonWorker, webhookWorker]) {
    worker.run().catch((error: unknown) => {
      logger.warn({ err: error, queue: worker.name }, 'worker loop ended with an error');
    });
  }
  admitter.start();
  sweeper.start();
  logger.info(
    {
      keys: pool.keys.map((k) => k.budgetKey),
      concurrency: config.worker.concurrency,
      fitroom: config.fitroom.baseUrl,
    },
    'worker started',
  );

  let closing: Promise<void> | null = null;
  const health = () => ({
    redis: redis.status === 'ready' && bullConnection.status === 'ready',
    tryonLoop: tryonWorker.isRunning(),
    webhookLoop: webhookWorker.isRunning(),
  });
  return {
    logger,
    metrics,
    probes: {
      registry: metrics.registry,
      health,
      readiness: () => ({ ...health(), open: closing === null }),
    },
    close() {
      closing ??= (async () => {
        // Each step on its own, so one failure does not skip the rest.
        await admitter.stop().catch(() => undefined);
        await sweeper.stop().catch(() => undefined);
        monitor.stop();
        await Promise.allSettled([tryonWorker.close(), webhookWorker.close()]);
        await Promise.allSettled([webhookQueue.close(), tryonQueue.close()]);
        storage.close();
        await dispatcher.close().catch(() => undefined);
        await Promise.allSettled([redis.quit(), bullConnection.quit()]);
        logger.info('worker stopped');
      })();
      return closing;
    },
  };
}
