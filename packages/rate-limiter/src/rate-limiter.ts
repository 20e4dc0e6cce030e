import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { RedisKeys } from '@tryon/redis';
import { acquireSlot } from './scripts/acquire.js';
import { holdSlotFromNow } from './scripts/hold-from-now.js';
import { pauseBudget, resumeBudget } from './scripts/pause.js';
import { releaseSlot } from './scripts/release.js';
import { usageScript, type UsageReply } from './scripts/usage.js';

export interface RateLimiterOptions {
  redis: Redis;
  /** Namespace for every key this limiter writes, e.g. "tryon". */
  prefix: string;
  /** Requests allowed to start in any rolling window, per budget key. */
  limit: number;
  windowMs: number;
  /**
   * The longest a request can take from token to answer (the FitRoom client's timeout). A slot
   * whose answer never arrived (crash, lost release) frees after window + this.
   */
  requestTimeoutMs: number;
  /** Upper bound for one sleep between tries, so waiters notice released or unpaused slots. */
  maxWaitStepMs?: number;
  /**
   * A pause reason (see pauseAfterRefusal) that does not stop this limiter's requests: the
   * api's input checks cost FitRoom no credit, so a key paused for `insufficient_credit` still
   * checks images, within the same budget.
   */
  pauseIgnored?: string;
  /** Told when Redis's clock stepped forward and a key's slots were moved later (pino fits). */
  logger?: { warn(details: object, message: string): void };
  /** This process's monotonic clock in ms (tests pretend Redis's clock stepped with it). */
  monotonicNow?: () => number;
}

/** A step of Redis's clock smaller than this is not told apart from a slow round trip. */
const CLOCK_STEP_TOLERANCE_MS = 250;

/**
 * Where Redis's TIME should read now, from this process's monotonic clock: their offset is
 * learned from every acquire's answer as the largest seen (an answer that was slow to arrive
 * only makes it smaller), and follows a step back once three answers in a row say so.
 */
class RedisClock {
  private offset: number | undefined;
  private lowInARow = 0;

  constructor(private readonly monotonicNow: () => number) {}

  expectedNow(): number {
    return this.offset === undefined ? 0 : this.offset + this.monotonicNow();
  }

  observe(redisNow: number): void {
    const sample = redisNow - this.monotonicNow();
    if (this.offset === undefined || sample >= this.offset) {
      this.offset = sample;
      this.lowInARow = 0;
    } else if (sample < this.offset - CLOCK_STEP_TOLERANCE_MS && ++this.lowInARow >= 3) {
      this.offset = sample;
      this.lowInARow = 0;
    }
  }
}

/** Polls, or every other request (creates, input checks). */
export type AcquireKind = 'poll' | 'other';

export interface AcquireOptions {
  /**
   * While the key is put one kind first (putFirst) and requests of both kinds wait, the other
   * kind gets only the slots the first kind's waiters leave. Default 'other'.
   */
  kind?: AcquireKind;
}

export interface Token {
  budgetKey: string;
  id: string;
  /** Redis time (ms) at which the token was granted. */
  grantedAt: number;
}

export interface BudgetUsage {
  budgetKey: string;
  limit: number;
  windowMs: number;
  /** Slots counted against the window now (in flight or answered within the last window). */
  inUse: number;
  /** Requests taken and not answered yet. */
  inFlight: number;
  /** When each of the inUse slots frees, in ms from the reading, ascending. */
  freesInMs: number[];
  pausedMs: number;
  pausedReason: string | null;
}

/** How long a key rests after FitRoom said it is wrong (401) or out of credit (402). */
export const KEY_REFUSED_PAUSE_MS = 10 * 60_000;

export class RateLimitAbortedError extends Error {
  override readonly name = 'RateLimitAbortedError';
}

/**
 * The key is paused (FitRoom answered 429, 401 or 402): callers should put their work aside
 * for `retryInMs` rather than hold a worker slot while they wait.
 */
export class BudgetPausedError extends Error {
  override readonly name = 'BudgetPausedError';
  constructor(
    readonly budgetKey: string,
    readonly retryInMs: number,
  ) {
    super(`FitRoom key ${budgetKey} is paused for ${retryInMs} ms`);
  }
}

/**
 * The shared FitRoom budget: a sliding-window log per budget key in Redis, exact across any
 * number of processes. See scripts/acquire.ts for why slots are held until one window after the answer.
 */
export class RateLimiter {
  private readonly redis: Redis;
  private readonly keys: RedisKeys;
  readonly limit: number;
  readonly windowMs: number;
  private readonly holdMs: number;
  private readonly maxWaitStepMs: number;
  private readonly pauseIgnored: string | undefined;
  private readonly logger: RateLimiterOptions['logger'];
  private readonly redisClock: RedisClock;

  constructor(options: RateLimiterOptions) {
    this.redis = options.redis;
    this.keys = new RedisKeys(options.prefix);
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.holdMs = options.windowMs + options.requestTimeoutMs;
    this.maxWaitStepMs = options.maxWaitStepMs ?? 250;
    this.pauseIgnored = options.pauseIgnored;
    this.logger = options.logger;
    this.redisClock = new RedisClock(options.monotonicNow ?? (() => performance.now()));
  }

  private slotsKey(budgetKey: string): string {
    return this.keys.budgetSlots(budgetKey);
  }

  private pauseKey(budgetKey: string): string {
    return this.keys.budgetPause(budgetKey);
  }

  private pauseKeys(budgetKey: string): { pause: string; resumed: string } {
    return { pause: this.pauseKey(budgetKey), resumed: this.keys.budgetResumed(budgetKey) };
  }

  /**
   * One attempt: a token, or how long to wait before the next slot can free. A `waiter` id
   * (stable across a request's tries) lists the request among its kind's waiters while it waits:
   * see AcquireOptions.
   */
  async tryAcquire(
    budgetKey: string,
    waiter?: { id: string; kind: AcquireKind },
  ): Promise<{ token: Token } | { token: null; waitMs: number; paused: boolean }> {
    const id = randomUUID();
    const [granted, waitMs, paused, now, movedMs] = await acquireSlot(
      this.redis,
      {
        slots: this.slotsKey(budgetKey),
        pause: this.pauseKey(budgetKey),
        clockStep: this.keys.budgetClockStep(budgetKey),
        waitingPolls: this.keys.budgetWaiting(budgetKey, 'poll'),
        waitingOthers: this.keys.budgetWaiting(budgetKey, 'other'),
        first: this.keys.budgetFirst(budgetKey),
      },
      {
        limit: this.limit,
        holdMs: this.holdMs,
        tokenId: id,
        ...(this.pauseIgnored !== undefined && { pauseIgnored: this.pauseIgnored }),
        expectedNow: this.redisClock.expectedNow(),
        toleranceMs: CLOCK_STEP_TOLERANCE_MS,
        stepMemoryMs: 10 * this.windowMs,
        ...(waiter && {
          waiter: waiter.id,
          kind: waiter.kind,
          // Listed for a few of its tries: it retries at least every maxWaitStepMs.
          listTtlMs: 4 * this.maxWaitStepMs + 20,
        }),
      },
    );
    this.redisClock.observe(now);
    if (movedMs > 0) {
      this.logger?.warn(
        { budgetKey, movedMs },
        "Redis's clock stepped forward: the key's budget slots were moved later by as much",
      );
    }
    if (granted === 1) return { token: { budgetKey, id, grantedAt: now } };
    return { token: null, waitMs: Math.max(1, waitMs), paused: paused === 1 };
  }

  /**
   * Waits until a slot is free (or the signal aborts) and takes it. Throws BudgetPausedError
   * at once when the key is paused.
   */
  async acquire(
    budgetKey: string,
    signal?: AbortSignal,
    options: AcquireOptions = {},
  ): Promise<Token> {
    const waiter = { id: randomUUID(), kind: options.kind ?? 'other' };
    for (;;) {
      if (signal?.aborted) {
        throw new RateLimitAbortedError('waiting for a FitRoom slot was aborted');
      }
      const attempt = await this.tryAcquire(budgetKey, waiter);
      if (attempt.token) return attempt.token;
      // A waiter that stops here stays listed until its listing lapses (about a second).
      if (attempt.paused) throw new BudgetPausedError(budgetKey, attempt.waitMs);
      // A little jitter keeps processes that woke together from retrying in lockstep.
      const step = Math.min(attempt.waitMs, this.maxWaitStepMs) + Math.random() * 5;
      await sleep(step, undefined, signal ? { signal } : undefined).catch(() => undefined);
    }
  }

  /**
   * Marks the token's request as being sent now: its slot is held until window + request
   * timeout from now (never shorter than before). False when the slot lapsed while the caller
   * waited and the window has no room: the request must not be sent on this token.
   */
  async holdFromNow(token: Token): Promise<boolean> {
    const held = await holdSlotFromNow(this.redis, this.slotsKey(token.budgetKey), {
      tokenId: token.id,
      holdMs: this.holdMs,
      limit: this.limit,
    });
    return held === 1;
  }

  /** Marks the request's answer as arrived: the slot frees one window from now. */
  async release(token: Token): Promise<void> {
    await releaseSlot(this.redis, this.slotsKey(token.budgetKey), {
      tokenId: token.id,
      windowMs: this.windowMs,
      holdMs: this.holdMs,
    });
  }

  /** Stops handing out tokens for this key for `ms` (a 429, 402 or 401 from FitRoom). */
  async pause(budgetKey: string, ms: number, reason: string): Promise<void> {
    await pauseBudget(this.redis, this.pauseKeys(budgetKey), {
      ms: Math.max(1, Math.ceil(ms)),
      reason,
    });
  }

  /**
   * Rests a key after FitRoom refused a request on it: a 429 (someone else spends this key too) as
   * long as FitRoom asks (at least a window / limit, 1 s at FitRoom's rate), else a tenth of a
   * window; a wrong key (401) or no credit (402) for KEY_REFUSED_PAUSE_MS. Other refusals do not
   * pause, nor does the refusal of a request sent (`sentAt`, this process's Date.now()) before an
   * operator's resume. Returns the pause, 0 for none.
   */
  async pauseAfterRefusal(
    budgetKey: string,
    code: string,
    retryAfterMs: number | undefined,
    sentAt?: number,
  ): Promise<number> {
    let ms = 0;
    if (code === 'rate_limited') {
      // `Retry-After: 0` or a date already past still rests the key for one request's share
      // of the window (1 s at FitRoom's 60 a minute): a 429 means someone else spends it too.
      const tenth = Math.ceil(this.windowMs / 10);
      const least = Math.min(Math.ceil(this.windowMs / this.limit), tenth);
      ms = Math.max(least, retryAfterMs ?? tenth);
    } else if (code === 'unauthorized' || code === 'insufficient_credit') ms = KEY_REFUSED_PAUSE_MS;
    if (ms === 0) return 0;
    // How long ago, not when: this process's clock and Redis's need not agree.
    const sentAgoMs = sentAt === undefined ? undefined : Date.now() - sentAt;
    const paused = await pauseBudget(this.redis, this.pauseKeys(budgetKey), {
      ms: Math.ceil(ms),
      reason: code,
      sentAgoMs,
    });
    return paused === 0 ? 0 : ms;
  }

  /**
   * Waiting requests of `kind` go before the others on the key for the next `forMs`; null:
   * whoever asks first, at once (see scripts/acquire.ts for when and why).
   */
  async putFirst(budgetKey: string, kind: AcquireKind | null, forMs = 0): Promise<void> {
    const key = this.keys.budgetFirst(budgetKey);
    if (kind && forMs > 0) await this.redis.set(key, kind, 'PX', Math.ceil(forMs));
    else await this.redis.del(key);
  }

  /**
   * Ends the key's pause. Refusals of requests sent before now no longer pause it (see
   * pauseAfterRefusal): the resume is noted for window + request timeout, longer than any
   * such request can wait for its answer.
   */
  async resume(budgetKey: string): Promise<void> {
    await resumeBudget(this.redis, this.pauseKeys(budgetKey), this.holdMs);
  }

  async usage(budgetKey: string): Promise<BudgetUsage> {
    usageScript.register(this.redis);
    const multi = this.redis.multi();
    usageScript.queue(multi, [this.slotsKey(budgetKey), this.pauseKey(budgetKey)], [this.windowMs]);
    const [[, result], [, reason]] = (await multi.get(this.pauseKey(budgetKey)).exec()) as [
      [null, UsageReply],
      [null, string | null],
    ];
    const [inUse, inFlight, pausedMs, , freesInMs] = result;
    return {
      budgetKey,
      limit: this.limit,
      windowMs: this.windowMs,
      inUse,
      inFlight,
      freesInMs,
      pausedMs: Math.max(0, pausedMs),
      pausedReason: pausedMs > 0 ? reason : null,
    };
  }
}
