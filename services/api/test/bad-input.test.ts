import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, ItemsPage } from '@tryon/domain';
import { makeImage } from '@tryon/testing';
import { auth, buildTestApp, imageUrl, multipart, TOKENS, type TestApp } from './helper.js';

/**
 * Every documented kind of bad input to every route answers its 4xx with
 * `{ "error": { "code", "message" } }`: one row per (route, bad input).
 */

let t: TestApp;
let batchId: string;
let itemId: string;
let files: {
  jpeg: Buffer;
  truncated: Buffer;
  gif: Buffer;
  big: Buffer;
};

beforeAll(async () => {
  t = await buildTestApp({ env: { UPLOAD_MAX_BYTES: String(128 * 1024) } });
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/batches',
    headers: auth(TOKENS.acme),
    payload: { items: [{ model: imageUrl('m'), cloth: imageUrl('c'), cloth_type: 'upper' }] },
  });
  batchId = res.json<Batch>().id;
  const page = await t.app.inject({
    method: 'GET',
    url: `/v1/batches/${batchId}/items`,
    headers: auth(TOKENS.acme),
  });
  itemId = page.json<ItemsPage>().items[0]!.id;
  const noisy = sharp({
    create: {
      width: 300,
      height: 300,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  });
  const jpeg = await noisy.clone().jpeg().toBuffer();
  files = {
    jpeg: await makeImage({ width: 10, height: 10 }),
    truncated: jpeg.subarray(0, jpeg.length - 2000),
    gif: await sharp({ create: { width: 4, height: 4, channels: 3, background: '#fff' } })
      .gif()
      .toBuffer(),
    big: await noisy.clone().png().toBuffer(),
  };
});
afterAll(() => t.close());

interface Case {
  name: string;
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT';
  url: string | (() => string);
  headers?: Record<string, string>;
  /** JSON body (serialised), or raw text/bytes with the given content type. */
  json?: unknown;
  raw?: string | Buffer | (() => { payload: Buffer; headers: Record<string, string> });
  contentType?: string;
  status: number;
  code: string;
}

const item = (overrides: Record<string, unknown> = {}) => ({
  model: imageUrl('model'),
  cloth: imageUrl('cloth'),
  cloth_type: 'upper',
  ...overrides,
});
const garment = (overrides: Record<string, unknown> = {}) => ({
  cloth: imageUrl('cloth'),
  cloth_type: 'upper',
  ...overrides,
});
const matrix = (overrides: Record<string, unknown> = {}) => ({
  matrix: { models: [imageUrl('model')], garments: [garment()], ...overrides },
});
const big = (bytes: number) => ({ blob: 'x'.repeat(bytes) });

const batch = (name: string, json: unknown, status: number, code: string): Case => ({
  name: `POST /v1/batches: ${name}`,
  method: 'POST',
  url: '/v1/batches',
  json,
  status,
  code,
});
const badRef = (name: string, ref: string, code = 'invalid_image_url'): Case =>
  batch(`image ref ${name}`, { items: [item({ cloth: ref })] }, 422, code);
const badHook = (name: string, url: unknown, status = 422, code = 'invalid_webhook_url'): Case =>
  batch(`webhook_url ${name}`, { items: [item()], webhook_url: url }, status, code);
const upload =
  (...parts: Parameters<typeof multipart>) =>
  () =>
    multipart(...parts);

const cases: Case[] = [
  // POST /v1/batches: shape
  batch('body is an array', [item()], 400, 'validation_error'),
  batch('body is a string', 'items', 400, 'validation_error'),
  batch(
    'neither items nor matrix',
    { webhook_url: 'https://93.184.216.34/h' },
    400,
    'validation_error',
  ),
  batch('both items and matrix', { items: [item()], ...matrix() }, 400, 'validation_error'),
  batch('items is empty', { items: [] }, 400, 'validation_error'),
  batch('items is an object', { items: item() }, 400, 'validation_error'),
  batch(
    'item without model',
    { items: [{ cloth: imageUrl('c'), cloth_type: 'upper' }] },
    400,
    'validation_error',
  ),
  batch(
    'item without cloth',
    { items: [{ model: imageUrl('m'), cloth_type: 'upper' }] },
    400,
    'validation_error',
  ),
  batch(
    'item without cloth_type',
    { items: [{ model: imageUrl('m'), cloth: imageUrl('c') }] },
    400,
    'validation_error',
  ),
  batch('unknown cloth_type', { items: [item({ cloth_type: 'hat' })] }, 400, 'validation_error'),
  batch('model is a number', { items: [item({ model: 42 })] }, 400, 'validation_error'),
  batch('model is null', { items: [item({ model: null })] }, 400, 'validation_error'),
  batch('model is empty', { items: [item({ model: '' })] }, 400, 'validation_error'),
  batch(
    'model is over 2048 characters',
    { items: [item({ model: `${imageUrl('m')}?${'a'.repeat(2100)}` })] },
    400,
    'validation_error',
  ),
  batch(
    'hd_mode is the string "true"',
    { items: [item({ hd_mode: 'true' })] },
    400,
    'validation_error',
  ),
  batch('hd_mode is 1', { items: [item({ hd_mode: 1 })] }, 400, 'validation_error'),
  batch('unknown item field', { items: [item({ colour: 'red' })] }, 400, 'validation_error'),
  batch('unknown top-level field', { items: [item()], callback: 'x' }, 400, 'validation_error'),
  batch(
    'combo without lower_cloth',
    { items: [item({ cloth_type: 'combo' })] },
    400,
    'validation_error',
  ),
  batch(
    'lower_cloth without combo',
    { items: [item({ lower_cloth: imageUrl('l') })] },
    400,
    'validation_error',
  ),
  batch('external_id is empty', { items: [item({ external_id: '' })] }, 400, 'validation_error'),
  batch(
    'external_id is over 256 characters',
    { items: [item({ external_id: 'e'.repeat(300) })] },
    400,
    'validation_error',
  ),
  batch('external_id is a number', { items: [item({ external_id: 7 })] }, 400, 'validation_error'),
  batch(
    'item metadata is an array',
    { items: [item({ metadata: [1, 2] })] },
    400,
    'validation_error',
  ),
  batch(
    'item metadata over 16 KiB',
    { items: [item({ metadata: big(17_000) })] },
    400,
    'validation_error',
  ),
  batch(
    'batch metadata over 16 KiB',
    { items: [item()], metadata: big(17_000) },
    400,
    'validation_error',
  ),
  batch('batch metadata is a string', { items: [item()], metadata: 'x' }, 400, 'validation_error'),
  batch('priority above 10', { items: [item()], priority: 11 }, 400, 'validation_error'),
  batch('priority is a string', { items: [item()], priority: 'high' }, 400, 'validation_error'),
  batch('priority is fractional', { items: [item()], priority: 1.5 }, 400, 'validation_error'),
  batch(
    'idempotency_key is empty',
    { items: [item()], idempotency_key: '' },
    400,
    'validation_error',
  ),
  batch(
    'idempotency_key is over 255 characters',
    { items: [item()], idempotency_key: 'k'.repeat(300) },
    400,
    'validation_error',
  ),
  // matrix
  batch('matrix without models', { matrix: { garments: [garment()] } }, 400, 'validation_error'),
  batch('matrix with no models', matrix({ models: [] }), 400, 'validation_error'),
  batch('matrix with no garments', matrix({ garments: [] }), 400, 'validation_error'),
  batch(
    'matrix garment combo without lower_cloth',
    matrix({ garments: [garment(), garment({ cloth_type: 'combo' })] }),
    400,
    'validation_error',
  ),
  batch(
    'matrix garment with unknown field',
    matrix({ garments: [garment({ size: 'M' })] }),
    400,
    'validation_error',
  ),
  batch(
    'matrix garment with metadata',
    matrix({ garments: [garment({ metadata: {} })] }),
    400,
    'validation_error',
  ),
  batch('matrix with unknown field', matrix({ extra: true }), 400, 'validation_error'),
  batch('matrix hd_mode is "yes"', matrix({ hd_mode: 'yes' }), 400, 'validation_error'),
  batch('matrix model is a number', matrix({ models: [1] }), 400, 'validation_error'),
  // too many items
  batch(
    'matrix of 101 x 100 items',
    matrix({
      models: Array.from({ length: 101 }, (_, i) => imageUrl(`m${i}`)),
      garments: Array.from({ length: 100 }, (_, i) => garment({ cloth: imageUrl(`g${i}`) })),
    }),
    422,
    'too_many_items',
  ),
  batch(
    '10,001 items',
    { items: Array.from({ length: 10_001 }, () => item()) },
    422,
    'too_many_items',
  ),
  // image refs
  badRef('unknown asset id', 'ast_0123456789abcdef0123456789abcdef', 'asset_not_found'),
  badRef('malformed asset id', 'ast_not-an-id', 'asset_not_found'),
  badRef('plain text', 'just-a-file-name.jpg'),
  badRef('http URL', 'http://93.184.216.34/a.jpg'),
  badRef('ftp URL', 'ftp://93.184.216.34/a.jpg'),
  badRef('file URL', 'file:///etc/passwd'),
  badRef('data URL', 'data:image/png;base64,AAAA'),
  badRef('loopback IPv4', 'https://127.0.0.1/a.jpg'),
  badRef('localhost', 'https://localhost/a.jpg'),
  badRef('private 10/8', 'https://10.1.2.3/a.jpg'),
  badRef('private 192.168/16', 'https://192.168.1.10/a.jpg'),
  badRef('cloud metadata', 'https://169.254.169.254/latest/meta-data'),
  badRef('IPv6 loopback', 'https://[::1]/a.jpg'),
  badRef('IPv6 ULA', 'https://[fd00::1]/a.jpg'),
  badRef('IPv4-mapped IPv6 loopback', 'https://[::ffff:127.0.0.1]/a.jpg'),
  badRef('decimal-encoded loopback', 'https://2130706433/a.jpg'),
  badRef('URL with credentials', 'https://user:pw@93.184.216.34/a.jpg'),
  batch(
    'private lower_cloth',
    { items: [item({ cloth_type: 'combo', lower_cloth: 'https://10.0.0.1/l.jpg' })] },
    422,
    'invalid_image_url',
  ),
  batch(
    'private matrix model',
    matrix({ models: ['https://192.168.0.1/m.jpg'] }),
    422,
    'invalid_image_url',
  ),
  // webhook_url
  badHook('is a number', 12, 400, 'validation_error'),
  badHook('is empty', '', 400, 'validation_error'),
  badHook('is not a URL', 'not a url'),
  badHook('is http', 'http://93.184.216.34/hook'),
  badHook('is ftp', 'ftp://93.184.216.34/hook'),
  badHook('is loopback', 'https://127.0.0.1/hook'),
  badHook('is localhost', 'https://localhost:8080/hook'),
  badHook('is private', 'https://10.0.0.5/hook'),
  badHook('is link-local', 'https://169.254.169.254/hook'),
  badHook('is IPv6 loopback', 'https://[::1]/hook'),
  badHook('has credentials', 'https://u:p@93.184.216.34/hook'),
  // encoding and content type
  {
    name: 'POST /v1/batches: malformed JSON',
    method: 'POST',
    url: '/v1/batches',
    raw: '{"items": [',
    contentType: 'application/json',
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'POST /v1/batches: JSON with trailing garbage',
    method: 'POST',
    url: '/v1/batches',
    raw: '{"items": []} x',
    contentType: 'application/json',
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'POST /v1/batches: __proto__ key',
    method: 'POST',
    url: '/v1/batches',
    raw: '{"items":[],"__proto__":{"admin":true}}',
    contentType: 'application/json',
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'POST /v1/batches: empty JSON body',
    method: 'POST',
    url: '/v1/batches',
    raw: '',
    contentType: 'application/json',
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'POST /v1/batches: text/plain',
    method: 'POST',
    url: '/v1/batches',
    raw: '{"items":[]}',
    contentType: 'text/plain',
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'POST /v1/batches: XML',
    method: 'POST',
    url: '/v1/batches',
    raw: '<batch/>',
    contentType: 'application/xml',
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'POST /v1/batches: form-urlencoded',
    method: 'POST',
    url: '/v1/batches',
    raw: 'items=1',
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'POST /v1/batches: body over 16 MiB',
    method: 'POST',
    url: '/v1/batches',
    raw: `{"metadata":{"x":"${'a'.repeat(17 * 1024 * 1024)}"}}`,
    contentType: 'application/json',
    status: 413,
    code: 'body_too_large',
  },
  // reads: unknown ids, bad cursors, limits, status filters
  {
    name: 'GET /v1/batches/:id: unknown id',
    url: '/v1/batches/bat_00000000000000000000',
    status: 404,
    code: 'batch_not_found',
  },
  {
    name: 'GET /v1/batches/:id: id over 64 characters',
    url: `/v1/batches/${'b'.repeat(80)}`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches/:id/items: unknown batch',
    url: '/v1/batches/bat_00000000000000000000/items',
    status: 404,
    code: 'batch_not_found',
  },
  {
    name: 'GET /v1/batches/:id/items: cursor not base64 of ours',
    url: () => `/v1/batches/${batchId}/items?cursor=zzzz`,
    status: 400,
    code: 'invalid_cursor',
  },
  {
    name: 'GET /v1/batches/:id/items: forged cursor',
    url: () => `/v1/batches/${batchId}/items?cursor=${Buffer.from('p:-1').toString('base64url')}`,
    status: 400,
    code: 'invalid_cursor',
  },
  {
    name: 'GET /v1/batches/:id/items: cursor over 64 characters',
    url: () => `/v1/batches/${batchId}/items?cursor=${'c'.repeat(80)}`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches/:id/items: limit 0',
    url: () => `/v1/batches/${batchId}/items?limit=0`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches/:id/items: limit 501',
    url: () => `/v1/batches/${batchId}/items?limit=501`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches/:id/items: limit abc',
    url: () => `/v1/batches/${batchId}/items?limit=abc`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches/:id/items: limit 2.5',
    url: () => `/v1/batches/${batchId}/items?limit=2.5`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches/:id/items: limit -1',
    url: () => `/v1/batches/${batchId}/items?limit=-1`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches/:id/items: status bogus',
    url: () => `/v1/batches/${batchId}/items?status=done`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches/:id/items: status empty',
    url: () => `/v1/batches/${batchId}/items?status=`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches/:id/items: unknown parameter',
    url: () => `/v1/batches/${batchId}/items?sort=desc`,
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches: limit 0',
    url: '/v1/batches?limit=0',
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches: limit 101',
    url: '/v1/batches?limit=101',
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/batches: unknown parameter',
    url: '/v1/batches?tenant=globex',
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'GET /v1/items/:id: unknown id',
    url: '/v1/items/itm_00000000000000000000',
    status: 404,
    code: 'item_not_found',
  },
  {
    name: 'GET /v1/items/:id/result: unknown id',
    url: '/v1/items/itm_00000000000000000000/result',
    status: 404,
    code: 'item_not_found',
  },
  {
    name: 'GET /v1/items/:id/result: not completed',
    url: () => `/v1/items/${itemId}/result`,
    status: 404,
    code: 'result_not_ready',
  },
  {
    name: 'POST /v1/batches/:id/cancel: unknown id',
    method: 'POST',
    url: '/v1/batches/bat_00000000000000000000/cancel',
    status: 404,
    code: 'batch_not_found',
  },
  {
    name: 'POST /v1/batches/:id/retry: unknown id',
    method: 'POST',
    url: '/v1/batches/bat_00000000000000000000/retry',
    status: 404,
    code: 'batch_not_found',
  },
  {
    name: 'POST /v1/batches/:id/cancel: malformed JSON body',
    method: 'POST',
    url: () => `/v1/batches/${batchId}/cancel`,
    raw: '{',
    contentType: 'application/json',
    status: 400,
    code: 'invalid_json',
  },
  // uploads
  {
    name: 'POST /v1/assets: JSON instead of multipart',
    method: 'POST',
    url: '/v1/assets',
    json: { file: 'x' },
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'POST /v1/assets: no body at all',
    method: 'POST',
    url: '/v1/assets',
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'POST /v1/assets: no files',
    method: 'POST',
    url: '/v1/assets',
    raw: upload([]),
    status: 400,
    code: 'no_files',
  },
  {
    name: 'POST /v1/assets: a text field',
    method: 'POST',
    url: '/v1/assets',
    raw: upload([], { note: 'hi' }),
    status: 400,
    code: 'validation_error',
  },
  {
    name: 'POST /v1/assets: text renamed .jpg',
    method: 'POST',
    url: '/v1/assets',
    raw: upload([
      {
        field: 'f',
        filename: 'f.jpg',
        contentType: 'image/jpeg',
        data: Buffer.from('hello, not an image\n'.repeat(40)),
      },
    ]),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'POST /v1/assets: GIF',
    method: 'POST',
    url: '/v1/assets',
    raw: () => multipart([{ field: 'f', filename: 'f.gif', data: files.gif }]),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'POST /v1/assets: empty file',
    method: 'POST',
    url: '/v1/assets',
    raw: upload([{ field: 'f', filename: 'f.jpg', data: Buffer.alloc(0) }]),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'POST /v1/assets: truncated JPEG',
    method: 'POST',
    url: '/v1/assets',
    raw: () => multipart([{ field: 'f', filename: 'f.jpg', data: files.truncated }]),
    status: 422,
    code: 'invalid_image',
  },
  {
    name: 'POST /v1/assets: JPEG header, garbage after',
    method: 'POST',
    url: '/v1/assets',
    raw: () =>
      multipart([
        {
          field: 'f',
          filename: 'f.jpg',
          data: Buffer.concat([files.jpeg.subarray(0, 200), Buffer.alloc(500, 7)]),
        },
      ]),
    status: 422,
    code: 'invalid_image',
  },
  {
    name: 'POST /v1/assets: file over the cap',
    method: 'POST',
    url: '/v1/assets',
    raw: () => multipart([{ field: 'f', filename: 'f.png', data: files.big }]),
    status: 413,
    code: 'file_too_large',
  },
  {
    name: 'POST /v1/assets: too many files',
    method: 'POST',
    url: '/v1/assets',
    raw: () =>
      multipart(
        Array.from({ length: 21 }, (_, i) => ({
          field: `f${i}`,
          filename: 'f.jpg',
          data: files.jpeg,
        })),
      ),
    status: 400,
    code: 'too_many_files',
  },
  {
    name: 'POST /v1/assets: multipart without boundary',
    method: 'POST',
    url: '/v1/assets',
    raw: 'garbage',
    contentType: 'multipart/form-data',
    status: 400,
    code: 'invalid_multipart',
  },
  {
    name: 'POST /v1/assets: multipart cut short',
    method: 'POST',
    url: '/v1/assets',
    raw: () => {
      const m = multipart([{ field: 'f', filename: 'f.jpg', data: files.jpeg }]);
      return { payload: m.payload.subarray(0, m.payload.length - 60), headers: m.headers };
    },
    status: 400,
    code: 'invalid_multipart',
  },
  // credentials and routes
  {
    name: 'GET /v1/batches: no token',
    url: '/v1/batches',
    headers: {},
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'GET /v1/batches: wrong token',
    url: '/v1/batches',
    headers: auth('wrong-token-123456'),
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'GET /v1/batches: Basic scheme',
    url: '/v1/batches',
    headers: { authorization: `Basic ${Buffer.from(`acme:${TOKENS.acme}`).toString('base64')}` },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'POST /v1/batches: no token',
    method: 'POST',
    url: '/v1/batches',
    headers: {},
    json: { items: [item()] },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'POST /v1/assets: no token',
    method: 'POST',
    url: '/v1/assets',
    headers: {},
    raw: upload([]),
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'GET /v1/items/:id: no token',
    url: () => `/v1/items/${itemId}`,
    headers: {},
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'GET /v1/webhooks/secret: no token',
    url: '/v1/webhooks/secret',
    headers: {},
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'GET /admin/status: no token',
    url: '/admin/status',
    headers: {},
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'GET /admin/status: tenant token',
    url: '/admin/status',
    status: 401,
    code: 'unauthorized',
  },
  { name: 'unknown route', url: '/v1/nothing-here', status: 404, code: 'not_found' },
  {
    name: 'unknown method on a route',
    method: 'DELETE',
    url: () => `/v1/batches/${batchId}`,
    status: 404,
    code: 'not_found',
  },
  { name: 'unknown top-level path', method: 'PUT', url: '/api/v2', status: 404, code: 'not_found' },
];

describe('bad input answers 4xx with { error: { code, message } }', () => {
  it('covers at least 60 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const headers: Record<string, string> = { ...(c.headers ?? auth(TOKENS.acme)) };
    let payload: string | Buffer | undefined;
    if (c.json !== undefined) {
      payload = JSON.stringify(c.json);
      headers['content-type'] = 'application/json';
    } else if (typeof c.raw === 'function') {
      const built = c.raw();
      payload = built.payload;
      Object.assign(headers, built.headers);
    } else if (c.raw !== undefined) {
      payload = c.raw;
      if (c.contentType) headers['content-type'] = c.contentType;
    }
    const res = await t.app.inject({
      method: c.method ?? 'GET',
      url: typeof c.url === 'function' ? c.url() : c.url,
      headers,
      ...(payload !== undefined ? { payload } : {}),
    });
    const body = res.json<{ error: { code: string; message: string } }>();
    expect({ status: res.statusCode, code: body.error?.code }).toEqual({
      status: c.status,
      code: c.code,
    });
    expect(Object.keys(body)).toEqual(['error']);
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
    expect(typeof body.error.message).toBe('string');
    expect(body.error.message.length).toBeGreaterThan(0);
  });

  it('names the offending field in validation messages', async () => {
    const send = (json: unknown) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/batches',
        headers: auth(TOKENS.acme),
        payload: json as object,
      });
    const message = async (json: unknown) =>
      (await send(json)).json<{ error: { message: string } }>().error.message;
    expect(await message({ items: [item(), item({ model: 5 })] })).toBe(
      'body/items/1/model must be string',
    );
    expect(await message({ items: [item({ colour: 'red' })] })).toBe(
      'body/items/0: unknown field "colour"',
    );
    expect(await message({ items: [item({ cloth_type: 'hat' })] })).toBe(
      'body/items/0/cloth_type must be one of "upper", "lower", "full_set", "combo"',
    );
    expect(await message({ items: [item(), item(), item({ cloth_type: 'combo' })] })).toContain(
      'body/items/2',
    );
    expect(await message({ items: [{ model: imageUrl('m'), cloth_type: 'upper' }] })).toContain(
      "'cloth'",
    );
  });

  it('stays up and well after all of it', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(t.logs.join('')).not.toContain('"level":50');
  });
});
