/**
 * Task lifecycle and result downloads. Exact phase boundaries run on a manual clock (the
 * `now` option); the end-to-end runs use real time at scale 20 with ordering-only assertions.
 */
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type RunningSim, type TaskView } from '../src/index.js';
import { documentedResponses, hasDocumentedShape, readDoc } from './doc.js';
import { call, file, form, jpeg, manualClock, sha256, sleep } from './helpers.js';

const KEY = 'lifecycle-key';
const GET = 'GET /api/tryon/v2/tasks/:id';
const documented = documentedResponses(readDoc(), GET);
const docExample = (status: string) => {
  const found = documented.find((d) => d.json.status === status);
  if (!found) throw new Error(`the document has no ${status} example`);
  return found.json;
};

let model: Buffer;
let bigModel: Buffer;
let cloth: Buffer;
let otherCloth: Buffer;
let lowerCloth: Buffer;

beforeAll(async () => {
  [model, bigModel, cloth, otherCloth, lowerCloth] = await Promise.all([
    jpeg(300, 600, 1),
    jpeg(2400, 3000, 2),
    jpeg(200, 200, 3),
    jpeg(200, 220, 4),
    jpeg(180, 260, 5),
  ]);
});

async function create(
  sim: RunningSim,
  fields: Partial<Record<'cloth_type' | 'hd_mode', string>> & {
    model?: Buffer;
    lower?: Buffer;
    cloth?: Buffer;
  } = {},
): Promise<string> {
  const reply = await call<{ task_id: string; status: string }>(
    sim.url,
    'POST',
    '/api/tryon/v2/tasks',
    {
      key: KEY,
      body: form({
        cloth_image: file(fields.cloth ?? cloth),
        lower_cloth_image: fields.lower ? file(fields.lower) : undefined,
        model_image: file(fields.model ?? model),
        cloth_type: fields.cloth_type ?? 'upper',
        hd_mode: fields.hd_mode,
      }),
    },
  );
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  expect(reply.body).toEqual({
    task_id: expect.stringMatching(/^\d+$/) as string,
    status: 'CREATED',
  });
  return reply.body.task_id;
}

async function poll(sim: RunningSim, id: string): Promise<TaskView> {
  const reply = await call<TaskView>(sim.url, 'GET', `/api/tryon/v2/tasks/${id}`, { key: KEY });
  expect(reply.status).toBe(200);
  return reply.body;
}

async function download(
  url: string,
): Promise<{ status: number; bytes: Buffer; type: string | null }> {
  const response = await fetch(url);
  return {
    status: response.status,
    bytes: Buffer.from(await response.arrayBuffer()),
    type: response.headers.get('content-type'),
  };
}

describe('lifecycle on a manual clock (exact)', () => {
  const clock = manualClock();
  let sim: RunningSim;
  beforeAll(async () => {
    sim = await startSim({
      keys: { [KEY]: 100 },
      firstTaskId: 123456,
      durations: { jitter: 0 },
      now: clock.now,
      seed: 11,
    });
  });
  afterAll(() => sim.close());

  it('CREATED -> PROCESSING 1..99 -> COMPLETED, fields exactly as documented', async () => {
    const createdAtMs = clock.now();
    const id = await create(sim);
    expect(id).toBe('123456');
    const createdAt = Math.floor(createdAtMs / 1000);

    const created = await poll(sim, id);
    expect(created).toEqual({ task_id: id, status: 'CREATED', progress: 0, created_at: createdAt });
    expect(hasDocumentedShape(created, docExample('CREATED'))).toBe(true);

    clock.advance(499);
    expect((await poll(sim, id)).status).toBe('CREATED');
    clock.advance(1); // queuedMs 500: processing starts
    const started = await poll(sim, id);
    expect(started).toEqual({
      task_id: id,
      status: 'PROCESSING',
      progress: 1,
      created_at: createdAt,
      started_at: Math.floor((createdAtMs + 500) / 1000),
    });
    expect(hasDocumentedShape(started, docExample('PROCESSING'))).toBe(true);

    clock.advance(4250); // half of the 8 500 ms of processing
    expect(await poll(sim, id)).toMatchObject({ status: 'PROCESSING', progress: 50 });
    clock.advance(4249);
    expect(await poll(sim, id)).toMatchObject({ status: 'PROCESSING', progress: 99 });
    clock.advance(1); // 9 000 ms after create
    const done = await poll(sim, id);
    expect(done).toEqual({
      task_id: id,
      status: 'COMPLETED',
      download_signed_url: expect.stringMatching(
        new RegExp(`^${sim.url}/_sim/results/${id}\\.jpg\\?expires=\\d+&signature=[0-9a-f]{64}$`),
      ) as string,
      progress: 100,
      created_at: createdAt,
      started_at: Math.floor((createdAtMs + 500) / 1000),
      completed_at: Math.floor((createdAtMs + 9000) / 1000),
    });
    expect(hasDocumentedShape(done, docExample('COMPLETED'))).toBe(true);
    expect(Object.keys(done)).toEqual(Object.keys(docExample('COMPLETED')));
  });

  it('hd_mode takes 30 s instead of 9 s; task ids count up', async () => {
    const normal = await create(sim, { hd_mode: 'false' });
    const hd = await create(sim, { hd_mode: 'true' });
    expect(Number(hd)).toBe(Number(normal) + 1);
    clock.advance(9000);
    expect((await poll(sim, normal)).status).toBe('COMPLETED');
    // 8 500 of its 29 500 ms of processing: 28%
    expect(await poll(sim, hd)).toMatchObject({ status: 'PROCESSING', progress: 28 });
    clock.advance(21_000);
    const done = await poll(sim, hd);
    expect(done.status).toBe('COMPLETED');
    if (done.status === 'COMPLETED') expect(done.completed_at - done.created_at).toBe(30);
  });

  it('the download link is fresh on every poll and expires after downloadUrlTtlMs', async () => {
    const id = await create(sim);
    clock.advance(9000);
    const first = await poll(sim, id);
    if (first.status !== 'COMPLETED') throw new Error(`not completed: ${first.status}`);
    const ok = await download(first.download_signed_url);
    expect(ok.status).toBe(200);
    expect(ok.type).toBe('image/jpeg');
    expect(sim.stats().downloads[id]).toBe(sha256(ok.bytes));

    clock.advance(600_000); // the default TTL: still valid at its last millisecond
    expect((await download(first.download_signed_url)).status).toBe(200);
    clock.advance(1);
    const expired = await download(first.download_signed_url);
    expect(expired.status).toBe(403);
    expect(JSON.parse(expired.bytes.toString())).toEqual({
      error: 'Forbidden',
      message: 'The download link has expired.',
    });

    const again = await poll(sim, id);
    if (again.status !== 'COMPLETED') throw new Error('still completed');
    expect(again.download_signed_url).not.toBe(first.download_signed_url);
    const fresh = await download(again.download_signed_url);
    expect(fresh.status).toBe(200);
    expect(fresh.bytes.equals(ok.bytes)).toBe(true);
  });

  it('a bad, missing or borrowed signature is 403', async () => {
    const a = await create(sim);
    const b = await create(sim);
    clock.advance(9000);
    const viewA = await poll(sim, a);
    const viewB = await poll(sim, b);
    if (viewA.status !== 'COMPLETED' || viewB.status !== 'COMPLETED') throw new Error('not done');
    const url = new URL(viewA.download_signed_url);
    const signature = url.searchParams.get('signature') ?? '';

    const flipped = new URL(url);
    flipped.searchParams.set('signature', (signature[0] === 'a' ? 'b' : 'a') + signature.slice(1));
    const longer = new URL(url);
    longer.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 1000));
    const unsigned = new URL(url);
    unsigned.searchParams.delete('signature');
    const borrowed = new URL(viewB.download_signed_url);
    borrowed.pathname = url.pathname; // B's signature on A's result

    for (const bad of [flipped, longer, unsigned, borrowed]) {
      const reply = await download(bad.toString());
      expect(reply.status, bad.toString()).toBe(403);
      expect(JSON.parse(reply.bytes.toString())).toMatchObject({ error: 'Forbidden' });
    }
    expect((await download(url.toString())).status).toBe(200);
    // Downloads need no API key and are not API requests.
    expect(sim.stats().keys[KEY]?.requests['GET /_sim/results/:file']).toBeUndefined();
  });

  it('failureRate 1: FAILED at completion time, as documented, with no link', async () => {
    sim.configure({ failureRate: 1 });
    try {
      const id = await create(sim);
      clock.advance(8999);
      expect((await poll(sim, id)).status).toBe('PROCESSING');
      clock.advance(1);
      const failed = await poll(sim, id);
      expect(failed).toEqual({
        task_id: id,
        status: 'FAILED',
        error: 'Failed to process try-on task',
        created_at: expect.any(Number) as number,
        started_at: expect.any(Number) as number,
        completed_at: expect.any(Number) as number,
      });
      expect(hasDocumentedShape(failed, docExample('FAILED'))).toBe(true);
      expect(Object.keys(failed)).toEqual(Object.keys(docExample('FAILED')));
      const stats = sim.stats();
      expect(stats.tasks.failed).toBe(1);
      expect(stats.tasks.created).toBe(stats.tasks.completed + stats.tasks.failed);
    } finally {
      sim.configure({ failureRate: 0 });
    }
  });
});

describe('lifecycle in real time (time scale 20)', () => {
  let sim: RunningSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it('normal, hd and combo tasks progress in order and complete; hd is slower', async () => {
    // Polling three tasks every 25 ms is far over 60 per (3 s) window: lift the limit here.
    sim = await startSim({ keys: { [KEY]: 100 }, timeScale: 20, rateLimit: 100_000, seed: 5 });
    const running = sim;
    const ids = {
      normal: await create(running),
      hd: await create(running, { hd_mode: 'true' }),
      combo: await create(running, { cloth_type: 'combo', lower: lowerCloth }),
    };
    const order = ['CREATED', 'PROCESSING', 'COMPLETED'];
    const seen: Record<string, TaskView[]> = { normal: [], hd: [], combo: [] };
    const doneAtRound: Record<string, number> = {};
    for (let round = 0; Object.keys(doneAtRound).length < 3; round++) {
      expect(round, 'tasks finish within 10 s').toBeLessThan(400);
      for (const [name, id] of Object.entries(ids)) {
        if (doneAtRound[name] !== undefined) continue;
        const view = await poll(running, id);
        seen[name]?.push(view);
        if (view.status === 'COMPLETED') doneAtRound[name] = round;
      }
      await sleep(25);
    }
    for (const views of Object.values(seen)) {
      const ranks = views.map((v) => order.indexOf(v.status));
      expect(ranks.every((r) => r >= 0)).toBe(true);
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
      const progress = views.map((v) => ('progress' in v ? v.progress : -1));
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      for (const v of views) {
        if (v.status === 'PROCESSING') expect(v.progress).toBeGreaterThanOrEqual(1);
        if (v.status === 'PROCESSING') expect(v.progress).toBeLessThanOrEqual(99);
        expect(hasDocumentedShape(v, docExample(v.status))).toBe(true);
      }
    }
    // hd processing lasts 1.5 s real: polled every ~25 ms, its progress is seen rising.
    const hdProgress = new Set(
      seen.hd?.filter((v) => v.status === 'PROCESSING').map((v) => v.progress),
    );
    expect(hdProgress.size).toBeGreaterThanOrEqual(2);
    expect(doneAtRound.normal).toBeLessThanOrEqual(doneAtRound.hd ?? -1);

    const last = (name: string) => seen[name]?.at(-1);
    const normal = last('normal');
    const hd = last('hd');
    if (normal?.status !== 'COMPLETED' || hd?.status !== 'COMPLETED') throw new Error('not done');
    // FitRoom time: ~9 s and ~30 s (jitter 0.1) at any time scale.
    expect(normal.completed_at - normal.created_at).toBeGreaterThanOrEqual(7);
    expect(normal.completed_at - normal.created_at).toBeLessThanOrEqual(10);
    expect(hd.completed_at - hd.created_at).toBeGreaterThanOrEqual(26);
    expect(hd.completed_at - hd.created_at).toBeLessThanOrEqual(34);
    expect(running.stats().tasks).toEqual({ created: 3, completed: 3, failed: 0 });
    expect(running.stats().keys[KEY]).toMatchObject({ creates: 3, credits_left: 97, http_429: 0 });
  });
});

describe('result images', () => {
  let sim: RunningSim;
  beforeAll(async () => {
    sim = await startSim({ keys: { [KEY]: 100 }, timeScale: 100, rateLimit: 100_000, seed: 9 });
  });
  afterAll(() => sim.close());

  async function result(target: RunningSim, id: string): Promise<Buffer> {
    for (;;) {
      const reply = await call<TaskView>(target.url, 'GET', `/api/tryon/v2/tasks/${id}`, {
        key: KEY,
      });
      const view = reply.body;
      if (view.status === 'COMPLETED') {
        const got = await download(view.download_signed_url);
        expect(got.status).toBe(200);
        expect(target.stats().downloads[id]).toBe(sha256(got.bytes));
        return got.bytes;
      }
      expect(view.status).not.toBe('FAILED');
      await sleep(30);
    }
  }

  it('is a decodable JPEG, at most 2048 px, the model photo with the garment on it', async () => {
    const small = await result(sim, await create(sim));
    const smallMeta = await sharp(small).metadata();
    expect(smallMeta).toMatchObject({ format: 'jpeg', width: 300, height: 600 });

    const big = await result(sim, await create(sim, { model: bigModel, hd_mode: 'true' }));
    const bigMeta = await sharp(big).metadata();
    expect(bigMeta.format).toBe('jpeg');
    expect(Math.max(bigMeta.width ?? 0, bigMeta.height ?? 0)).toBe(2048);
    expect(bigMeta).toMatchObject({ width: 1638, height: 2048 });
    await sharp(big).raw().toBuffer(); // decodes fully

    // The garment changes the picture: the torso differs from the plain model photo.
    const plainModel = await sharp(model).raw().toBuffer();
    const rendered = await sharp(small).raw().toBuffer();
    expect(rendered.length).toBe(plainModel.length);
    const at = (raw: Buffer, x: number, y: number) => [
      ...raw.subarray((y * 300 + x) * 3, (y * 300 + x) * 3 + 3),
    ];
    const distance = (x: number, y: number) =>
      at(rendered, x, y).reduce(
        (sum, v, i) => sum + Math.abs(v - (at(plainModel, x, y)[i] ?? 0)),
        0,
      );
    expect(distance(150, 250)).toBeGreaterThan(60); // chest: garment
    expect(distance(10, 580)).toBeLessThan(20); // bottom corner: model photo (JPEG noise only)
  });

  it('identical inputs give identical bytes, here and in another simulator; others differ', async () => {
    const a = await result(sim, await create(sim));
    const b = await result(sim, await create(sim));
    expect(a.equals(b)).toBe(true);

    const other = await startSim({
      keys: { [KEY]: 10 },
      timeScale: 100,
      rateLimit: 100_000,
      seed: 1,
    });
    try {
      expect((await result(other, await create(other))).equals(a)).toBe(true);
    } finally {
      await other.close();
    }

    const otherCloth_ = await result(sim, await create(sim, { cloth: otherCloth }));
    const lower = await result(sim, await create(sim, { cloth_type: 'lower' }));
    const combo = await result(sim, await create(sim, { cloth_type: 'combo', lower: lowerCloth }));
    const full = await result(sim, await create(sim, { cloth_type: 'full_set' }));
    const all = [a, otherCloth_, lower, combo, full].map((bytes) => sha256(bytes));
    expect(new Set(all).size).toBe(all.length);
  });
});
