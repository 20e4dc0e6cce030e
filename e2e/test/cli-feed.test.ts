import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig, type Config } from '@tryon/config';
import { Records, type NewItem } from '@tryon/records';
import { eventually, serviceEnv, uniqueId } from '@tryon/testing';
// The CLI's own modules, as in services/cli (the e2e package has the records and Redis).
import { TryonClient, type Batch } from '../../services/cli/src/index.js';
import { followBatch, isFinished, parseEventStream } from '../../services/cli/src/feed.js';

/**
 * followBatch against the real API over HTTP (its event stream on real Redis pub/sub), and
 * through a small HTTP proxy in front of it that plays an API without the events route (404)
 * or a connection that breaks mid-stream. Items change state through records.transition, as
 * a worker changes them.
 */

const TOKEN = 'feed-token-0123456789';
const REQUEST_TIMEOUT_MS = 10_000;

let api: RunningApi;
let config: Config;
let redis: Redis;
let records: Records;
let proxy: Server;
let proxyUrl: string;
/** What the proxy does with GET .../events: pass it, answer 404, or cut it after one chunk. */
let eventsMode: 'pass' | '404' | 'break-once' = 'pass';

beforeAll(async () => {
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('cli-feed'),
      simUrl: 'http://127.0.0.1:9', // no worker here: FitRoom is never called
      apiKeys: ['feed-key'],
      timeScale: 1,
      extra: { API_TOKENS: `catalog:${TOKEN}` },
    }),
  );
  api = await startApi(config, { logger: false });
  redis = new Redis(config.redisUrl);
  records = new Records(redis, config.prefix);

  proxy = createServer((req, res) => {
    const isEvents = req.url?.endsWith('/events') ?? false;
    if (isEvents && eventsMode === '404') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } }));
      return;
    }
    const cut = isEvents && eventsMode === 'break-once';
    if (cut) eventsMode = 'pass';
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'accept', 'last-event-id']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    request(`${api.url}${req.url}`, {
      method: req.method as 'GET',
      headers,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: 30_000,
    })
      .then(async (upstream) => {
        const type = upstream.headers['content-type'];
        res.writeHead(
          upstream.statusCode,
          typeof type === 'string' ? { 'content-type': type } : {},
        );
        res.once('close', () => upstream.body.destroy());
        for await (const chunk of upstream.body) {
          if (cut) {
            // The connection drops once the first event has gone out (not before: then the
            // client's own request retry would hide the break).
            res.write(chunk, () => res.destroy());
            return;
          }
          res.write(chunk);
        }
        res.end();
      })
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
  await api?.close();
  redis?.disconnect();
});

const items = (n: number): NewItem[] =>
  Array.from({ length: n }, (_, i) => ({
    model: `https://93.184.216.34/model-${i}.jpg`,
    cloth: `https://93.184.216.34/cloth-${i}.jpg`,
    cloth_type: 'upper' as const,
  }));

async function newBatch(n: number) {
  const { batch } = await records.createBatch({ tenantId: 'catalog', items: items(n) });
  return { batch, ids: await records.itemIds(batch.id) };
}

async function completeAll(batchId: string, ids: string[]): Promise<void> {
  for (const id of ids) {
    await records.transition({ id, batch_id: batchId }, ['queued'], 'running');
    await records.transition({ id, batch_id: batchId }, ['running'], 'completed', {
      completed_at: Date.now(),
    });
  }
}

/** From the API's Prometheus metrics: event streams opened and GET /v1/batches/:id answered. */
async function apiCounters(): Promise<{ streams: number; polls: number }> {
  const response = await request(`${api.url}/metrics`, {
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  const lines = (await response.body.text()).split('\n');
  const streams = lines.find((l) => l.startsWith('tryon_batch_event_streams_total '));
  const polls = lines
    .filter(
      (l) =>
        l.startsWith('http_request_duration_seconds_count{') &&
        l.includes('method="GET"') &&
        l.includes('route="/v1/batches/:id"'),
    )
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  return { streams: Number(streams?.split(' ')[1] ?? 0), polls };
}

/** Runs followBatch to its end in the background; `first` resolves with its first snapshot. */
function follow(baseUrl: string, batchId: string) {
  const client = new TryonClient({ baseUrl, token: TOKEN, timeoutMs: REQUEST_TIMEOUT_MS });
  const seen: Batch[] = [];
  let markFirst: () => void = () => {};
  const first = new Promise<void>((resolve) => (markFirst = resolve));
  const signal = AbortSignal.timeout(30_000);
  const all = (async () => {
    try {
      for await (const batch of followBatch(client, batchId, { intervalMs: 50, signal })) {
        seen.push(batch);
        markFirst();
      }
    } finally {
      markFirst();
      await client.close();
    }
    return seen;
  })();
  return { first, all };
}

const finishedCount = (b: Batch) => b.counts.completed + b.counts.failed + b.counts.cancelled;

describe('followBatch', () => {
  it('reads the event stream: a snapshot per counts event, the last one done', async () => {
    eventsMode = 'pass';
    const before = await apiCounters();
    const { batch, ids } = await newBatch(3);
    const run = follow(api.url, batch.id);
    await run.first;
    await completeAll(batch.id, ids);
    const seen = await run.all;

    expect(seen[0]!.counts).toMatchObject({ total: 3, queued: 3 });
    const last = seen.at(-1)!;
    expect(isFinished(last)).toBe(true);
    expect(last.completed_at).not.toBeNull();
    expect(last).toMatchObject({ status: 'completed', counts: { completed: 3, queued: 0 } });
    for (let i = 1; i < seen.length; i++) {
      expect(finishedCount(seen[i]!)).toBeGreaterThanOrEqual(finishedCount(seen[i - 1]!));
    }
    const after = await apiCounters();
    expect(after.streams).toBe(before.streams + 1);
    expect(after.polls).toBe(before.polls); // not one poll
  });

  it('polls GET /v1/batches/:id when the events route answers 404', async () => {
    eventsMode = '404';
    const before = await apiCounters();
    const { batch, ids } = await newBatch(2);
    const run = follow(proxyUrl, batch.id);
    await run.first;
    await completeAll(batch.id, ids);
    const seen = await run.all;

    expect(seen.at(-1)).toMatchObject({ status: 'completed', counts: { completed: 2 } });
    const after = await apiCounters();
    expect(after.streams).toBe(before.streams);
    expect(after.polls).toBeGreaterThanOrEqual(before.polls + 2);
  });

  it('a stream that breaks is replaced by a poll, then opened again', async () => {
    eventsMode = 'break-once';
    const before = await apiCounters();
    const { batch, ids } = await newBatch(2);
    const run = follow(proxyUrl, batch.id);
    await run.first;
    // The second stream is open (after the break and one poll) before anything changes.
    await eventually(apiCounters, (c) => c.streams === before.streams + 2);
    await completeAll(batch.id, ids);
    const seen = await run.all;

    // The first event, the poll after the break, then the second stream's events.
    expect(seen[0]!.counts).toMatchObject({ queued: 2 });
    expect(seen[1]!.counts).toMatchObject({ queued: 2 });
    expect(seen.at(-1)).toMatchObject({ status: 'completed', counts: { completed: 2 } });
    expect(seen.at(-1)!.completed_at).not.toBeNull();
    const after = await apiCounters();
    expect(after.polls).toBeGreaterThanOrEqual(before.polls + 1);
  });

  it('an unknown batch is still an error (404 from the poll)', async () => {
    eventsMode = 'pass';
    const run = follow(api.url, 'bat_doesnotexist0000000000');
    await expect(run.all).rejects.toMatchObject({ status: 404, code: 'batch_not_found' });
  });
});

describe('parseEventStream', () => {
  it('parses events split anywhere, with comments, CRLF and multi-line data', async () => {
    const text =
      ': ping\r\n\r\nid: 7\r\nevent: counts\r\ndata: {"a":\r\ndata: 1}\r\n\r\n' +
      'event: item\ndata: x\n\n: ping\n\nevent: done\nid: 9\ndata: {}\n\n';
    const chunks = text.match(/[\s\S]{1,3}/g)!;
    const events = [];
    for await (const event of parseEventStream(chunks)) events.push(event);
    expect(events).toEqual([
      { event: 'counts', data: '{"a":\n1}', id: '7' },
      { event: 'item', data: 'x', id: '7' },
      { event: 'done', data: '{}', id: '9' },
    ]);
  });
});
