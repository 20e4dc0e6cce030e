import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, Item, ItemsPage } from '@tryon/domain';
import { makeImage } from '@tryon/testing';
import { auth, buildTestApp, completeItem, TOKENS, uploadImages, type TestApp } from '../helper.js';

/**
 * The review grid's server side through app.inject: the tiles' markup, the review posts of
 * review.js (CSRF-guarded, tenant-scoped), the re-render confirmation with its cost, and the
 * downloads through the dashboard's session. The browser side is e2e/test/review.test.ts.
 */

const ORIGIN = { origin: 'http://api.test' };
let t: TestApp;
let batch: Batch;
let items: Item[];
let acme: string;
let globex: string;

async function signIn(token: string): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/ui/login',
    payload: new URLSearchParams({ token }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...ORIGIN },
  });
  expect(res.statusCode).toBe(303);
  const cookies = res.headers['set-cookie'];
  return (Array.isArray(cookies) ? cookies : [cookies ?? ''])
    .map((c) => c.split(';')[0])
    .join('; ');
}

const review = (itemId: string, decision: string, cookie = acme, headers = ORIGIN) =>
  t.app.inject({
    method: 'POST',
    url: `/ui/items/${itemId}/review`,
    payload: new URLSearchParams({ decision }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers },
  });

beforeAll(async () => {
  t = await buildTestApp();
  const [model] = await uploadImages(t, 1, 41);
  const garments = await uploadImages(t, 3, 42);
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/batches',
    headers: auth(TOKENS.acme),
    payload: {
      items: garments.map((cloth, g) => ({
        model,
        cloth,
        cloth_type: 'upper',
        external_id: `look-${g + 1}`,
      })),
    },
  });
  batch = created.json<Batch>();
  await t.app.settle();
  const records = await t.records.getItems(await t.records.itemIds(batch.id));
  // The first two completed, the third still queued.
  for (const record of records.slice(0, 2)) {
    await completeItem(t, record, await makeImage({ width: 12, height: 16 }));
  }
  const page = await t.app.inject({
    method: 'GET',
    url: `/v1/batches/${batch.id}/items`,
    headers: auth(TOKENS.acme),
  });
  items = page.json<ItemsPage>().items;
  acme = await signIn(TOKENS.acme);
  globex = await signIn(TOKENS.globex);
});
afterAll(() => t?.close());

describe('the review grid', () => {
  it('renders one tile per item with its status, review, downloads and the re-render link', async () => {
    await review(items[0]!.id, 'approved');
    const res = await t.app.inject({
      method: 'GET',
      url: `/ui/batches/${batch.id}`,
      headers: { cookie: acme },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body.match(/ data-item="/g)).toHaveLength(3);
    expect(res.body).toMatch(
      new RegExp(
        `data-item="${items[0]!.id}"\\s+data-status="completed"\\s+data-review="approved"`,
      ),
    );
    expect(res.body).toContain('data-review-grid');
    expect(res.body).toMatch(/<script src="\/ui\/assets\/review\.js\?v=[0-9a-f]{12}" defer>/);
    for (const href of [
      'results.csv',
      'results.jsonl',
      'results.zip',
      'results.zip?review=approved',
    ]) {
      expect(res.body).toContain(`href="/ui/batches/${batch.id}/${href}"`);
    }
    expect(res.body).toContain(`href="/ui/batches/${batch.id}/rerender"`);
  });

  it('saves a review posted from the page; refuses a cross-site post, a bad decision, an open item', async () => {
    const ok = await review(items[1]!.id, 'rejected');
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ review: 'rejected' });
    expect((await t.records.getItem(items[1]!.id))!.review).toBe('rejected');

    const crossSite = await review(items[1]!.id, 'approved', acme, {
      origin: 'https://evil.example',
    });
    expect(crossSite.statusCode).toBe(403);
    expect(await review(items[1]!.id, 'maybe').then((r) => r.statusCode)).toBe(400);
    expect(await review(items[2]!.id, 'approved').then((r) => r.statusCode)).toBe(409);
    expect(await review(items[1]!.id, 'approved', globex).then((r) => r.statusCode)).toBe(404);
    expect((await t.records.getItem(items[1]!.id))!.review).toBe('rejected');
  });

  it('shows the cost of re-rendering the rejected results before doing it', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/ui/batches/${batch.id}/rerender`,
      headers: { cookie: acme },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<strong data-field="rerender-items">1</strong>');
    expect(res.body).toContain('<strong data-field="rerender-credits">1</strong>');
    expect(res.body).toContain(`action="/ui/batches/${batch.id}/rerender"`);
    // Showing the cost changed nothing.
    expect((await t.records.getItem(items[1]!.id))!.status).toBe('completed');
    const other = await t.app.inject({
      method: 'GET',
      url: `/ui/batches/${batch.id}/rerender`,
      headers: { cookie: globex },
    });
    expect(other.statusCode).toBe(404);
  });

  it('serves the CSV, JSONL and ZIP downloads to the signed-in tenant only', async () => {
    const download = (path: string, cookie: string) =>
      t.app.inject({ method: 'GET', url: `/ui/batches/${batch.id}/${path}`, headers: { cookie } });
    const csv = await download('results.csv', acme);
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-disposition']).toBe(
      `attachment; filename="${batch.id}-results.csv"`,
    );
    expect(csv.body.split('\r\n')[0]).toContain(',review,');
    const jsonl = await download('results.jsonl', acme);
    expect(jsonl.body.trim().split('\n')).toHaveLength(3);
    const zip = await download('results.zip?review=approved', acme);
    expect(zip.statusCode).toBe(200);
    expect(zip.headers['content-type']).toBe('application/zip');
    expect(zip.rawPayload.subarray(0, 4).toString('hex')).toBe('504b0304'); // a ZIP's first entry
    expect(zip.rawPayload.includes(Buffer.from('look-1.jpg'))).toBe(true);
    expect(zip.rawPayload.includes(Buffer.from('look-2.jpg'))).toBe(false);
    expect((await download('results.zip?review=rejected', acme)).statusCode).toBe(400);
    expect((await download('results.zip', globex)).statusCode).toBe(404);
    // Signed out: to the sign-in form, as any page.
    const signedOut = await download('results.csv', '');
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toMatch(/^\/ui\/login\?next=/);
  });
});

describe('the new-batch page (/ui/new)', () => {
  const postJson = (url: string, body: unknown, cookie = acme, headers = ORIGIN) =>
    t.app.inject({
      method: 'POST',
      url,
      payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json', cookie, ...headers },
    });

  it('is a page for the signed-in tenant, with its script', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/ui/new', headers: { cookie: acme } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(/<script src="\/ui\/assets\/new-batch\.js\?v=[0-9a-f]{12}" defer>/);
    expect(page.body).toContain('data-files="models"');
    const signedOut = await t.app.inject({ method: 'GET', url: '/ui/new' });
    expect(signedOut.statusCode).toBe(303);
  });

  it('answers the dry run and the submit as the API does, errors in its shape', async () => {
    const [model] = await uploadImages(t, 1, 51);
    const [cloth] = await uploadImages(t, 1, 52);
    const body = { items: [{ model, cloth, cloth_type: 'upper', external_id: 'ui-1' }] };
    const dry = await postJson('/ui/batches?dry_run=true', body);
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({ dry_run: true, items: 1, credits: 1, cached: 0 });

    const bad = await postJson('/ui/batches', { items: [{ model, cloth_type: 'upper' }] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { code: string } }>().error.code).toBe('validation_error');
    const notMine = await postJson('/ui/batches', body, globex);
    expect(notMine.statusCode).toBe(422);
    expect(notMine.json<{ error: { code: string } }>().error.code).toBe('asset_not_found');
    const crossSite = await postJson('/ui/batches', body, acme, { origin: 'https://evil.example' });
    expect(crossSite.statusCode).toBe(403);

    const submitted = await postJson('/ui/batches', body);
    expect(submitted.statusCode).toBe(202);
    const batchId = submitted.json<Batch>().id;
    expect((await t.records.getBatch(batchId, 'acme'))?.counts.total).toBe(1);
  });
});
