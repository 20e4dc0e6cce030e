import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, ItemsPage } from '@tryon/domain';
import { makeImage } from '@tryon/testing';
import {
  auth,
  buildTestApp,
  completeItem,
  imageUrl,
  multipart,
  TOKENS,
  type TestApp,
} from '../helper.js';

/**
 * The dashboard (/ui) and the queue board (/admin/queues) through app.inject: sign-in and its
 * cookies, tenant scoping, CSRF refusal, escaping, thumbnails and their cache, the operator
 * page. The browser side (live updates, images loading) is e2e/test/dashboard.test.ts.
 */

const ORIGIN = { origin: 'http://api.test' };
const form = (fields: Record<string, string>) => ({
  payload: new URLSearchParams(fields).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...ORIGIN },
});

let t: TestApp;
let batch: Batch;
let assetId: string;

/** The cookie header a browser would send to `path` after this set-cookie answer. */
function cookiesFor(setCookie: string | string[] | undefined, path: string): string {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  return all
    .filter((c) => {
      const cookiePath = /;\s*Path=([^;]+)/i.exec(c)?.[1] ?? '/';
      return path.startsWith(cookiePath) && !/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c);
    })
    .map((c) => c.split(';')[0])
    .join('; ');
}

async function signIn(token: string, path = '/ui'): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: '/ui/login', ...form({ token }) });
  expect(res.statusCode).toBe(303);
  return cookiesFor(res.headers['set-cookie'], path);
}

beforeAll(async () => {
  t = await buildTestApp();
  const upload = multipart([
    {
      field: 'f',
      filename: 'model.png',
      data: await makeImage({ width: 600, height: 900, format: 'png' }),
    },
  ]);
  const uploaded = await t.app.inject({
    method: 'POST',
    url: '/v1/assets',
    headers: { ...upload.headers, ...auth(TOKENS.acme) },
    payload: upload.payload,
  });
  assetId = uploaded.json<{ assets: { id: string }[] }>().assets[0]!.id;
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/batches',
    headers: auth(TOKENS.acme),
    payload: {
      items: [
        {
          model: assetId,
          cloth: imageUrl('c0'),
          cloth_type: 'upper',
          external_id: '<script>alert("x")</script>',
        },
        { model: assetId, cloth: imageUrl('c1'), cloth_type: 'upper', external_id: 'second' },
        { model: assetId, cloth: imageUrl('c2'), cloth_type: 'upper', external_id: 'third' },
      ],
      metadata: { note: '<img src=x onerror=alert(1)>' },
    },
  });
  expect(created.statusCode).toBe(202);
  batch = created.json<Batch>();
  await t.app.settle();
});
afterAll(() => t?.close());

async function items() {
  const res = await t.app.inject({
    method: 'GET',
    url: `/v1/batches/${batch.id}/items`,
    headers: auth(TOKENS.acme),
  });
  return res.json<ItemsPage>().items;
}

describe('sign-in', () => {
  it('sends pages without a session to the login form, which has a CSP', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/ui/batches/${batch.id}` });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(
      `/ui/login?next=${encodeURIComponent(`/ui/batches/${batch.id}`)}`,
    );
    const login = await t.app.inject({ method: 'GET', url: res.headers.location! });
    expect(login.statusCode).toBe(200);
    expect(login.headers['content-type']).toMatch(/^text\/html/);
    expect(login.headers['content-security-policy']).toContain("script-src 'self'");
    expect(login.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(login.body).toContain('name="token"');
    // Fragments, thumbnails and event streams answer 401 rather than a redirect.
    for (const url of ['/ui?partial=rows', `/ui/batches/${batch.id}/events`]) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    }
  });

  it('refuses a wrong token with a 401 page and sets strict HttpOnly cookies for a right one', async () => {
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/ui/login',
      ...form({ token: 'not-a-real-token-123' }),
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('That token is not valid');
    expect(wrong.headers['set-cookie']).toBeUndefined();

    const right = await t.app.inject({
      method: 'POST',
      url: '/ui/login',
      ...form({ token: TOKENS.acme, next: `/ui/batches/${batch.id}` }),
    });
    expect(right.statusCode).toBe(303);
    expect(right.headers.location).toBe(`/ui/batches/${batch.id}`);
    const cookie = String(right.headers['set-cookie']);
    expect(cookie).toMatch(/^tryon_ui=/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/ui');
    expect(cookie).not.toContain('Secure'); // PUBLIC_URL is http here

    const page = await t.app.inject({
      method: 'GET',
      url: '/ui',
      headers: { cookie: cookiesFor(right.headers['set-cookie'], '/ui') },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(batch.id);
  });

  it('never follows a next= that leaves the dashboard', async () => {
    for (const next of ['https://evil.example/', '//evil.example/ui', '/v1/batches', '/ui\\@x']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/ui/login',
        ...form({ token: TOKENS.acme, next }),
      });
      expect(res.headers.location).toBe('/ui');
    }
  });

  it('refuses form posts from another site, or with no Origin or Referer', async () => {
    const cookie = await signIn(TOKENS.acme);
    for (const headers of [
      { origin: 'https://evil.example' },
      { referer: 'https://evil.example/page' },
      {},
    ]) {
      const res = await t.app.inject({
        method: 'POST',
        url: `/ui/batches/${batch.id}/cancel`,
        headers: { ...headers, cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: '',
      });
      expect(res.statusCode).toBe(403);
    }
    const after = await t.records.getBatch(batch.id);
    expect(after!.counts.cancelled).toBe(0);
  });

  it('logs neither the token nor the cookie', async () => {
    const cookie = await signIn(TOKENS.acme);
    await t.app.inject({
      method: 'POST',
      url: '/ui/login',
      ...form({ token: 'wrong-token-abcdef' }),
    });
    await t.app.inject({ method: 'GET', url: '/ui', headers: { cookie } });
    await t.app.inject({ method: 'GET', url: `/ui/login?token=${TOKENS.globex}` });
    const logs = t.logs.join('');
    expect(logs).toContain('dashboard sign-in');
    for (const secret of [TOKENS.acme, TOKENS.globex, 'wrong-token-abcdef']) {
      expect(logs).not.toContain(secret);
    }
  });

  it('a token that is no longer configured stops working', async () => {
    const cookie = await signIn(TOKENS.acme);
    const revoked = await buildTestApp({
      storage: 'fs',
      env: { API_TOKENS: `globex:${TOKENS.globex}` },
    });
    try {
      const res = await revoked.app.inject({ method: 'GET', url: '/ui', headers: { cookie } });
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toMatch(/^\/ui\/login/);
    } finally {
      await revoked.close();
    }
  });

  it('marks cookies Secure when PUBLIC_URL is https; logout clears them', async () => {
    const secure = await buildTestApp({
      storage: 'fs',
      env: { PUBLIC_URL: 'https://tryon.example' },
    });
    try {
      const res = await secure.app.inject({
        method: 'POST',
        url: '/ui/login',
        payload: `token=${TOKENS.acme}`,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: 'https://tryon.example',
        },
      });
      expect(res.statusCode).toBe(303);
      expect(String(res.headers['set-cookie'])).toContain('Secure');
      const out = await secure.app.inject({
        method: 'POST',
        url: '/ui/logout',
        headers: { origin: 'https://tryon.example' },
      });
      expect(out.statusCode).toBe(303);
      expect(String(out.headers['set-cookie'])).toMatch(/tryon_ui=;.*(Max-Age=0|Expires=)/);
    } finally {
      await secure.close();
    }
  });
});

describe('pages', () => {
  let acme: string;
  let globex: string;
  beforeAll(async () => {
    acme = await signIn(TOKENS.acme);
    globex = await signIn(TOKENS.globex);
  });

  it('escapes tenant data on the batch page', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/ui/batches/${batch.id}`,
      headers: { cookie: acme },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toBeDefined();
    expect(res.body).not.toContain('<script>alert');
    expect(res.body).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(res.body).not.toContain('<img src=x');
    expect(res.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(res.body).toContain(`data-batch-events="/ui/batches/${batch.id}/events"`);
    // Three tiles, each with model and garment thumbnails; no result yet.
    expect(res.body.match(/ data-item="/g)).toHaveLength(3);
    expect(res.body).not.toContain('data-role="result"');
  });

  it("answers another tenant's batch, item and thumbnails as unknown: 404", async () => {
    const [item] = await items();
    for (const url of [
      `/ui/batches/${batch.id}`,
      `/ui/thumbs/${item!.id}/model`,
      `/ui/items/${item!.id}/result`,
    ]) {
      const res = await t.app.inject({ method: 'GET', url, headers: { cookie: globex } });
      expect(res.statusCode).toBe(404);
    }
    const post = await t.app.inject({
      method: 'POST',
      url: `/ui/batches/${batch.id}/cancel`,
      headers: { cookie: globex, ...ORIGIN },
    });
    expect(post.statusCode).toBe(404);
    const list = await t.app.inject({ method: 'GET', url: '/ui', headers: { cookie: globex } });
    expect(list.body).not.toContain(batch.id);
  });

  it('answers bad input with a 4xx page, never a 5xx', async () => {
    const [item] = await items();
    for (const [url, status] of [
      [`/ui/batches/${batch.id}?status=sideways`, 400],
      [`/ui/batches/${batch.id}?cursor=bm9wZQ`, 400],
      [`/ui/batches/${batch.id}?cursor=${'x'.repeat(100)}`, 400],
      [`/ui/batches/${'b'.repeat(90)}`, 404],
      ['/ui/batches/bat_%00', 404],
      [`/ui/thumbs/${item!.id}/elsewhere`, 404],
      ['/ui/thumbs/itm_00000000000000000000/model', 404],
      ['/ui/nothing/here', 404],
    ] as const) {
      const res = await t.app.inject({ method: 'GET', url, headers: { cookie: acme } });
      expect(res.statusCode, url).toBe(status);
      expect(res.headers['content-type'], url).toMatch(/^text\/html/);
    }
    const json = await t.app.inject({
      method: 'POST',
      url: '/ui/login',
      headers: { 'content-type': 'text/plain', ...ORIGIN },
      payload: 'token=x',
    });
    expect(json.statusCode).toBe(415);
    const empty = await t.app.inject({ method: 'POST', url: '/ui/login', ...form({}) });
    expect(empty.statusCode).toBe(400);
  });

  it('pages the gallery by 60 and filters it by status', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/ui/batches/${batch.id}?status=failed`,
      headers: { cookie: acme },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('No items here.');
    expect(res.body).not.toContain('rel="next"');
  });

  it('serves cached WebP thumbnails of inputs and results, tenant-checked', async () => {
    const [first, second] = await items();
    const model = await t.app.inject({
      method: 'GET',
      url: `/ui/thumbs/${first!.id}/model`,
      headers: { cookie: acme },
    });
    expect(model.statusCode).toBe(200);
    expect(model.headers['content-type']).toBe('image/webp');
    expect(model.headers['cache-control']).toMatch(/^private, max-age=\d{6,}/);
    const meta = await sharp(model.rawPayload).metadata();
    expect(meta.format).toBe('webp');
    expect(meta.width).toBe(240);
    // The same model photo in another item: served from the cache even with its bytes gone.
    const asset = await t.records.getAsset('acme', assetId);
    await t.storage.delete(asset!.storage_key);
    const again = await t.app.inject({
      method: 'GET',
      url: `/ui/thumbs/${second!.id}/model`,
      headers: { cookie: acme, 'if-none-match': model.headers.etag as string },
    });
    expect(again.statusCode).toBe(304);

    // A result that is not there yet: 404, not cached by the browser.
    const pending = await t.app.inject({
      method: 'GET',
      url: `/ui/thumbs/${first!.id}/result`,
      headers: { cookie: acme },
    });
    expect(pending.statusCode).toBe(404);
    expect(pending.headers['cache-control']).toBe('no-store');

    // Complete the item by hand, as the worker would.
    const record = (await t.records.getItem(first!.id))!;
    const stored = await completeItem(t, record, await makeImage({ width: 768, height: 1024 }));

    const page = await t.app.inject({
      method: 'GET',
      url: `/ui/batches/${batch.id}`,
      headers: { cookie: acme },
    });
    const src = new RegExp(`/ui/thumbs/${record.id}/result\\?v=${stored.sha256.slice(0, 16)}`);
    expect(page.body).toMatch(src);
    const result = await t.app.inject({
      method: 'GET',
      url: `/ui/thumbs/${record.id}/result?v=${stored.sha256.slice(0, 16)}`,
      headers: { cookie: acme },
    });
    expect(result.statusCode).toBe(200);
    expect((await sharp(result.rawPayload).metadata()).width).toBe(240);
    const full = await t.app.inject({
      method: 'GET',
      url: `/ui/items/${record.id}/result`,
      headers: { cookie: acme },
    });
    expect(full.statusCode).toBe(200);
    expect(full.rawPayload.length).toBe(stored.bytes);
  });

  it('cancels and retries through form posts, then redirects back to the batch', async () => {
    const cancel = await t.app.inject({
      method: 'POST',
      url: `/ui/batches/${batch.id}/cancel`,
      headers: { cookie: acme, ...ORIGIN },
    });
    expect(cancel.statusCode).toBe(303);
    expect(cancel.headers.location).toBe(`/ui/batches/${batch.id}?done=cancel`);
    const after = (await t.records.getBatch(batch.id))!;
    expect(after.counts).toMatchObject({ completed: 1, cancelled: 2, queued: 0 });
    const page = await t.app.inject({
      method: 'GET',
      url: cancel.headers.location!,
      headers: { cookie: acme },
    });
    expect(page.body).toContain('The items that had not started are cancelled.');
    // Finished: no event stream, no cancel button.
    expect(page.body).toContain('data-batch-events=""');

    const retry = await t.app.inject({
      method: 'POST',
      url: `/ui/batches/${batch.id}/retry`,
      headers: { cookie: acme, referer: `http://api.test/ui/batches/${batch.id}` },
    });
    expect(retry.statusCode).toBe(303);
    expect(retry.headers.location).toBe(`/ui/batches/${batch.id}?done=retry`);
  });
});

describe('operator page and queue board', () => {
  it('needs the admin token: a tenant session is sent to sign in', async () => {
    const acme = await signIn(TOKENS.acme);
    const res = await t.app.inject({
      method: 'GET',
      url: '/ui/operator',
      headers: { cookie: acme },
    });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/ui/login?next=%2Fui%2Foperator');
    const login = await t.app.inject({
      method: 'GET',
      url: res.headers.location!,
      headers: { cookie: acme },
    });
    expect(login.body).toContain('This page needs the admin token.');
  });

  it('shows budgets, queues and paused keys to the admin', async () => {
    const login = await t.app.inject({
      method: 'POST',
      url: '/ui/login',
      ...form({ token: TOKENS.admin }),
    });
    expect(login.statusCode).toBe(303);
    expect(login.headers.location).toBe('/ui/operator');
    const cookies = ([] as string[]).concat(login.headers['set-cookie'] ?? []);
    expect(
      cookies.filter((c) => c.startsWith('tryon_admin=')).map((c) => /Path=([^;]+)/.exec(c)?.[1]),
    ).toEqual(['/ui', '/admin']);
    expect(cookies.some((c) => c.startsWith('tryon_ui='))).toBe(false);

    const status = await t.app.inject({
      method: 'GET',
      url: '/admin/status',
      headers: auth(TOKENS.admin),
    });
    const budgetKeys = status
      .json<{ budgets: { budget_key: string }[] }>()
      .budgets.map((b) => b.budget_key);
    expect(budgetKeys).toHaveLength(2);
    const page = await t.app.inject({
      method: 'GET',
      url: '/ui/operator',
      headers: { cookie: cookiesFor(login.headers['set-cookie'], '/ui/operator') },
    });
    expect(page.statusCode).toBe(200);
    for (const key of budgetKeys) expect(page.body).toContain(`data-budget="${key}"`);
    expect(page.body).toContain('data-queue="tryon"');
    expect(page.body).toContain('None: every key is usable.');
    expect(page.body).toContain('href="/admin/queues"');
  });

  it('/admin/queues: 401 without the admin token, 200 with it or the admin cookie', async () => {
    for (const headers of [
      {},
      auth(TOKENS.acme),
      { cookie: await signIn(TOKENS.acme, '/admin/queues') },
    ]) {
      const res = await t.app.inject({ method: 'GET', url: '/admin/queues', headers });
      expect(res.statusCode).toBe(401);
      const api = await t.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers });
      expect(api.statusCode).toBe(401);
    }
    const browser = await t.app.inject({
      method: 'GET',
      url: '/admin/queues',
      headers: { accept: 'text/html' },
    });
    expect(browser.body).toContain('/ui/login?next=%2Fadmin%2Fqueues');

    const board = await t.app.inject({
      method: 'GET',
      url: '/admin/queues',
      headers: auth(TOKENS.admin),
    });
    expect(board.statusCode).toBe(200);
    expect(board.headers['content-type']).toMatch(/^text\/html/);
    // Its own assets load from its base path.
    expect(board.body).toContain('<base href="/admin/queues/" />');
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(board.body)?.[1];
    expect(script).toBeDefined();

    const cookie = await signIn(TOKENS.admin, '/admin/queues');
    const asset = await t.app.inject({
      method: 'GET',
      url: `/admin/queues/${script!}`,
      headers: { cookie },
    });
    expect(asset.statusCode).toBe(200);
    const api = await t.app.inject({
      method: 'GET',
      url: '/admin/queues/api/queues',
      headers: { cookie },
    });
    expect(api.statusCode).toBe(200);
    const names = api
      .json<{ queues: { name: string; readOnlyMode: boolean }[] }>()
      .queues.map((q) => q.name);
    expect(names.sort()).toEqual([t.tryonQueue.name, t.webhookQueue.name].sort());

    // The JSON admin routes keep wanting the Bearer header.
    const status = await t.app.inject({ method: 'GET', url: '/admin/status', headers: { cookie } });
    expect(status.statusCode).toBe(401);
  });
});

describe('the API document', () => {
  it('leaves the dashboard and the queue board out of /docs', async () => {
    const doc = await t.app.inject({ method: 'GET', url: '/docs/json' });
    const paths = Object.keys(doc.json<{ paths: Record<string, unknown> }>().paths);
    expect(paths.length).toBeGreaterThan(5);
    expect(paths.filter((p) => p.startsWith('/ui') || p.startsWith('/admin/queues'))).toEqual([]);
  });
});

describe('open dev mode', () => {
  it('needs no sign-in without API_TOKENS and ADMIN_TOKEN', async () => {
    const open = await buildTestApp({ storage: 'fs', env: { API_TOKENS: '', ADMIN_TOKEN: '' } });
    try {
      for (const url of ['/ui', '/ui/operator', '/admin/queues']) {
        const res = await open.app.inject({ method: 'GET', url });
        expect(res.statusCode, url).toBe(200);
      }
      const login = await open.app.inject({ method: 'GET', url: '/ui/login' });
      expect(login.statusCode).toBe(303);
    } finally {
      await open.close();
    }
  });
});
