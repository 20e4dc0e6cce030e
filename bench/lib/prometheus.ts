/**
 * The api's own view of request latency: the `http_request_duration_seconds` histogram from
 * GET /metrics, read before and after a load so the difference covers only that load.
 */

export type Buckets = Map<number, number>;

const LINE = /^(\w+)\{([^}]*)\}\s+(\S+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Cumulative bucket counts (upper bound in seconds -> count) of one histogram series. */
export function parseHistogram(
  text: string,
  name: string,
  match: (labels: Record<string, string>) => boolean,
): Buckets {
  const buckets: Buckets = new Map();
  for (const line of text.split('\n')) {
    const found = LINE.exec(line);
    if (!found || found[1] !== `${name}_bucket`) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (found[2] ?? '').matchAll(LABEL)) {
      labels[key as string] = value as string;
    }
    if (!match(labels) || labels.le === undefined) continue;
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(found[3]));
  }
  return buckets;
}

export function diffBuckets(after: Buckets, before: Buckets): Buckets {
  const out: Buckets = new Map();
  for (const [le, count] of after) out.set(le, count - (before.get(le) ?? 0));
  return out;
}

/**
 * Quantile q (0..1) in seconds from cumulative buckets, interpolating linearly inside the bucket
 * (Prometheus' histogram_quantile); the largest finite bound if it falls in +Inf; undefined
 * without observations.
 */
export function histogramQuantile(buckets: Buckets, q: number): number | undefined {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? buckets.get(bounds.at(-1) ?? Infinity) ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound) ?? 0;
    if (count >= rank) {
      if (bound === Infinity) return lowerBound;
      const inBucket = count - lowerCount;
      return inBucket > 0
        ? lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / inBucket
        : bound;
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

/** Share of observations at or below `le` seconds (a bucket bound). */
export function shareAtMost(buckets: Buckets, le: number): number | undefined {
  const total = buckets.get(Infinity);
  const count = buckets.get(le);
  return total && count !== undefined ? count / total : undefined;
}

export async function scrapeHistogram(
  url: string,
  name: string,
  match: (labels: Record<string, string>) => boolean,
): Promise<Buckets> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return parseHistogram(text, name, match);
}

/**
 * The api's event-loop delay since the previous scrape (prom-client resets its
 * monitorEventLoopDelay histogram at every collection): p99 and max in ms.
 */
export async function scrapeEventLoopDelay(
  url: string,
): Promise<{ p99_ms: number | null; max_ms: number | null }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  const gauge = (name: string): number | null => {
    const found = new RegExp(`^${name}\\s+(\\S+)$`, 'm').exec(text);
    return found ? Number(found[1]) * 1000 : null;
  };
  return {
    p99_ms: gauge('nodejs_eventloop_lag_p99_seconds'),
    max_ms: gauge('nodejs_eventloop_lag_max_seconds'),
  };
}
