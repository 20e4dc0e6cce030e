/**
 * `pnpm bench latency`: how close is a batch's makespan to its lower bound, across FitRoom
 * behaviours (issue 12)? For each duration family and progress curve (one stack each, the
 * simulator configured by SIM_DURATION_FAMILY and SIM_PROGRESS_CURVE), a warm-up batch lets the
 * duration model learn the family, then one batch per size runs alone, each measured from the
 * simulator's per-task times and counters (differences around the batch) and the workers'
 * step-duration histograms (fixed overhead per task in real ms, which a time scale magnifies).
 *
 * Lower bound (DESIGN.md): max(longest task, (2N - 60k) / k FitRoom seconds) for N items on k keys.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { COMMON_FLAGS, parseFlags, UsageError } from '../lib/args.js';
import { ApiClient, simStats, simTasks, type ItemView, type TaskTimes } from '../lib/client.js';
import type { Reporter } from '../lib/report.js';
import type { Stack } from '../lib/stack.js';
import { percentile, round, type JsonRecord } from '../lib/stats.js';
import {
  resolveCommon,
  uploadMatrix,
  withStack,
  type CommonOptions,
  type Scenario,
} from './common.js';

const FAMILIES = ['fixed', 'normal', 'lognormal', 'bimodal'];
const CURVES = ['linear', 'slow-then-fast', 'fast-then-slow', 'stepwise', 'stalled'];

const FLAGS = {
  ...COMMON_FLAGS,
  sizes: {
    type: 'string',
    help: 'batch sizes, comma-separated (default 1,12,120; 1200, or 300 with --keys 3, on request)',
  },
  families: {
    type: 'string',
    help: `duration families (default lognormal,bimodal; of ${FAMILIES.join(', ')})`,
  },
  curves: { type: 'string', help: `progress curves (default linear; of ${CURVES.join(', ')})` },
  warmup: {
    type: 'number',
    help: 'items run first on each stack so the duration model knows the family (default 24)',
    min: 0,
    max: 2_000,
    integer: true,
  },
} as const;

export interface LatencyOptions {
  common: CommonOptions;
  sizes: number[];
  families: string[];
  curves: string[];
  warmup: number;
}

const TENANT = 'bench';

function list(text: string | undefined, fallback: string[], allowed?: string[]): string[] {
  const values = (text ?? fallback.join(','))
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  for (const v of values) {
    if (allowed && !allowed.includes(v))
      throw new UsageError(`unknown value "${v}" (of ${allowed.join(', ')})`);
  }
  return values;
}

function resolve(args: readonly string[]): LatencyOptions {
  const flags = parseFlags(FLAGS, args);
  const sizes = list(flags.sizes, ['1', '12', '120']).map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 10_000)) {
    throw new UsageError('--sizes takes whole numbers from 1 to 10000');
  }
  return {
    common: resolveCommon(flags, { timeScale: 5 }),
    sizes,
    families: list(flags.families, ['lognormal', 'bimodal'], FAMILIES),
    curves: list(flags.curves, ['linear'], CURVES),
    warmup: flags.warmup ?? 24,
  };
}

/** Sum and count of each step of tryon_worker_step_duration_seconds, over every worker. */
type StepTotals = Map<string, { sum: number; count: number }>;

const STEP_LINE = /^tryon_worker_step_duration_seconds_(sum|count)\{step="([^"]+)"\}\s+(\S+)$/;

/** The workers' /metrics URLs, from their "worker http server listening" log lines. */
function metricsUrls(stack: Stack): string[] {
  return stack.workers.flatMap((w) => {
    const found = /"url":"([^"]+)"[^\n]*worker http server listening/.exec(w.output());
    return found ? [`${found[1]}/metrics`] : [];
  });
}

async function stepTotals(urls: string[]): Promise<StepTotals> {
  const totals: StepTotals = new Map();
  for (const url of urls) {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    for (const line of (await response.text()).split('\n')) {
      const found = STEP_LINE.exec(line);
      if (!found) continue;
      const entry = totals.get(found[2]!) ?? { sum: 0, count: 0 };
      entry[found[1] as 'sum' | 'count'] += Number(found[3]);
      totals.set(found[2]!, entry);
    }
  }
  return totals;
}

/** Mean real ms per step between two readings. */
function stepMeansMs(after: StepTotals, before: StepTotals): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [step, { sum, count }] of after) {
    const was = before.get(step) ?? { sum: 0, count: 0 };
    const n = count - was.count;
    out[step] = n > 0 ? round(((sum - was.sum) / n) * 1000, 1) : null;
  }
  return out;
}

interface Counters {
  requests: number;
  requestsPerKey: number[];
  http429: number;
}

async function counters(stack: Stack): Promise<Counters> {
  const stats = await simStats(stack.simUrl);
  const keys = stack.apiKeys.map((k) => stats.keys[k]);
  const requestsPerKey = keys.map((s) => s?.total ?? 0);
  return {
    requests: requestsPerKey.reduce((sum, n) => sum + n, 0),
    requestsPerKey,
    http429: keys.reduce((sum, s) => sum + (s?.http_429 ?? 0), 0),
  };
}

/**
 * The earliest a key can have sent its r-th request since a free start: a rolling window of 60
 * lets at most 60 (m + 1) requests through in the first m windows, so the r-th goes out no
 * sooner than 60 * (ceil(r / 60) - 1) s. With 2N requests this is the lower bound's budget term
 * rounded up to whole windows; each request beyond 2N (a second poll) can cost a whole window.
 */
function windowFloorS(requests: number): number {
  return requests > 0 ? 60 * (Math.ceil(requests / 60) - 1) : 0;
}

/** Submits one matrix batch of about `size` items and waits for it; its items. */
async function runBatch(
  stack: Stack,
  client: ApiClient,
  size: number,
  options: LatencyOptions,
  reporter: Reporter,
): Promise<{ items: ItemView[]; submittedMs: number; finishedMs: number }> {
  const { common } = options;
  const matrix = await uploadMatrix(client, size, reporter);
  const submittedMs = Date.now();
  const { batch } = await client.submitBatch({
    matrix: {
      models: matrix.models,
      garments: matrix.garments.map((cloth) => ({ cloth, cloth_type: 'upper' })),
    },
  });
  // At the budget plus a long tail, four times over.
  const expectedMs = ((2 * matrix.items) / common.keys + 120) * (1000 / common.timeScale);
  const timeoutMs = (common.timeoutS ?? (4 * expectedMs + 60_000) / 1000) * 1000;
  const { timedOut } = await client.waitForBatch(batch.id, {
    timeoutMs,
    intervalMs: 50,
    onTick: () => stack.assertAlive(),
  });
  if (timedOut) throw new Error(`batch of ${matrix.items} did not finish in ${timeoutMs} ms`);
  const items = await client.items(batch.id);
  const finishedMs = Math.max(...items.map((i) => Date.parse(i.completed_at ?? '') || 0));
  return { items, submittedMs, finishedMs };
}

/**
 * Waits until no request has reached the simulator for one whole rate window (plus the
 * limiter's margin), so the batch starts with every key's first window free, as the lower bound
 * assumes: a batch started right after the previous one would inherit its requests.
 */
async function waitForFreeWindow(stack: Stack, timeScale: number): Promise<void> {
  const quietMs = 60_000 / timeScale + 1_000;
  for (let tries = 0; tries < 20; tries++) {
    const before = await counters(stack);
    await sleep(quietMs);
    if ((await counters(stack)).requests === before.requests) return;
  }
  throw new Error('the simulator kept receiving requests between batches');
}

/**
 * Where the batch's last item spent the makespan, in FitRoom seconds: submit -> FitRoom's
 * created_at (ingest, queue, admission, upload), created -> completed (the task itself),
 * completed -> the poll that saw it (poll lag), seen -> stored (download, store, record); and
 * the polls its task took.
 */
function lastItemPath(
  { item, task }: { item: ItemView; task: TaskTimes },
  submittedMs: number,
  fitroomS: (realMs: number) => number,
): JsonRecord {
  const seen = task.seen_ms ?? task.completed_ms;
  return {
    to_create: round(fitroomS(task.created_ms - submittedMs), 2),
    task: round(fitroomS(task.completed_ms - task.created_ms), 2),
    to_seen: round(fitroomS(seen - task.completed_ms), 2),
    to_store: round(fitroomS(Date.parse(item.completed_at ?? '') - seen), 2),
    polls: task.polls,
  };
}

async function measureCell(
  stack: Stack,
  client: ApiClient,
  size: number,
  urls: string[],
  options: LatencyOptions,
  reporter: Reporter,
): Promise<JsonRecord> {
  const { timeScale, keys } = options.common;
  await waitForFreeWindow(stack, timeScale);
  const [before, stepsBefore] = [await counters(stack), await stepTotals(urls)];
  const run = await runBatch(stack, client, size, options, reporter);
  const [after, stepsAfter, { tasks }] = [
    await counters(stack),
    await stepTotals(urls),
    await simTasks(stack.simUrl),
  ];
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const mine = run.items.flatMap((i) => {
    const task = i.fitroom_task_id ? byId.get(i.fitroom_task_id) : undefined;
    return task ? [{ item: i, task }] : [];
  });
  const fitroomS = (realMs: number) => (realMs * timeScale) / 1000;
  const n = run.items.length;
  const longest = Math.max(
    0,
    ...mine.map(({ task }) => fitroomS(task.completed_ms - task.created_ms)),
  );
  const lowerBound = Math.max(longest, (2 * n - 60 * keys) / keys);
  const makespan = fitroomS(run.finishedMs - run.submittedMs);
  const spentFloor = Math.max(
    longest,
    ...after.requestsPerKey.map((r, k) => windowFloorS(r - (before.requestsPerKey[k] ?? 0))),
  );
  const last = mine.reduce<(typeof mine)[number] | undefined>(
    (latest, entry) =>
      latest &&
      Date.parse(latest.item.completed_at ?? '') >= Date.parse(entry.item.completed_at ?? '')
        ? latest
        : entry,
    undefined,
  );
  const lags = mine.map(({ item, task }) =>
    fitroomS(Date.parse(item.completed_at ?? '') - task.completed_ms),
  );
  const completed = run.items.filter((i) => i.status === 'completed').length;
  return {
    ...(last ? { last_item_s: lastItemPath(last, run.submittedMs, fitroomS) } : {}),
    items: n,
    completed,
    makespan_s: round(makespan, 2),
    lower_bound_s: round(lowerBound, 2),
    ratio: round(lowerBound > 0 ? makespan / lowerBound : null, 3),
    spent_floor_s: round(spentFloor, 2),
    spent_floor_ratio: round(spentFloor > 0 ? makespan / spentFloor : null, 3),
    longest_task_s: round(longest, 2),
    requests_per_task: round(
      completed > 0 ? (after.requests - before.requests) / completed : null,
      3,
    ),
    http_429: after.http429 - before.http429,
    p50_lag_s: round(percentile(lags, 50), 3),
    p95_lag_s: round(percentile(lags, 95), 3),
    overhead_ms_per_task: stepMeansMs(stepsAfter, stepsBefore),
  };
}

async function runCombination(
  options: LatencyOptions,
  family: string,
  curve: string,
  reporter: Reporter,
): Promise<JsonRecord[]> {
  const simEnv = { SIM_DURATION_FAMILY: family, SIM_PROGRESS_CURVE: curve };
  return withStack(
    'latency',
    options.common,
    [TENANT],
    reporter,
    async (stack) => {
      const client = new ApiClient(stack.apiUrl, stack.tokens[TENANT] as string);
      // Read now: the log tail the URLs come from is bounded.
      const urls = metricsUrls(stack);
      if (options.warmup > 0) {
        reporter.progress(`${family}/${curve}: warm-up batch of ${options.warmup}`);
        await runBatch(stack, client, options.warmup, options, reporter);
      }
      const cells: JsonRecord[] = [];
      for (const size of options.sizes) {
        const cell: JsonRecord = {
          family,
          curve,
          ...(await measureCell(stack, client, size, urls, options, reporter)),
        };
        reporter.progress(
          `${family}/${curve} x${size}: makespan ${String(cell.makespan_s)} s, bound ${String(cell.lower_bound_s)} s, ratio ${String(cell.ratio)}, ` +
            `floor of the requests spent ${String(cell.spent_floor_s)} s, ` +
            `requests/task ${String(cell.requests_per_task)}, 429s ${String(cell.http_429)}, lag p95 ${String(cell.p95_lag_s)} s, ` +
            `last item ${JSON.stringify(cell.last_item_s)}`,
        );
        cells.push(cell);
      }
      return cells;
    },
    simEnv,
  );
}

async function run(options: LatencyOptions, reporter: Reporter): Promise<JsonRecord> {
  const { common } = options;
  const cells: JsonRecord[] = [];
  for (const family of options.families) {
    for (const curve of options.curves)
      cells.push(...(await runCombination(options, family, curve, reporter)));
  }
  const ratios = cells.map((c) => c.ratio).filter((r): r is number => typeof r === 'number');
  const record: JsonRecord = {
    scenario: 'latency',
    keys: common.keys,
    time_scale: common.timeScale,
    workers: common.workers,
    max_ratio: ratios.length > 0 ? Math.max(...ratios) : null,
    http_429: cells.reduce((sum, c) => sum + (c.http_429 as number), 0),
    cells,
  };
  reporter.summary(
    `latency: ${common.keys} key(s), ${common.workers} worker(s), time scale ${common.timeScale}; seconds in FitRoom terms, overhead in real ms`,
    cells.map((c) => [
      `${String(c.family)}/${String(c.curve)} x${String(c.items)}`,
      `makespan ${String(c.makespan_s)} / bound ${String(c.lower_bound_s)} = ${String(c.ratio)} (/ floor of the requests spent ${String(c.spent_floor_s)} = ${String(c.spent_floor_ratio)}); req/task ${String(c.requests_per_task)}; 429 ${String(c.http_429)}; ` +
        `lag p50/p95 ${String(c.p50_lag_s)}/${String(c.p95_lag_s)} s; overhead ms ${JSON.stringify(c.overhead_ms_per_task)}`,
    ]),
  );
  return record;
}

export const latency: Scenario<LatencyOptions> = {
  name: 'latency',
  summary:
    "Makespan against its lower bound per batch size, FitRoom's duration family and progress curve.",
  flags: FLAGS,
  resolve,
  run,
};
