/**
 * A webhook receiver that is down for longer than every retry: each attempt is visible through
 * GET /v1/batches/:id/deliveries, and once the receiver is back a replay delivers every event
 * again with its original webhook-id, signed with the tenant's secret.
 */
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig, type Config } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import {
  eventually,
  makeImage,
  serviceEnv,
  startWebhookReceiver,
  uniqueId,
  type WebhookReceiver,
} from '@tryon/testing';
import { tenantSigningSecret } from '@tryon/webhooks';
import { startWorker, type RunningWorker } from '@tryon/worker';

const TIME_SCALE = 50;
const TOKEN = 'acme-replay-token-0123456789';
const ADMIN = 'admin-replay-token-0123456789';
/** serviceEnv's WEBHOOK_RETRY_SCHEDULE has four retries: five attempts per event. */
const ATTEMPTS = 5;

interface Delivery {
  at: string;
  event_id: string;
  type: string;
  attempt: number;
  ok: boolean;
  status: number | null;
  error: string | null;
  duration_ms: number;
}

let sim: RunningSim;
let receiver: WebhookReceiver;
let config: Config;
let api: RunningApi;
let worker: RunningWorker;

async function call<T>(method: 'GET' | 'POST', path: string, token = TOKEN, body?: unknown) {
  const response = await request(`${api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: response.statusCode, json: (await response.body.json()) as T };
}

/** Uploads three distinct images; answers their asset ids. */
async function uploadImages(): Promise<string[]> {
  const form = new FormData();
  for (let i = 0; i < 3; i++) {
    const bytes = await makeImage({
      width: 200 + i,
      height: 300,
      color: { r: 60 * i, g: 90, b: 30 },
    });
    form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), `${i}.jpg`);
  }
  const res = await fetch(`${api.url}/v1/assets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: form,
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { assets: { id: string }[] }).assets.map((a) => a.id);
}

beforeAll(async () => {
  sim = await startSim({ timeScale: TIME_SCALE, keys: { 'replay-key': 1_000_000 }, seed: 5 });
  receiver = await startWebhookReceiver();
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('e2e-replay'),
      simUrl: sim.url,
      apiKeys: ['replay-key'],
      timeScale: TIME_SCALE,
      extra: { API_TOKENS: `acme:${TOKEN}`, ADMIN_TOKEN: ADMIN },
    }),
  );
  worker = await startWorker(config, {
    logger: createLogger({ service: 'tryon-worker', level: 'error' }),
  });
  api = await startApi(config, { logger: { level: 'error' } });
});

afterAll(async () => {
  await api?.close();
  await worker?.close();
  await receiver?.close();
  await sim?.close();
});

describe('a batch whose receiver is down through every retry', () => {
  it('shows every failed attempt, then a replay delivers each event with its original webhook-id', async () => {
    receiver.respondWith(503);
    const [model, a, b] = await uploadImages();
    const submitted = await call<{ id: string }>('POST', '/v1/batches', TOKEN, {
      items: [
        { model, cloth: a, cloth_type: 'upper' },
        { model, cloth: b, cloth_type: 'lower' },
        { model, cloth: a, lower_cloth: b, cloth_type: 'combo' },
      ],
      webhook_url: receiver.url,
    });
    expect(submitted.status).toBe(202);
    const batchId = submitted.json.id;
    await eventually(
      () => call<{ status: string }>('GET', `/v1/batches/${batchId}`),
      (r) => r.json.status === 'completed',
      { timeoutMs: 60_000, intervalMs: 100 },
    );

    // Three item.completed and one batch.completed, each tried five times, all refused.
    const exhausted = await eventually(
      () => call<{ deliveries: Delivery[] }>('GET', `/v1/batches/${batchId}/deliveries?limit=1000`),
      (r) =>
        r.json.deliveries.filter((d) => d.attempt === ATTEMPTS).length === 4 &&
        r.json.deliveries.length === 4 * ATTEMPTS,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const attempts = exhausted.json.deliveries;
    expect(receiver.received).toHaveLength(0);
    for (const d of attempts) {
      expect(d).toMatchObject({ ok: false, status: 503 });
      expect(d.error).toEqual(expect.any(String));
      expect(d.duration_ms).toBeGreaterThanOrEqual(0);
    }
    const times = attempts.map((d) => Date.parse(d.at));
    expect(times).toEqual([...times].sort((x, y) => y - x)); // newest first
    const eventIds = new Set(attempts.map((d) => d.event_id));
    expect(eventIds.size).toBe(4);
    for (const id of eventIds) {
      expect(
        attempts
          .filter((d) => d.event_id === id)
          .map((d) => d.attempt)
          .sort(),
      ).toEqual([1, 2, 3, 4, 5]);
    }
    const types = attempts.filter((d) => d.attempt === 1).map((d) => d.type);
    expect(types.sort()).toEqual([
      'batch.completed',
      'item.completed',
      'item.completed',
      'item.completed',
    ]);

    // Back up: the tenant replays, each event arrives once more with its original id.
    receiver.respondWith(204);
    const replay = await call<{ events: number; replay: number }>(
      'POST',
      `/v1/batches/${batchId}/webhooks/replay`,
    );
    expect(replay.status).toBe(202);
    expect(replay.json).toMatchObject({ events: 4, replay: 1 });
    await receiver.waitFor((r) => r.length >= 4, 30_000);
    const verifier = new Webhook(tenantSigningSecret(config.webhooks.secret!, 'acme'));
    const delivered = receiver.received.map((r) => {
      const headers = {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      };
      const event = verifier.verify(r.body, headers) as { type: string; data: { id: string } };
      return { id: headers['webhook-id'], type: event.type, dataId: event.data.id };
    });
    expect(new Set(delivered.map((d) => d.id))).toEqual(eventIds);
    const items = await call<{ items: { id: string; status: string }[] }>(
      'GET',
      `/v1/batches/${batchId}/items`,
    );
    expect(
      new Set(delivered.filter((d) => d.type === 'item.completed').map((d) => d.dataId)),
    ).toEqual(new Set(items.json.items.map((i) => i.id)));
    expect(delivered.find((d) => d.type === 'batch.completed')?.dataId).toBe(batchId);

    // The successful attempts are on the record too, newest first.
    const after = await eventually(
      () => call<{ deliveries: Delivery[] }>('GET', `/v1/batches/${batchId}/deliveries`),
      (r) => r.json.deliveries.filter((d) => d.ok).length === 4,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(after.json.deliveries.slice(0, 4).every((d) => d.ok && d.status === 204)).toBe(true);

    // An operator may replay too: the same ids again, which a receiver deduplicates.
    const again = await call<{ events: number; replay: number }>(
      'POST',
      `/admin/batches/${batchId}/webhooks/replay`,
      ADMIN,
    );
    expect(again.status).toBe(202);
    expect(again.json).toMatchObject({ events: 4, replay: 2 });
    await receiver.waitFor((r) => r.length >= 8, 30_000);
    expect(new Set(receiver.received.map((r) => String(r.headers['webhook-id'])))).toEqual(
      eventIds,
    );
  }, 150_000);
});
