import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import {
  newBatchId,
  newItemId,
  type Asset,
  type Batch,
  type BatchCounts,
  type BatchStatus,
  type ClothType,
  type Item,
  type ItemError,
  type ItemStatus,
} from '@tryon/domain';
import { batchEventsChannel } from './batch-events.js';
import { BatchRetention, liveBatchesKey } from './retention.js';
import { MOVE_ALL, STORE_ITEMS, TRANSITION } from './scripts.js';

export interface NewItem {
  model: string;
  cloth: string;
  lower_cloth?: string | undefined;
  cloth_type: ClothType;
  hd_mode?: boolean | undefined;
  external_id?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface NewBatch {
  tenantId: string;
  items: NewItem[];
  webhookUrl?: string | undefined;
  idempotencyKey?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
  priority?: number | undefined;
  freshRenders?: boolean | undefined;
  inputChecks?: boolean | undefined;
}

/** An item as stored, with what the worker needs beyond the public shape. */
export interface ItemRecord extends Omit<Item, 'result'> {
  tenant_id: string;
  /** Bumped by every retry, so each run gets its own job id. */
  run: number;
  result: Omit<NonNullable<Item['result']>, 'url'> | null;
}

export interface BatchRecord extends Batch {
  tenant_id: string;
  /** Bumped each time the batch finishes; part of batch.completed's webhook id. */
  completion_seq: number;
  /** False until the batch's jobs are in the queue (a crash in between is repaired on resubmit). */
  enqueued: boolean;
}

export interface TransitionResult {
  changed: boolean;
  /** True for exactly one caller: the one whose change finished the batch. */
  batchFinished: boolean;
  completionSeq: number;
  previous: ItemStatus | null;
}

export interface ItemUpdate {
  fitroom_task_id?: string | null;
  attempts?: number;
  error?: ItemError | null;
  result?: ItemRecord['result'];
  completed_at?: number | null;
}

const STATES: ItemStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];
const ITEM_STORE_CHUNK = 2_500;
/** How long a repeated idempotency key waits for the first request's batch to appear. */
const IDEMPOTENCY_WAIT_TRIES = 40;
const IDEMPOTENCY_WAIT_MS = 50;
/** Replaces the holder of a key only if it is still the one we saw. */
const TAKE_OVER = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`;

const iso = (ms: string | undefined): string | null =>
  ms && ms !== '' ? new Date(Number(ms)).toISOString() : null;

function parseJson(text: string | undefined): Record<string, unknown> | null {
  if (!text) return null;
  return JSON.parse(text) as Record<string, unknown>;
}

/** Batches, items and assets in Redis, under one key prefix. */
export class Records {
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {}

  private batchKey = (batchId: string) => `${this.prefix}:batch:${batchId}`;
  private itemPrefix = () => `${this.prefix}:item:`;
  private itemKey = (itemId: string) => `${this.prefix}:item:${itemId}`;
  private tenantBatchesKey = (tenantId: string) => `${this.prefix}:tenant:${tenantId}:batches`;
  private idempotencyKey = (tenantId: string, key: string) =>
    `${this.prefix}:tenant:${tenantId}:idempotency:${key}`;
  private assetKey = (tenantId: string, assetId: string) =>
    `${this.prefix}:tenant:${tenantId}:asset:${assetId}`;

  /**
   * Records a batch and its items atomically. With an idempotency key already used by this
   * tenant, answers the batch it made instead (created: false).
   */
  async createBatch(input: NewBatch): Promise<{ batch: BatchRecord; created: boolean }> {
    const batchId = newBatchId();
    if (input.idempotencyKey) {
      const existing = await this.claimIdempotencyKey(
        this.idempotencyKey(input.tenantId, input.idempotencyKey),
        batchId,
      );
      if (existing) return { batch: existing, created: false };
    }
    const now = Date.now();
    const batchKey = this.batchKey(batchId);
    // Items first, in chunks, the batch record last: until it exists the items are unreachable,
    // so a crash half-way leaves no half batch for anyone to see.
    for (let start = 0; start < input.items.length; start += ITEM_STORE_CHUNK) {
      const rows = input.items
        .slice(start, start + ITEM_STORE_CHUNK)
        .map((item, offset) => [
          newItemId(),
          start + offset,
          item.model,
          item.cloth,
          item.lower_cloth ?? '',
          item.cloth_type,
          item.hd_mode ? 1 : 0,
          item.external_id ?? '',
          item.metadata ? JSON.stringify(item.metadata) : '',
        ]);
      await this.redis.eval(
        STORE_ITEMS,
        1,
        batchKey,
        this.itemPrefix(),
        batchId,
        input.tenantId,
        now,
        JSON.stringify(rows),
      );
    }
    const multi = this.redis.multi();
    multi.hset(batchKey, {
      id: batchId,
      tenant_id: input.tenantId,
      status: 'queued',
      total: input.items.length,
      webhook_url: input.webhookUrl ?? '',
      idempotency_key: input.idempotencyKey ?? '',
      metadata: input.metadata ? JSON.stringify(input.metadata) : '',
      priority: input.priority ?? 0,
      fresh_renders: input.freshRenders ? 1 : 0,
      input_checks: input.inputChecks ? 1 : 0,
      created_at: now,
      completed_at: '',
      completion_seq: 0,
      enqueued: 0,
    });
    multi.zadd(this.tenantBatchesKey(input.tenantId), now, batchId);
    multi.zadd(liveBatchesKey(this.prefix), now, batchId);
    await multi.exec();
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
      const taken = await this.redis.eval(TAKE_OVER, 1, key, holder, batchId);
      if (taken === 1) return null;
    }
  }

  async markEnqueued(batchId: string): Promise<void> {
    await this.redis.hset(this.batchKey(batchId), 'enqueued', 1);
  }

  /** The batch, or null when absent or (with tenantId) another tenant's. */
  async getBatch(batchId: string, tenantId?: string): Promise<BatchRecord | null> {
    const key = this.batchKey(batchId);
    const pipeline = this.redis.pipeline().hgetall(key);
    for (const state of STATES) pipeline.zcard(`${key}:state:${state}`);
    const results = (await pipeline.exec()) ?? [];
    const hash = results[0]?.[1] as Record<string, string> | undefined;
    if (!hash || !hash.id) return null;
    if (tenantId !== undefined && hash.tenant_id !== tenantId) return null;
    const stateCounts = STATES.map((_, i) => Number(results[i + 1]?.[1] ?? 0));
    const counts: BatchCounts = {
      total: Number(hash.total),
      queued: stateCounts[0]!,
      running: stateCounts[1]!,
      completed: stateCounts[2]!,
      failed: stateCounts[3]!,
      cancelled: stateCounts[4]!,
    };
    const finished = counts.completed + counts.failed + counts.cancelled;
    return {
      id: hash.id,
      tenant_id: hash.tenant_id ?? '',
      status: hash.status as BatchStatus,
      counts,
      progress: counts.total === 0 ? 1 : finished / counts.total,
      webhook_url: hash.webhook_url || null,
      idempotency_key: hash.idempotency_key || null,
      metadata: parseJson(hash.metadata),
      priority: Number(hash.priority ?? 0),
      fresh_renders: hash.fresh_renders === '1',
      input_checks: hash.input_checks === '1',
      created_at: iso(hash.created_at) ?? new Date(0).toISOString(),
      completed_at: iso(hash.completed_at),
      completion_seq: Number(hash.completion_seq ?? 0),
      enqueued: hash.enqueued === '1',
    };
  }

  /** What workers need of a batch for each item: one round trip, no counts. */
  async getBatchSettings(batchId: string): Promise<{
    priority: number;
    freshRenders: boolean;
    inputChecks: boolean;
  } | null> {
    const [id, priority, fresh, checks] = await this.redis.hmget(
      this.batchKey(batchId),
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

  /** A tenant's batches, newest first. */
  async listBatches(tenantId: string, limit = 50): Promise<BatchRecord[]> {
    const ids = await this.redis.zrevrange(this.tenantBatchesKey(tenantId), 0, limit - 1);
    const batches = await Promise.all(ids.map((id) => this.getBatch(id, tenantId)));
    return batches.filter((b): b is BatchRecord => b !== null);
  }

  async getItem(itemId: string, tenantId?: string): Promise<ItemRecord | null> {
    const hash = await this.redis.hgetall(this.itemKey(itemId));
    if (!hash.id) return null;
    if (tenantId !== undefined && hash.tenant_id !== tenantId) return null;
    return toItem(hash);
  }

  /** Several items in one round trip, in the order asked; absent ones are left out. */
  async getItems(itemIds: string[]): Promise<ItemRecord[]> {
    if (itemIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of itemIds) pipeline.hgetall(this.itemKey(id));
    const hashes = ((await pipeline.exec()) ?? []).map(([, h]) => h as Record<string, string>);
    return hashes.filter((h) => h?.id).map(toItem);
  }

  /** Every item id of a batch in order, optionally of one status; for enqueueing and manifests. */
  async itemIds(batchId: string, status?: ItemStatus): Promise<string[]> {
    const set = status ? `state:${status}` : 'items';
    return this.redis.zrange(`${this.batchKey(batchId)}:${set}`, 0, -1);
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
    const set = options.status ? `state:${options.status}` : 'items';
    const entries = await this.redis.zrangebyscore(
      `${this.batchKey(batchId)}:${set}`,
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
    for (const id of pageIds) pipeline.hgetall(this.itemKey(id));
    const hashes = ((await pipeline.exec()) ?? []).map(([, h]) => h as Record<string, string>);
    const items = hashes.filter((h) => h.id).map(toItem);
    const hasMore = ids.length > options.limit;
    const last = positions[pageIds.length - 1];
    return { items, nextCursor: hasMore && last !== undefined ? encodeCursor(last) : null };
  }

  /**
   * Changes an item's status if it is in one of `from`, with its other fields, atomically with
   * the batch counts. Returns whether it changed and whether this change finished the batch.
   */
  async transition(
    item: { id: string; batch_id: string },
    from: ItemStatus[],
    to: ItemStatus,
    update: ItemUpdate = {},
  ): Promise<TransitionResult> {
    const batchKey = this.batchKey(item.batch_id);
    const [changed, finished, seq, previous] = (await this.redis.eval(
      TRANSITION,
      3,
      this.itemKey(item.id),
      batchKey,
      batchKey,
      to,
      Date.now(),
      from.join(','),
      batchEventsChannel(this.prefix, item.batch_id),
      ...updateFields(update),
    )) as [number, number, number, string];
    return {
      changed: changed === 1,
      batchFinished: finished === 1,
      completionSeq: seq,
      previous: previous === '' ? null : (previous as ItemStatus),
    };
  }

  /** Updates fields that are not the status (task id, attempts). */
  async updateItem(itemId: string, update: ItemUpdate): Promise<void> {
    const fields = updateFields(update);
    if (fields.length > 0)
      await this.redis.hset(this.itemKey(itemId), ...fields, 'updated_at', Date.now());
  }

  /** Cancels what has not started. Returns the cancelled item ids. */
  async cancelBatch(
    batchId: string,
  ): Promise<{ cancelled: string[]; batchFinished: boolean; completionSeq: number }> {
    const { moved, ...rest } = await this.moveAll(batchId, 'queued', 'cancelled', 'cancelled', [
      'completed_at',
      Date.now(),
    ]);
    return { cancelled: moved, ...rest };
  }

  /** Puts failed items back in the queue. Returns their ids (their `run` is bumped). */
  async retryBatch(batchId: string): Promise<{ requeued: string[] }> {
    const { moved } = await this.moveAll(batchId, 'failed', 'queued', 'running', [
      'error_code',
      '',
      'error_message',
      '',
      'completed_at',
      '',
      'fitroom_task_id',
      '',
    ]);
    // Open again: its records lose the expiry they got when it finished.
    if (moved.length > 0) await new BatchRetention(this.redis, this.prefix).keepBatch(batchId);
    return { requeued: moved };
  }

  private async moveAll(
    batchId: string,
    from: ItemStatus,
    to: ItemStatus,
    batchStatus: BatchStatus,
    fields: (string | number)[],
  ): Promise<{ moved: string[]; batchFinished: boolean; completionSeq: number }> {
    const batchKey = this.batchKey(batchId);
    const result = (await this.redis.eval(
      MOVE_ALL,
      3,
      batchKey,
      batchKey,
      this.itemPrefix(),
      from,
      to,
      Date.now(),
      batchStatus,
      batchEventsChannel(this.prefix, batchId),
      ...fields,
    )) as (string | number)[];
    const seq = Number(result.pop());
    const finished = Number(result.pop()) === 1;
    return { moved: result.map(String), batchFinished: finished, completionSeq: seq };
  }

  async saveAsset(tenantId: string, asset: Asset & { storage_key: string }): Promise<void> {
    await this.redis.hset(this.assetKey(tenantId, asset.id), { ...asset });
  }

  async getAsset(
    tenantId: string,
    assetId: string,
  ): Promise<(Asset & { storage_key: string }) | null> {
    const hash = await this.redis.hgetall(this.assetKey(tenantId, assetId));
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

function updateFields(update: ItemUpdate): (string | number)[] {
  const fields: (string | number)[] = [];
  if (update.fitroom_task_id !== undefined)
    fields.push('fitroom_task_id', update.fitroom_task_id ?? '');
  if (update.attempts !== undefined) fields.push('attempts', update.attempts);
  if (update.error !== undefined) {
    fields.push(
      'error_code',
      update.error?.code ?? '',
      'error_message',
      update.error?.message ?? '',
    );
  }
  if (update.result !== undefined) {
    const r = update.result;
    fields.push(
      'result_key',
      r?.key ?? '',
      'result_bytes',
      r?.bytes ?? '',
      'result_sha256',
      r?.sha256 ?? '',
      'result_content_type',
      r?.content_type ?? '',
    );
  }
  if (update.completed_at !== undefined) fields.push('completed_at', update.completed_at ?? '');
  return fields;
}

function toItem(hash: Record<string, string>): ItemRecord {
  return {
    id: hash.id ?? '',
    batch_id: hash.batch_id ?? '',
    tenant_id: hash.tenant_id ?? '',
    run: Number(hash.run ?? 0),
    status: hash.status as ItemStatus,
    model: hash.model ?? '',
    cloth: hash.cloth ?? '',
    lower_cloth: hash.lower_cloth || null,
    cloth_type: hash.cloth_type as ClothType,
    hd_mode: hash.hd_mode === '1',
    external_id: hash.external_id || null,
    metadata: parseJson(hash.metadata),
    fitroom_task_id: hash.fitroom_task_id || null,
    attempts: Number(hash.attempts ?? 0),
    error: hash.error_code ? { code: hash.error_code, message: hash.error_message ?? '' } : null,
    result: hash.result_key
      ? {
          key: hash.result_key,
          bytes: Number(hash.result_bytes),
          sha256: hash.result_sha256 ?? '',
          content_type: hash.result_content_type ?? '',
        }
      : null,
    created_at: iso(hash.created_at) ?? new Date(0).toISOString(),
    updated_at: iso(hash.updated_at) ?? new Date(0).toISOString(),
    started_at: iso(hash.started_at),
    completed_at: iso(hash.completed_at),
  };
}

export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

function encodeCursor(position: number): string {
  return Buffer.from(`p:${position}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  const match = /^p:(\d{1,9})$/.exec(text);
  if (!match) throw new InvalidCursorError('cursor is not one this API gave out');
  return Number(match[1]);
}
