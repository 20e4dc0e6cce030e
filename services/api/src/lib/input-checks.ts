import { openAsBlob } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import {
  FitRoomRateLimitedError,
  FitRoomUnavailableError,
  isFitRoomError,
  type ClothesCheckResult,
  type ModelCheckResult,
} from '@tryon/fitroom-client';
import {
  InputCheckFlights,
  budgetedKey,
  restRefusedKey,
  type BudgetedKey,
} from '@tryon/fitroom-gateway';
import {
  BudgetPausedError,
  KEY_REFUSED_PAUSE_MS,
  RateLimitAbortedError,
  RateLimiter,
} from '@tryon/rate-limiter';
import type { InputCheckKind, Operations } from '@tryon/records';
export type { InputCheckKind } from '@tryon/records';
import { INPUT_CHECK_MAX_WAIT_MS } from '../limits.js';
import { FitRoomHttpError } from './fitroom-errors.js';

export type InputCheckResult = ModelCheckResult | ClothesCheckResult;

export interface InputCheckImage {
  /** A temp file holding the checked image. */
  path: string;
  sha256: string;
  contentType: string;
}

export interface InputCheckerOptions {
  baseUrl: string;
  apiKeys: string[];
  redis: Redis;
  prefix: string;
  limiter: RateLimiter;
  operations: Operations;
  timeoutMs: number;
  /** The budget's parameters, for the checks' own view of it (see `budget` below). */
  rateLimit: number;
  rateWindowMs: number;
  log: FastifyBaseLogger;
  /** How long a request may wait for a free budget slot before it answers 429. */
  maxWaitMs?: number;
}

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/** The pause reason of a key FitRoom refused for credit (RateLimiter.pauseAfterRefusal). */
export const CREDIT_PAUSE = 'insufficient_credit';

/**
 * FitRoom's input checks, forwarded, with FitRoom's answers mapped to the compatible routes'
 * errors. The keys, their shared budget and pauses, and the once-per-image checking are the
 * gateway's (@tryon/fitroom-gateway); the wait for a budget slot is bounded by maxWaitMs.
 * FitRoom's checks cost no credit, so a key paused for credit still checks images (taking
 * budget slots as any request does); the caller hears 429 only for its own tenant limit (the
 * route's), and 503 with Retry-After when this service's budget cannot take the check now.
 */
export class InputChecker {
  readonly keys: BudgetedKey[];
  private readonly options: InputCheckerOptions;
  private readonly maxWaitMs: number;
  private readonly flights: InputCheckFlights;
  private next = 0;

  constructor(options: InputCheckerOptions) {
    this.options = options;
    this.maxWaitMs = options.maxWaitMs ?? INPUT_CHECK_MAX_WAIT_MS;
    this.flights = new InputCheckFlights(options.redis, options.prefix);
    // The same budget (Redis keys, limit, window), but a credit pause does not stop a check.
    const budget = new RateLimiter({
      redis: options.redis,
      prefix: options.prefix,
      limit: options.rateLimit,
      windowMs: options.rateWindowMs,
      requestTimeoutMs: options.timeoutMs,
      pauseIgnored: CREDIT_PAUSE,
      logger: options.log,
    });
    this.keys = options.apiKeys.map((apiKey) =>
      budgetedKey({
        ...options,
        limiter: budget,
        apiKey,
        logger: options.log,
        maxWaitMs: this.maxWaitMs,
      }),
    );
  }

  get configured(): boolean {
    return this.keys.length > 0;
  }

  /** FitRoom's model check of this image: from the cache, or from FitRoom (then cached). */
  checkModel(image: InputCheckImage): Promise<ModelCheckResult> {
    return this.check('model', image) as Promise<ModelCheckResult>;
  }

  /** FitRoom's clothes check of this image: from the cache, or from FitRoom (then cached). */
  checkClothes(image: InputCheckImage): Promise<ClothesCheckResult> {
    return this.check('clothes', image) as Promise<ClothesCheckResult>;
  }

  private check(kind: InputCheckKind, image: InputCheckImage): Promise<InputCheckResult> {
    return this.flights.answer(kind, image.sha256, () => this.forward(kind, image), {
      // The lock outlives the longest the holder can take: the wait for a slot plus the request.
      lockMs: this.maxWaitMs + this.options.timeoutMs + 1_000,
      tooLong: () => new FitRoomHttpError(503, 'The check of this image is taking too long.', 1),
    });
  }

  /**
   * The key with the most room in its window, skipping keys paused for anything but credit
   * (ties rotate), as the worker picks one for a create; null when every key is paused, with
   * the shortest pause.
   */
  private async pickKey(): Promise<{ key: BudgetedKey } | { key: null; pausedMs: number }> {
    const { limiter } = this.options;
    const usages = await Promise.all(this.keys.map((k) => limiter.usage(k.budgetKey)));
    const start = this.next++ % this.keys.length;
    let best: { key: BudgetedKey; room: number } | null = null;
    let pausedMs = Infinity;
    for (let i = 0; i < this.keys.length; i++) {
      const index = (start + i) % this.keys.length;
      const usage = usages[index]!;
      if (usage.pausedMs > 0 && usage.pausedReason !== CREDIT_PAUSE) {
        pausedMs = Math.min(pausedMs, usage.pausedMs);
        continue;
      }
      const room = usage.limit - usage.inUse;
      if (!best || room > best.room) best = { key: this.keys[index]!, room };
    }
    return best ? { key: best.key } : { key: null, pausedMs };
  }

  private async forward(kind: InputCheckKind, image: InputCheckImage): Promise<InputCheckResult> {
    const picked = await this.pickKey();
    if (!picked.key) throw busy(seconds(picked.pausedMs));
    const { budgetKey, client } = picked.key;
    const input = {
      data: await openAsBlob(image.path, { type: image.contentType }),
      contentType: image.contentType,
    };
    try {
      return kind === 'model' ? await client.checkModel(input) : await client.checkClothes(input);
    } catch (error) {
      throw await this.answerFor(error, budgetKey, kind);
    }
  }

  /** What the caller is answered when the forwarded check failed; FitRoom's refusals rest the key. */
  private async answerFor(
    error: unknown,
    budgetKey: string,
    kind: InputCheckKind,
  ): Promise<FitRoomHttpError> {
    const { limiter } = this.options;
    if (error instanceof BudgetPausedError) return busy(seconds(error.retryInMs));
    if (error instanceof RateLimitAbortedError) {
      // No slot freed within maxWaitMs: the budget is spent by the queue's own work.
      return busy(seconds(limiter.windowMs / limiter.limit));
    }
    if (!isFitRoomError(error)) throw error;
    await restRefusedKey(this.options, budgetKey, error, null);
    this.options.log.warn(
      { err: error, budgetKey, operation: kind === 'model' ? 'checkModel' : 'checkClothes' },
      'FitRoom input check failed',
    );
    switch (error.code) {
      case 'rate_limited': {
        const ms =
          error instanceof FitRoomRateLimitedError && error.retryAfterMs !== undefined
            ? error.retryAfterMs
            : Math.ceil(limiter.windowMs / 10);
        return busy(seconds(ms));
      }
      case 'bad_request':
        return new FitRoomHttpError(400, error.fitroomMessage ?? 'Your request is invalid.');
      case 'unauthorized':
      case 'insufficient_credit':
        // This service's FitRoom key was refused, not the caller's: FitRoom is unavailable to it.
        return new FitRoomHttpError(
          503,
          'FitRoom refused the request; the service cannot check images right now. Please try again later.',
          seconds(KEY_REFUSED_PAUSE_MS),
        );
      case 'unavailable':
        return new FitRoomHttpError(
          503,
          undefined,
          error instanceof FitRoomUnavailableError && error.retryAfterMs !== undefined
            ? seconds(error.retryAfterMs)
            : undefined,
        );
      case 'timeout':
      case 'network':
        return new FitRoomHttpError(503, 'FitRoom did not answer. Please try again later.');
      default:
        return new FitRoomHttpError(500);
    }
  }
}

/**
 * The service's FitRoom budget cannot take a check now (spent by queued work, or FitRoom asked
 * it to slow down): 503 with Retry-After, not 429, which FitRoom clients read as their own
 * key's limit and which this caller has not reached.
 */
const busy = (retryAfterSeconds: number): FitRoomHttpError =>
  new FitRoomHttpError(
    503,
    "The service's FitRoom budget is busy; please try again shortly.",
    retryAfterSeconds,
  );
