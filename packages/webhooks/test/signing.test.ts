import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  signWebhook,
  tenantSigningSecret,
  webhookEvent,
  webhookEventId,
  webhookRetryDelay,
} from '../src/index.js';

const MASTER = 'test-master-secret';

describe('tenantSigningSecret', () => {
  it('is whsec_ + base64 of 32 bytes, stable, and different per tenant and master', () => {
    const a = tenantSigningSecret(MASTER, 'tenant-a');
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(tenantSigningSecret(MASTER, 'tenant-a')).toBe(a);
    expect(tenantSigningSecret(MASTER, 'tenant-b')).not.toBe(a);
    expect(tenantSigningSecret('another-master', 'tenant-a')).not.toBe(a);
  });

  it('refuses an empty master secret', () => {
    expect(() => tenantSigningSecret('', 't')).toThrow(/must not be empty/);
  });
});

describe('signWebhook', () => {
  const body = JSON.stringify(webhookEvent('item.completed', { item_id: 'i1' }));
  const id = webhookEventId({ type: 'item.completed', batchId: 'b1', itemId: 'i1' });

  it('produces headers that standardwebhooks verifies', () => {
    const secret = tenantSigningSecret(MASTER, 'tenant-a');
    const headers = signWebhook({ secret, id, timestamp: new Date(), body });
    expect(headers['webhook-id']).toBe(id);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it("another tenant's secret does not verify, nor does a changed body", () => {
    const secretA = tenantSigningSecret(MASTER, 'tenant-a');
    const secretB = tenantSigningSecret(MASTER, 'tenant-b');
    const headers = signWebhook({ secret: secretA, id, timestamp: new Date(), body });
    expect(() => new Webhook(secretB).verify(body, { ...headers })).toThrow(
      WebhookVerificationError,
    );
    expect(() => new Webhook(secretA).verify(body + ' ', { ...headers })).toThrow(
      WebhookVerificationError,
    );
  });

  it('uses the timestamp in seconds, so an old signature is rejected by receivers', () => {
    const secret = tenantSigningSecret(MASTER, 'tenant-a');
    const at = new Date('2024-05-01T12:00:00.900Z');
    const headers = signWebhook({ secret, id, timestamp: at, body });
    expect(headers['webhook-timestamp']).toBe(String(Date.parse('2024-05-01T12:00:00Z') / 1000));
    expect(() => new Webhook(secret).verify(body, { ...headers })).toThrow(/too old/);
  });
});

describe('webhookEventId', () => {
  it('is stable for the same inputs and distinct otherwise', () => {
    const a = webhookEventId({ type: 'item.completed', batchId: 'b1', itemId: 'i1' });
    expect(a).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(webhookEventId({ type: 'item.completed', batchId: 'b1', itemId: 'i1' })).toBe(a);
    const others = [
      webhookEventId({ type: 'item.failed', batchId: 'b1', itemId: 'i1' }),
      webhookEventId({ type: 'item.completed', batchId: 'b2', itemId: 'i1' }),
      webhookEventId({ type: 'item.completed', batchId: 'b1', itemId: 'i2' }),
      webhookEventId({ type: 'item.completed', batchId: 'b1', itemId: 'i1', revision: 2 }),
      webhookEventId({ type: 'batch.completed', batchId: 'b1' }),
      // no ambiguity from concatenation
      webhookEventId({ type: 'item.completed', batchId: 'b1i', itemId: '1' }),
    ];
    expect(new Set([a, ...others]).size).toBe(others.length + 1);
  });
});

describe('webhookRetryDelay', () => {
  it('picks the delay for a BullMQ attempt number', () => {
    // The schedule as @tryon/config parses WEBHOOK_RETRY_SCHEDULE="5s,5m,30m".
    const s = [5_000, 300_000, 1_800_000];
    expect(webhookRetryDelay(s, 1)).toBe(5_000);
    expect(webhookRetryDelay(s, 3)).toBe(1_800_000);
    expect(webhookRetryDelay(s, 9)).toBe(1_800_000);
    expect(webhookRetryDelay([], 1)).toBe(0);
  });
});
