import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { InputCheckCache, type InputCheckKind } from '@tryon/records';
import { RedisKeys, releaseLock, tryLock } from '@tryon/redis';

/** How often a caller waiting for another process's check of the same image looks at the cache. */
const FOLLOWER_POLL_MS = 25;

export interface CrossProcessLock {
  /** How long the lock lives: longer than the holder can take to get its answer. */
  lockMs: number;
  /** The error thrown when another process's check takes longer than lockMs. */
  tooLong: () => Error;
}

/**
 * FitRoom's input checks, each image checked once whoever asks: answers are cached by the
 * image's sha256 (shared by api and worker), and concurrent asks for the same image wait for
 * the first one's answer instead of spending the budget again.
 */
export class InputCheckFlights {
  private readonly cache: InputCheckCache;
  private readonly inProcess = new Map<string, Promise<unknown>>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.cache = new InputCheckCache(redis, prefix);
  }

  /**
   * The cached answer, or `ask`'s (then cached). Asks in this process share one flight; with
   * `lock`, asks in other processes do too (they wait for the lock holder's answer).
   */
  answer<T>(
    kind: InputCheckKind,
    sha256: string,
    ask: () => Promise<T>,
    lock?: CrossProcessLock,
  ): Promise<T> {
    const key = new RedisKeys(this.prefix).inputCheck(kind, sha256);
    const pending = this.inProcess.get(key);
    if (pending) return pending as Promise<T>;
    const run = (
      lock ? this.underLock(kind, sha256, ask, lock) : this.cached(kind, sha256, ask)
    ).finally(() => this.inProcess.delete(key));
    this.inProcess.set(key, run);
    return run;
  }

  private async cached<T>(kind: InputCheckKind, sha256: string, ask: () => Promise<T>): Promise<T> {
    const hit = await this.cache.get<T>(kind, sha256);
    if (hit !== null) return hit;
    const answer = await ask();
    await this.cache.set(kind, sha256, answer);
    return answer;
  }

  private async underLock<T>(
    kind: InputCheckKind,
    sha256: string,
    ask: () => Promise<T>,
    lock: CrossProcessLock,
  ): Promise<T> {
    const lockKey = new RedisKeys(this.prefix).inputCheckLock(kind, sha256);
    const deadline = Date.now() + lock.lockMs;
    for (;;) {
      const hit = await this.cache.get<T>(kind, sha256);
      if (hit !== null) return hit;
      const token = await tryLock(this.redis, lockKey, lock.lockMs);
      if (token !== null) {
        try {
          // answered between our read and the lock?
          return await this.cached(kind, sha256, ask);
        } finally {
          await releaseLock(this.redis, lockKey, token).catch(() => undefined);
        }
      }
      // Another process is checking this image: wait for its answer (or for its lock to go).
      if (Date.now() > deadline) throw lock.tooLong();
      await sleep(FOLLOWER_POLL_MS);
    }
  }
}
