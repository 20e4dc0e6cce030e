import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, ItemsPage } from '@tryon/domain';
import { makeImage } from '@tryon/testing';
import { buildApp, type ApiApp } from '../src/index.js';
import { auth, buildTestApp, completeItem, imageUrl, TOKENS, type TestApp } from './helper.js';

/**
 * The per-tenant request limit. The window is a minute long and the tests take seconds, so no
 * slot frees while they run: every count below is exact on any machine.
 */
const LIMIT = 6;
const acme = auth(TOKENS.acme);
const globex = auth(TOKENS.globex);
const admin = auth(TOKENS.admin);

function expectLimited(res: { statusCode: number; headers: Record<string, unknown> }) {
  expect(res.statusCode).toBe(429);
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
}

describe(`API_RATE_LIMIT=${LIMIT} per minute`, () => {
  let t: TestApp;
  let second: ApiApp;

  beforeAll(async () => {
    t = await buildTestApp({
      env: { API_RATE_LIMIT: String(LIMIT), API_RATE_WINDOW_MS: '60000' },
    });
    // A second api process on the same Redis: the limit is one budget per tenant, not per process.
    second = buildApp({ ...t, logger: false });
    await second.ready();
  });
  afterAll(async () => {
    await second?.close();
    await t.close();
  });

  it('counts every /v1 and FitRoom-compatible request of a tenant, across processes, then answers 429', async () => {
    // 1: a batch (its item completes below, so its result link can be tried when limited)
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: acme,
      payload: { items: [{ model: imageUrl('m'), cloth: imageUrl('c'), cloth_type: 'upper' }] },
    });
    expect(created.statusCode).toBe(202);
    const batch = created.json<Batch>();
    // 2
    const page = await second.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}/items`,
      headers: acme,
    });
    const itemId = page.json<ItemsPage>().items[0]!.id;
    const item = (await t.records.getItem(itemId))!;
    await completeItem(t, item, await makeImage({ width: 8, height: 8 }));
    // 3: FitRoom's task route, X-API-KEY
    const task = await t.app.inject({
      method: 'GET',
      url: `/api/tryon/v2/tasks/${itemId}`,
      headers: { 'x-api-key': TOKENS.acme },
    });
    expect(task.statusCode).toBe(200);
    const link = new URL(task.json<{ download_signed_url: string }>().download_signed_url);
    const signedResult = `${link.pathname}${link.search}`;
    // The signed link (no header) counts for no one, as FitRoom's plain storage URL.
    expect((await second.inject({ method: 'GET', url: signedResult })).statusCode).toBe(200);
    // 4, 5, 6
    for (const url of ['/v1/webhooks/secret', `/v1/items/${itemId}`, '/v1/batches']) {
      expect((await t.app.inject({ method: 'GET', url, headers: acme })).statusCode).toBe(200);
    }

    // The 7th request of the window, on any route and any process, is refused.
    const limited = await t.app.inject({ method: 'GET', url: '/v1/batches', headers: acme });
    expectLimited(limited);
    expect(limited.json()).toEqual({
      error: {
        code: 'rate_limited',
        message: expect.stringContaining(`${LIMIT} per 60 s`) as string,
      },
    });
    expectLimited(
      await second.inject({ method: 'GET', url: `/v1/batches/${batch.id}`, headers: acme }),
    );
    // Before the body is read: a big upload is refused as quickly as a GET.
    const upload = await t.app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: { ...acme, 'content-type': 'application/json' },
      payload: JSON.stringify({ items: [], metadata: { blob: 'x'.repeat(1_000_000) } }),
    });
    expectLimited(upload);
    expect(upload.json()).toMatchObject({ error: { code: 'rate_limited' } });

    // FitRoom-compatible routes answer in FitRoom's shape.
    const fitroom = await t.app.inject({
      method: 'GET',
      url: `/api/tryon/v2/tasks/${itemId}`,
      headers: { 'x-api-key': TOKENS.acme },
    });
    expectLimited(fitroom);
    expect(fitroom.json()).toEqual({
      error: 'Too Many Requests',
      message: 'You requested too much API. Try again later',
    });
    // The result link still serves the image: an <img src> must not break on a spent limit.
    const download = await t.app.inject({ method: 'GET', url: signedResult });
    expect(download.statusCode).toBe(200);
    expect(download.headers['content-type']).toBe('image/jpeg');

    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/tryon_api_rate_limited_total\{api="v1"\} [1-9]/);
    expect(metrics.body).toMatch(/tryon_api_rate_limited_total\{api="fitroom"\} [1-9]/);
  });

  it('leaves other tenants alone', async () => {
    for (let i = 0; i < LIMIT; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/batches', headers: globex });
      expect(res.statusCode).toBe(200);
    }
    expectLimited(await t.app.inject({ method: 'GET', url: '/v1/batches', headers: globex }));
  });

  it('checks the token first: a wrong token is a 401, never a 429, and costs no tenant a slot', async () => {
    for (let i = 0; i < LIMIT * 3; i++) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/v1/batches',
        headers: auth('not-a-real-token'),
      });
      expect(res.statusCode).toBe(401);
    }
    const fitroom = await t.app.inject({
      method: 'GET',
      url: '/api/tryon/v2/tasks/itm_00000000000000000000',
      headers: { 'x-api-key': 'not-a-real-token' },
    });
    expect(fitroom.statusCode).toBe(401);
  });

  it('never limits /healthz, /readyz, /metrics, /docs or the admin routes', async () => {
    const requests = [
      { url: '/healthz', status: 200 },
      { url: '/readyz', status: 200 },
      { url: '/metrics', status: 200 },
      { url: '/docs/json', status: 200 },
      { url: '/admin/status', status: 200, headers: admin },
      {
        url: '/admin/batches/bat_00000000000000000000/deliveries',
        status: 404,
        headers: admin,
      },
    ];
    for (let round = 0; round < LIMIT * 2; round++) {
      for (const r of requests) {
        const res = await t.app.inject({ method: 'GET', url: r.url, headers: r.headers ?? {} });
        expect(res.statusCode, r.url).toBe(r.status);
      }
    }
  });
});

describe('API_RATE_LIMIT=0', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { API_RATE_LIMIT: '0' } });
  });
  afterAll(() => t.close());

  it('turns the limit off', async () => {
    for (let i = 0; i < 50; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/batches', headers: acme });
      expect(res.statusCode).toBe(200);
    }
    expect(await t.redis.keys(`${t.config.prefix}:api-limit:*`)).toEqual([]);
  });
});

describe('the default limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { API_RATE_WINDOW_MS: '60000' } });
  });
  afterAll(() => t.close());

  it('is 600 requests per minute per tenant, kept in Redis under its own prefix', async () => {
    expect(t.config.api).toMatchObject({ rateLimit: 600, rateWindowMs: 60_000 });
    await t.app.inject({ method: 'GET', url: '/v1/batches', headers: acme });
    const keys = await t.redis.keys(`${t.config.prefix}:api-limit:*`);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toContain('tenant:acme');
    expect(await t.redis.zcard(keys[0]!)).toBe(1);
  });
});

describe(`the dashboard under API_RATE_LIMIT=${LIMIT} per minute`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      storage: 'fs',
      env: { API_RATE_LIMIT: String(LIMIT), API_RATE_WINDOW_MS: '60000' },
    });
  });
  afterAll(() => t.close());

  async function signIn(token: string): Promise<string> {
    const res = await t.app.inject({
      method: 'POST',
      url: '/ui/login',
      payload: new URLSearchParams({ token }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://api.test' },
    });
    expect(res.statusCode).toBe(303);
    const cookies = [res.headers['set-cookie'] ?? []].flat();
    return cookies.map((c) => c.split(';')[0]).join('; ');
  }

  it("counts /ui pages and thumbnails against the signed-in tenant's limit, shared with /v1", async () => {
    const acmeCookie = await signIn(TOKENS.acme);
    const globexCookie = await signIn(TOKENS.globex);
    const asAcme = (url: string) =>
      t.app.inject({ method: 'GET', url, headers: { cookie: acmeCookie } });
    // 1-2 pages, 3-4 thumbnails (of an item that is not there: still a request), 5 /v1.
    expect((await asAcme('/ui')).statusCode).toBe(200);
    expect((await asAcme('/ui/batches/bat_00000000000000000000')).statusCode).toBe(404);
    for (const role of ['model', 'result']) {
      expect((await asAcme(`/ui/thumbs/itm_00000000000000000000/${role}`)).statusCode).toBe(404);
    }
    expect(
      (await t.app.inject({ method: 'GET', url: '/v1/batches', headers: acme })).statusCode,
    ).toBe(200);
    // Static assets are free.
    for (let i = 0; i < LIMIT; i++) {
      expect((await asAcme('/ui/assets/app.css')).statusCode).toBe(200);
    }
    expect((await asAcme('/ui')).statusCode).toBe(200);
    // The 7th: a page, a thumbnail and /v1 are all refused.
    const page = await asAcme('/ui');
    expectLimited(page);
    expect(page.body).toContain('too many requests');
    expectLimited(await asAcme('/ui/thumbs/itm_00000000000000000000/model'));
    expectLimited(await t.app.inject({ method: 'GET', url: '/v1/batches', headers: acme }));
    // Another tenant's dashboard is untouched.
    const other = await t.app.inject({
      method: 'GET',
      url: '/ui',
      headers: { cookie: globexCookie },
    });
    expect(other.statusCode).toBe(200);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/tryon_api_rate_limited_total\{api="ui"\} [1-9]/);
  });
});
