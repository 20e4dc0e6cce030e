import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, Item, ItemsPage } from '@tryon/domain';
import { budgetKeyFor, RateLimiter } from '@tryon/rate-limiter';
import { CreditBook } from '@tryon/records';
import { makeImage } from '@tryon/testing';
import { tenantSigningSecret } from '@tryon/webhooks';
import { auth, buildTestApp, imageUrl, multipart, TOKENS, type TestApp } from './helper.js';

const acme = auth(TOKENS.acme);
const globex = auth(TOKENS.globex);

describe('tenant isolation', () => {
  let t: TestApp;
  let batch: Batch;
  let item: Item;
  let assetId: string;
  beforeAll(async () => {
    t = await buildTestApp();
    const { payload, headers } = multipart([
      {
        field: 'f',
        filename: 'f.png',
        data: await makeImage({ width: 8, height: 8, format: 'png' }),
      },
    ]);
    const upload = await t.app.inject({
      method: 'POST',
      url: '/v1/assets',
      headers: { ...headers, ...acme },
      payload,
    });
    assetId = upload.json<{ assets: { id: string }[] }>().assets[0]!.id;
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: acme,
      payload: { items: [{ model: assetId, cloth: imageUrl('c'), cloth_type: 'upper' }] },
    });
    batch = res.json<Batch>();
    const page = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}/items`,
      headers: acme,
    });
    item = page.json<ItemsPage>().items[0]!;
  });
  afterAll(() => t.close());

  it.each([
    {
      method: 'GET',
      route: '/v1/batches/:id',
      url: () => `/v1/batches/${batch.id}`,
      code: 'batch_not_found',
    },
    {
      method: 'GET',
      route: '/v1/batches/:id/items',
      url: () => `/v1/batches/${batch.id}/items`,
      code: 'batch_not_found',
    },
    {
      method: 'POST',
      route: '/v1/batches/:id/cancel',
      url: () => `/v1/batches/${batch.id}/cancel`,
      code: 'batch_not_found',
    },
    {
      method: 'POST',
      route: '/v1/batches/:id/retry',
      url: () => `/v1/batches/${batch.id}/retry`,
      code: 'batch_not_found',
    },
    {
      method: 'GET',
      route: '/v1/items/:id',
      url: () => `/v1/items/${item.id}`,
      code: 'item_not_found',
    },
    {
      method: 'GET',
      route: '/v1/items/:id/result',
      url: () => `/v1/items/${item.id}/result`,
      code: 'item_not_found',
    },
  ] as const)(
    '$method $route of tenant A is a 404 for tenant B, as for an unknown id',
    async ({ method, url, code }) => {
      const other = await t.app.inject({ method, url: url(), headers: globex });
      expect(other.statusCode).toBe(404);
      const unknown = await t.app.inject({
        method,
        url: url().replace(/(bat|itm)_[0-9a-z]+/, '$1_00000000000000000000'),
        headers: globex,
      });
      // Same status, same body: whether the id exists elsewhere cannot be told.
      expect(unknown.statusCode).toBe(404);
      expect(other.json()).toEqual(unknown.json());
      expect(other.json()).toMatchObject({ error: { code } });
    },
  );

  it("keeps tenant A's own reads working, untouched by B, and out of B's list", async () => {
    const own = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}`,
      headers: acme,
    });
    expect(own.statusCode).toBe(200);
    for (const url of [`/v1/batches/${batch.id}/items`, `/v1/items/${item.id}`]) {
      expect((await t.app.inject({ method: 'GET', url, headers: acme })).statusCode).toBe(200);
    }
    const result = await t.app.inject({
      method: 'GET',
      url: `/v1/items/${item.id}/result`,
      headers: acme,
    });
    expect(result.json()).toMatchObject({ error: { code: 'result_not_ready' } });
    const list = await t.app.inject({ method: 'GET', url: '/v1/batches', headers: globex });
    expect(list.json<{ batches: Batch[] }>().batches.map((b) => b.id)).not.toContain(batch.id);
    // Nothing was cancelled by B's attempt.
    expect(own.json<Batch>().counts.cancelled).toBe(0);
  });

  it("refuses tenant A's asset id in tenant B's batch", async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: globex,
      payload: { items: [{ model: assetId, cloth: imageUrl('c'), cloth_type: 'upper' }] },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: { code: 'asset_not_found' } });
    expect(res.json<{ error: { message: string } }>().error.message).toContain(assetId);
  });

  it('gives each tenant its own webhook signing secret', async () => {
    const a = await t.app.inject({ method: 'GET', url: '/v1/webhooks/secret', headers: acme });
    const b = await t.app.inject({ method: 'GET', url: '/v1/webhooks/secret', headers: globex });
    expect(a.json()).toEqual({ secret: tenantSigningSecret(t.config.webhooks.secret!, 'acme') });
    expect(b.json()).toEqual({ secret: tenantSigningSecret(t.config.webhooks.secret!, 'globex') });
    expect(a.json<{ secret: string }>().secret).not.toBe(b.json<{ secret: string }>().secret);
  });

  it('answers 401 without a valid token', async () => {
    for (const headers of [{}, auth('not-a-token'), { authorization: TOKENS.acme }]) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/batches', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'unauthorized' } });
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
  });
});

describe('GET /admin/status', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('needs the admin token', async () => {
    for (const headers of [{}, acme, auth('wrong-admin-token')]) {
      const res = await t.app.inject({ method: 'GET', url: '/admin/status', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    }
  });

  it('reports queues, budgets per key, paused keys, tasks in flight and FitRoom errors', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: acme,
      payload: { items: [{ model: imageUrl('m'), cloth: imageUrl('c'), cloth_type: 'upper' }] },
    });
    const [keyOne, keyTwo] = t.config.fitroom.apiKeys.map(budgetKeyFor);
    const limiter = new RateLimiter({
      redis: t.redis,
      prefix: t.config.prefix,
      limit: t.config.fitroom.rateLimit,
      windowMs: t.config.fitroom.rateWindowMs,
      requestTimeoutMs: t.config.fitroom.timeoutMs,
    });
    await limiter.pause(keyTwo!, 60_000, 'FitRoom answered 402: out of credits');
    const token = await limiter.acquire(keyOne!);
    await t.operations.taskStarted('itm_x', 'task-1');
    const book = new CreditBook(t.redis, t.config.prefix);
    const holder = { itemId: 'itm_x', batchId: 'bat_x', budgetKey: keyOne! };
    await book.open(holder);
    await book.confirm(holder);
    await book.open(holder); // its answer never came
    await t.operations.recordFitroomError({
      budgetKey: keyOne!,
      operation: 'create',
      code: 'server_error',
      status: 503,
      message: 'FitRoom answered 503',
      itemId: 'itm_x',
    });

    const res = await t.app.inject({
      method: 'GET',
      url: '/admin/status',
      headers: auth(TOKENS.admin),
    });
    expect(res.statusCode).toBe(200);
    const status = res.json<Record<string, unknown>>();
    expect(status).toMatchObject({
      queues: {
        tryon: { name: 'tryon', paused: false, counts: { waiting: 0, delayed: 1, active: 0 } },
        webhooks: { name: 'webhooks', paused: false, counts: { waiting: 0 } },
      },
      try_on: { paused: false, reason: null, usable_keys: 1 },
      admission: { waiting: 1 },
      budgets: [
        {
          budget_key: keyOne,
          limit: 60,
          in_use: 1,
          in_flight: 1,
          paused: false,
          credits: { spent: 1, possibly_spent: 1 },
        },
        {
          budget_key: keyTwo,
          paused: true,
          paused_reason: 'FitRoom answered 402: out of credits',
          credits: { spent: 0, possibly_spent: 0 },
        },
      ],
      paused_keys: [{ budget_key: keyTwo, reason: 'FitRoom answered 402: out of credits' }],
      fitroom: {
        tasks_in_flight: 1,
        recent_errors: [{ budgetKey: keyOne, code: 'server_error', status: 503, itemId: 'itm_x' }],
      },
    });
    // Keys by their budget name only, never the key itself.
    for (const key of t.config.fitroom.apiKeys) expect(res.body).not.toContain(key);
    await limiter.release(token);
  });
});

describe('open dev mode', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { API_TOKENS: '', ADMIN_TOKEN: '' } });
  });
  afterAll(() => t.close());

  it('treats every request as the dev tenant and leaves /admin open', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/batches',
      payload: { items: [{ model: imageUrl('m'), cloth: imageUrl('c'), cloth_type: 'upper' }] },
    });
    expect(res.statusCode).toBe(202);
    expect((await t.records.getBatch(res.json<Batch>().id))?.tenant_id).toBe('dev');
    const admin = await t.app.inject({ method: 'GET', url: '/admin/status' });
    expect(admin.statusCode).toBe(200);
  });
});

describe('tenants without ADMIN_TOKEN', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { ADMIN_TOKEN: '' } });
  });
  afterAll(() => t.close());

  it('keeps /admin closed to everyone', async () => {
    for (const headers of [{}, acme]) {
      const res = await t.app.inject({ method: 'GET', url: '/admin/status', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json<{ error: { message: string } }>().error.message).toContain('ADMIN_TOKEN');
    }
  });
});
