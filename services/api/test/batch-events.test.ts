import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, BatchResponse, Item } from '@tryon/domain';
import { batchEventsChannel, type NewItem } from '@tryon/records';
import { eventually } from '@tryon/testing';
import { auth, buildTestApp, imageUrl, TOKENS, type TestApp } from './helper.js';

/**
 * GET /v1/batches/:id/events over real HTTP (the app listening on a port) and real Redis
 * pub/sub; item changes are made with records.transition, as a worker makes them.
 */

let t: TestApp;
let base: string;
beforeAll(async () => {
  t = await buildTestApp({ storage: 'fs' });
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => t.close());

const STREAM_TIMEOUT_MS = 20_000;

interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** An open event stream: next() answers the next event, or null once the server ended it. */
interface Stream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  next(): Promise<SseEvent | null>;
  /** Every event up to and including `done` (or the end of the stream). */
  untilDone(): Promise<SseEvent[]>;
  close(): void;
}

async function openStream(
  batchId: string,
  token: string = TOKENS.acme,
  headers: Record<string, string> = {},
): Promise<Stream> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), STREAM_TIMEOUT_MS);
  const response = await request(`${base}/v1/batches/${batchId}/events`, {
    headers: { ...auth(token), accept: 'text/event-stream', ...headers },
    signal: controller.signal,
    headersTimeout: 5_000,
    bodyTimeout: STREAM_TIMEOUT_MS,
  });
  const chunks = response.body[Symbol.asyncIterator]();
  let buffer = '';
  const next = async (): Promise<SseEvent | null> => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { id: null, event: 'message', data: '' };
        let isComment = true;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          isComment = false;
          const [field, ...rest] = line.split(':');
          const value = rest.join(':').replace(/^ /, '');
          if (field === 'id') event.id = value;
          else if (field === 'event') event.event = value;
          else if (field === 'data') event.data = value;
        }
        if (!isComment) return event;
        continue;
      }
      const chunk = await chunks.next();
      if (chunk.done) return null;
      buffer += (chunk.value as Buffer).toString();
    }
  };
  return {
    status: response.statusCode,
    headers: response.headers,
    next,
    async untilDone() {
      const events: SseEvent[] = [];
      for (;;) {
        const event = await next();
        if (!event) return events;
        events.push(event);
        if (event.event === 'done') {
          expect(await next()).toBeNull(); // the stream ends after done
          clearTimeout(timer);
          return events;
        }
      }
    },
    close() {
      clearTimeout(timer);
      controller.abort();
      response.body.destroy();
    },
  };
}

const items = (n: number): NewItem[] =>
  Array.from({ length: n }, (_, i) => ({
    model: imageUrl(`model-${i}`),
    cloth: imageUrl(`cloth-${i}`),
    cloth_type: 'upper' as const,
    external_id: `sku-${i}`,
  }));

async function newBatch(n: number, tenantId = 'acme') {
  const { batch } = await t.records.createBatch({ tenantId, items: items(n) });
  const ids = await t.records.itemIds(batch.id);
  return { batch, ids };
}

async function subscribers(batchId: string): Promise<number> {
  const [, count] = (await t.redis.pubsub(
    'NUMSUB',
    batchEventsChannel(t.config.prefix, batchId),
  )) as [string, number];
  return Number(count);
}

async function openStreamsGauge(): Promise<number> {
  const text = await (
    await request(`${base}/metrics`, { headersTimeout: 5_000, bodyTimeout: 5_000 })
  ).body.text();
  const line = text.split('\n').find((l) => l.startsWith('tryon_batch_event_streams_open '));
  return Number(line?.split(' ')[1]);
}

const finishedOf = (b: Batch) => b.counts.completed + b.counts.failed + b.counts.cancelled;

describe('GET /v1/batches/:id/events', () => {
  it('streams counts, one item event per change with its final status, and done', async () => {
    const { batch, ids } = await newBatch(3);
    const stream = await openStream(batch.id);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.headers['cache-control']).toBe('no-cache');
    expect(stream.headers['x-accel-buffering']).toBe('no');
    expect(stream.headers['x-request-id']).toBeTruthy();

    const first = await stream.next();
    expect(first?.event).toBe('counts');
    expect(first?.id).toMatch(/^\d+$/);
    const firstBatch = JSON.parse(first!.data) as Batch;
    expect(firstBatch).toMatchObject({ id: batch.id, status: 'queued', completed_at: null });
    expect(firstBatch.counts).toMatchObject({ total: 3, queued: 3 });
    expect(firstBatch).not.toHaveProperty('tenant_id');
    // The same view as GET /v1/batches/:id, its ETA included.
    const got = await request(`${base}/v1/batches/${batch.id}`, {
      headers: auth(TOKENS.acme),
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
    });
    const fromGet = (await got.body.json()) as BatchResponse;
    expect(Object.keys(firstBatch).sort()).toEqual(Object.keys(fromGet).sort());
    expect((firstBatch as BatchResponse).eta?.seconds).toBeGreaterThan(0);

    // The first event is written after the subscription: nothing below can be missed.
    const final: Record<string, string> = {
      [ids[0]!]: 'completed',
      [ids[1]!]: 'failed',
      [ids[2]!]: 'completed',
    };
    for (const id of ids) {
      const item = { id, batch_id: batch.id };
      expect((await t.records.transition(item, ['queued'], 'running')).changed).toBe(true);
      await t.records.transition(
        item,
        ['running'],
        final[id] as 'completed' | 'failed',
        final[id] === 'failed'
          ? { error: { code: 'fitroom_failed', message: 'no person found' } }
          : { completed_at: Date.now() },
      );
    }

    const events = [first!, ...(await stream.untilDone())];
    expect(events[0]!.event).toBe('counts');
    const eventIds = events.map((e) => Number(e.id));
    expect(eventIds).toEqual([...eventIds].sort((a, b) => a - b));
    expect(new Set(eventIds).size).toBe(eventIds.length);

    const itemEvents = events
      .filter((e) => e.event === 'item')
      .map((e) => JSON.parse(e.data) as Item);
    const lastStatus = new Map(itemEvents.map((i) => [i.id, i.status]));
    expect(Object.fromEntries(lastStatus)).toEqual(final);
    expect(itemEvents.every((i) => i.batch_id === batch.id)).toBe(true);
    const failed = itemEvents.find((i) => i.id === ids[1] && i.status === 'failed');
    expect(failed?.error).toEqual({ code: 'fitroom_failed', message: 'no person found' });
    expect(failed).not.toHaveProperty('tenant_id');

    const counts = events
      .filter((e) => e.event === 'counts')
      .map((e) => JSON.parse(e.data) as Batch);
    for (let i = 1; i < counts.length; i++) {
      expect(finishedOf(counts[i]!)).toBeGreaterThanOrEqual(finishedOf(counts[i - 1]!));
    }

    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    const doneBatch = JSON.parse(done.data) as Batch;
    expect(doneBatch).toMatchObject({ id: batch.id, status: 'completed', progress: 1 });
    expect(doneBatch.completed_at).not.toBeNull();
    expect((doneBatch as BatchResponse).eta).toBeNull();
    expect(doneBatch.counts).toEqual({
      total: 3,
      queued: 0,
      running: 0,
      completed: 2,
      failed: 1,
      cancelled: 0,
    });
    // Done came after every item event.
    const doneIndex = events.indexOf(done);
    expect(events.slice(doneIndex + 1)).toEqual([]);
    await eventually(
      () => subscribers(batch.id),
      (n) => n === 0,
    );
  });

  it("answers 404 for another tenant's batch and for an unknown one, as GET does", async () => {
    const { batch } = await newBatch(1);
    for (const [id, token] of [
      [batch.id, TOKENS.globex],
      ['bat_doesnotexist0000000000', TOKENS.acme],
    ] as const) {
      const response = await request(`${base}/v1/batches/${id}/events`, {
        headers: auth(token),
        headersTimeout: 5_000,
        bodyTimeout: 5_000,
      });
      expect(response.statusCode).toBe(404);
      expect(await response.body.json()).toEqual({
        error: { code: 'batch_not_found', message: 'no batch with this id' },
      });
    }
    const unauthorized = await request(`${base}/v1/batches/${batch.id}/events`, {
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
    });
    expect(unauthorized.statusCode).toBe(401);
    await unauthorized.body.dump();
    expect(await subscribers(batch.id)).toBe(0);
  });

  it('shares one subscription per batch and unsubscribes when the last client leaves', async () => {
    const { batch } = await newBatch(2);
    const one = await openStream(batch.id);
    const two = await openStream(batch.id);
    expect((await one.next())?.event).toBe('counts');
    expect((await two.next())?.event).toBe('counts');
    // One shared subscriber connection per API process: one subscriber on the channel.
    expect(await subscribers(batch.id)).toBe(1);
    expect(await openStreamsGauge()).toBe(2);

    one.close();
    await eventually(openStreamsGauge, (n) => n === 1);
    expect(await subscribers(batch.id)).toBe(1);
    two.close();
    await eventually(openStreamsGauge, (n) => n === 0);
    await eventually(
      () => subscribers(batch.id),
      (n) => n === 0,
    );
  });

  it('a cancel sends an item event per cancelled item, then done once the running one ends', async () => {
    const { batch, ids } = await newBatch(3);
    const running = { id: ids[0]!, batch_id: batch.id };
    await t.records.transition(running, ['queued'], 'running');
    const stream = await openStream(batch.id);
    const first = JSON.parse((await stream.next())!.data) as Batch;
    expect(first.counts).toMatchObject({ running: 1, queued: 2 });

    const cancel = await request(`${base}/v1/batches/${batch.id}/cancel`, {
      method: 'POST',
      headers: auth(TOKENS.acme),
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
    });
    expect(cancel.statusCode).toBe(200);
    await cancel.body.dump();

    // Both cancelled items and the cancelled status arrive before the running item ends.
    const seen: SseEvent[] = [];
    const cancelled = new Set<string>();
    while (cancelled.size < 2) {
      const event = await stream.next();
      expect(event).not.toBeNull();
      seen.push(event!);
      if (event!.event === 'item') {
        const item = JSON.parse(event!.data) as Item;
        expect(item.status).toBe('cancelled');
        cancelled.add(item.id);
      }
    }
    expect([...cancelled].sort()).toEqual([ids[1], ids[2]].sort());

    await t.records.transition(running, ['running'], 'completed', { completed_at: Date.now() });
    const rest = await stream.untilDone();
    const all = [...seen, ...rest];
    const last = JSON.parse(all.at(-1)!.data) as Batch;
    expect(all.at(-1)!.event).toBe('done');
    expect(last).toMatchObject({
      status: 'cancelled',
      counts: { total: 3, queued: 0, running: 0, completed: 1, cancelled: 2 },
    });
    const runningEvents = all
      .filter((e) => e.event === 'item')
      .map((e) => JSON.parse(e.data) as Item)
      .filter((i) => i.id === running.id);
    expect(runningEvents.map((i) => i.status)).toEqual(['completed']);

    // A finished batch: counts and done at once, then the end.
    const again = await openStream(batch.id);
    const events = await again.untilDone();
    expect(events.map((e) => e.event)).toEqual(['counts', 'done']);
    await eventually(
      () => subscribers(batch.id),
      (n) => n === 0,
    );
  });

  it('closing the app ends its open streams instead of waiting for them', async () => {
    const other = await buildTestApp({ storage: 'fs' });
    try {
      const url = await other.app.listen({ host: '127.0.0.1', port: 0 });
      const { batch } = await other.records.createBatch({ tenantId: 'acme', items: items(1) });
      const response = await request(`${url}/v1/batches/${batch.id}/events`, {
        headers: auth(TOKENS.acme),
        headersTimeout: 5_000,
        bodyTimeout: STREAM_TIMEOUT_MS,
      });
      expect(response.statusCode).toBe(200);
      const body = response.body.text();
      await other.app.close();
      const text = await body;
      expect(text).toMatch(/^id: \d+\nevent: counts\ndata: /);
      expect(text).not.toContain('event: done');
    } finally {
      await other.close();
    }
  });

  it('a client resuming with Last-Event-ID gets the items that changed meanwhile', async () => {
    const { batch, ids } = await newBatch(2);
    const stream = await openStream(batch.id);
    const first = await stream.next();
    stream.close();
    await eventually(
      () => subscribers(batch.id),
      (n) => n === 0,
    );

    await t.records.transition({ id: ids[1]!, batch_id: batch.id }, ['queued'], 'running');
    const resumed = await openStream(batch.id, TOKENS.acme, { 'last-event-id': first!.id! });
    expect((await resumed.next())?.event).toBe('counts');
    // Items changed shortly before the last event id come too (clock skew): look for ours.
    let item: Item | null = null;
    while (item?.id !== ids[1]) {
      const event = await resumed.next();
      expect(event?.event).toBe('item');
      item = JSON.parse(event!.data) as Item;
    }
    expect(item?.status).toBe('running');
    resumed.close();
  });
});
