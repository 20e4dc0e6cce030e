/**
 * The distribution of a task's duration as a table of quantiles, so the poll planner and the ETA
 * can ask "how likely is it done by t, given it was not done at e" without assuming a shape:
 * FitRoom promises none, and its durations may be skewed, heavy-tailed or bimodal.
 *
 * Learned: the quantiles of the most recent durations (DurationModel keeps a window of them).
 * Before enough were seen: a normal around the configured mean, which is all the defaults say.
 */

/** Quantiles at q = i / (QUANTILE_POINTS - 1), i = 0 .. QUANTILE_POINTS - 1. */
export const QUANTILE_POINTS = 201;

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.4451341373035635, 3.754408661907416];
  const tail = (q: number): number =>
    (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
    ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** Quantile table of a normal (mean, sd), cut at 0: what the configured defaults describe. */
export function normalQuantiles(meanMs: number, sdMs: number): number[] {
  return Array.from({ length: QUANTILE_POINTS }, (_, i) => {
    // The ends of a normal are infinite: the outermost points stand at 0.1 % and 99.9 %.
    const q = Math.min(0.999, Math.max(0.001, i / (QUANTILE_POINTS - 1)));
    return Math.max(0, meanMs + sdMs * normalQuantile(q));
  });
}

/** Quantile table of observed durations (any order), interpolated between order statistics. */
export function sampleQuantiles(samples: readonly number[]): number[] {
  const sorted = [...samples].sort((x, y) => x - y);
  const last = sorted.length - 1;
  return Array.from({ length: QUANTILE_POINTS }, (_, i) => {
    const h = (last * i) / (QUANTILE_POINTS - 1);
    const lo = Math.floor(h);
    const below = sorted[lo] ?? 0;
    const above = sorted[Math.min(last, lo + 1)] ?? below;
    return below + (h - lo) * (above - below);
  });
}

/** Quantiles and CDF over a quantile table, linear between its points. */
export class DurationDistribution {
  private readonly table: readonly number[];

  constructor(quantilesMs: readonly number[]) {
    if (quantilesMs.length < 2) throw new RangeError('a quantile table needs two points at least');
    this.table = quantilesMs;
  }

  /** The duration not exceeded with probability q (0..1). */
  quantile(q: number): number {
    const steps = this.table.length - 1;
    const h = Math.min(1, Math.max(0, q)) * steps;
    const lo = Math.min(steps - 1, Math.floor(h));
    const below = this.table[lo]!;
    return below + (h - lo) * (this.table[lo + 1]! - below);
  }

  /** P(duration <= t). */
  cdf(t: number): number {
    const table = this.table;
    const steps = table.length - 1;
    if (t < table[0]!) return 0;
    if (t >= table[steps]!) return 1;
    // The last point at or below t, by bisection (the table is sorted).
    let lo = 0;
    let hi = steps;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (table[mid]! <= t) lo = mid;
      else hi = mid;
    }
    const width = table[lo + 1]! - table[lo]!;
    const within = width > 0 ? (t - table[lo]!) / width : 1;
    return (lo + within) / steps;
  }

  /** The duration not exceeded with probability q among tasks still running after `elapsedMs`. */
  conditionalQuantile(q: number, elapsedMs: number): number {
    const done = this.cdf(elapsedMs);
    return Math.max(elapsedMs, this.quantile(done + q * (1 - done)));
  }

  /** Mean of the durations beyond `elapsedMs` (the table's points stand for equal shares). */
  conditionalMean(elapsedMs: number): number {
    const done = this.cdf(elapsedMs);
    if (done >= 1) return elapsedMs;
    const steps = 32;
    let sum = 0;
    for (let i = 0; i < steps; i++) sum += this.quantile(done + ((i + 0.5) / steps) * (1 - done));
    return Math.max(elapsedMs, sum / steps);
  }
}
