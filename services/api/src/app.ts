import cookie from '@fastify/cookie';
import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { ErrorResponse } from '@tryon/domain';
import { RateLimiter } from '@tryon/rate-limiter';
import { Authenticator, tenantOf } from './auth.js';
import { clientErrorHandler, frameworkErrorHandler } from './framework-errors.js';
import type { ApiDeps, RouteDeps } from './deps.js';
import { ApiError, errorHandler, notFoundHandler } from './errors.js';
import { BatchEventStreams } from './lib/batch-events.js';
import { BatchService } from './lib/batches.js';
import { nestedDeeperThan } from './lib/json-depth.js';
import { convertQuery } from './lib/query.js';
import { TenantLimit } from './lib/tenant-limit.js';
import { WebhookReplayer } from './lib/webhook-replay.js';
import { DEFAULT_BODY_LIMIT_BYTES, MAX_JSON_DEPTH, MAX_UPLOAD_FILES } from './limits.js';
import { loggerOptions, requestId } from './logger.js';
import { ApiMetrics } from './metrics.js';
import { registerOpenApi } from './openapi.js';
import { adminRoutes } from './routes/admin.js';
import { adminKeyRoutes } from './routes/admin-keys.js';
import { assetRoutes } from './routes/assets.js';
import { batchRoutes } from './routes/batches.js';
import { fitroomCompatRoutes } from './routes/fitroom-compat.js';
import { healthRoutes } from './routes/health.js';
import { itemRoutes } from './routes/items.js';
import { queueBoardRoutes } from './routes/queue-board.js';
import { webhookRoutes } from './routes/webhooks.js';
import { uiRoutes } from './ui/routes.js';
import { BatchDeadlines } from './lib/batch-deadlines.js';
import { EtaEstimator } from './lib/eta.js';

/**
 * Builds the API from injected dependencies; owns none of them (startApi or a test does).
 * Call `await app.ready()` (or listen) before use.
 */
export function buildApp(deps: ApiDeps): ApiApp {
  const app = createServer(deps);
  const routeDeps = createRouteDeps(app, deps);
  // Order matters to Fastify: hooks and parsers go in before the plugins that inherit them.
  addLifecycleHooks(app, routeDeps);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  addJsonParser(app);
  addRequestHooks(app, routeDeps.metrics);
  registerRoutes(app, routeDeps);
  return app;
}

function createServer(deps: ApiDeps) {
  return Fastify({
    logger: deps.logger === false ? false : loggerOptions(deps.config, deps.logger),
    genReqId: requestId,
    bodyLimit: DEFAULT_BODY_LIMIT_BYTES,
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    ajv: {
      // Unknown fields are a 400, never silently dropped; a wrong type is a 400, never coerced
      // (query strings are converted by their schema below, before validation).
      customOptions: { removeAdditional: false, coerceTypes: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
}

export type ApiApp = ReturnType<typeof createServer>;

/** The services the routes share, built once per app from the injected dependencies. */
function createRouteDeps(app: ApiApp, deps: ApiDeps): RouteDeps {
  const { config } = deps;
  const deadlines = new BatchDeadlines(deps.redis, config.prefix, deps.records);
  const metrics = new ApiMetrics({ tryon: deps.tryonQueue, webhooks: deps.webhookQueue }, () =>
    deadlines.overdue(),
  );
  const limiter =
    deps.limiter ??
    new RateLimiter({
      redis: deps.redis,
      prefix: config.prefix,
      limit: config.fitroom.rateLimit,
      windowMs: config.fitroom.rateWindowMs,
      requestTimeoutMs: config.fitroom.timeoutMs,
    });
  return {
    config,
    redis: deps.redis,
    records: deps.records,
    operations: deps.operations,
    storage: deps.storage,
    tryonQueue: deps.tryonQueue,
    webhookQueue: deps.webhookQueue,
    lookup: deps.lookup,
    limiter,
    auth: new Authenticator(config),
    metrics,
    deadlines,
    batches: new BatchService({
      config,
      records: deps.records,
      tryonQueue: deps.tryonQueue,
      webhookQueue: deps.webhookQueue,
      metrics,
      urlPolicy: {
        allowPrivateNetworks: config.webhooks.allowPrivateNetworks,
        lookup: deps.lookup,
      },
      onBackgroundError: (error) =>
        app.log.error({ err: error }, 'could not queue the jobs of a batch; the sweep will'),
    }),
    replayer: new WebhookReplayer({
      records: deps.records,
      operations: deps.operations,
      webhookQueue: deps.webhookQueue,
      publicUrl: config.publicUrl,
      retryScheduleMs: config.webhooks.retryScheduleMs,
    }),
    tenantLimit: new TenantLimit({
      redis: deps.redis,
      prefix: config.prefix,
      limit: config.api.rateLimit,
      windowMs: config.api.rateWindowMs,
    }),
    batchEvents: new BatchEventStreams(deps.redis, config.prefix, app.log),
    eta: new EtaEstimator({ config, records: deps.records, limiter }),
  };
}

/** Start and end of the app: background work drained, event streams ended, sockets closed. */
function addLifecycleHooks(app: ApiApp, routeDeps: RouteDeps): void {
  app.decorateRequest('tenant', null);
  // Jobs still being added after a 202 go in before the queues close.
  app.addHook('onClose', async () => routeDeps.batches.drain());
  app.decorate('settle', () => routeDeps.batches.drain());
  // Open event streams would hold the server open forever: end them before it closes, then
  // drop their Redis subscriber connection.
  // Node 20 leaves a keep-alive connection open when its request was still running as close()
  // began (until keepAliveTimeout, 72 s): such connections are closed as soon as they go idle.
  let idleSweep: NodeJS.Timeout | undefined;
  app.addHook('preClose', (done) => {
    routeDeps.batchEvents.endAll();
    idleSweep = setInterval(() => app.server.closeIdleConnections(), 50);
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    clearInterval(idleSweep);
    routeDeps.batchEvents.close();
    done();
  });
}

/**
 * JSON only (no text/plain), and an empty JSON body is no body: POST .../cancel from a client
 * that always sends Content-Type: application/json still works.
 */
function addJsonParser(app: ApiApp): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || body.length === 0) {
      done(null, undefined);
      return;
    }
    void parseJson(request, body as string, (error, value) => {
      if (error) done(error, undefined);
      else if (nestedDeeperThan(value, MAX_JSON_DEPTH)) {
        done(
          new ApiError(
            400,
            'invalid_json',
            `body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
          ),
          undefined,
        );
      } else done(null, value);
    });
  });
}

/** Query conversion, the request id header and the request duration metric, on every route. */
function addRequestHooks(app: ApiApp, metrics: ApiMetrics): void {
  // Query strings arrive as text: numbers and booleans are converted by the route's own schema
  // ("10" -> 10), then ajv validates without coercion ("2.5" stays a non-integer, a 400).
  app.addHook('preValidation', (request, _reply, done) => {
    const schema = request.routeOptions.schema?.querystring;
    if (schema && request.query && typeof request.query === 'object') {
      request.query = convertQuery(schema, request.query);
    }
    done();
  });

  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    done();
  });
}

function registerRoutes(app: ApiApp, routeDeps: RouteDeps): void {
  // Cookies are read only by the dashboard (/ui) and the queue board (/admin/queues).
  void app.register(cookie);
  void app.register(multipart, {
    limits: { fileSize: routeDeps.config.api.uploadMaxBytes, files: MAX_UPLOAD_FILES },
  });
  registerOpenApi(app, routeDeps.config.publicUrl);
  void app.register(healthRoutes, routeDeps);
  void app.register(async (v1) => registerTenantRoutes(v1, routeDeps), { prefix: '/v1' });
  // FitRoom's own routes and answers, X-API-KEY a tenant token; errors in FitRoom's shape.
  void app.register(fitroomCompatRoutes, { ...routeDeps, prefix: '/api/tryon' });
  void app.register(
    async (admin) => {
      admin.addHook('onRequest', routeDeps.auth.adminHook);
      await admin.register(adminRoutes, routeDeps);
      await admin.register(adminKeyRoutes, routeDeps);
    },
    { prefix: '/admin' },
  );
  // Its own scope: the admin token as a Bearer header or the dashboard's admin cookie.
  void app.register(queueBoardRoutes, routeDeps);
  void app.register(uiRoutes, { ...routeDeps, prefix: '/ui' });
  // The first address a person opens: the dashboard.
  app.get('/', { schema: { hide: true } }, (_request, reply) => reply.redirect('/ui', 302));
}

/** /v1: a tenant's token, then the per-tenant request limit, then the route. */
async function registerTenantRoutes(v1: ApiApp, routeDeps: RouteDeps): Promise<void> {
  const { config, metrics } = routeDeps;
  // Every tenant route may answer 429 (the per-tenant limit): said once, here, for /docs.
  v1.addHook('onRoute', (route) => {
    const response = (route.schema?.response ?? null) as Record<number, unknown> | null;
    if (response && !(429 in response)) response[429] = ErrorResponse;
  });
  v1.addHook('onRequest', routeDeps.auth.tenantHook);
  // After the token check (401 first), before the body is read.
  v1.addHook('onRequest', async (request) => {
    const verdict = await routeDeps.tenantLimit.take(tenantOf(request).id, request.log);
    if (verdict.allowed) return;
    metrics.rateLimited.inc({ api: 'v1' });
    throw new ApiError(
      429,
      'rate_limited',
      `too many requests: each tenant may send ${config.api.rateLimit} per ` +
        `${config.api.rateWindowMs / 1000} s; retry in ${verdict.retryAfterSeconds} s`,
      verdict.retryAfterSeconds,
    );
  });
  await v1.register(assetRoutes, routeDeps);
  await v1.register(batchRoutes, routeDeps);
  await v1.register(itemRoutes, routeDeps);
  await v1.register(webhookRoutes, routeDeps);
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Resolves once work started after an answer (a batch's jobs) is done; for tests. */
    settle(): Promise<void>;
  }
}
