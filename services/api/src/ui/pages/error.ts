import type { FastifyInstance } from 'fastify';
import { describeError } from '../../errors.js';
import { queryValue, SignInRequired, type UiContext } from '../context.js';
import { html, type SafeHtml } from '../html.js';
import { safeNext } from '../session.js';

/** What scripts fetch (fragments, event streams, images): a 401 rather than the login form. */
const NOT_A_PAGE = /^\/ui\/(?:batches\/[^/]+\/events|thumbs|items)\b/;

export function errorPage(options: { status: number; message: string }): SafeHtml {
  return html`<h1>${options.status === 404 ? 'Not found' : 'Something is wrong'}</h1>
    <p class="error" role="alert">${options.message}</p>
    <p><a href="/ui">Back to the batches</a></p>`;
}

/** Errors as pages: sign-in redirects, 4xx explained, 5xx logged, unknown paths not found. */
export function registerErrorPages(app: FastifyInstance, ui: UiContext): void {
  app.setErrorHandler((error, request, reply) => {
    if (error instanceof SignInRequired) {
      const isPage =
        request.method === 'GET' &&
        !queryValue(request.query, 'partial') &&
        !NOT_A_PAGE.test(request.url);
      if (isPage) {
        const next = safeNext(request.url);
        return reply
          .status(303)
          .header('cache-control', 'no-store')
          .redirect(`/ui/login${next ? `?next=${encodeURIComponent(next)}` : ''}`, 303);
      }
      const body = errorPage({ status: 401, message: error.message });
      return ui.sendPage(request, reply, { title: 'Sign in', body, status: 401 });
    }
    const answer = describeError(error);
    if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ status: answer.status, code: answer.code }, answer.message);
    if (answer.retryAfterSeconds !== undefined) {
      void reply.header('retry-after', String(answer.retryAfterSeconds));
    }
    return ui.sendPage(request, reply, {
      title: answer.status === 404 ? 'Not found' : 'Error',
      body: errorPage({ status: answer.status, message: answer.message }),
      status: answer.status,
    });
  });

  app.setNotFoundHandler((request, reply) =>
    ui.sendPage(request, reply, {
      title: 'Not found',
      body: errorPage({ status: 404, message: 'There is no such page.' }),
      status: 404,
    }),
  );
}
