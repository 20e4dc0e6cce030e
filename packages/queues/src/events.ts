import { createHash } from 'node:crypto';
import type { WebhookEventType, WebhookJobData } from '@tryon/domain';

/** Stable across retries and replays: derived from what the event is about, never random. */
export function webhookEventId(...parts: (string | number)[]): string {
  return `msg_${createHash('sha256').update(parts.join(':')).digest('hex').slice(0, 32)}`;
}

export interface EventTarget {
  tenantId: string;
  batchId: string;
  url: string;
}

function event(
  target: EventTarget,
  eventId: string,
  type: WebhookEventType,
  data: Record<string, unknown>,
): WebhookJobData {
  const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data });
  return { eventId, tenantId: target.tenantId, batchId: target.batchId, url: target.url, body };
}

/** item.completed or item.failed for one run of an item. */
export function itemEvent(
  target: EventTarget,
  item: { id: string; run: number },
  type: 'item.completed' | 'item.failed',
  data: Record<string, unknown>,
): WebhookJobData {
  return event(target, webhookEventId(item.id, item.run, type), type, data);
}

/** batch.completed for one completion of a batch (a retry that reopens it completes it anew). */
export function batchCompletedEvent(
  target: EventTarget,
  completionSeq: number,
  data: Record<string, unknown>,
): WebhookJobData {
  return event(
    target,
    webhookEventId(target.batchId, completionSeq, 'batch.completed'),
    'batch.completed',
    data,
  );
}

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
