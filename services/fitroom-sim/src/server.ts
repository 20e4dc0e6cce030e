import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { SimConfigError } from './config.js';
import { HttpError, errorBody } from './errors.js';
import { readForm } from './multipart.js';
import { RESULTS_ROUTE } from './signed-urls.js';
import { ROUTES, type Simulator } from './simulator.js';

const API_ROUTES = new Set<string>(Object.values(ROUTES));

/** "METHOD /pattern" of an API route, or undefined for /_sim routes and unknown paths. */
function apiRoute(request: FastifyRequest): string | undefined {
  const { method, url } = request.routeOptions;
  if (typeof method !== 'string' || !url) return undefined;
  const route = `${method} ${url}`;
  return API_ROUTES.has(route) ? route : undefined;
}

function sendError(reply: FastifyReply, status: number, message?: string): FastifyReply {
  return reply.code(status).type('application/json').send(errorBody(status, message));
}

/**
 * The HTTP face of the simulator. On an API request, in this order: X-API-KEY (401), the
 * rolling window (429, counted on arrival, before the body is read), injected 500/503, then
 * the handler: multipart validation (400/413), credits (402, create only), the answer.
 * /_sim routes are neither authenticated nor counted.
 */
export function buildServer(sim: Simulator): FastifyInstance {
  const app = Fastify({
    logger: sim.options.logger
      ? {
          redact: {
            paths: ['req.headers["x-api-key"]', 'req.headers.authorization'],
            censor: '***',
          },
        }
      : false,
    exposeHeadRoutes: false,
    forceCloseConnections: true,
  });

  // Bodies that are not multipart are read (up to the default 1 MiB) so the handler can answer 400.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  void app.register(fastifyMultipart, { throwFileSizeLimit: true });

  const keyOf = new WeakMap<FastifyRequest, string>();

  app.addHook('onRequest', async (request, reply) => {
    if (!apiRoute(request)) return;
    const key = request.headers['x-api-key'];
    const admission = sim.admit(key);
    if (!admission.ok) {
      if (admission.status === 429) {
        if (typeof key === 'string') keyOf.set(request, key);
        void reply.header('retry-after', String(admission.retryAfterSeconds));
      }
      return sendError(reply, admission.status);
    }
    keyOf.set(request, key as string);
    const fault = sim.injectedFault();
    if (fault) return sendError(reply, fault);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const route = apiRoute(request);
    if (!route) return payload;
    const key = keyOf.get(request);
    if (key !== undefined) sim.record(key, route, reply.statusCode);
    const delay = sim.latency();
    if (delay > 0) await sleep(delay);
    return payload;
  });

  app.setErrorHandler((error: unknown, request, reply) => {
    if (error instanceof HttpError) return sendError(reply, error.statusCode, error.message);
    const status =
      typeof error === 'object' && error !== null && 'statusCode' in error
        ? Number(error.statusCode)
        : 500;
    if (status >= 400 && status < 500) {
      const message = error instanceof Error ? error.message : undefined;
      return sendError(
        reply,
        status,
        status === 400 ? `Your request is invalid: ${message}` : message,
      );
    }
    request.log.error({ err: error }, 'unexpected error');
    return sendError(reply, 500);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, `Route ${request.method} ${request.url.split('?')[0]} not found.`),
  );

  const maxBytes = (): number => sim.options.maxUploadBytes;
  const linkBase = (request: FastifyRequest): string | undefined =>
    request.host ? `${request.protocol}://${request.host}` : undefined;

  app.post('/api/tryon/v2/tasks', async (request) =>
    sim.create(keyOf.get(request) ?? '', await readForm(request, maxBytes())),
  );

  app.get<{ Params: { id: string } }>('/api/tryon/v2/tasks/:id', (request) =>
    sim.poll(keyOf.get(request) ?? '', request.params.id, linkBase(request)),
  );

  app.post('/api/tryon/input_check/v1/model', async (request) =>
    sim.checkModel(await readForm(request, maxBytes())),
  );

  app.post('/api/tryon/input_check/v1/clothes', async (request) =>
    sim.checkClothes(await readForm(request, maxBytes())),
  );

  app.get<{ Params: { file: string }; Querystring: Record<string, unknown> }>(
    RESULTS_ROUTE,
    async (request, reply) => {
      const body = await sim.download(
        request.params.file,
        request.query.expires,
        request.query.signature,
      );
      return reply.type('image/jpeg').header('cache-control', 'private, no-store').send(body);
    },
  );

  app.get('/_sim/stats', () => sim.stats());

  app.get<{ Querystring: Record<string, unknown> }>('/_sim/tasks', (request, reply) => {
    const { key, after, limit } = request.query;
    const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const afterText = text(after);
    const limitText = text(limit);
    if (afterText !== undefined && !/^\d{1,16}$/.test(afterText)) {
      return sendError(reply, 400, 'Your request is invalid: after must be a task id.');
    }
    if (limitText !== undefined && !/^[1-9]\d{0,5}$/.test(limitText)) {
      return sendError(reply, 400, 'Your request is invalid: limit must be a positive integer.');
    }
    return sim.taskTimes({
      ...(text(key) !== undefined && { key: text(key) }),
      ...(afterText !== undefined && { after: afterText }),
      ...(limitText !== undefined && { limit: Number(limitText) }),
    });
  });

  app.get('/_sim/config', () => sim.knobs());

  app.post<{ Body: unknown }>('/_sim/config', (request, reply) => {
    const patch = request.body;
    if (typeof patch !== 'object' || patch === null || Buffer.isBuffer(patch)) {
      return sendError(
        reply,
        400,
        'Your request is invalid: send a JSON object of simulator options.',
      );
    }
    try {
      return sim.configure(patch);
    } catch (error) {
      if (error instanceof SimConfigError) return sendError(reply, 400, error.message);
      throw error;
    }
  });

  return app;
}
