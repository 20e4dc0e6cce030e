import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createSafeDispatcher,
  deliverWebhook,
  tenantSigningSecret,
  webhookEvent,
  webhookEventId,
  type DeliverWebhookInput,
} from '../src/index.js';
import { startServer, tableLookup, type TestServer } from './helpers.js';

const MASTER = 'deliver-test-master';
const secretA = tenantSigningSecret(MASTER, 'tenant-a');
const secretB = tenantSigningSecret(MASTER, 'tenant-b');

let receiver: TestServer;
let redirector: TestServer;
let target: TestServer;
let hanging: TestServer;
let failing: TestServer;
let chatty: TestServer;
const agents: Agent[] = [];

function safe(allowPrivateNetworks: boolean, lookup?: Parameters<typeof tableLookup>[0]): Agent {
  const agent = createSafeDispatcher({
    allowPrivateNetworks,
    connectTimeoutMs: 2000,
    ...(lookup ? { lookup: tableLookup(lookup) } : {}),
  });
  agents.push(agent);
  return agent;
}

const event = webhookEvent(
  'item.completed',
  { batch_id: 'b1', item_id: 'i1', result: { key: 'results/b1/i1.png' } },
  new Date('2025-01-02T03:04:05.000Z'),
);
const id = webhookEventId({ type: 'item.completed', batchId: 'b1', itemId: 'i1' });

function input(url: string, extra: Partial<DeliverWebhookInput> = {}): DeliverWebhookInput {
  return { url, secret: secretA, event, id, dispatcher: safe(true), ...extra };
}

beforeAll(async () => {
  receiver = await startServer((_req, res) => res.writeHead(204).end());
  target = await startServer((_req, res) => res.writeHead(200).end('should not be here'));
  redirector = await startServer((_req, res) => {
    res.writeHead(302, { location: `${target.origin}/stolen` }).end();
  });
  hanging = await startServer(() => {
    // never answers
  });
  failing = await startServer((_req, res) => res.writeHead(503).end('busy'));
  chatty = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(Buffer.alloc(1024 * 1024, 'x'));
  });
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await Promise.all([receiver, redirector, target, hanging, failing, chatty].map((s) => s.close()));
});

describe('deliverWebhook', () => {
  it('POSTs a signed JSON event that standardwebhooks verifies', async () => {
    receiver.received.length = 0;
    const result = await deliverWebhook(input(`${receiver.origin}/hooks?x=1`));
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);

    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/hooks?x=1');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['webhook-id']).toBe(id);
    expect(JSON.parse(got.body)).toEqual(event);
    expect(new Webhook(secretA).verify(got.body, got.headers)).toEqual(event);
    // another tenant's secret cannot have produced this signature
    expect(() => new Webhook(secretB).verify(got.body, got.headers)).toThrow(
      WebhookVerificationError,
    );
    // the secret never travels and never comes back
    expect(JSON.stringify(got)).not.toContain(secretA.slice(6));
    expect(JSON.stringify(result)).not.toContain(secretA.slice(6));
  });

  it('keeps the same webhook-id and body across retries', async () => {
    receiver.received.length = 0;
    await deliverWebhook(input(`${receiver.origin}/`));
    await deliverWebhook(input(`${receiver.origin}/`, { now: new Date(Date.now() - 60_000) }));
    const [first, second] = receiver.received;
    expect(first?.headers['webhook-id']).toBe(id);
    expect(second?.headers['webhook-id']).toBe(id);
    expect(second?.body).toBe(first?.body);
    expect(second?.headers['webhook-timestamp']).not.toBe(first?.headers['webhook-timestamp']);
    expect(new Webhook(secretA).verify(second!.body, second!.headers)).toEqual(event);
  });

  it('does not follow a redirect and counts it as a failure', async () => {
    const result = await deliverWebhook(input(`${redirector.origin}/`));
    expect(result).toMatchObject({ ok: false, status: 302, code: 'redirect' });
    expect(result.error).toMatch(/redirects are not followed/);
    expect(redirector.received).toHaveLength(1);
    expect(target.received).toHaveLength(0);
    expect(target.connections).toBe(0);
  });

  it('fails on a non-2xx answer', async () => {
    const result = await deliverWebhook(input(`${failing.origin}/`));
    expect(result).toMatchObject({ ok: false, status: 503, code: 'http_status' });
  });

  it('gives up within the timeout when the receiver never answers', async () => {
    const started = performance.now();
    const result = await deliverWebhook(input(`${hanging.origin}/`, { timeoutMs: 300 }));
    const elapsed = performance.now() - started;
    expect(result).toMatchObject({ ok: false, code: 'timeout' });
    expect(result.status).toBeUndefined();
    expect(hanging.received).toHaveLength(1);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1500);
    expect(result.durationMs).toBeLessThan(1500);
  });

  it('drains a large answer without keeping it', async () => {
    const result = await deliverWebhook(input(`${chatty.origin}/`));
    expect(result).toMatchObject({ ok: true, status: 200 });
  });

  it('refuses a loopback receiver unless private networks are allowed', async () => {
    const before = receiver.connections;
    receiver.received.length = 0;
    const refused = await deliverWebhook(input(`${receiver.origin}/`, { dispatcher: safe(false) }));
    expect(refused).toMatchObject({ ok: false, code: 'forbidden_address' });
    expect(refused.error).toMatch(/loopback/);
    expect(receiver.connections).toBe(before);
    expect(receiver.received).toHaveLength(0);
  });

  it('refuses a name that resolves to loopback at connect time', async () => {
    const before = receiver.connections;
    const result = await deliverWebhook(
      input(`http://hooks.customer.test:${receiver.port}/`, {
        dispatcher: safe(false, { 'hooks.customer.test': '127.0.0.1' }),
      }),
    );
    expect(result).toMatchObject({ ok: false, code: 'forbidden_address' });
    expect(receiver.connections).toBe(before);
  });

  it('checks the URL itself when the dispatcher is not a safe one', async () => {
    const plain = new Agent();
    agents.push(plain);
    const before = receiver.connections;
    const result = await deliverWebhook(input(`${receiver.origin}/`, { dispatcher: plain }));
    expect(result).toMatchObject({ ok: false, code: 'forbidden_address' });
    expect(receiver.connections).toBe(before);
  });

  it.each([
    ['ftp://example.com/', 'unsupported_protocol'],
    ['https://user:pw@example.com/', 'credentials_in_url'],
    ['not a url', 'invalid_url'],
  ])('refuses %s before any connection', async (url, code) => {
    const result = await deliverWebhook(input(url));
    expect(result).toMatchObject({ ok: false, code });
  });

  it('reports a closed port as a network error', async () => {
    const gone = await startServer(() => undefined);
    const url = `${gone.origin}/`;
    await gone.close();
    const result = await deliverWebhook(input(url));
    expect(result).toMatchObject({ ok: false, code: 'network_error' });
    expect(result.error).toMatch(/ECONNREFUSED/);
  });
});
