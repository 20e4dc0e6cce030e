import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import {
  newBatchId,
  newItemId,
  type Asset,
  type BatchStatus,
  type ItemStatus,
  type ReviewDecision,
} from '@tryon/domain';
import { ITEM_STATUSES, RedisKeys } from '@tryon/redis';
import {
  decodeBatch,
  decodeCursor,
  encodeCursor,
  encodeNewBatch,
  type BatchRecord,
  type NewBatch,
} from './batch-codec.js';
import {
  decodeItem,
  encodeItem,
  encodeItemUpdate,
  ITEM_POSITION_FIELD,
  type ItemRecord,
  type ItemUpdate,
} from './item-codec.js';
import { searchBatchIds } from './batch-search.js';
import { BatchRetention } from './retention.js';

export { BATCH_SEARCH_SCAN } from './batch-search.js';
import { moveAllItems } from './scripts/move-all.js';
import { setItemReview } from './scripts/set-review.js';
import { storeItems } from './scripts/store-items.js';
import { takeOver } from './scripts/take-over.js';
import { transitionItem } from './scripts/transition.js';
import { updateItemOfRun } from './scripts/update-item.js';

export {
  InvalidCursorError,
  type BatchRecord,
  type NewBatch,
  type NewItem,
} from './batch-codec.js';
export type { ItemRecord, ItemUpdate, StoredPreviousResult } from './item-codec.js';

export interface TransitionResult {
  changed: boolean;
  /** The caller acted for a run that is no longer the item's: nothing changed. */
  stale: boolean;
  /** True for exactly one caller: the one whose change finished the batch. */
  batchFinished: boolean;
  completionSeq: number;
  previous: ItemStatus | null;
}

const ITEM_STORE_CHUNK = 2_500;
/** How long a repeated idempotency key waits for the first request's batch to appear. */
const IDEMPOTENCY_WAIT_TRIES = 40;
const IDEMPOTENCY_WAIT_MS = 50;

/** Batches, items and assets in Redis, under one key prefix. */
export class Records {
  private readonly keys: RedisKeys;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  /** A batch's items by position: all of them, or those in one state. */
  private itemSet(batchId: string, status?: ItemStatus): string {
    return status ? this.keys.batchState(batchId, status) : this.keys.batchItems(batchId);
  }

  /**
   * Records a batch and its items atomically. With an idempotency key already used by this
   * tenant, answers the batch it made instead (created: false).
   */
  async createBatch(input: NewBatch): Promise<{ batch: BatchRecord; created: boolean }> {
    const batchId = newBatchId();
    if (input.idempotencyKey) {
      const existing = await this.claimIdempotencyKey(
        this.keys.idempotency(input.tenantId, input.idempotencyKey),
        batchId,
      );
      if (existing) return { batch: existing, created: false };
    }
    const now = Date.now();
    // Items first, in chunks, the batch record last: until it exists the items are unreachable,
    // so a crash half-way leaves no half batch for anyone to see.
    for (let start = 0; start < input.items.length; start += ITEM_STORE_CHUNK) {
      const chunk = input.items.slice(start, start + ITEM_STORE_CHUNK);
      const hashes = chunk.map((item, offset) => ({
        ...encodeItem({
          id: newItemId(),
          batch_id: batchId,
          tenant_id: input.tenantId,
          run: 0,
          status: 'queued',
          model: item.model,
          cloth: item.cloth,
          lower_cloth: item.lower_cloth ?? null,
          cloth_type: item.cloth_type,
          hd_mode: item.hd_mode ?? false,
          external_id: item.external_id ?? null,
          metadata: item.metadata ?? null,
          fitroom_task_id: null,
          attempts: 0,
          created_at: new Date(now).toISOString(),
          updated_at: new Date(now).toISOString(),
          completed_at: null,
        }),
        [ITEM_POSITION_FIELD]: String(start + offset),
      }));
      await storeItems(this.redis, this.keys, batchId, hashes);
    }
    await this.redis
      .multi()
      .hset(this.keys.batch(batchId), encodeNewBatch(batchId, input, now))
      .zadd(this.keys.tenantBatches(input.tenantId), now, batchId)
      .zadd(this.keys.liveBatches(), now, batchId)
      .exec();
    const batch = await this.getBatch(batchId);
    if (!batch) throw new Error(`batch ${batchId} vanished right after it was written`);
    return { batch, created: true };
  }

  /**
   * Claims an idempotency key for a new batch, or answers the batch that holds it. A claim whose
   * batch does not appear (its request is still writing, or died) is waited for a moment, then
   * taken over only if nobody else took it meanwhile.
   */
  private async claimIdempotencyKey(key: string, batchId: string): Promise<BatchRecord | null> {
    for (let attempt = 0; ; attempt++) {
      if ((await this.redis.set(key, batchId, 'NX')) === 'OK') return null;
      const holder = await this.redis.get(key);
      if (!holder) continue;
      const existing = await this.getBatch(holder);
      if (existing) return existing;
      if (attempt < IDEMPOTENCY_WAIT_TRIES) {
        await sleep(IDEMPOTENCY_WAIT_MS);
        continue;
      }
      if (await takeOver(this.redis, key, holder, batchId)) return null;
    }
  }

  async markEnqueued(batchId: string): Promise<void> {
    await this.redis.hset(this.keys.batch(batchId), 'enqueued', 1);
  }

  /** The batch, or null when absent or (with tenantId) another tenant's. */
  async getBatch(batchId: string, tenantId?: string): Promise<BatchRecord | null> {
    const pipeline = this.redis.pipeline().hgetall(this.keys.batch(batchId));
    for (const key of this.keys.batchStates(batchId)) pipeline.zcard(key);
    const results = (await pipeline.exec()) ?? [];
    const hash = results[0]?.[1] as Record<string, string> | undefined;
    if (!hash || !hash.id) return null;
    if (tenantId !== undefined && hash.tenant_id !== tenantId) return null;
    return decodeBatch(
      hash,
      ITEM_STATUSES.map((_, i) => Number(results[i + 1]?.[1] ?? 0)),
    );
  }

  /** What workers need of a batch for each item: one round trip, no counts. */
  async getBatchSettings(batchId: string): Promise<{
    priority: number;
    freshRenders: boolean;
    inputChecks: boolean;
  } | null> {
    const [id, priority, fresh, checks] = await this.redis.hmget(
      this.keys.batch(batchId),
      'id',
      'priority',
      'fresh_renders',
      'input_checks',
    );
    if (!id) return null;
    return {
      priority: Number(priority ?? 0),
      freshRenders: fresh === '1',
      inputChecks: checks === '1',
    };
  }

  /**
   * A tenant's batches, newest first. With `query`, only those whose name or id contains it
   * (ignoring case), looked for among the newest BATCH_SEARCH_SCAN batches.
   */
  async listBatches(tenantId: string, limit = 50, query?: string): Promise<BatchRecord[]> {
    const ids = query
      ? await searchBatchIds(this.redis, this.keys, tenantId, query.toLowerCase(), limit)
      : await this.redis.zrevrange(this.keys.tenantBatches(tenantId), 0, limit - 1);
    const batches = await Promise.all(ids.map((id) => this.getBatch(id, tenantId)));
    return batches.filter((b): b is BatchRecord => b !== null);
  }

  /** Several items in one round trip, in the order asked; absent ones are left out. */
  async getItem(itemId: string, tenantId?: string): Promise<ItemRecord | null> {
    const hash = await this.redis.hgetall(this.keys.item(itemId));
    if (!hash.id) return null;
    if (tenantId !== undefined && hash.tenant_id !== tenantId) return null;
    return decodeItem(hash);
  }

  async getItems(itemIds: string[]): Promise<ItemRecord[]> {
    if (itemIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of itemIds) pipeline.hgetall(this.keys.item(id));
    const hashes = ((await pipeline.exec()) ?? []).map(([, h]) => h as Record<string, string>);
    return hashes.filter((h) => h?.id).map(decodeItem);
  }

  /** Every item id of a batch in order, optionally of one status; for enqueueing and manifests. */
  async itemIds(batchId: string, status?: ItemStatus): Promise<string[]> {
    return this.redis.zrange(this.itemSet(batchId, status), 0, -1);
  }

  /**
   * One page of a batch's items in submission order. The cursor is opaque to clients: the
   * position after which the next page starts.
   */
  async listItems(
    batchId: string,
    options: { status?: ItemStatus | undefined; limit: number; cursor?: string | undefined },
  ): Promise<{ items: ItemRecord[]; nextCursor: string | null }> {
    const after = options.cursor === undefined ? -1 : decodeCursor(options.cursor);
    const entries = await this.redis.zrangebyscore(
      this.itemSet(batchId, options.status),
      `(${after}`,
      '+inf',
      'WITHSCORES',
      'LIMIT',
      0,
      options.limit + 1,
    );
    const ids: string[] = [];
    const positions: number[] = [];
    for (let i = 0; i < entries.length; i += 2) {
      ids.push(entries[i]!);
      positions.push(Number(entries[i + 1]));
    }
    const pageIds = ids.slice(0, options.limit);
    const pipeline = this.redis.pipeline();
    for (const id of pageIds) pipeline.hgetall(this.keys.item(id));
    const hashes = ((await pipeline.exec()) ?? []).map(([, h]) => h as Record<string, string>);
    const items = hashes.filter((h) => h.id).map(decodeItem);
    const hasMore = ids.length > options.limit;
    const last = positions[pageIds.length - 1];
    return { items, nextCursor: hasMore && last !== undefined ? encodeCursor(last) : null };
  }

  /**
   * Changes an item's status if it is in one of `from`, with its other fields, atomically with
   * the batch counts. Returns whether it changed and whether this change finished the batch.
   * With `run`, only while that is the item's current run (checked in the same script).
   */
  async transition(
    item: { id: string; batch_id: string },
    from: ItemStatus[],
    to: ItemStatus,
    update: ItemUpdate = {},
    fence: { run?: number } = {},
  ): Promise<TransitionResult> {
    const [changed, finished, seq, previous] = await transitionItem(this.redis, this.keys, item, {
      from,
      to,
      now: Date.now(),
      ...fence,
      fields: encodeItemUpdate(update),
    });
    return {
      changed: changed === 1,
      stale: changed === -2,
      batchFinished: finished === 1,
      completionSeq: seq,
      previous: previous === '' ? null : (previous as ItemStatus),
    };
  }

  /** Updates fields that are not the status (task id, attempts). */
  async updateItem(itemId: string, update: ItemUpdate): Promise<void> {
    const fields = encodeItemUpdate(update);
    if (fields.length > 0)
      await this.redis.hset(this.keys.item(itemId), ...fields, 'updated_at', Date.now());
  }

  /**
   * Sets (decision) or clears (null) the review of a tenant's item, only if it is completed.
   * Answers the item's status, or null when there is no such item for this tenant.
   */
  async setReview(
    itemId: string,
    tenantId: string,
    decision: ReviewDecision | null,
  ): Promise<ItemStatus | null> {
    const status = await setItemReview(this.redis, this.keys, {
      itemId,
      tenantId,
      decision: decision ?? '',
      now: Date.now(),
    });
    return status === '' ? null : (status as ItemStatus);
  }

  /**
   * Updates fields that are not the status, only while `item.run` is the item's current run
   * (checked in the same script). False when the item has moved on to another run, or is gone.
   */
  async updateItemOfRun(item: { id: string; run: number }, update: ItemUpdate): Promise<boolean> {
    const fields = encodeItemUpdate(update);
    const now = Date.now();
    return (
      (await updateItemOfRun(this.redis, this.keys, item.id, { run: item.run, now, fields })) === 1
    );
  }

  /** Cancels what has not started. Returns the cancelled item ids. */
  async cancelBatch(
    batchId: string,
  ): Promise<{ cancelled: string[]; batchFinished: boolean; completionSeq: number }> {
    const { moved, ...rest } = await this.moveAll(batchId, 'queued', 'cancelled', 'cancelled', {
      completed_at: Date.now(),
    });
    return { cancelled: moved, ...rest };
  }

  /** Puts failed items back in the queue. Returns their ids (their `run` is bumped). */
  async retryBatch(batchId: string): Promise<{ requeued: string[] }> {
    const { moved } = await this.moveAll(batchId, 'failed', 'queued', 'running', {
      error: null,
      completed_at: null,
      fitroom_task_id: null,
    });
    // Open again: its records lose the expiry they got when it finished.
    if (moved.length > 0) await new BatchRetention(this.redis, this.prefix).keepBatch(batchId);
    return { requeued: moved };
  }

  private async moveAll(
    batchId: string,
    from: ItemStatus,
    to: ItemStatus,
    batchStatus: BatchStatus,
    update: ItemUpdate,
  ): Promise<{ moved: string[]; batchFinished: boolean; completionSeq: number }> {
    const result = await moveAllItems(this.redis, this.keys, batchId, {
      from,
      to,
      now: Date.now(),
      batchStatus,
      fields: encodeItemUpdate(update),
    });
    const seq = Number(result.pop());
    const finished = Number(result.pop()) === 1;
    return { moved: result.map(String), batchFinished: finished, completionSeq: seq };
  }

  async saveAsset(tenantId: string, asset: Asset & { storage_key: string }): Promise<void> {
    await this.redis.hset(this.keys.asset(tenantId, asset.id), { ...asset });
  }

  async getAsset(
    tenantId: string,
    assetId: string,
  ): Promise<(Asset & { storage_key: string }) | null> {
    const hash = await this.redis.hgetall(this.keys.asset(tenantId, assetId));
    if (!hash.id) return null;
    return {
      id: hash.id,
      sha256: hash.sha256 ?? '',
      bytes: Number(hash.bytes),
      width: Number(hash.width),
      height: Number(hash.height),
      content_type: hash.content_type ?? '',
      storage_key: hash.storage_key ?? '',
    };
  }
}
