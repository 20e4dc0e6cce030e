import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { adminAccess, DEV_TENANT, type Config, type Tenant } from '@tryon/config';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the tenant hook on every /v1 route; null elsewhere. */
    tenant: Tenant | null;
  }
}

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

const unauthorized = (message: string) => new ApiError(401, 'unauthorized', message);

/** The token in `Authorization: Bearer <token>`, or null. */
export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}

/**
 * Maps tokens to tenants. Tokens are compared as SHA-256 digests, so a lookup takes the same
 * time whatever prefix of a real token a caller guesses. With no tenants configured, every
 * request is the open dev tenant.
 */
export class Authenticator {
  private readonly tenants = new Map<string, Tenant>();
  private readonly adminDigest: Buffer | null;
  readonly open: boolean;
  /** Pure dev mode (no API_TOKENS, no ADMIN_TOKEN): /admin needs no token either. */
  readonly adminOpen: boolean;

  constructor(config: Config) {
    for (const tenant of config.tenants) {
      this.tenants.set(digest(tenant.token).toString('hex'), tenant);
    }
    this.open = config.tenants.length === 0;
    this.adminDigest = config.adminToken ? digest(config.adminToken) : null;
    this.adminOpen = adminAccess(config) === 'open';
  }

  /** The tenant a token (Bearer or FitRoom's X-API-KEY) stands for, or null. */
  tenantForToken(token: string | null): Tenant | null {
    if (this.open) return DEV_TENANT;
    if (token === null) return null;
    return this.tenants.get(digest(token).toString('hex')) ?? null;
  }

  isAdminToken(token: string | null): boolean {
    if (this.adminOpen) return true;
    if (this.adminDigest === null || token === null) return false;
    return timingSafeEqual(digest(token), this.adminDigest);
  }

  /** onRequest hook of the tenant routes: runs before the body is read. */
  tenantHook = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const token = bearerToken(request);
    const tenant = this.tenantForToken(token);
    if (!tenant) {
      throw unauthorized(
        token === null
          ? 'missing credentials: send Authorization: Bearer <token>'
          : 'the bearer token is not valid',
      );
    }
    request.tenant = tenant;
  };

  /** onRequest hook of /admin. */
  adminHook = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (this.isAdminToken(bearerToken(request))) return;
    throw unauthorized(
      this.adminDigest === null
        ? 'the admin API is disabled: set ADMIN_TOKEN'
        : 'admin routes need Authorization: Bearer <ADMIN_TOKEN>',
    );
  };
}

/** The authenticated tenant of a /v1 request. */
export function tenantOf(request: FastifyRequest): Tenant {
  if (!request.tenant) throw new Error('tenant hook did not run for this route');
  return request.tenant;
}
