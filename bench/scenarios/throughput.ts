/**
 * `pnpm bench throughput`: does the service spend the FitRoom budget at the ceiling?
 *
 * Saturation (default): one matrix batch of about `--tasks` distinct pairs, enough to keep
 * every key busy for about two real minutes, run to completion. `--light`: one one-item batch
 * at a time (submit, wait, repeat), to measure the lag from FitRoom completion to stored result
 * when the budget is not saturated (time scale 5 by default, where fixed overheads are not
 * magnified out of proportion). Before the measured items, `--warmup` items run as one batch, as
 * in the latency scenario: the lag measured is that of a service that has learned FitRoom's
 * durations, not of its first few tasks on the configured defaults (`--warmup 0` measures those).
 */
import { COMMON_FLAGS, parseFlags, UsageError } from '../lib/args.js';
import { ApiClient, simStats, simTasks, type ItemView, type TaskTimes } from '../lib/client.js';
import type { SimStats } from '@tryon/fitroom-sim';
import { budgetNumbers } from '../lib/metrics.js';
import { fmt, type Reporter } from '../lib/report.js';
import type { Stack } from '../lib/stack.js';
import { round, type JsonRecord } from '../lib/stats.js';
import {
  every,
  resolveCommon,
  rssNumbers,
  uploadMatrix,
  withStack,
  WORKER_RSS_LIMIT_MB,
  type CommonOptions,
  type Scenario,
} from './common.js';

const FLAGS = {
  ...COMMON_FLAGS,
  tasks: {
    type: 'number',
    help: 'items (distinct pairs): default about 2 real minutes of budget, 2 x scale x 30 x keys (max 10000); --light: 20',
    min: 1,
    max: 100_000,
    integer: true,
  },
  hd: { type: 'boolean', help: 'hd_mode tasks (30 s in FitRoom instead of 9 s)' },
  light: {
    type: 'boolean',
    help: 'one item at a time, to measure lag without saturation (default time scale 5)',
  },
  warmup: {
    type: 'number',
    help: 'with --light: items run as one batch first, not measured (default 24, as latency)',
    min: 0,
    max: 1_000,
    integer: true,
  },
} as const;

export interface ThroughputOptions {
  common: CommonOptions;
  tasks: number;
  hd: boolean;
  light: boolean;
  warmup: number;
}

const TENANT = 'bench';

function resolve(args: readonly string[]): ThroughputOptions {
  const flags = parseFlags(FLAGS, args);
  const light = flags.light;
  const common = resolveCommon(flags, { timeScale: light ? 5 : 20 });
  const tasks =
    flags.tasks ??
    (light ? 20 : Math.min(10_000, Math.round(2 * common.timeScale * 30 * common.keys)));
  if (!light && tasks > 10_000 && !common.extraEnv.MAX_BATCH_ITEMS) {
    throw new UsageError(
      '--tasks above 10000 needs --env MAX_BATCH_ITEMS=<n> (the api refuses it)',
    );
  }
  return { common, tasks, hd: flags.hd, light, warmup: light ? (flags.warmup ?? 24) : 0 };
}

/** Saturation: one matrix batch, waited for. */
async function saturate(
  stack: Stack,
  client: ApiClient,
  options: ThroughputOptions,
  reporter: Reporter,
): Promise<Outcome> {
  const { common } = options;
  const matrix = await uploadMatrix(client, options.tasks, reporter);
  // Expected real time at the ceiling; the default timeout allows a service 4x slower.
  const taskMs = (options.hd ? 30_000 : 9_000) / common.timeScale;
  const expectedMs = (matrix.items / (30 * common.keys)) * (60_000 / common.timeScale) + taskMs;
  const timeoutMs = (common.timeoutS ?? (4 * expectedMs + 60_000) / 1000) * 1000;

  const start = Date.now();
  const { batch } = await client.submitBatch({
    matrix: {
      models: matrix.models,
      garments: matrix.garments.map((cloth, g) => ({
        cloth,
        cloth_type: 'upper',
        external_id: `g${g}`,
      })),
      hd_mode: options.hd,
    },
  });
  reporter.progress(
    `submitted batch ${batch.id}: ${matrix.items} items; at the ceiling it takes ` +
      `${(expectedMs / 1000).toFixed(0)} s real (timeout ${(timeoutMs / 1000).toFixed(0)} s)`,
  );
  const tick = every(10_000);
  const { batch: last, timedOut } = await client.waitForBatch(batch.id, {
    timeoutMs,
    intervalMs: 500,
    onTick: (b) => {
      stack.assertAlive();
      if (!tick()) return;
      const minutes = (Date.now() - start) / 60_000;
      reporter.progress(
        `${b.counts.completed}/${b.counts.total} completed, ${b.counts.running} running, ` +
          `${b.counts.failed} failed; ${(b.counts.completed / Math.max(minutes, 1e-9) / common.timeScale / common.keys).toFixed(1)} tasks/min/key so far (FitRoom time, from submit)`,
      );
    },
  });
  const durationMs = Date.now() - start;
  if (timedOut) {
    reporter.progress(
      `timed out after ${(durationMs / 1000).toFixed(0)} s; measuring what completed`,
    );
    await client.cancel(batch.id).catch(() => undefined);
  }
  reporter.progress(`batch ${last.status}: ${JSON.stringify(last.counts)}`);
  return { items: await client.items(batch.id), timedOut, durationMs, submitted: matrix.items };
}

/** Light load: one one-item batch at a time. */
async function light(
  stack: Stack,
  client: ApiClient,
  options: ThroughputOptions,
  reporter: Reporter,
): Promise<Outcome> {
  const { common } = options;
  // Distinct pairs for the warm-up too: a pair rendered before is served without FitRoom.
  const matrix = await uploadMatrix(client, options.tasks + options.warmup, reporter);
  const pair = (i: number) => ({
    model: matrix.models[i % matrix.models.length] as string,
    cloth: matrix.garments[Math.floor(i / matrix.models.length)] as string,
    cloth_type: 'upper' as const,
    hd_mode: options.hd,
    external_id: `i${i}`,
  });
  const taskMs = (options.hd ? 30_000 : 9_000) / common.timeScale;
  // Per item: 20 task durations and 10 s more is far beyond any sane service.
  const perItemTimeoutMs =
    common.timeoutS !== undefined ? common.timeoutS * 1000 : 20 * taskMs + 10_000;
  let warmedUp: WarmedUp | undefined;
  if (options.warmup > 0) {
    reporter.progress(`warm-up batch of ${options.warmup} (not measured)`);
    const items = Array.from({ length: options.warmup }, (_, w) => pair(options.tasks + w));
    const { batch } = await client.submitBatch({ items });
    const result = await client.waitForBatch(batch.id, {
      timeoutMs: perItemTimeoutMs * options.warmup,
      intervalMs: 50,
      onTick: () => stack.assertAlive(),
    });
    if (result.timedOut) throw new Error('the warm-up batch did not finish');
    warmedUp = { at: Date.now(), stats: await simStats(stack.simUrl) };
  }
  const items: ItemView[] = [];
  const start = Date.now();
  let timedOut = false;
  for (let i = 0; i < options.tasks; i++) {
    const { batch } = await client.submitBatch({ items: [pair(i)] });
    const result = await client.waitForBatch(batch.id, {
      timeoutMs: perItemTimeoutMs,
      intervalMs: 50,
      onTick: () => stack.assertAlive(),
    });
    items.push(...(await client.items(batch.id)));
    if (result.timedOut) {
      timedOut = true;
      reporter.progress(`item ${i + 1} did not finish in ${perItemTimeoutMs} ms; stopping`);
      break;
    }
    if ((i + 1) % 5 === 0) reporter.progress(`${i + 1}/${options.tasks} items done`);
  }
  return { items, timedOut, durationMs: Date.now() - start, submitted: options.tasks, warmedUp };
}

/** When the warm-up ended, and the simulator's counters then. */
interface WarmedUp {
  at: number;
  stats: SimStats;
}

interface Outcome {
  items: ItemView[];
  timedOut: boolean;
  durationMs: number;
  submitted: number;
  warmedUp?: WarmedUp;
}

/**
 * The tasks and counters of the measured part: those after the warm-up. The peak in any window
 * is the simulator's over the whole run (it keeps no history to take the warm-up out of).
 */
function afterWarmUp(
  tasks: TaskTimes[],
  stats: SimStats,
  warmedUp: WarmedUp | undefined,
): { tasks: TaskTimes[]; stats: SimStats } {
  if (!warmedUp) return { tasks, stats };
  const before = warmedUp.stats.keys;
  const keys = Object.fromEntries(
    Object.entries(stats.keys).map(([key, now]) => {
      const then = before[key];
      if (!then) return [key, now];
      return [
        key,
        {
          ...now,
          total: now.total - then.total,
          http_429: now.http_429 - then.http_429,
          creates: now.creates - then.creates,
          tasks_created: now.tasks_created - then.tasks_created,
          polls: now.polls - then.polls,
        },
      ];
    }),
  );
  return { tasks: tasks.filter((t) => t.created_ms >= warmedUp.at), stats: { ...stats, keys } };
}

async function run(options: ThroughputOptions, reporter: Reporter): Promise<JsonRecord> {
  const { common } = options;
  return withStack('throughput', common, [TENANT], reporter, async (stack) => {
    const client = new ApiClient(stack.apiUrl, stack.tokens[TENANT] as string);
    const outcome = options.light
      ? await light(stack, client, options, reporter)
      : await saturate(stack, client, options, reporter);
    const [{ tasks: allTasks, offsetMs }, allStats] = await Promise.all([
      simTasks(stack.simUrl),
      simStats(stack.simUrl),
    ]);
    const { tasks, stats } = afterWarmUp(allTasks, allStats, outcome.warmedUp);
    reporter.progress(
      `${tasks.length} FitRoom tasks from the simulator; its clock is ${offsetMs.toFixed(1)} ms off ours (corrected)`,
    );
    await stack.rss.stop();
    const numbers = budgetNumbers({
      items: outcome.items,
      tasks,
      stats,
      apiKeys: stack.apiKeys,
      timeScale: common.timeScale,
    });
    const rss = rssNumbers(stack);
    const workerRss = rss.worker_rss_peak_mb as number | null;

    const targets = options.light
      ? {
          p95_lag_le_1_5_s: numbers.p95_lag_s !== null && numbers.p95_lag_s <= 1.5,
          zero_429: numbers.http_429 === 0,
        }
      : {
          ratio_ge_0_95: numbers.ratio !== null && numbers.ratio >= 0.95,
          requests_per_task_le_2_1:
            numbers.requests_per_task !== null && numbers.requests_per_task <= 2.1,
          zero_429: numbers.http_429 === 0,
          worker_rss_lt_250_mb: workerRss !== null && workerRss < WORKER_RSS_LIMIT_MB,
        };

    const record: JsonRecord = {
      scenario: 'throughput',
      mode: options.light ? 'light' : 'saturation',
      tasks: outcome.submitted,
      ...(options.light ? { warmup: options.warmup } : {}),
      keys: common.keys,
      time_scale: common.timeScale,
      tasks_per_min_per_key: numbers.tasks_per_min_per_key,
      ceiling_per_min_per_key: numbers.ceiling_per_min_per_key,
      ratio: numbers.ratio,
      requests_per_task: numbers.requests_per_task,
      http_429: numbers.http_429,
      p50_lag_s: numbers.p50_lag_s,
      p95_lag_s: numbers.p95_lag_s,
      hd: options.hd,
      workers: common.workers,
      jitter: common.jitter,
      completed: numbers.completed,
      failed: numbers.failed,
      fitroom_tasks: numbers.fitroom_tasks,
      steady_tasks_per_min_per_key: numbers.steady_tasks_per_min_per_key,
      tasks_per_min_total: numbers.tasks_per_min_total,
      creates_per_task: numbers.creates_per_task,
      polls_per_task: numbers.polls_per_task,
      max_in_window: numbers.max_in_window,
      max_in_window_per_key: numbers.max_in_window_per_key,
      completed_per_key: numbers.completed_per_key,
      max_lag_s: numbers.max_lag_s,
      p50_detect_lag_s: numbers.p50_detect_lag_s,
      p95_detect_lag_s: numbers.p95_detect_lag_s,
      p50_store_lag_s: numbers.p50_store_lag_s,
      p95_store_lag_s: numbers.p95_store_lag_s,
      span_real_s: numbers.span_real_s,
      duration_s: round(outcome.durationMs / 1000, 1),
      ...rss,
      timed_out: outcome.timedOut,
      targets,
    };

    const kind = options.hd ? 'HD' : 'normal';
    reporter.summary(
      `throughput (${options.light ? 'light: one item at a time' : 'saturation'}): ${outcome.submitted} ${kind} items, ` +
        `${common.keys} key(s), ${common.workers} worker(s), time scale ${common.timeScale}; per-minute and lag numbers in FitRoom (real-time) terms`,
      [
        [
          'completed',
          `${numbers.completed}/${outcome.submitted} (${numbers.failed} failed; ${numbers.fitroom_tasks} FitRoom tasks)${outcome.timedOut ? ' TIMED OUT' : ''}`,
        ],
        [
          'tasks/min/key',
          `${fmt.n(numbers.tasks_per_min_per_key)} of ${numbers.ceiling_per_min_per_key}, ratio ${fmt.n(numbers.ratio, 3)} (first create -> last FitRoom completion)` +
            (options.light ? '' : fmt.target(targets.ratio_ge_0_95 ?? null)),
        ],
        ['  steady 10-90%', fmt.n(numbers.steady_tasks_per_min_per_key)],
        ['  total (all keys)', fmt.n(numbers.tasks_per_min_total)],
        [
          'requests/task',
          `${fmt.n(numbers.requests_per_task, 3)} (creates ${fmt.n(numbers.creates_per_task, 3)}, polls ${fmt.n(numbers.polls_per_task, 3)})` +
            (options.light ? '' : fmt.target(targets.requests_per_task_le_2_1 ?? null)),
        ],
        ['http 429', `${numbers.http_429}${fmt.target(targets.zero_429)}`],
        [
          'max in window',
          `${numbers.max_in_window} (per key: ${numbers.max_in_window_per_key.join(', ')})` +
            (options.warmup > 0 ? ', warm-up included' : ''),
        ],
        [
          'lag p50 / p95',
          `${fmt.n(numbers.p50_lag_s)} s / ${fmt.n(numbers.p95_lag_s)} s, max ${fmt.n(numbers.max_lag_s)} s (FitRoom completion -> item stored)` +
            (options.light ? fmt.target(targets.p95_lag_le_1_5_s ?? null) : ''),
        ],
        [
          '  detect p50 / p95',
          `${fmt.n(numbers.p50_detect_lag_s)} s / ${fmt.n(numbers.p95_detect_lag_s)} s (completion -> first poll that saw it)`,
        ],
        [
          '  store p50 / p95',
          `${fmt.n(numbers.p50_store_lag_s)} s / ${fmt.n(numbers.p95_store_lag_s)} s (that poll -> item stored)`,
        ],
        [
          'worker RSS peak',
          `${workerRss ?? 'n/a'} MB (each: ${(rss.worker_rss_peak_mb_each as number[]).join(', ')}); api ${String(rss.api_rss_peak_mb)} MB, sim ${String(rss.sim_rss_peak_mb)} MB` +
            (options.light ? '' : fmt.target(targets.worker_rss_lt_250_mb ?? null)),
        ],
        [
          'duration',
          `${fmt.n(outcome.durationMs / 1000, 1)} s real (span first create -> last completion ${fmt.n(numbers.span_real_s, 1)} s)`,
        ],
      ],
    );
    return record;
  });
}

export const throughput: Scenario<ThroughputOptions> = {
  name: 'throughput',
  summary:
    'FitRoom budget use at saturation (one matrix batch) or, with --light, the lag at light load.',
  flags: FLAGS,
  resolve,
  run,
};
