import type { Redis } from 'ioredis';
import type { Config } from '@tryon/config';
import type { TryonQueue, WebhookQueue } from '@tryon/queues';
import type { RateLimiter } from '@tryon/rate-limiter';
import type { Operations, Records } from '@tryon/records';
import type { Storage } from '@tryon/storage';
import type { LookupFn } from '@tryon/webhooks';
import type { Authenticator } from './auth.js';
import type { BatchEventStreams } from './lib/batch-events.js';
import type { BatchService } from './lib/batches.js';
import type { BatchDeadlines } from './lib/batch-deadlines.js';
import type { EtaEstimator } from './lib/eta.js';
import type { TenantLimit } from './lib/tenant-limit.js';
import type { WebhookReplayer } from './lib/webhook-replay.js';
import type { ApiLoggerOptions } from './logger.js';
import type { ApiMetrics } from './metrics.js';

/** Everything the app uses, built by the caller (startApi, or a test) and injected. */
export interface ApiDeps {
  config: Config;
  redis: Redis;
  records: Records;
  operations: Operations;
  storage: Storage;
  tryonQueue: TryonQueue;
  webhookQueue: WebhookQueue;
  /** Reads FitRoom budget usage for /admin/status; one is made from config when absent. */
  limiter?: RateLimiter;
  /** pino options (level, stream, ...); false for no logs. Redaction is always added. */
  logger?: ApiLoggerOptions | false;
  /** Name resolution for the SSRF checks of submitted URLs; the system resolver by default. */
  lookup?: LookupFn;
}

/** What the route plugins receive. */
export interface RouteDeps extends Omit<ApiDeps, 'limiter' | 'logger'> {
  limiter: RateLimiter;
  auth: Authenticator;
  metrics: ApiMetrics;
  batches: BatchService;
  replayer: WebhookReplayer;
  /** The per-tenant request limit (API_RATE_LIMIT per API_RATE_WINDOW_MS). */
  tenantLimit: TenantLimit;
  /** Live batch event streams and their shared Redis subscriber (see streamBatchEvents). */
  batchEvents: BatchEventStreams;
  /** Batch ETAs from the budget arithmetic; view() is a batch as every route answers it. */
  eta: EtaEstimator;
  deadlines: BatchDeadlines;
}
