/**
 * GET /_sim/tasks: per-task timelines in real milliseconds for benchmarks, on a manual clock so
 * every time is exact, across a run-time change of the time scale, with key filter and paging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type RunningSim, type SimTaskPage } from '../src/index.js';
import { VirtualClock } from '../src/clock.js';
import { call, file, form, jpeg, manualClock } from './helpers.js';

const KEY = 'times-key';
const OTHER = 'times-other';
const SCALE = 10;

let model: Buffer;
let cloth: Buffer;

beforeAll(async () => {
  [model, cloth] = await Promise.all([jpeg(120, 200, 1), jpeg(60, 60, 2)]);
});

async function create(sim: RunningSim, key: string, hd = false): Promise<string> {
  const reply = await call<{ task_id: string }>(sim.url, 'POST', '/api/tryon/v2/tasks', {
    key,
    body: form({
      cloth_image: file(cloth),
      model_image: file(model),
      cloth_type: 'upper',
      hd_mode: String(hd),
    }),
  });
  expect(reply.status).toBe(200);
  return reply.body.task_id;
}

async function poll(sim: RunningSim, key: string, id: string): Promise<string> {
  const reply = await call<{ status: string }>(sim.url, 'GET', `/api/tryon/v2/tasks/${id}`, {
    key,
  });
  expect(reply.status).toBe(200);
  return reply.body.status;
}

async function page(sim: RunningSim, query = ''): Promise<SimTaskPage> {
  const reply = await call<SimTaskPage>(sim.url, 'GET', `/_sim/tasks${query}`);
  expect(reply.status).toBe(200);
  return reply.body;
}

describe('GET /_sim/tasks on a manual clock', () => {
  const clock = manualClock();
  let sim: RunningSim;
  beforeAll(async () => {
    sim = await startSim({
      keys: { [KEY]: 100, [OTHER]: 100 },
      timeScale: SCALE,
      firstTaskId: 500,
      durations: { jitter: 0 },
      now: clock.now,
      seed: 3,
    });
  });
  afterAll(() => sim.close());

  it('gives created, started, completed and first-seen times in real ms, and polls per task', async () => {
    const t0 = clock.now();
    const normal = await create(sim, KEY);
    expect(await poll(sim, KEY, normal)).toBe('CREATED');
    clock.advance(100);
    const hd = await create(sim, KEY, true);

    clock.advance(800); // t0 + 900 real = 9 000 FitRoom ms after the first create
    expect(await poll(sim, KEY, normal)).toBe('COMPLETED');
    clock.advance(250);
    expect(await poll(sim, KEY, normal)).toBe('COMPLETED'); // a later poll keeps seen_ms

    const answer = await page(sim);
    expect(answer.now_ms).toBe(clock.now());
    expect(answer.time_scale).toBe(SCALE);
    expect(answer.next_after).toBeNull();
    expect(answer.tasks).toEqual([
      {
        id: normal,
        key: KEY,
        hd: false,
        outcome: 'COMPLETED',
        created_ms: t0,
        started_ms: t0 + 50, // queuedMs 500 / 10
        completed_ms: t0 + 900, // 9 000 / 10
        seen_ms: t0 + 900,
        polls: 3,
      },
      {
        id: hd,
        key: KEY,
        hd: true,
        outcome: 'COMPLETED',
        created_ms: t0 + 100,
        started_ms: t0 + 150,
        completed_ms: t0 + 100 + 3000, // 30 000 / 10: still in the future
        seen_ms: null,
        polls: 0,
      },
    ]);
    expect(sim.tasks()).toEqual({ ...answer, now_ms: clock.now() });
  });

  it('maps times back exactly across a change of the time scale', async () => {
    const t0 = clock.now();
    const id = await create(sim, KEY);
    clock.advance(300); // 3 000 FitRoom ms at scale 10
    sim.configure({ timeScale: 20 }); // the remaining 6 000 FitRoom ms take 300 real ms
    clock.advance(300);
    expect(await poll(sim, KEY, id)).toBe('COMPLETED');
    const task = (await page(sim, `?after=${Number(id) - 1}`)).tasks[0];
    expect(task).toMatchObject({ id, created_ms: t0, started_ms: t0 + 50, completed_ms: t0 + 600 });
    expect(task?.seen_ms).toBe(t0 + 600);
    sim.configure({ timeScale: SCALE });
  });

  it('filters by key and pages with after and limit', async () => {
    const other = await create(sim, OTHER);
    const all = (await page(sim)).tasks.map((t) => t.id);
    expect(all).toEqual([...all].sort((a, b) => Number(a) - Number(b)));
    expect((await page(sim, `?key=${OTHER}`)).tasks.map((t) => t.id)).toEqual([other]);

    const first = await page(sim, '?limit=2');
    expect(first.tasks.map((t) => t.id)).toEqual(all.slice(0, 2));
    expect(first.next_after).toBe(all[1]);
    const rest = await page(sim, `?after=${first.next_after}&limit=10`);
    expect(rest.tasks.map((t) => t.id)).toEqual(all.slice(2));
    expect(rest.next_after).toBeNull();

    expect((await call(sim.url, 'GET', '/_sim/tasks?limit=0')).status).toBe(400);
    expect((await call(sim.url, 'GET', '/_sim/tasks?after=x')).status).toBe(400);
  });
});

describe('VirtualClock.toRealEpoch', () => {
  it('inverts now() in every segment between scale changes', () => {
    const clock = manualClock(1_000_000);
    const virtual = new VirtualClock(5, clock.now);
    const readings: [number, number][] = [];
    for (const scale of [5, 20, 1, 50]) {
      virtual.setScale(scale);
      for (let i = 0; i < 3; i++) {
        clock.advance(70);
        readings.push([clock.now(), virtual.now()]);
      }
    }
    for (const [real, v] of readings) expect(virtual.toRealEpoch(v)).toBeCloseTo(real, 6);
  });
});
