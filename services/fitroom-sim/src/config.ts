import { randomInt } from 'node:crypto';
import {
  DURATION_FAMILIES,
  PROGRESS_CURVES,
  QUEUED_FAMILIES,
  type DurationFamily,
  type ProgressCurve,
  type QueuedFamily,
} from './behaviour.js';
import { realNow } from './clock.js';
import { FAULT_DEFAULTS, faultProblems, type FaultConfig } from './faults.js';
import type { ClothesCheckResult, ModelCheckResult, RouteName, SimOptions } from './options.js';

/** Every knob with its default filled in. */
export interface SimConfig {
  host: string;
  port: number;
  keys: Record<string, number>;
  timeScale: number;
  rateLimit: number;
  rateWindowMs: number;
  durations: {
    normalMs: number;
    hdMs: number;
    family: DurationFamily;
    jitter: number;
    sigma: number;
    slowShare: number;
    slowFactor: number;
    queuedMs: number;
    queuedFamily: QueuedFamily;
  };
  progress: { curve: ProgressCurve; stages: number; stallShare: number };
  faults: FaultConfig;
  routeLatencyMs: Partial<Record<RouteName, { min: number; max: number }>>;
  failureRate: number;
  serverErrorRate: number;
  unavailableRate: number;
  latencyMs: { min: number; max: number };
  downloadUrlTtlMs: number;
  seed: number;
  logger: boolean;
  firstTaskId: number | undefined;
  inputCheckOverrides: Record<string, ModelCheckResult | ClothesCheckResult>;
  publicUrl: string | undefined;
  maxUploadBytes: number;
  now: () => number;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  keys: { 'sim-key': 1_000_000 },
  timeScale: 1,
  rateLimit: 60,
  rateWindowMs: 60_000,
  normalMs: 9_000,
  hdMs: 30_000,
  jitter: 0.1,
  queuedMs: 500,
  family: 'normal',
  sigma: 0.6,
  slowShare: 0.1,
  slowFactor: 5,
  queuedFamily: 'fixed',
  curve: 'linear',
  stages: 4,
  stallShare: 0.4,
  downloadUrlTtlMs: 600_000,
  maxUploadBytes: 25 * 1024 * 1024,
} as const;

/** Thrown for invalid options or configure() patches; the message lists every problem. */
export class SimConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid simulator options: ${problems.join('; ')}`);
    this.name = 'SimConfigError';
  }
}

/** A check answers undefined when the value is fine, else what it must be. */
export type Check = (value: number) => string | undefined;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export const checks = {
  positive: (v: number) => (isNum(v) && v > 0 ? undefined : 'must be a number > 0'),
  nonNegative: (v: number) => (isNum(v) && v >= 0 ? undefined : 'must be a number >= 0'),
  share: (v: number) => (isNum(v) && v >= 0 && v <= 1 ? undefined : 'must be between 0 and 1'),
  jitter: (v: number) => (isNum(v) && v >= 0 && v < 1 ? undefined : 'must be >= 0 and < 1'),
  positiveInt: (v: number) =>
    Number.isSafeInteger(v) && v > 0 ? undefined : 'must be an integer > 0',
  nonNegativeInt: (v: number) =>
    Number.isSafeInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0',
  port: (v: number) =>
    Number.isInteger(v) && v >= 0 && v <= 65535 ? undefined : 'must be an integer 0..65535',
  integer: (v: number) => (Number.isSafeInteger(v) ? undefined : 'must be an integer'),
} satisfies Record<string, Check>;

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : String(JSON.stringify(value) ?? value);
}

class Problems {
  readonly list: string[] = [];
  check(name: string, value: unknown, check: Check): void {
    const problem = typeof value === 'number' ? check(value) : 'must be a number';
    if (problem) this.list.push(`${name} ${problem} (got ${describe(value)})`);
  }
  add(problem: string): void {
    this.list.push(problem);
  }
}

function isModelCheck(v: unknown): v is ModelCheckResult {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  if (typeof o.is_good !== 'boolean' || !Array.isArray(o.good_clothes_types)) return false;
  const types = o.good_clothes_types as unknown[];
  if (!types.every((t) => t === 'upper' || t === 'lower' || t === 'full')) return false;
  if (o.error_code === undefined) return o.is_good;
  if (typeof o.error_code !== 'string') return false;
  return o.is_good
    ? /^41000[1-3]$/.test(o.error_code)
    : /^40000[1-4]$/.test(o.error_code) && types.length === 0;
}

function isClothesCheck(v: unknown): v is ClothesCheckResult {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    (o.clothes_type === 'upper' || o.clothes_type === 'lower' || o.clothes_type === 'full') &&
    typeof o.is_clothes === 'boolean'
  );
}

function validate(config: SimConfig): void {
  const p = new Problems();
  if (typeof config.host !== 'string' || config.host === '')
    p.add('host must be a non-empty string');
  p.check('port', config.port, checks.port);
  if (typeof config.keys !== 'object' || config.keys === null) {
    p.add('keys must be an object of key -> credits');
  } else {
    const entries = Object.entries(config.keys);
    if (entries.length === 0) p.add('keys must hold at least one API key');
    entries.forEach(([key, credits], i) => {
      if (key === '') p.add('keys must not contain an empty key');
      // Never echo API keys in messages; name the entry by position.
      p.check(`keys[#${i + 1}] credits`, credits, checks.nonNegativeInt);
    });
  }
  p.check('timeScale', config.timeScale, checks.positive);
  p.check('rateLimit', config.rateLimit, checks.positiveInt);
  p.check('rateWindowMs', config.rateWindowMs, checks.positive);
  p.check('durations.normalMs', config.durations.normalMs, checks.positive);
  p.check('durations.hdMs', config.durations.hdMs, checks.positive);
  p.check('durations.jitter', config.durations.jitter, checks.jitter);
  p.check('durations.queuedMs', config.durations.queuedMs, checks.nonNegative);
  validateBehaviour(config, p);
  p.check('failureRate', config.failureRate, checks.share);
  p.check('serverErrorRate', config.serverErrorRate, checks.share);
  p.check('unavailableRate', config.unavailableRate, checks.share);
  if (config.serverErrorRate + config.unavailableRate > 1) {
    p.add('serverErrorRate + unavailableRate must be <= 1');
  }
  p.check('latencyMs.min', config.latencyMs.min, checks.nonNegative);
  p.check('latencyMs.max', config.latencyMs.max, checks.nonNegative);
  if (config.latencyMs.min > config.latencyMs.max) p.add('latencyMs.min must be <= latencyMs.max');
  p.check('downloadUrlTtlMs', config.downloadUrlTtlMs, checks.positive);
  p.check('seed', config.seed, checks.integer);
  if (config.firstTaskId !== undefined) {
    p.check('firstTaskId', config.firstTaskId, checks.nonNegativeInt);
  }
  p.check('maxUploadBytes', config.maxUploadBytes, checks.positiveInt);
  if (typeof config.now !== 'function') p.add('now must be a function returning epoch ms');
  if (typeof config.inputCheckOverrides !== 'object' || config.inputCheckOverrides === null) {
    p.add('inputCheckOverrides must be an object of sha256 -> check result');
  } else {
    for (const [sha, result] of Object.entries(config.inputCheckOverrides)) {
      if (!/^[0-9a-f]{64}$/.test(sha)) p.add(`inputCheckOverrides key ${sha} is not a sha256 hex`);
      if (!isModelCheck(result) && !isClothesCheck(result)) {
        p.add(`inputCheckOverrides[${sha}] is neither a model nor a clothes check result`);
      }
    }
  }
  if (config.publicUrl !== undefined && !/^https?:\/\/[^/]+/.test(config.publicUrl)) {
    p.add(`publicUrl must be an http(s) URL (got ${describe(config.publicUrl)})`);
  }
  if (p.list.length > 0) throw new SimConfigError(p.list);
}

const ROUTE_NAMES: readonly RouteName[] = ['create', 'poll', 'checkModel', 'checkClothes'];

function oneOf(p: Problems, name: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== 'string' || !allowed.includes(value)) {
    p.add(`${name} must be one of ${allowed.join(', ')} (got ${describe(value)})`);
  }
}

/** Duration families, progress curves, faults and per-route latency. */
function validateBehaviour(config: SimConfig, p: Problems): void {
  const { durations, progress } = config;
  oneOf(p, 'durations.family', durations.family, DURATION_FAMILIES);
  oneOf(p, 'durations.queuedFamily', durations.queuedFamily, QUEUED_FAMILIES);
  p.check('durations.sigma', durations.sigma, checks.nonNegative);
  p.check('durations.slowShare', durations.slowShare, checks.share);
  p.check('durations.slowFactor', durations.slowFactor, (v) =>
    v >= 1 ? undefined : 'must be a number >= 1',
  );
  oneOf(p, 'progress.curve', progress.curve, PROGRESS_CURVES);
  p.check('progress.stages', progress.stages, checks.positiveInt);
  p.check('progress.stallShare', progress.stallShare, (v) =>
    v > 0 && v < 1 ? undefined : 'must be > 0 and < 1',
  );
  for (const problem of faultProblems(config.faults)) p.add(problem);
  for (const [route, range] of Object.entries(config.routeLatencyMs)) {
    if (!ROUTE_NAMES.includes(route as RouteName)) {
      p.add(`routeLatencyMs.${route} is not one of ${ROUTE_NAMES.join(', ')}`);
    } else if (typeof range !== 'object' || !(range.min >= 0 && range.max >= range.min)) {
      p.add(`routeLatencyMs.${route} must be { min, max } with 0 <= min <= max`);
    }
  }
}

/** Fill in defaults and validate; throws SimConfigError. */
export function resolveConfig(options: SimOptions = {}): SimConfig {
  const config: SimConfig = {
    host: options.host ?? DEFAULTS.host,
    port: options.port ?? DEFAULTS.port,
    keys: { ...(options.keys ?? DEFAULTS.keys) },
    timeScale: options.timeScale ?? DEFAULTS.timeScale,
    rateLimit: options.rateLimit ?? DEFAULTS.rateLimit,
    rateWindowMs: options.rateWindowMs ?? DEFAULTS.rateWindowMs,
    durations: {
      normalMs: options.durations?.normalMs ?? DEFAULTS.normalMs,
      hdMs: options.durations?.hdMs ?? DEFAULTS.hdMs,
      family: options.durations?.family ?? DEFAULTS.family,
      jitter: options.durations?.jitter ?? DEFAULTS.jitter,
      sigma: options.durations?.sigma ?? DEFAULTS.sigma,
      slowShare: options.durations?.slowShare ?? DEFAULTS.slowShare,
      slowFactor: options.durations?.slowFactor ?? DEFAULTS.slowFactor,
      queuedMs: options.durations?.queuedMs ?? DEFAULTS.queuedMs,
      queuedFamily: options.durations?.queuedFamily ?? DEFAULTS.queuedFamily,
    },
    progress: {
      curve: options.progress?.curve ?? DEFAULTS.curve,
      stages: options.progress?.stages ?? DEFAULTS.stages,
      stallShare: options.progress?.stallShare ?? DEFAULTS.stallShare,
    },
    faults: { ...FAULT_DEFAULTS, ...(options.faults ?? {}) },
    routeLatencyMs: { ...(options.routeLatencyMs ?? {}) },
    failureRate: options.failureRate ?? 0,
    serverErrorRate: options.serverErrorRate ?? 0,
    unavailableRate: options.unavailableRate ?? 0,
    latencyMs: { ...(options.latencyMs ?? { min: 0, max: 0 }) },
    downloadUrlTtlMs: options.downloadUrlTtlMs ?? DEFAULTS.downloadUrlTtlMs,
    seed: options.seed ?? randomInt(2 ** 31),
    logger: options.logger ?? false,
    firstTaskId: options.firstTaskId,
    inputCheckOverrides: { ...(options.inputCheckOverrides ?? {}) },
    publicUrl: options.publicUrl?.replace(/\/+$/, ''),
    maxUploadBytes: options.maxUploadBytes ?? DEFAULTS.maxUploadBytes,
    now: options.now ?? realNow,
  };
  validate(config);
  return config;
}

/**
 * The config after a run-time patch, validated as a whole (nothing changes if anything is
 * wrong). Knobs that only matter at start (host, port, seed, logger, firstTaskId, now) are
 * ignored, as are unknown fields. `keys` sets the credits of the keys it names (adding new
 * keys); `durations`, `latencyMs`, `progress`, `faults` and `routeLatencyMs` merge; `inputCheckOverrides` replaces.
 */
export function patchConfig(current: SimConfig, patch: Partial<SimOptions>): SimConfig {
  if (typeof patch !== 'object' || patch === null)
    throw new SimConfigError(['patch must be an object']);
  const next: SimConfig = {
    ...current,
    keys: { ...current.keys, ...(patch.keys ?? {}) },
    durations: { ...current.durations, ...(patch.durations ?? {}) },
    latencyMs: { ...current.latencyMs, ...(patch.latencyMs ?? {}) },
    progress: { ...current.progress, ...(patch.progress ?? {}) },
    faults: { ...current.faults, ...(patch.faults ?? {}) },
    routeLatencyMs: { ...current.routeLatencyMs, ...(patch.routeLatencyMs ?? {}) },
  };
  const scalar = [
    'timeScale',
    'rateLimit',
    'rateWindowMs',
    'failureRate',
    'serverErrorRate',
    'unavailableRate',
    'downloadUrlTtlMs',
    'maxUploadBytes',
  ] as const;
  for (const name of scalar) {
    if (patch[name] !== undefined) next[name] = patch[name];
  }
  if (patch.inputCheckOverrides !== undefined)
    next.inputCheckOverrides = { ...patch.inputCheckOverrides };
  if (patch.publicUrl !== undefined) {
    if (typeof patch.publicUrl !== 'string')
      throw new SimConfigError(['publicUrl must be a string']);
    next.publicUrl = patch.publicUrl.replace(/\/+$/, '');
  }
  validate(next);
  return next;
}

/** The knobs as JSON for /_sim/config answers: API keys are replaced by their count. */
export function publicKnobs(config: SimConfig): Record<string, unknown> {
  const { keys, inputCheckOverrides, now: _now, ...rest } = config;
  return {
    ...rest,
    keys: Object.keys(keys).length,
    inputCheckOverrides: Object.keys(inputCheckOverrides).length,
  };
}
