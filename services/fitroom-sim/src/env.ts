import { checks, DEFAULTS, type Check } from './config.js';
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
  SIM_QUEUED_MS: 'time in CREATED before PROCESSING, FitRoom ms (default 500)',
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
): { min: number; max: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?$/.exec(value);
  const min = Number(match?.[1]);
  const max = match?.[2] === undefined ? min : Number(match[2]);
  if (!match || min > max) {
    problems.push(`SIM_LATENCY_MS must be "min-max" or "ms" with 0 <= min <= max (got "${value}")`);
    return undefined;
  }
  return { min, max };
}
