/**
 * Faults after a task exists (issue 11) and the other behaviours the document allows, through
 * HTTP: a create answered late, reset or 500 after its task was made (each charged, each task
 * pollable by id), a 404 window after create, 429 with Retry-After 0 or a past date, latency
 * per endpoint, hd_mode spellings, a drawn CREATED wait, a progress curve, tasks_created.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type RunningSim, type SimOptions, type SimTaskPage } from '../src/index.js';
import { call, file, form, jpeg, manualClock, sleep } from './helpers.js';

const KEY = 'fault-key';
const SCALE = 100;
const CREATE = 'POST /api/tryon/v2/tasks';

let model: Buffer;
let cloth: Buffer;
let sim: RunningSim | undefined;

beforeAll(async () => {
  [model, cloth] = await Promise.all([jpeg(120, 200, 4), jpeg(60, 60, 5)]);
});

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: SimOptions): Promise<RunningSim> {
  sim = await startSim({ keys: { [KEY]: 100 }, timeScale: SCALE, seed: 11, ...options });
  return sim;
}

const createBody = (hd = 'false'): FormData =>
  form({ cloth_image: file(cloth), model_image: file(model), cloth_type: 'upper', hd_mode: hd });

/** A create with a client timeout, as a worker sends it. */
const createFetch = (s: RunningSim, timeoutMs = 2_000): Promise<Response> =>
  fetch(`${s.url}/api/tryon/v2/tasks`, {
    method: 'POST',
    headers: { 'x-api-key': KEY },
    body: createBody(),
    signal: AbortSignal.timeout(timeoutMs),
  });

const poll = (s: RunningSim, id: string) =>
  call<{ status: string; progress?: number }>(s.url, 'GET', `/api/tryon/v2/tasks/${id}`, {
    key: KEY,
  });

const taskIds = (s: RunningSim): string[] => s.tasks({ key: KEY }).tasks.map((t) => t.id);

describe('faults after the task exists: the credit is spent, the task can be polled', () => {
  it('a late create makes and charges its task at once and answers after lateCreateMs', async () => {
    // every 2nd: the first create answers at once (and warms up image decoding).
    const s = await start({ faults: { lateCreate: { every: 2 }, lateCreateMs: 100_000 } });
    expect((await createFetch(s)).status).toBe(200);
    const began = performance.now();
    await expect(createFetch(s, 400)).rejects.toThrow();
    const stats = s.stats().keys[KEY];
    expect(stats?.tasks_created).toBe(2);
    expect(stats?.credits_left).toBe(98);
    expect(stats?.creates).toBe(1);
    const late = taskIds(s)[1];
    expect((await poll(s, late ?? '')).status).toBe(200);
    // Answered (to nobody) 1 real s after the request: 100 s of FitRoom time at scale 100.
    while (s.stats().keys[KEY]?.creates === 1 && performance.now() - began < 5_000) await sleep(20);
    expect(performance.now() - began).toBeGreaterThanOrEqual(950);
    expect(s.stats().keys[KEY]?.requests[CREATE]).toEqual({ '200': 2 });
  });

  it('a late create a patient client waits for answers 200 with its task id', async () => {
    const s = await start({ faults: { lateCreate: { every: 1 }, lateCreateMs: 20_000 } });
    const began = performance.now();
    const reply = await createFetch(s, 5_000);
    expect(reply.status).toBe(200);
    const body = (await reply.json()) as { task_id: string };
    expect(performance.now() - began).toBeGreaterThanOrEqual(190);
    expect(taskIds(s)).toEqual([body.task_id]);
  });

  it('a reset after create leaves a charged task that can be polled by id', async () => {
    const s = await start({ faults: { resetAfterCreate: { every: 3 } } });
    for (let i = 0; i < 2; i++) expect((await createFetch(s)).status).toBe(200);
    await expect(createFetch(s)).rejects.toThrow();
    const stats = s.stats().keys[KEY];
    expect(stats?.tasks_created).toBe(3);
    expect(stats?.credits_left).toBe(97);
    expect(stats?.requests[CREATE]).toEqual({ '200': 2, reset: 1 });
    const ids = taskIds(s);
    expect(ids).toHaveLength(3);
    expect((await poll(s, ids[2] ?? '')).status).toBe(200);
  });

  it('a 500 after create leaves a charged task that can be polled by id', async () => {
    const s = await start({ faults: { errorAfterCreate: { every: 1 } } });
    const reply = await createFetch(s);
    expect(reply.status).toBe(500);
    expect(await reply.json()).toEqual({
      error: 'Internal Server Error',
      message: 'We had a problem with our server. Try again later.',
    });
    expect(s.stats().keys[KEY]?.tasks_created).toBe(1);
    expect(s.stats().keys[KEY]?.creates).toBe(0);
    expect((await poll(s, taskIds(s)[0] ?? '')).status).toBe(200);
  });

  it('rates are seeded: the same seed injects the same creates', async () => {
    const outcomes = async (): Promise<number[]> => {
      const s = await start({ faults: { errorAfterCreate: { rate: 0.5 } } });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await createFetch(s)).status);
      expect(s.stats().keys[KEY]?.tasks_created).toBe(12);
      await s.close();
      return statuses;
    };
    const first = await outcomes();
    expect(first).toContain(500);
    expect(first).toContain(200);
    expect(await outcomes()).toEqual(first);
  });
});

describe('a 404 window just after create', () => {
  it('polls answer 404 for notFoundMs, then the task is found', async () => {
    const clock = manualClock();
    const s = await start({
      now: clock.now,
      faults: { notFoundAfterCreate: { every: 2 }, notFoundMs: 3_000 },
    });
    const visible = (await (await createFetch(s)).json()) as { task_id: string };
    const hidden = (await (await createFetch(s)).json()) as { task_id: string };
    expect((await poll(s, visible.task_id)).status).toBe(200);
    const missing = await poll(s, hidden.task_id);
    expect(missing.status).toBe(404);
    clock.advance(2_900 / SCALE);
    expect((await poll(s, hidden.task_id)).status).toBe(404);
    clock.advance(200 / SCALE);
    const found = await poll(s, hidden.task_id);
    expect(found.status).toBe(200);
    expect(found.body.status).toBe('PROCESSING');
  });
});

describe('spurious 429s', () => {
  it('Retry-After: 0 on every 2nd request, and a date in the past', async () => {
    const s = await start({ faults: { retryAfterZero: { every: 2 } } });
    const first = await call(s.url, 'GET', '/api/tryon/v2/tasks/1', { key: KEY });
    expect(first.status).toBe(404);
    const second = await call(s.url, 'GET', '/api/tryon/v2/tasks/1', { key: KEY });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('0');
    expect(second.body).toEqual({
      error: 'Too Many Requests',
      message: 'You requested too much API. Try again later',
    });
    s.configure({ faults: { retryAfterZero: {}, retryAfterPast: { every: 1 } } });
    const past = await call(s.url, 'GET', '/api/tryon/v2/tasks/1', { key: KEY });
    expect(past.status).toBe(429);
    const date = Date.parse(past.headers.get('retry-after') ?? '');
    expect(date).toBeLessThan(Date.now());
    expect(s.stats().keys[KEY]?.http_429).toBe(2);
  });
});

describe('latency per endpoint', () => {
  it('delays the named endpoint by FitRoom ms at the time scale, not the others', async () => {
    const s = await start({ routeLatencyMs: { poll: { min: 30_000, max: 30_000 } } });
    await createFetch(s); // warms up image decoding, so the timed create is typical
    const t0 = performance.now();
    const created = (await (await createFetch(s)).json()) as { task_id: string };
    const createMs = performance.now() - t0;
    const t1 = performance.now();
    expect((await poll(s, created.task_id)).status).toBe(200);
    const pollMs = performance.now() - t1;
    expect(pollMs).toBeGreaterThanOrEqual(290);
    expect(createMs).toBeLessThan(pollMs);
  });
});

describe('hd_mode spellings', () => {
  it('true/false, True/False, 1/0 in any case; hd tasks are hd', async () => {
    const s = await start({});
    const spellings = { True: true, FALSE: false, '1': true, '0': false, tRuE: true, false: false };
    for (const [spelling, hd] of Object.entries(spellings)) {
      const reply = await call<{ task_id: string }>(s.url, 'POST', '/api/tryon/v2/tasks', {
        key: KEY,
        body: createBody(spelling),
      });
      expect(reply.status, spelling).toBe(200);
      const task = s.tasks({ key: KEY }).tasks.find((t) => t.id === reply.body.task_id);
      expect(task?.hd, spelling).toBe(hd);
    }
  });
});

describe('a drawn CREATED wait and a progress curve, through HTTP', () => {
  it('each task waits its own time in CREATED, then processes for its full duration', async () => {
    const clock = manualClock();
    const s = await start({
      now: clock.now,
      durations: { family: 'fixed', queuedFamily: 'exponential', queuedMs: 5_000 },
    });
    for (let i = 0; i < 8; i++) await createFetch(s);
    const page: SimTaskPage = s.tasks({ key: KEY });
    const waits = page.tasks.map((t) => (t.started_ms - t.created_ms) * SCALE);
    expect(new Set(waits.map(Math.round)).size).toBe(8);
    for (const t of page.tasks) {
      expect((t.completed_ms - t.started_ms) * SCALE).toBeCloseTo(9_000, 0);
    }
    const longest = page.tasks.reduce((a, b) =>
      b.started_ms - b.created_ms > a.started_ms - a.created_ms ? b : a,
    );
    clock.advance(longest.started_ms - clock.now() - 1);
    expect((await poll(s, longest.id)).body.status).toBe('CREATED');
    clock.advance(2);
    expect((await poll(s, longest.id)).body.status).toBe('PROCESSING');
  });

  it('stalled progress rises, sits at 95..99 for the last part, and is 100 only when done', async () => {
    const clock = manualClock();
    const s = await start({
      now: clock.now,
      durations: { family: 'fixed', queuedMs: 0 },
      progress: { curve: 'stalled', stallShare: 0.5 },
    });
    const { task_id: id } = (await (await createFetch(s)).json()) as { task_id: string };
    const seen: number[] = [];
    for (let i = 1; i < 30; i++) {
      clock.advance(300 / SCALE);
      const reply = await poll(s, id);
      expect(reply.body.status).toBe('PROCESSING');
      seen.push(reply.body.progress ?? -1);
    }
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.slice(15).every((p) => p >= 95 && p <= 99)).toBe(true);
    expect(seen[7]).toBeLessThan(95);
    clock.advance(300 / SCALE);
    expect((await poll(s, id)).body).toMatchObject({ status: 'COMPLETED', progress: 100 });
  });
});
