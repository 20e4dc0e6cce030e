import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.js';

function collect() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('names the service on every line and redacts secrets wherever they ride along', () => {
    const { lines, destination } = collect();
    const logger = createLogger({ service: 'worker', destination });
    logger.info(
      {
        req: { headers: { authorization: 'Bearer tenant-token-1', 'x-api-key': 'fitroom-key-1' } },
        fitroom: { apiKey: 'fitroom-key-2' },
        webhook: { secret: 'whsec_abc' },
        token: 'admin-token-1',
      },
      'hello',
    );
    const text = lines.join('');
    expect(JSON.parse(text)).toMatchObject({ service: 'worker', msg: 'hello' });
    for (const secret of [
      'tenant-token-1',
      'fitroom-key-1',
      'fitroom-key-2',
      'whsec_abc',
      'admin-token-1',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });
});

describe('URLs in logs', () => {
  it('cuts the query string off every logged URL: url fields, requests and errors', () => {
    const { lines, destination } = collect();
    const logger = createLogger({ service: 'worker', destination });
    const signed = 'https://fitroom.example/results/t1.png?expires=99&signature=sig-abc';
    logger.info(
      {
        url: 'https://hooks.example/in?token=tok-123',
        delivery: { webhook_url: 'https://hooks.example/in?secretish=tok-456#frag' },
        downloadUrl: signed,
        req: { method: 'GET', url: '/v1/items/i1/result?exp=1&sig=sig-def', headers: {} },
      },
      'delivered',
    );
    logger.warn({ err: new Error(`download failed: GET ${signed} answered 403`) }, 'store failed');
    const text = lines.join('');
    for (const secret of ['tok-123', 'tok-456', 'sig-abc', 'sig-def', 'expires=', '#frag']) {
      expect(text).not.toContain(secret);
    }
    const [first, second] = lines.map((line) => JSON.parse(line) as { err?: { message: string } });
    expect(first).toMatchObject({
      url: 'https://hooks.example/in',
      delivery: { webhook_url: 'https://hooks.example/in' },
      downloadUrl: 'https://fitroom.example/results/t1.png',
      req: { method: 'GET', url: '/v1/items/i1/result' },
    });
    expect(second?.err?.message).toBe(
      'download failed: GET https://fitroom.example/results/t1.png answered 403',
    );
  });
});
