import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, ItemsPage } from '@tryon/domain';
import type { ItemRecord } from '@tryon/records';
import { makeImage } from '@tryon/testing';
import {
  auth,
  buildTestApp,
  completeItem,
  imageUrl,
  multipart,
  TOKENS,
  type TestApp,
} from './helper.js';

/**
 * Two table-driven checks over every route the OpenAPI document lists (so a new route without a
 * row fails here): every route that takes a body has a size limit answering 413 in its error
 * shape, and every route that takes an id answers another tenant's id exactly as an unknown one.
 */

const UPLOAD_MAX_BYTES = 64 * 1024;
const MiB = 1024 * 1024;
const acme = auth(TOKENS.acme);
const globex = auth(TOKENS.globex);
const admin = auth(TOKENS.admin);
const UNKNOWN_BATCH = 'bat_00000000000000000000';
const UNKNOWN_ITEM = 'itm_00000000000000000000';

let t: TestApp;
let routes: { method: string; path: string }[];
let batch: Batch;
let item: ItemRecord;
let signedResult: string;

beforeAll(async () => {
  t = await buildTestApp({ env: { UPLOAD_MAX_BYTES: String(UPLOAD_MAX_BYTES) } });
  const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json<{
    paths: Record<string, Record<string, unknown>>;
  }>();
  routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
  );
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/batches',
    headers: acme,
    payload: {
      items: [
        { model: imageUrl('m0'), cloth: imageUrl('c0'), cloth_type: 'upper' },
        { model: imageUrl('m1'), cloth: imageUrl('c1'), cloth_type: 'upper' },
      ],
      webhook_url: 'https://93.184.216.34/hooks',
    },
  });
  batch = created.json<Batch>();
  const page = await t.app.inject({
    method: 'GET',
    url: `/v1/batches/${batch.id}/items`,
    headers: acme,
  });
  item = (await t.records.getItem(page.json<ItemsPage>().items[0]!.id))!;
  // The first item completes with a stored result, so its result routes have something to serve.
  await completeItem(t, item, await makeImage({ width: 8, height: 8 }));
  await t.operations.recordDelivery(batch.id, {
    event_id: 'msg_x',
    type: 'item.completed',
    attempt: 1,
    ok: true,
    status: 204,
    error: null,
    duration_ms: 3,
  });
  const task = await t.app.inject({
    method: 'GET',
    url: `/api/tryon/v2/tasks/${item.id}`,
    headers: { 'x-api-key': TOKENS.acme },
  });
  const link = new URL(task.json<{ download_signed_url: string }>().download_signed_url);
  signedResult = `${link.pathname}${link.search}`;
});
afterAll(() => t.close());

const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;

/** The error shape of a route: FitRoom's on /api/tryon, ours everywhere else. */
function expectErrorShape(path: string, body: unknown) {
  if (path.startsWith('/api/tryon/')) {
    expect(body).toEqual({
      error: expect.any(String) as string,
      message: expect.any(String) as string,
    });
  } else {
    expect(body).toEqual({
      error: { code: expect.any(String) as string, message: expect.any(String) as string },
    });
  }
}

const json = (bytes: number) => ({
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify({ metadata: { blob: 'x'.repeat(bytes) } }),
});
const oversizeFile =
  (field: string, fields: Record<string, string> = {}) =>
  () => {
    const { payload, headers } = multipart(
      [
        {
          field,
          filename: 'big.jpg',
          contentType: 'image/jpeg',
          data: randomBytes(UPLOAD_MAX_BYTES + 1),
        },
      ],
      fields,
    );
    return { payload, headers };
  };

interface BodyCase {
  headers: Record<string, string>;
  url: () => string;
  body: () => { payload: string | Buffer; headers: Record<string, string> };
  code: string;
}

const BODY_LIMITS: Record<string, BodyCase> = {
  'POST /v1/assets': {
    headers: acme,
    url: () => '/v1/assets',
    body: oversizeFile('file'),
    code: 'file_too_large',
  },
  'POST /v1/batches': {
    headers: acme,
    url: () => '/v1/batches',
    body: () => json(16 * MiB + 1),
    code: 'body_too_large',
  },
  'POST /v1/batches/{id}/cancel': {
    headers: acme,
    url: () => `/v1/batches/${batch.id}/cancel`,
    body: () => json(MiB + 1),
    code: 'body_too_large',
  },
  'POST /v1/batches/{id}/retry': {
    headers: acme,
    url: () => `/v1/batches/${batch.id}/retry`,
    body: () => json(MiB + 1),
    code: 'body_too_large',
  },
  'POST /v1/batches/{id}/webhooks/replay': {
    headers: acme,
    url: () => `/v1/batches/${batch.id}/webhooks/replay`,
    body: () => json(MiB + 1),
    code: 'body_too_large',
  },
  'POST /v1/batches/{id}/rerender': {
    headers: acme,
    url: () => `/v1/batches/${batch.id}/rerender`,
    body: () => json(MiB + 1),
    code: 'body_too_large',
  },
  'POST /v1/items/{id}/review': {
    headers: acme,
    url: () => `/v1/items/${item.id}/review`,
    body: () => json(MiB + 1),
    code: 'body_too_large',
  },
  'POST /admin/batches/{id}/webhooks/replay': {
    headers: admin,
    url: () => `/admin/batches/${batch.id}/webhooks/replay`,
    body: () => json(MiB + 1),
    code: 'body_too_large',
  },
  'POST /admin/keys/{budgetKey}/resume': {
    headers: admin,
    url: () => '/admin/keys/key-000000000000/resume',
    body: () => json(MiB + 1),
    code: 'body_too_large',
  },
  'POST /api/tryon/v2/tasks': {
    headers: { 'x-api-key': TOKENS.acme },
    url: () => '/api/tryon/v2/tasks',
    body: oversizeFile('model_image', { cloth_type: 'upper' }),
    code: 'Payload Too Large',
  },
  'POST /api/tryon/input_check/v1/model': {
    headers: { 'x-api-key': TOKENS.acme },
    url: () => '/api/tryon/input_check/v1/model',
    body: oversizeFile('input_image'),
    code: 'Payload Too Large',
  },
  'POST /api/tryon/input_check/v1/clothes': {
    headers: { 'x-api-key': TOKENS.acme },
    url: () => '/api/tryon/input_check/v1/clothes',
    body: oversizeFile('input_image'),
    code: 'Payload Too Large',
  },
};

describe('every route that takes a body has a size limit', () => {
  it('has a row for every POST, PUT and PATCH route in the OpenAPI document', () => {
    const withBody = routes.filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method)).map(key);
    expect(withBody.length).toBeGreaterThanOrEqual(9);
    expect(Object.keys(BODY_LIMITS).sort()).toEqual(withBody.sort());
  });

  it.each(Object.entries(BODY_LIMITS))('%s answers 413 over its limit', async (_route, c) => {
    const body = c.body();
    const res = await t.app.inject({
      method: 'POST',
      url: c.url(),
      headers: { ...c.headers, ...body.headers },
      payload: body.payload,
    });
    expect(res.statusCode).toBe(413);
    const answer = res.json<{ error: { code: string } | string }>();
    expectErrorShape(c.url(), answer);
    expect(typeof answer.error === 'string' ? answer.error : answer.error.code).toBe(c.code);
  });

  it('an oversize file in a field FitRoom does not know is refused too, not read to the end', async () => {
    const body = oversizeFile('unknown_field', { cloth_type: 'upper' })();
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/tryon/v2/tasks',
      headers: { 'x-api-key': TOKENS.acme, ...body.headers },
      payload: body.payload,
    });
    expect(res.statusCode).toBe(413);
  });
});

interface IdCase {
  url: (id: string) => string;
  method: 'GET' | 'POST';
  /** A's own resource. */
  own: () => string;
  unknown: string;
  /** What A gets for its own id: the route works for its owner. */
  ownStatus: number;
}

const batchRoute = (suffix: string, method: 'GET' | 'POST', ownStatus: number): IdCase => ({
  url: (id) => `/v1/batches/${id}${suffix}`,
  method,
  own: () => batch.id,
  unknown: UNKNOWN_BATCH,
  ownStatus,
});
const itemRoute = (suffix: string): IdCase => ({
  url: (id) => `/v1/items/${id}${suffix}`,
  method: 'GET',
  own: () => item.id,
  unknown: UNKNOWN_ITEM,
  ownStatus: 200,
});

/** Tenant routes: another tenant's id answers exactly as an unknown id does. */
const TENANT_ID_ROUTES: Record<string, IdCase> = {
  'GET /v1/batches/{id}': batchRoute('', 'GET', 200),
  'GET /v1/batches/{id}/items': batchRoute('/items', 'GET', 200),
  'GET /v1/batches/{id}/results.jsonl': batchRoute('/results.jsonl', 'GET', 200),
  'GET /v1/batches/{id}/results.csv': batchRoute('/results.csv', 'GET', 200),
  'GET /v1/batches/{id}/results.zip': batchRoute('/results.zip', 'GET', 200),
  // Nothing is rejected here: the owner's re-render queues nothing and answers 200.
  'POST /v1/batches/{id}/rerender': batchRoute('/rerender', 'POST', 200),
  'GET /v1/batches/{id}/deliveries': batchRoute('/deliveries', 'GET', 200),
  'POST /v1/batches/{id}/cancel': batchRoute('/cancel', 'POST', 200),
  'POST /v1/batches/{id}/retry': batchRoute('/retry', 'POST', 200),
  'POST /v1/batches/{id}/webhooks/replay': batchRoute('/webhooks/replay', 'POST', 202),
  'GET /v1/items/{id}': itemRoute(''),
  'GET /v1/items/{id}/result': itemRoute('/result'),
  'GET /api/tryon/v2/tasks/{id}': {
    url: (id) => `/api/tryon/v2/tasks/${id}`,
    method: 'GET',
    own: () => item.id,
    unknown: UNKNOWN_ITEM,
    ownStatus: 200,
  },
};

describe('every route that takes an id is tenant-isolated', () => {
  it('has a row for every route with an id in the OpenAPI document', () => {
    const withId = routes.filter((r) => r.path.includes('{id}')).map(key);
    const covered = [
      ...Object.keys(TENANT_ID_ROUTES),
      // A stream that stays open while the batch runs: batch-events.test.ts checks it over HTTP.
      'GET /v1/batches/{id}/events',
      'GET /api/tryon/v2/results/{id}',
      'GET /admin/batches/{id}/deliveries',
      'POST /admin/batches/{id}/webhooks/replay',
      // Need a body or an earlier result: review.test.ts checks them against another tenant.
      'POST /v1/items/{id}/review',
      'GET /v1/items/{id}/previous-results/{index}',
    ];
    expect(covered.sort()).toEqual(withId.sort());
  });

  it.each(Object.entries(TENANT_ID_ROUTES))(
    "%s: another tenant's id is a 404, the same answer as an unknown id",
    async (route, c) => {
      const fitroom = route.includes('/api/tryon/');
      const as = (token: string) => (fitroom ? { 'x-api-key': token } : auth(token));
      const jobsBefore = await t.webhookQueue.count();
      const other = await t.app.inject({
        method: c.method,
        url: c.url(c.own()),
        headers: as(TOKENS.globex),
      });
      const unknown = await t.app.inject({
        method: c.method,
        url: c.url(c.unknown),
        headers: as(TOKENS.globex),
      });
      expect(other.statusCode).toBe(404);
      expect(unknown.statusCode).toBe(404);
      expectErrorShape(c.url(c.own()), other.json());
      // Whether the id exists for someone else cannot be told (FitRoom's message names the id).
      expect(other.body.replaceAll(c.own(), '<id>')).toBe(
        unknown.body.replaceAll(c.unknown, '<id>'),
      );
      // Nothing happened to A's batch: not cancelled, not retried, no event queued.
      expect(await t.webhookQueue.count()).toBe(jobsBefore);
      const mine = (await t.records.getBatch(batch.id))!;
      expect(mine.counts).toMatchObject({ cancelled: 0, completed: 1, queued: 1 });
    },
  );

  it.each(Object.entries(TENANT_ID_ROUTES))('%s works for its owner', async (route, c) => {
    if (route.includes('/cancel')) return; // cancelling would change the batch the others read
    const fitroom = route.includes('/api/tryon/');
    const headers = fitroom ? { 'x-api-key': TOKENS.acme } : acme;
    const res = await t.app.inject({ method: c.method, url: c.url(c.own()), headers });
    expect(res.statusCode).toBe(c.ownStatus);
  });

  it('GET /api/tryon/v2/results/{id}: a link signed for one item opens no other', async () => {
    expect((await t.app.inject({ method: 'GET', url: signedResult })).statusCode).toBe(200);
    const page = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}/items`,
      headers: acme,
    });
    const otherItem = page.json<ItemsPage>().items[1]!.id;
    for (const id of [otherItem, UNKNOWN_ITEM]) {
      const res = await t.app.inject({ method: 'GET', url: signedResult.replace(item.id, id) });
      expect(res.statusCode).toBe(403);
      expectErrorShape('/api/tryon/', res.json());
    }
  });

  it('admin routes see every tenant, and only with the admin token', async () => {
    for (const [method, url] of [
      ['GET', `/admin/batches/${batch.id}/deliveries`],
      ['POST', `/admin/batches/${batch.id}/webhooks/replay`],
    ] as const) {
      for (const headers of [acme, globex, {}]) {
        const res = await t.app.inject({ method, url, headers });
        expect(res.statusCode).toBe(401);
        expectErrorShape(url, res.json());
      }
      expect([200, 202]).toContain(
        (await t.app.inject({ method, url, headers: admin })).statusCode,
      );
      const unknown = await t.app.inject({
        method,
        url: url.replace(batch.id, UNKNOWN_BATCH),
        headers: admin,
      });
      expect(unknown.statusCode).toBe(404);
    }
  });
});
