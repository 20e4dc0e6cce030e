import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@tryon/config';
import { makeImage, testRedisUrl, uniqueId } from '@tryon/testing';
import { startBanner } from '../src/index.js';
import { MAX_UPLOAD_FILES } from '../src/limits.js';
import { auth, buildTestApp, imageUrl, multipart, TOKENS, type TestApp } from './helper.js';

/** What a person meets first: the root URL, the start banner, a busy port, the first errors. */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ storage: 'fs' });
});
afterAll(() => t.close());

describe('the root URL', () => {
  it('redirects GET / to the dashboard', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/ui');
  });
});

describe('POST /v1/assets', () => {
  const upload = (files: Parameters<typeof multipart>[0]) => {
    const { payload, headers } = multipart(files);
    return t.app.inject({
      method: 'POST',
      url: '/v1/assets',
      headers: { ...headers, ...auth(TOKENS.acme) },
      payload,
    });
  };

  it(`takes ${MAX_UPLOAD_FILES} files, and beyond that answers 400 too_many_files naming the limit`, async () => {
    const image = await makeImage({ width: 8, height: 8, format: 'png' });
    const files = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ field: 'file', filename: `f${i}.png`, data: image }));
    const atLimit = await upload(files(MAX_UPLOAD_FILES));
    expect(atLimit.statusCode).toBeLessThan(300);
    expect(atLimit.json<{ assets: unknown[] }>().assets).toHaveLength(MAX_UPLOAD_FILES);
    const over = await upload(files(MAX_UPLOAD_FILES + 1));
    expect(over.statusCode).toBe(400);
    expect(over.json()).toEqual({
      error: {
        code: 'too_many_files',
        message: expect.stringContaining(`at most ${MAX_UPLOAD_FILES} files per request`) as string,
      },
    });
  });

  it('names the file an error is about by its file name', async () => {
    const res = await upload([
      { field: 'file', filename: 'ss27-shirt.jpg', data: Buffer.from('not an image '.repeat(40)) },
    ]);
    expect(res.statusCode).toBe(415);
    expect(res.json<{ error: { message: string } }>().error.message).toContain('"ss27-shirt.jpg"');
  });

  it('documents the cap in the OpenAPI document', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    const doc = res.json<{ paths: Record<string, { post?: { description?: string } }> }>();
    const description = doc.paths['/v1/assets']?.post?.description ?? '';
    expect(description).toContain(`up to ${MAX_UPLOAD_FILES}`);
    expect(description).toContain('too_many_files');
  });
});

describe('a webhook URL on a private network', () => {
  const item = { model: imageUrl('wh-m'), cloth: imageUrl('wh-c'), cloth_type: 'upper' };

  it('is refused with 422 naming WEBHOOK_ALLOW_PRIVATE_NETWORKS', async () => {
    for (const url of [
      'http://localhost:4000/hook',
      'https://127.0.0.1/hook',
      'https://10.1.2.3/x',
    ]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/batches',
        headers: auth(TOKENS.acme),
        payload: { items: [item], webhook_url: url },
      });
      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({
        error: {
          code: 'invalid_webhook_url',
          message: expect.stringContaining('WEBHOOK_ALLOW_PRIVATE_NETWORKS=true') as string,
        },
      });
    }
  });

  it('gets no such hint when the setting would not help', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: auth(TOKENS.acme),
      payload: { items: [item], webhook_url: 'ftp://93.184.216.34/hook' },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json<{ error: { message: string } }>().error.message).not.toContain(
      'WEBHOOK_ALLOW_PRIVATE_NETWORKS',
    );
  });
});

describe('the start banner', () => {
  const baseEnv = { REDIS_URL: testRedisUrl(), FITROOM_API_KEYS: 'k' };
  const banner = (env: Record<string, string>) =>
    startBanner(loadConfig({ ...baseEnv, ...env }), {
      apiUrl: 'http://127.0.0.1:3000',
      simulatorUrl: null,
    });

  it('says /admin is open in dev mode, where /admin/status does answer without a token', async () => {
    const text = banner({});
    expect(text).toContain('dev mode');
    expect(text).toMatch(/admin .*\/admin\/status: open/);
    expect(text).not.toMatch(/disabled/i);
    const dev = await buildTestApp({ storage: 'fs', env: { API_TOKENS: '', ADMIN_TOKEN: '' } });
    try {
      const res = await dev.app.inject({ method: 'GET', url: '/admin/status' });
      expect(res.statusCode).toBe(200);
    } finally {
      await dev.close();
    }
  });

  it('says which token /admin needs, or that it is disabled, as the API behaves', async () => {
    // With API_TOKENS, WEBHOOK_SECRET is required (packages/config).
    const tenants = { API_TOKENS: 'acme:tok-0123456789', WEBHOOK_SECRET: 'whsec-0123456789abcdef' };
    expect(banner({ ...tenants, ADMIN_TOKEN: 'adm-0123456789' })).toMatch(
      /admin\/status: needs .*ADMIN_TOKEN/,
    );
    expect(banner(tenants)).toMatch(/admin\/status: disabled/);
    const res = await t.app.inject({ method: 'GET', url: '/admin/status' });
    expect(res.statusCode).toBe(401);
  });

  it('is a few lines: the URLs, the mode and where data goes', () => {
    const text = banner({ DATA_DIR: '/srv/tryon-data' });
    const lines = text.trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(10);
    expect(text).toContain('http://127.0.0.1:3000/ui');
    expect(text).toContain('http://127.0.0.1:3000/docs');
    expect(text).toContain('/srv/tryon-data');
  });
});

describe('a port already in use', () => {
  let blocker: Server;
  let port: number;
  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    port = (blocker.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

  it('stops `pnpm start:api` with one line naming the port and PORT, no stack trace', async () => {
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', main], {
      env: {
        ...process.env,
        REDIS_URL: testRedisUrl(),
        QUEUE_PREFIX: uniqueId('port'),
        HOST: '127.0.0.1',
        PORT: String(port),
        FITROOM_API_KEYS: 'k',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`port ${port} is in use (another \`pnpm start\`?), set PORT`);
  }, 60_000);
});
