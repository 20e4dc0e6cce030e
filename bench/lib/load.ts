/**
 * An open-loop load generator: GET requests started at a fixed rate (request i at
 * t0 + i / rate, whatever earlier ones are doing), over keep-alive connections, each timed
 * from its start to the last byte of its answer. Bounded in count, sockets and time.
 */
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile, round } from './stats.js';

export interface LoadResult {
  requests: number;
  ok: number;
  errors: number;
  /** Requests per second actually started. */
  achieved_rps: number | null;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  /** Most requests in flight at once. */
  max_in_flight: number;
  /** How late the loop started requests behind their schedule, worst case (ms). */
  max_schedule_lag_ms: number | null;
  error_kinds: Record<string, number>;
}

export async function fixedRateLoad(options: {
  url: string;
  headers: Record<string, string>;
  rate: number;
  durationS: number;
  timeoutMs?: number;
  maxSockets?: number;
}): Promise<LoadResult> {
  const { rate, durationS } = options;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 });
  const total = Math.max(1, Math.round(rate * durationS));
  const latencies: number[] = [];
  const errorKinds: Record<string, number> = {};
  let ok = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let maxLag = 0;
  const pending = new Set<Promise<void>>();
  const fail = (kind: string): void => {
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };

  const one = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const start = performance.now();
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const done = (error?: string): void => {
        inFlight--;
        if (error) fail(error);
        else {
          ok++;
          latencies.push(performance.now() - start);
        }
        resolve();
      };
      const req = request(options.url, { agent, headers: options.headers, timeout: timeoutMs });
      req.on('response', (res) => {
        res.on('data', () => {});
        res.on('error', () => done('response error'));
        res.on('end', () => done(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error) => done(error.message === 'timeout' ? 'timeout' : error.message));
      req.end();
    });

  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    maxLag = Math.max(maxLag, performance.now() - due);
    const p = one();
    pending.add(p);
    void p.then(() => pending.delete(p));
  }
  const elapsedS = (performance.now() - t0) / 1000;
  await Promise.race([Promise.all(pending), sleep(timeoutMs + 1_000)]);
  if (pending.size > 0) errorKinds.unfinished = pending.size;
  agent.destroy();

  const errors = total - ok;
  return {
    requests: total,
    ok,
    errors,
    achieved_rps: total > 1 ? round((total - 1) / Math.max(elapsedS, 1e-3), 1) : null,
    p50_ms: round(percentile(latencies, 50), 2),
    p90_ms: round(percentile(latencies, 90), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    max_ms: round(percentile(latencies, 100), 2),
    max_in_flight: maxInFlight,
    max_schedule_lag_ms: round(maxLag, 1),
    error_kinds: errorKinds,
  };
}
