import fastifyCors from '@fastify/cors';
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { parse as parseRange } from 'range-parser';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpError } from './errors.js';
import { sha256hex } from './images.js';
import { readForm } from './multipart.js';
import type { RouteName } from './options.js';
import { RESULTS_ROUTE } from './signed-urls.js';
import { registerSimRoutes, sendError } from './sim-routes.js';
import { ROUTES, type Simulator } from './simulator.js';

const ROUTE_NAMES = new Map<string, RouteName>(
  Object.entries(ROUTES).map(([name, route]) => [route, name as RouteName]),
);

/** "METHOD /pattern" of an API route, or undefined for /_sim routes and unknown paths. */
function apiRoute(request: FastifyRequest): string | undefined {
  const { method, url } = request.routeOptions;
  if (typeof method !== 'string' || !url) return undefined;
  const route = `${method} ${url}`;
  return ROUTE_NAMES.has(route) ? route : undefined;
}

/** The API key each admitted (or rate-limited) request was counted under. */
type KeyOf = WeakMap<FastifyRequest, string>;

/**
 * On arrival of an API request: X-API-KEY (401), the rolling window (429, counted before the
 * body is read), a spurious 429 with Retry-After 0 or a past date, injected 500/503. On send:
 * the request is counted in the stats, then latency is added.
 */
function registerAdmission(app: FastifyInstance, sim: Simulator, keyOf: KeyOf): void {
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
    const spurious = sim.spurious429();
    if (spurious) {
      // A client must not read "0" or a past date as "wait forever" nor as "never pause".
      const past = new Date(Date.now() - 60_000).toUTCString();
      void reply.header('retry-after', spurious === 'zero' ? '0' : past);
      return sendError(reply, 429);
    }
    const fault = sim.injectedFault();
    if (fault) return sendError(reply, fault);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const route = apiRoute(request);
    if (!route) return payload;
    const key = keyOf.get(request);
    if (key !== undefined) sim.record(key, route, reply.statusCode);
    const delay = sim.latency(ROUTE_NAMES.get(route));
    if (delay > 0) await sleep(delay);
    return payload;
  });
}

function registerErrorHandlers(app: FastifyInstance): void {
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
}

/** Create: the task is made first; a fault after create then decides how (or if) it answers. */
function registerCreate(app: FastifyInstance, sim: Simulator, keyOf: KeyOf): void {
  app.post('/api/tryon/v2/tasks', async (request, reply) => {
    const key = keyOf.get(request) ?? '';
    const { answer, fault } = await sim.create(
      key,
      await readForm(request, sim.options.maxUploadBytes),
    );
    if (fault === 'resetAfterCreate') {
      sim.record(key, ROUTES.create, 'reset');
      void reply.hijack();
      request.raw.socket.destroy();
      return reply;
    }
    if (fault === 'errorAfterCreate') throw new HttpError(500);
    if (fault === 'lateCreate') await sleep(sim.lateCreateDelay());
    return answer;
  });
}

function registerApiRoutes(app: FastifyInstance, sim: Simulator, keyOf: KeyOf): void {
  const maxBytes = (): number => sim.options.maxUploadBytes;
  const linkBase = (request: FastifyRequest): string | undefined =>
    request.host ? `${request.protocol}://${request.host}` : undefined;

  registerCreate(app, sim, keyOf);
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
      return sendStored(request, reply.type('image/jpeg'), body);
    },
  );
}

/**
 * A result as FitRoom's signed storage URLs serve it: a strong ETag, 304 for a matching
 * If-None-Match, one byte range as 206 (416 when unsatisfiable; several, or a malformed one,
 * get the whole image).
 */
function sendStored(request: FastifyRequest, reply: FastifyReply, body: Buffer): FastifyReply {
  const etag = `"${sha256hex(body)}"`;
  void reply
    .header('etag', etag)
    .header('accept-ranges', 'bytes')
    .header('cache-control', 'private, max-age=0');
  const ifNoneMatch = request.headers['if-none-match'];
  const tags = (ifNoneMatch ?? '').split(',').map((tag) => tag.trim().replace(/^W\//, ''));
  if (ifNoneMatch?.trim() === '*' || tags.includes(etag)) return reply.code(304).send();
  const range = request.headers.range;
  const ifRange = request.headers['if-range'];
  if (typeof range !== 'string' || (typeof ifRange === 'string' && ifRange.trim() !== etag)) {
    return reply.send(body);
  }
  const parsed = parseRange(body.length, range);
  if (parsed.type !== 'bytes' || (parsed.code & 1) !== 0 || parsed.ranges.length > 1) {
    return reply.send(body);
  }
  const [wanted] = parsed.ranges;
  if (!wanted) return reply.code(416).header('content-range', `bytes */${body.length}`).send();
  return reply
    .code(206)
    .header('content-range', `bytes ${wanted.start}-${wanted.end}/${body.length}`)
    .send(body.subarray(wanted.start, wanted.end + 1));
}

/**
 * The HTTP face of the simulator. On an API request, in this order: X-API-KEY (401), the
 * rolling window (429, counted on arrival, before the body is read), spurious 429s, injected
 * 500/503, then the handler: multipart validation (400/413), credits (402, create only), the
 * answer (or a fault after create). /_sim routes are neither authenticated nor counted.
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
  // Browser clients send X-API-KEY, hence a preflight: answered for any origin, before the
  // key check, and not counted (as a CDN in front of an API answers it).
  void app.register(fastifyCors, {
    origin: '*',
    methods: ['GET', 'HEAD', 'POST', 'OPTIONS'],
    allowedHeaders: ['X-API-KEY', 'Authorization', 'Content-Type', 'Range', 'If-None-Match'],
    exposedHeaders: ['Retry-After', 'ETag', 'Content-Range', 'Content-Length'],
    maxAge: 600,
  });

  const keyOf: KeyOf = new WeakMap();
  registerAdmission(app, sim, keyOf);
  registerErrorHandlers(app);
  registerApiRoutes(app, sim, keyOf);
  registerSimRoutes(app, sim);
  return app;
}
