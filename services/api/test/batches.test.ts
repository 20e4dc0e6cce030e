import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, BatchResponse, Item, ItemsPage } from '@tryon/domain';
import { tryonJobId } from '@tryon/queues';
import { Admission } from '@tryon/scheduling';
import { makeImage } from '@tryon/testing';
import { auth, buildTestApp, imageUrl, TOKENS, uploadImages, type TestApp } from './helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

const acme = auth(TOKENS.acme);

async function submit(body: unknown, headers: Record<string, string> = acme) {
  return t.app.inject({ method: 'POST', url: '/v1/batches', headers, payload: body as object });
}

async function allItems(batchId: string, query = ''): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | null = null;
  do {
    const res: LightMyRequestResponse = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batchId}/items?limit=7${query}${cursor ? `&cursor=${cursor}` : ''}`,
      headers: acme,
    });
    expect(res.statusCode).toBe(200);
    const page: ItemsPage = res.json<ItemsPage>();
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return items;
}

function urlItems(n: number, prefix: string) {
  return Array.from({ length: n }, (_, i) => ({
    model: imageUrl(`${prefix}-model-${i}`),
    cloth: imageUrl(`${prefix}-cloth-${i}`),
    cloth_type: 'upper',
    external_id: `${prefix}-${i}`,
  }));
}

/** Moves an item through the states a worker would, with the real records API. */
async function advance(item: Item, to: 'running' | 'completed' | 'failed') {
  const ref = { id: item.id, batch_id: item.batch_id };
  if (to === 'running') return t.records.transition(ref, ['queued'], 'running');
  if (to === 'failed') {
    return t.records.transition(ref, ['running'], 'failed', {
      error: { code: 'fitroom_error', message: 'pose not supported' },
      completed_at: Date.now(),
    });
  }
  return t.records.transition(ref, ['running'], 'completed', { completed_at: Date.now() });
}

describe('POST /v1/batches', () => {
  it('accepts items with asset ids and URLs and queues one job per item', async () => {
    const [model, cloth, lower] = await uploadImages(t, 3, 1);
    const res = await submit({
      items: [
        { model, cloth, cloth_type: 'upper', external_id: 'sku-1', metadata: { row: 1 } },
        {
          model: imageUrl('m'),
          cloth: imageUrl('c'),
          lower_cloth: lower,
          cloth_type: 'combo',
          hd_mode: true,
        },
      ],
      metadata: { season: 'fw26' },
      webhook_url: 'https://93.184.216.34/hooks/tryon',
    });
    expect(res.statusCode).toBe(202);
    const batch = res.json<Batch>();
    expect(batch).toMatchObject({
      status: 'queued',
      counts: { total: 2, queued: 2, running: 0, completed: 0, failed: 0, cancelled: 0 },
      progress: 0,
      metadata: { season: 'fw26' },
      webhook_url: 'https://93.184.216.34/hooks/tryon',
      completed_at: null,
    });
    expect(batch.id).toMatch(/^bat_/);
    expect(Object.keys(batch)).not.toContain('tenant_id');

    const items = await allItems(batch.id);
    expect(items.map((i) => [i.model, i.cloth, i.lower_cloth, i.cloth_type, i.hd_mode])).toEqual([
      [model, cloth, null, 'upper', false],
      [imageUrl('m'), imageUrl('c'), lower, 'combo', true],
    ]);
    expect(items[0]).toMatchObject({
      external_id: 'sku-1',
      metadata: { row: 1 },
      status: 'queued',
    });
    for (const item of items) {
      await t.app.settle();
      const job = await t.tryonQueue.getJob(tryonJobId(item.id, 0));
      expect(job?.data).toEqual({
        itemId: item.id,
        batchId: batch.id,
        tenantId: 'acme',
        step: 'prepare',
      });
    }
    expect((await t.records.getBatch(batch.id))?.enqueued).toBe(true);
  });

  it('expands a 5 x 10 matrix with a combo pair and hd_mode into 50 queued items', async () => {
    const assets = await uploadImages(t, 8, 2);
    const models = [assets[0]!, assets[1]!, imageUrl('model-a'), imageUrl('model-b'), assets[2]!];
    const types = ['upper', 'lower', 'full_set'] as const;
    const garments = Array.from({ length: 9 }, (_, i) => ({
      cloth: i < 4 ? assets[3 + i]! : imageUrl(`garment-${i}`),
      cloth_type: types[i % 3]!,
      external_id: `g-${i}`,
    }));
    const combo = {
      cloth: imageUrl('combo-top'),
      lower_cloth: assets[7]!,
      cloth_type: 'combo',
      external_id: 'g-combo',
    };
    const res = await submit({ matrix: { models, garments: [...garments, combo], hd_mode: true } });
    expect(res.statusCode).toBe(202);
    const batch = res.json<Batch>();
    expect(batch.counts).toMatchObject({ total: 50, queued: 50 });

    const items = await allItems(batch.id);
    expect(items).toHaveLength(50);
    const pairs = items.map((i) => `${i.model}|${i.cloth}|${i.lower_cloth}|${i.cloth_type}`);
    const expected = models.flatMap((m) =>
      [...garments, combo].map(
        (g) => `${m}|${g.cloth}|${'lower_cloth' in g ? g.lower_cloth : null}|${g.cloth_type}`,
      ),
    );
    expect(pairs).toEqual(expected);
    expect(items.every((i) => i.hd_mode)).toBe(true);
    expect(items.filter((i) => i.cloth_type === 'combo')).toHaveLength(5);
    expect(
      items.filter((i) => i.external_id === 'g-combo').every((i) => i.lower_cloth === assets[7]),
    ).toBe(true);

    await t.app.settle();
    const jobs = await Promise.all(items.map((i) => t.tryonQueue.getJob(tryonJobId(i.id, 0))));
    expect(jobs.map((j) => j?.data.itemId)).toEqual(items.map((i) => i.id));
    expect(new Set(jobs.map((j) => j?.data.batchId))).toEqual(new Set([batch.id]));
  });

  it('records fresh_renders, input_checks and priority, off and 0 by default', async () => {
    const [model, cloth] = await uploadImages(t, 2, 77);
    const item = { model, cloth, cloth_type: 'upper' };
    const plain = await submit({ items: [item] });
    expect(plain.json<Batch>()).toMatchObject({
      fresh_renders: false,
      input_checks: false,
      priority: 0,
    });
    const asked = await submit({
      items: [item],
      fresh_renders: true,
      input_checks: true,
      priority: 7,
    });
    expect(asked.statusCode).toBe(202);
    const read = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${asked.json<Batch>().id}`,
      headers: acme,
    });
    expect(read.json<Batch>()).toMatchObject({
      fresh_renders: true,
      input_checks: true,
      priority: 7,
    });
  });

  it('answers the same batch for a repeated idempotency_key without queueing twice', async () => {
    const body = { items: urlItems(3, 'idem'), idempotency_key: 'order-42' };
    const first = await submit(body);
    expect(first.statusCode).toBe(202);
    const again = await submit(body);
    expect(again.statusCode).toBe(200);
    // The same batch; its eta is estimated afresh for each answer.
    const { eta: _again, ...answered } = again.json<BatchResponse>();
    const { eta: _first, ...made } = first.json<BatchResponse>();
    expect(answered).toEqual(made);
    const batches = await t.app.inject({ method: 'GET', url: '/v1/batches', headers: acme });
    const ids = batches.json<{ batches: Batch[] }>().batches.map((b) => b.id);
    expect(ids.filter((id) => id === first.json<Batch>().id)).toHaveLength(1);
    // The same key is another tenant's own.
    const globex = await submit(body, auth(TOKENS.globex));
    expect(globex.statusCode).toBe(202);
    expect(globex.json<Batch>().id).not.toBe(first.json<Batch>().id);
  });

  it('queues the jobs of a batch whose first request died before enqueueing them', async () => {
    // The first request recorded the batch and crashed before addBulk.
    const { batch } = await t.records.createBatch({
      tenantId: 'acme',
      items: urlItems(4, 'crash').map((i) => ({ ...i, cloth_type: 'upper' as const })),
      idempotencyKey: 'crashed-once',
    });
    expect(batch.enqueued).toBe(false);
    const ids = await t.records.itemIds(batch.id);
    await t.app.settle();
    expect(await t.tryonQueue.getJob(tryonJobId(ids[0]!, 0))).toBeUndefined();

    const res = await submit({ items: urlItems(4, 'crash'), idempotency_key: 'crashed-once' });
    expect(res.statusCode).toBe(200);
    expect(res.json<Batch>().id).toBe(batch.id);
    for (const id of ids) expect(await t.tryonQueue.getJob(tryonJobId(id, 0))).toBeDefined();
    expect((await t.records.getBatch(batch.id))?.enqueued).toBe(true);
  });
});

describe('reading batches and items', () => {
  it('walks every item through the pages and filters by status', async () => {
    const res = await submit({ items: urlItems(25, 'pages') });
    const batch = res.json<Batch>();
    const items = await allItems(batch.id);
    expect(items.map((i) => i.external_id)).toEqual(
      Array.from({ length: 25 }, (_, i) => `pages-${i}`),
    );
    for (const item of items.slice(3, 12)) await advance(item, 'running');
    for (const item of items.slice(3, 8)) await advance(item, 'completed');
    const completed = await allItems(batch.id, '&status=completed');
    expect(completed.map((i) => i.id)).toEqual(items.slice(3, 8).map((i) => i.id));
    expect(await allItems(batch.id, '&status=running')).toHaveLength(4);
    expect(await allItems(batch.id, '&status=queued')).toHaveLength(16);

    const read = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}`,
      headers: acme,
    });
    expect(read.json<Batch>()).toMatchObject({
      status: 'running',
      counts: { total: 25, queued: 16, running: 4, completed: 5 },
      progress: 5 / 25,
    });
    const list = await t.app.inject({ method: 'GET', url: '/v1/batches?limit=2', headers: acme });
    expect(list.json<{ batches: Batch[] }>().batches[0]?.id).toBe(batch.id);
  });

  it('serves an item and, once completed, its stored result', async () => {
    const batch = (await submit({ items: urlItems(1, 'result') })).json<Batch>();
    const [item] = await allItems(batch.id);
    const notReady = await t.app.inject({
      method: 'GET',
      url: `/v1/items/${item!.id}/result`,
      headers: acme,
    });
    expect(notReady.statusCode).toBe(404);
    expect(notReady.json()).toMatchObject({ error: { code: 'result_not_ready' } });

    const image = await makeImage({ width: 8, height: 8, format: 'png' });
    const key = `results/${batch.id}/${item!.id}.png`;
    const stored = await t.storage.put(key, image, { contentType: 'image/png' });
    await advance(item!, 'running');
    await t.records.transition({ id: item!.id, batch_id: batch.id }, ['running'], 'completed', {
      result: { key, bytes: stored.bytes, sha256: stored.sha256, content_type: 'image/png' },
      completed_at: Date.now(),
    });

    const read = await t.app.inject({ method: 'GET', url: `/v1/items/${item!.id}`, headers: acme });
    expect(read.statusCode).toBe(200);
    expect(read.json<Item>()).toMatchObject({
      id: item!.id,
      batch_id: batch.id,
      status: 'completed',
      result: {
        key,
        bytes: image.length,
        sha256: stored.sha256,
        content_type: 'image/png',
        url: `http://api.test/v1/items/${item!.id}/result`,
      },
    });
    const result = await t.app.inject({
      method: 'GET',
      url: `/v1/items/${item!.id}/result`,
      headers: acme,
    });
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toBe('image/png');
    expect(result.rawPayload.equals(image)).toBe(true);
    const done = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}`,
      headers: acme,
    });
    expect(done.json<Batch>()).toMatchObject({ status: 'completed', progress: 1 });
    expect(done.json<Batch>().completed_at).not.toBeNull();
  });
});

describe('cancel and retry', () => {
  it('cancels what has not started and removes its queued jobs', async () => {
    const batch = (await submit({ items: urlItems(4, 'cancel') })).json<Batch>();
    const items = await allItems(batch.id);
    await advance(items[0]!, 'running');
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/cancel`,
      headers: acme,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json<Batch>()).toMatchObject({
      status: 'cancelled',
      counts: { total: 4, queued: 0, running: 1, cancelled: 3 },
      completed_at: null,
    });
    await t.app.settle();
    expect(await t.tryonQueue.getJob(tryonJobId(items[0]!.id, 0))).toBeDefined();
    for (const item of items.slice(1)) {
      expect(await t.tryonQueue.getJob(tryonJobId(item.id, 0))).toBeUndefined();
    }
    expect((await allItems(batch.id, '&status=cancelled')).map((i) => i.id)).toEqual(
      items.slice(1).map((i) => i.id),
    );
    // Cancelling again changes nothing.
    const again = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/cancel`,
      headers: { ...acme, 'content-type': 'application/json' },
    });
    expect(again.statusCode).toBe(200);
    expect(again.json<Batch>().counts).toEqual(res.json<Batch>().counts);
  });

  it('sends batch.completed when a cancel finishes a batch with a webhook_url', async () => {
    const batch = (
      await submit({ items: urlItems(2, 'cancel-hook'), webhook_url: 'https://93.184.216.34/hook' })
    ).json<Batch>();
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/cancel`,
      headers: acme,
    });
    expect(res.json<Batch>()).toMatchObject({ status: 'cancelled', counts: { cancelled: 2 } });
    expect(res.json<Batch>().completed_at).not.toBeNull();
    const jobs = await t.webhookQueue.getJobs(['waiting', 'delayed', 'prioritized']);
    const job = jobs.find((j) => j.data.batchId === batch.id);
    expect(job?.data).toMatchObject({ tenantId: 'acme', url: 'https://93.184.216.34/hook' });
    expect(JSON.parse(job!.data.body)).toMatchObject({
      type: 'batch.completed',
      data: { id: batch.id, status: 'cancelled', counts: { cancelled: 2 } },
    });
  });

  it('retries failed items under new job ids', async () => {
    const batch = (await submit({ items: urlItems(3, 'retry') })).json<Batch>();
    const items = await allItems(batch.id);
    for (const item of items) await advance(item, 'running');
    await advance(items[0]!, 'failed');
    await advance(items[1]!, 'completed');
    await advance(items[2]!, 'failed');
    const finished = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}`,
      headers: acme,
    });
    expect(finished.json<Batch>()).toMatchObject({ status: 'completed', counts: { failed: 2 } });

    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/retry`,
      headers: acme,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json<Batch>()).toMatchObject({
      status: 'running',
      counts: { queued: 2, completed: 1, failed: 0 },
      completed_at: null,
    });
    for (const item of [items[0]!, items[2]!]) {
      await t.app.settle();
      const job = await t.tryonQueue.getJob(tryonJobId(item.id, 1));
      expect(job?.data).toMatchObject({ itemId: item.id, step: 'prepare' });
      const read = await t.app.inject({
        method: 'GET',
        url: `/v1/items/${item.id}`,
        headers: acme,
      });
      expect(read.json<Item>()).toMatchObject({ status: 'queued', error: null });
    }
    expect(await t.tryonQueue.getJob(tryonJobId(items[1]!.id, 1))).toBeUndefined();
  });
});

describe('a 10,000-item batch', () => {
  let big: TestApp;
  beforeAll(async () => {
    big = await buildTestApp();
  });
  afterAll(() => big.close());

  it('is accepted with 202, every item has its job, asleep in the admission line', async () => {
    const res = await big.app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: acme,
      payload: { items: urlItems(10_000, 'big') },
    });
    expect(res.statusCode).toBe(202);
    const batch = res.json<Batch>();
    expect(batch.counts).toMatchObject({ total: 10_000, queued: 10_000 });
    // The jobs sleep until admitted (no worker work for waiting items), in submission order.
    await big.app.settle();
    const counts = await big.tryonQueue.getJobCounts('waiting', 'delayed');
    expect(counts).toEqual({ waiting: 0, delayed: 10_000 });
    const admission = new Admission(big.redis, big.config.prefix);
    const admitted = await admission.admit(
      [{ budgetKey: 'k', cap: 1 }],
      { normal: 0.1, hd: 0.1 },
      3,
    );
    const ids = await big.records.itemIds(batch.id);
    expect(ids).toHaveLength(10_000);
    for (const id of [ids[0]!, ids[4_999]!, ids[9_999]!]) {
      expect((await big.tryonQueue.getJob(tryonJobId(id, 0)))?.data.batchId).toBe(batch.id);
    }
    expect(admitted.map((a) => a.itemId)).toEqual(ids.slice(0, admitted.length));
    expect(admitted.length).toBeGreaterThan(0);
  });
});
