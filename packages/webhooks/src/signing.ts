import { createHash, createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export type WebhookEventType = 'item.completed' | 'item.failed' | 'batch.completed';

export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = [
  'item.completed',
  'item.failed',
  'batch.completed',
];

/** The JSON body of every webhook. `timestamp` is when the event happened (ISO 8601). */
export interface WebhookEvent<T extends object = Record<string, unknown>> {
  type: WebhookEventType;
  timestamp: string;
  data: T;
}

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * A tenant's own signing secret: `whsec_` + base64 of HMAC-SHA256(master, `webhook-signing:` +
 * tenantId). Stable for a given master secret; a tenant that knows its own secret learns
 * nothing about another's, so it cannot forge their events.
 */
export function tenantSigningSecret(masterSecret: string, tenantId: string): string {
  if (masterSecret === '') throw new Error('the webhook master secret must not be empty');
  const key = createHmac('sha256', masterSecret).update(`webhook-signing:${tenantId}`).digest();
  return `whsec_${key.toString('base64')}`;
}

/**
 * The three Standard Webhooks headers for one delivery attempt. Sign the exact string that is
 * sent as the body. `timestamp` should be the attempt time (receivers reject signatures older
 * than a few minutes), while `id` stays the same across attempts.
 */
export function signWebhook(input: {
  secret: string;
  id: string;
  timestamp: Date;
  body: string;
}): WebhookHeaders {
  const signature = new Webhook(input.secret).sign(input.id, input.timestamp, input.body);
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(Math.floor(input.timestamp.getTime() / 1000)),
    'webhook-signature': signature,
  };
}

/**
 * A stable webhook-id: `msg_` + 32 hex characters of SHA-256 over the event's identity, so a
 * retried or replayed delivery carries the same id and receivers can deduplicate. Pass
 * `revision` to make a genuinely new event of the same kind distinct (e.g. an item that failed,
 * was retried by the tenant, and failed again).
 */
export function webhookEventId(input: {
  type: WebhookEventType;
  batchId: string;
  itemId?: string | null;
  revision?: string | number | null;
}): string {
  const parts = [input.type, input.batchId, input.itemId ?? '', String(input.revision ?? '')];
  const digest = createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  return `msg_${digest.slice(0, 32)}`;
}

/** Builds an event body; store the result with the delivery job so retries send the same bytes. */
export function webhookEvent<T extends object>(
  type: WebhookEventType,
  data: T,
  at: Date = new Date(),
): WebhookEvent<T> {
  return { type, timestamp: at.toISOString(), data };
}
