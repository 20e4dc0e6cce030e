import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { InvalidCursorError, Records, type NewItem } from '../src/index.js';

let redis: Redis;
let records: Records;
beforeAll(() => {
  redis = new Redis(testRedisUrl());
  records = new Records(redis, uniqueId('records'));
});
afterAll(() => redis.disconnect());

function items(n: number): NewItem[] {
  return Array.from({ length: n }, (_, i) => ({
    model: `https://img.example/model-${i}.jpg`,
    cloth: `https://img.example/cloth-${i}.jpg`,
    cloth_type: 'upper' as const,
    external_id: `sku-${i}`,
  }));
}

describe('Records', () => {
  it('records a batch with its items and counts them', async () => {
    const { batch, created } = await records.createBatch({
      tenantId: 'acme',
      items: items(3),
      webhookUrl: 'https://hooks.example/acme',
      metadata: { season: 'fw26' },
    });
    expect(created).toBe(true);
    expect(batch).toMatchObject({
      status: 'queued',
      tenant_id: 'acme',
      counts: { total: 3, queued: 3, running: 0, completed: 0, failed: 0, cancelled: 0 },
      progress: 0,
      webhook_url: 'https://hooks.example/acme',
      metadata: { season: 'fw26' },
      completed_at: null,
      enqueued: false,
    });
    const ids = await records.itemIds(batch.id);
    expect(ids).toHaveLength(3);
    const item = await records.getItem(ids[0]!);
    expect(item).toMatchObject({
      batch_id: batch.id,
      status: 'queued',
      external_id: 'sku-0',
      run: 0,
    });
  });

  it('scopes batches and items to their tenant', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(1) });
    const [itemId] = await records.itemIds(batch.id);
    expect(await records.getBatch(batch.id, 'globex')).toBeNull();
    expect(await records.getItem(itemId!, 'globex')).toBeNull();
    expect(await records.getBatch(batch.id, 'acme')).not.toBeNull();
    expect((await records.listBatches('acme')).map((b) => b.id)).toContain(batch.id);
    expect((await records.listBatches('globex')).map((b) => b.id)).not.toContain(batch.id);
  });

  it('answers the same batch for a repeated idempotency key, per tenant', async () => {
    const key = uniqueId('idem');
    const first = await records.createBatch({
      tenantId: 'acme',
      items: items(2),
      idempotencyKey: key,
    });
    const again = await records.createBatch({
      tenantId: 'acme',
      items: items(5),
      idempotencyKey: key,
    });
    const other = await records.createBatch({
      tenantId: 'globex',
      items: items(1),
      idempotencyKey: key,
    });
    expect(again.created).toBe(false);
    expect(again.batch.id).toBe(first.batch.id);
    expect(again.batch.counts.total).toBe(2);
    expect(other.created).toBe(true);
    expect(other.batch.id).not.toBe(first.batch.id);
  });

  it('answers one batch to concurrent requests with the same idempotency key', async () => {
    const key = uniqueId('idem');
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        records.createBatch({ tenantId: 'acme', items: items(300), idempotencyKey: key }),
      ),
    );
    expect(new Set(results.map((r) => r.batch.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('keeps counts exact and finishes the batch exactly once under concurrent workers', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(200) });
    const ids = await records.itemIds(batch.id);
    // Twenty connections, as twenty worker processes would have.
    const workers = Array.from(
      { length: 20 },
      () => new Records(new Redis(testRedisUrl()), records.prefix),
    );
    let finishedSignals = 0;
    try {
      await Promise.all(
        ids.map(async (id, i) => {
          const mine = workers[i % workers.length]!;
          const item = { id, batch_id: batch.id };
          // Each item is started twice (a duplicate delivery) but only changes once.
          const [a, b] = await Promise.all([
            mine.transition(item, ['queued'], 'running'),
            mine.transition(item, ['queued'], 'running'),
          ]);
          expect(Number(a.changed) + Number(b.changed)).toBe(1);
          const end = i % 10 === 0 ? 'failed' : 'completed';
          const done = await mine.transition(item, ['running'], end, {
            error: end === 'failed' ? { code: 'fitroom_bad_request', message: 'no person' } : null,
            completed_at: Date.now(),
          });
          if (done.batchFinished) finishedSignals++;
        }),
      );
    } finally {
      for (const w of workers) w.redis.disconnect();
    }
    expect(finishedSignals).toBe(1);
    const after = await records.getBatch(batch.id);
    expect(after).toMatchObject({
      status: 'completed',
      counts: { total: 200, queued: 0, running: 0, completed: 180, failed: 20, cancelled: 0 },
      progress: 1,
      completion_seq: 1,
    });
    expect(after?.completed_at).not.toBeNull();
  });

  it('pages through items in order with an opaque cursor and a status filter', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(20) });
    const ids = await records.itemIds(batch.id);
    for (const id of ids.filter((_, i) => i % 2 === 0)) {
      await records.transition({ id, batch_id: batch.id }, ['queued'], 'running');
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await records.listItems(batch.id, { limit: 7, cursor });
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(ids);

    const running = await records.listItems(batch.id, { status: 'running', limit: 100 });
    expect(running.items.map((i) => i.id)).toEqual(ids.filter((_, i) => i % 2 === 0));
    expect(running.nextCursor).toBeNull();
    await expect(records.listItems(batch.id, { limit: 5, cursor: 'not-a-cursor' })).rejects.toThrow(
      InvalidCursorError,
    );
  });

  it('cancels what has not started and finishes as cancelled when the rest ends', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(4) });
    const ids = await records.itemIds(batch.id);
    const started = { id: ids[0]!, batch_id: batch.id };
    await records.transition(started, ['queued'], 'running');
    const cancel = await records.cancelBatch(batch.id);
    expect(cancel.cancelled.sort()).toEqual(ids.slice(1).sort());
    expect(cancel.batchFinished).toBe(false);
    expect(await records.getBatch(batch.id)).toMatchObject({
      status: 'cancelled',
      counts: { running: 1, cancelled: 3 },
      completed_at: null,
    });
    const last = await records.transition(started, ['running'], 'completed');
    expect(last.batchFinished).toBe(true);
    expect(await records.getBatch(batch.id)).toMatchObject({
      status: 'cancelled',
      counts: { completed: 1 },
    });
  });

  it('cancelling a batch with nothing left to cancel never marks it cancelled', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(2) });
    const [a, b] = (await records.itemIds(batch.id)).map((id) => ({ id, batch_id: batch.id }));
    await records.transition(a!, ['queued'], 'running');
    await records.transition(b!, ['queued'], 'running');
    // Every item has started: nothing to cancel, the batch runs on and completes.
    expect((await records.cancelBatch(batch.id)).cancelled).toEqual([]);
    expect(await records.getBatch(batch.id)).toMatchObject({ status: 'running' });
    await records.transition(a!, ['running'], 'completed');
    await records.transition(b!, ['running'], 'completed');
    expect(await records.getBatch(batch.id)).toMatchObject({ status: 'completed' });
    // A cancel that lost the race with the last completion changes nothing either.
    const late = await records.cancelBatch(batch.id);
    expect([late.cancelled, late.batchFinished]).toEqual([[], false]);
    expect(await records.getBatch(batch.id)).toMatchObject({
      status: 'completed',
      counts: { completed: 2, cancelled: 0 },
    });
  });

  it('a write for a run the item has left changes nothing', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(1) });
    const [id] = await records.itemIds(batch.id);
    const first = (await records.getItem(id!))!;
    await records.transition(first, ['queued'], 'running');
    await records.transition(first, ['running'], 'failed', {}, { run: first.run });
    await records.retryBatch(batch.id);
    // The first run's job wakes up after the retry: its writes are fenced off by the run.
    const late = await records.transition(
      first,
      ['queued', 'running'],
      'completed',
      { completed_at: Date.now() },
      { run: first.run },
    );
    expect([late.changed, late.stale]).toEqual([false, true]);
    expect(await records.updateItemOfRun(first, { fitroom_task_id: 'stale-task' })).toBe(false);
    expect(await records.getItem(id!)).toMatchObject({
      status: 'queued',
      run: 1,
      fitroom_task_id: null,
    });
    expect(await records.updateItemOfRun({ id: id!, run: 1 }, { fitroom_task_id: 't' })).toBe(true);
    expect((await records.getItem(id!))!.fitroom_task_id).toBe('t');
  });

  it('retries failed items: they queue again with a new run and the batch finishes again', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(2) });
    const ids = await records.itemIds(batch.id);
    const [ok, bad] = ids.map((id) => ({ id, batch_id: batch.id }));
    await records.transition(ok!, ['queued'], 'running');
    await records.transition(ok!, ['running'], 'completed');
    await records.transition(bad!, ['queued'], 'running');
    const first = await records.transition(bad!, ['running'], 'failed', {
      error: { code: 'fitroom_task_failed', message: 'Failed to process try-on task' },
    });
    expect([first.batchFinished, first.completionSeq]).toEqual([true, 1]);

    const { requeued } = await records.retryBatch(batch.id);
    expect(requeued).toEqual([bad!.id]);
    expect(await records.getItem(bad!.id)).toMatchObject({ status: 'queued', run: 1, error: null });
    expect(await records.getBatch(batch.id)).toMatchObject({
      status: 'running',
      completed_at: null,
    });

    await records.transition(bad!, ['queued'], 'running');
    const second = await records.transition(bad!, ['running'], 'completed');
    expect([second.batchFinished, second.completionSeq]).toEqual([true, 2]);
  });
});
