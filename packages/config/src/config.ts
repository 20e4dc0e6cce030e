import type { StorageConfig } from '@tryon/storage';
import { ConfigError, EnvReader, redactUrl, type Env } from './env.js';

export type { StorageConfig };

export interface Tenant {
  id: string;
  token: string;
}

export interface Config {
  redisUrl: string;
  /** Namespace of every Redis key and BullMQ queue this service owns. */
  prefix: string;
  host: string;
  port: number;
  /** How clients reach the API; used in result URLs. */
  publicUrl: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  fitroom: {
    baseUrl: string;
    /** Empty: `pnpm start` runs the simulator and fills this in. */
    apiKeys: string[];
    rateLimit: number;
    rateWindowMs: number;
    timeoutMs: number;
    downloadTimeoutMs: number;
    /** First guesses of task durations, refined by what the workers observe. */
    normalTaskMs: number;
    hdTaskMs: number;
    /** Shortest gap between two polls of one task. */
    pollIntervalMs: number;
    /** A task still unfinished this long after create fails with a clear reason. */
    taskTimeoutMs: number;
    /** How often a task that ended FAILED is created again before the item fails. */
    failedTaskRetries: number;
  };
  storage: StorageConfig;
  /** Empty: a single open dev tenant (see devTenant). */
  tenants: Tenant[];
  adminToken: string | null;
  webhooks: {
    /** Null: generated once per Redis and shared by every process (dev only). */
    secret: string | null;
    allowPrivateNetworks: boolean;
    retryScheduleMs: number[];
    timeoutMs: number;
  };
  worker: {
    concurrency: number;
    imageFetchTimeoutMs: number;
    imageMaxBytes: number;
    /** BullMQ job lock: a killed worker's running steps are retried this long after it died. */
    lockDurationMs: number;
    /** How often BullMQ looks for steps whose worker died. */
    stalledIntervalMs: number;
    /** Worker deaths one step job may go through; then its item fails with a reason. */
    maxStalledCount: number;
    /** First retry delay of a step that failed for a passing reason; doubles each time. */
    retryBackoffMs: number;
    /** How often one worker looks for items whose job vanished and batches left to settle. */
    sweepIntervalMs: number;
    /**
     * FitRoom creates one process has sent and not yet recorded: a process that dies pays for
     * at most this many tasks twice.
     */
    createsInFlight: number;
    /** The worker's /healthz, /readyz and /metrics listen here. */
    httpHost: string;
    httpPort: number;
  };
  /** Days a finished batch's records (batch, items, counts, deliveries) stay in Redis. */
  retentionDays: number;
  api: {
    uploadMaxBytes: number;
    maxBatchItems: number;
    resultUrlTtlSeconds: number;
    /** Requests per tenant in any rolling `rateWindowMs` on /v1 and /api/tryon; 0: no limit. */
    rateLimit: number;
    rateWindowMs: number;
  };
}

export const DEV_TENANT: Tenant = { id: 'dev', token: '' };

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/i;
const MB = 1024 * 1024;

/** Reads and validates the whole configuration at once; throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): Config {
  const read = new EnvReader(env);
  const host = read.string('HOST', '0.0.0.0');
  const port = read.int('PORT', 3000, 0, 65_535);
  const publicHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  // Read in this order so that the problems are listed as they always were.
  const storage = readStorage(read);
  const tenants = readTenants(read);

  const config: Config = {
    redisUrl: read.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    prefix: read.string('QUEUE_PREFIX', 'tryon'),
    host,
    port,
    publicUrl: read.url('PUBLIC_URL', `http://${publicHost}:${port}`, ['http:', 'https:']),
    logLevel: read.oneOf(
      'LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'info',
    ),
    fitroom: readFitRoom(read),
    storage,
    tenants,
    adminToken: read.optional('ADMIN_TOKEN'),
    webhooks: readWebhooks(read),
    worker: readWorker(read),
    retentionDays: read.int('RETENTION_DAYS', 30, 1, 3_650),
    api: readApi(read),
  };

  if (config.webhooks.secret !== null && config.webhooks.secret.length < 16) {
    read.fail('WEBHOOK_SECRET must be at least 16 characters');
  }
  if (config.adminToken !== null && config.adminToken.length < 8) {
    read.fail('ADMIN_TOKEN must be at least 8 characters');
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}

function readStorage(read: EnvReader): StorageConfig {
  const driver = read.oneOf('STORAGE_DRIVER', ['fs', 's3'] as const, 'fs');
  if (driver === 'fs') return { driver, dataDir: read.string('DATA_DIR', './data') };
  const bucket = read.optional('S3_BUCKET');
  if (!bucket) read.fail('S3_BUCKET is required when STORAGE_DRIVER=s3');
  const endpoint = read.optional('S3_ENDPOINT');
  const accessKeyId = read.optional('AWS_ACCESS_KEY_ID');
  const secretAccessKey = read.optional('AWS_SECRET_ACCESS_KEY');
  if ((accessKeyId === null) !== (secretAccessKey === null)) {
    read.fail('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both or neither');
  }
  return {
    driver,
    bucket: bucket ?? '',
    ...(endpoint !== null && { endpoint: read.url('S3_ENDPOINT', '', ['http:', 'https:']) }),
    region: read.string('S3_REGION', 'us-east-1'),
    forcePathStyle: read.bool('S3_FORCE_PATH_STYLE', endpoint !== null),
    checksum: read.oneOf(
      'S3_CHECKSUM',
      ['when_supported', 'when_required'] as const,
      'when_supported',
    ),
    ...(accessKeyId !== null && secretAccessKey !== null && { accessKeyId, secretAccessKey }),
  };
}

function readTenants(read: EnvReader): Tenant[] {
  const tenants: Tenant[] = [];
  for (const entry of read.list('API_TOKENS')) {
    const separator = entry.indexOf(':');
    const id = entry.slice(0, separator);
    const token = entry.slice(separator + 1);
    if (separator < 1 || !TENANT_ID.test(id) || token.length < 8) {
      // Never echo the entry: it holds a token.
      read.fail(
        `API_TOKENS entry ${tenants.length + 1} must be "tenant:token" with a tenant id of letters, digits, _ or - and a token of at least 8 characters`,
      );
      continue;
    }
    if (tenants.some((t) => t.id === id || t.token === token)) {
      read.fail(`API_TOKENS names tenant "${id}" or its token twice`);
      continue;
    }
    tenants.push({ id, token });
  }
  return tenants;
}

function readFitRoom(read: EnvReader): Config['fitroom'] {
  return {
    baseUrl: read.url('FITROOM_BASE_URL', 'https://platform.fitroom.app', ['http:', 'https:']),
    apiKeys: read.list('FITROOM_API_KEYS'),
    rateLimit: read.int('FITROOM_RATE_LIMIT', 60, 1, 100_000),
    rateWindowMs: read.int('FITROOM_RATE_WINDOW_MS', 60_000, 10, 86_400_000),
    timeoutMs: read.int('FITROOM_TIMEOUT_MS', 30_000, 100, 600_000),
    downloadTimeoutMs: read.int('FITROOM_DOWNLOAD_TIMEOUT_MS', 60_000, 100, 600_000),
    normalTaskMs: read.int('FITROOM_NORMAL_TASK_MS', 9_000, 1, 3_600_000),
    hdTaskMs: read.int('FITROOM_HD_TASK_MS', 30_000, 1, 3_600_000),
    pollIntervalMs: read.int('FITROOM_POLL_INTERVAL_MS', 2_000, 1, 600_000),
    taskTimeoutMs: read.int('FITROOM_TASK_TIMEOUT_MS', 600_000, 10, 86_400_000),
    failedTaskRetries: read.int('FITROOM_FAILED_TASK_RETRIES', 2, 0, 20),
  };
}

function readWebhooks(read: EnvReader): Config['webhooks'] {
  return {
    secret: read.optional('WEBHOOK_SECRET'),
    allowPrivateNetworks: read.bool('WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
    retryScheduleMs: read.durations('WEBHOOK_RETRY_SCHEDULE', '5s,5m,30m,2h,5h,10h'),
    timeoutMs: read.int('WEBHOOK_TIMEOUT_MS', 15_000, 10, 120_000),
  };
}

function readWorker(read: EnvReader): Config['worker'] {
  return {
    concurrency: read.int('WORKER_CONCURRENCY', 50, 1, 1_000),
    imageFetchTimeoutMs: read.int('IMAGE_FETCH_TIMEOUT_MS', 15_000, 10, 300_000),
    imageMaxBytes: read.int('IMAGE_MAX_BYTES', 20 * MB, 1, 200 * MB),
    lockDurationMs: read.int('WORKER_LOCK_DURATION_MS', 30_000, 1_000, 3_600_000),
    stalledIntervalMs: read.int('WORKER_STALLED_INTERVAL_MS', 30_000, 500, 3_600_000),
    maxStalledCount: read.int('WORKER_MAX_STALLED_COUNT', 3, 0, 100),
    retryBackoffMs: read.int('TRYON_RETRY_BACKOFF_MS', 2_000, 1, 600_000),
    sweepIntervalMs: read.int('WORKER_SWEEP_INTERVAL_MS', 60_000, 100, 86_400_000),
    createsInFlight: read.int('WORKER_CREATES_IN_FLIGHT', 1, 1, 1_000),
    httpHost: read.string('WORKER_HTTP_HOST', '127.0.0.1'),
    httpPort: read.int('WORKER_HTTP_PORT', 3002, 0, 65_535),
  };
}

function readApi(read: EnvReader): Config['api'] {
  return {
    uploadMaxBytes: read.int('UPLOAD_MAX_BYTES', 25 * MB, 1, 200 * MB),
    maxBatchItems: read.int('MAX_BATCH_ITEMS', 10_000, 1, 100_000),
    resultUrlTtlSeconds: read.int('RESULT_URL_TTL_S', 3_600, 1, 7 * 86_400),
    rateLimit: read.int('API_RATE_LIMIT', 600, 0, 1_000_000),
    rateWindowMs: read.int('API_RATE_WINDOW_MS', 60_000, 100, 86_400_000),
  };
}

/** What is safe to print at start: no key, token or secret, and no credentials in URLs. */
/**
 * How /admin answers under this config: `open` in pure dev mode (no API_TOKENS and no
 * ADMIN_TOKEN: anyone may read it), `token` behind ADMIN_TOKEN, `disabled` otherwise.
 */
export function adminAccess(config: Config): 'open' | 'token' | 'disabled' {
  if (config.adminToken) return 'token';
  return config.tenants.length === 0 ? 'open' : 'disabled';
}

export function describeConfig(config: Config): Record<string, unknown> {
  return {
    redisUrl: redactUrl(config.redisUrl),
    prefix: config.prefix,
    listen: `${config.host}:${config.port}`,
    publicUrl: config.publicUrl,
    fitroom: {
      baseUrl: config.fitroom.baseUrl,
      keys: config.fitroom.apiKeys.length,
      budget: `${config.fitroom.rateLimit} per ${config.fitroom.rateWindowMs} ms per key`,
    },
    storage:
      config.storage.driver === 'fs'
        ? { driver: 'fs', dataDir: config.storage.dataDir }
        : {
            driver: 's3',
            bucket: config.storage.bucket,
            endpoint: config.storage.endpoint ?? 'AWS',
          },
    tenants: config.tenants.length === 0 ? 'open dev tenant' : config.tenants.map((t) => t.id),
    apiRateLimit:
      config.api.rateLimit === 0
        ? 'off'
        : `${config.api.rateLimit} per ${config.api.rateWindowMs} ms per tenant`,
    admin: {
      open: 'open (dev mode: API_TOKENS and ADMIN_TOKEN are empty)',
      token: 'behind ADMIN_TOKEN',
      disabled: 'disabled (set ADMIN_TOKEN)',
    }[adminAccess(config)],
    webhookSecret: config.webhooks.secret ? 'set' : 'generated (dev)',
  };
}
