import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResponse, DryRunAnswer, Item, ItemsPage } from '@tryon/domain';
import { preparedInputKey, ResultCache, type NewItem } from '@tryon/records';
import { auth, buildTestApp, imageUrl, TOKENS, uploadImages, type TestApp } from './helper.js';

/**
 * Results as files (results.jsonl, results.csv), the ETA on batch answers and the dry run, on
 * real Redis and file storage (so the dry run's "nothing written" can be checked on disk).
 */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ storage: 'fs' });
});
afterAll(() => t.close());

const acme = auth(TOKENS.acme);
const globex = auth(TOKENS.globex);

const get = (url: string, headers = acme) => t.app.inject({ method: 'GET', url, headers });
const submit = (body: object, query = '') =>
  t.app.inject({ method: 'POST', url: `/v1/batches${query}`, headers: acme, payload: body });

async function allItems(batchId: string): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | null = null;
  do {
    const res = await get(
      `/v1/batches/${batchId}/items?limit=500${cursor ? `&cursor=${cursor}` : ''}`,
    );
    const page: ItemsPage = res.json<ItemsPage>();
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return items;
}

/** The row each item should have in both files (metadata as an object here). */
function expectedRow(item: Item) {
  return {
    item_id: item.id,
    external_id: item.external_id,
    status: item.status,
    model: item.model,
    cloth: item.cloth,
    lower_cloth: item.lower_cloth,
    cloth_type: item.cloth_type,
    hd_mode: item.hd_mode,
    result_url: item.result?.url ?? null,
    result_bytes: item.result?.bytes ?? null,
    result_sha256: item.result?.sha256 ?? null,
    review: item.review,
    error_code: item.error?.code ?? null,
    error_message: item.error?.message ?? null,
    created_at: item.created_at,
    completed_at: item.completed_at,
    metadata: item.metadata,
  };
}

/** A CSV row read back: every cell text, '' for null, JSON for metadata. */
function asCsvCells(row: ReturnType<typeof expectedRow>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [
      key,
      value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value),
    ]),
  );
}

const TRICKY = { note: 'comma, "quoted"\nand a second line\r\nand a third', n: 1 };

describe('GET /v1/batches/:id/results.jsonl and .csv', () => {
  let batchId: string;
  let items: Item[];

  beforeAll(async () => {
    const res = await submit({
      items: [
        {
          model: imageUrl('m1'),
          cloth: imageUrl('c1'),
          cloth_type: 'upper',
          external_id: 'done',
          metadata: TRICKY,
        },
        { model: imageUrl('m2'), cloth: imageUrl('c2'), cloth_type: 'upper', external_id: 'bad' },
        // A spreadsheet would run this external_id as a formula.
        {
          model: imageUrl('m3'),
          cloth: imageUrl('c3'),
          lower_cloth: imageUrl('l3'),
          cloth_type: 'combo',
          hd_mode: true,
          external_id: '=HYPERLINK("http://evil.test")',
        },
      ],
    });
    expect(res.statusCode).toBe(202);
    batchId = res.json<BatchResponse>().id;
    await t.app.settle();
    const [done, bad] = await allItems(batchId);
    // As a worker would: one completed with its stored result, one failed with its reason.
    await t.records.transition(done!, ['queued'], 'running');
    await t.records.updateItem(done!.id, {
      result: {
        key: `results/${batchId}/${done!.id}.jpg`,
        bytes: 1234,
        sha256: 'ab'.repeat(32),
        content_type: 'image/jpeg',
      },
    });
    await t.records.transition(done!, ['running'], 'completed', { completed_at: Date.now() });
    await t.records.transition(bad!, ['queued'], 'running');
    await t.records.transition(bad!, ['running'], 'failed', {
      error: { code: 'fitroom_error', message: 'pose not supported, try "front"' },
      completed_at: Date.now(),
    });
    items = await allItems(batchId);
  });

  it('results.jsonl: one JSON object per item in submission order, as the items route shows them', async () => {
    const res = await get(`/v1/batches/${batchId}/results.jsonl`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="${batchId}-results.jsonl"`,
    );
    const rows = res.body
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(rows).toEqual(items.map(expectedRow));
    expect(rows[0]).toMatchObject({
      status: 'completed',
      result_url: `http://api.test/v1/items/${items[0]!.id}/result`,
      result_bytes: 1234,
      metadata: TRICKY,
    });
    expect(rows[1]).toMatchObject({
      status: 'failed',
      error_code: 'fitroom_error',
      error_message: 'pose not supported, try "front"',
      result_url: null,
    });
  });

  it('results.csv: RFC 4180 with a header, CRLF, metadata JSON round-tripping, formulas defused', async () => {
    const res = await get(`/v1/batches/${batchId}/results.csv`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="${batchId}-results.csv"`,
    );
    expect(res.body.split('\r\n')[0]).toBe(
      'item_id,external_id,status,model,cloth,lower_cloth,cloth_type,hd_mode,result_url,' +
        'result_bytes,result_sha256,review,error_code,error_message,created_at,completed_at,metadata',
    );
    expect(res.body.endsWith('\r\n')).toBe(true);
    const rows = parse<Record<string, string>>(res.body, {
      columns: true,
      record_delimiter: '\r\n',
    });
    const expected = items.map((item) => asCsvCells(expectedRow(item)));
    expected[2]!.external_id = `'${items[2]!.external_id}`;
    expect(rows).toEqual(expected);
    expect(JSON.parse(rows[0]!.metadata!)).toEqual(TRICKY);
    expect(rows[1]!.error_message).toBe('pose not supported, try "front"');
  });

  it("another tenant's batch, or an unknown one, answers 404 for both files", async () => {
    for (const format of ['jsonl', 'csv']) {
      const other = await get(`/v1/batches/${batchId}/results.${format}`, globex);
      expect(other.statusCode).toBe(404);
      expect(other.json()).toEqual({
        error: { code: 'batch_not_found', message: expect.any(String) as string },
      });
      expect((await get(`/v1/batches/bat_nope/results.${format}`)).statusCode).toBe(404);
    }
  });

  it('streams a batch of 3,000 items page by page, every row in order', async () => {
    const newItems: NewItem[] = Array.from({ length: 3_000 }, (_, i) => ({
      model: imageUrl(`big-m${i}`),
      cloth: imageUrl(`big-c${i}`),
      cloth_type: 'upper',
      external_id: `row-${i}`,
      metadata: { i, text: `a,b "${i}"\n` },
    }));
    const { batch } = await t.records.createBatch({ tenantId: 'acme', items: newItems });

    const jsonl = await get(`/v1/batches/${batch.id}/results.jsonl`);
    expect(jsonl.statusCode).toBe(200);
    const lines = jsonl.body.trimEnd().split('\n');
    expect(lines).toHaveLength(3_000);
    expect(lines.map((l) => (JSON.parse(l) as { external_id: string }).external_id)).toEqual(
      newItems.map((item) => item.external_id),
    );

    const csv = await get(`/v1/batches/${batch.id}/results.csv`);
    expect(csv.statusCode).toBe(200);
    const rows = parse<Record<string, string>>(csv.body, { columns: true });
    expect(rows).toHaveLength(3_000);
    expect(rows.map((r) => JSON.parse(r.metadata!) as unknown)).toEqual(
      newItems.map((item) => item.metadata),
    );
  });
});

describe('eta on batch answers', () => {
  it('a queued batch has one, in the answer of submit, GET and the list; a finished one has null', async () => {
    const res = await submit({
      items: Array.from({ length: 4 }, (_, i) => ({
        model: imageUrl(`eta-m${i}`),
        cloth: imageUrl(`eta-c${i}`),
        cloth_type: 'upper',
      })),
    });
    expect(res.statusCode).toBe(202);
    const created = res.json<BatchResponse>();
    expect(created.eta).not.toBeNull();

    const batch = (await get(`/v1/batches/${created.id}`)).json<BatchResponse>();
    expect(batch.eta!.seconds).toBeGreaterThan(0);
    expect(Date.parse(batch.eta!.at)).toBeGreaterThan(Date.now());
    const list = (await get('/v1/batches?limit=100')).json<{ batches: BatchResponse[] }>();
    expect(list.batches.find((b) => b.id === created.id)?.eta).toEqual(expect.any(Object));

    const cancelled = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${created.id}/cancel`,
      headers: acme,
    });
    expect(cancelled.json<BatchResponse>()).toMatchObject({ status: 'cancelled', eta: null });
    expect((await get(`/v1/batches/${created.id}`)).json<BatchResponse>().eta).toBeNull();
  });
});

describe('POST /v1/batches?dry_run=true', () => {
  async function everything(): Promise<{ keys: string[]; files: string[] }> {
    const keys = await t.redis.keys(`${t.config.prefix}:*`);
    const dataDir = t.config.storage.driver === 'fs' ? t.config.storage.dataDir : '';
    const files = await readdir(dataDir, { recursive: true }).catch(() => []);
    return { keys: keys.sort(), files: files.map((f) => join(f)).sort() };
  }

  it('answers items, credits (a rendered pair excluded) and an ETA, and writes nothing', async () => {
    const [m1, m2, c1, c2] = await uploadImages(t, 4, 77);
    // The worker rendered m1 x c1 (upper, normal) before: its prepared inputs and the pair's
    // result are remembered, under the very keys the worker uses.
    const prepared = { m1: 'prepared/m1-2048.png', c1: 'prepared/c1-1024.png' };
    await t.redis.set(preparedInputKey(t.config.prefix, 'acme', m1!, 'model'), prepared.m1);
    await t.redis.set(preparedInputKey(t.config.prefix, 'acme', c1!, 'garment'), prepared.c1);
    const cache = new ResultCache(t.redis, t.config.prefix);
    await cache.set(
      ResultCache.pairKey({ model: prepared.m1, cloth: prepared.c1 }, 'upper', false),
      {
        key: 'results/bat_old/itm_old.jpg',
        bytes: 10,
        sha256: 'cd'.repeat(32),
        content_type: 'image/jpeg',
      },
    );

    const body = {
      matrix: {
        models: [m1!, m2!, imageUrl('dry-model')],
        garments: [
          { cloth: c1!, cloth_type: 'upper', external_id: 'c1' },
          { cloth: c2!, cloth_type: 'upper', external_id: 'c2' },
        ],
      },
      idempotency_key: 'dry-run-key',
    };
    const batchIds = async () =>
      (await get('/v1/batches?limit=100'))
        .json<{ batches: BatchResponse[] }>()
        .batches.map((b) => b.id);
    const jobs = () => t.tryonQueue.getJobCounts();
    const before = { stored: await everything(), batches: await batchIds(), jobs: await jobs() };

    const res = await submit(body, '?dry_run=true');
    expect(res.statusCode).toBe(200);
    const answer = res.json<DryRunAnswer>();
    expect(answer).toMatchObject({ dry_run: true, items: 6, credits: 5, cached: 1 });
    expect(answer.eta!.seconds).toBeGreaterThan(0);
    expect(Date.parse(answer.eta!.at)).toBeGreaterThan(Date.now());

    // fresh_renders: every pair is rendered again, so every item costs a credit.
    const fresh = await submit({ ...body, fresh_renders: true }, '?dry_run=true');
    expect(fresh.json<DryRunAnswer>()).toMatchObject({ items: 6, credits: 6, cached: 0 });

    // Only the rendered pair: nothing waits for FitRoom, so the ETA is now.
    const cachedOnly = await submit(
      { items: [{ model: m1!, cloth: c1!, cloth_type: 'upper' }] },
      '?dry_run=true',
    );
    expect(cachedOnly.json<DryRunAnswer>()).toMatchObject({
      items: 1,
      credits: 0,
      cached: 1,
      eta: { seconds: 0 },
    });

    // Nothing recorded, queued or stored: the same Redis keys and files as before, no batch,
    // no job, and the idempotency key still free.
    expect(await everything()).toEqual(before.stored);
    expect(await batchIds()).toEqual(before.batches);
    expect(await jobs()).toEqual(before.jobs);
    const real = await submit(body);
    expect(real.statusCode).toBe(202);
    expect(await batchIds()).toEqual([real.json<BatchResponse>().id, ...before.batches]);
  });

  it('refuses what a real submit refuses, with the same errors', async () => {
    const bad = [
      { items: [{ model: 'ast_' + '0'.repeat(32), cloth: imageUrl('c'), cloth_type: 'upper' }] },
      { items: [{ model: imageUrl('m'), cloth: imageUrl('c'), cloth_type: 'combo' }] },
      { items: [{ model: imageUrl('m'), cloth: imageUrl('c'), cloth_type: 'upper', x: 1 }] },
      { items: [{ model: 'http://127.0.0.1/a.jpg', cloth: imageUrl('c'), cloth_type: 'upper' }] },
    ];
    for (const body of bad) {
      const dry = await submit(body, '?dry_run=true');
      const real = await submit(body);
      expect(dry.statusCode).toBeGreaterThanOrEqual(400);
      expect(dry.statusCode).toBeLessThan(500);
      expect([dry.statusCode, dry.json()]).toEqual([real.statusCode, real.json()]);
    }
  });

  it('dry_run must be a boolean; false submits for real', async () => {
    const body = { items: [{ model: imageUrl('m'), cloth: imageUrl('c'), cloth_type: 'upper' }] };
    const wrong = await submit(body, '?dry_run=maybe');
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json<{ error: { code: string } }>().error.code).toBe('validation_error');
    expect((await submit(body, '?dry_run=false')).statusCode).toBe(202);
  });
});

describe('OpenAPI', () => {
  it('documents eta on the batch answers, the dry run answer and both results files', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, Record<string, { parameters?: { name: string }[] }>>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    }>();
    expect(Object.keys(doc.components.schemas.BatchResponse!.properties)).toContain('eta');
    expect(Object.keys(doc.components.schemas.DryRunAnswer!.properties).sort()).toEqual(
      ['cached', 'credits', 'dry_run', 'eta', 'items'].sort(),
    );
    expect(doc.paths['/v1/batches']!.post!.parameters?.map((p) => p.name)).toContain('dry_run');
    expect(doc.paths['/v1/batches/{id}/results.csv']).toBeDefined();
    expect(doc.paths['/v1/batches/{id}/results.jsonl']).toBeDefined();
  });
});
