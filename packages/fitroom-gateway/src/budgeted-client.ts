import {
  FitRoomClient,
  FitRoomRateLimitedError,
  type BeforeRequestInfo,
  type FitRoomError,
  type FitRoomOperation,
  type RequestEnd,
} from '@tryon/fitroom-client';
import { budgetKeyFor, type RateLimiter, type Token } from '@tryon/rate-limiter';
import type { Operations } from '@tryon/records';

/** The little of a logger the gateway needs (pino's and Fastify's both fit). */
export interface WarnLogger {
  warn(details: object, message: string): void;
}

/** One FitRoom API key's client; the key is known by its budget name (a hash) everywhere else. */
export interface BudgetedKey {
  budgetKey: string;
  client: FitRoomClient;
}

export interface BudgetedKeyOptions {
  baseUrl: string;
  apiKey: string;
  limiter: RateLimiter;
  timeoutMs: number;
  downloadTimeoutMs?: number;
  logger: WarnLogger;
  /** Bounds the wait for a budget slot (the request itself is bounded by timeoutMs). */
  maxWaitMs?: number;
  /**
   * Runs once the request holds its budget token, just before it is sent. When it waits for
   * something (the create gate) it answers how to give that back: the slot's hold then restarts
   * at send time, and should the slot have lapsed meanwhile, the place is given back while the
   * request waits for a new token.
   */
  afterToken?: (info: BeforeRequestInfo) => Promise<(() => void) | undefined>;
  /** Told how each request ended (metrics): FitRoom's status, or 'error' without an answer. */
  onAnswer?: (budgetKey: string, operation: FitRoomOperation, end: RequestEnd) => void;
}

/**
 * A FitRoomClient whose every request first takes a token of its key's shared Redis budget and
 * gives it back when the answer arrives, so api and workers together stay within FitRoom's limit.
 */
export function budgetedKey(options: BudgetedKeyOptions): BudgetedKey {
  const { limiter, logger, maxWaitMs, afterToken, onAnswer } = options;
  const budgetKey = budgetKeyFor(options.apiKey);
  const client = new FitRoomClient({
    baseUrl: options.baseUrl,
    apiKey: options.apiKey,
    timeoutMs: options.timeoutMs,
    ...(options.downloadTimeoutMs === undefined
      ? {}
      : { downloadTimeoutMs: options.downloadTimeoutMs }),
    beforeRequest: async (info) => {
      const { signal } = info;
      const wait = maxWaitMs === undefined ? undefined : AbortSignal.timeout(maxWaitMs);
      const bound = wait && signal ? AbortSignal.any([signal, wait]) : (wait ?? signal);
      for (;;) {
        // Polls and creates wait in turn by kind (see the limiter).
        const token = await limiter.acquire(budgetKey, bound, {
          kind: info.operation === 'getTask' ? 'poll' : 'other',
        });
        const giveBack = await afterToken?.(info);
        if (giveBack && !(await holdFromNow(limiter, token, giveBack))) continue;
        return (end) => {
          onAnswer?.(budgetKey, info.operation, end);
          limiter.release(token).catch((error: unknown) => {
            logger.warn({ err: error, budgetKey }, 'could not release a budget slot');
          });
        };
      }
    },
  });
  return { budgetKey, client };
}

/**
 * Restarts the token's hold now that its request is sent after a wait (the hold bounds when
 * FitRoom counts the request, so it must start at send time, not at the take). False, with
 * `giveBack` called, when the slot lapsed during the wait and the window is full.
 */
async function holdFromNow(
  limiter: RateLimiter,
  token: Token,
  giveBack: () => void,
): Promise<boolean> {
  let held = false;
  try {
    held = await limiter.holdFromNow(token);
    return held;
  } finally {
    if (!held) giveBack();
  }
}

/**
 * Rests a key after FitRoom refused it (the pause policy is the limiter's, including that a
 * request sent before an operator's resume pauses nothing) and records why for the admin page.
 */
export async function restRefusedKey(
  deps: { limiter: RateLimiter; operations: Operations },
  budgetKey: string,
  error: FitRoomError,
  itemId: string | null,
): Promise<void> {
  await deps.operations.recordFitroomError({
    budgetKey,
    operation: error.operation ?? 'unknown',
    code: error.code,
    status: error.status ?? null,
    message: error.fitroomMessage ?? error.message,
    itemId,
  });
  await deps.limiter.pauseAfterRefusal(
    budgetKey,
    error.code,
    error instanceof FitRoomRateLimitedError ? error.retryAfterMs : undefined,
    error.sentAt,
  );
}
