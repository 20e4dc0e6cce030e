import type { Redis } from 'ioredis';
import { RedisKeys } from '@tryon/redis';

export type InputCheckKind = 'model' | 'clothes';

/** How long FitRoom's verdict on an image is remembered: it depends on the image alone. */
export const INPUT_CHECK_KEEP_SECONDS = 30 * 24 * 3_600;

/** Where FitRoom's answer to an input check of these bytes is kept, shared by api and worker. */
export const inputCheckCacheKey = (prefix: string, kind: InputCheckKind, sha256: string): string =>
  new RedisKeys(prefix).inputCheck(kind, sha256);

/** FitRoom's input-check answers by image content: each image is checked once, whoever asks. */
export class InputCheckCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async get<T>(kind: InputCheckKind, sha256: string): Promise<T | null> {
    const text = await this.redis.get(inputCheckCacheKey(this.prefix, kind, sha256));
    return text === null ? null : (JSON.parse(text) as T);
  }

  async set(kind: InputCheckKind, sha256: string, answer: unknown): Promise<void> {
    await this.redis.set(
      inputCheckCacheKey(this.prefix, kind, sha256),
      JSON.stringify(answer),
      'EX',
      INPUT_CHECK_KEEP_SECONDS,
    );
  }
}
