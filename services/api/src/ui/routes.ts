import formbody from '@fastify/formbody';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Tenant } from '@tryon/config';
import type { ItemStatus } from '@tryon/domain';
import { InvalidCursorError, publicItem, type BatchRecord } from '@tryon/records';
import type { RouteDeps } from '../deps.js';
import { ApiError, describeError, itemNotFound } from '../errors.js';
import { streamBatchEvents } from '../lib/batch-events.js';
import { adminStatus } from '../routes/admin.js';
import { CSS, JS } from './assets.js';
import type { SafeHtml } from './html.js';
import { CONTENT_SECURITY_POLICY, layout } from './layout.js';
import {
  batchesPage,
  batchPage,
  batchRows,
  errorPage,
  loginPage,
  operatorBody,
  operatorPage,
} from './pages.js';
import { safeNext, UiSession } from './session.js';
import { THUMB_ROLES, ThumbnailService, type ThumbRole } from './thumbs.js';

const ITEM_STATUSES = new Set<string>(['queued', 'running', 'completed', 'failed', 'cancelled']);
const PAGE_SIZE = 60;
const BATCHES_LISTED = 50;
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A /ui request without a valid session: pages go to the login form, the rest answer 401. */
class SignInRequired extends Error {
  constructor(readonly admin: boolean) {
    super(admin ? 'the operator page needs the admin token' : 'sign in with your API token');
  }
}

const NOTICES: Record<string, string> = {
  retry: 'The failed items are queued again.',
  cancel: 'The items that had not started are cancelled.',
};

interface IdParams {
  id: string;
}

/** A query string value given once (repeated or missing: undefined). */
const one = (query: unknown, name: string): string | undefined => {
  const value = (query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
};

/**
 * The dashboard under /ui: server-rendered pages over the same records and BatchService as the
 * API, scoped to the signed-in tenant; the operator page over what /admin/status computes.
 * Routes are hidden from the OpenAPI document (they answer HTML, not the API's JSON).
 */
export const uiRoutes: FastifyPluginAsync<RouteDeps> = async (app, deps) => {
  const { records, batches, storage, config } = deps;
  const session = new UiSession(deps.auth, config);
  const thumbs = new ThumbnailService({
    config,
    records,
    storage,
    lookup: deps.lookup,
  });
  app.addHook('onClose', () => thumbs.close());
  const view = (batch: BatchRecord) => deps.eta.view(batch);
  await app.register(formbody, { bodyLimit: 16 * 1024 });

  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .header('x-frame-options', 'DENY');
    if (request.method !== 'GET' && request.method !== 'HEAD' && !session.sameOrigin(request)) {
      throw new ApiError(403, 'forbidden', 'cross-site form posts are refused');
    }
  });

  const who = (request: FastifyRequest) => ({
    tenant: session.tenant(request)?.id ?? null,
    admin: session.isAdmin(request),
    canSignOut: !session.open,
  });

  const sendPage = (
    request: FastifyRequest,
    reply: FastifyReply,
    title: string,
    body: SafeHtml,
    status = 200,
    signedIn = true,
  ) =>
    reply
      .status(status)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(layout({ title, body, who: signedIn ? who(request) : null }).value);

  const sendFragment = (reply: FastifyReply, body: SafeHtml) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body.value);

  const tenantOf = (request: FastifyRequest): Tenant => {
    const tenant = session.tenant(request);
    if (!tenant) throw new SignInRequired(false);
    return tenant;
  };

  const requireAdmin = (request: FastifyRequest): void => {
    if (!session.isAdmin(request)) throw new SignInRequired(true);
  };

  const checkId = (id: string, what: 'batch' | 'item') => {
    if (!ID.test(id)) {
      throw what === 'batch'
        ? new ApiError(404, 'batch_not_found', 'no batch with this id')
        : itemNotFound();
    }
  };

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof SignInRequired) {
      const isPage =
        request.method === 'GET' &&
        !one(request.query, 'partial') &&
        !/^\/ui\/(?:batches\/[^/]+\/events|thumbs|items)\b/.test(request.url);
      if (isPage) {
        const next = safeNext(request.url);
        return reply
          .status(303)
          .header('cache-control', 'no-store')
          .redirect(`/ui/login${next ? `?next=${encodeURIComponent(next)}` : ''}`, 303);
      }
      return sendPage(
        request,
        reply,
        'Sign in',
        errorPage({ status: 401, message: error.message }),
        401,
      );
    }
    const answer = describeError(error);
    if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ status: answer.status, code: answer.code }, answer.message);
    return sendPage(
      request,
      reply,
      answer.status === 404 ? 'Not found' : 'Error',
      errorPage({ status: answer.status, message: answer.message }),
      answer.status,
    );
  });

  app.setNotFoundHandler((request, reply) =>
    sendPage(
      request,
      reply,
      'Not found',
      errorPage({ status: 404, message: 'There is no such page.' }),
      404,
    ),
  );

  app.get('/assets/app.css', (_request, reply) =>
    reply
      .type('text/css; charset=utf-8')
      .header('cache-control', 'public, max-age=86400')
      .send(CSS),
  );
  app.get('/assets/app.js', (_request, reply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=86400')
      .send(JS),
  );

  app.get('/login', async (request, reply) => {
    const next = safeNext(one(request.query, 'next'));
    if (session.open) return reply.redirect(next ?? '/ui', 303);
    const forAdmin = next !== null && /^\/(ui\/operator|admin\/queues)/.test(next);
    const message = forAdmin ? 'This page needs the admin token.' : null;
    return sendPage(request, reply, 'Sign in', loginPage({ message, next }), 200, false);
  });

  app.post('/login', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' ? body.token.trim() : '';
    const next = safeNext(body.next);
    if (!token) {
      const page = loginPage({ message: 'Enter a token.', next });
      return sendPage(request, reply, 'Sign in', page, 400, false);
    }
    const { tenant, admin } = session.check(token);
    if (!tenant && !admin) {
      request.log.info('dashboard sign-in refused: unknown token');
      const page = loginPage({ message: 'That token is not valid.', next });
      return sendPage(request, reply, 'Sign in', page, 401, false);
    }
    session.signIn(reply, token, { tenant: tenant !== null, admin });
    request.log.info({ tenant: tenant?.id ?? null, admin }, 'dashboard sign-in');
    return reply.redirect(next ?? (tenant || deps.auth.open ? '/ui' : '/ui/operator'), 303);
  });

  app.post('/logout', async (_request, reply) => {
    session.signOut(reply);
    return reply.redirect(session.open ? '/ui' : '/ui/login', 303);
  });

  app.get('/', async (request, reply) => {
    const tenant = tenantOf(request);
    const list = await Promise.all(
      (await records.listBatches(tenant.id, BATCHES_LISTED)).map(view),
    );
    if (one(request.query, 'partial') === 'rows') return sendFragment(reply, batchRows(list));
    return sendPage(request, reply, 'Batches', batchesPage(list));
  });

  app.get<{ Params: IdParams }>('/batches/:id', async (request, reply) => {
    const tenant = tenantOf(request);
    checkId(request.params.id, 'batch');
    const status = one(request.query, 'status');
    const cursor = one(request.query, 'cursor');
    if (status !== undefined && !ITEM_STATUSES.has(status)) {
      throw new ApiError(
        400,
        'validation_error',
        'status must be one of ' + [...ITEM_STATUSES].join(', '),
      );
    }
    if (cursor !== undefined && cursor.length > 64) {
      throw new ApiError(400, 'invalid_cursor', 'cursor is not one this page gave out');
    }
    const batch = await batches.get(tenant.id, request.params.id);
    let page;
    try {
      page = await records.listItems(batch.id, {
        status: status as ItemStatus | undefined,
        limit: PAGE_SIZE,
        cursor,
      });
    } catch (error) {
      if (error instanceof InvalidCursorError) {
        throw new ApiError(400, 'invalid_cursor', 'cursor is not one this page gave out');
      }
      throw error;
    }
    const done = one(request.query, 'done');
    const body = batchPage({
      batch: await view(batch),
      items: page.items.map((item) => publicItem(item, config.publicUrl)),
      status: status as ItemStatus | undefined,
      cursor,
      nextCursor: page.nextCursor,
      notice: done ? (NOTICES[done] ?? null) : null,
    });
    return sendPage(request, reply, `Batch ${batch.id}`, body);
  });

  app.get<{ Params: IdParams }>('/batches/:id/events', async (request, reply) => {
    const tenant = tenantOf(request);
    checkId(request.params.id, 'batch');
    const batch = await batches.get(tenant.id, request.params.id);
    await streamBatchEvents(request, reply, deps, batch);
  });

  for (const action of ['retry', 'cancel'] as const) {
    app.post<{ Params: IdParams }>(`/batches/:id/${action}`, async (request, reply) => {
      const tenant = tenantOf(request);
      checkId(request.params.id, 'batch');
      const batch = await batches[action](tenant.id, request.params.id);
      request.log.info({ batchId: batch.id, action }, 'batch action from the dashboard');
      return reply.redirect(`/ui/batches/${batch.id}?done=${action}`, 303);
    });
  }

  app.get<{ Params: IdParams & { role: string } }>('/thumbs/:id/:role', async (request, reply) => {
    const tenant = tenantOf(request);
    checkId(request.params.id, 'item');
    const role = request.params.role as ThumbRole;
    if (!THUMB_ROLES.includes(role)) throw new ApiError(404, 'not_found', 'no such image');
    const item = await records.getItem(request.params.id, tenant.id);
    if (!item) throw itemNotFound();
    const thumb = await thumbs.forItem(item, role);
    if (!thumb) {
      void reply.header('cache-control', 'no-store');
      throw new ApiError(404, 'image_not_found', `the ${role} image is not there (yet)`);
    }
    // Per-item URLs never change what they show (a new result gets a new ?v=).
    void reply
      .header('cache-control', 'private, max-age=31536000, immutable')
      .header('etag', thumb.etag);
    if (request.headers['if-none-match'] === thumb.etag) return reply.status(304).send();
    return reply.type('image/webp').send(thumb.body);
  });

  app.get<{ Params: IdParams }>('/items/:id/result', async (request, reply) => {
    const tenant = tenantOf(request);
    checkId(request.params.id, 'item');
    const item = await records.getItem(request.params.id, tenant.id);
    if (!item) throw itemNotFound();
    if (item.status !== 'completed' || !item.result) {
      throw new ApiError(404, 'result_not_ready', `the item is ${item.status}, not completed`);
    }
    const object = await storage.get(item.result.key);
    if (!object) throw new ApiError(404, 'result_not_found', 'the stored result is missing');
    return reply
      .type(item.result.content_type || object.contentType)
      .header('content-length', object.bytes)
      .header('etag', `"${item.result.sha256}"`)
      .header('cache-control', 'private, max-age=3600')
      .send(object.body);
  });

  app.get('/operator', async (request, reply) => {
    requireAdmin(request);
    const status = await adminStatus(deps);
    if (one(request.query, 'partial')) return sendFragment(reply, operatorBody(status));
    return sendPage(request, reply, 'Operator', operatorPage(status));
  });
};
