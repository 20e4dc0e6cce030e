import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ItemResult } from '@tryon/domain';
import { RedisKeys } from '@tryon/redis';

export type CachedResult = Omit<ItemResult, 'url'>;

/** How long a rendered pair is remembered for reuse. */
const KEEP_SECONDS = 30 * 24 * 3_600;

/** What a prepared input is for: models and garments are sized differently. */
export type PreparedRole = 'model' | 'garment';

/**
 * Where the worker remembers the storage key of an uploaded asset's prepared form. Shared here
 * so the API's dry run can tell, without preparing anything, which pairs the cache would serve.
 */
export const preparedInputKey = (
  prefix: string,
  tenantId: string,
  ref: string,
  role: PreparedRole,
): string => new RedisKeys(prefix).preparedInput(tenantId, ref, role);

/**
 * Renders already paid for, by what determines them: the prepared input images (their keys
 * carry their content hashes), cloth_type and hd_mode. A batch that repeats a pair gets the
 * stored result again with zero FitRoom requests, unless it asks for fresh renders.
 */
export class ResultCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  static pairKey(
    inputs: { model: string; cloth: string; lowerCloth?: string | undefined },
    clothType: string,
    hdMode: boolean,
  ): string {
    const parts = [
      inputs.model,
      inputs.cloth,
      inputs.lowerCloth ?? '',
      clothType,
      hdMode ? 'hd' : 'normal',
    ];
    return createHash('sha256').update(parts.join('\n')).digest('hex');
  }

  key(pairKey: string): string {
    return new RedisKeys(this.prefix).resultByPair(pairKey);
  }

  async get(pairKey: string): Promise<CachedResult | null> {
    const text = await this.redis.get(this.key(pairKey));
    return text ? (JSON.parse(text) as CachedResult) : null;
  }

  async set(pairKey: string, result: CachedResult): Promise<void> {
    await this.redis.set(this.key(pairKey), JSON.stringify(result), 'EX', KEEP_SECONDS);
  }
}
