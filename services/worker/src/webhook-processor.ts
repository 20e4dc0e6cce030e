import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { WebhookJobData } from '@tryon/domain';
import type { Operations } from '@tryon/records';
import { deliverWebhook, tenantSigningSecret, type WebhookEvent } from '@tryon/webhooks';

export interface WebhookDeps {
  operations: Operations;
  masterSecret: string;
  dispatcher: Dispatcher;
  timeoutMs: number;
  /** Told the outcome of every attempt (metrics). */
  onDelivered?: (ok: boolean) => void;
  logger: Logger;
}

export class WebhookDeliveryError extends Error {
  override readonly name = 'WebhookDeliveryError';
}

/**
 * Delivers one event, signed with its tenant's secret and always the same webhook-id. A failed
 * attempt throws so BullMQ retries it on the configured schedule; every attempt is recorded on
 * the batch so tenants can see what happened.
 */
export function createWebhookProcessor(deps: WebhookDeps) {
  return async function processWebhook(job: Job<WebhookJobData>): Promise<{ status: number }> {
    const { eventId, tenantId, batchId, url, body } = job.data;
    const event = JSON.parse(body) as WebhookEvent<object>;
    const result = await deliverWebhook({
      url,
      id: eventId,
      event,
      secret: tenantSigningSecret(deps.masterSecret, tenantId),
      dispatcher: deps.dispatcher,
      timeoutMs: deps.timeoutMs,
    });
    deps.onDelivered?.(result.ok);
    await deps.operations.recordDelivery(batchId, {
      event_id: eventId,
      type: event.type,
      attempt: job.attemptsMade + 1,
      ok: result.ok,
      status: result.status ?? null,
      error: result.ok ? null : (result.error ?? result.code ?? 'failed'),
      duration_ms: result.durationMs,
    });
    if (!result.ok) {
      deps.logger.warn(
        {
          eventId,
          batchId,
          attempt: job.attemptsMade + 1,
          code: result.code,
          status: result.status,
        },
        'webhook delivery failed',
      );
      throw new WebhookDeliveryError(
        result.error ?? `delivery failed (${result.code ?? 'unknown'})`,
      );
    }
    return { status: result.status ?? 200 };
  };
}
