import type { Redis } from 'ioredis';
import { RedisKeys } from '@tryon/redis';
import { expireBatchChunk } from './scripts/expire-batch.js';
import { keepBatchChunk } from './scripts/keep-batch.js';

/**
 * Batches whose records have no expiry yet (a sorted set scored by creation time): every batch
 * from its creation until it has finished and its records were given their expiry. Workers
 * sweep it for items whose job vanished and for finished batches left to settle.
 */
export const liveBatchesKey = (prefix: string): string => new RedisKeys(prefix).liveBatches();

/** Item hashes handled per script call, so a 100,000-item batch never blocks Redis for long. */
const CHUNK = 1_000;

/**
 * How long a finished batch's records stay in Redis. Results and manifests live in storage and
 * are not touched here.
 */
export class BatchRetention {
  private readonly keys: RedisKeys;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  /** Live batches (open, or finished and not yet given an expiry), oldest first. */
  async liveBatches(offset = 0, limit = 1_000): Promise<string[]> {
    return this.redis.zrange(this.keys.liveBatches(), offset, offset + limit - 1);
  }

  /**
   * Gives every record of a finished batch an expiry of `ttlMs`: the batch hash, its item
   * hashes, item list, per-state sets, webhook deliveries, replay counter, idempotency key and
   * admission leftovers. Answers false (and sets nothing more) when the batch is open again.
   */
  async expireBatch(batchId: string, ttlMs: number): Promise<boolean> {
    // Both fields are fixed when the batch is recorded: read ahead, the script gets the key.
    const [tenantId, idempotency] = await this.redis.hmget(
      this.keys.batch(batchId),
      'tenant_id',
      'idempotency_key',
    );
    const batch = {
      id: batchId,
      idempotencyKey: tenantId && idempotency ? this.keys.idempotency(tenantId, idempotency) : null,
    };
    for (let first = 0; ; first += CHUNK) {
      const handled = await expireBatchChunk(this.redis, this.keys, batch, {
        ttlMs: Math.max(1, Math.round(ttlMs)),
        first,
        count: CHUNK,
        now: Date.now(),
      });
      if (handled === 0 || handled === -1) return true;
      if (handled === -2) return false;
    }
  }

  /** A batch that is open again (retried) keeps its records until it finishes anew. */
  async keepBatch(batchId: string): Promise<void> {
    for (let first = 0; ; first += CHUNK) {
      const handled = await keepBatchChunk(this.redis, this.keys, batchId, { first, count: CHUNK });
      if (handled === 0) return;
    }
  }
}
