import {
  batchOutcome,
  type Batch,
  type BatchCounts,
  type BatchStatus,
  type ClothType,
} from '@tryon/domain';
import { isoOf } from './item-codec.js';

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
  name?: string | undefined;
  webhookUrl?: string | undefined;
  idempotencyKey?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
  priority?: number | undefined;
  freshRenders?: boolean | undefined;
  inputChecks?: boolean | undefined;
}

export interface BatchRecord extends Batch {
  tenant_id: string;
  /** Bumped each time the batch finishes; part of batch.completed's webhook id. */
  completion_seq: number;
  /** False until the batch's jobs are in the queue (a crash in between is repaired on resubmit). */
  enqueued: boolean;
}

/** The batch hash of a new batch. */
export function encodeNewBatch(batchId: string, input: NewBatch, now: number) {
  return {
    id: batchId,
    tenant_id: input.tenantId,
    name: input.name ?? '',
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
  };
}

/** A batch from its hash and the sizes of its per-state sets (ITEM_STATUSES order). */
export function decodeBatch(hash: Record<string, string>, stateCounts: number[]): BatchRecord {
  const [queued = 0, running = 0, completed = 0, failed = 0, cancelled = 0] = stateCounts;
  const counts: BatchCounts = {
    total: Number(hash.total),
    queued,
    running,
    completed,
    failed,
    cancelled,
  };
  const finished = counts.completed + counts.failed + counts.cancelled;
  const status = hash.status as BatchStatus;
  return {
    id: hash.id ?? '',
    tenant_id: hash.tenant_id ?? '',
    name: hash.name || null,
    status,
    outcome: batchOutcome(status, counts),
    counts,
    progress: counts.total === 0 ? 1 : finished / counts.total,
    webhook_url: hash.webhook_url || null,
    idempotency_key: hash.idempotency_key || null,
    metadata: hash.metadata ? (JSON.parse(hash.metadata) as Record<string, unknown>) : null,
    priority: Number(hash.priority ?? 0),
    fresh_renders: hash.fresh_renders === '1',
    input_checks: hash.input_checks === '1',
    created_at: isoOf(hash.created_at) ?? new Date(0).toISOString(),
    retried_at: isoOf(hash.retried_at),
    completed_at: isoOf(hash.completed_at),
    completion_seq: Number(hash.completion_seq ?? 0),
    enqueued: hash.enqueued === '1',
  };
}

export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

/** A page cursor: opaque to clients, the position after which the next page starts. */
export function encodeCursor(position: number): string {
  return Buffer.from(`p:${position}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  const match = /^p:(\d{1,9})$/.exec(text);
  if (!match) throw new InvalidCursorError('cursor is not one this API gave out');
  return Number(match[1]);
}
