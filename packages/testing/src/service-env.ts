import { inject } from 'vitest';

export interface ServiceEnvOptions {
  /** Redis key prefix and BullMQ prefix of this test: never shared with another run. */
  prefix: string;
  simUrl: string;
  apiKeys: string[];
  /** The simulator's time scale: every FitRoom duration and the budget window shrink with it. */
  timeScale: number;
  bucket?: string;
  dataDir?: string;
  extra?: Record<string, string>;
}

/**
 * The environment of an api or worker process in tests: the real config names (DESIGN.md),
 * test Redis and S3, FitRoom durations and budget window scaled like the simulator.
 */
export function serviceEnv(options: ServiceEnvOptions): Record<string, string> {
  const scale = (ms: number) => String(Math.max(1, Math.round(ms / options.timeScale)));
  const s3 = inject('s3');
  const storage: Record<string, string> = options.bucket
    ? {
        STORAGE_DRIVER: 's3',
        S3_BUCKET: options.bucket,
        S3_ENDPOINT: s3.endpoint,
        S3_REGION: s3.region,
        S3_FORCE_PATH_STYLE: String(s3.forcePathStyle),
        S3_CHECKSUM: s3.checksum,
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      }
    : { STORAGE_DRIVER: 'fs', DATA_DIR: options.dataDir ?? '.tmp/data' };
  return {
    REDIS_URL: inject('redisUrl'),
    QUEUE_PREFIX: options.prefix,
    HOST: '127.0.0.1',
    PORT: '0',
    WORKER_HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
    FITROOM_BASE_URL: options.simUrl,
    FITROOM_API_KEYS: options.apiKeys.join(','),
    FITROOM_RATE_WINDOW_MS: scale(60_000),
    FITROOM_NORMAL_TASK_MS: scale(9_000),
    FITROOM_HD_TASK_MS: scale(30_000),
    FITROOM_POLL_INTERVAL_MS: scale(2_000),
    FITROOM_TASK_TIMEOUT_MS: scale(600_000),
    WEBHOOK_RETRY_SCHEDULE: '50ms,100ms,200ms,400ms',
    WEBHOOK_SECRET: 'test-master-webhook-secret',
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    ...storage,
    ...options.extra,
  };
}
