import { createHash, createHmac } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetIdFor } from '@tryon/domain';
import {
  clothesCheckRule,
  modelCheckRule,
  startSim,
  type ModelCheckResult,
  type RunningSim,
} from '@tryon/fitroom-sim';
import { tryonJobId } from '@tryon/queues';
import { budgetKeyFor, RateLimiter } from '@tryon/rate-limiter';
import type { ItemRecord } from '@tryon/records';
import { makeImage } from '@tryon/testing';
import {
  estimatedProgress,
  FITROOM_COMPAT_SOURCE,
  ResultUrlSigner,
  taskView,
} from '../src/lib/fitroom-tasks.js';
import { auth, buildTestApp, completeItem, multipart, TOKENS, type TestApp } from './helper.js';

const SIM_KEY = 'compat-sim-key';
const MODEL_CHECK = 'POST /api/tryon/input_check/v1/model';
const CLOTHES_CHECK = 'POST /api/tryon/input_check/v1/clothes';
const UNAUTHORIZED = { error: 'Unauthorized', message: 'Your API key is wrong.' };

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const image = (seed: number, format: 'jpeg' | 'png' = 'jpeg') =>
  makeImage({ width: 48, height: 64, format, color: { r: seed, g: 255 - seed, b: 77 } });

type Part = Buffer | string;

/** A FitRoom form: Buffers become file fields, strings text fields. */
function form(parts: Record<string, Part | undefined>) {
  const files: Parameters<typeof multipart>[0] = [];
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(parts)) {
    if (value === undefined) continue;
    if (typeof value === 'string') fields[name] = value;
    else
      files.push({ field: name, filename: `${name}.jpg`, contentType: 'image/jpeg', data: value });
  }
  return multipart(files, fields);
}

/** X-API-KEY; null sends none. */
const key = (token: string | null) =>
  token === null ? {} : ({ 'x-api-key': token } as Record<string, string>);

function post(
  t: TestApp,
  url: string,
  parts: Record<string, Part | undefined>,
  token: string | null,
) {
  const { payload, headers } = form(parts);
  return t.app.inject({ method: 'POST', url, headers: { ...headers, ...key(token) }, payload });
}

const createTask = (
  t: TestApp,
  parts: Record<string, Part | undefined>,
  token: string | null = TOKENS.acme,
) => post(t, '/api/tryon/v2/tasks', parts, token);

const getTask = (t: TestApp, id: string, token: string | null = TOKENS.acme) =>
  t.app.inject({ method: 'GET', url: `/api/tryon/v2/tasks/${id}`, headers: key(token) });

const check = (
  t: TestApp,
  kind: 'model' | 'clothes',
  data: Part,
  token: string | null = TOKENS.acme,
) => post(t, `/api/tryon/input_check/v1/${kind}`, { input_image: data }, token);

/** Strips the public origin so the URL can be injected. */
const pathOf = (url: string) => {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
};

function expectBadRequest(res: LightMyRequestResponse, mentions: string) {
  expect(res.statusCode, res.payload).toBe(400);
  const body = res.json<{ error: string; message: string }>();
  expect(Object.keys(body)).toEqual(['error', 'message']);
  expect(body.error).toBe('Bad Request');
  expect(body.message).toMatch(/^Your request is invalid: /);
  expect(body.message).toContain(mentions);
}

let sim: RunningSim;
let t: TestApp;
let model: Buffer;
let cloth: Buffer;
let lower: Buffer;

beforeAll(async () => {
  [model, cloth, lower] = await Promise.all([image(10), image(20), image(30, 'png')]);
  sim = await startSim({ keys: { [SIM_KEY]: 1_000 }, seed: 7 });
  t = await buildTestApp({
    env: { FITROOM_BASE_URL: sim.url, FITROOM_API_KEYS: SIM_KEY, RESULT_URL_TTL_S: '600' },
  });
});
afterAll(async () => {
  await t?.close();
  await sim?.close();
});

const simRequests = (route: string): number =>
  Object.values(sim.stats().keys[SIM_KEY]?.requests[route] ?? {}).reduce((a, b) => a + b, 0);

describe('FitRoom-compatible authentication', () => {
  it.each([
    ['missing', null],
    ['wrong', 'not-a-tenant-token'],
    ['empty', ''],
  ])('answers 401 in FitRoom shape for a %s X-API-KEY on every route', async (_, token) => {
    const answers = [
      await createTask(t, { model_image: model, cloth_image: cloth, cloth_type: 'upper' }, token),
      await getTask(t, 'itm_00000000000000000000', token),
      await check(t, 'model', model, token),
      await check(t, 'clothes', cloth, token),
    ];
    for (const res of answers) {
      expect(res.statusCode, `${res.statusCode} ${res.payload}`).toBe(401);
      expect(res.json()).toEqual(UNAUTHORIZED);
    }
    expect(simRequests(MODEL_CHECK) + simRequests(CLOTHES_CHECK)).toBe(0);
  });

  it('does not take a Bearer token in place of X-API-KEY', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/tryon/v2/tasks/itm_00000000000000000000',
      headers: auth(TOKENS.acme),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual(UNAUTHORIZED);
  });

  it('answers unknown routes under /api/tryon in FitRoom shape', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/tryon/v3/nothing',
      headers: key(TOKENS.acme),
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'Not Found' });
  });
});

describe('POST /api/tryon/v2/tasks validation', () => {
  const cases: [string, () => Record<string, Part | undefined>, string][] = [
    [
      'no model_image',
      () => ({ cloth_image: cloth, cloth_type: 'upper' }),
      'model_image is required',
    ],
    [
      'no cloth_image',
      () => ({ model_image: model, cloth_type: 'upper' }),
      'cloth_image is required',
    ],
    ['no files at all', () => ({ cloth_type: 'upper' }), 'model_image is required'],
    [
      'model_image as text',
      () => ({ model_image: 'model.jpg', cloth_image: cloth, cloth_type: 'upper' }),
      'model_image must be a file',
    ],
    ['no cloth_type', () => ({ model_image: model, cloth_image: cloth }), 'cloth_type is required'],
    [
      'an unknown cloth_type',
      () => ({ model_image: model, cloth_image: cloth, cloth_type: 'shoes' }),
      'cloth_type must be one of upper, lower, full_set, combo',
    ],
    [
      'combo without lower_cloth_image',
      () => ({ model_image: model, cloth_image: cloth, cloth_type: 'combo' }),
      'lower_cloth_image is required when cloth_type is combo',
    ],
    [
      'a bad hd_mode',
      () => ({ model_image: model, cloth_image: cloth, cloth_type: 'upper', hd_mode: 'yes' }),
      'hd_mode must be "true" or "false"',
    ],
    [
      'non-image bytes as model_image',
      () => ({
        model_image: Buffer.from('%PDF-1.7 not an image'),
        cloth_image: cloth,
        cloth_type: 'upper',
      }),
      'model_image',
    ],
    [
      'non-image bytes as lower_cloth_image',
      () => ({
        model_image: model,
        cloth_image: cloth,
        lower_cloth_image: Buffer.from('just text'),
        cloth_type: 'combo',
      }),
      'lower_cloth_image',
    ],
    [
      'a truncated cloth_image',
      () => ({ model_image: model, cloth_image: cloth.subarray(0, 200), cloth_type: 'upper' }),
      'cloth_image',
    ],
  ];

  it.each(cases)(
    'answers 400 naming the field for %s, and queues nothing',
    async (_, parts, mentions) => {
      const before = (await t.records.listBatches('acme', 100)).length;
      expectBadRequest(await createTask(t, parts()), mentions);
      expect((await t.records.listBatches('acme', 100)).length).toBe(before);
    },
  );

  it('answers 400 for a body that is not multipart', async () => {
    const json = await t.app.inject({
      method: 'POST',
      url: '/api/tryon/v2/tasks',
      headers: key(TOKENS.acme),
      payload: { model_image: 'x' },
    });
    expectBadRequest(json, 'multipart/form-data');
    const text = await t.app.inject({
      method: 'POST',
      url: '/api/tryon/v2/tasks',
      headers: { ...key(TOKENS.acme), 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expectBadRequest(text, 'multipart/form-data');
  });
});

describe('POST /api/tryon/v2/tasks', () => {
  it("stores the images as assets, queues a one-item batch and answers FitRoom's create", async () => {
    const res = await createTask(t, {
      cloth_image: cloth,
      model_image: model,
      cloth_type: 'upper',
    });
    expect(res.statusCode, res.payload).toBe(200);
    const body = res.json<{ task_id: string; status: string }>();
    expect(Object.keys(body)).toEqual(['task_id', 'status']);
    expect(body.status).toBe('CREATED');
    expect(body.task_id).toMatch(/^itm_/);

    const item = await t.records.getItem(body.task_id, 'acme');
    expect(item).toMatchObject({
      status: 'queued',
      tenant_id: 'acme',
      model: assetIdFor('acme', sha256(model)),
      cloth: assetIdFor('acme', sha256(cloth)),
      lower_cloth: null,
      cloth_type: 'upper',
      hd_mode: false,
    });
    expect(await t.records.getItem(body.task_id, 'globex')).toBeNull();
    const batch = await t.records.getBatch(item!.batch_id, 'acme');
    expect(batch).toMatchObject({
      metadata: { source: FITROOM_COMPAT_SOURCE },
      counts: { total: 1, queued: 1 },
      enqueued: true,
    });
    await t.app.settle();
    expect(await t.tryonQueue.getJob(tryonJobId(item!.id, 0))).toBeDefined();
    // Content-addressed like POST /v1/assets: the same bytes are the same asset and object.
    expect(await t.records.getAsset('acme', item!.model)).toMatchObject({
      sha256: sha256(model),
      storage_key: `assets/${sha256(model)}`,
    });
    expect(await t.storage.exists(`assets/${sha256(cloth)}`)).toBe(true);
  });

  it('takes combo with lower_cloth_image and hd_mode, and ignores fields FitRoom does not know', async () => {
    const res = await createTask(t, {
      cloth_image: cloth,
      lower_cloth_image: lower,
      model_image: model,
      cloth_type: 'combo',
      hd_mode: 'true',
      colour: 'red',
    });
    expect(res.statusCode, res.payload).toBe(200);
    const item = await t.records.getItem(res.json<{ task_id: string }>().task_id, 'acme');
    expect(item).toMatchObject({
      cloth_type: 'combo',
      hd_mode: true,
      lower_cloth: assetIdFor('acme', sha256(lower)),
    });
    expect(await t.records.getAsset('acme', item!.lower_cloth!)).toMatchObject({
      content_type: 'image/png',
    });
  });
});

describe('GET /api/tryon/v2/tasks/:id', () => {
  async function created(token: string = TOKENS.acme): Promise<ItemRecord> {
    const res = await createTask(
      t,
      { model_image: model, cloth_image: cloth, cloth_type: 'upper' },
      token,
    );
    expect(res.statusCode).toBe(200);
    const item = await t.records.getItem(res.json<{ task_id: string }>().task_id);
    return item!;
  }

  const seconds = (iso: string | null) => Math.floor(Date.parse(iso!) / 1000);

  it("answers a queued item as CREATED with the document's fields", async () => {
    const item = await created();
    const res = await getTask(t, item.id);
    expect(res.statusCode).toBe(200);
    const body = res.json<Record<string, unknown>>();
    expect(Object.keys(body)).toEqual(['task_id', 'status', 'progress', 'created_at']);
    expect(body).toEqual({
      task_id: item.id,
      status: 'CREATED',
      progress: 0,
      created_at: seconds(item.created_at),
    });
  });

  it("answers 404 for another tenant's task, an unknown one and FitRoom's own ids", async () => {
    const item = await created(TOKENS.globex);
    for (const id of [item.id, 'itm_zzzzzzzzzzzzzzzzzzzz', '123456']) {
      const res = await getTask(t, id, TOKENS.acme);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ error: 'Not Found', message: `Task ${id} not found.` });
    }
    expect((await getTask(t, item.id, TOKENS.globex)).statusCode).toBe(200);
  });

  it('answers a running item as PROCESSING with started_at and a progress of 1..99', async () => {
    const item = await created();
    await t.records.transition(item, ['queued'], 'running');
    const body = (await getTask(t, item.id)).json<Record<string, number | string>>();
    expect(Object.keys(body)).toEqual([
      'task_id',
      'status',
      'progress',
      'created_at',
      'started_at',
    ]);
    expect(body.status).toBe('PROCESSING');
    expect(body.progress).toBeGreaterThanOrEqual(1);
    expect(body.progress).toBeLessThanOrEqual(99);
    expect(body.started_at).toBeGreaterThanOrEqual(body.created_at as number);
  });

  it("answers a failed item as FAILED with FitRoom's error text, not the service's reason", async () => {
    const item = await created();
    await t.records.transition(item, ['queued'], 'running');
    await t.records.transition(item, ['running'], 'failed', {
      error: { code: 'fitroom_task_failed', message: 'FitRoom task 42 failed: no person' },
      completed_at: Date.now(),
    });
    const body = (await getTask(t, item.id)).json<Record<string, unknown>>();
    expect(Object.keys(body)).toEqual([
      'task_id',
      'status',
      'error',
      'created_at',
      'started_at',
      'completed_at',
    ]);
    expect(body).toMatchObject({ status: 'FAILED', error: 'Failed to process try-on task' });
  });

  describe('a completed item', () => {
    let item: ItemRecord;
    let result: Buffer;
    let url: string;

    beforeAll(async () => {
      item = await created();
      result = await image(99);
      await completeItem(t, item, result);
      const body = (await getTask(t, item.id)).json<Record<string, unknown>>();
      expect(Object.keys(body)).toEqual([
        'task_id',
        'status',
        'download_signed_url',
        'progress',
        'created_at',
        'started_at',
        'completed_at',
      ]);
      expect(body).toMatchObject({ task_id: item.id, status: 'COMPLETED', progress: 100 });
      url = body.download_signed_url as string;
    });

    it('has a download_signed_url on the public URL that serves the image without any header', async () => {
      expect(url.startsWith(`${t.config.publicUrl}/api/tryon/v2/results/${item.id}?`)).toBe(true);
      const res = await t.app.inject({ method: 'GET', url: pathOf(url) });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('image/jpeg');
      expect(res.rawPayload.equals(result)).toBe(true);
    });

    it('answers 403 for a wrong, missing or expired signature', async () => {
      const signer = new ResultUrlSigner(t.config.webhooks.secret!);
      const parsed = new URL(url);
      const expires = parsed.searchParams.get('expires')!;
      const signature = parsed.searchParams.get('signature')!;
      const flipped = `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`;
      const other = await created();
      const forged = [
        `/api/tryon/v2/results/${item.id}?expires=${expires}&signature=${flipped}`,
        `/api/tryon/v2/results/${item.id}?expires=${Number(expires) + 1}&signature=${signature}`,
        `/api/tryon/v2/results/${other.id}?expires=${expires}&signature=${signature}`,
        `/api/tryon/v2/results/${item.id}`,
        `/api/tryon/v2/results/${item.id}?expires=${expires}`,
        // Signed with the master secret itself instead of the key derived from it.
        `/api/tryon/v2/results/${item.id}?expires=${expires}&signature=${createHmac('sha256', t.config.webhooks.secret!).update(`${item.id}.${expires}`).digest('hex')}`,
      ];
      for (const path of forged) {
        const res = await t.app.inject({ method: 'GET', url: path });
        expect(res.statusCode, path).toBe(403);
        expect(res.json()).toEqual({
          error: 'Forbidden',
          message: 'The download signature is invalid.',
        });
      }
      const expired = signer.url('', item.id, Math.floor(Date.now() / 1000) - 1);
      const res = await t.app.inject({ method: 'GET', url: expired });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({ error: 'Forbidden', message: 'The download link has expired.' });
      // The same signer with a future expiry works: the test knows the derivation, not a backdoor.
      const fresh = signer.url('', item.id, Math.floor(Date.now() / 1000) + 60);
      expect((await t.app.inject({ method: 'GET', url: fresh })).statusCode).toBe(200);
    });

    it('expires after RESULT_URL_TTL_S', () => {
      const expires = Number(new URL(url).searchParams.get('expires'));
      const now = Math.floor(Date.now() / 1000);
      expect(expires - now).toBeGreaterThan(600 - 30);
      expect(expires - now).toBeLessThanOrEqual(600);
    });
  });
});

describe('the task view', () => {
  const base: ItemRecord = {
    id: 'itm_aaaaaaaaaaaaaaaaaaaa',
    batch_id: 'bat_aaaaaaaaaaaaaaaaaaaa',
    tenant_id: 'acme',
    run: 0,
    status: 'running',
    model: 'ast_x',
    cloth: 'ast_y',
    lower_cloth: null,
    cloth_type: 'upper',
    hd_mode: false,
    external_id: null,
    metadata: null,
    fitroom_task_id: null,
    attempts: 0,
    credits: { spent: 0, possibly_spent: 0 },
    error: null,
    result: null,
    review: null,
    previous_results: [],
    created_at: new Date(1_744_707_904_000).toISOString(),
    updated_at: new Date(1_744_707_904_000).toISOString(),
    started_at: new Date(1_744_707_905_000).toISOString(),
    completed_at: null,
  };
  const at = (elapsedMs: number, expectedMs = 9_000) =>
    taskView({
      item: base,
      nowMs: 1_744_707_905_000 + elapsedMs,
      expectedMs,
      downloadUrl: () => 'unused',
    });

  it('estimates progress from the elapsed share of the expected duration, within 1..99', () => {
    expect(at(0)).toEqual({
      task_id: base.id,
      status: 'PROCESSING',
      progress: 1,
      created_at: 1_744_707_904,
      started_at: 1_744_707_905,
    });
    expect(at(4_500)).toMatchObject({ progress: 50 });
    expect(at(30_000, 30_000)).toMatchObject({ progress: 99 });
    expect(at(600_000)).toMatchObject({ progress: 99 });
    expect(estimatedProgress(-5, 9_000)).toBe(1);
  });

  it('answers a cancelled item as FAILED', () => {
    const view = taskView({
      item: { ...base, status: 'cancelled', started_at: null, completed_at: base.created_at },
      nowMs: Date.now(),
      expectedMs: 9_000,
      downloadUrl: () => 'unused',
    });
    expect(view).toEqual({
      task_id: base.id,
      status: 'FAILED',
      error: 'The task was cancelled',
      created_at: 1_744_707_904,
      started_at: 1_744_707_904,
      completed_at: 1_744_707_904,
    });
  });
});

describe('input checks', () => {
  it("answer the simulator's exact bodies", async () => {
    const images = await Promise.all([1, 2, 3, 4, 5].map((seed) => image(100 + seed)));
    for (const data of images) {
      const modelRes = await check(t, 'model', data);
      expect(modelRes.statusCode, modelRes.payload).toBe(200);
      expect(modelRes.payload).toBe(JSON.stringify(modelCheckRule(sha256(data))));
      const clothesRes = await check(t, 'clothes', data, TOKENS.globex);
      expect(clothesRes.statusCode, clothesRes.payload).toBe(200);
      expect(clothesRes.payload).toBe(JSON.stringify(clothesCheckRule(sha256(data))));
    }
  });

  it('forward every documented answer unchanged (warnings and errors included)', async () => {
    const warned = await image(150);
    const refused = await image(151);
    const notClothes = await image(152);
    const forced: Record<string, ModelCheckResult | { clothes_type: 'full'; is_clothes: false }> = {
      [sha256(warned)]: { is_good: true, error_code: '410002', good_clothes_types: ['upper'] },
      [sha256(refused)]: { is_good: false, error_code: '400002', good_clothes_types: [] },
      [sha256(notClothes)]: { clothes_type: 'full', is_clothes: false },
    };
    sim.configure({ inputCheckOverrides: forced });
    try {
      for (const [data, kind] of [
        [warned, 'model'],
        [refused, 'model'],
        [notClothes, 'clothes'],
      ] as const) {
        const res = await check(t, kind, data);
        expect(res.statusCode).toBe(200);
        expect(res.payload).toBe(JSON.stringify(forced[sha256(data)]));
      }
    } finally {
      sim.configure({ inputCheckOverrides: {} });
    }
  });

  it('checks an image once, whoever asks, concurrent requests included', async () => {
    const data = await image(160);
    const before = { model: simRequests(MODEL_CHECK), clothes: simRequests(CLOTHES_CHECK) };
    const first = await Promise.all([
      check(t, 'model', data),
      check(t, 'model', data, TOKENS.globex),
      check(t, 'model', data),
    ]);
    for (const res of first) expect(res.payload).toBe(JSON.stringify(modelCheckRule(sha256(data))));
    expect(simRequests(MODEL_CHECK)).toBe(before.model + 1);

    const again = await check(t, 'model', data, TOKENS.globex);
    expect(again.payload).toBe(first[0].payload);
    expect(simRequests(MODEL_CHECK)).toBe(before.model + 1);

    // The clothes check is its own question about the same image.
    await check(t, 'clothes', data);
    await check(t, 'clothes', data);
    expect(simRequests(CLOTHES_CHECK)).toBe(before.clothes + 1);
  });

  it('take a token of the shared budget per FitRoom request and release it on the answer', async () => {
    const budgetKey = budgetKeyFor(SIM_KEY);
    const before = await t.app.inject({
      method: 'GET',
      url: '/admin/status',
      headers: auth(TOKENS.admin),
    });
    const inUseBefore = before.json<{ budgets: { budget_key: string; in_use: number }[] }>()
      .budgets[0]!;
    expect(inUseBefore.budget_key).toBe(budgetKey);
    await check(t, 'clothes', await image(170));
    const after = await t.app.inject({
      method: 'GET',
      url: '/admin/status',
      headers: auth(TOKENS.admin),
    });
    const budget = after.json<{ budgets: { in_use: number; in_flight: number }[] }>().budgets[0]!;
    expect(budget.in_use).toBe(inUseBefore.in_use + 1);
    expect(budget.in_flight).toBe(0);
  });

  it('answer 503 with Retry-After while the FitRoom key is paused by a 429, without asking FitRoom', async () => {
    const budgetKey = budgetKeyFor(SIM_KEY);
    const before = simRequests(MODEL_CHECK);
    const limiter = new RateLimiter({
      redis: t.redis,
      prefix: t.config.prefix,
      limit: t.config.fitroom.rateLimit,
      windowMs: t.config.fitroom.rateWindowMs,
      requestTimeoutMs: t.config.fitroom.timeoutMs,
    });
    await limiter.pause(budgetKey, 5_000, 'rate_limited');
    try {
      const res = await check(t, 'model', await image(180));
      // Not 429: that is the caller's own limit to a FitRoom client, and it has not reached it.
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({
        error: 'Service Unavailable',
        message: "The service's FitRoom budget is busy; please try again shortly.",
      });
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(5);
    } finally {
      await limiter.resume(budgetKey);
    }
    expect(simRequests(MODEL_CHECK)).toBe(before);
  });

  it('answer 400 naming input_image when it is missing or not an image', async () => {
    const before = simRequests(MODEL_CHECK) + simRequests(CLOTHES_CHECK);
    expectBadRequest(
      await post(t, '/api/tryon/input_check/v1/model', { image: model }, TOKENS.acme),
      'input_image is required',
    );
    expectBadRequest(
      await post(t, '/api/tryon/input_check/v1/clothes', { input_image: 'cloth.jpg' }, TOKENS.acme),
      'input_image must be a file',
    );
    expectBadRequest(await check(t, 'model', Buffer.from('GIF89a nope')), 'input_image');
    expect(simRequests(MODEL_CHECK) + simRequests(CLOTHES_CHECK)).toBe(before);
  });
});

describe('without FitRoom keys, with a key FitRoom refuses, and in open dev mode', () => {
  it('answers input checks 503 in FitRoom shape when no FitRoom key is configured', async () => {
    const none = await buildTestApp({ storage: 'fs', env: { FITROOM_API_KEYS: '' } });
    try {
      for (const kind of ['model', 'clothes'] as const) {
        const res = await check(none, kind, model);
        expect(res.statusCode).toBe(503);
        const body = res.json<{ error: string; message: string }>();
        expect(body.error).toBe('Service Unavailable');
        expect(body.message).toContain('FITROOM_API_KEYS');
      }
    } finally {
      await none.close();
    }
  });

  it("answers 503 and rests the key when FitRoom refuses this service's key", async () => {
    const refused = await buildTestApp({
      storage: 'fs',
      env: { FITROOM_BASE_URL: sim.url, FITROOM_API_KEYS: 'a-key-fitroom-does-not-know' },
    });
    try {
      const res = await check(refused, 'model', await image(190));
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ error: 'Service Unavailable' });
      const status = await refused.app.inject({
        method: 'GET',
        url: '/admin/status',
        headers: auth(TOKENS.admin),
      });
      const body = status.json<{
        paused_keys: { reason: string }[];
        fitroom: { recent_errors: { code: string; operation: string }[] };
      }>();
      expect(body.paused_keys).toEqual([expect.objectContaining({ reason: 'unauthorized' })]);
      expect(body.fitroom.recent_errors[0]).toMatchObject({
        code: 'unauthorized',
        operation: 'checkModel',
      });
      // Paused: the next check does not reach FitRoom, and says when to come back.
      const unauthorized = sim.stats().unauthorized;
      const next = await check(refused, 'model', await image(191));
      expect(next.statusCode).toBe(503);
      expect(Number(next.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(sim.stats().unauthorized).toBe(unauthorized);
    } finally {
      await refused.close();
    }
  });

  it('answers 413 in FitRoom shape for a file over UPLOAD_MAX_BYTES', async () => {
    const small = await buildTestApp({ storage: 'fs', env: { UPLOAD_MAX_BYTES: '1024' } });
    try {
      const big = Buffer.concat([model, Buffer.alloc(2048)]);
      const res = await createTask(small, {
        model_image: big,
        cloth_image: cloth,
        cloth_type: 'upper',
      });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toEqual({
        error: 'Payload Too Large',
        message: 'file field "model_image" is larger than 1024 bytes',
      });
    } finally {
      await small.close();
    }
  });

  it('takes any X-API-KEY, or none, as the dev tenant when API_TOKENS is empty', async () => {
    const open = await buildTestApp({ storage: 'fs', env: { API_TOKENS: '' } });
    try {
      for (const token of [null, 'anything']) {
        const res = await createTask(
          open,
          { model_image: model, cloth_image: cloth, cloth_type: 'lower' },
          token,
        );
        expect(res.statusCode, res.payload).toBe(200);
        const item = await open.records.getItem(res.json<{ task_id: string }>().task_id, 'dev');
        expect(item).toMatchObject({ cloth_type: 'lower', status: 'queued' });
      }
    } finally {
      await open.close();
    }
  });
});

describe('OpenAPI', () => {
  it('documents the FitRoom-compatible routes under their own tag and X-API-KEY', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    const doc = res.json<{
      paths: Record<string, Record<string, { tags?: string[]; security?: unknown[] }>>;
      components: { securitySchemes: Record<string, unknown> };
    }>();
    const routes: [string, string][] = [
      ['/api/tryon/v2/tasks', 'post'],
      ['/api/tryon/v2/tasks/{id}', 'get'],
      ['/api/tryon/input_check/v1/model', 'post'],
      ['/api/tryon/input_check/v1/clothes', 'post'],
      ['/api/tryon/v2/results/{id}', 'get'],
    ];
    for (const [path, method] of routes) {
      expect(doc.paths[path]?.[method]?.tags, path).toEqual(['FitRoom-compatible']);
    }
    expect(doc.paths['/api/tryon/v2/tasks']?.post?.security).toEqual([{ fitroomApiKey: [] }]);
    expect(doc.paths['/api/tryon/v2/results/{id}']?.get?.security).toEqual([]);
    expect(doc.components.securitySchemes.fitroomApiKey).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-API-KEY',
    });
  });
});

describe('logs', () => {
  it('never hold an X-API-KEY or a FitRoom key', () => {
    const lines = t.logs.join('');
    expect(lines).toContain('/api/tryon/v2/tasks');
    for (const secret of [TOKENS.acme, TOKENS.globex, SIM_KEY, t.config.webhooks.secret!]) {
      expect(lines).not.toContain(secret);
    }
  });
});
