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

/**
 * Replayed events go after live ones: BullMQ serves jobs without a priority first, and among
 * replays a lower page number first, so a tenant replaying a huge batch neither delays any
 * tenant's live events nor another tenant's smaller replay by more than a page at a time.
 */
export const REPLAY_PRIORITY_BASE = 10;
/** BullMQ's largest priority. */
const MAX_PRIORITY = 2_097_152;

/**
 * A replayed event's delivery job: the event id stays the webhook-id, the job id is new (so the
 * queue takes it while the original is still kept), its priority is below every live event's,
 * and it is kept only briefly once done (each attempt is recorded on the batch anyway), so
 * replays cannot fill Redis.
 */
export function replayWebhookJob(
  data: WebhookJobData,
  retryScheduleMs: number[],
  replay: { number: number; page: number },
) {
  const job = webhookJob(data, retryScheduleMs);
  return {
    ...job,
    opts: {
      ...job.opts,
      jobId: replayJobId(data.eventId, replay.number),
      priority: Math.min(MAX_PRIORITY, REPLAY_PRIORITY_BASE + replay.page),
      removeOnComplete: { age: 3_600, count: 1_000 },
      removeOnFail: { age: 24 * 3_600, count: 1_000 },
    },
  };
}

/** The BullMQ job id of a replayed event: the event id stays the webhook-id, the job is new. */
export const replayJobId = (eventId: string, replay: number): string =>
  `${eventId}.replay-${replay}`;
