/**
 * `pnpm bench fairness`: tenant A's big batch saturates the budget; once it runs (its first
 * item completed, then `--b-after` more FitRoom seconds), tenant B posts a small batch. How
 * long does B take, in FitRoom (real-time) terms, and how far does A get meanwhile?
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { COMMON_FLAGS, parseFlags } from '../lib/args.js';
import { ApiClient, simStats, type BatchView } from '../lib/client.js';
import { percentile } from '../lib/stats.js';
import { fmt, type Reporter } from '../lib/report.js';
import { round, type JsonRecord } from '../lib/stats.js';
import {
  every,
  fitroomSeconds,
  resolveCommon,
  rssNumbers,
  uploadMatrix,
  withStack,
  type CommonOptions,
  type Scenario,
} from './common.js';

const FLAGS = {
  ...COMMON_FLAGS,
  'a-items': {
    type: 'number',
    help: "tenant A's batch (default 1000)",
    min: 1,
    max: 10_000,
    integer: true,
  },
  'b-items': {
    type: 'number',
    help: "tenant B's batch (default 10)",
    min: 1,
    max: 10_000,
    integer: true,
  },
  'b-after': {
    type: 'number',
    help: "B posts this many FitRoom seconds after A's first completed item (default 60: one budget window)",
    min: 0,
    max: 3_600,
  },
  hd: { type: 'boolean', help: 'hd_mode tasks for both tenants' },
} as const;

export interface FairnessOptions {
  common: CommonOptions;
  aItems: number;
  bItems: number;
  bAfterS: number;
  hd: boolean;
}

const B_LIMIT_S = 120;

function resolve(args: readonly string[]): FairnessOptions {
  const flags = parseFlags(FLAGS, args);
  return {
    common: resolveCommon(flags, { timeScale: 20 }),
    aItems: flags['a-items'] ?? 1_000,
    bItems: flags['b-items'] ?? 10,
    bAfterS: flags['b-after'] ?? 60,
    hd: flags.hd,
  };
}

const matrixBody = (m: { models: string[]; garments: string[] }, hd: boolean, tag: string) => ({
  matrix: {
    models: m.models,
    garments: m.garments.map((cloth, g) => ({
      cloth,
      cloth_type: 'upper',
      external_id: `${tag}${g}`,
    })),
    hd_mode: hd,
  },
});

async function run(options: FairnessOptions, reporter: Reporter): Promise<JsonRecord> {
  const { common } = options;
  const scale = common.timeScale;
  return withStack('fairness', common, ['tenant-a', 'tenant-b'], reporter, async (stack) => {
    const a = new ApiClient(stack.apiUrl, stack.tokens['tenant-a'] as string);
    const b = new ApiClient(stack.apiUrl, stack.tokens['tenant-b'] as string);
    const aMatrix = await uploadMatrix(a, options.aItems, reporter);
    const bMatrix = await uploadMatrix(b, options.bItems, reporter);
    const taskMs = (options.hd ? 30_000 : 9_000) / scale;
    // At a poor 10 tasks/min/key A and B both finish well within this.
    const timeoutMs =
      (common.timeoutS ??
        ((aMatrix.items + bMatrix.items) / (10 * common.keys)) * (60 / scale) + 60) * 1000;
    const deadline = Date.now() + timeoutMs;

    const start = Date.now();
    const { batch: aBatch } = await a.submitBatch(matrixBody(aMatrix, options.hd, 'a'));
    reporter.progress(`tenant A submitted ${aBatch.id}: ${aMatrix.items} items`);

    // "Once it is running": A's first item completed, then b-after FitRoom seconds more.
    const tick = every(10_000);
    const aStarted = await a.waitForBatch(aBatch.id, {
      timeoutMs: Math.max(1_000, Math.min(deadline - Date.now(), 30 * taskMs + 60_000)),
      intervalMs: 200,
      until: (batch) => batch.counts.completed > 0,
      onTick: () => stack.assertAlive(),
    });
    if (aStarted.batch.counts.completed === 0) {
      throw new Error(
        `tenant A's batch completed no item in time: ${JSON.stringify(aStarted.batch.counts)}`,
      );
    }
    await sleep((options.bAfterS * 1000) / scale);
    stack.assertAlive();

    const { batch: bBatch } = await b.submitBatch(matrixBody(bMatrix, options.hd, 'b'));
    const aAtPost = await a.batch(aBatch.id);
    reporter.progress(
      `tenant B submitted ${bBatch.id}: ${bMatrix.items} items; A has ${aAtPost.counts.completed}/${aAtPost.counts.total} completed`,
    );

    const bDone = await b.waitForBatch(bBatch.id, {
      timeoutMs: Math.max(1_000, deadline - Date.now()),
      intervalMs: 100,
      onTick: (batch: BatchView) => {
        stack.assertAlive();
        if (tick()) {
          reporter.progress(
            `B ${batch.counts.completed}/${batch.counts.total} completed after ${fmt.n(fitroomSeconds(Date.now() - Date.parse(bBatch.created_at), scale), 0)} FitRoom s`,
          );
        }
      },
    });
    const aAtBDone = await a.batch(aBatch.id);
    const bItems = await b.items(bBatch.id);
    const stats = await simStats(stack.simUrl);
    await a.cancel(aBatch.id).catch(() => undefined);
    await stack.rss.stop();

    const bCreated = Date.parse(bDone.batch.created_at);
    const bCompleted = bDone.batch.completed_at ? Date.parse(bDone.batch.completed_at) : NaN;
    const bRealMs = Number.isFinite(bCompleted) ? bCompleted - bCreated : null;
    const itemSeconds = bItems
      .filter((i) => i.completed_at)
      .map((i) => fitroomSeconds(Date.parse(i.completed_at as string) - bCreated, scale));
    const windowMs = bRealMs ?? Date.now() - bCreated;
    const aDuring = aAtBDone.counts.completed - aAtPost.counts.completed;
    const perMinPerKey = (n: number): number | null =>
      windowMs > 0 ? round(n / (windowMs / 60_000) / scale / common.keys, 2) : null;
    const keyStats = stack.apiKeys.map((k) => stats.keys[k]);
    const bCompletion = bRealMs === null ? null : round(fitroomSeconds(bRealMs, scale), 2);
    const rss = rssNumbers(stack);

    const targets = { b_within_120_s: bCompletion !== null && bCompletion <= B_LIMIT_S };
    const record: JsonRecord = {
      scenario: 'fairness',
      a_items: aMatrix.items,
      b_items: bMatrix.items,
      keys: common.keys,
      workers: common.workers,
      time_scale: scale,
      hd: options.hd,
      b_completion_s: bCompletion,
      b_first_item_s: round(percentile(itemSeconds, 0), 2),
      b_median_item_s: round(percentile(itemSeconds, 50), 2),
      b_completed: bDone.batch.counts.completed,
      b_failed: bDone.batch.counts.failed,
      a_completed_at_b_post: aAtPost.counts.completed,
      a_completed_at_b_done: aAtBDone.counts.completed,
      a_completed_during_b: aDuring,
      a_tasks_per_min_per_key_during_b: perMinPerKey(aDuring),
      total_tasks_per_min_per_key_during_b: perMinPerKey(aDuring + bDone.batch.counts.completed),
      http_429: keyStats.reduce((sum, s) => sum + (s?.http_429 ?? 0), 0),
      max_in_window: Math.max(0, ...keyStats.map((s) => s?.max_in_window ?? 0)),
      duration_s: round((Date.now() - start) / 1000, 1),
      ...rss,
      timed_out: bDone.timedOut,
      targets,
    };
    reporter.summary(
      `fairness: tenant A ${aMatrix.items} items, then tenant B ${bMatrix.items} items; ${common.keys} key(s), ` +
        `${common.workers} worker(s), time scale ${scale}; times in FitRoom (real-time) terms`,
      [
        [
          'B completion',
          `${bCompletion === null ? 'did not complete' : `${fmt.n(bCompletion, 1)} s`} (B created_at -> completed_at)${fmt.target(targets.b_within_120_s)}`,
        ],
        [
          'B first / median item',
          `${fmt.n(record.b_first_item_s as number | null, 1)} s / ${fmt.n(record.b_median_item_s as number | null, 1)} s after B was created`,
        ],
        [
          'A progress',
          `${aAtPost.counts.completed} completed when B was posted, ${aAtBDone.counts.completed} when B was done (of ${aMatrix.items})`,
        ],
        [
          'rate while B ran',
          `A ${fmt.n(record.a_tasks_per_min_per_key_during_b as number | null)}, A+B ${fmt.n(record.total_tasks_per_min_per_key_during_b as number | null)} tasks/min/key`,
        ],
        [
          'http 429 / max in window',
          `${String(record.http_429)} / ${String(record.max_in_window)}`,
        ],
        ['worker RSS peak', `${String(rss.worker_rss_peak_mb)} MB`],
      ],
    );
    return record;
  });
}

export const fairness: Scenario<FairnessOptions> = {
  name: 'fairness',
  summary: "Tenant B's small batch behind tenant A's big one: B's completion time.",
  flags: FLAGS,
  resolve,
  run,
};
