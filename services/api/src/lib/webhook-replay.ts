import type { WebhookJobData } from '@tryon/domain';
import {
  batchCompletedEvent,
  itemEvent,
  replayJobId,
  replayWebhookJob,
  type WebhookQueue,
} from '@tryon/queues';
import {
  publicBatch,
  publicItem,
  type BatchRecord,
  type Operations,
  type Records,
} from '@tryon/records';
import { ApiError } from '../errors.js';
import { REPLAY_BUDGET_WINDOW_MS, REPLAY_EVENTS_PER_WINDOW, REPLAY_PAGE } from '../limits.js';

export interface WebhookReplayDeps {
  records: Records;
  operations: Operations;
  webhookQueue: WebhookQueue;
  publicUrl: string;
  retryScheduleMs: number[];
  /** Events one tenant may replay per window (operators' replays are not counted). */
  replayBudget?: { limit: number; windowMs: number };
}

export interface ReplayOptions {
  cooldownMs: number;
  /** A tenant's own replay: counted against its replay budget (429 replay_limit beyond). */
  countAgainstTenant: boolean;
}

export interface ReplayResult {
  batch_id: string;
  /** 1 for the batch's first replay, 2 for the next, ... */
  replay: number;
  /** Events queued for delivery. */
  events: number;
  by_type: { 'item.completed': number; 'item.failed': number; 'batch.completed': number };
}

export { replayJobId };

/**
 * Queues a batch's webhook events again, built exactly as the worker builds them (same event
 * ids, hence the same webhook-id, so receivers deduplicate), from the items' current state:
 * item.completed or item.failed for every finished item, batch.completed when the batch is
 * finished. Each replay gets job ids of its own, so BullMQ accepts the jobs even while the
 * original deliveries are still kept or retrying. Events are queued a page at a time, below
 * live events and page by page (see replayWebhookJob), and a tenant replays at most its budget
 * of events per window.
 */
export class WebhookReplayer {
  constructor(private readonly deps: WebhookReplayDeps) {}

  async replay(batch: BatchRecord, options: ReplayOptions): Promise<ReplayResult> {
    const { records, operations, webhookQueue } = this.deps;
    if (!batch.webhook_url) {
      throw new ApiError(
        409,
        'no_webhook_url',
        'this batch was submitted without a webhook_url: it has no events to replay',
      );
    }
    const claim = await operations.claimReplay(batch.id, options.cooldownMs);
    if (claim.replay === null) {
      const seconds = Math.max(1, Math.ceil(claim.retryInMs / 1000));
      throw new ApiError(
        429,
        'replay_too_soon',
        `this batch's events were replayed moments ago; try again in ${seconds} s`,
        seconds,
      );
    }
    if (options.countAgainstTenant) await this.takeBudget(batch);
    const target = { tenantId: batch.tenant_id, batchId: batch.id, url: batch.webhook_url };
    const byType = { 'item.completed': 0, 'item.failed': 0, 'batch.completed': 0 };
    let page = 0;
    const add = async (events: WebhookJobData[]) => {
      if (events.length === 0) return;
      const replay = { number: claim.replay, page: page++ };
      await webhookQueue.addBulk(
        events.map((event) => replayWebhookJob(event, this.deps.retryScheduleMs, replay)),
      );
    };

    for (const [status, type] of [
      ['completed', 'item.completed'],
      ['failed', 'item.failed'],
    ] as const) {
      let cursor: string | undefined;
      // Bounded: each page moves the cursor forward through a finite set.
      do {
        const page = await records.listItems(batch.id, { status, limit: REPLAY_PAGE, cursor });
        await add(
          page.items.map((item) =>
            itemEvent(target, publicItem(item, this.deps.publicUrl), item.run, type),
          ),
        );
        byType[type] += page.items.length;
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
    }

    if (batch.completed_at !== null && batch.completion_seq > 0) {
      await add([batchCompletedEvent(target, publicBatch(batch), batch.completion_seq)]);
      byType['batch.completed'] = 1;
    }
    return {
      batch_id: batch.id,
      replay: claim.replay,
      events: byType['item.completed'] + byType['item.failed'] + byType['batch.completed'],
      by_type: byType,
    };
  }

  /** The batch's events (as its counts say) against the tenant's budget, or 429 replay_limit. */
  private async takeBudget(batch: BatchRecord): Promise<void> {
    const budget = this.deps.replayBudget ?? {
      limit: REPLAY_EVENTS_PER_WINDOW,
      windowMs: REPLAY_BUDGET_WINDOW_MS,
    };
    const events =
      batch.counts.completed + batch.counts.failed + (batch.completed_at !== null ? 1 : 0);
    if (events === 0) return;
    const verdict = await this.deps.operations.takeReplayBudget(batch.tenant_id, events, budget);
    if (verdict.taken) return;
    const seconds = Math.max(1, Math.ceil(verdict.retryInMs / 1000));
    throw new ApiError(
      429,
      'replay_limit',
      `this replay would pass this tenant's limit of ${budget.limit} replayed events per ` +
        `${budget.windowMs / 60_000} minutes; try again in ${seconds} s`,
      seconds,
    );
  }
}
