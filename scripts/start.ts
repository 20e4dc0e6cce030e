/**
 * `pnpm start`: the whole service in one process on its embedded defaults: api, worker, and the
 * FitRoom simulator when FITROOM_API_KEYS is empty. Production runs `pnpm start:api` and
 * `pnpm start:worker` as separate processes instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import closeWithGrace from 'close-with-grace';
import { Redis } from 'ioredis';
import { startApi, startBanner } from '@tryon/api';
import { ConfigError, loadConfig, portInUseMessage, redactUrl, type Config } from '@tryon/config';
import { optionsFromEnv, startSim, type RunningSim } from '@tryon/fitroom-sim';
import { startWorker } from '@tryon/worker';

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A newcomer without Redis running but with redis-server installed still gets a working start. */
async function ensureRedis(config: Config): Promise<ChildProcess | null> {
  if (await redisAnswers(config.redisUrl)) return null;
  const url = new URL(config.redisUrl);
  const local = ['127.0.0.1', 'localhost'].includes(url.hostname);
  if (local) {
    const child = spawn(
      'redis-server',
      ['--bind', '127.0.0.1', '--port', url.port || '6379', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const started = await new Promise<boolean>((resolve) => {
      child.once('error', () => resolve(false));
      const deadline = Date.now() + 5_000;
      const poll = async () => {
        if (await redisAnswers(config.redisUrl)) return resolve(true);
        if (Date.now() > deadline) return resolve(false);
        setTimeout(() => void poll(), 100);
      };
      void poll();
    });
    if (started) {
      console.log(
        `started redis-server for this run on ${redactUrl(config.redisUrl)} (data not kept)`,
      );
      return child;
    }
    child.kill();
  }
  console.error(
    `Redis does not answer at ${redactUrl(config.redisUrl)}. Start one (redis-server, or ` +
      '`docker compose up -d redis`) or set REDIS_URL.',
  );
  process.exit(1);
}

/** Something this run started, closed in reverse order when a later part fails to start. */
const started: { close(): Promise<unknown> }[] = [];

try {
  // A dev run stays on this machine unless HOST says otherwise (the api's own default is
  // 0.0.0.0), and logs warnings only, so the banner below is what a person reads.
  let config = loadConfig({ HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...process.env });
  const redisChild = await ensureRedis(config);
  if (redisChild) started.push({ close: () => Promise.resolve(redisChild.kill()) });
  let sim: RunningSim | null = null;
  if (config.fitroom.apiKeys.length === 0) {
    const simOptions = optionsFromEnv(process.env);
    sim = await listening(startSim(simOptions), 'SIM_PORT');
    started.push(sim);
    config = {
      ...config,
      fitroom: { ...config.fitroom, baseUrl: sim.url, apiKeys: Object.keys(simOptions.keys ?? {}) },
    };
  }
  const worker = await startWorker(config);
  started.push(worker);
  const api = await listening(startApi(config), 'PORT');
  console.log(startBanner(config, { apiUrl: api.url, simulatorUrl: sim?.url ?? null }));
  const grace = closeWithGrace({ delay: 30_000, skip: ['SIGINT'] }, async ({ err }) => {
    if (err) console.error(err);
    await api.close();
    await worker.close();
    await sim?.close();
    redisChild?.kill();
    console.log('try-on batch service stopped cleanly');
  });
  onCtrlC(() => void grace.close());
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

/**
 * Ctrl-C signals the terminal's whole process group, and tsx relays it to this process again
 * when this one does not answer it at once (a busy event loop): a SIGINT within a second of the
 * first is the same Ctrl-C. A later one means "now": exit at once.
 */
function onCtrlC(close: () => void): void {
  let firstAt: number | null = null;
  process.on('SIGINT', () => {
    if (firstAt === null) {
      firstAt = Date.now();
      close();
    } else if (Date.now() - firstAt > 1_000) {
      console.error('second SIGINT, exiting');
      process.exit(1);
    }
  });
}

/**
 * A part that listens on a port: when the port is taken, one line naming it and the setting
 * that moves it (not a stack trace), and whatever this run started already is stopped.
 */
async function listening<T>(starting: Promise<T>, setting: string): Promise<T> {
  try {
    return await starting;
  } catch (error) {
    const message = portInUseMessage(error, setting);
    if (!message) throw error;
    for (const part of started.reverse()) await part.close().catch(() => undefined);
    console.error(message);
    process.exit(1);
  }
}
