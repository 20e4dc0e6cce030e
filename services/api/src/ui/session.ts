import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CookieSerializeOptions } from '@fastify/cookie';
import { DEV_TENANT, type Config, type Tenant } from '@tryon/config';
import type { Authenticator } from '../auth.js';

/** The tenant's API token, sent back with every /ui request and checked again each time. */
export const TENANT_COOKIE = 'tryon_ui';
/** The admin token: the operator page (/ui) and the queue board (/admin/queues) read it. */
export const ADMIN_COOKIE = 'tryon_admin';
const TENANT_PATHS = ['/ui'];
const ADMIN_PATHS = ['/ui', '/admin'];
const MAX_AGE_SECONDS = 12 * 3600;

/**
 * Dashboard sessions are cookies holding the token itself (HttpOnly, SameSite=Strict, narrow
 * paths), not a server-side session: every request checks the token against the
 * Authenticator, so removing a token from API_TOKENS or ADMIN_TOKEN ends its sessions.
 */
export class UiSession {
  private readonly secure: boolean;
  private readonly publicOrigin: string;

  constructor(
    private readonly auth: Authenticator,
    config: Config,
  ) {
    this.secure = config.publicUrl.startsWith('https:');
    this.publicOrigin = new URL(config.publicUrl).origin;
  }

  /** No sign-in at all in pure dev mode (no API_TOKENS, no ADMIN_TOKEN). */
  get open(): boolean {
    return this.auth.open && this.auth.adminOpen;
  }

  tenant(request: FastifyRequest): Tenant | null {
    if (this.auth.open) return DEV_TENANT;
    const token = request.cookies[TENANT_COOKIE];
    return token ? this.auth.tenantForToken(token) : null;
  }

  isAdmin(request: FastifyRequest): boolean {
    if (this.auth.adminOpen) return true;
    const token = request.cookies[ADMIN_COOKIE];
    return token ? this.auth.isAdminToken(token) : false;
  }

  /** What a token signs in as; nothing when it is neither a tenant's nor the admin token. */
  check(token: string): { tenant: Tenant | null; admin: boolean } {
    return {
      tenant: this.auth.open ? null : this.auth.tenantForToken(token),
      admin: !this.auth.adminOpen && this.auth.isAdminToken(token),
    };
  }

  private options(path: string, maxAge?: number): CookieSerializeOptions {
    return {
      path,
      httpOnly: true,
      sameSite: 'strict',
      secure: this.secure,
      ...(maxAge !== undefined && { maxAge }),
    };
  }

  signIn(reply: FastifyReply, token: string, as: { tenant: boolean; admin: boolean }): void {
    if (as.tenant) {
      for (const path of TENANT_PATHS) {
        void reply.setCookie(TENANT_COOKIE, token, this.options(path, MAX_AGE_SECONDS));
      }
    }
    if (as.admin) {
      for (const path of ADMIN_PATHS) {
        void reply.setCookie(ADMIN_COOKIE, token, this.options(path, MAX_AGE_SECONDS));
      }
    }
  }

  signOut(reply: FastifyReply): void {
    for (const path of TENANT_PATHS) void reply.clearCookie(TENANT_COOKIE, this.options(path));
    for (const path of ADMIN_PATHS) void reply.clearCookie(ADMIN_COOKIE, this.options(path));
  }

  /**
   * CSRF guard for state-changing requests, on top of SameSite=Strict: the Origin (or, without
   * one, the Referer) must be this service, as the browser saw it or as PUBLIC_URL names it.
   */
  sameOrigin(request: FastifyRequest): boolean {
    const origin = request.headers.origin;
    const referer = request.headers.referer;
    const claimed = typeof origin === 'string' && origin !== 'null' ? origin : referer;
    if (typeof claimed !== 'string') return false;
    let url: URL;
    try {
      url = new URL(claimed);
    } catch {
      return false;
    }
    return url.origin === this.publicOrigin || url.host === request.host;
  }
}

/**
 * Where to go after signing in: only a dashboard or queue board path of this service, never
 * another site (an open redirect).
 */
export function safeNext(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 512) return null;
  return /^\/(?:ui|admin\/queues)(?:[/?#][^\\\s]*)?$/.test(value) ? value : null;
}
