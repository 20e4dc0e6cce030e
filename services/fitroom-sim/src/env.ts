import {
  DURATION_FAMILIES,
  PROGRESS_CURVES,
  QUEUED_FAMILIES,
  type DurationFamily,
  type ProgressCurve,
  type QueuedFamily,
} from './behaviour.js';
import { checks, DEFAULTS, type Check } from './config.js';
import type { FaultConfig, FaultRate } from './faults.js';
import type { SimOptions } from './options.js';

/** Thrown by optionsFromEnv; `problems` holds one message per bad variable. */
export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid simulator environment:\n  ${problems.join('\n  ')}`);
    this.name = 'EnvError';
  }
}

/** Variables read by optionsFromEnv, with what they mean (also printed by --help). */
export const ENV_HELP: Record<string, string> = {
  SIM_HOST: 'listen address (default 127.0.0.1)',
  SIM_PORT: 'listen port (default 3001)',
  SIM_KEYS: 'API keys and credits, "key:credits,key2:credits" (default sim-key:1000000)',
  SIM_TIME_SCALE: 'N times faster than FitRoom: durations, rate window, URL TTL (default 1)',
  SIM_RATE_LIMIT: 'requests per key in any rolling window (default 60)',
  SIM_RATE_WINDOW_MS: 'rolling window, FitRoom ms (default 60000)',
  SIM_NORMAL_MS: 'normal task duration, FitRoom ms (default 9000)',
  SIM_HD_MS: 'hd_mode task duration, FitRoom ms (default 30000)',
  SIM_JITTER: 'relative duration jitter, 0 <= j < 1 (default 0.1)',
  SIM_QUEUED_MS: 'time in CREATED before PROCESSING (mean if drawn), FitRoom ms (default 500)',
  SIM_QUEUED_FAMILY: 'wait in CREATED: fixed, uniform (0..2x), exponential (default fixed)',
  SIM_DURATION_FAMILY: 'task durations: fixed, normal, lognormal, bimodal (default normal)',
  SIM_DURATION_SIGMA: 'lognormal: sigma of ln(duration); the median is SIM_NORMAL_MS (default 0.6)',
  SIM_SLOW_SHARE: 'bimodal: share of slow tasks (default 0.1)',
  SIM_SLOW_FACTOR: 'bimodal: slow tasks take this many times longer (default 5)',
  SIM_PROGRESS_CURVE:
    'progress: linear, slow-then-fast, fast-then-slow, stepwise, stalled (default linear)',
  SIM_PROGRESS_STAGES: 'stepwise: number of stages (default 4)',
  SIM_STALL_SHARE: 'stalled: share of processing spent at 95..99 (default 0.4)',
  SIM_LATE_CREATE: 'creates answered late, task made: a rate 0..1 or "every:N" (default 0)',
  SIM_LATE_CREATE_MS: 'how late, FitRoom ms (default 30000)',
  SIM_RESET_AFTER_CREATE: 'connection reset after the task was made: rate or "every:N"',
  SIM_500_AFTER_CREATE: '500 after the task was made: rate or "every:N"',
  SIM_404_AFTER_CREATE: 'new task answers 404 for a while: rate or "every:N"',
  SIM_404_MS: 'length of that 404 window, FitRoom ms (default 2000)',
  SIM_429_RETRY_ZERO: 'spurious 429 with Retry-After: 0: rate or "every:N" requests',
  SIM_429_RETRY_PAST: 'spurious 429 with a Retry-After date in the past: rate or "every:N"',
  SIM_LATENCY_CREATE_MS: 'added latency of create answers, FitRoom ms, "min-max" or "ms"',
  SIM_LATENCY_POLL_MS: 'added latency of status answers, FitRoom ms, "min-max" or "ms"',
  SIM_LATENCY_CHECK_MS: 'added latency of input check answers, FitRoom ms, "min-max" or "ms"',
  SIM_FAILURE_RATE: 'share of tasks that end FAILED (default 0)',
  SIM_500_RATE: 'share of API requests answered 500 (default 0)',
  SIM_503_RATE: 'share of API requests answered 503 (default 0)',
  SIM_LATENCY_MS: 'added real latency per API answer, "min-max" or "ms" (default 0)',
  SIM_URL_TTL_MS: 'download_signed_url lifetime, FitRoom ms (default 600000)',
  SIM_SEED: 'integer seed of the random draws (default random)',
  SIM_FIRST_TASK_ID: 'id of the first task, e.g. 123456 (default random 6 digits)',
  SIM_PUBLIC_URL: 'base URL of download links (default from the Host header)',
  SIM_MAX_UPLOAD_BYTES: 'largest accepted upload per file (default 26214400)',
  SIM_LOG: 'log requests: true or false (default false)',
};

/**
 * SimOptions from SIM_* variables (see ENV_HELP). Unset or empty variables keep their
 * defaults, except SIM_PORT (3001) and SIM_KEYS (sim-key:1000000), which default for the
 * service. Throws EnvError naming every bad variable; API keys never appear in messages.
 */
export function optionsFromEnv(env: Record<string, string | undefined>): SimOptions {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const num = (name: string, check: Check): number | undefined => {
    const value = raw(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    const problem = Number.isNaN(n) ? 'must be a number' : check(n);
    if (problem) {
      problems.push(`${name} ${problem} (got "${value}")`);
      return undefined;
    }
    return n;
  };

  const options: SimOptions = {
    host: raw('SIM_HOST') ?? DEFAULTS.host,
    port: num('SIM_PORT', checks.port) ?? 3001,
    keys: parseKeys(raw('SIM_KEYS') ?? 'sim-key:1000000', problems),
    durations: {},
  };
  const set = <K extends keyof SimOptions>(key: K, value: SimOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  set('timeScale', num('SIM_TIME_SCALE', checks.positive));
  set('rateLimit', num('SIM_RATE_LIMIT', checks.positiveInt));
  set('rateWindowMs', num('SIM_RATE_WINDOW_MS', checks.positive));
  const durations = {
    normalMs: num('SIM_NORMAL_MS', checks.positive),
    hdMs: num('SIM_HD_MS', checks.positive),
    jitter: num('SIM_JITTER', checks.jitter),
    queuedMs: num('SIM_QUEUED_MS', checks.nonNegative),
  };
  for (const [k, v] of Object.entries(durations)) {
    if (v !== undefined) options.durations = { ...options.durations, [k]: v };
  }
  applyShapesFromEnv(options, raw, num, problems);
  set('faults', faultsFromEnv(raw, num, problems));
  set('routeLatencyMs', routeLatencyFromEnv(raw, problems));
  set('failureRate', num('SIM_FAILURE_RATE', checks.share));
  set('serverErrorRate', num('SIM_500_RATE', checks.share));
  set('unavailableRate', num('SIM_503_RATE', checks.share));
  if ((options.serverErrorRate ?? 0) + (options.unavailableRate ?? 0) > 1) {
    problems.push('SIM_500_RATE + SIM_503_RATE must be <= 1');
  }
  set('latencyMs', parseLatency(raw('SIM_LATENCY_MS'), problems));
  set('downloadUrlTtlMs', num('SIM_URL_TTL_MS', checks.positive));
  set('seed', num('SIM_SEED', checks.integer));
  set('firstTaskId', num('SIM_FIRST_TASK_ID', checks.nonNegativeInt));
  set('maxUploadBytes', num('SIM_MAX_UPLOAD_BYTES', checks.positiveInt));
  const publicUrl = raw('SIM_PUBLIC_URL');
  if (publicUrl !== undefined && !/^https?:\/\/[^/]+/.test(publicUrl)) {
    problems.push(`SIM_PUBLIC_URL must be an http(s) URL (got "${publicUrl}")`);
  } else {
    set('publicUrl', publicUrl);
  }
  const log = raw('SIM_LOG')?.toLowerCase();
  if (log !== undefined && !['true', 'false', '1', '0'].includes(log)) {
    problems.push(`SIM_LOG must be true or false (got "${log}")`);
  } else if (log !== undefined) {
    options.logger = log === 'true' || log === '1';
  }

  if (problems.length > 0) throw new EnvError(problems);
  return options;
}

function parseKeys(value: string, problems: string[]): Record<string, number> {
  const keys: Record<string, number> = {};
  const entries = value.split(',').map((entry) => entry.trim());
  entries.forEach((entry, i) => {
    const colon = entry.lastIndexOf(':');
    const key = colon > 0 ? entry.slice(0, colon).trim() : '';
    const credits = colon > 0 ? entry.slice(colon + 1).trim() : '';
    // Name entries by position: the variable holds secrets.
    if (key === '' || !/^\d+$/.test(credits) || !Number.isSafeInteger(Number(credits))) {
      problems.push(
        `SIM_KEYS entry #${i + 1} of ${entries.length} must be "key:credits" with credits an integer >= 0`,
      );
    } else if (key in keys) {
      problems.push(`SIM_KEYS entry #${i + 1} repeats an earlier key`);
    } else {
      keys[key] = Number(credits);
    }
  });
  return keys;
}

function parseLatency(
  value: string | undefined,
  problems: string[],
  name = 'SIM_LATENCY_MS',
): { min: number; max: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?$/.exec(value);
  const min = Number(match?.[1]);
  const max = match?.[2] === undefined ? min : Number(match[2]);
  if (!match || min > max) {
    problems.push(`${name} must be "min-max" or "ms" with 0 <= min <= max (got "${value}")`);
    return undefined;
  }
  return { min, max };
}

type Raw = (name: string) => string | undefined;
type Num = (name: string, check: Check) => number | undefined;

const FAULT_VARIABLES: Record<string, keyof FaultConfig> = {
  SIM_LATE_CREATE: 'lateCreate',
  SIM_RESET_AFTER_CREATE: 'resetAfterCreate',
  SIM_500_AFTER_CREATE: 'errorAfterCreate',
  SIM_404_AFTER_CREATE: 'notFoundAfterCreate',
  SIM_429_RETRY_ZERO: 'retryAfterZero',
  SIM_429_RETRY_PAST: 'retryAfterPast',
};

/** "0.25" (a rate) or "every:N" (every Nth chance). */
function parseFaultRate(name: string, value: string, problems: string[]): FaultRate | undefined {
  const every = /^every:(\d+)$/.exec(value);
  if (every) return { every: Number(every[1]) };
  const rate = Number(value);
  if (value !== '' && rate >= 0 && rate <= 1) return { rate };
  problems.push(`${name} must be a rate between 0 and 1 or "every:N" (got "${value}")`);
  return undefined;
}

function faultsFromEnv(raw: Raw, num: Num, problems: string[]): Partial<FaultConfig> | undefined {
  const faults: Partial<FaultConfig> = {};
  for (const [variable, name] of Object.entries(FAULT_VARIABLES)) {
    const value = raw(variable);
    const rate = value === undefined ? undefined : parseFaultRate(variable, value, problems);
    if (rate) Object.assign(faults, { [name]: rate });
  }
  const lateCreateMs = num('SIM_LATE_CREATE_MS', checks.nonNegative);
  if (lateCreateMs !== undefined) faults.lateCreateMs = lateCreateMs;
  const notFoundMs = num('SIM_404_MS', checks.nonNegative);
  if (notFoundMs !== undefined) faults.notFoundMs = notFoundMs;
  return Object.keys(faults).length > 0 ? faults : undefined;
}

function routeLatencyFromEnv(raw: Raw, problems: string[]): SimOptions['routeLatencyMs'] {
  const routes: NonNullable<SimOptions['routeLatencyMs']> = {};
  const create = parseLatency(raw('SIM_LATENCY_CREATE_MS'), problems, 'SIM_LATENCY_CREATE_MS');
  const poll = parseLatency(raw('SIM_LATENCY_POLL_MS'), problems, 'SIM_LATENCY_POLL_MS');
  const check = parseLatency(raw('SIM_LATENCY_CHECK_MS'), problems, 'SIM_LATENCY_CHECK_MS');
  if (create) routes.create = create;
  if (poll) routes.poll = poll;
  if (check) routes.checkModel = routes.checkClothes = check;
  return Object.keys(routes).length > 0 ? routes : undefined;
}

function oneOfEnv<T extends string>(
  raw: Raw,
  problems: string[],
  name: string,
  allowed: readonly T[],
): T | undefined {
  const value = raw(name);
  if (value === undefined || (allowed as readonly string[]).includes(value)) {
    return value as T | undefined;
  }
  problems.push(`${name} must be one of ${allowed.join(', ')} (got "${value}")`);
  return undefined;
}

/** Duration family, CREATED wait family and progress curve, into `options`. */
function applyShapesFromEnv(options: SimOptions, raw: Raw, num: Num, problems: string[]): void {
  const shapes = {
    family: oneOfEnv<DurationFamily>(raw, problems, 'SIM_DURATION_FAMILY', DURATION_FAMILIES),
    sigma: num('SIM_DURATION_SIGMA', checks.nonNegative),
    slowShare: num('SIM_SLOW_SHARE', checks.share),
    slowFactor: num('SIM_SLOW_FACTOR', (v) => (v >= 1 ? undefined : 'must be a number >= 1')),
    queuedFamily: oneOfEnv<QueuedFamily>(raw, problems, 'SIM_QUEUED_FAMILY', QUEUED_FAMILIES),
  };
  for (const [k, v] of Object.entries(shapes)) {
    if (v !== undefined) options.durations = { ...options.durations, [k]: v };
  }
  const progress = {
    curve: oneOfEnv<ProgressCurve>(raw, problems, 'SIM_PROGRESS_CURVE', PROGRESS_CURVES),
    stages: num('SIM_PROGRESS_STAGES', checks.positiveInt),
    stallShare: num('SIM_STALL_SHARE', (v) => (v > 0 && v < 1 ? undefined : 'must be > 0 and < 1')),
  };
  for (const [k, v] of Object.entries(progress)) {
    if (v !== undefined) options.progress = { ...options.progress, [k]: v };
  }
}
