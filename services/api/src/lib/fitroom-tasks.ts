import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import type { ItemRecord } from '@tryon/records';
import type { TaskAnswer } from '../fitroom-schemas.js';

/** Marks a batch made by POST /api/tryon/v2/tasks (its metadata `source`). */
export const FITROOM_COMPAT_SOURCE = 'fitroom-compatible-api';

/** FitRoom's error text of a FAILED task (its document's example). */
export const FITROOM_FAILED_TEXT = 'Failed to process try-on task';

const ITEM_ID = /^itm_[0-9a-z]{20}$/;
export const isItemId = (id: string): boolean => ITEM_ID.test(id);

const unixSeconds = (ms: number): number => Math.floor(ms / 1000);
const isoMs = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso));

export interface TaskViewInput {
  item: ItemRecord;
  nowMs: number;
  /** Expected created -> completed time of this item's mode (config.fitroom.*TaskMs). */
  expectedMs: number;
  /**
   * When the FitRoom task now rendering this item was created, when it is not the item's first
   * (a task that ended FAILED was created again): progress starts over from it, as a new
   * FitRoom task's does, instead of sitting at 99 for the whole re-creation.
   */
  currentTaskFromMs?: number;
  /** Why a CREATED task cannot start yet (every FitRoom key out of credit), if it cannot. */
  waitingFor?: string;
  /** Only called for a completed item. */
  downloadUrl: () => string;
}

/** PROCESSING's progress: the share of the expected duration elapsed, 1..99. */
export function estimatedProgress(elapsedMs: number, expectedMs: number): number {
  const share = expectedMs > 0 ? elapsedMs / expectedMs : 1;
  return Math.min(99, Math.max(1, Math.floor(share * 100)));
}

/**
 * An item as FitRoom's Get Task Status answers a task: the field sets (and order) of the
 * document's examples. queued -> CREATED, running -> PROCESSING, completed -> COMPLETED,
 * failed and cancelled -> FAILED.
 */
export function taskView(input: TaskViewInput): Static<typeof TaskAnswer> {
  const { item, nowMs } = input;
  const task_id = item.id;
  const createdMs = isoMs(item.created_at) ?? nowMs;
  const created_at = unixSeconds(createdMs);
  const startedMs = isoMs(item.started_at) ?? createdMs;
  const started_at = unixSeconds(startedMs);
  const completed_at = unixSeconds(isoMs(item.completed_at) ?? isoMs(item.updated_at) ?? nowMs);
  const processing = (progress: number) =>
    ({ task_id, status: 'PROCESSING', progress, created_at, started_at }) as const;

  switch (item.status) {
    case 'queued':
      return input.waitingFor === undefined
        ? { task_id, status: 'CREATED', progress: 0, created_at }
        : { task_id, status: 'CREATED', progress: 0, created_at, message: input.waitingFor };
    case 'running': {
      const fromMs = Math.max(startedMs, input.currentTaskFromMs ?? startedMs);
      return processing(estimatedProgress(nowMs - fromMs, input.expectedMs));
    }
    case 'completed':
      // Stored before the item turns completed; a missing result is still being written.
      if (!item.result) return processing(99);
      return {
        task_id,
        status: 'COMPLETED',
        download_signed_url: input.downloadUrl(),
        progress: 100,
        created_at,
        started_at,
        completed_at,
      };
    case 'failed':
    case 'cancelled':
      // FitRoom's own words: the service's reason (which task, how many tries) is on /v1/items.
      return {
        task_id,
        status: 'FAILED',
        error: item.status === 'cancelled' ? 'The task was cancelled' : FITROOM_FAILED_TEXT,
        created_at,
        started_at,
        completed_at,
      };
  }
}

/** The label the URL-signing key is derived under: never the master secret itself. */
const KEY_LABEL = 'tryon/fitroom-compatible/result-url/v1';

export type UrlVerdict = 'ok' | 'bad-signature' | 'expired';

/**
 * Signs the tokenless result links of completed tasks (`download_signed_url`): hex
 * HMAC-SHA256 of `<item id>.<expires>` (unix seconds) under a key derived from the webhook
 * master secret, so every api process signs and verifies alike.
 */
export class ResultUrlSigner {
  private readonly key: Buffer;

  constructor(masterSecret: string) {
    this.key = createHmac('sha256', masterSecret).update(KEY_LABEL).digest();
  }

  private signature(itemId: string, expires: string): Buffer {
    return createHmac('sha256', this.key).update(`${itemId}.${expires}`).digest();
  }

  url(publicUrl: string, itemId: string, expiresSeconds: number): string {
    const expires = String(expiresSeconds);
    const signature = this.signature(itemId, expires).toString('hex');
    return `${publicUrl}${resultPath(itemId)}?expires=${expires}&signature=${signature}`;
  }

  verify(itemId: string, expires: unknown, signature: unknown, nowMs: number): UrlVerdict {
    if (typeof expires !== 'string' || !/^\d{1,12}$/.test(expires)) return 'bad-signature';
    if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return 'bad-signature';
    const expected = this.signature(itemId, expires);
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return 'bad-signature';
    return unixSeconds(nowMs) >= Number(expires) ? 'expired' : 'ok';
  }
}

export const RESULTS_PREFIX = '/api/tryon/v2/results';
export const resultPath = (itemId: string): string =>
  `${RESULTS_PREFIX}/${encodeURIComponent(itemId)}`;
