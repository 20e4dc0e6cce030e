/** SIM_* environment parsing of the service entry point. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EnvError, optionsFromEnv } from '../src/env.js';

describe('optionsFromEnv', () => {
  it('defaults: 127.0.0.1:3001 and one key sim-key with 1 000 000 credits', () => {
    expect(optionsFromEnv({})).toEqual({
      host: '127.0.0.1',
      port: 3001,
      keys: { 'sim-key': 1_000_000 },
      durations: {},
    });
  });

  it('reads every variable', () => {
    expect(
      optionsFromEnv({
        SIM_HOST: '0.0.0.0',
        SIM_PORT: '4000',
        SIM_KEYS: 'a:10, b:0',
        SIM_TIME_SCALE: '20',
        SIM_RATE_LIMIT: '30',
        SIM_RATE_WINDOW_MS: '30000',
        SIM_NORMAL_MS: '8000',
        SIM_HD_MS: '25000',
        SIM_JITTER: '0',
        SIM_QUEUED_MS: '0',
        SIM_FAILURE_RATE: '0.1',
        SIM_500_RATE: '0.01',
        SIM_503_RATE: '0.02',
        SIM_LATENCY_MS: '50-150',
        SIM_URL_TTL_MS: '1000',
        SIM_SEED: '7',
        SIM_FIRST_TASK_ID: '123456',
        SIM_PUBLIC_URL: 'http://fitroom-sim:3001/',
        SIM_MAX_UPLOAD_BYTES: '1000000',
        SIM_LOG: 'true',
      }),
    ).toEqual({
      host: '0.0.0.0',
      port: 4000,
      keys: { a: 10, b: 0 },
      timeScale: 20,
      rateLimit: 30,
      rateWindowMs: 30_000,
      durations: { normalMs: 8000, hdMs: 25_000, jitter: 0, queuedMs: 0 },
      failureRate: 0.1,
      serverErrorRate: 0.01,
      unavailableRate: 0.02,
      latencyMs: { min: 50, max: 150 },
      downloadUrlTtlMs: 1000,
      seed: 7,
      firstTaskId: 123456,
      publicUrl: 'http://fitroom-sim:3001/',
      maxUploadBytes: 1_000_000,
      logger: true,
    });
    expect(optionsFromEnv({ SIM_LATENCY_MS: '80' }).latencyMs).toEqual({ min: 80, max: 80 });
  });

  it('reads the behaviour families, faults and per-endpoint latency', () => {
    const options = optionsFromEnv({
      SIM_DURATION_FAMILY: 'bimodal',
      SIM_DURATION_SIGMA: '0.8',
      SIM_SLOW_SHARE: '0.2',
      SIM_SLOW_FACTOR: '4',
      SIM_QUEUED_FAMILY: 'exponential',
      SIM_PROGRESS_CURVE: 'stepwise',
      SIM_PROGRESS_STAGES: '5',
      SIM_STALL_SHARE: '0.3',
      SIM_LATE_CREATE: 'every:4',
      SIM_LATE_CREATE_MS: '45000',
      SIM_RESET_AFTER_CREATE: '0.05',
      SIM_500_AFTER_CREATE: 'every:7',
      SIM_404_AFTER_CREATE: '0.5',
      SIM_404_MS: '1500',
      SIM_429_RETRY_ZERO: 'every:10',
      SIM_429_RETRY_PAST: '0.01',
      SIM_LATENCY_CREATE_MS: '2000-6000',
      SIM_LATENCY_POLL_MS: '300',
      SIM_LATENCY_CHECK_MS: '100-200',
    });
    expect(options.durations).toEqual({
      family: 'bimodal',
      sigma: 0.8,
      slowShare: 0.2,
      slowFactor: 4,
      queuedFamily: 'exponential',
    });
    expect(options.progress).toEqual({ curve: 'stepwise', stages: 5, stallShare: 0.3 });
    expect(options.faults).toEqual({
      lateCreate: { every: 4 },
      lateCreateMs: 45_000,
      resetAfterCreate: { rate: 0.05 },
      errorAfterCreate: { every: 7 },
      notFoundAfterCreate: { rate: 0.5 },
      notFoundMs: 1_500,
      retryAfterZero: { every: 10 },
      retryAfterPast: { rate: 0.01 },
    });
    expect(options.routeLatencyMs).toEqual({
      create: { min: 2_000, max: 6_000 },
      poll: { min: 300, max: 300 },
      checkModel: { min: 100, max: 200 },
      checkClothes: { min: 100, max: 200 },
    });
  });

  it('names bad behaviour variables', () => {
    let error: unknown;
    try {
      optionsFromEnv({
        SIM_DURATION_FAMILY: 'gamma',
        SIM_PROGRESS_CURVE: 'random',
        SIM_SLOW_FACTOR: '0.5',
        SIM_LATE_CREATE: 'often',
        SIM_404_AFTER_CREATE: '1.5',
        SIM_LATENCY_POLL_MS: '9-3',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvError);
    const problems = (error as EnvError).problems.join('\n');
    for (const name of [
      'SIM_DURATION_FAMILY must be one of fixed, normal, lognormal, bimodal',
      'SIM_PROGRESS_CURVE must be one of',
      'SIM_SLOW_FACTOR must be a number >= 1',
      'SIM_LATE_CREATE must be a rate between 0 and 1 or "every:N"',
      'SIM_404_AFTER_CREATE must be a rate',
      'SIM_LATENCY_POLL_MS must be "min-max"',
    ]) {
      expect(problems).toContain(name);
    }
  });

  it('names every bad variable, and never prints an API key', () => {
    let error: unknown;
    try {
      optionsFromEnv({
        SIM_PORT: '70000',
        SIM_KEYS: 'secret-one:5,secret-two,secret-three:-1',
        SIM_TIME_SCALE: '0',
        SIM_RATE_LIMIT: '1.5',
        SIM_JITTER: '1',
        SIM_500_RATE: '0.7',
        SIM_503_RATE: '0.6',
        SIM_LATENCY_MS: 'fast',
        SIM_SEED: 'x',
        SIM_LOG: 'maybe',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvError);
    const problems = (error as EnvError).problems;
    for (const name of [
      'SIM_PORT',
      'SIM_KEYS entry #2',
      'SIM_KEYS entry #3',
      'SIM_TIME_SCALE',
      'SIM_RATE_LIMIT',
      'SIM_JITTER',
      'SIM_500_RATE + SIM_503_RATE',
      'SIM_LATENCY_MS',
      'SIM_SEED',
      'SIM_LOG',
    ]) {
      expect(
        problems.some((p) => p.startsWith(name)),
        name,
      ).toBe(true);
    }
    expect((error as Error).message).not.toMatch(/secret/);
  });
});

describe('main.ts, the service', () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const run = (env: Record<string, string>) =>
    spawn(process.execPath, ['--import', 'tsx', main], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const exit = (child: ReturnType<typeof run>) =>
    new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  it('prints its URL (never the keys), serves, and closes on SIGTERM', async () => {
    const child = run({ SIM_PORT: '0', SIM_KEYS: 'very-secret-key:5', SIM_TIME_SCALE: '10' });
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (match?.[1]) resolve(match[1]);
      });
      child.once('exit', () => reject(new Error(`exited early: ${output}`)));
    });
    const reply = await fetch(`${url}/api/tryon/v2/tasks/1`, {
      headers: { 'x-api-key': 'very-secret-key' },
    });
    expect(reply.status).toBe(404);
    const exited = exit(child);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).not.toContain('very-secret-key');
  });

  it('exits 1 with one line per bad variable', async () => {
    const child = run({ SIM_PORT: 'abc', SIM_FAILURE_RATE: '2' });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await exit(child)).toBe(1);
    expect(stderr).toContain('SIM_PORT must be a number (got "abc")');
    expect(stderr).toContain('SIM_FAILURE_RATE must be between 0 and 1 (got "2")');
  });
});
