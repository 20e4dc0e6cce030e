/**
 * The budget numbers of DESIGN.md from the api's items, the simulator's per-task times and its
 * per-key counters. All "real-time terms" numbers are FitRoom time: real durations multiplied
 * by the time scale.
 */
import type { SimStats } from '@tryon/fitroom-sim';
import type { ItemView, TaskTimes } from './client.js';
import { percentile, round } from './stats.js';

export const CEILING_PER_MIN_PER_KEY = 30;

export interface BudgetNumbers {
  /** Items the api reports completed (each with a FitRoom task). */
  completed: number;
  failed: number;
  /** FitRoom tasks created (the simulator's count, every key). */
  fitroom_tasks: number;
  /** Completed tasks per minute per key, FitRoom time, from the first create to the last completion. */
  tasks_per_min_per_key: number | null;
  /** The same over the middle 80% of completions (10th to 90th percentile completion time). */
  steady_tasks_per_min_per_key: number | null;
  tasks_per_min_total: number | null;
  ceiling_per_min_per_key: number;
  ratio: number | null;
  /** Every FitRoom request (any route, any status, 429s included) per completed item. */
  requests_per_task: number | null;
  /** Creates answered 200 and polls answered 200, per completed item. */
  creates_per_task: number | null;
  polls_per_task: number | null;
  http_429: number;
  /** Most requests the simulator saw arrive in any rolling window, per key (and the max). */
  max_in_window: number;
  max_in_window_per_key: number[];
  completed_per_key: number[];
  /** FitRoom completion -> item stored (the item's completed_at), seconds in FitRoom time. */
  p50_lag_s: number | null;
  p95_lag_s: number | null;
  max_lag_s: number | null;
  /** FitRoom completion -> the first poll that saw it. */
  p50_detect_lag_s: number | null;
  p95_detect_lag_s: number | null;
  /** That poll -> item stored (download, store, record). */
  p50_store_lag_s: number | null;
  p95_store_lag_s: number | null;
  /** First create -> last completion, real seconds. */
  span_real_s: number | null;
}

export function budgetNumbers(input: {
  items: readonly ItemView[];
  tasks: readonly TaskTimes[];
  stats: SimStats;
  apiKeys: readonly string[];
  timeScale: number;
}): BudgetNumbers {
  const { items, tasks, stats, apiKeys, timeScale } = input;
  const keys = apiKeys.length;
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const done = items
    .filter((i) => i.status === 'completed' && i.fitroom_task_id !== null)
    .map((item) => ({ item, task: byId.get(item.fitroom_task_id as string) }));
  const completed = done.length;
  const withTask = done.filter((d): d is { item: ItemView; task: TaskTimes } => !!d.task);

  const firstCreate = tasks.reduce<number | undefined>(
    (min, t) => (min === undefined || t.created_ms < min ? t.created_ms : min),
    undefined,
  );
  const completions = withTask.map((d) => d.task.completed_ms).sort((a, b) => a - b);
  const lastCompletion = completions.at(-1);
  const spanMs =
    firstCreate !== undefined && lastCompletion !== undefined ? lastCompletion - firstCreate : 0;
  /** Tasks per FitRoom minute per key from `count` completions over `realMs`. */
  const rate = (count: number, realMs: number): number | null =>
    realMs > 0 ? count / (realMs / 60_000) / timeScale / keys : null;

  const perMinPerKey = rate(completed, spanMs);
  let steady: number | null = null;
  if (completions.length >= 10) {
    const lo = Math.floor(0.1 * (completions.length - 1));
    const hi = Math.ceil(0.9 * (completions.length - 1));
    steady = rate(hi - lo, (completions[hi] as number) - (completions[lo] as number));
  }

  const keyStats = apiKeys.map((k) => stats.keys[k]);
  const requests = keyStats.reduce((sum, s) => sum + (s?.total ?? 0), 0);
  const creates = keyStats.reduce((sum, s) => sum + (s?.creates ?? 0), 0);
  const polls = keyStats.reduce((sum, s) => sum + (s?.polls ?? 0), 0);
  const http429 = keyStats.reduce((sum, s) => sum + (s?.http_429 ?? 0), 0);
  const maxInWindow = keyStats.map((s) => s?.max_in_window ?? 0);
  const perTask = (n: number): number | null => (completed > 0 ? round(n / completed, 3) : null);

  const seconds = (realMs: number): number => (realMs * timeScale) / 1000;
  const lags: number[] = [];
  const detect: number[] = [];
  const store: number[] = [];
  for (const { item, task } of withTask) {
    const stored = Date.parse(item.completed_at ?? '');
    if (Number.isFinite(stored)) lags.push(seconds(stored - task.completed_ms));
    if (task.seen_ms !== null) {
      detect.push(seconds(task.seen_ms - task.completed_ms));
      if (Number.isFinite(stored)) store.push(seconds(stored - task.seen_ms));
    }
  }
  const p = (values: number[], q: number): number | null => round(percentile(values, q), 3);

  return {
    completed,
    failed: items.filter((i) => i.status === 'failed').length,
    fitroom_tasks: tasks.length,
    tasks_per_min_per_key: round(perMinPerKey, 2),
    steady_tasks_per_min_per_key: round(steady, 2),
    tasks_per_min_total: round(perMinPerKey === null ? null : perMinPerKey * keys, 2),
    ceiling_per_min_per_key: CEILING_PER_MIN_PER_KEY,
    ratio: round(perMinPerKey === null ? null : perMinPerKey / CEILING_PER_MIN_PER_KEY, 3),
    requests_per_task: perTask(requests),
    creates_per_task: perTask(creates),
    polls_per_task: perTask(polls),
    http_429: http429,
    max_in_window: Math.max(0, ...maxInWindow),
    max_in_window_per_key: maxInWindow,
    completed_per_key: apiKeys.map((k) => withTask.filter((d) => d.task.key === k).length),
    p50_lag_s: p(lags, 50),
    p95_lag_s: p(lags, 95),
    max_lag_s: p(lags, 100),
    p50_detect_lag_s: p(detect, 50),
    p95_detect_lag_s: p(detect, 95),
    p50_store_lag_s: p(store, 50),
    p95_store_lag_s: p(store, 95),
    span_real_s: spanMs > 0 ? round(spanMs / 1000, 2) : null,
  };
}
