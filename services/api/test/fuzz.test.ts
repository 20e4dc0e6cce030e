import { createConnection } from 'node:net';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, ItemsPage } from '@tryon/domain';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { makeImage } from '@tryon/testing';
import {
  auth,
  buildTestApp,
  completeItem,
  imageUrl,
  multipart,
  TOKENS,
  type TestApp,
} from './helper.js';

/**
 * Malformed requests across every route, from a seeded generator, against a real listening
 * server: no answer may be a 5xx, every 4xx carries its route's error shape, the process stays
 * up and its memory bounded. A failing case prints its seed index, so it can be replayed.
 */

/** Fixed, so CI replays the same requests; FUZZ_SEED=<n> explores other sequences locally. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_611);
const RANDOM_REQUESTS = 680;
const RSS_GROWTH_LIMIT = 200 * 1024 * 1024;
const MiB = 1024 * 1024;

/** mulberry32: small, fast, and the same sequence on every machine. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (max: number) => Math.floor(next() * max),
    pick<T>(items: readonly T[]): T {
      return items[Math.floor(next() * items.length)]!;
    },
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof prng>;

// ---------------------------------------------------------------------------------------------
// Files

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A PNG of a few hundred bytes whose header declares width x height RGB pixels. */
function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(64 * 1024))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A real JPEG whose frame header is rewritten to declare width x height. */
function jpegDeclaring(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i + 9 < out.length; i++) {
    if (out[i] === 0xff && out[i + 1] !== undefined && out[i + 1]! >= 0xc0 && out[i + 1]! <= 0xc2) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
  }
  throw new Error('no SOF marker');
}

interface Files {
  jpeg: Buffer;
  png: Buffer;
  webp: Buffer;
  files: { name: string; data: Buffer; type: string }[];
}

async function makeFiles(): Promise<Files> {
  const jpeg = await makeImage({ width: 64, height: 96, color: { r: 10, g: 200, b: 30 } });
  const png = await makeImage({ width: 40, height: 40, format: 'png' });
  const webp = await makeImage({ width: 32, height: 48, format: 'webp' });
  const noisy = await sharp({
    create: {
      width: 200,
      height: 200,
      channels: 3,
      background: '#777',
      noise: { type: 'gaussian', mean: 128, sigma: 50 },
    },
  })
    .jpeg()
    .toBuffer();
  const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#fff' } })
    .gif()
    .toBuffer();
  const files = [
    { name: 'jpeg', data: jpeg, type: 'image/jpeg' },
    { name: 'png', data: png, type: 'image/png' },
    { name: 'webp', data: webp, type: 'image/webp' },
    {
      name: 'text renamed .jpg',
      data: Buffer.from('not an image at all\n'.repeat(50)),
      type: 'image/jpeg',
    },
    { name: 'gif', data: gif, type: 'image/gif' },
    {
      name: 'svg',
      data: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>'),
      type: 'image/svg+xml',
    },
    {
      name: 'pdf',
      data: Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n'),
      type: 'application/pdf',
    },
    { name: 'empty', data: Buffer.alloc(0), type: 'image/png' },
    {
      name: 'truncated jpeg',
      data: noisy.subarray(0, Math.floor(noisy.length / 2)),
      type: 'image/jpeg',
    },
    { name: 'jpeg header only', data: jpeg.subarray(0, 120), type: 'image/jpeg' },
    { name: 'png header only', data: png.subarray(0, 33), type: 'image/png' },
    { name: 'png bomb 50000x50000', data: pngDeclaring(50_000, 50_000), type: 'image/png' },
    { name: 'png 1x4000000000', data: pngDeclaring(1, 4_000_000_000), type: 'image/png' },
    { name: 'png 0x0', data: pngDeclaring(0, 0), type: 'image/png' },
    {
      name: 'jpeg declaring 65000x65000',
      data: jpegDeclaring(jpeg, 65_000, 65_000),
      type: 'image/jpeg',
    },
    { name: 'jpeg declaring 0x0', data: jpegDeclaring(jpeg, 0, 0), type: 'image/jpeg' },
    {
      name: 'jpeg with garbage tail',
      data: Buffer.concat([jpeg.subarray(0, 300), Buffer.alloc(2000, 0xab)]),
      type: 'image/jpeg',
    },
    {
      name: 'random bytes',
      data: Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 131) % 256)),
      type: 'image/jpeg',
    },
    {
      name: 'riff not webp',
      data: Buffer.concat([Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8X'), Buffer.alloc(40, 0xff)]),
      type: 'image/webp',
    },
  ];
  return { jpeg, png, webp, files };
}

// ---------------------------------------------------------------------------------------------
// Requests

interface Spec {
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer | undefined;
}

interface World {
  acmeBatch: string;
  acmeItem: string;
  completedItem: string;
  globexBatch: string;
  globexItem: string;
  assetId: string;
  signedResult: string;
  cursor: string;
  files: Files;
}

const FITROOM = (path: string) => path.startsWith('/api/tryon');

const hugeString = (rng: Rng) => 'x'.repeat(rng.pick([300, 5_000, 70_000, 1_100_000]));

function idPool(world: World, rng: Rng): string {
  return rng.pick([
    world.acmeBatch,
    world.acmeItem,
    world.completedItem,
    world.globexBatch,
    world.globexItem,
    world.assetId,
    'bat_00000000000000000000',
    'itm_00000000000000000000',
    'x'.repeat(65),
    'b'.repeat(64),
    'y'.repeat(150),
    `bat_${'%41'.repeat(40)}`,
    `${world.acmeBatch}:items`,
    `${world.acmeBatch}:deliveries`,
    `${world.acmeBatch}:state:queued`,
    encodeURIComponent(`${world.acmeBatch}:replays`),
    '..%2F..%2Fetc%2Fpasswd',
    '%00',
    '%ZZ',
    '%E0%A4%A',
    '%F0%9F%92%A9%F0%9F%92%A9',
    encodeURIComponent("'; DROP TABLE batches; --"),
    encodeURIComponent('{"$gt":""}'),
    '123456',
    '-1',
    '0x10',
    '__proto__',
    'constructor',
    'null',
  ]);
}

function randomQuery(rng: Rng, world: World): string {
  const params: string[] = [];
  const count = 1 + rng.int(3);
  for (let i = 0; i < count; i++) {
    params.push(
      rng.pick([
        `limit=${rng.pick(['0', '-1', '1.5', 'abc', '', '1e3', '99999999999999999999', '10', '%205', '0x10', 'NaN', 'Infinity'])}`,
        'limit=1&limit=2',
        `cursor=${rng.pick(['zzzz', '', Buffer.from('p:-1').toString('base64url'), Buffer.from('p:99999999999').toString('base64url'), Buffer.from('p:1').toString('base64url'), world.cursor, '%00', 'c'.repeat(5000), '===='])}`,
        `status=${rng.pick(['done', '', 'QUEUED', 'completed', 'queued,failed', '%00'])}`,
        'status=completed&status=failed',
        `expires=${rng.pick(['', '-1', '1e99', 'abc', '99999999999'])}`,
        `signature=${rng.pick(['', '00', 'z'.repeat(64), 'a'.repeat(5000)])}`,
        '__proto__[admin]=1',
        'constructor[prototype][x]=1',
        `unknown=${rng.int(100)}`,
        `q=${'%41'.repeat(rng.pick([10, 3000]))}`,
        '&&&==&',
      ]),
    );
  }
  return `?${params.join('&')}`;
}

function authFor(path: string, rng: Rng): Record<string, string> {
  if (FITROOM(path)) {
    if (rng.chance(0.7)) return { 'x-api-key': TOKENS.acme };
    return rng.pick<Record<string, string>>([
      { 'x-api-key': TOKENS.globex },
      {},
      { 'x-api-key': 'wrong-key' },
      { 'x-api-key': 'k'.repeat(8000) },
      auth(TOKENS.acme),
    ]);
  }
  if (path.startsWith('/admin')) {
    if (rng.chance(0.7)) return auth(TOKENS.admin);
    return rng.pick([auth(TOKENS.acme), {}, auth('nope-nope-nope')]);
  }
  // Mostly the right credentials, so the damage reaches past the token check.
  if (rng.chance(0.7)) return auth(TOKENS.acme);
  return rng.pick([
    auth(TOKENS.globex),
    {},
    auth('wrong-token-0123456789'),
    { authorization: `Basic ${Buffer.from(`acme:${TOKENS.acme}`).toString('base64')}` },
    { authorization: 'Bearer' },
    { authorization: `Bearer ${TOKENS.acme} extra` },
    { authorization: `Bearer ${'t'.repeat(8000)}` },
    auth(TOKENS.admin),
  ]);
}

/** A valid batch body, to be broken by mutations. */
function batchBody(world: World, rng: Rng): Record<string, unknown> {
  const ref = () => rng.pick([world.assetId, imageUrl(`r${rng.int(5)}`)]);
  if (rng.chance(0.5)) {
    return {
      items: [
        { model: ref(), cloth: ref(), cloth_type: 'upper', external_id: 'e1', metadata: { a: 1 } },
        { model: ref(), cloth: ref(), lower_cloth: ref(), cloth_type: 'combo', hd_mode: true },
      ],
      webhook_url: 'https://93.184.216.34/hooks',
      metadata: { source: 'fuzz' },
    };
  }
  return {
    matrix: {
      models: [ref(), ref()],
      garments: [{ cloth: ref(), cloth_type: 'lower', external_id: 'g' }],
      hd_mode: false,
    },
    idempotency_key: `fuzz-${rng.int(1_000_000)}`,
  };
}

function randomValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => null,
    () => rng.int(1000) - 500,
    () => 1.5,
    () => -0,
    () => 1e308,
    () => true,
    () => '',
    () => hugeString(rng),
    () => '\u0000\ud800\uffff',
    () => [],
    () => [1, 'a', null],
    () => ({}),
    () => ({ nested: { deeper: [1, 2, 3] } }),
    () => 'https://127.0.0.1/x.jpg',
    () => 'https://[::ffff:169.254.169.254]/x',
    () => 'ast_ffffffffffffffffffffffffffffffff',
    () => 'file:///etc/passwd',
    () => 'javascript:alert(1)',
    () => 'https://93.184.216.34/' + 'a'.repeat(3000),
  ])();
}

/** Breaks a JSON value at a random spot: wrong type, missing or unknown field, huge string, deep. */
function mutate(value: unknown, rng: Rng, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || (depth > 0 && rng.chance(0.3))) {
    return randomValue(rng);
  }
  if (Array.isArray(value)) {
    const copy = [...(value as unknown[])];
    const op = rng.int(4);
    if (op === 0 || copy.length === 0) copy.push(randomValue(rng));
    else if (op === 1) copy.splice(rng.int(copy.length), 1);
    else {
      const i = rng.int(copy.length);
      copy[i] = mutate(copy[i], rng, depth + 1);
    }
    return copy;
  }
  const copy = { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const op = rng.int(4);
  if (op === 0 || keys.length === 0)
    copy[rng.pick(['colour', 'callback', 'tenant', 'id', '', 'a'.repeat(200)])] = randomValue(rng);
  else if (op === 1) delete copy[rng.pick(keys)];
  else {
    const k = rng.pick(keys);
    copy[k] = mutate(copy[k], rng, depth + 1);
  }
  return copy;
}

function deepJson(rng: Rng): string {
  const depth = rng.pick([65, 5_000, 20_000, 200_000]);
  if (rng.chance(0.25)) return '['.repeat(depth) + ']'.repeat(depth);
  const nested = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  const item = `{"model":"${imageUrl('m')}","cloth":"${imageUrl('c')}","cloth_type":"upper"`;
  return rng.chance(0.5)
    ? `{"items":[${item},"metadata":${nested}}]}`
    : `{"items":[${item}}],"metadata":${nested}}`;
}

const BAD_JSON = [
  '{',
  '{"items": [',
  '{"items": []} x',
  '{"a":1}{"b":2}',
  "{'items': []}",
  '{"items": [1,]}',
  '{"limit": NaN}',
  '\ufeff{"items":[]}',
  'null',
  'true',
  '"string"',
  '12',
  '[]',
  '{"__proto__":{"admin":true}}',
  '{"constructor":{"prototype":{"admin":true}}}',
  '{"items":[{"model":"a","model":"b"}]}',
  '\u0000',
  '{"\ud800":1}',
];

const CONTENT_TYPES = [
  'text/plain',
  'application/xml',
  'application/x-www-form-urlencoded',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/jsonx',
  'APPLICATION/JSON',
  'multipart/form-data',
  'multipart/form-data; boundary=',
  'multipart/form-data; boundary="unterminated',
  'multipart/mixed; boundary=abc',
  'image/jpeg',
  ';;;',
  'a'.repeat(2000),
];

function multipartBody(
  world: World,
  rng: Rng,
  path: string,
): { body: Buffer; headers: Record<string, string> } {
  const file = () => rng.pick(world.files.files);
  const fitroomFields = path.includes('/v2/tasks')
    ? ['model_image', 'cloth_image', 'lower_cloth_image']
    : path.includes('input_check')
      ? ['input_image']
      : ['file', 'f', 'image'];
  const fieldName = () =>
    rng.chance(0.85)
      ? rng.pick(fitroomFields)
      : rng.pick(['', 'x'.repeat(300), 'file"; name="x', '../../etc', '\u00e9t\u00e9']);
  const shape = rng.int(10);
  if (shape === 0) {
    // More files than allowed.
    return wrap(
      multipart(
        Array.from({ length: 21 + rng.int(10) }, (_, i) => ({
          field: `${fieldName()}${i}`,
          filename: 'f.jpg',
          data: world.files.jpeg,
        })),
      ),
    );
  }
  if (shape === 1) {
    // Text fields only, or too many of them.
    const fields: Record<string, string> = {};
    for (let i = 0; i < rng.pick([1, 3, 40]); i++)
      fields[`field${i}`] = rng.pick(['upper', 'true', hugeString(rng).slice(0, 2_000_000)]);
    return wrap(multipart([], fields));
  }
  if (shape === 2) {
    // Cut short, or with the closing boundary missing.
    const m = multipart([{ field: fieldName(), filename: 'f.jpg', data: file().data }]);
    return {
      body: m.payload.subarray(0, Math.max(10, m.payload.length - 1 - rng.int(200))),
      headers: m.headers,
    };
  }
  if (shape === 3) {
    // A boundary the body does not use.
    const m = multipart([{ field: fieldName(), filename: 'f.jpg', data: file().data }]);
    return {
      body: m.payload,
      headers: { 'content-type': 'multipart/form-data; boundary=not-the-one' },
    };
  }
  if (shape === 4) {
    // Garbage where parts should be.
    return {
      body: Buffer.from(`--b\r\n${'garbage\r\n'.repeat(50)}--b--\r\n`),
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
    };
  }
  if (shape === 5) {
    // Hostile part headers.
    const body = Buffer.from(
      '--b\r\nContent-Disposition: form-data; name="model_image"; filename="../../../../etc/passwd"\r\n' +
        `Content-Type: ${'x'.repeat(rng.pick([10, 20_000]))}\r\n\r\n` +
        'data\r\n--b\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--b--\r\n',
    );
    return { body, headers: { 'content-type': 'multipart/form-data; boundary=b' } };
  }
  // Plausible forms with random files and fields.
  const files = Array.from({ length: 1 + rng.int(3) }, () => {
    const f = file();
    return {
      field: fieldName(),
      filename: rng.pick(['a.jpg', 'b.png', '', 'x'.repeat(500), 'évil".jpg']),
      contentType: f.type,
      data: f.data,
    };
  });
  const fields: Record<string, string> = {};
  if (rng.chance(0.7))
    fields.cloth_type = rng.pick(['upper', 'lower', 'full_set', 'combo', 'hat', '', 'UPPER']);
  if (rng.chance(0.3)) fields.hd_mode = rng.pick(['true', 'false', 'yes', '1', '']);
  if (rng.chance(0.2)) fields.model_image = 'i am text, not a file';
  return wrap(multipart(files, fields));
}

const wrap = (m: { payload: Buffer; headers: Record<string, string> }) => ({
  body: m.payload,
  headers: m.headers,
});

const ODD_METHODS = [
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'HEAD',
  'TRACE',
  'PROPFIND',
  'SEARCH',
  'LOCK',
  'MKCOL',
  'PURGE',
];

const KINDS = [
  'id',
  'json-mutated',
  'query',
  'json-deep',
  'auth',
  'multipart',
  'json-bad',
  'method',
  'json-mutated',
  'json-huge',
  'content-type',
  'multipart',
  'headers',
  'body-on-get',
] as const;

/** One malformed request for a route, with the given kind of damage, the details random. */
function generate(
  route: { method: string; path: string },
  world: World,
  rng: Rng,
  index: number,
  kindIndex: number,
): Spec {
  const template = route.path;
  let path = template.replace('{id}', () =>
    template.startsWith('/api/tryon/v2/results')
      ? rng.pick([world.completedItem, world.acmeItem, idPool(world, rng)])
      : rng.chance(0.6)
        ? idPool(world, rng)
        : template.includes('/items')
          ? world.acmeItem
          : world.acmeBatch,
  );
  let method = route.method;
  let headers = authFor(template, rng);
  let body: string | Buffer | undefined;
  const kind = KINDS[kindIndex % KINDS.length]!;
  const isMultipartRoute = [
    '/v1/assets',
    '/api/tryon/v2/tasks',
    '/api/tryon/input_check/v1/model',
    '/api/tryon/input_check/v1/clothes',
  ].includes(template);
  const json = (value: unknown) => {
    body = JSON.stringify(value);
    headers = { ...headers, 'content-type': 'application/json' };
  };
  switch (kind) {
    case 'id':
      path = template.replace('{id}', idPool(world, rng));
      break;
    case 'query':
      path += randomQuery(rng, world);
      if (template === '/api/tryon/v2/results/{id}' && rng.chance(0.5))
        path = world.signedResult + '&' + randomQuery(rng, world).slice(1);
      break;
    case 'auth':
      break;
    case 'method':
      method = rng.pick(ODD_METHODS);
      break;
    case 'json-mutated': {
      let value: unknown =
        template === '/v1/batches' || isMultipartRoute
          ? batchBody(world, rng)
          : rng.pick([{}, { reason: 'x' }, []]);
      for (let i = 0, n = 1 + rng.int(3); i < n; i++) value = mutate(value, rng);
      json(value);
      break;
    }
    case 'json-bad':
      body = rng.pick(BAD_JSON);
      headers = { ...headers, 'content-type': 'application/json' };
      break;
    case 'json-deep':
      body = deepJson(rng);
      headers = { ...headers, 'content-type': 'application/json' };
      break;
    case 'json-huge':
      json({
        ...batchBody(world, rng),
        metadata: { blob: hugeString(rng) },
        idempotency_key: hugeString(rng),
      });
      break;
    case 'multipart': {
      const m = multipartBody(
        world,
        rng,
        isMultipartRoute ? template : rng.pick(['/v1/assets', '/api/tryon/v2/tasks']),
      );
      body = m.body;
      headers = { ...headers, ...m.headers };
      break;
    }
    case 'content-type':
      body = rng.pick(['{"items":[]}', 'items=1', '<batch/>', '--b--', '']);
      headers = { ...headers, 'content-type': rng.pick(CONTENT_TYPES) };
      break;
    case 'headers':
      headers = {
        ...headers,
        ...rng.pick<Record<string, string>>([
          {
            'x-request-id': rng.pick(['a'.repeat(500), 'id with spaces', '../../x', '{"json":1}']),
          },
          { accept: 'application/xml' },
          { accept: 'image/*;q=0.1, */*;q=0' },
          { 'accept-encoding': 'gzip, br, zstd, ' + 'x'.repeat(1000) },
          { 'content-encoding': 'gzip' },
          { 'x-forwarded-for': '127.0.0.1, ::1, not-an-ip' },
          { host: 'evil.example' },
          { 'x-http-method-override': 'DELETE' },
          { range: 'bytes=0-1,2-3,-1' },
          { 'if-none-match': '*' },
        ]),
      };
      if (route.method === 'POST' && rng.chance(0.5)) json(batchBody(world, rng));
      break;
    case 'body-on-get':
      if (route.method === 'GET') {
        body = rng.pick(['{"limit":5}', 'garbage', hugeString(rng)]);
        headers = { ...headers, 'content-type': rng.pick(['application/json', 'text/plain']) };
      } else {
        body = undefined; // POST with no body at all
      }
      break;
  }
  return {
    label: `#${index} ${kind}: ${method} ${path.slice(0, 120)}`,
    method,
    path,
    headers,
    body,
  };
}

// ---------------------------------------------------------------------------------------------
// Checks

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Problems with one answer: a 5xx, or a 4xx without its route's error shape. */
function problemsWith(
  spec: { label: string; method: string; path: string },
  answer: Answer,
): string[] {
  if (answer.status >= 500)
    return [`${spec.label} -> ${answer.status} ${answer.text.slice(0, 200)}`];
  if (answer.status < 400 || spec.method === 'HEAD') return [];
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return [
      `${spec.label} -> ${answer.status} with a body that is not JSON: ${answer.text.slice(0, 120)}`,
    ];
  }
  const b = body as { error?: unknown; message?: unknown };
  const fitroomShape =
    typeof b.error === 'string' && typeof b.message === 'string' && Object.keys(b).length === 2;
  const ourShape =
    Object.keys(b).length === 1 &&
    typeof b.error === 'object' &&
    b.error !== null &&
    typeof (b.error as { code?: unknown }).code === 'string' &&
    typeof (b.error as { message?: unknown }).message === 'string' &&
    Object.keys(b.error).length === 2;
  // FitRoom's shape on its routes (what FitRoom clients parse), ours everywhere else.
  const ok = FITROOM(spec.path) ? fitroomShape : ourShape;
  return ok
    ? []
    : [`${spec.label} -> ${answer.status} without the error shape: ${answer.text.slice(0, 200)}`];
}

let sim: RunningSim;
let t: TestApp;
let base: string;
let port: number;
let world: World;
let routes: { method: string; path: string }[];
let rssBefore: number;

/**
 * Every request on a connection of its own: a server may close a keep-alive connection after an
 * answer whose body it did not read, and a pooled client could pick that connection just then.
 */
async function post(
  path: string,
  options: { method: string; headers: Record<string, string>; body?: string | Buffer },
): Promise<Answer> {
  const client = new Client(base);
  try {
    const res = await client.request({
      path,
      method: options.method,
      headers: options.headers,
      body: options.body,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  } finally {
    await client.close().catch(() => undefined);
  }
}

const send = (spec: Spec): Promise<Answer> => post(spec.path, spec);

/** Writes raw bytes on a fresh connection and reads the answer until the server closes it. */
function raw(bytes: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 20 s')), 20_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (chunks.length > 0) finish();
      else reject(error);
    });
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const bodyAt = text.indexOf('\r\n\r\n');
      resolve({ status, headers: {}, text: bodyAt < 0 ? '' : text.slice(bodyAt + 4) });
    };
    socket.on('end', finish);
    socket.write(bytes);
  });
}

const HUNDRED_MB_CHUNK = Buffer.alloc(MiB, 0x5a);

/**
 * POSTs a body of any size over a raw socket with chunked encoding, one chunk at a time as the
 * socket drains (never buffered), reading the answer all along. A server may answer early and
 * close the connection while the body is still being sent: writes after that are dropped and
 * the answer already read is the result.
 */
function streamUpload(
  path: string,
  headers: Record<string, string>,
  chunks: Iterator<Buffer>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    let done = false;
    const timer = setTimeout(() => finish(new Error('no answer within 60 s')), 60_000);
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(received).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (status === 0) {
        reject(error ?? new Error('the connection closed without an answer'));
        return;
      }
      const bodyAt = text.indexOf('\r\n\r\n');
      resolve({ status, headers: {}, text: text.slice(bodyAt + 4) });
    };
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      // A complete answer (its Content-Length of body read) is all this needs.
      const text = Buffer.concat(received).toString('latin1');
      const bodyAt = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(text)?.[1];
      if (bodyAt >= 0 && length !== undefined && text.length - bodyAt - 4 >= Number(length)) {
        finish();
      }
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish());
    const head = Object.entries({ ...headers, host: '127.0.0.1', 'transfer-encoding': 'chunked' })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
    const pump = () => {
      for (let next = chunks.next(); !done; next = chunks.next()) {
        if (next.done) {
          socket.write('0\r\n\r\n');
          return;
        }
        const frame = Buffer.concat([
          Buffer.from(`${next.value.length.toString(16)}\r\n`),
          next.value,
          Buffer.from('\r\n'),
        ]);
        if (!socket.write(frame)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

beforeAll(async () => {
  sim = await startSim({
    timeScale: 50,
    keys: { 'fuzz-fitroom-key': 1_000_000 },
    rateLimit: 100_000,
    seed: 3,
  });
  t = await buildTestApp({
    env: {
      API_RATE_LIMIT: '0',
      FITROOM_BASE_URL: sim.url,
      FITROOM_API_KEYS: 'fuzz-fitroom-key',
      FITROOM_RATE_LIMIT: '100000',
    },
  });
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
  const files = await makeFiles();
  const upload = multipart([{ field: 'f', filename: 'm.jpg', data: files.jpeg }]);
  const asset = await send({
    label: 'setup',
    method: 'POST',
    path: '/v1/assets',
    headers: { ...auth(TOKENS.acme), ...upload.headers },
    body: upload.payload,
  });
  const assetId = (JSON.parse(asset.text) as { assets: { id: string }[] }).assets[0]!.id;
  const submit = async (token: string) => {
    const res = await send({
      label: 'setup',
      method: 'POST',
      path: '/v1/batches',
      headers: { ...auth(token), 'content-type': 'application/json' },
      body: JSON.stringify({
        items: Array.from({ length: 3 }, (_, i) => ({
          model: imageUrl(`m${i}`),
          cloth: imageUrl(`c${i}`),
          cloth_type: 'upper',
        })),
        webhook_url: 'https://93.184.216.34/hooks',
      }),
    });
    const batch = JSON.parse(res.text) as Batch;
    const page = JSON.parse(
      (
        await send({
          label: 'setup',
          method: 'GET',
          path: `/v1/batches/${batch.id}/items?limit=1`,
          headers: auth(token),
        })
      ).text,
    ) as ItemsPage;
    return { batch: batch.id, item: page.items[0]!.id, cursor: page.next_cursor! };
  };
  const acme = await submit(TOKENS.acme);
  const globex = await submit(TOKENS.globex);
  const completed = (await t.records.getItem(acme.item))!;
  await completeItem(t, completed, files.jpeg);
  const task = JSON.parse(
    (
      await send({
        label: 'setup',
        method: 'GET',
        path: `/api/tryon/v2/tasks/${acme.item}`,
        headers: { 'x-api-key': TOKENS.acme },
      })
    ).text,
  ) as { download_signed_url: string };
  const link = new URL(task.download_signed_url);
  const page = JSON.parse(
    (
      await send({
        label: 'setup',
        method: 'GET',
        path: `/v1/batches/${acme.batch}/items`,
        headers: auth(TOKENS.acme),
      })
    ).text,
  ) as ItemsPage;
  world = {
    acmeBatch: acme.batch,
    acmeItem: page.items[1]!.id,
    completedItem: acme.item,
    globexBatch: globex.batch,
    globexItem: globex.item,
    assetId,
    signedResult: `${link.pathname}${link.search}`,
    cursor: acme.cursor,
    files,
  };
  const doc = JSON.parse(
    (await send({ label: 'setup', method: 'GET', path: '/docs/json', headers: {} })).text,
  ) as { paths: Record<string, Record<string, unknown>> };
  routes = [
    ...Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
    ),
    { method: 'GET', path: '/docs' },
    { method: 'GET', path: '/docs/static/index.html' },
    { method: 'GET', path: '/v1/nothing' },
    { method: 'POST', path: '/api/tryon/v3/tasks' },
  ];
  rssBefore = process.memoryUsage().rss;
}, 120_000);

afterAll(async () => {
  await t?.close();
  await sim?.close();
});

describe(`${RANDOM_REQUESTS} seeded malformed requests and the named hard cases`, () => {
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  const tally = (answer: Answer) =>
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);

  it('answers every seeded request with a non-5xx, every 4xx in its error shape', async () => {
    const rng = prng(SEED);
    const perRoute = new Map<string, number>();
    // Round-robin over the routes so each gets its share (those that take a body three shares);
    // the damage is random.
    const schedule = routes.flatMap((r) =>
      ['POST', 'PUT', 'PATCH'].includes(r.method) ? [r, r, r] : [r],
    );
    for (let i = 0; i < RANDOM_REQUESTS; i++) {
      const route = schedule[i % schedule.length]!;
      // Each pass over the schedule deals every route another kind of damage.
      const pass = Math.floor(i / schedule.length);
      const spec = generate(route, world, rng, i, pass + (i % schedule.length));
      perRoute.set(
        `${route.method} ${route.path}`,
        (perRoute.get(`${route.method} ${route.path}`) ?? 0) + 1,
      );
      let answer: Answer;
      try {
        answer = await send(spec);
      } catch (error) {
        problems.push(`${spec.label} -> no answer: ${String(error)}`);
        continue;
      }
      tally(answer);
      problems.push(...problemsWith(spec, answer));
    }
    expect(problems).toEqual([]);
    for (const [route, count] of perRoute) expect(count, route).toBeGreaterThanOrEqual(10);
    // The damage was real: most requests were refused.
    const refused = [...statuses].filter(([s]) => s >= 400).reduce((n, [, c]) => n + c, 0);
    expect(refused).toBeGreaterThan(RANDOM_REQUESTS * 0.6);
  }, 300_000);

  it('refuses a 100 MB upload streamed over a socket with 413, holding none of it in memory', async () => {
    const boundary = 'fuzz100mb';
    const multipartBody = (field: string) =>
      function* () {
        yield Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
        );
        for (let i = 0; i < 100; i++) yield HUNDRED_MB_CHUNK;
        yield Buffer.from(`\r\n--${boundary}--\r\n`);
      };
    const multipartType = `multipart/form-data; boundary=${boundary}`;
    const cases = [
      {
        path: '/v1/assets',
        headers: auth(TOKENS.acme),
        type: multipartType,
        body: multipartBody('file'),
      },
      {
        path: '/api/tryon/v2/tasks',
        headers: { 'x-api-key': TOKENS.acme },
        type: multipartType,
        body: multipartBody('model_image'),
      },
      {
        path: '/api/tryon/input_check/v1/model',
        headers: { 'x-api-key': TOKENS.acme },
        type: multipartType,
        body: multipartBody('input_image'),
      },
      // JSON without a Content-Length: cut off at the route's 16 MiB as it arrives.
      {
        path: '/v1/batches',
        headers: auth(TOKENS.acme),
        type: 'application/json',
        body: function* () {
          yield Buffer.from('{"metadata":{"x":"');
          for (let i = 0; i < 100; i++) yield HUNDRED_MB_CHUNK;
          yield Buffer.from('"}}');
        },
      },
    ];
    for (const c of cases) {
      const answer = await streamUpload(c.path, { ...c.headers, 'content-type': c.type }, c.body());
      tally(answer);
      expect(answer.status, c.path).toBe(413);
      expect(problemsWith({ label: c.path, method: 'POST', path: c.path }, answer)).toEqual([]);
    }
  }, 120_000);

  it('refuses JSON nested deeper than 64 levels with 400 on every JSON route', async () => {
    const item = `{"model":"${imageUrl('m')}","cloth":"${imageUrl('c')}","cloth_type":"upper"`;
    for (const depth of [65, 5_000, 200_000]) {
      const nested = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
      const bodies: [string, string, Record<string, string>][] = [
        ['/v1/batches', `{"items":[${item},"metadata":${nested}}]}`, auth(TOKENS.acme)],
        ['/v1/batches', `{"items":[${item}}],"metadata":${nested}}`, auth(TOKENS.acme)],
        [
          '/v1/batches',
          `{"items":[${item}}],"metadata":{"list":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
          auth(TOKENS.acme),
        ],
        [`/v1/batches/${world.acmeBatch}/cancel`, nested, auth(TOKENS.acme)],
        [`/admin/batches/${world.acmeBatch}/webhooks/replay`, nested, auth(TOKENS.admin)],
        ['/api/tryon/v2/tasks', nested, { 'x-api-key': TOKENS.acme }],
      ];
      for (const [path, body, headers] of bodies) {
        if (body.length > MiB && !path.endsWith('/v1/batches')) continue; // a 413 first
        const answer = await send({
          label: `depth ${depth}`,
          method: 'POST',
          path,
          headers: { ...headers, 'content-type': 'application/json' },
          body,
        });
        tally(answer);
        expect({ path, depth, status: answer.status }).toEqual({ path, depth, status: 400 });
        expect(problemsWith({ label: path, method: 'POST', path }, answer)).toEqual([]);
        if (!FITROOM(path))
          expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'invalid_json' } });
      }
    }
    // 64 levels are fine.
    const ok = '{"a":'.repeat(60) + '1' + '}'.repeat(60);
    const answer = await send({
      label: 'depth 62',
      method: 'POST',
      path: '/v1/batches',
      headers: { ...auth(TOKENS.acme), 'content-type': 'application/json' },
      body: `{"items":[${item}}],"metadata":${ok}}`,
    });
    expect(answer.status).toBe(202);
  });

  it('refuses more items than allowed with 422, a matrix before it is expanded', async () => {
    const item = { model: imageUrl('m'), cloth: imageUrl('c'), cloth_type: 'upper' };
    for (const body of [
      { items: Array.from({ length: 10_001 }, () => item) },
      {
        matrix: {
          models: Array.from({ length: 101 }, (_, i) => imageUrl(`m${i}`)),
          garments: Array.from({ length: 100 }, (_, i) => ({
            cloth: imageUrl(`g${i}`),
            cloth_type: 'upper',
          })),
        },
      },
      {
        matrix: {
          models: Array.from({ length: 5000 }, (_, i) => imageUrl(`m${i}`)),
          garments: Array.from({ length: 5000 }, (_, i) => ({
            cloth: imageUrl(`g${i}`),
            cloth_type: 'upper',
          })),
        },
      },
    ]) {
      const answer = await send({
        label: 'too many items',
        method: 'POST',
        path: '/v1/batches',
        headers: { ...auth(TOKENS.acme), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      tally(answer);
      expect(answer.status).toBe(422);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'too_many_items' } });
    }
  });

  it('answers malformed HTTP in the error shape and closes the connection', async () => {
    const cases: [string, string | Buffer, number][] = [
      ['unknown method', 'FOO /v1/batches HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      [
        'header without a colon',
        'GET /v1/batches HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n',
        400,
      ],
      [
        'headers over the limit',
        `GET /v1/batches HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
      ],
      [
        'a request line over the limit on a FitRoom route',
        `GET /api/tryon/v2/tasks/x?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
        431,
      ],
      [
        'bad Content-Length',
        'POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}',
        400,
      ],
      [
        'Content-Length and chunked',
        'POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        400,
      ],
      [
        'bad chunk size',
        `POST /v1/batches HTTP/1.1\r\nHost: x\r\n${'Authorization: Bearer ' + TOKENS.acme}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        400,
      ],
      ['a NUL in the path', 'GET /v1/batches\u0000 HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      ['not HTTP at all', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00]), 400],
      ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400],
    ];
    for (const [name, bytes, status] of cases) {
      const answer = await raw(bytes);
      tally(answer);
      expect({ name, status: answer.status }).toEqual({ name, status });
      // The shape of the route the request line names (FitRoom's under /api/tryon).
      const path = /^[A-Z]+ (\/\S*)/.exec(bytes.toString('latin1'))?.[1] ?? '/';
      expect(problemsWith({ label: name, method: 'GET', path }, answer)).toEqual([]);
    }
    // Bad URL escapes reach the router: answered 400 in the error shape too.
    for (const path of [
      '/v1/batches/%E0%A4%A',
      '/v1/items/%',
      '/api/tryon/v2/tasks/%ZZ',
      '/%c0%ae%c0%ae/',
    ]) {
      const answer = await raw(
        `GET ${path} HTTP/1.1\r\nHost: x\r\n${'Authorization: Bearer ' + TOKENS.acme}\r\nConnection: close\r\n\r\n`,
      );
      tally(answer);
      expect(answer.status, path).toBeGreaterThanOrEqual(400);
      expect(problemsWith({ label: path, method: 'GET', path }, answer)).toEqual([]);
    }
  });

  it('is up afterwards, logged no error, and its memory stayed bounded', async () => {
    const health = await send({ label: 'healthz', method: 'GET', path: '/healthz', headers: {} });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toEqual({ status: 'ok' });
    const ready = await send({ label: 'readyz', method: 'GET', path: '/readyz', headers: {} });
    expect(ready.status).toBe(200);
    const errors = t.logs.filter((line) => /"level":(50|60)/.test(line));
    expect(errors).toEqual([]);
    const growth = process.memoryUsage().rss - rssBefore;
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(500);
    console.log(
      `fuzz: ${total} answers, by status ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}, rss growth ${Math.round(growth / MiB)} MiB`,
    );
  });
});
