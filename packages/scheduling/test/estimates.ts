import {
  normalQuantile,
  QUANTILE_POINTS,
  sampleQuantiles,
  type DurationEstimate,
} from '../src/index.js';

/** Most tasks 8-10 s, one in ten 45 s. */
export const bimodalSamples = [
  ...Array.from({ length: 90 }, (_, i) => 8_000 + (i % 3) * 1_000),
  ...Array.from({ length: 10 }, () => 45_000),
];
export const bimodal: DurationEstimate = {
  meanMs: 12_600,
  sdMs: 11_000,
  quantilesMs: sampleQuantiles(bimodalSamples),
};

/** Log-normal, median 9 s, sigma 0.6 (p99 about 36 s): its exact quantiles. */
export const lognormal: DurationEstimate = {
  meanMs: 10_770,
  sdMs: 7_100,
  quantilesMs: Array.from({ length: QUANTILE_POINTS }, (_, i) => {
    const q = Math.min(0.9995, Math.max(0.0005, i / (QUANTILE_POINTS - 1)));
    return 9_000 * Math.exp(0.6 * normalQuantile(q));
  }),
};

/** A poll's observation of a task still waiting to start, `elapsedMs` after its create. */
export const waiting = (elapsedMs: number) => ({
  status: 'CREATED' as const,
  progress: 0,
  elapsedMs,
});
