import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { RateLimiter } from '@tryon/rate-limiter';
import { RedisKeys } from '@tryon/redis';
import { ApiError } from '../errors.js';

export interface TenantLimitOptions {
  redis: Redis;
  /** The service's Redis prefix; the limiter's keys live under `${prefix}:api-limit`. */
  prefix: string;
  /** Requests per tenant in any rolling window; 0 turns the limit off. */
  limit: number;
  windowMs: number;
}

export type TenantLimitVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * The per-tenant request limit of the API: the shared Redis sliding-window log (the one that
 * guards FitRoom's budget), under a prefix of its own and with one budget per tenant, so it is
 * exact across any number of api processes. A request takes a slot that frees one window later
 * (no release: the request counts when it arrives, as a client expects).
 */
export class TenantLimit {
  private readonly limiter: RateLimiter | null;

  constructor(private readonly options: TenantLimitOptions) {
    this.limiter =
      options.limit > 0
        ? new RateLimiter({
            redis: options.redis,
            prefix: new RedisKeys(options.prefix).apiLimitPrefix(),
            limit: options.limit,
            windowMs: options.windowMs,
            requestTimeoutMs: 0,
          })
        : null;
  }

  get enabled(): boolean {
    return this.limiter !== null;
  }

  /**
   * Takes one slot of the tenant's window, or answers how long until one frees (whole seconds,
   * at least 1, for Retry-After). When Redis cannot answer, the request is let through: the
   * limit protects the service, it must not be why the service is down.
   */
  async take(tenantId: string, log?: FastifyBaseLogger): Promise<TenantLimitVerdict> {
    if (!this.limiter) return { allowed: true };
    try {
      const attempt = await this.limiter.tryAcquire(`tenant:${tenantId}`);
      if (attempt.token) return { allowed: true };
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(attempt.waitMs / 1000)) };
    } catch (error) {
      log?.warn(
        { err: error, tenant: tenantId },
        'tenant rate limit unavailable; request let through',
      );
      return { allowed: true };
    }
  }

  /**
   * Takes a slot or throws the 429 `rate_limited` a tenant over its limit gets (on /v1 and the
   * dashboard alike), with Retry-After. `onLimited` is told (metrics).
   */
  async enforce(tenantId: string, log?: FastifyBaseLogger, onLimited?: () => void): Promise<void> {
    const verdict = await this.take(tenantId, log);
    if (verdict.allowed) return;
    onLimited?.();
    throw new ApiError(
      429,
      'rate_limited',
      `too many requests: each tenant may send ${this.options.limit} per ` +
        `${this.options.windowMs / 1000} s; retry in ${verdict.retryAfterSeconds} s`,
      verdict.retryAfterSeconds,
    );
  }
}
