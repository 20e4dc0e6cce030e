/**
 * The shapes of FitRoom behaviour the document leaves open: how long a task takes (duration
 * families), how its progress rises (curves), how long it waits in CREATED. Pure functions of
 * a seeded random stream, so a run is reproducible from its seed.
 */
import type { Random } from './random.js';

export const DURATION_FAMILIES = ['fixed', 'normal', 'lognormal', 'bimodal'] as const;
export type DurationFamily = (typeof DURATION_FAMILIES)[number];

export const PROGRESS_CURVES = [
  'linear',
  'slow-then-fast',
  'fast-then-slow',
  'stepwise',
  'stalled',
] as const;
export type ProgressCurve = (typeof PROGRESS_CURVES)[number];

export const QUEUED_FAMILIES = ['fixed', 'uniform', 'exponential'] as const;
export type QueuedFamily = (typeof QUEUED_FAMILIES)[number];

export interface DurationShape {
  family: DurationFamily;
  /** normal: relative half-width of the uniform spread; bimodal: the same around each mode. */
  jitter: number;
  /** lognormal: sigma of ln(duration); the mode's duration is the median. */
  sigma: number;
  /** bimodal: share of tasks in the slow mode. */
  slowShare: number;
  /** bimodal: the slow mode is this many times the fast (the configured) duration. */
  slowFactor: number;
}

export interface ProgressShape {
  curve: ProgressCurve;
  /** stepwise: number of stages. */
  stages: number;
  /** stalled: share of the processing time spent at 95..99. */
  stallShare: number;
}

/** A standard normal draw (Box-Muller), from two uniforms of `random`. */
function standardNormal(random: Random): number {
  const u = Math.max(random(), Number.MIN_VALUE);
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

const spread = (random: Random, jitter: number): number => 1 + jitter * (2 * random() - 1);

/**
 * A task's duration, FitRoom ms, for a mode whose typical duration is `typicalMs`. `normal`
 * draws exactly one uniform, as the simulator always did, so seeded runs keep their values.
 */
export function drawDuration(random: Random, typicalMs: number, shape: DurationShape): number {
  switch (shape.family) {
    case 'fixed':
      return typicalMs;
    case 'normal':
      return Math.max(1, typicalMs * spread(random, shape.jitter));
    case 'lognormal':
      return Math.max(1, typicalMs * Math.exp(shape.sigma * standardNormal(random)));
    case 'bimodal': {
      const slow = random() < shape.slowShare;
      const mode = slow ? typicalMs * shape.slowFactor : typicalMs;
      return Math.max(1, mode * spread(random, shape.jitter));
    }
  }
}

/** Time in CREATED, FitRoom ms: fixed, uniform on [0, 2 x mean], or exponential with `meanMs`. */
export function drawQueued(random: Random, meanMs: number, family: QueuedFamily): number {
  switch (family) {
    case 'fixed':
      return meanMs;
    case 'uniform':
      return 2 * meanMs * random();
    case 'exponential':
      return -meanMs * Math.log(1 - random());
  }
}

const STALL_LEVEL = 0.95;

/**
 * Share of the work shown done after `share` (0..1) of the processing time; non-decreasing in
 * `share` for every curve, so reported progress never goes back.
 */
export function progressShare(share: number, shape: ProgressShape): number {
  const s = Math.min(1, Math.max(0, share));
  switch (shape.curve) {
    case 'linear':
      return s;
    case 'slow-then-fast':
      return s * s * s;
    case 'fast-then-slow':
      return 1 - (1 - s) ** 3;
    case 'stepwise':
      return Math.floor(s * shape.stages) / shape.stages;
    case 'stalled': {
      const climb = 1 - shape.stallShare;
      if (s < climb) return (s / climb) * STALL_LEVEL;
      return STALL_LEVEL + ((s - climb) / shape.stallShare) * (0.99 - STALL_LEVEL);
    }
  }
}

/** The `progress` of a PROCESSING answer: 1..99, never 100 before COMPLETED. */
export function progressPercent(share: number, shape: ProgressShape): number {
  return Math.min(99, Math.max(1, Math.floor(progressShare(share, shape) * 100)));
}
