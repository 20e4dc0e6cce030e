/**
 * The rolling window over real HTTP at time scale 20 (the 60 s window lasts 3 s). Assertions
 * rest on ordering and on the server's own Retry-After, not on how fast this machine is: the
 * bursts below take well under a second, while every margin they rely on is 1 s or more.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSim, type RunningSim } from '../src/index.js';
import { RateWindow } from '../src/rate-window.js';
import { call, file, form, sleep } from './helpers.js';

const POLL = 'GET /api/tryon/v2/tasks/:id';
const SCALE = 20;
const WINDOW_REAL_MS = 60_000 / SCALE;

/** n concurrent polls of a task that does not exist (404, but counted like any request). */
async function burst(sim: RunningSim, key: string, n: number): Promise<number[]> {
  const replies = await Promise.all(
    Array.from({ length: n }, () => call(sim.url, 'GET', '/api/tryon/v2/tasks/1', { key })),
  );
  return replies.map((r) => r.status);
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

describe('rate limit, 60 per rolling window per key, over HTTP', () => {
  let sim: RunningSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it('60 pass, the 61st is 429 with Retry-After, and a request passes once the oldest left', async () => {
    sim = await startSim({ keys: { a: 10, b: 10 }, timeScale: SCALE, seed: 1 });

    const first = await burst(sim, 'a', 60);
    expect(count(first, 404)).toBe(60);

    const refused = await call<{ error: string; message: string }>(
      sim.url,
      'GET',
      '/api/tryon/v2/tasks/1',
      {
        key: 'a',
      },
    );
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      error: 'Too Many Requests',
      message: 'You requested too much API. Try again later',
    });
    // Real seconds (ceil) until the oldest accepted request leaves the 3 s window.
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_REAL_MS / 1000);

    // Budgets are per key.
    expect((await call(sim.url, 'GET', '/api/tryon/v2/tasks/1', { key: 'b' })).status).toBe(404);

    await sleep(retryAfter * 1000);
    const again = await call(sim.url, 'GET', '/api/tryon/v2/tasks/1', { key: 'a' });
    expect(again.status).toBe(404);

    const stats = sim.stats().keys.a;
    expect(stats).toMatchObject({ total: 62, http_429: 1, polls: 0, max_in_window: 61 });
    expect(stats?.requests[POLL]).toEqual({ '404': 61, '429': 1 });
    expect(sim.stats().keys.b).toMatchObject({ total: 1, http_429: 0, max_in_window: 1 });
  });

  it('refused requests take no slot: a full window frees up exactly when its requests leave', async () => {
    sim = await startSim({ keys: { a: 10 }, timeScale: SCALE, seed: 2 });

    const burstEnd = await (async () => {
      expect(count(await burst(sim, 'a', 60), 404)).toBe(60);
      return performance.now();
    })();

    // One second later the window is still full (it began < 3 s ago): refused, not recorded.
    await sleep(1000);
    expect((await call(sim.url, 'GET', '/api/tryon/v2/tasks/1', { key: 'a' })).status).toBe(429);

    // Once every request of the burst has left, the window is empty: if the refused request
    // (still inside its own 3 s) held a slot, only 59 of the next 60 would pass.
    await sleep(Math.max(0, burstEnd + WINDOW_REAL_MS + 100 - performance.now()));
    const second = await burst(sim, 'a', 60);
    expect(count(second, 404)).toBe(60);
    const over = await call(sim.url, 'GET', '/api/tryon/v2/tasks/1', { key: 'a' });
    expect(over.status).toBe(429);

    const stats = sim.stats().keys.a;
    expect(stats).toMatchObject({ total: 122, http_429: 2 });
    // 60 + the refused one in the first window; the refused one may still share the second.
    expect(stats?.max_in_window).toBeGreaterThanOrEqual(61);
    expect(stats?.max_in_window).toBeLessThanOrEqual(62);
  });

  it('the limit and window are knobs (configure) and 429s are per key', async () => {
    sim = await startSim({ keys: { a: 10, b: 10 }, timeScale: SCALE, seed: 3 });
    sim.configure({ rateLimit: 5 });
    expect(count(await burst(sim, 'a', 7), 429)).toBe(2);
    expect(count(await burst(sim, 'b', 5), 404)).toBe(5);
    expect(sim.stats().keys.a).toMatchObject({ http_429: 2, max_in_window: 7 });

    // Counted on arrival and refused before the body is read: a large upload still gets its 429.
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const create = await call(sim.url, 'POST', '/api/tryon/v2/tasks', {
      key: 'a',
      body: form({ model_image: file(big), cloth_image: file(big), cloth_type: 'upper' }),
    });
    expect(create.status).toBe(429);
    expect(sim.stats().keys.a?.http_429).toBe(3);
  });
});

describe('RateWindow (the sliding log), on exact FitRoom times', () => {
  it('admits `limit` per window; an entry leaves exactly `window` ms after it arrived', () => {
    const w = new RateWindow();
    for (let t = 0; t < 60; t++) expect(w.arrive(t * 100, 60, 60_000)).toEqual({ accepted: true });
    // At 30 000 the oldest (t=0) leaves at 60 000.
    expect(w.arrive(30_000, 60, 60_000)).toEqual({ accepted: false, retryAfterMs: 30_000 });
    expect(w.arrive(59_999, 60, 60_000)).toEqual({ accepted: false, retryAfterMs: 1 });
    // At 60 000 the first arrival (t=0) is out, and only it.
    expect(w.arrive(60_000, 60, 60_000)).toEqual({ accepted: true });
    expect(w.arrive(60_000, 60, 60_000)).toEqual({ accepted: false, retryAfterMs: 100 });
    // Refused arrivals at 30 000, 59 999 and 60 000 hold no slot: at 60 100 the t=100 entry leaves.
    expect(w.arrive(60_100, 60, 60_000)).toEqual({ accepted: true });
    // max_in_window counts every arrival, refused or not: in (0, 60 000] there were 59 of the
    // first 60, the refused ones at 30 000 and 59 999, and the two at 60 000.
    expect(w.maxInWindow).toBe(63);
  });

  it('a later, lower limit refuses until enough entries left', () => {
    const w = new RateWindow();
    for (let t = 0; t < 10; t++) w.arrive(t, 10, 1000);
    // 10 in the log, limit 5: a slot frees when the 6th oldest (t=5) leaves, at 1005.
    expect(w.arrive(500, 5, 1000)).toEqual({ accepted: false, retryAfterMs: 505 });
    expect(w.arrive(1005, 5, 1000)).toEqual({ accepted: true }); // 6..9 remain: 4 < 5
    expect(w.arrive(1005, 5, 1000)).toEqual({ accepted: false, retryAfterMs: 1 });
  });
});
