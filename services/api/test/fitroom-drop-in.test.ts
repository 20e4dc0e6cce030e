/**
 * The differences a FitRoom client could tell (issue 13), each as it now behaves: 402/401 on
 * create while no key can create, input checks through a credit pause, result links outside
 * every request limit (ETag, 304, ranges), CORS, links on the request's origin, FitRoom's FAILED
 * text and progress of a re-created task, hd_mode spellings and more input formats.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelCheckRule, startSim, type RunningSim } from '@tryon/fitroom-sim';
import { tryonJobId } from '@tryon/queues';
import { budgetKeyFor, RateLimiter } from '@tryon/rate-limiter';
import { makeImage } from '@tryon/testing';
import { buildTestApp, completeItem, multipart, TOKENS, type TestApp } from './helper.js';

const KEYS = ['drop-in-key-one', 'drop-in-key-two'];
const PAYMENT_REQUIRED = {
  error: 'Payment Required',
  message: 'Insufficient credit. Please upgrade your plan or purchase more credits.',
};

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const image = (seed: number) =>
  makeImage({ width: 48, height: 64, color: { r: seed, g: 255 - seed, b: 33 } });

function postForm(
  t: TestApp,
  url: string,
  files: Record<string, Buffer>,
  fields: Record<string, string> = {},
  token: string = TOKENS.acme,
) {
  const { payload, headers } = multipart(
    Object.entries(files).map(([field, data]) => ({ field, filename: `${field}.bin`, data })),
    fields,
  );
  return t.app.inject({
    method: 'POST',
    url,
    headers: { ...headers, 'x-api-key': token },
    payload,
  });
}

let sim: RunningSim;
let model: Buffer;
let cloth: Buffer;
const apps: TestApp[] = [];

async function app(env: Record<string, string> = {}): Promise<TestApp> {
  const built = await buildTestApp({
    storage: 'fs',
    env: { FITROOM_BASE_URL: sim.url, FITROOM_API_KEYS: KEYS.join(','), ...env },
  });
  apps.push(built);
  return built;
}

const createUpper = (t: TestApp, fields: Record<string, string> = {}, token?: string) =>
  postForm(
    t,
    '/api/tryon/v2/tasks',
    { model_image: model, cloth_image: cloth },
    { cloth_type: 'upper', ...fields },
    token,
  );

const getTask = (t: TestApp, id: string, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'GET',
    url: `/api/tryon/v2/tasks/${id}`,
    headers: { 'x-api-key': TOKENS.acme, ...headers },
  });

function limiterOf(t: TestApp): RateLimiter {
  return new RateLimiter({
    redis: t.redis,
    prefix: t.config.prefix,
    limit: t.config.fitroom.rateLimit,
    windowMs: t.config.fitroom.rateWindowMs,
    requestTimeoutMs: t.config.fitroom.timeoutMs,
  });
}

/** Pauses every FitRoom key of the app as the worker does after FitRoom's answer `reason`. */
async function pauseKeys(t: TestApp, reasons: string[]): Promise<void> {
  const limiter = limiterOf(t);
  await Promise.all(KEYS.map((k, i) => limiter.pause(budgetKeyFor(k), 60_000, reasons[i]!)));
}

beforeAll(async () => {
  [model, cloth] = await Promise.all([image(10), image(20)]);
  sim = await startSim({ keys: Object.fromEntries(KEYS.map((k) => [k, 1_000])), seed: 13 });
});
afterAll(async () => {
  for (const t of apps) await t.close();
  await sim?.close();
});

describe('create while no FitRoom key can create (1)', () => {
  it("answers FitRoom's 402 when every key is paused for credit, and 401 when every key was refused", async () => {
    const t = await app();
    await pauseKeys(t, ['insufficient_credit', 'unauthorized']);
    const res = await createUpper(t);
    expect(res.statusCode).toBe(402);
    expect(res.json()).toEqual(PAYMENT_REQUIRED);

    await pauseKeys(t, ['unauthorized', 'unauthorized']);
    const wrong = await createUpper(t);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: 'Unauthorized', message: 'Your API key is wrong.' });
    // A bad form is still FitRoom's 400 first.
    expect((await createUpper(t, { cloth_type: 'hat' })).statusCode).toBe(400);
  });

  it('still queues while one key can create, or every key waits only for its rate window', async () => {
    const t = await app();
    const limiter = limiterOf(t);
    await limiter.pause(budgetKeyFor(KEYS[0]!), 60_000, 'insufficient_credit');
    expect((await createUpper(t)).statusCode).toBe(200);
    await limiter.pause(budgetKeyFor(KEYS[1]!), 60_000, 'rate_limited');
    expect((await createUpper(t)).statusCode).toBe(200);
  });

  it('says in the status of a task accepted before why it waits, and stops saying it once a key is back', async () => {
    const t = await app();
    const taskId = (await createUpper(t)).json<{ task_id: string }>().task_id;
    await pauseKeys(t, ['insufficient_credit', 'insufficient_credit']);
    const waiting = (await getTask(t, taskId)).json<Record<string, unknown>>();
    expect(waiting).toMatchObject({ status: 'CREATED', progress: 0 });
    expect(waiting.message).toMatch(/no credit/);
    await limiterOf(t).resume(budgetKeyFor(KEYS[0]!));
    const back = (await getTask(t, taskId)).json<Record<string, unknown>>();
    expect(Object.keys(back)).toEqual(['task_id', 'status', 'progress', 'created_at']);
  });
});

describe('input checks (2)', () => {
  it('go on while every key is paused for credit, within the budget, asking FitRoom', async () => {
    const t = await app();
    await pauseKeys(t, ['insufficient_credit', 'insufficient_credit']);
    const data = await image(120);
    const before = sim.stats().keys[KEYS[0]!]?.requests ?? {};
    const res = await postForm(t, '/api/tryon/input_check/v1/model', { input_image: data });
    expect(res.statusCode, res.payload).toBe(200);
    expect(res.json()).toEqual(modelCheckRule(sha256(data)));
    const asked = KEYS.map(
      (k) => sim.stats().keys[k]?.requests['POST /api/tryon/input_check/v1/model']?.['200'] ?? 0,
    );
    expect(asked.reduce((a, b) => a + b, 0)).toBeGreaterThan(
      before['POST /api/tryon/input_check/v1/model']?.['200'] ?? -1,
    );
    const usages = await Promise.all(KEYS.map((k) => limiterOf(t).usage(budgetKeyFor(k))));
    expect(usages.reduce((sum, u) => sum + u.inUse, 0)).toBe(1);
  });

  it("answer 429 only when the tenant's own request limit is spent", async () => {
    const t = await app({ API_RATE_LIMIT: '2' });
    await pauseKeys(t, ['insufficient_credit', 'insufficient_credit']);
    // Over real HTTP: a 429 is answered before the body is read, which inject cannot model.
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const statuses: number[] = [];
    for (const seed of [130, 131, 132]) {
      const body = new FormData();
      body.set('input_image', new Blob([await image(seed)]), 'cloth.jpg');
      const res = await fetch(`${base}/api/tryon/input_check/v1/clothes`, {
        method: 'POST',
        headers: { 'x-api-key': TOKENS.acme },
        body,
      });
      statuses.push(res.status);
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status === 429) {
        expect(json).toEqual({
          error: 'Too Many Requests',
          message: 'You requested too much API. Try again later',
        });
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
    }
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('result links (3)', () => {
  let t: TestApp;
  let result: Buffer;
  let path: string;

  beforeAll(async () => {
    t = await app({ API_RATE_LIMIT: '3' });
    const taskId = (await createUpper(t)).json<{ task_id: string }>().task_id;
    result = await makeImage({ width: 300, height: 200, color: { r: 9, g: 99, b: 199 } });
    await completeItem(t, (await t.records.getItem(taskId))!, result);
    const url = (await getTask(t, taskId)).json<{ download_signed_url: string }>()
      .download_signed_url;
    path = url.slice(url.indexOf('/api/tryon/'));
    // The tenant's requests are spent now (create, poll, and one more).
    expect((await getTask(t, taskId)).statusCode).toBe(200);
    expect((await getTask(t, taskId)).statusCode).toBe(429);
  });

  const download = (headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') =>
    t.app.inject({ method, url: path, headers });

  it('serve the image whatever the tenant spent, with content type, length and ETag', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await download();
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('image/jpeg');
      expect(Number(res.headers['content-length'])).toBe(result.length);
      expect(res.headers.etag).toBe(`"${sha256(result)}"`);
      expect(res.headers['accept-ranges']).toBe('bytes');
      expect(res.rawPayload.equals(result)).toBe(true);
    }
    const head = await download({}, 'HEAD');
    expect(head.statusCode).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(result.length);
  });

  it('answer 304 for a matching If-None-Match, the image for another', async () => {
    const etag = `"${sha256(result)}"`;
    const cached = await download({ 'if-none-match': `"other", W/${etag}` });
    expect(cached.statusCode).toBe(304);
    expect(cached.rawPayload.length).toBe(0);
    expect(cached.headers.etag).toBe(etag);
    expect((await download({ 'if-none-match': '"other"' })).statusCode).toBe(200);
  });

  it('serve byte ranges as 206, and 416 for one past the end', async () => {
    const first = await download({ range: 'bytes=0-99' });
    expect(first.statusCode).toBe(206);
    expect(first.headers['content-range']).toBe(`bytes 0-99/${result.length}`);
    expect(Number(first.headers['content-length'])).toBe(100);
    expect(first.rawPayload.equals(result.subarray(0, 100))).toBe(true);
    const tail = await download({ range: 'bytes=-10' });
    expect(tail.statusCode).toBe(206);
    expect(tail.rawPayload.equals(result.subarray(result.length - 10))).toBe(true);
    const past = await download({ range: `bytes=${result.length + 5}-` });
    expect(past.statusCode).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${result.length}`);
    // If-Range naming another version: the whole image.
    const stale = await download({ range: 'bytes=0-9', 'if-range': '"old"' });
    expect(stale.statusCode).toBe(200);
    expect(stale.rawPayload.length).toBe(result.length);
  });

  it('log no error while serving them (each answer is sent once)', () => {
    expect(t.logs.filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
  });
});

describe('CORS (4)', () => {
  const preflight = (t: TestApp, url: string, origin: string) =>
    t.app.inject({
      method: 'OPTIONS',
      url,
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'x-api-key,content-type',
      },
    });

  it('answers preflights of /api/tryon and /v1 for the origins in CORS_ORIGINS only', async () => {
    const t = await app({ CORS_ORIGINS: 'https://shop.example, http://localhost:5173' });
    for (const url of ['/api/tryon/v2/tasks', '/api/tryon/input_check/v1/model', '/v1/batches']) {
      const res = await preflight(t, url, 'https://shop.example');
      expect(res.statusCode, url).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe('https://shop.example');
      expect(String(res.headers['access-control-allow-methods'])).toContain('POST');
      const allowed = String(res.headers['access-control-allow-headers']).toLowerCase();
      for (const header of ['x-api-key', 'authorization', 'content-type']) {
        expect(allowed).toContain(header);
      }
      const other = await preflight(t, url, 'https://evil.example');
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    }
    const get = await getTask(t, 'itm_00000000000000000000', { origin: 'http://localhost:5173' });
    expect(get.statusCode).toBe(404);
    expect(get.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(String(get.headers['access-control-expose-headers'])).toContain('Retry-After');
  });

  it('allows any origin with *, and none by default (OPTIONS stays a 404)', async () => {
    const any = await app({ CORS_ORIGINS: '*' });
    const res = await preflight(any, '/api/tryon/v2/tasks', 'https://anywhere.example');
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const none = await app();
    const closed = await preflight(none, '/api/tryon/v2/tasks', 'https://shop.example');
    expect(closed.statusCode).toBe(404);
    expect(closed.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('link origin (5)', () => {
  async function linkOf(t: TestApp, headers: Record<string, string>): Promise<string> {
    const taskId = (await createUpper(t)).json<{ task_id: string }>().task_id;
    await completeItem(t, (await t.records.getItem(taskId))!, await image(77));
    const body = (await getTask(t, taskId, headers)).json<{ download_signed_url: string }>();
    return body.download_signed_url;
  }
  const forwarded = {
    host: 'api.internal:3000',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'tryon.example.com',
  };

  it('follows the Host of the request when PUBLIC_URL is unset; X-Forwarded-* only with TRUST_PROXY', async () => {
    const direct = await app({ PUBLIC_URL: '' });
    expect(await linkOf(direct, { host: '10.1.2.3:8080' })).toMatch(
      /^http:\/\/10\.1\.2\.3:8080\/api\/tryon\/v2\/results\/itm_/,
    );
    expect(await linkOf(direct, forwarded)).toMatch(/^http:\/\/api\.internal:3000\/api\/tryon\//);
    // A Host that is not a host[:port] is not echoed into a link.
    expect(await linkOf(direct, { host: 'evil.example/path?x=' })).toMatch(
      new RegExp(`^${direct.config.publicUrl}/api/tryon/`),
    );
    const proxied = await app({ PUBLIC_URL: '', TRUST_PROXY: 'true' });
    expect(await linkOf(proxied, forwarded)).toMatch(
      /^https:\/\/tryon\.example\.com\/api\/tryon\//,
    );
  });

  it("builds /v1 items' result URLs the same way", async () => {
    const direct = await app({ PUBLIC_URL: '' });
    const taskId = (await createUpper(direct)).json<{ task_id: string }>().task_id;
    await completeItem(direct, (await direct.records.getItem(taskId))!, await image(78));
    const res = await direct.app.inject({
      method: 'GET',
      url: `/v1/items/${taskId}`,
      headers: { authorization: `Bearer ${TOKENS.acme}`, host: 'tryon.lan:8443' },
    });
    expect(res.json<{ result: { url: string } }>().result.url).toBe(
      `http://tryon.lan:8443/v1/items/${taskId}/result`,
    );
  });

  it('uses PUBLIC_URL when it is set, whatever the request says', async () => {
    const fixed = await app({ PUBLIC_URL: 'https://public.example/', TRUST_PROXY: 'true' });
    expect(await linkOf(fixed, forwarded)).toMatch(/^https:\/\/public\.example\/api\/tryon\//);
  });
});

describe('status of failed and re-created tasks (6)', () => {
  it('progress starts over with the FitRoom task that replaced a FAILED one', async () => {
    const t = await app({ FITROOM_NORMAL_TASK_MS: '100' });
    const taskId = (await createUpper(t)).json<{ task_id: string }>().task_id;
    const item = (await t.records.getItem(taskId))!;
    await t.records.transition(item, ['queued'], 'running');
    await new Promise((resolve) => setTimeout(resolve, 150));
    const progress = async () =>
      (await getTask(t, taskId)).json<{ status: string; progress: number }>();
    // Past its expected duration, the first task reads 99 ...
    expect(await progress()).toMatchObject({ status: 'PROCESSING', progress: 99 });
    // ... and once FitRoom failed it and a new one was created, progress starts again.
    const job = await t.tryonQueue.getJob(tryonJobId(item.id, item.run));
    expect(job).toBeDefined();
    await job!.updateData({
      ...job!.data,
      step: 'poll',
      failedTasks: 1,
      taskCreatedAt: Date.now() - 30,
    });
    const again = await progress();
    expect(again.status).toBe('PROCESSING');
    expect(again.progress).toBeGreaterThanOrEqual(1);
    expect(again.progress).toBeLessThan(99);
    // While the new task is not created yet, it reads as just begun.
    await job!.updateData({ ...job!.data, step: 'create', failedTasks: 1 });
    expect((await progress()).progress).toBeLessThan(10);
  });
});

describe('form values and formats (7)', () => {
  let forms: TestApp | undefined;
  const formsApp = async () => (forms ??= await app());

  it.each([
    ['True', true],
    ['FALSE', false],
    ['1', true],
    ['0', false],
    ['true', true],
  ])('takes hd_mode=%s', async (value, hd) => {
    const t = await formsApp();
    const res = await createUpper(t, { hd_mode: value });
    expect(res.statusCode, res.payload).toBe(200);
    const item = await t.records.getItem(res.json<{ task_id: string }>().task_id);
    expect(item?.hd_mode).toBe(hd);
  });

  it('refuses other hd_mode values with a 400 naming it', async () => {
    const t = await formsApp();
    const res = await createUpper(t, { hd_mode: 'yes' });
    expect(res.statusCode).toBe(400);
    expect(res.json<{ message: string }>().message).toContain('hd_mode');
  });

  it.each(['gif', 'tiff', 'avif'] as const)(
    'takes a %s model image, and checks one (as JPEG)',
    async (format) => {
      const t = await formsApp();
      const data = await sharp({
        create: { width: 60, height: 80, channels: 3, background: { r: 90, g: 40, b: 140 } },
      })
        .toFormat(format)
        .toBuffer();
      const res = await postForm(
        t,
        '/api/tryon/v2/tasks',
        { model_image: data, cloth_image: cloth },
        { cloth_type: 'upper' },
      );
      expect(res.statusCode, res.payload).toBe(200);
      const item = await t.records.getItem(res.json<{ task_id: string }>().task_id);
      const asset = await t.records.getAsset('acme', item!.model);
      expect(asset?.content_type).toBe(`image/${format}`);
      const checked = await postForm(t, '/api/tryon/input_check/v1/model', { input_image: data });
      expect(checked.statusCode, checked.payload).toBe(200);
      expect(checked.json()).toHaveProperty('is_good');
    },
  );
});
