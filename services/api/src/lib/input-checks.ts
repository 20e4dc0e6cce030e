import { randomUUID } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import {
  FitRoomClient,
  FitRoomRateLimitedError,
  FitRoomUnavailableError,
  isFitRoomError,
  type ClothesCheckResult,
  type FitRoomError,
  type ModelCheckResult,
} from '@tryon/fitroom-client';
import {
  BudgetPausedError,
  KEY_REFUSED_PAUSE_MS,
  RateLimitAbortedError,
  budgetKeyFor,
} from '@tryon/rate-limiter';
import type { RateLimiter } from '@tryon/rate-limiter';
import { inputCheckCacheKey, type InputCheckKind, type Operations } from '@tryon/records';
export type { InputCheckKind } from '@tryon/records';
import { INPUT_CHECK_CACHE_TTL_SECONDS, INPUT_CHECK_MAX_WAIT_MS } from '../limits.js';
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
  log: FastifyBaseLogger;
  /** How long a request may wait for a free budget slot before it answers 429. */
  maxWaitMs?: number;
  cacheTtlSeconds?: number;
}

interface GatedKey {
  budgetKey: string;
  client: FitRoomClient;
}

/** How often a request waiting for another one's check of the same image looks at the cache. */
const FOLLOWER_POLL_MS = 25;

/** Compare-and-delete: a lock is released only by the request that holds it. */
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/**
 * FitRoom's input checks, forwarded. One FitRoomClient per configured FitRoom key, each request
 * gated by the shared Redis budget of its key exactly as the worker's FitRoomPool does (a token
 * before the request, released when the answer arrives; 429, 401 and 402 pause the key).
 *
 * Answers are cached in Redis by the image's sha256 (they depend on the image only), so an
 * image is checked once, whoever asks: concurrent requests for the same image, in this process
 * or another, wait for the first one's answer instead of spending the budget again.
 */
export class InputChecker {
  readonly keys: GatedKey[];
  private readonly options: InputCheckerOptions;
  private readonly maxWaitMs: number;
  private readonly cacheTtlSeconds: number;
  private readonly inProcess = new Map<string, Promise<InputCheckResult>>();
  private next = 0;

  constructor(options: InputCheckerOptions) {
    this.options = options;
    this.maxWaitMs = options.maxWaitMs ?? INPUT_CHECK_MAX_WAIT_MS;
    this.cacheTtlSeconds = options.cacheTtlSeconds ?? INPUT_CHECK_CACHE_TTL_SECONDS;
    const { limiter, log } = options;
    this.keys = options.apiKeys.map((apiKey) => {
      const budgetKey = budgetKeyFor(apiKey);
      const client = new FitRoomClient({
        baseUrl: options.baseUrl,
        apiKey,
        timeoutMs: options.timeoutMs,
        beforeRequest: async ({ signal }) => {
          // The wait for a slot is bounded; the request itself is bounded by the client timeout.
          const wait = AbortSignal.timeout(this.maxWaitMs);
          const token = await limiter.acquire(
            budgetKey,
            signal ? AbortSignal.any([signal, wait]) : wait,
          );
          return () => {
            limiter.release(token).catch((error: unknown) => {
              log.warn({ err: error, budgetKey }, 'could not release a budget slot');
            });
          };
        },
      });
      return { budgetKey, client };
    });
  }

  get configured(): boolean {
    return this.keys.length > 0;
  }

  private cacheKey(kind: InputCheckKind, sha256: string): string {
    return inputCheckCacheKey(this.options.prefix, kind, sha256);
  }

  /** FitRoom's model check of this image: from the cache, or from FitRoom (then cached). */
  checkModel(image: InputCheckImage): Promise<ModelCheckResult> {
    return this.check('model', image) as Promise<ModelCheckResult>;
  }

  /** FitRoom's clothes check of this image: from the cache, or from FitRoom (then cached). */
  checkClothes(image: InputCheckImage): Promise<ClothesCheckResult> {
    return this.check('clothes', image) as Promise<ClothesCheckResult>;
  }

  private async check(kind: InputCheckKind, image: InputCheckImage): Promise<InputCheckResult> {
    const key = this.cacheKey(kind, image.sha256);
    const pending = this.inProcess.get(key);
    if (pending) return pending;
    const run = this.checkOnce(kind, key, image).finally(() => this.inProcess.delete(key));
    this.inProcess.set(key, run);
    return run;
  }

  private async checkOnce(
    kind: InputCheckKind,
    key: string,
    image: InputCheckImage,
  ): Promise<InputCheckResult> {
    const { redis } = this.options;
    const lockKey = `${key}:lock`;
    // The lock outlives the longest the holder can take: the wait for a slot plus the request.
    const lockMs = this.maxWaitMs + this.options.timeoutMs + 1_000;
    const deadline = Date.now() + lockMs;
    for (;;) {
      const cached = await redis.get(key);
      if (cached !== null) return JSON.parse(cached) as InputCheckResult;
      const token = randomUUID();
      if ((await redis.set(lockKey, token, 'PX', lockMs, 'NX')) === 'OK') {
        try {
          const again = await redis.get(key); // answered between our read and the lock
          if (again !== null) return JSON.parse(again) as InputCheckResult;
          const result = await this.forward(kind, image);
          await redis.set(key, JSON.stringify(result), 'EX', this.cacheTtlSeconds);
          return result;
        } finally {
          await redis.eval(UNLOCK, 1, lockKey, token).catch(() => undefined);
        }
      }
      // Another request is checking this image: wait for its answer (or for its lock to go).
      if (Date.now() > deadline) {
        throw new FitRoomHttpError(503, 'The check of this image is taking too long.', 1);
      }
      await sleep(FOLLOWER_POLL_MS);
    }
  }

  /**
   * The key with the most room in its window, skipping paused keys (ties rotate), as the
   * worker picks one for a create; null when every key is paused, with the shortest pause.
   */
  private async pickKey(): Promise<{ key: GatedKey } | { key: null; pausedMs: number }> {
    const { limiter } = this.options;
    const usages = await Promise.all(this.keys.map((k) => limiter.usage(k.budgetKey)));
    const start = this.next++ % this.keys.length;
    let best: { key: GatedKey; room: number } | null = null;
    let pausedMs = Infinity;
    for (let i = 0; i < this.keys.length; i++) {
      const index = (start + i) % this.keys.length;
      const usage = usages[index]!;
      if (usage.pausedMs > 0) {
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
    if (!picked.key) throw new FitRoomHttpError(429, undefined, seconds(picked.pausedMs));
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
    if (error instanceof BudgetPausedError) {
      return new FitRoomHttpError(429, undefined, seconds(error.retryInMs));
    }
    if (error instanceof RateLimitAbortedError) {
      // No slot freed within maxWaitMs: the budget is spent by the queue's own work.
      return new FitRoomHttpError(429, undefined, seconds(limiter.windowMs / limiter.limit));
    }
    if (!isFitRoomError(error)) throw error;
    await this.keyProblem(budgetKey, error);
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
        return new FitRoomHttpError(429, undefined, seconds(ms));
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

  /** Rests a key FitRoom refused and records why for /admin/status, as the worker's pool does. */
  private async keyProblem(budgetKey: string, error: FitRoomError): Promise<void> {
    const { limiter, operations } = this.options;
    await operations.recordFitroomError({
      budgetKey,
      operation: error.operation ?? 'unknown',
      code: error.code,
      status: error.status ?? null,
      message: error.fitroomMessage ?? error.message,
      itemId: null,
    });
    await limiter.pauseAfterRefusal(
      budgetKey,
      error.code,
      error instanceof FitRoomRateLimitedError ? error.retryAfterMs : undefined,
    );
  }
}
