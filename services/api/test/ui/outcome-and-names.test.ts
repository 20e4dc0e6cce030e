import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, Item, ItemsPage } from '@tryon/domain';
import { elapsedMs, formatElapsed } from '../../src/ui/view-parts.js';
import { buildTestApp, imageUrl, type TestApp } from '../helper.js';

/**
 * The dashboard's view of outcome and names (through app.inject, in open dev mode): the badge
 * says how a finished batch went, names stand beside ids and find batches, Cancel is offered
 * only while something can be cancelled.
 */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ storage: 'fs', env: { API_TOKENS: '', ADMIN_TOKEN: '' } });
});
afterAll(() => t.close());

const tag = Math.random().toString(36).slice(2, 8);

async function submitted(n: number, name?: string): Promise<Batch> {
  const prefix = `${tag}-${Math.random().toString(36).slice(2, 8)}`;
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/batches',
    payload: {
      items: Array.from({ length: n }, (_, i) => ({
        model: imageUrl(`${prefix}-m${i}`),
        cloth: imageUrl(`${prefix}-c${i}`),
        cloth_type: 'upper',
      })),
      ...(name && { name }),
    },
  });
  expect(res.statusCode).toBe(202);
  return res.json<Batch>();
}

async function items(batchId: string): Promise<Item[]> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/batches/${batchId}/items` });
  return res.json<ItemsPage>().items;
}

async function run(batch: Batch, ends: ('completed' | 'failed' | 'running')[]) {
  const list = await items(batch.id);
  for (const [i, end] of ends.entries()) {
    await t.records.transition(list[i]!, ['queued'], 'running');
    if (end === 'running') continue;
    await t.records.transition(list[i]!, ['running'], end, { completed_at: Date.now() });
  }
}

const page = async (url: string) => {
  const res = await t.app.inject({ method: 'GET', url });
  expect(res.statusCode).toBe(200);
  return res.body;
};

/** The batch badge's class and text in a piece of HTML. */
function badgeOf(html: string): { cls: string; text: string } | null {
  const match = /<span\s+class="badge (st-[a-z]+)"\s+data-field="batch-status"[^>]*>([a-z]+)</.exec(
    html,
  );
  return match ? { cls: match[1]!, text: match[2]! } : null;
}

function rowOf(html: string, batchId: string): string {
  const start = html.indexOf(`data-batch="${batchId}"`);
  expect(start).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</tr>', start));
}

describe('outcome on the dashboard', () => {
  it('shows a batch whose every item failed as failed (red), not completed', async () => {
    const batch = await submitted(2);
    await run(batch, ['failed', 'failed']);
    const list = await page('/ui?partial=rows');
    expect(badgeOf(rowOf(list, batch.id))).toEqual({ cls: 'st-failed', text: 'failed' });
    const detail = await page(`/ui/batches/${batch.id}`);
    const h1 = detail.slice(detail.indexOf('<h1'), detail.indexOf('</h1>'));
    expect(badgeOf(h1)).toEqual({ cls: 'st-failed', text: 'failed' });
    expect(h1).toContain('title="status: completed"');
  });

  it('shows partial in amber and succeeded in green, and the status while open', async () => {
    const partial = await submitted(2);
    await run(partial, ['completed', 'failed']);
    const good = await submitted(1);
    await run(good, ['completed']);
    const open = await submitted(2);
    await run(open, ['running']);
    const list = await page('/ui?partial=rows');
    expect(badgeOf(rowOf(list, partial.id))).toEqual({ cls: 'st-partial', text: 'partial' });
    expect(badgeOf(rowOf(list, good.id))).toEqual({ cls: 'st-succeeded', text: 'succeeded' });
    expect(badgeOf(rowOf(list, open.id))).toEqual({ cls: 'st-running', text: 'running' });
    const css = await page('/ui/assets/app.css');
    expect(css).toMatch(/\.st-partial\s*\{[^}]*background/);
    expect(css).toMatch(/\.st-succeeded\s*\{[^}]*background/);
  });
});

describe('names on the dashboard', () => {
  it('shows the name beside the id in the list and on the batch page', async () => {
    const batch = await submitted(1, `SS27 shirts ${tag}`);
    const row = rowOf(await page('/ui?partial=rows'), batch.id);
    expect(row).toContain(`SS27 shirts ${tag}`);
    expect(row).toContain(batch.id);
    const detail = await page(`/ui/batches/${batch.id}`);
    expect(detail).toContain(`<title>Batch SS27 shirts ${tag}`);
    expect(detail.slice(detail.indexOf('<h1'), detail.indexOf('</h1>'))).toContain(
      `SS27 shirts ${tag}`,
    );
  });

  it('finds batches by name from the search box, and keeps the query when refreshing', async () => {
    const denim = await submitted(1, `FW26 denim ${tag}`);
    const shirts = await submitted(1, `SS27 shirts two ${tag}`);
    const found = await page(`/ui?q=${encodeURIComponent(`denim ${tag}`)}`);
    expect(found).toContain(`data-batch="${denim.id}"`);
    expect(found).not.toContain(`data-batch="${shirts.id}"`);
    expect(found).toContain(`value="denim ${tag}"`);
    expect(found).toContain(`data-refresh="/ui?partial=rows&amp;q=denim+${tag}"`);
    const none = await page(`/ui?q=nothing-called-this-${tag}`);
    expect(none).toContain('No batch name or id contains');
    const tooLong = await t.app.inject({ method: 'GET', url: `/ui?q=${'x'.repeat(201)}` });
    expect(tooLong.statusCode).toBe(400);
  });
});

describe('Cancel and time taken', () => {
  const cancelForm = (html: string) => {
    const start = html.indexOf('data-action="cancel"');
    return html.slice(html.lastIndexOf('<form', start), html.indexOf('>', start) + 1);
  };

  it('offers Cancel while items are queued, and not once every open item is running', async () => {
    const batch = await submitted(2);
    await run(batch, ['running']);
    expect(cancelForm(await page(`/ui/batches/${batch.id}`))).not.toMatch(/\bhidden\b/);
    const [, second] = await items(batch.id);
    await t.records.transition(second!, ['queued'], 'running');
    const html = await page(`/ui/batches/${batch.id}`);
    expect(cancelForm(html)).toMatch(/\bhidden\b/);
  });

  it('counts time taken from the latest retry, not from creation', () => {
    const created = Date.parse('2026-11-26T10:00:00.000Z');
    const batch = {
      created_at: new Date(created).toISOString(),
      retried_at: new Date(created + 3_600_000).toISOString(),
      completed_at: new Date(created + 3_600_000 + 42_000).toISOString(),
    };
    expect(formatElapsed(elapsedMs(batch))).toBe('42 s');
    expect(formatElapsed(elapsedMs({ ...batch, retried_at: null }))).toBe('1 h 0 min');
  });

  it('shows the retry and the time taken on the batch page', async () => {
    const batch = await submitted(1);
    await run(batch, ['failed']);
    await t.app.inject({
      method: 'POST',
      url: `/ui/batches/${batch.id}/retry`,
      headers: { origin: 'http://api.test' },
    });
    const [item] = await items(batch.id);
    await t.records.transition(item!, ['queued'], 'running');
    await t.records.transition(item!, ['running'], 'completed', { completed_at: Date.now() });
    const html = await page(`/ui/batches/${batch.id}`);
    expect(html).toContain(' · retried <time');
    expect(html).toMatch(/took <span data-field="elapsed">\d+ s<\/span>/);
    expect(badgeOf(html.slice(html.indexOf('<h1')))).toEqual({
      cls: 'st-succeeded',
      text: 'succeeded',
    });
  });
});
