import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBuffer, type Entry, type ZipFile } from 'yauzl';
import type { Batch, Item, ItemsPage, RerenderAnswer } from '@tryon/domain';
import { tryonJobId } from '@tryon/queues';
import { preparedInputKey, ResultCache } from '@tryon/records';
import { makeImage } from '@tryon/testing';
import { auth, buildTestApp, completeItem, TOKENS, uploadImages, type TestApp } from './helper.js';

/**
 * Review of results (POST /v1/items/:id/review), the review in the item list and the results
 * files, the results ZIP (unzipped here with yauzl) and "re-render rejected", on real Redis and
 * a real S3-protocol server.
 */

let t: TestApp;
let batch: Batch;
/** By external id. */
const items = new Map<string, Item>();
/** The result bytes stored for each completed item, by external id. */
const images = new Map<string, Buffer>();
let models: string[];
let garments: string[];

const acme = auth(TOKENS.acme);
const get = (url: string, headers = acme) => t.app.inject({ method: 'GET', url, headers });
const review = (itemId: string, decision: unknown, headers = acme) =>
  t.app.inject({
    method: 'POST',
    url: `/v1/items/${itemId}/review`,
    headers,
    payload: { decision },
  });
const itemOf = (externalId: string) => items.get(externalId)!;

async function listItems(): Promise<Item[]> {
  return (await get(`/v1/batches/${batch.id}/items?limit=500`)).json<ItemsPage>().items;
}

/** Every entry of a ZIP: name -> bytes. */
async function unzip(bytes: Buffer): Promise<Map<string, Buffer>> {
  const zip = await new Promise<ZipFile>((resolve, reject) =>
    fromBuffer(bytes, { lazyEntries: true }, (error, file) =>
      error ? reject(error) : resolve(file),
    ),
  );
  const entries = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry: Entry) => {
      zip.openReadStream(entry, (error, stream) => {
        if (error) return reject(error);
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', reject);
        stream.on('end', () => {
          entries.set(entry.fileName, Buffer.concat(chunks));
          zip.readEntry();
        });
      });
    });
    zip.readEntry();
  });
  return entries;
}

beforeAll(async () => {
  t = await buildTestApp();
  models = await uploadImages(t, 2, 31);
  garments = await uploadImages(t, 2, 32);
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/batches',
    headers: acme,
    payload: {
      items: [
        ...models.flatMap((model, m) =>
          garments.map((cloth, g) => ({
            model,
            cloth,
            cloth_type: 'upper',
            external_id: `model-${m + 1}__shirt-${g + 1}`,
          })),
        ),
        // Names that need care in a ZIP: a path, and a clash with another item's name.
        { model: models[0], cloth: garments[0], cloth_type: 'full_set', external_id: '../etc/x' },
        { model: models[1], cloth: garments[0], cloth_type: 'full_set', external_id: 'open' },
      ],
    },
  });
  expect(created.statusCode).toBe(202);
  batch = created.json<Batch>();
  await t.app.settle();
  const records = await t.records.getItems(await t.records.itemIds(batch.id));
  for (const [i, record] of records.entries()) {
    // The last item stays queued: nothing to review there.
    if (record.external_id !== 'open') {
      const image = await makeImage({
        width: 20 + i,
        height: 30,
        color: { r: i * 30, g: 5, b: 9 },
      });
      await completeItem(t, record, image);
      images.set(record.external_id!, image);
    }
  }
  for (const item of await listItems()) items.set(item.external_id!, item);
});
afterAll(() => t?.close());

describe('POST /v1/items/:id/review', () => {
  it('approves and rejects completed items; the item, its list and null to clear show it', async () => {
    const approved = await review(itemOf('model-1__shirt-1').id, 'approved');
    expect(approved.statusCode).toBe(200);
    expect(approved.json<Item>().review).toBe('approved');
    expect((await review(itemOf('model-1__shirt-2').id, 'rejected')).statusCode).toBe(200);
    expect((await review(itemOf('model-2__shirt-1').id, 'approved')).statusCode).toBe(200);
    expect((await review(itemOf('../etc/x').id, 'approved')).statusCode).toBe(200);
    // A change of mind, then cleared.
    expect((await review(itemOf('model-2__shirt-2').id, 'approved')).statusCode).toBe(200);
    const cleared = await review(itemOf('model-2__shirt-2').id, null);
    expect(cleared.json<Item>().review).toBeNull();

    const byId = new Map((await listItems()).map((item) => [item.external_id, item.review]));
    expect(Object.fromEntries(byId)).toEqual({
      'model-1__shirt-1': 'approved',
      'model-1__shirt-2': 'rejected',
      'model-2__shirt-1': 'approved',
      'model-2__shirt-2': null,
      '../etc/x': 'approved',
      open: null,
    });
    const one = await get(`/v1/items/${itemOf('model-1__shirt-2').id}`);
    expect(one.json<Item>().review).toBe('rejected');
  });

  it('refuses a bad decision (400), an unfinished item (409), another tenant (404)', async () => {
    const bad = await review(itemOf('model-1__shirt-1').id, 'maybe');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { code: string; message: string } }>().error.code).toBe(
      'validation_error',
    );
    expect(bad.json<{ error: { message: string } }>().error.message).toContain('decision');

    const open = await review(itemOf('open').id, 'approved');
    expect(open.statusCode).toBe(409);
    expect(open.json<{ error: { code: string } }>().error.code).toBe('item_not_completed');

    const other = await review(itemOf('model-1__shirt-1').id, 'rejected', auth(TOKENS.globex));
    expect(other.statusCode).toBe(404);
    expect(other.json<{ error: { code: string } }>().error.code).toBe('item_not_found');
    // The same answer as an id nobody has: whether it exists cannot be told.
    const unknown = await review('itm_00000000000000000000', 'rejected', auth(TOKENS.globex));
    expect(other.body).toBe(unknown.body);
    expect((await get(`/v1/items/${itemOf('model-1__shirt-1').id}`)).json<Item>().review).toBe(
      'approved',
    );
  });

  it('puts the review in results.csv and results.jsonl', async () => {
    const csv = parse<Record<string, string>>(
      (await get(`/v1/batches/${batch.id}/results.csv`)).body,
      {
        columns: true,
      },
    );
    expect(csv.map((row) => [row.external_id, row.review])).toEqual([
      ['model-1__shirt-1', 'approved'],
      ['model-1__shirt-2', 'rejected'],
      ['model-2__shirt-1', 'approved'],
      ['model-2__shirt-2', ''],
      ['../etc/x', 'approved'],
      ['open', ''],
    ]);
    const jsonl = (await get(`/v1/batches/${batch.id}/results.jsonl`)).body
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { review: string | null });
    expect(jsonl.map((row) => row.review)).toEqual([
      'approved',
      'rejected',
      'approved',
      null,
      'approved',
      null,
    ]);
  });
});

describe('GET /v1/batches/:id/results.zip', () => {
  const manifestOf = (entries: Map<string, Buffer>) =>
    parse<Record<string, string>>(entries.get('manifest.csv')!, { columns: true });

  it('holds every result, named by external id, with the same bytes, and a manifest', async () => {
    const res = await get(`/v1/batches/${batch.id}/results.zip`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="${batch.id}-results.zip"`,
    );
    const entries = await unzip(res.rawPayload);
    expect([...entries.keys()]).toEqual([
      'model-1__shirt-1.jpg',
      'model-1__shirt-2.jpg',
      'model-2__shirt-1.jpg',
      'model-2__shirt-2.jpg',
      'etc_x.jpg',
      'manifest.csv',
    ]);
    for (const [externalId, image] of images) {
      const name = externalId === '../etc/x' ? 'etc_x.jpg' : `${externalId}.jpg`;
      expect(entries.get(name)!.equals(image), name).toBe(true);
    }
    const reviews = new Map((await listItems()).map((item) => [item.id, item.review]));
    expect(manifestOf(entries)).toEqual(
      [...images.keys()].map((externalId) => {
        const item = itemOf(externalId);
        return {
          item_id: item.id,
          external_id: externalId,
          file: externalId === '../etc/x' ? 'etc_x.jpg' : `${externalId}.jpg`,
          review: reviews.get(item.id) ?? '',
          result_bytes: String(item.result!.bytes),
          result_sha256: item.result!.sha256,
        };
      }),
    );
  });

  it('?review=approved holds the approved results only', async () => {
    const res = await get(`/v1/batches/${batch.id}/results.zip?review=approved`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-disposition']).toContain('-results-approved.zip');
    const entries = await unzip(res.rawPayload);
    expect([...entries.keys()]).toEqual([
      'model-1__shirt-1.jpg',
      'model-2__shirt-1.jpg',
      'etc_x.jpg',
      'manifest.csv',
    ]);
    expect(entries.get('model-2__shirt-1.jpg')!.equals(images.get('model-2__shirt-1')!)).toBe(true);
    expect(manifestOf(entries).map((row) => [row.file, row.review])).toEqual([
      ['model-1__shirt-1.jpg', 'approved'],
      ['model-2__shirt-1.jpg', 'approved'],
      ['etc_x.jpg', 'approved'],
    ]);
  });

  it('refuses an unknown review filter (400) and another tenant (404)', async () => {
    const bad = await get(`/v1/batches/${batch.id}/results.zip?review=rejected`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { code: string } }>().error.code).toBe('validation_error');
    const other = await get(`/v1/batches/${batch.id}/results.zip`, auth(TOKENS.globex));
    expect(other.statusCode).toBe(404);
  });
});

describe('POST /v1/batches/:id/rerender', () => {
  const rerender = (query = '') =>
    t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/rerender${query}`,
      headers: acme,
    });

  it('dry_run=true tells the cost and changes nothing', async () => {
    const res = await rerender('?dry_run=true');
    expect(res.statusCode).toBe(200);
    const rejected = itemOf('model-1__shirt-2');
    expect(res.json<RerenderAnswer>()).toEqual({
      dry_run: true,
      items: 1,
      credits: 1,
      item_ids: [rejected.id],
    });
    const after = (await get(`/v1/items/${rejected.id}`)).json<Item>();
    expect(after.status).toBe('completed');
    expect(after.review).toBe('rejected');
  });

  it('queues the rejected items fresh, keeping the earlier result reachable', async () => {
    const rejected = itemOf('model-1__shirt-2');
    const record = (await t.records.getItem(rejected.id))!;
    // The pair's render as the worker remembers it for reuse: it must not be reused.
    const prepared = { model: 'prepared/m.jpg', cloth: 'prepared/g.jpg' };
    await t.redis.set(
      preparedInputKey(t.config.prefix, 'acme', record.model, 'model'),
      prepared.model,
    );
    await t.redis.set(
      preparedInputKey(t.config.prefix, 'acme', record.cloth, 'garment'),
      prepared.cloth,
    );
    const cache = new ResultCache(t.redis, t.config.prefix);
    const pairKey = ResultCache.pairKey(prepared, 'upper', false);
    await cache.set(pairKey, record.result!);

    const res = await rerender();
    expect(res.statusCode).toBe(200);
    expect(res.json<RerenderAnswer>()).toMatchObject({ dry_run: false, items: 1, credits: 1 });

    const after = (await get(`/v1/items/${rejected.id}`)).json<Item>();
    expect(after.status).toBe('queued');
    expect(after.review).toBeNull();
    expect(after.result).toBeNull();
    expect(after.previous_results).toHaveLength(1);
    const earlier = after.previous_results[0]!;
    expect(earlier).toMatchObject({
      review: 'rejected',
      sha256: rejected.result!.sha256,
      bytes: rejected.result!.bytes,
      url: `http://api.test/v1/items/${rejected.id}/previous-results/0`,
    });
    const image = await get(`/v1/items/${rejected.id}/previous-results/0`);
    expect(image.statusCode, image.body.slice(0, 200)).toBe(200);
    expect(image.rawPayload.equals(images.get('model-1__shirt-2')!)).toBe(true);
    expect((await get(`/v1/items/${rejected.id}/previous-results/1`)).statusCode).toBe(404);
    const other = await get(`/v1/items/${rejected.id}/previous-results/0`, auth(TOKENS.globex));
    const unknown = await get(
      '/v1/items/itm_00000000000000000000/previous-results/0',
      auth(TOKENS.globex),
    );
    expect(other.statusCode).toBe(404);
    expect(other.body).toBe(unknown.body);

    // A new run, its job queued; the old render is neither reusable nor at the result key.
    const job = await t.tryonQueue.getJob(tryonJobId(rejected.id, record.run + 1));
    expect(job?.data).toMatchObject({ itemId: rejected.id, step: 'prepare' });
    expect(await cache.get(pairKey)).toBeNull();
    expect(await t.storage.exists(rejected.result!.key)).toBe(false);
    const reopened = (await get(`/v1/batches/${batch.id}`)).json<Batch>();
    expect(reopened.counts.queued).toBe(2);
    expect(reopened.status).toBe('running');

    // Nothing is rejected now: a second call does nothing.
    expect((await rerender()).json<RerenderAnswer>().items).toBe(0);
  });
});
