import { FitRoomClient, FitRoomRateLimitedError, type FitRoomError } from '@tryon/fitroom-client';
import { RateLimiter, budgetKeyFor } from '@tryon/rate-limiter';
import type { Operations } from '@tryon/records';
import type { Logger } from 'pino';

export interface PooledKey {
  budgetKey: string;
  client: FitRoomClient;
}

export interface FitRoomPoolOptions {
  baseUrl: string;
  apiKeys: string[];
  limiter: RateLimiter;
  operations: Operations;
  timeoutMs: number;
  downloadTimeoutMs: number;
  logger: Logger;
}

/** How long a key rests after FitRoom said its key is wrong (401) or out of credit (402). */
const KEY_PROBLEM_PAUSE_MS = 10 * 60_000;

/**
 * One FitRoom client per API key, each gated by the shared Redis budget of its key. Keys are
 * known by their budget name (a hash) everywhere outside this class.
 */
export class FitRoomPool {
  readonly keys: PooledKey[];
  private readonly limiter: RateLimiter;
  private readonly operations: Operations;
  private readonly logger: Logger;

  constructor(options: FitRoomPoolOptions) {
    if (options.apiKeys.length === 0) throw new Error('FitRoomPool needs at least one API key');
    this.limiter = options.limiter;
    this.operations = options.operations;
    this.logger = options.logger;
    this.keys = options.apiKeys.map((apiKey) => {
      const budgetKey = budgetKeyFor(apiKey);
      const client = new FitRoomClient({
        baseUrl: options.baseUrl,
        apiKey,
        timeoutMs: options.timeoutMs,
        downloadTimeoutMs: options.downloadTimeoutMs,
        beforeRequest: async ({ signal }) => {
          const token = await this.limiter.acquire(budgetKey, signal);
          return () => {
            this.limiter.release(token).catch((error: unknown) => {
              this.logger.warn({ err: error, budgetKey }, 'could not release a budget slot');
            });
          };
        },
      });
      return { budgetKey, client };
    });
  }

  byBudgetKey(budgetKey: string): PooledKey | undefined {
    return this.keys.find((k) => k.budgetKey === budgetKey);
  }

  /** Rests a key after FitRoom refused it, and records why for the admin status page. */
  async keyProblem(budgetKey: string, error: FitRoomError, itemId: string | null): Promise<void> {
    await this.operations.recordFitroomError({
      budgetKey,
      operation: error.operation ?? 'unknown',
      code: error.code,
      status: error.status ?? null,
      message: error.fitroomMessage ?? error.message,
      itemId,
    });
    if (error.code === 'rate_limited') {
      // Someone else is spending this key too: rest it as FitRoom asks, or for a tenth of a window.
      const retryAfterMs =
        error instanceof FitRoomRateLimitedError ? error.retryAfterMs : undefined;
      const ms = retryAfterMs ?? Math.ceil(this.limiter.windowMs / 10);
      await this.limiter.pause(budgetKey, ms, 'rate_limited');
    } else if (error.code === 'unauthorized' || error.code === 'insufficient_credit') {
      await this.limiter.pause(budgetKey, KEY_PROBLEM_PAUSE_MS, error.code);
    }
  }
}
