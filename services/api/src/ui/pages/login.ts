import type { FastifyInstance } from 'fastify';
import { queryValue, type UiContext } from '../context.js';
import { html, type SafeHtml } from '../html.js';
import { safeNext } from '../session.js';

/** Pages that need the admin token rather than a tenant's. */
const ADMIN_PAGE = /^\/(ui\/operator|admin\/queues)/;

export function loginPage(options: { message: string | null; next: string | null }): SafeHtml {
  return html`<div class="login">
    <h1>Sign in</h1>
    <p class="muted">
      Use your API token (the Bearer token of the API), or the admin token for the operator page.
    </p>
    ${options.message ? html`<p class="error" role="alert">${options.message}</p>` : null}
    <form method="post" action="/ui/login">
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required />
      ${options.next ? html`<input type="hidden" name="next" value="${options.next}" />` : null}
      <button class="primary" type="submit">Sign in</button>
    </form>
  </div>`;
}

/** The sign-in form (GET, POST /ui/login) and signing out (POST /ui/logout). */
export function registerLoginPage(app: FastifyInstance, ui: UiContext): void {
  const { session } = ui;
  const showForm = (message: string | null, next: string | null) => ({
    title: 'Sign in',
    body: loginPage({ message, next }),
    signedIn: false,
  });

  app.get('/login', async (request, reply) => {
    const next = safeNext(queryValue(request.query, 'next'));
    if (session.open) return reply.redirect(next ?? '/ui', 303);
    const forAdmin = next !== null && ADMIN_PAGE.test(next);
    const message = forAdmin ? 'This page needs the admin token.' : null;
    return ui.sendPage(request, reply, showForm(message, next));
  });

  app.post('/login', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' ? body.token.trim() : '';
    const next = safeNext(body.next);
    if (!token) {
      const page = showForm('Enter a token.', next);
      return ui.sendPage(request, reply, { ...page, status: 400 });
    }
    const { tenant, admin } = session.check(token);
    if (!tenant && !admin) {
      request.log.info('dashboard sign-in refused: unknown token');
      const page = showForm('That token is not valid.', next);
      return ui.sendPage(request, reply, { ...page, status: 401 });
    }
    session.signIn(reply, token, { tenant: tenant !== null, admin });
    request.log.info({ tenant: tenant?.id ?? null, admin }, 'dashboard sign-in');
    return reply.redirect(next ?? (tenant || ui.deps.auth.open ? '/ui' : '/ui/operator'), 303);
  });

  app.post('/logout', async (_request, reply) => {
    session.signOut(reply);
    return reply.redirect(session.open ? '/ui' : '/ui/login', 303);
  });
}
