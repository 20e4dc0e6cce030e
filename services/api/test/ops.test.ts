import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@tryon/config';
import { eventually, testRedisUrl, uniqueId } from '@tryon/testing';
import { startApi } from '../src/index.js';
import { BatchDeadlines } from '../src/lib/batch-deadlines.js';
import { auth, buildTestApp, imageUrl, TOKENS, type TestApp } from './helper.js';

describe('health, readiness, metrics and docs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('answers /healthz and /readyz without credentials', async () => {
    const health = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.json()).toEqual({ status: 'ok' });
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { redis: 'ok', storage: 'ok' } });
    expect(ready.headers['x-request-id']).toBeTruthy();
  });

  it('serves Prometheus metrics with request durations, submissions and queue depths', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: auth(TOKENS.acme),
      payload: { items: [{ model: imageUrl('m'), cloth: imageUrl('c'), cloth_type: 'upper' }] },
    });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain(
      'http_request_duration_seconds_count{method="POST",route="/v1/batches",status_code="202"} 1',
    );
    expect(res.body).toContain('tryon_batches_submitted_total 1');
    expect(res.body).toContain('tryon_items_submitted_total 1');
    expect(res.body).toContain('tryon_queue_jobs{queue="tryon",state="delayed"} 1');
    expect(res.body).toContain('process_cpu_seconds_total');
  });

  it('counts an open batch past its submit-time ETA as overdue until it ends', async () => {
    const deadlines = new BatchDeadlines(t.redis, t.config.prefix, t.records);
    const dayLater = Date.now() + 86_400_000;
    const before = await deadlines.overdue(dayLater);
    const submitted = await t.app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: auth(TOKENS.acme),
      payload: { items: [{ model: imageUrl('m2'), cloth: imageUrl('c2'), cloth_type: 'upper' }] },
    });
    const batch = submitted.json<{ id: string; eta: { seconds: number } | null }>();
    expect(batch.eta).not.toBeNull();
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^tryon_batches_overdue 0$/m);
    expect(await deadlines.overdue(dayLater)).toBe(before + 1);
    const cancelled = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/cancel`,
      headers: auth(TOKENS.acme),
    });
    expect(cancelled.statusCode).toBe(200);
    expect(await deadlines.overdue(dayLater)).toBe(before);
  });

  it('generates the OpenAPI document from the route schemas, with bearer auth', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{
      paths: Record<string, Record<string, Record<string, unknown>>>;
      components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
      security: unknown[];
    }>();
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/admin/status',
        '/admin/batches/{id}/deliveries',
        '/admin/batches/{id}/webhooks/replay',
        '/admin/keys',
        '/admin/keys/{budgetKey}/resume',
        '/api/tryon/input_check/v1/clothes',
        '/api/tryon/input_check/v1/model',
        '/api/tryon/v2/results/{id}',
        '/api/tryon/v2/tasks',
        '/api/tryon/v2/tasks/{id}',
        '/healthz',
        '/metrics',
        '/readyz',
        '/v1/assets',
        '/v1/batches',
        '/v1/batches/{id}',
        '/v1/batches/{id}/cancel',
        '/v1/batches/{id}/deliveries',
        '/v1/batches/{id}/events',
        '/v1/batches/{id}/items',
        '/v1/batches/{id}/results.csv',
        '/v1/batches/{id}/results.jsonl',
        '/v1/batches/{id}/retry',
        '/v1/batches/{id}/webhooks/replay',
        '/v1/items/{id}',
        '/v1/items/{id}/result',
        '/v1/webhooks/secret',
      ].sort(),
    );
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    const create = doc.paths['/v1/batches']!.post!;
    expect(create.requestBody).toBeDefined();
    expect(Object.keys(create.responses as object)).toEqual(
      expect.arrayContaining(['200', '202', '400', '401', '413', '415', '422', '429']),
    );
    // Every tenant route documents the per-tenant limit's 429.
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!path.startsWith('/v1/')) continue;
      for (const operation of Object.values(methods)) {
        expect(Object.keys(operation.responses as object), path).toContain('429');
      }
    }
    const replay = doc.paths['/v1/batches/{id}/webhooks/replay']!.post!;
    expect(Object.keys(replay.responses as object)).toEqual(
      expect.arrayContaining(['202', '404', '409', '429']),
    );
    expect(JSON.stringify(replay.responses)).toContain('by_type');
    expect(JSON.stringify(doc.paths['/v1/batches/{id}/deliveries']!.get)).toContain(
      '#/components/schemas/WebhookDelivery',
    );
    expect(JSON.stringify(doc.components.schemas.WebhookDelivery)).toContain('duration_ms');
    expect(JSON.stringify(create.requestBody)).toContain('cloth_type');
    expect(JSON.stringify(doc.paths['/v1/assets']!.post!.requestBody)).toContain(
      'multipart/form-data',
    );
    const events = doc.paths['/v1/batches/{id}/events']!.get!;
    expect(
      Object.keys((events.responses as Record<string, { content: object }>)['200']!.content),
    ).toEqual(['text/event-stream']);
    expect(doc.paths['/healthz']!.get!.security).toEqual([]);
    const ui = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
  });
});

describe('readiness when storage is unreachable', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A bucket that was never created: the S3 server answers, the bucket does not exist.
    t = await buildTestApp({ env: { S3_BUCKET: uniqueId('missing').toLowerCase() } });
  });
  afterAll(() => t.close());

  it('answers 503 with the reason', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'not_ready', checks: { redis: 'ok' } });
    expect(res.json<{ checks: { storage: string } }>().checks.storage).not.toBe('ok');
  });
});

describe('logs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('carry request ids and never a token or secret', async () => {
    const secret = await t.app.inject({
      method: 'GET',
      url: '/v1/webhooks/secret',
      headers: { ...auth(TOKENS.acme), 'x-request-id': 'req-from-client-1' },
    });
    expect(secret.headers['x-request-id']).toBe('req-from-client-1');
    await t.app.inject({ method: 'GET', url: '/admin/status', headers: auth(TOKENS.admin) });
    await t.app.inject({ method: 'GET', url: '/admin/status', headers: auth(TOKENS.globex) });
    await t.app.inject({ method: 'GET', url: '/v1/batches', headers: auth('a-wrong-token-xyz') });
    t.app.log.info(
      { apiKey: 'fitroom-key-one', nested: { webhookSecret: 'shh' } },
      'a careless line',
    );
    const lines = t.logs.join('');
    expect(lines).toContain('"reqId":"req-from-client-1"');
    expect(lines).toContain('"service":"tryon-api"');
    for (const needle of [
      TOKENS.acme,
      TOKENS.globex,
      TOKENS.admin,
      'a-wrong-token-xyz',
      'fitroom-key-one',
      'shh',
      t.config.webhooks.secret!,
      secret.json<{ secret: string }>().secret,
    ]) {
      expect(lines).not.toContain(needle);
    }
  });
});

describe('startApi', () => {
  it('listens, serves, and closes everything it opened', async () => {
    const config = loadConfig({
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: uniqueId('api-start'),
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATA_DIR: `/tmp/${uniqueId('api-start')}`,
    });
    const api = await startApi(config);
    try {
      expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${api.url}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok' });
      // Open dev mode: no token needed.
      const res = await fetch(`${api.url}/v1/batches`);
      expect(res.status).toBe(200);
    } finally {
      await api.close();
      await api.close();
    }
    await expect(fetch(`${api.url}/healthz`)).rejects.toThrow();
  });
});

describe('closing with a request in flight', () => {
  it('answers it, then closes its keep-alive connection instead of waiting for the client', async () => {
    const t = await buildTestApp({ storage: 'fs' });
    let closed: Promise<void> | null = null;
    try {
      const url = new URL(await t.app.listen({ host: '127.0.0.1', port: 0 }));
      const socket = connect(Number(url.port), '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const body = JSON.stringify({ items: [] });
      // HTTP/1.1 keeps the connection alive; half the body keeps the request running.
      socket.write(
        'POST /v1/batches HTTP/1.1\r\nhost: api.test\r\ncontent-type: application/json\r\n' +
          `authorization: Bearer ${TOKENS.acme}\r\ncontent-length: ${body.length}\r\n\r\n` +
          body.slice(0, 5),
      );
      await eventually(
        () => Promise.resolve(t.logs.join('')),
        (logs) => logs.includes('"url":"/v1/batches"'),
      );
      closed = t.app.close();
      socket.write(body.slice(5));
      // The request started before close() is answered by its route, not with a 503.
      await eventually(
        () => Promise.resolve(answer),
        (text) => text.includes('\r\n\r\n'),
      );
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      // Then the server ends the connection itself (Node 20 would hold it for 72 s).
      await socketClosed;
      await closed;
    } finally {
      await (closed ?? Promise.resolve());
      await t.close();
    }
  });
});
