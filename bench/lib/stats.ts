/** Pure helpers: percentiles, medians, rounding, run summaries. */

/**
 * Nearest-rank percentile: the smallest value such that at least p% of the values are at or
 * below it, i.e. sorted[ceil(p / 100 * n) - 1]. Undefined for no values.
 */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is not in 0..100`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] as number) + upper) / 2;
}

/** Rounds to `digits` decimals; null and undefined stay null. */
export function round(value: number | null | undefined, digits = 2): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export type JsonRecord = Record<string, unknown>;

const isPlainObject = (v: unknown): v is JsonRecord =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** One value from the same field of every run: median of numbers, AND of booleans. */
function combine(values: readonly unknown[]): unknown {
  const [first] = values;
  if (typeof first === 'number' && values.every((v) => typeof v === 'number')) {
    return round(median(values), 4);
  }
  // A target holds over repeated runs only if it held in every run.
  if (typeof first === 'boolean' && values.every((v) => typeof v === 'boolean')) {
    return values.every(Boolean);
  }
  const sameLengthArrays =
    Array.isArray(first) && values.every((v) => Array.isArray(v) && v.length === first.length);
  if (sameLengthArrays) {
    return (first as unknown[]).map((_, i) => combine(values.map((v) => (v as unknown[])[i])));
  }
  if (isPlainObject(first) && values.every(isPlainObject)) {
    const out: JsonRecord = {};
    for (const name of Object.keys(first)) out[name] = combine(values.map((v) => v[name]));
    return out;
  }
  return first;
}

/**
 * Folds the JSON records of repeated runs into one: every numeric field becomes its median
 * (so the contract's field names still hold, now as medians), booleans hold if they held in
 * every run, arrays (of equal length) and nested objects fold element by element, anything
 * else is the first run's; `min` and `max` give
 * the spread of each top-level number.
 */
export function summarizeRuns(runs: readonly JsonRecord[]): JsonRecord {
  const first = runs[0] ?? {};
  const out: JsonRecord = {};
  const min: JsonRecord = {};
  const max: JsonRecord = {};
  for (const name of Object.keys(first)) {
    const values = runs.map((r) => r[name]);
    out[name] = combine(values);
    if (values.every((v) => typeof v === 'number')) {
      min[name] = Math.min(...values);
      max[name] = Math.max(...values);
    }
  }
  return { ...out, runs: runs.length, summary: 'median', min, max };
}
