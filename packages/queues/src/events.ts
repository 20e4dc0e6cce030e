import type { Batch, Item, WebhookJobData } from '@tryon/domain';
import { webhookEvent, webhookEventId, type WebhookEventType } from '@tryon/webhooks';

export interface EventTarget {
  tenantId: string;
  batchId: string;
  url: string;
}

function job(
  target: EventTarget,
  eventId: string,
  type: WebhookEventType,
  data: object,
): WebhookJobData {
  return {
    eventId,
    tenantId: target.tenantId,
    batchId: target.batchId,
    url: target.url,
    // Built once and stored with the job, so every retry sends the same bytes.
    body: JSON.stringify(webhookEvent(type, data)),
  };
}

/** item.completed or item.failed: `data` is the item. One event id per run of the item. */
export function itemEvent(
  target: EventTarget,
  item: Item,
  run: number,
  type: 'item.completed' | 'item.failed',
): WebhookJobData {
  const eventId = webhookEventId({ type, batchId: target.batchId, itemId: item.id, revision: run });
  return job(target, eventId, type, item);
}

/** batch.completed: `data` is the batch. A retry that reopens the batch completes it anew. */
export function batchCompletedEvent(
  target: EventTarget,
  batch: Batch,
  completionSeq: number,
): WebhookJobData {
  const type = 'batch.completed';
  const eventId = webhookEventId({ type, batchId: target.batchId, revision: completionSeq });
  return job(target, eventId, type, batch);
}

/** A delivery job: its id is the event id, so the same event is never queued twice. */
export function webhookJob(data: WebhookJobData, retryScheduleMs: number[]) {
  return {
    name: 'webhook',
    data,
    opts: {
      jobId: data.eventId,
      attempts: retryScheduleMs.length + 1,
      backoff: { type: 'schedule' },
      removeOnComplete: { age: 7 * 24 * 3_600 },
      removeOnFail: { age: 30 * 24 * 3_600 },
    },
  };
}
