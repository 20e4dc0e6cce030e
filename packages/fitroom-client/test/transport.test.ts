/**
 * What the simulator, being faithful, never does: malformed 200s, odd error bodies, a stalled
 * download. These few cases use a plain node:http server on loopback that answers one canned
 * response per path.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FitRoomClient,
  FitRoomDownloadExpiredError,
  FitRoomInvalidResponseError,
  FitRoomRateLimitedError,
  FitRoomServerError,
  FitRoomTimeoutError,
  FitRoomUnauthorizedError,
  FitRoomUnavailableError,
} from '../src/index';
import { png, readAll, rejection } from './support';

const KEY = 'transport-key-SECRET';
const image = png(8, 8);

type Handler = (res: ServerResponse) => void;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Handler {
  return (res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}

const routes: Record<string, Handler> = {
  '/malformed/api/tryon/v2/tasks/1': json(200, { status: 'PROCESSING' }),
  '/badjson/api/tryon/v2/tasks/1': json(200, '{"task_id": "1", "status": '),
  '/nourl/api/tryon/v2/tasks/1': json(200, { task_id: '1', status: 'COMPLETED', progress: 100 }),
  '/weird/api/tryon/v2/tasks/1': json(200, { task_id: '1', status: 'EXPLODED' }),
  '/create/api/tryon/v2/tasks': json(200, { task_id: 42, status: 'CREATED' }),
  '/model/api/tryon/input_check/v1/model': json(200, { is_good: 'maybe' }),
  '/html/api/tryon/v2/tasks/1': (res) => {
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end(`<html><body>Bad Gateway for ${KEY}</body></html>`);
  },
  '/echo/api/tryon/v2/tasks/1': json(401, { detail: `Invalid API key ${KEY}` }),
  '/date/api/tryon/v2/tasks/1': json(
    429,
    { error: { message: 'slow down' } },
    { 'retry-after': new Date(Date.now() + 120_000).toUTCString() },
  ),
  '/maint/api/tryon/v2/tasks/1': json(503, { message: 'maintenance' }, { 'retry-after': '30' }),
  '/gone.jpg': json(410, { error: 'Gone' }),
  '/gcs-expired.jpg': (res) => {
    res.writeHead(400, { 'content-type': 'application/xml' });
    res.end(
      '<?xml version="1.0"?><Error><Code>ExpiredToken</Code><Message>Invalid argument.</Message></Error>',
    );
  },
  '/stall.jpg': (res) => {
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': '100000' });
    res.write(Buffer.alloc(10));
    // ... and nothing more
  },
  '/slow-headers.jpg': () => {
    // never answers
  },
  '/ok.png': (res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(image.length) });
    res.end(image);
  },
};

describe('transport and validation edge cases (plain HTTP server)', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      const path = (req.url ?? '').split('?')[0] ?? '';
      const handler = routes[path];
      if (handler) handler(res);
      else json(404, { error: 'Not Found' })(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const client = (prefix: string, timeoutMs?: number) =>
    new FitRoomClient({
      baseUrl: `${base}/${prefix}`,
      apiKey: KEY,
      ...(timeoutMs ? { timeoutMs, downloadTimeoutMs: timeoutMs } : {}),
    });

  it('a malformed 200 becomes FitRoomInvalidResponseError', async () => {
    for (const prefix of ['malformed', 'badjson', 'nourl', 'weird']) {
      const err = await rejection(client(prefix).getTask('1'));
      expect(err).toBeInstanceOf(FitRoomInvalidResponseError);
      expect(err).toMatchObject({ code: 'invalid_response', status: 200, operation: 'getTask' });
    }
    const model = await rejection(client('model').checkModel({ data: image }));
    expect(model).toBeInstanceOf(FitRoomInvalidResponseError);
  });

  it('a numeric task_id is accepted as a string', async () => {
    await expect(
      client('create').createTask({
        clothType: 'upper',
        model: { data: image },
        cloth: { data: image },
      }),
    ).resolves.toEqual({ task_id: '42', status: 'CREATED' });
  });

  it('other error shapes: raw text, detail, nested error, HTTP-date Retry-After; key redacted', async () => {
    const html = await rejection(client('html').getTask('1'));
    expect(html).toBeInstanceOf(FitRoomServerError);
    expect(html).toMatchObject({ status: 502, retryable: true });
    expect((html as FitRoomServerError).fitroomMessage).toContain('Bad Gateway for [redacted]');

    const echo = await rejection(client('echo').getTask('1'));
    expect(echo).toBeInstanceOf(FitRoomUnauthorizedError);
    expect((echo as FitRoomUnauthorizedError).fitroomMessage).toBe('Invalid API key [redacted]');
    expect(String(echo)).not.toContain(KEY);

    const limited = await rejection(client('date').getTask('1'));
    expect(limited).toBeInstanceOf(FitRoomRateLimitedError);
    expect((limited as FitRoomRateLimitedError).fitroomMessage).toBe('slow down');
    const wait = (limited as FitRoomRateLimitedError).retryAfterMs ?? 0;
    expect(wait).toBeGreaterThan(100_000);
    expect(wait).toBeLessThanOrEqual(120_000);

    const maint = await rejection(client('maint').getTask('1'));
    expect(maint).toBeInstanceOf(FitRoomUnavailableError);
    expect(maint).toMatchObject({ retryAfterMs: 30_000, fitroomMessage: 'maintenance' });
  });

  it('download: streams the body with its type and length', async () => {
    const result = await client('x').downloadResult(`${base}/ok.png`);
    expect(result.contentType).toBe('image/png');
    expect(result.contentLength).toBe(image.length);
    expect(await readAll(result.body)).toEqual(image);
  });

  it('download: 410, and a 400 ExpiredToken (GCS), are expired links too', async () => {
    await expect(client('x').downloadResult(`${base}/gone.jpg`)).rejects.toBeInstanceOf(
      FitRoomDownloadExpiredError,
    );
    await expect(client('x').downloadResult(`${base}/gcs-expired.jpg`)).rejects.toMatchObject({
      code: 'download_expired',
      status: 400,
    });
  });

  it('download: no headers in time -> FitRoomTimeoutError', async () => {
    const err = await rejection(client('x', 150).downloadResult(`${base}/slow-headers.jpg`));
    expect(err).toBeInstanceOf(FitRoomTimeoutError);
    expect(err).toMatchObject({ operation: 'downloadResult' });
  });

  it('download: a stalled body errors the stream with FitRoomTimeoutError', async () => {
    const result = await client('x', 150).downloadResult(`${base}/stall.jpg`);
    const err = await rejection(readAll(result.body));
    expect(err).toBeInstanceOf(FitRoomTimeoutError);
  });

  it("download: the caller's abort ends the stream with the caller's reason", async () => {
    const controller = new AbortController();
    const result = await client('x').downloadResult(`${base}/stall.jpg`, {
      signal: controller.signal,
    });
    const reason = new Error('cancelled by caller');
    const pending = rejection(readAll(result.body));
    controller.abort(reason);
    expect(await pending).toBe(reason);
  });
});
