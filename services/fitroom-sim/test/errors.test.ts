/** Every error the simulator answers, its body, and the order in which checks apply. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSim, type RunningSim } from '../src/index.js';
import { call, file, form, jpeg, type Part } from './helpers.js';

const KEY = 'errors-key';
const POOR = 'poor-key'; // one credit
const BROKE = 'broke-key'; // no credit
const CREATE = 'POST /api/tryon/v2/tasks';

interface ErrorReply {
  error: string;
  message: string;
}

let model: Buffer;
let cloth: Buffer;
let sim: RunningSim;

beforeAll(async () => {
  [model, cloth] = await Promise.all([jpeg(120, 240, 1), jpeg(80, 80, 2)]);
  sim = await startSim({
    keys: { [KEY]: 1000, [POOR]: 1, [BROKE]: 0 },
    timeScale: 50,
    rateLimit: 100_000,
    seed: 21,
  });
});
afterAll(() => sim.close());
beforeEach(() => {
  sim.configure({ serverErrorRate: 0, unavailableRate: 0, latencyMs: { min: 0, max: 0 } });
});

const valid = (): Record<string, Part> => ({
  cloth_image: file(cloth),
  model_image: file(model),
  cloth_type: 'upper',
});

const createWith = (fields: Record<string, Part | undefined>, key = KEY) =>
  call<ErrorReply>(sim.url, 'POST', '/api/tryon/v2/tasks', { key, body: form(fields) });

describe('400: create validation', () => {
  const jpegBytes = () => model;
  const cases: Array<[string, () => Record<string, Part | undefined>, string]> = [
    ['no model_image', () => ({ ...valid(), model_image: undefined }), 'model_image is required'],
    ['no cloth_image', () => ({ ...valid(), cloth_image: undefined }), 'cloth_image is required'],
    [
      'model_image as text',
      () => ({ ...valid(), model_image: 'model.jpg' }),
      'model_image must be a file',
    ],
    ['no cloth_type', () => ({ ...valid(), cloth_type: undefined }), 'cloth_type is required'],
    ['cloth_type full', () => ({ ...valid(), cloth_type: 'full' }), 'cloth_type must be one of'],
    ['cloth_type UPPER', () => ({ ...valid(), cloth_type: 'UPPER' }), 'cloth_type must be one of'],
    [
      'combo without lower',
      () => ({ ...valid(), cloth_type: 'combo' }),
      'lower_cloth_image is required',
    ],
    ['hd_mode yes', () => ({ ...valid(), hd_mode: 'yes' }), 'hd_mode must be "true" or "false"'],
    ['hd_mode 2', () => ({ ...valid(), hd_mode: '2' }), 'hd_mode must be "true" or "false"'],
    ['hd_mode empty', () => ({ ...valid(), hd_mode: '' }), 'hd_mode must be "true" or "false"'],
    [
      'cloth_image not an image',
      () => ({
        ...valid(),
        cloth_image: { data: Buffer.from('not an image'), type: 'image/jpeg' },
      }),
      'cloth_image is not a decodable image',
    ],
    [
      'model_image truncated',
      () => ({ ...valid(), model_image: file(jpegBytes().subarray(0, jpegBytes().length - 100)) }),
      'model_image is not a decodable image',
    ],
    [
      'model_image empty',
      () => ({ ...valid(), model_image: file(Buffer.alloc(0)) }),
      'model_image is not a decodable image',
    ],
    [
      'lower_cloth_image not an image',
      () => ({ ...valid(), cloth_type: 'combo', lower_cloth_image: file(Buffer.from('<svg/>')) }),
      'lower_cloth_image is not a decodable image',
    ],
  ];

  it.each(cases)('%s', async (_name, fields, message) => {
    const before = sim.stats().keys[KEY]?.credits_left;
    const reply = await createWith(fields());
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('Bad Request');
    expect(reply.body.message).toContain('Your request is invalid');
    expect(reply.body.message).toContain(message);
    expect(sim.stats().keys[KEY]?.credits_left).toBe(before);
  });

  it('a body that is not multipart is 400 (JSON, urlencoded, none)', async () => {
    const url = `${sim.url}/api/tryon/v2/tasks`;
    const bodies: Array<RequestInit> = [
      {
        body: JSON.stringify({ cloth_type: 'upper' }),
        headers: { 'content-type': 'application/json' },
      },
      {
        body: 'cloth_type=upper',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      { body: 'garbage', headers: { 'content-type': 'text/plain' } },
      {},
      { body: 'x', headers: { 'content-type': 'multipart/form-data' } }, // no boundary
      { body: '--b\r\nbroken', headers: { 'content-type': 'multipart/form-data; boundary=b' } },
    ];
    for (const init of bodies) {
      const response = await fetch(url, {
        method: 'POST',
        ...init,
        headers: { ...(init.headers as Record<string, string>), 'x-api-key': KEY },
      });
      const body = (await response.json()) as ErrorReply;
      expect(response.status, JSON.stringify(init)).toBe(400);
      expect(body.error).toBe('Bad Request');
      expect(body.message).toMatch(/^Your request is invalid/);
    }
  });

  it('a file over maxUploadBytes is 413 with the same body shape', async () => {
    sim.configure({ maxUploadBytes: 1000 });
    try {
      const big = await jpeg(600, 600, 9);
      expect(big.length).toBeGreaterThan(1000);
      const reply = await createWith({ ...valid(), model_image: file(big) });
      expect(reply.status).toBe(413);
      expect(reply.body).toEqual({
        error: 'Payload Too Large',
        message: 'model_image is larger than 1000 bytes.',
      });
    } finally {
      sim.configure({ maxUploadBytes: 25 * 1024 * 1024 });
    }
  });
});

describe('401, 402, 404', () => {
  it('401 for a missing or unknown X-API-KEY, counted as unauthorized, not under any key', async () => {
    const before = sim.stats();
    for (const key of [undefined, 'nope', '']) {
      const reply = await call<ErrorReply>(sim.url, 'GET', '/api/tryon/v2/tasks/1', { key });
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ error: 'Unauthorized', message: 'Your API key is wrong.' });
    }
    const create = await createWith(valid(), 'nope');
    expect(create.status).toBe(401);
    const after = sim.stats();
    expect(after.unauthorized).toBe(before.unauthorized + 4);
    expect(after.keys[KEY]?.total).toBe(before.keys[KEY]?.total);
    expect(Object.keys(after.keys).sort()).toEqual([BROKE, KEY, POOR].sort());
  });

  it('402 once credits run out; validation comes first; polls and checks still work', async () => {
    const ok = await call<{ task_id: string }>(sim.url, 'POST', '/api/tryon/v2/tasks', {
      key: POOR,
      body: form(valid()),
    });
    expect(ok.status).toBe(200);
    expect(sim.stats().keys[POOR]?.credits_left).toBe(0);

    const refused = await createWith(valid(), POOR);
    expect(refused.status).toBe(402);
    expect(refused.body).toEqual({
      error: 'Payment Required',
      message: 'Insufficient credit. Please upgrade your plan or purchase more credits.',
    });
    expect((await createWith({ ...valid(), cloth_type: 'bad' }, BROKE)).status).toBe(400);
    expect((await createWith(valid(), BROKE)).status).toBe(402);

    const poll = await call(sim.url, 'GET', `/api/tryon/v2/tasks/${ok.body.task_id}`, {
      key: POOR,
    });
    expect(poll.status).toBe(200);
    const check = await call(sim.url, 'POST', '/api/tryon/input_check/v1/model', {
      key: BROKE,
      body: form({ input_image: file(model) }),
    });
    expect(check.status).toBe(200);

    // Credits can be topped up at run time (also over POST /_sim/config).
    const topUp = await fetch(`${sim.url}/_sim/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keys: { [BROKE]: 1 } }),
    });
    expect(topUp.status).toBe(200);
    expect((await createWith(valid(), BROKE)).status).toBe(200);
    expect(sim.stats().keys[BROKE]).toMatchObject({ credits_left: 0, creates: 1 });
    expect(sim.stats().keys[BROKE]?.requests[CREATE]).toEqual({ '200': 1, '400': 1, '402': 1 });
  });

  it("404 for an unknown task and for another key's task", async () => {
    const mine = await call<{ task_id: string }>(sim.url, 'POST', '/api/tryon/v2/tasks', {
      key: KEY,
      body: form(valid()),
    });
    for (const [id, key] of [
      ['999999999', KEY],
      ['abc', KEY],
      [mine.body.task_id, POOR],
    ] as const) {
      const reply = await call<ErrorReply>(sim.url, 'GET', `/api/tryon/v2/tasks/${id}`, { key });
      expect(reply.status).toBe(404);
      expect(reply.body).toEqual({ error: 'Not Found', message: `Task ${id} not found.` });
    }
    const route = await call<ErrorReply>(sim.url, 'GET', '/api/tryon/v3/tasks', { key: KEY });
    expect(route.status).toBe(404);
    expect(route.body.error).toBe('Not Found');
  });
});

describe('injected faults and latency', () => {
  it('serverErrorRate 1 -> 500, unavailableRate 1 -> 503, counted, no credit spent', async () => {
    sim.configure({ serverErrorRate: 1 });
    const before = sim.stats().keys[KEY];
    const e500 = await createWith(valid());
    expect(e500.status).toBe(500);
    expect(e500.body).toEqual({
      error: 'Internal Server Error',
      message: 'We had a problem with our server. Try again later.',
    });
    sim.configure({ serverErrorRate: 0, unavailableRate: 1 });
    const e503 = await call<ErrorReply>(sim.url, 'GET', '/api/tryon/v2/tasks/1', { key: KEY });
    expect(e503.status).toBe(503);
    expect(e503.body).toEqual({
      error: 'Service Unavailable',
      message: "We're temporarily offline for maintenance. Please try again later.",
    });
    // After auth: a wrong key is still 401. Before validation: a bad body is still 503.
    expect((await createWith(valid(), 'nope')).status).toBe(401);
    expect((await createWith({})).status).toBe(503);

    const after = sim.stats().keys[KEY];
    expect(after?.credits_left).toBe(before?.credits_left);
    expect(after?.total).toBe((before?.total ?? 0) + 3);
    expect(after?.requests[CREATE]?.['500']).toBe((before?.requests[CREATE]?.['500'] ?? 0) + 1);
  });

  it('shares between 0 and 1 inject about that share (seeded)', async () => {
    sim.configure({ serverErrorRate: 0.25, unavailableRate: 0.25 });
    const statuses = await Promise.all(
      Array.from({ length: 200 }, () =>
        call(sim.url, 'GET', '/api/tryon/v2/tasks/1', { key: KEY }),
      ),
    );
    const share = (status: number) => statuses.filter((r) => r.status === status).length / 200;
    expect(share(500)).toBeGreaterThan(0.1);
    expect(share(500)).toBeLessThan(0.4);
    expect(share(503)).toBeGreaterThan(0.1);
    expect(share(503)).toBeLessThan(0.4);
    expect(share(404)).toBeGreaterThan(0.35);
  });

  it('latencyMs delays answers by real time', async () => {
    sim.configure({ latencyMs: { min: 300, max: 300 } });
    const start = performance.now();
    const reply = await call(sim.url, 'GET', '/api/tryon/v2/tasks/1', { key: KEY });
    expect(reply.status).toBe(404);
    expect(performance.now() - start).toBeGreaterThanOrEqual(290);
    // /_sim routes are not delayed, authenticated or counted.
    const stats = await call<{ keys: object }>(sim.url, 'GET', '/_sim/stats');
    expect(stats.status).toBe(200);
    expect(Object.keys(stats.body.keys)).toContain(KEY);
  });
});

describe('/_sim/config', () => {
  it('answers the knobs without API keys, and 400 for invalid values', async () => {
    const bad = await fetch(`${sim.url}/_sim/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ timeScale: -1, failureRate: 2 }),
    });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as ErrorReply;
    expect(body.message).toContain('timeScale must be a number > 0');
    expect(body.message).toContain('failureRate must be between 0 and 1');

    const ok = await fetch(`${sim.url}/_sim/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ durations: { hdMs: 40_000 } }),
    });
    const knobs = (await ok.json()) as Record<string, unknown>;
    expect(ok.status).toBe(200);
    expect(knobs).toMatchObject({
      timeScale: 50,
      durations: { hdMs: 40_000, normalMs: 9000 },
      keys: 3,
    });
    expect(JSON.stringify(knobs)).not.toContain(KEY);
    sim.configure({ durations: { hdMs: 30_000 } });
  });
});
