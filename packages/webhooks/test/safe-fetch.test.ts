import { connect as netConnect } from 'node:net';
import { makeImage } from '@tryon/testing';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSafeDispatcher, safeFetch, SafeFetchError } from '../src/index.js';
import { startServer, tableLookup, type TestServer } from './helpers.js';

let image: Buffer;
let main: TestServer;
let other: TestServer;
const agents: Agent[] = [];

function track<T extends Agent>(agent: T): T {
  agents.push(agent);
  return agent;
}

/** A safe dispatcher that may reach loopback (the only network these tests use). */
function privateOk(): Agent {
  return track(createSafeDispatcher({ allowPrivateNetworks: true }));
}

/**
 * A plain (unchecked) dispatcher standing in for "the internet": whatever host it is asked for,
 * it connects to 127.0.0.1 on the same port. With it, a URL that passes the public-address check
 * (a name the injected lookup maps to a public address) is served by a local test server, so the
 * per-hop check of redirect targets can be exercised without leaving loopback.
 */
function loopbackInternet(): Agent {
  return track(
    new Agent({
      connect: (opts, callback) => {
        const socket = netConnect({ host: '127.0.0.1', port: Number(opts.port) });
        socket.once('connect', () => callback(null, socket));
        socket.once('error', (err) => callback(err, null));
      },
    }),
  );
}

const publicLookup = tableLookup({
  'images.example.com': '93.184.215.14',
  'cdn.example.com': '93.184.215.15',
  'internal.example.com': '10.0.0.7',
});

beforeAll(async () => {
  image = await makeImage({ width: 32, height: 48, format: 'png' });
  main = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const to = url.searchParams.get('to');
    switch (url.pathname) {
      case '/image.png':
        res.writeHead(200, { 'content-type': 'image/png' }).end(image);
        return;
      case '/redirect':
        res.writeHead(Number(url.searchParams.get('status') ?? 302), to ? { location: to } : {});
        res.end('moved');
        return;
      case '/loop':
        res.writeHead(302, { location: '/loop' }).end();
        return;
      case '/big':
        res.writeHead(200, { 'content-length': '5000' }).end(Buffer.alloc(5000));
        return;
      case '/big-chunked':
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(500));
        res.end();
        return;
      case '/hang':
        return; // never answers
      case '/secret':
        res.writeHead(200).end('internal data');
        return;
      default:
        res.writeHead(404).end('not found');
    }
  });
  other = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png' }).end(image);
  });
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
  main.received.length = 0;
  other.received.length = 0;
});
afterAll(async () => {
  await Promise.all([main.close(), other.close()]);
});

async function fetchError(promise: Promise<unknown>): Promise<SafeFetchError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SafeFetchError);
  return err as SafeFetchError;
}

describe('safeFetch', () => {
  it('fetches an image byte for byte', async () => {
    const res = await safeFetch(`${main.origin}/image.png`, { dispatcher: privateOk() });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.body.equals(image)).toBe(true);
    expect(res.redirects).toBe(0);
  });

  it('follows redirects and reports the final URL', async () => {
    const target = `${other.origin}/final.png`;
    const res = await safeFetch(
      `${main.origin}/redirect?status=307&to=${encodeURIComponent(target)}`,
      {
        dispatcher: privateOk(),
      },
    );
    expect(res.body.equals(image)).toBe(true);
    expect(res.redirects).toBe(1);
    expect(res.url.href).toBe(target);
  });

  it('drops credentials when a redirect changes origin', async () => {
    const target = `${other.origin}/final.png`;
    await safeFetch(`${main.origin}/redirect?to=${encodeURIComponent(target)}`, {
      dispatcher: privateOk(),
      headers: { authorization: 'Bearer abc', 'x-trace': '1' },
    });
    expect(main.received[0]?.headers.authorization).toBe('Bearer abc');
    expect(other.received[0]?.headers.authorization).toBeUndefined();
    expect(other.received[0]?.headers['x-trace']).toBe('1');
  });

  it.each([
    ['a loopback literal', (port: number) => `http://127.0.0.1:${port}/secret`],
    ['an IPv4-mapped loopback', (port: number) => `http://[::ffff:7f00:1]:${port}/secret`],
    ['localhost', (port: number) => `http://localhost:${port}/secret`],
    ['a decimal loopback', (port: number) => `http://2130706433:${port}/secret`],
    ['the metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
    ['a name resolving to 10/8', (port: number) => `http://internal.example.com:${port}/secret`],
  ])('refuses a redirect to %s', async (_label, target) => {
    const first = `http://images.example.com:${main.port}/redirect?to=${encodeURIComponent(target(main.port))}`;
    const err = await fetchError(
      safeFetch(first, { dispatcher: loopbackInternet(), lookup: publicLookup }),
    );
    expect(err.code).toBe('forbidden_address');
    expect(err.message).toMatch(/^redirect target refused/);
    expect(main.received.map((r) => r.url)).toEqual([expect.stringMatching(/^\/redirect/)]);
  });

  it('follows a redirect to another public host (through the stand-in internet)', async () => {
    const first = `http://images.example.com:${main.port}/redirect?to=${encodeURIComponent(
      `http://cdn.example.com:${main.port}/image.png`,
    )}`;
    const res = await safeFetch(first, { dispatcher: loopbackInternet(), lookup: publicLookup });
    expect(res.body.equals(image)).toBe(true);
    expect(main.received.map((r) => r.headers.host)).toEqual([
      `images.example.com:${main.port}`,
      `cdn.example.com:${main.port}`,
    ]);
  });

  it('refuses a loopback URL with a safe dispatcher that does not allow private networks', async () => {
    const before = main.connections;
    const err = await fetchError(
      safeFetch(`${main.origin}/secret`, {
        dispatcher: track(createSafeDispatcher({ allowPrivateNetworks: false })),
      }),
    );
    expect(err.code).toBe('forbidden_address');
    expect(main.connections).toBe(before);
  });

  it('refuses a redirect to another protocol', async () => {
    const err = await fetchError(
      safeFetch(`${main.origin}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`, {
        dispatcher: privateOk(),
      }),
    );
    expect(err.code).toBe('unsupported_protocol');
  });

  it('stops after maxRedirects', async () => {
    const err = await fetchError(
      safeFetch(`${main.origin}/loop`, { dispatcher: privateOk(), maxRedirects: 3 }),
    );
    expect(err.code).toBe('too_many_redirects');
    expect(main.received).toHaveLength(4);
  });

  it('refuses a redirect without Location', async () => {
    const err = await fetchError(safeFetch(`${main.origin}/redirect`, { dispatcher: privateOk() }));
    expect(err.code).toBe('bad_redirect');
  });

  it('enforces the size cap from content-length and while streaming', async () => {
    const declared = await fetchError(
      safeFetch(`${main.origin}/big`, { dispatcher: privateOk(), maxBytes: 1000 }),
    );
    expect(declared.code).toBe('body_too_large');
    const streamed = await fetchError(
      safeFetch(`${main.origin}/big-chunked`, { dispatcher: privateOk(), maxBytes: 1000 }),
    );
    expect(streamed.code).toBe('body_too_large');
    const fits = await safeFetch(`${main.origin}/big-chunked`, {
      dispatcher: privateOk(),
      maxBytes: 5000,
    });
    expect(fits.body).toHaveLength(5000);
  });

  it('times out', async () => {
    const started = Date.now();
    const err = await fetchError(
      safeFetch(`${main.origin}/hang`, { dispatcher: privateOk(), timeoutMs: 300 }),
    );
    expect(err.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('turns a non-2xx answer into http_error with the status', async () => {
    const err = await fetchError(safeFetch(`${main.origin}/missing`, { dispatcher: privateOk() }));
    expect(err).toMatchObject({ code: 'http_error', status: 404 });
  });
});
