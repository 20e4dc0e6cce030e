import { get as httpGet } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewItem } from '@tryon/records';
import { RedisKeys } from '@tryon/redis';
import { eventually } from '@tryon/testing';
import { MAX_EVENT_STREAMS_PER_TENANT } from '../src/limits.js';
import { auth, buildTestApp, imageUrl, TOKENS, type TestApp } from './helper.js';

/**
 * The per-tenant cap on open event streams (SSE), over real HTTP on connections of their own,
 * with the count kept in real Redis.
 */

const STREAM_TIMEOUT_MS = 20_000;

const items = (n: number): NewItem[] =>
  Array.from({ length: n }, (_, i) => ({
    model: imageUrl(`model-${i}`),
    cloth: imageUrl(`cloth-${i}`),
    cloth_type: 'upper' as const,
  }));

describe('open streams per tenant', () => {
  // An app of its own: its streams and connections are this test's alone.
  let capped: TestApp;
  let cappedBase: string;
  beforeAll(async () => {
    capped = await buildTestApp({ storage: 'fs' });
    cappedBase = await capped.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => capped.close());

  it(`caps a tenant's open streams at ${MAX_EVENT_STREAMS_PER_TENANT}, freeing a slot when a client drops`, async () => {
    const openOf = (tenant: string) =>
      capped.redis.zcard(new RedisKeys(capped.config.prefix).tenantEventStreams(tenant));
    await eventually(
      () => openOf('acme'),
      (n) => n === 0,
    );
    const { batch } = await capped.records.createBatch({ tenantId: 'acme', items: items(1) });
    const streams: RawStream[] = [];
    try {
      for (let i = 0; i < MAX_EVENT_STREAMS_PER_TENANT; i++) {
        const stream = await rawStream(cappedBase, `/v1/batches/${batch.id}/events`, TOKENS.acme);
        streams.push(stream);
        expect(stream.status).toBe(200);
        expect(stream.body).toContain('event: counts');
      }
      expect(await openOf('acme')).toBe(MAX_EVENT_STREAMS_PER_TENANT);
      const refused = await rawStream(cappedBase, `/v1/batches/${batch.id}/events`, TOKENS.acme);
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'too_many_streams' } });
      // Another tenant is not held back by acme's streams.
      const { batch: globexBatch } = await capped.records.createBatch({
        tenantId: 'globex',
        items: items(1),
      });
      const other = await rawStream(
        cappedBase,
        `/v1/batches/${globexBatch.id}/events`,
        TOKENS.globex,
      );
      expect(other.status).toBe(200);
      other.drop();

      // A client that drops its connection (no goodbye) gives its slot back.
      streams.pop()!.drop();
      await eventually(
        () => openOf('acme'),
        (n) => n === MAX_EVENT_STREAMS_PER_TENANT - 1,
      );
      const again = await rawStream(cappedBase, `/v1/batches/${batch.id}/events`, TOKENS.acme);
      streams.push(again);
      expect(again.status).toBe(200);
    } finally {
      for (const stream of streams) stream.drop();
    }
    await eventually(
      () => openOf('acme'),
      (n) => n === 0,
    );
  });
});

interface RawStream {
  status: number;
  /** The first chunk of a stream, or the whole body of any other answer. */
  body: string;
  /** Drops the connection, as a client that goes away without a word. */
  drop(): void;
}

/** A GET on a connection of its own (no keep-alive pool), dropped at will. */
function rawStream(origin: string, path: string, token: string): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const req = httpGet(`${origin}${path}`, { headers: auth(token), agent: false }, (res) => {
      let body = '';
      const answer = () => ({ status: res.statusCode ?? 0, body, drop: () => req.destroy() });
      res.setEncoding('utf8');
      if (res.headers['content-type']?.startsWith('text/event-stream')) {
        res.once('data', (chunk: string) => resolve({ ...answer(), body: chunk }));
      } else {
        res.on('data', (chunk: string) => (body += chunk));
        res.once('end', () => resolve(answer()));
      }
    });
    req.setTimeout(STREAM_TIMEOUT_MS, () => req.destroy(new Error('stream timed out')));
    req.once('error', reject);
  });
}
