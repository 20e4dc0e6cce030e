import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, BatchResponse, Item, ItemsPage } from '@tryon/domain';
import { auth, buildTestApp, imageUrl, TOKENS, type TestApp } from './helper.js';

/** Batches' `outcome` (at a glance: did it work?), `name` and the search by name. */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ storage: 'fs' });
});
afterAll(() => t.close());

const acme = auth(TOKENS.acme);

async function submit(body: Record<string, unknown>, headers = acme) {
  return t.app.inject({ method: 'POST', url: '/v1/batches', headers, payload: body });
}

async function submitted(n: number, extra: Record<string, unknown> = {}): Promise<Batch> {
  const prefix = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const res = await submit({
    items: Array.from({ length: n }, (_, i) => ({
      model: imageUrl(`${prefix}-m${i}`),
      cloth: imageUrl(`${prefix}-c${i}`),
      cloth_type: 'upper',
    })),
    ...extra,
  });
  expect(res.statusCode).toBe(202);
  return res.json<Batch>();
}

async function items(batchId: string): Promise<Item[]> {
  const res = await t.app.inject({
    method: 'GET',
    url: `/v1/batches/${batchId}/items`,
    headers: acme,
  });
  return res.json<ItemsPage>().items;
}

async function read(batchId: string): Promise<BatchResponse> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/batches/${batchId}`, headers: acme });
  expect(res.statusCode).toBe(200);
  return res.json<BatchResponse>();
}

/** Runs an item to the end a worker would give it, through the real records scripts. */
async function finish(item: Item, to: 'completed' | 'failed') {
  await t.records.transition(item, ['queued'], 'running');
  await t.records.transition(item, ['running'], to, {
    completed_at: Date.now(),
    ...(to === 'failed' && { error: { code: 'fitroom_error', message: 'pose not supported' } }),
  });
}

async function finishAll(batch: Batch, ends: ('completed' | 'failed')[]) {
  const list = await items(batch.id);
  for (const [i, end] of ends.entries()) await finish(list[i]!, end);
}

describe('outcome', () => {
  it('is null while the batch is open, then succeeded when every item completed', async () => {
    const batch = await submitted(2);
    expect(batch).toMatchObject({ status: 'queued', outcome: null });
    const [first, second] = await items(batch.id);
    await finish(first!, 'completed');
    expect(await read(batch.id)).toMatchObject({ status: 'running', outcome: null });
    await finish(second!, 'completed');
    expect(await read(batch.id)).toMatchObject({ status: 'completed', outcome: 'succeeded' });
  });

  it('reads failed when every item failed, although the batch status is completed', async () => {
    const batch = await submitted(3);
    await finishAll(batch, ['failed', 'failed', 'failed']);
    const done = await read(batch.id);
    expect(done).toMatchObject({
      status: 'completed',
      outcome: 'failed',
      counts: { completed: 0, failed: 3 },
    });
    // The list answers the same.
    const list = await t.app.inject({ method: 'GET', url: '/v1/batches?limit=100', headers: acme });
    const listed = list.json<{ batches: Batch[] }>().batches.find((b) => b.id === batch.id);
    expect(listed?.outcome).toBe('failed');
  });

  it('reads partial when some items completed and some failed', async () => {
    const batch = await submitted(3);
    await finishAll(batch, ['completed', 'failed', 'completed']);
    expect(await read(batch.id)).toMatchObject({ status: 'completed', outcome: 'partial' });
  });

  it('reads cancelled for a cancelled batch, and carries the outcome in batch.completed', async () => {
    const batch = await submitted(2, { webhook_url: 'https://93.184.216.34/hook' });
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/cancel`,
      headers: acme,
    });
    expect(res.json<Batch>()).toMatchObject({ status: 'cancelled', outcome: 'cancelled' });
    const jobs = await t.webhookQueue.getJobs(['waiting', 'delayed', 'prioritized']);
    const job = jobs.find((j) => j.data.batchId === batch.id);
    expect(JSON.parse(job!.data.body)).toMatchObject({
      type: 'batch.completed',
      data: { id: batch.id, status: 'cancelled', outcome: 'cancelled' },
    });
  });

  it('is null again after a retry, and retried_at says when the retry began', async () => {
    const batch = await submitted(2);
    expect(batch.retried_at).toBeNull();
    await finishAll(batch, ['completed', 'failed']);
    expect(await read(batch.id)).toMatchObject({ outcome: 'partial', retried_at: null });
    const before = Date.now();
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/retry`,
      headers: acme,
    });
    const retried = res.json<Batch>();
    expect(retried).toMatchObject({ status: 'running', outcome: null, completed_at: null });
    expect(Date.parse(retried.retried_at!)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(retried.retried_at!)).toBeGreaterThanOrEqual(Date.parse(batch.created_at));
  });

  it('is in the OpenAPI document with its four values, as name and retried_at are', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    const doc = res.json<{ components: { schemas: Record<string, { properties: object }> } }>();
    const batch = JSON.stringify(doc.components.schemas.BatchResponse!.properties);
    for (const word of [
      'outcome',
      'succeeded',
      'partial',
      'failed',
      'cancelled',
      'name',
      'retried_at',
    ]) {
      expect(batch).toContain(word);
    }
  });
});

describe('name', () => {
  it('is stored from the submit body and answered everywhere the batch is', async () => {
    const batch = await submitted(1, { name: 'SS27 shirts' });
    expect(batch.name).toBe('SS27 shirts');
    expect((await read(batch.id)).name).toBe('SS27 shirts');
    const unnamed = await submitted(1);
    expect(unnamed.name).toBeNull();
  });

  it('is refused with 400 beyond 200 characters, and when empty', async () => {
    const item = { model: imageUrl('n-m'), cloth: imageUrl('n-c'), cloth_type: 'upper' };
    for (const name of ['x'.repeat(201), '']) {
      const res = await submit({ items: [item], name });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        error: { code: 'validation_error', message: expect.stringContaining('name') as string },
      });
    }
    const longest = await submit({ items: [item], name: 'y'.repeat(200) });
    expect(longest.statusCode).toBe(202);
  });

  it('finds batches by a part of their name or id, ignoring case, newest first', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const denim = await submitted(1, { name: `FW26 denim ${tag}` });
    const shirts = await submitted(1, { name: `SS27 Shirts ${tag}` });
    const moreShirts = await submitted(1, { name: `ss27 shirts reshoot ${tag}` });
    const find = async (q: string, token: string = TOKENS.acme) => {
      const res = await t.app.inject({
        method: 'GET',
        url: `/v1/batches?q=${encodeURIComponent(q)}`,
        headers: auth(token),
      });
      expect(res.statusCode).toBe(200);
      return res.json<{ batches: Batch[] }>().batches.map((b) => b.id);
    };
    expect(await find(`ss27 SHIRTS ${tag}`)).toEqual([shirts.id]);
    expect(await find(`shirts`)).toEqual(expect.arrayContaining([moreShirts.id, shirts.id]));
    const both = await find(tag);
    expect(both).toEqual([moreShirts.id, shirts.id, denim.id]);
    expect(await find(denim.id.slice(4))).toEqual([denim.id]);
    // Another tenant finds none of them.
    expect(await find(tag, TOKENS.globex)).toEqual([]);
    const tooLong = await t.app.inject({
      method: 'GET',
      url: `/v1/batches?q=${'q'.repeat(201)}`,
      headers: acme,
    });
    expect(tooLong.statusCode).toBe(400);
  });
});
