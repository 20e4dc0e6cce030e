import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tenant } from '@tryon/config';
import type { BatchRecord } from '@tryon/records';
import type { RouteDeps } from '../deps.js';
import { batchNotFound, itemNotFound } from '../errors.js';
import type { SafeHtml } from './html.js';
import { layout } from './layout.js';
import type { UiSession } from './session.js';
import type { ThumbnailService } from './thumbs.js';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A /ui request without a valid session: pages go to the login form, the rest answer 401. */
export class SignInRequired extends Error {
  constructor(readonly admin: boolean) {
    super(admin ? 'the operator page needs the admin token' : 'sign in with your API token');
  }
}

/** A query string value given once (repeated or missing: undefined). */
export const queryValue = (query: unknown, name: string): string | undefined => {
  const value = (query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
};

export interface IdParams {
  id: string;
}

export interface PageOptions {
  title: string;
  body: SafeHtml;
  status?: number;
  /** False on the sign-in page: the header then names nobody. */
  signedIn?: boolean;
}

/** What every page's routes share: the API's deps, the session and the ways to answer. */
export class UiContext {
  constructor(
    readonly deps: RouteDeps,
    readonly session: UiSession,
    readonly thumbs: ThumbnailService,
  ) {}

  /** A batch as the API answers it (public view and ETA). */
  view(batch: BatchRecord) {
    return this.deps.eta.view(batch);
  }

  sendPage(request: FastifyRequest, reply: FastifyReply, page: PageOptions) {
    const { title, body, status = 200, signedIn = true } = page;
    const who = signedIn
      ? {
          tenant: this.session.tenant(request)?.id ?? null,
          admin: this.session.isAdmin(request),
          canSignOut: !this.session.open,
        }
      : null;
    return reply
      .status(status)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(layout({ title, body, who }).value);
  }

  /** A piece of a page that its script swaps in ([data-refresh]). */
  sendFragment(reply: FastifyReply, body: SafeHtml) {
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(body.value);
  }

  tenantOf(request: FastifyRequest): Tenant {
    const tenant = this.session.tenant(request);
    if (!tenant) throw new SignInRequired(false);
    return tenant;
  }

  requireAdmin(request: FastifyRequest): void {
    if (!this.session.isAdmin(request)) throw new SignInRequired(true);
  }

  /** Ids that could never exist are not found, without a Redis lookup. */
  checkId(id: string, what: 'batch' | 'item'): void {
    if (ID.test(id)) return;
    throw what === 'batch' ? batchNotFound() : itemNotFound();
  }
}

/** One page (or set of endpoints) of the dashboard: registers its routes under /ui. */
export type UiRoutes = (app: FastifyInstance, ui: UiContext) => void;
