import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger } from 'fastify';
import { StorageError } from '@tryon/storage';
import type { RouteDeps } from '../deps.js';
import { READY_CHECK_TIMEOUT_MS } from '../limits.js';
import { Health, Readiness } from '../schemas.js';

/** A short reason for an unauthenticated answer; the details go to the log. */
function reason(error: unknown): string {
  if (error instanceof StorageError) return `storage error: ${error.code}`;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? `error: ${code}` : 'error';
}

/** Resolves to "ok" or to why not, within the timeout; never throws. */
async function probe(
  name: string,
  check: () => Promise<unknown>,
  log: FastifyBaseLogger,
): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(
      () => resolve(`no answer within ${READY_CHECK_TIMEOUT_MS} ms`),
      READY_CHECK_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([
      check().then(
        () => 'ok',
        (error: unknown) => {
          log.warn({ err: error, check: name }, 'readiness check failed');
          return reason(error);
        },
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness, readiness and Prometheus: no credentials, for orchestrators and scrapers. */
export const healthRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['ops'],
        summary: 'Liveness: the process is up',
        security: [],
        response: { 200: Health },
      },
    },
    () => Promise.resolve({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['ops'],
        summary: 'Readiness: Redis answers and storage is reachable',
        security: [],
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (request, reply) => {
      const [redis, storage] = await Promise.all([
        probe('redis', () => deps.redis.ping(), request.log),
        probe('storage', () => deps.storage.check(), request.log),
      ]);
      const ready = redis === 'ok' && storage === 'ok';
      return reply
        .status(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not_ready', checks: { redis, storage } });
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics',
        security: [],
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    },
  );
  done();
};
