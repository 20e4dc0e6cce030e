import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request, type Agent } from 'undici';
import {
  checkPublicUrl,
  createSafeDispatcher,
  UnsafeDestinationError,
  type LookupFn,
} from '../src/index.js';
import { startServer, tableLookup, type TestServer } from './helpers.js';

let server: TestServer;
const agents: Agent[] = [];

function dispatcher(...args: Parameters<typeof createSafeDispatcher>): Agent {
  const agent = createSafeDispatcher(...args);
  agents.push(agent);
  return agent;
}

beforeAll(async () => {
  server = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
  });
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await server.close();
});

async function refusal(promise: Promise<unknown>): Promise<UnsafeDestinationError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnsafeDestinationError);
  return err as UnsafeDestinationError;
}

describe('createSafeDispatcher', () => {
  it('refuses a connection to 127.0.0.1 when private networks are not allowed', async () => {
    const before = server.connections;
    const err = await refusal(
      request(`${server.origin}/`, {
        dispatcher: dispatcher({ allowPrivateNetworks: false, connectTimeoutMs: 2000 }),
      }),
    );
    expect(err.code).toBe('forbidden_address');
    expect(err.message).toMatch(/loopback/);
    expect(server.connections).toBe(before);
    expect(server.received).toHaveLength(0);
  });

  it.each([
    ['localhost', 'localhost', undefined],
    ['a name resolving to 127.0.0.1', 'loop.test', tableLookup({ 'loop.test': '127.0.0.1' })],
    [
      'a name with a public and a loopback address',
      'mixed.test',
      tableLookup({ 'mixed.test': ['93.184.215.14', '127.0.0.1'] }),
    ],
    ['an IPv4-mapped loopback literal', '[::ffff:127.0.0.1]', undefined],
    ['a decimal loopback literal', '2130706433', undefined],
  ])('refuses %s', async (_label, host, lookup) => {
    const before = server.connections;
    const err = await refusal(
      request(`http://${host}:${server.port}/`, {
        dispatcher: dispatcher({ allowPrivateNetworks: false, lookup }),
      }),
    );
    expect(err.code).toBe('forbidden_address');
    expect(server.connections).toBe(before);
    expect(server.received).toHaveLength(0);
  });

  it('reports names that do not resolve', async () => {
    const err = await refusal(
      request('http://nowhere.test/', {
        dispatcher: dispatcher({ allowPrivateNetworks: false, lookup: tableLookup({}) }),
      }),
    );
    expect(err.code).toBe('dns_lookup_failed');
  });

  it('connects to 127.0.0.1 when private networks are allowed', async () => {
    const res = await request(`${server.origin}/allowed`, {
      dispatcher: dispatcher({ allowPrivateNetworks: true }),
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('hello');
    expect(server.received.at(-1)?.url).toBe('/allowed');
    server.received.length = 0;
  });

  it('connects to the address it resolved and keeps the host name in the Host header', async () => {
    const res = await request(`http://hooks.test:${server.port}/named`, {
      dispatcher: dispatcher({
        allowPrivateNetworks: true,
        lookup: tableLookup({ 'hooks.test': '127.0.0.1' }),
      }),
    });
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(server.received.at(-1)?.headers.host).toBe(`hooks.test:${server.port}`);
    server.received.length = 0;
  });

  it('tries the next resolved address when one refuses the connection', async () => {
    // 127.0.0.2 is loopback too, but nothing listens there on this port.
    const res = await request(`http://multi.test:${server.port}/fallback`, {
      dispatcher: dispatcher({
        allowPrivateNetworks: true,
        lookup: tableLookup({ 'multi.test': ['127.0.0.2', '127.0.0.1'] }),
      }),
    });
    await res.body.text();
    expect(res.statusCode).toBe(200);
    server.received.length = 0;
    // ...and that address alone really is refused.
    await expect(
      request(`http://multi.test:${server.port}/fallback`, {
        dispatcher: dispatcher({
          allowPrivateNetworks: true,
          lookup: tableLookup({ 'multi.test': '127.0.0.2' }),
        }),
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('defeats DNS rebinding: public at check time, loopback at connect time', async () => {
    const answers: string[] = [];
    const rebinding: LookupFn = (hostname) => {
      const address = answers.length === 0 ? '93.184.215.14' : '127.0.0.1';
      answers.push(address);
      return tableLookup({ [hostname]: address })(hostname);
    };
    const url = `http://rebind.test:${server.port}/steal`;
    const checked = await checkPublicUrl(url, { allowPrivateNetworks: false, lookup: rebinding });
    expect(checked.ok).toBe(true);

    const before = server.connections;
    const err = await refusal(
      request(url, { dispatcher: dispatcher({ allowPrivateNetworks: false, lookup: rebinding }) }),
    );
    expect(err.code).toBe('forbidden_address');
    expect(answers).toEqual(['93.184.215.14', '127.0.0.1']);
    expect(server.connections).toBe(before);
    expect(server.received).toHaveLength(0);
  });
});
