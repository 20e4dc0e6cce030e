import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSafeDispatcher } from '../src/index.js';
import { tableLookup } from './helpers.js';

/**
 * The safe dispatcher connects to the address it checked, not to the name; TLS must still send
 * the name (SNI) and verify the certificate against it.
 */
// Needs the openssl binary to make a certificate; .ci/run installs it where it is missing.
describe('safe dispatcher over TLS', () => {
  let dir: string;
  let cert: Buffer;
  let server: Server;
  let port: number;
  const agents: Agent[] = [];
  const sniSeen: (string | false | null)[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'webhooks-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=hooks.test',
        '-addext',
        'subjectAltName=DNS:hooks.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    cert = readFileSync(join(dir, 'cert.pem'));
    server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (req, res) => {
      res.writeHead(200).end(`host=${req.headers.host ?? ''}`);
    });
    server.on('secureConnection', (socket) => sniSeen.push(socket.servername));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.close()));
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  function dispatcher(): Agent {
    const agent = createSafeDispatcher({
      allowPrivateNetworks: true,
      lookup: tableLookup({ 'hooks.test': '127.0.0.1', 'other.test': '127.0.0.1' }),
      tls: { ca: cert },
    });
    agents.push(agent);
    return agent;
  }

  it('sends SNI and verifies the certificate against the host name', async () => {
    const res = await request(`https://hooks.test:${port}/`, { dispatcher: dispatcher() });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe(`host=hooks.test:${port}`);
    expect(sniSeen.at(-1)).toBe('hooks.test');
  });

  it('refuses a certificate for another name at the same address', async () => {
    await expect(
      request(`https://other.test:${port}/`, { dispatcher: dispatcher() }),
    ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });
});
