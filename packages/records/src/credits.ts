import type { Redis } from 'ioredis';
import type { Credits } from '@tryon/domain';
import { RedisKeys } from '@tryon/redis';
import { SAVED_BY_REUSE_FIELD } from './batch-codec.js';
import { CREDIT_FIELDS } from './item-codec.js';
import { addCredits, addSavedByReuseScript } from './scripts/add-credits.js';

/** Whose credit a create is: the item, its batch and the FitRoom key (by budget name). */
export interface CreditHolder {
  itemId: string;
  batchId: string;
  budgetKey: string;
}

/**
 * FitRoom credits per item, batch and key, in Redis. A create opens one credit as possibly spent
 * just before it is sent, then settles it: spent (FitRoom confirmed the task), gone (never sent,
 * or refused), or left possibly spent (no usable answer). So at every moment, crashes included,
 * what FitRoom charged lies between `spent` and `spent + possibly_spent`.
 */
export class CreditBook {
  private readonly keys: RedisKeys;

  constructor(
    readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  /** Adds to the credits of an item, its batch and its key, atomically. */
  async add(holder: CreditHolder, delta: { spent: number; possiblySpent: number }): Promise<void> {
    await addCredits(
      this.redis,
      {
        item: this.keys.item(holder.itemId),
        batch: this.keys.batch(holder.batchId),
        keyCredits: this.keys.budgetCredits(holder.budgetKey),
      },
      CREDIT_FIELDS,
      delta,
    );
  }

  /** A create is about to be sent: one credit possibly spent until it is settled. */
  async open(holder: CreditHolder): Promise<void> {
    await this.add(holder, { spent: 0, possiblySpent: 1 });
  }

  /** FitRoom confirmed the task of an opened create. */
  async confirm(holder: CreditHolder): Promise<void> {
    await this.add(holder, { spent: 1, possiblySpent: -1 });
  }

  /** An opened create was never sent, or FitRoom refused it: no credit. */
  async cancel(holder: CreditHolder): Promise<void> {
    await this.add(holder, { spent: 0, possiblySpent: -1 });
  }

  /** An item of the batch was completed from an earlier render: a credit saved. */
  async savedByReuse(batchId: string): Promise<void> {
    await addSavedByReuseScript.run(this.redis, [this.keys.batch(batchId)], [SAVED_BY_REUSE_FIELD]);
  }

  /** The credits of each key, all processes together, since the key was first used. */
  async byKey(budgetKeys: string[]): Promise<Credits[]> {
    const pipeline = this.redis.pipeline();
    for (const key of budgetKeys) {
      pipeline.hmget(this.keys.budgetCredits(key), 'spent', 'possibly_spent');
    }
    const replies = (await pipeline.exec()) ?? [];
    return budgetKeys.map((_, i) => {
      const [spent, possibly] = (replies[i]?.[1] as (string | null)[] | undefined) ?? [];
      return { spent: Number(spent ?? 0), possibly_spent: Number(possibly ?? 0) };
    });
  }
}
