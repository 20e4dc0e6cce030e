import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { UiSession, ADMIN_COOKIE } from '../ui/session.js';

export const QUEUE_BOARD_PATH = '/admin/queues';

const refuse = (request: FastifyRequest, reply: FastifyReply, status: number, message: string) => {
  const code = status === 401 ? 'unauthorized' : 'forbidden';
  if (status === 401) void reply.header('www-authenticate', 'Bearer');
  // A person in a browser gets a way in; scripts get the API's error shape.
  if (request.method === 'GET' && (request.headers.accept ?? '').includes('text/html')) {
    const next = encodeURIComponent(request.url.split('?')[0] ?? QUEUE_BOARD_PATH);
    return reply
      .status(status)
      .type('text/html; charset=utf-8')
      .send(
        `<!doctype html><title>${status}</title><p>${message}. ` +
          `<a href="/ui/login?next=${next}">Sign in with the admin token</a>.</p>`,
      );
  }
  return reply.status(status).send({ error: { code, message } });
};

/**
 * bull-board over the tryon and webhook queues at /admin/queues, read-only: the records are
 * the truth about items, and retrying or removing jobs behind them would leave the two apart.
 * Needs the admin token as a Bearer header (scripts) or the admin cookie of the dashboard's
 * sign-in (a browser cannot send the header for the board's page and assets).
 */
export const queueBoardRoutes: FastifyPluginAsync<RouteDeps> = async (app, deps) => {
  const session = new UiSession(deps.auth, deps.config);
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: [
      new BullMQAdapter(deps.tryonQueue, { readOnlyMode: true }),
      new BullMQAdapter(deps.webhookQueue, { readOnlyMode: true }),
    ],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Try-on queues' } },
  });

  // Replies are sent here rather than thrown: the board sets its own error handler, which
  // would turn any thrown error into a 500.
  app.addHook('onRequest', async (request, reply) => {
    if (deps.auth.isAdminToken(bearerToken(request))) return;
    const cookie = request.cookies[ADMIN_COOKIE];
    if (!cookie || !deps.auth.isAdminToken(cookie)) {
      return refuse(
        request,
        reply,
        401,
        deps.config.adminToken === null
          ? 'the queue board is disabled: set ADMIN_TOKEN'
          : 'the queue board needs Authorization: Bearer <ADMIN_TOKEN> or the admin sign-in',
      );
    }
    // A cookie rides along with cross-site requests the browser makes: changes must come from
    // this site (SameSite=Strict already keeps it off most of them).
    if (request.method !== 'GET' && request.method !== 'HEAD' && !session.sameOrigin(request)) {
      return refuse(request, reply, 403, 'cross-site requests are refused');
    }
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
};
