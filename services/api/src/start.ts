import type { Redis } from 'ioredis';
import { describeConfig, type Config } from '@tryon/config';
import {
  createTryonQueue,
  createWebhookQueue,
  redisConnection,
  redisDurabilityProblems,
} from '@tryon/queues';
import { Operations, Records } from '@tryon/records';
import { createStorage } from '@tryon/storage';
import { buildApp, type ApiApp } from './app.js';
import type { ApiDeps } from './deps.js';

/** Anything given here is used as is and left open by close(); the rest is made from config. */
export type StartApiOverrides = Partial<Omit<ApiDeps, 'config'>>;

export interface RunningApi {
  app: ApiApp;
  /** Where it listens, e.g. http://127.0.0.1:3000 (the bound port when config.port is 0). */
  url: string;
  /** Stops accepting, lets requests in flight finish, closes queues, storage, then Redis. Idempotent. */
  close(): Promise<void>;
}

/**
 * Runs the API in this process: what `pnpm start:api` does, minus signal handling, so tests and
 * `pnpm start` can run it in-process.
 */
export async function startApi(
  config: Config,
  overrides: StartApiOverrides = {},
): Promise<RunningApi> {
  const owned: { name: string; close: () => Promise<unknown> }[] = [];
  let redis: Redis;
  if (overrides.redis) {
    redis = overrides.redis;
  } else {
    const connection = redisConnection(config.redisUrl);
    redis = connection;
    owned.push({ name: 'redis', close: () => connection.quit() });
  }
  const storage = overrides.storage ?? createStorage(config.storage);
  if (!overrides.storage)
    owned.unshift({ name: 'storage', close: () => Promise.resolve(storage.close()) });
  const tryonQueue = overrides.tryonQueue ?? createTryonQueue(redis, config.prefix);
  if (!overrides.tryonQueue)
    owned.unshift({ name: 'tryon queue', close: () => tryonQueue.close() });
  const webhookQueue = overrides.webhookQueue ?? createWebhookQueue(redis, config.prefix);
  if (!overrides.webhookQueue) {
    owned.unshift({ name: 'webhook queue', close: () => webhookQueue.close() });
  }

  const app = buildApp({
    ...overrides,
    config,
    redis,
    storage,
    tryonQueue,
    webhookQueue,
    records: overrides.records ?? new Records(redis, config.prefix),
    operations: overrides.operations ?? new Operations(redis, config.prefix),
  });
  if (!overrides.redis) {
    redis.on('error', (error: Error) => app.log.warn({ err: error }, 'redis connection error'));
  }

  // Each step is closed on its own, so one failure does not keep the rest open.
  const closeOwned = async () => {
    for (const resource of owned) {
      try {
        await resource.close();
      } catch (error) {
        app.log.warn({ err: error, resource: resource.name }, 'error while closing');
      }
    }
  };

  let url: string;
  try {
    url = await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close().catch(() => undefined);
    await closeOwned();
    throw error;
  }
  app.log.info({ config: describeConfig(config), url }, 'api listening');
  for (const problem of await redisDurabilityProblems(redis)) app.log.warn(problem);
  if (config.tenants.length === 0) {
    app.log.warn(
      'API_TOKENS is empty: every request is the open dev tenant "dev" and /admin is ' +
        `${config.adminToken ? 'behind ADMIN_TOKEN' : 'open'}. Set API_TOKENS in production.`,
    );
  }

  let closing: Promise<void> | null = null;
  return {
    app,
    url,
    close: () => {
      closing ??= (async () => {
        await app.close(); // stops accepting; requests in flight finish
        await closeOwned(); // queues, then storage, then Redis
      })();
      return closing;
    },
  };
}
