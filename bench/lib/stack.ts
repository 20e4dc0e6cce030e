/**
 * One benchmark stack: the FitRoom simulator, one api and N worker processes on a Redis from
 * REDIS_URL (a fresh QUEUE_PREFIX per run) and their own temp DATA_DIR, all configured only by
 * the environment, as in production. `close()` stops them, deletes the run's Redis keys and
 * temp dir (unless kept), and is also registered to run on errors and signals.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { onCleanup } from './cleanup.js';
import { freePort, RssSampler, startService, type ServiceProcess } from './processes.js';

export interface StackOptions {
  scenario: string;
  workers: number;
  keys: number;
  timeScale: number;
  jitter: number;
  seed: number | undefined;
  /** Tenant ids; each gets a token in API_TOKENS. */
  tenants: string[];
  /** Added to the api and worker environment (--env). */
  extraEnv: Record<string, string>;
  /** Added to the simulator's environment (SIM_DURATION_FAMILY, SIM_PROGRESS_CURVE, ...). */
  simEnv?: Record<string, string>;
  keep: boolean;
  /** Services from the production trees (out/<service>/dist/main.js), not through tsx. */
  built: boolean;
  progress: (line: string) => void;
}

export interface Stack {
  prefix: string;
  runDir: string;
  dataDir: string;
  apiUrl: string;
  simUrl: string;
  adminToken: string;
  tokens: Record<string, string>;
  apiKeys: string[];
  sim: ServiceProcess;
  api: ServiceProcess;
  workers: ServiceProcess[];
  rss: RssSampler;
  /** The api and worker environment (secrets included; never print it). */
  env: Record<string, string>;
  /** Throws, with the tail of its output, if any service process exited. */
  assertAlive(): void;
  /** Keep the service logs at close (the data dir still goes): the run failed. */
  keepLogs(): void;
  close(): Promise<void>;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** FitRoom durations in real ms at a time scale, as the simulator applies them. */
export const scaled = (fitroomMs: number, timeScale: number): number =>
  Math.max(1, Math.round(fitroomMs / timeScale));

/**
 * The api and worker environment: the production names (packages/config), with FitRoom's
 * budget window, task durations, poll interval and task timeout scaled like the simulator
 * (as packages/testing's serviceEnv does for the tests).
 */
export function serviceEnv(options: {
  redisUrl: string;
  prefix: string;
  simUrl: string;
  apiKeys: string[];
  timeScale: number;
  dataDir: string;
  apiPort: number;
  apiTokens: string;
  adminToken: string;
  webhookSecret: string;
  logLevel: string;
  extra: Record<string, string>;
}): Record<string, string> {
  const s = (ms: number): string => String(scaled(ms, options.timeScale));
  return {
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: options.prefix,
    HOST: '127.0.0.1',
    PORT: String(options.apiPort),
    // Several workers on one machine: each its own free port for /metrics (3002 is taken once).
    WORKER_HTTP_PORT: '0',
    LOG_LEVEL: options.logLevel,
    FITROOM_BASE_URL: options.simUrl,
    FITROOM_API_KEYS: options.apiKeys.join(','),
    FITROOM_RATE_LIMIT: '60',
    FITROOM_RATE_WINDOW_MS: s(60_000),
    FITROOM_NORMAL_TASK_MS: s(9_000),
    FITROOM_HD_TASK_MS: s(30_000),
    FITROOM_POLL_INTERVAL_MS: s(2_000),
    FITROOM_TASK_TIMEOUT_MS: s(600_000),
    STORAGE_DRIVER: 'fs',
    DATA_DIR: options.dataDir,
    API_TOKENS: options.apiTokens,
    ADMIN_TOKEN: options.adminToken,
    WEBHOOK_SECRET: options.webhookSecret,
    // The per-tenant request limit stays in the request path (its cost is measured) but is set
    // far above what a benchmark sends: the status load alone is 12,000 requests a minute.
    API_RATE_LIMIT: '1000000',
    ...options.extra,
  };
}

function redisClient(url: string): Redis {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  return client;
}

async function checkRedis(url: string): Promise<void> {
  const client = redisClient(url);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new Error(
      `Redis does not answer at REDIS_URL (${url.replace(/\/\/[^@]*@/, '//***@')}): ` +
        `${error instanceof Error ? error.message : String(error)}. Start redis-server or set REDIS_URL.`,
      { cause: error },
    );
  } finally {
    client.disconnect();
  }
}

/** Deletes every key under `prefix:` (SCAN + UNLINK), bounded in count and time. */
async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  const client = redisClient(url);
  let deleted = 0;
  try {
    await client.connect();
    const deadline = Date.now() + 60_000;
    let cursor = '0';
    for (let round = 0; round < 100_000 && Date.now() < deadline; round++) {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 2_000);
      if (keys.length > 0) deleted += await client.unlink(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    client.disconnect();
  }
  return deleted;
}

/** GETs `url` until it answers 200; throws after `timeoutMs` or when `alive()` turns false. */
async function waitForHttp(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 10_000; attempt++) {
    if (!alive()) throw new Error(`the process behind ${url} exited`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function failureReport(processes: ServiceProcess[]): string {
  return processes
    .map((p) => `--- ${p.name} (pid ${p.pid}, log ${p.logFile}) ---\n${p.output().slice(-3_000)}`)
    .join('\n');
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  await checkRedis(redisUrl);

  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const prefix = `bench-${options.scenario}-${runId}`;
  const runDir = await mkdtemp(join(tmpdir(), `tryon-bench-${options.scenario}-`));
  const dataDir = join(runDir, 'data');
  const logDir = join(runDir, 'logs');
  await mkdir(dataDir, { recursive: true });
  await mkdir(logDir, { recursive: true });

  const processes: ServiceProcess[] = [];
  const workers: ServiceProcess[] = [];
  const rss = new RssSampler(() => processes);
  let keysDeleted = 0;
  let keepLogs = false;

  const close = onCleanup(async () => {
    await rss.stop();
    // Workers and api first (they write to Redis), then the simulator.
    await Promise.all(processes.filter((p) => p.name !== 'sim').map((p) => p.stop()));
    await Promise.all(processes.filter((p) => p.name === 'sim').map((p) => p.stop()));
    if (options.keep) {
      options.progress(`kept: ${runDir} (data, logs) and Redis keys ${prefix}:*`);
      return;
    }
    keysDeleted = await deleteRedisKeys(redisUrl, prefix).catch((error: unknown) => {
      console.error(`bench: could not delete Redis keys ${prefix}:*:`, error);
      return 0;
    });
    await rm(keepLogs ? dataDir : runDir, { recursive: true, force: true });
    options.progress(
      `cleaned up ${keepLogs ? dataDir : runDir} and ${keysDeleted} Redis keys under ${prefix}:`,
    );
    if (keepLogs) console.error(`bench: the run failed; service logs kept in ${logDir}`);
  });

  try {
    const secret = (bytes: number): string => randomBytes(bytes).toString('hex');
    const apiKeys = Array.from({ length: options.keys }, (_, i) => `bench-key-${i + 1}`);
    const tokens: Record<string, string> = {};
    for (const tenant of options.tenants) tokens[tenant] = `${tenant}-${secret(12)}`;
    const adminToken = `admin-${secret(12)}`;
    const [simPort, apiPort] = [await freePort(), await freePort()];
    const simUrl = `http://127.0.0.1:${simPort}`;
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    const launch = { built: options.built, logDir };
    const sim = startService(
      'sim',
      'sim',
      {
        SIM_HOST: '127.0.0.1',
        SIM_PORT: String(simPort),
        SIM_KEYS: apiKeys.map((k) => `${k}:10000000`).join(','),
        SIM_TIME_SCALE: String(options.timeScale),
        SIM_JITTER: String(options.jitter),
        SIM_LOG: 'false',
        ...(options.seed !== undefined && { SIM_SEED: String(options.seed) }),
        ...options.simEnv,
      },
      launch,
    );
    processes.push(sim);
    await waitForHttp(`${simUrl}/_sim/config`, 30_000, () => sim.running);

    const env = serviceEnv({
      redisUrl,
      prefix,
      simUrl,
      apiKeys,
      timeScale: options.timeScale,
      dataDir,
      apiPort,
      apiTokens: Object.entries(tokens)
        .map(([tenant, token]) => `${tenant}:${token}`)
        .join(','),
      adminToken,
      webhookSecret: secret(24),
      logLevel: 'warn',
      extra: options.extraEnv,
    });

    const api = startService('api', 'api', env, launch);
    processes.push(api);
    for (let i = 1; i <= options.workers; i++) {
      // Workers log at info so their "worker started" line says they are consuming.
      const worker = startService(`worker-${i}`, 'worker', { ...env, LOG_LEVEL: 'info' }, launch);
      processes.push(worker);
      workers.push(worker);
    }
    rss.start();

    // Generous: on a shared, loaded machine tsx alone can take a minute to start a service.
    await waitForHttp(`${apiUrl}/readyz`, 180_000, () => api.running);
    const started = await Promise.all(
      workers.map((w) => w.waitForOutput('worker started', 60_000)),
    );
    for (const [i, worker] of workers.entries()) {
      if (!worker.running) throw new Error(`${worker.name} exited while starting`);
      if (!started[i])
        options.progress(`${worker.name}: no "worker started" line in 60 s; going on`);
    }

    const assertAlive = (): void => {
      const dead = processes.filter((p) => !p.running && !p.stopping);
      if (dead.length > 0) {
        throw new Error(
          `${dead.map((p) => `${p.name} exited (${p.child.exitCode ?? p.child.signalCode})`).join(', ')}\n` +
            failureReport(dead),
        );
      }
    };

    options.progress(
      `stack up: sim ${simUrl}, api ${apiUrl}, ${options.workers} worker(s), ${options.keys} key(s), ` +
        `time scale ${options.timeScale}, prefix ${prefix}, logs ${logDir}`,
    );
    return {
      prefix,
      runDir,
      dataDir,
      apiUrl,
      simUrl,
      adminToken,
      tokens,
      apiKeys,
      sim,
      api,
      workers,
      rss,
      env,
      assertAlive,
      keepLogs: () => {
        keepLogs = true;
      },
      close,
    };
  } catch (error) {
    const report = failureReport(processes);
    keepLogs = true;
    await close();
    if (error instanceof Error) error.message += report ? `\n${report}` : '';
    throw error;
  }
}
