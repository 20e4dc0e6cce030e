import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
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
import { BatchRetention, CreditBook, Operations, Records } from '@tryon/records';
import { createStorage } from '@tryon/storage';
import { Admission, DurationModel, defaultPollPolicy, pollPressure } from '@tryon/scheduling';
import { createSafeDispatcher, webhookRetryDelay } from '@tryon/webhooks';
import { Admitter } from './admitter.js';
import { BatchSettler } from './batch-settler.js';
import { BudgetMonitor } from './budget-monitor.js';
import { FitRoomPool, InputCheckFlights } from '@tryon/fitroom-gateway';
import { configureImageLibrary } from './prepare.js';
import { ResultCache } from './result-cache.js';
import { Sweeper, endedJobReason } from './sweeper.js';
import { createTryonProcessor } from './tryon-processor.js';
import { logFailures } from './failure-logs.js';
import type { WorkerProbes } from './http-server.js';
import { WorkerMetrics } from './metrics.js';
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

type Services = Awaited<ReturnType<typeof connectServices>>;
type Scheduling = Awaited<ReturnType<typeof startScheduling>>;
type TryonProcessor = ReturnType<typeof createTryonProcessor>;

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
  const services = await connectServices(config, logger);
  const scheduling = await startScheduling(config, services, logger);
  const jobs = new JobsRunning();
  const metrics = workerMetrics(services, jobs);

  const deps = tryonDeps(config, services, scheduling, { logger, metrics });
  const processTryon = createTryonProcessor(deps);
  const tryonWorker = startTryonWorker(config, services, jobs.counted(QUEUES.tryon, processTryon), {
    abandon: (itemId, jobId, reason) => processTryon.abandon(itemId, jobId, reason),
    logger,
  });
  const webhookWorker = startWebhookWorker(config, services, options, { jobs, metrics, logger });
  const sweeper = new Sweeper({
    redis: services.redis,
    prefix: config.prefix,
    records: services.records,
    retention: services.retention,
    settler: services.settler,
    queue: services.tryonQueue,
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
  scheduling.admitter.start();
  sweeper.start();
  logger.info(
    {
      keys: services.pool.keys.map((k) => k.budgetKey),
      concurrency: config.worker.concurrency,
      fitroom: config.fitroom.baseUrl,
    },
    'worker started',
  );

  let closing: Promise<void> | null = null;
  const health = () => ({
    redis: services.redis.status === 'ready' && services.bullConnection.status === 'ready',
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
        await scheduling.admitter.stop().catch(() => undefined);
        await sweeper.stop().catch(() => undefined);
        scheduling.monitor.stop();
        await Promise.allSettled([tryonWorker.close(), webhookWorker.close()]);
        await closeServices(services);
        logger.info('worker stopped');
      })();
      return closing;
    },
  };
}

/** The worker's /metrics: the shared budget read when scraped, FitRoom answers as they come. */
function workerMetrics(services: Services, jobs: JobsRunning): WorkerMetrics {
  const metrics = new WorkerMetrics({
    limiter: services.limiter,
    budgetKeys: services.pool.keys.map((k) => k.budgetKey),
    jobsRunning: () => jobs.snapshot(),
  });
  services.pool.observeAnswers((key, operation, end) =>
    metrics.fitroomRequest(key, operation, end),
  );
  return metrics;
}

/** Redis, storage, the FitRoom pool with its budget, queues and records of one process. */
async function connectServices(config: Config, logger: Logger) {
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
    logger,
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
  const dispatcher = createSafeDispatcher({
    allowPrivateNetworks: config.webhooks.allowPrivateNetworks,
    connectTimeoutMs: 10_000,
  });
  const retention = new BatchRetention(redis, config.prefix);
  const settler = new BatchSettler({
    records,
    retention,
    storage,
    retentionMs: config.retentionDays * 86_400_000,
    logger,
  });
  return {
    redis,
    bullConnection,
    records,
    operations,
    storage,
    limiter,
    pool,
    dispatcher,
    masterSecret: config.webhooks.secret ?? (await operations.devWebhookSecret()),
    retention,
    settler,
    webhookQueue: createWebhookQueue(bullConnection, config.prefix),
    tryonQueue: createTryonQueue(bullConnection, config.prefix),
  };
}

async function closeServices(services: Services): Promise<void> {
  await Promise.allSettled([services.webhookQueue.close(), services.tryonQueue.close()]);
  services.storage.close();
  await services.dispatcher.close().catch(() => undefined);
  await Promise.allSettled([services.redis.quit(), services.bullConnection.quit()]);
}

/** The budget monitor, task-duration model and admitter: who creates a task, and when. */
async function startScheduling(config: Config, services: Services, logger: Logger) {
  const { rateLimit, rateWindowMs } = config.fitroom;
  const admission = new Admission(services.redis, config.prefix);
  const monitor = new BudgetMonitor(
    services.limiter,
    admission,
    services.pool.keys.map((k) => k.budgetKey),
    Math.max(20, Math.round(rateWindowMs / 60)),
    logger,
  );
  await monitor.start();
  const durations = durationModel(config, services.redis);
  await durations.refresh();
  const { pollIntervalMs } = config.fitroom;
  const pollPolicy = defaultPollPolicy(pollIntervalMs, rateWindowMs / rateLimit, rateWindowMs);
  const admitter = new Admitter({
    admission,
    records: services.records,
    monitor,
    limiter: services.limiter,
    durations,
    pollPolicy,
    queue: services.tryonQueue,
    intervalMs: Math.max(10, Math.min(250, Math.round(rateWindowMs / 60))),
    logger,
  });
  return { monitor, durations, pollPolicy, admission, admitter };
}

function durationModel(config: Config, redis: Redis): DurationModel {
  const { normalTaskMs, hdTaskMs, rateWindowMs } = config.fitroom;
  return new DurationModel({
    redis,
    prefix: config.prefix,
    defaults: {
      normal: { meanMs: normalTaskMs, sdMs: normalTaskMs * 0.1 },
      hd: { meanMs: hdTaskMs, sdMs: hdTaskMs * 0.1 },
    },
    // The budget is "60 per minute": FITROOM_RATE_WINDOW_MS is one FitRoom minute.
    fitroomSecondMs: rateWindowMs / 60,
    refreshMs: Math.max(100, Math.round(rateWindowMs / 30)),
  });
}

function tryonDeps(
  config: Config,
  services: Services,
  scheduling: Scheduling,
  { logger, metrics }: { logger: Logger; metrics: WorkerMetrics },
): Parameters<typeof createTryonProcessor>[0] {
  const { redis, records, storage } = services;
  const { rateWindowMs } = config.fitroom;
  return {
    observer: metrics,
    records,
    operations: services.operations,
    storage,
    pool: services.pool,
    webhookQueue: services.webhookQueue,
    prepare: {
      redis,
      prefix: config.prefix,
      records,
      storage,
      dispatcher: services.dispatcher,
      fetchTimeoutMs: config.worker.imageFetchTimeoutMs,
      maxBytes: config.worker.imageMaxBytes,
    },
    resultCache: new ResultCache(redis, config.prefix),
    inputChecks: new InputCheckFlights(redis, config.prefix),
    admission: scheduling.admission,
    durations: scheduling.durations,
    pollPolicy: scheduling.pollPolicy,
    pollPressure: (budgetKey, estimate, elapsedMs) =>
      pollPressure(
        scheduling.pollPolicy,
        estimate,
        scheduling.monitor.outlook(budgetKey),
        elapsedMs,
      ),
    readBudget: () => scheduling.monitor.refresh(),
    onSlotReleased: () => scheduling.admitter.poke(),
    // Parked jobs are woken by the admitter; this is only the net under a lost wake-up.
    parkRecheckMs: Math.max(60_000, 5 * rateWindowMs),
    taskTimeoutMs: config.fitroom.taskTimeoutMs,
    failedTaskRetries: config.fitroom.failedTaskRetries,
    credits: new CreditBook(redis, config.prefix),
    ambiguousCreates: config.fitroom.ambiguousCreates,
    onCredit: (budgetKey, kind) => metrics.credits(budgetKey, kind),
    pausedRecheckMs: Math.max(50, Math.round(rateWindowMs / 12)),
    lockDurationMs: config.worker.lockDurationMs,
    webhookRetryScheduleMs: config.webhooks.retryScheduleMs,
    publicUrl: config.publicUrl,
    onBatchFinished: (batchId) => services.settler.settleOrLeave(batchId),
    logger,
  };
}

/** How soon a killed worker's running steps are retried, and how many deaths a job survives. */
function crashRecovery(config: Config) {
  return {
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    maxStalledCount: config.worker.maxStalledCount,
  };
}

function startTryonWorker(
  config: Config,
  services: Services,
  processTryon: (job: Job<TryonJobData>, token?: string) => Promise<unknown>,
  { abandon, logger }: { abandon: TryonProcessor['abandon']; logger: Logger },
): Worker<TryonJobData> {
  const worker = new Worker<TryonJobData>(QUEUES.tryon, processTryon, {
    connection: services.bullConnection,
    prefix: config.prefix,
    concurrency: config.worker.concurrency,
    autorun: false,
    ...crashRecovery(config),
    settings: {
      backoffStrategy: (attemptsMade: number) =>
        tryonRetryDelay(config.worker.retryBackoffMs, attemptsMade),
    },
  });
  logFailures(worker, logger);
  // A job BullMQ gave up on without our processor finishing its item (it kept losing its
  // worker): the item fails with a reason instead of staying open. The sweep is the net under this.
  worker.on('failed', (job, error) => {
    if (!job?.finishedOn || job.id === undefined) return;
    abandon(job.data.itemId, job.id, endedJobReason(error.message)).catch((abandonError: unknown) =>
      logger.warn({ err: abandonError, jobId: job.id }, 'could not fail the item of a dead job'),
    );
  });
  return worker;
}

function startWebhookWorker(
  config: Config,
  services: Services,
  options: StartWorkerOptions,
  { jobs, metrics, logger }: { jobs: JobsRunning; metrics: WorkerMetrics; logger: Logger },
): Worker<WebhookJobData> {
  const worker = new Worker<WebhookJobData>(
    QUEUES.webhooks,
    jobs.counted(
      QUEUES.webhooks,
      createWebhookProcessor({
        operations: services.operations,
        masterSecret: services.masterSecret,
        dispatcher: services.dispatcher,
        timeoutMs: config.webhooks.timeoutMs,
        onDelivered: (ok) => metrics.webhookDelivery(ok ? 'delivered' : 'failed'),
        logger,
      }),
    ),
    {
      connection: services.bullConnection,
      prefix: config.prefix,
      concurrency: options.webhookConcurrency ?? 20,
      autorun: false,
      ...crashRecovery(config),
      settings: {
        backoffStrategy: (attemptsMade: number) =>
          webhookRetryDelay(config.webhooks.retryScheduleMs, attemptsMade),
      },
    },
  );
  logFailures(worker, logger);
  return worker;
}

/** Jobs this process is running now, per queue (the worker's /metrics). */
class JobsRunning {
  private readonly running: Record<string, number> = { [QUEUES.tryon]: 0, [QUEUES.webhooks]: 0 };

  snapshot(): Record<string, number> {
    return { ...this.running };
  }

  counted<J, R>(queue: string, processor: (job: J, token?: string) => Promise<R>) {
    return async (job: J, token?: string): Promise<R> => {
      this.running[queue] = (this.running[queue] ?? 0) + 1;
      try {
        return await processor(job, token);
      } finally {
        this.running[queue] = (this.running[queue] ?? 1) - 1;
      }
    };
  }
}
