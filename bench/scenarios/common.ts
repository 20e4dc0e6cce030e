/** What every scenario shares: resolved common flags, the stack, images, RSS numbers. */
import { parseEnvPairs, type CommonFlags, type FlagSpecs } from '../lib/args.js';
import { interrupted } from '../lib/cleanup.js';
import { ApiClient } from '../lib/client.js';
import { GARMENT_SIZE, makeImages, matrixShape, MODEL_SIZE } from '../lib/images.js';
import { assertBuilt } from '../lib/processes.js';
import type { Reporter } from '../lib/report.js';
import { startStack, type Stack } from '../lib/stack.js';
import type { JsonRecord } from '../lib/stats.js';

export interface Scenario<F extends { common: CommonOptions }> {
  name: string;
  summary: string;
  flags: FlagSpecs;
  /** Checks and resolves flags before anything starts (throws UsageError). */
  resolve(args: readonly string[]): F;
  /** One run on a fresh stack; prints its human summary and answers its JSON record. */
  run(options: F, reporter: Reporter): Promise<JsonRecord>;
}

export interface CommonOptions {
  workers: number;
  keys: number;
  timeScale: number;
  jitter: number;
  seed: number | undefined;
  runs: number;
  timeoutS: number | undefined;
  json: boolean;
  keep: boolean;
  /** Services from the production trees (out/<service>), not from sources through tsx. */
  built: boolean;
  extraEnv: Record<string, string>;
  /** Added to the simulator's environment (--sim-env); a scenario's own settings win. */
  simEnv: Record<string, string>;
}

export function resolveCommon(
  flags: CommonFlags,
  defaults: { timeScale: number; workers?: number },
): CommonOptions {
  if (flags.built) assertBuilt();
  return {
    workers: flags.workers ?? defaults.workers ?? 4,
    keys: flags.keys ?? 1,
    timeScale: flags['time-scale'] ?? defaults.timeScale,
    jitter: flags.jitter ?? 0.1,
    seed: flags.seed,
    runs: flags.runs ?? 1,
    timeoutS: flags.timeout,
    json: flags.json,
    keep: flags.keep,
    built: flags.built,
    extraEnv: parseEnvPairs(flags.env),
    simEnv: parseEnvPairs(flags['sim-env'], 'sim-env'),
  };
}

export async function withStack<T>(
  scenario: string,
  common: CommonOptions,
  tenants: string[],
  reporter: Reporter,
  body: (stack: Stack) => Promise<T>,
  simEnv?: Record<string, string>,
): Promise<T> {
  const stack = await startStack({
    simEnv: { ...common.simEnv, ...simEnv },
    scenario,
    workers: common.workers,
    keys: common.keys,
    timeScale: common.timeScale,
    jitter: common.jitter,
    seed: common.seed,
    tenants,
    extraEnv: common.extraEnv,
    keep: common.keep,
    built: common.built,
    progress: reporter.progress,
  });
  try {
    return await body(stack);
  } catch (error) {
    if (!interrupted()) stack.keepLogs();
    throw error;
  } finally {
    await stack.close();
  }
}

/** Uploads distinct models and garments for a matrix of about `n` items; the ids. */
export async function uploadMatrix(
  client: ApiClient,
  n: number,
  reporter: Reporter,
): Promise<{ models: string[]; garments: string[]; items: number; uploadMs: number }> {
  const shape = matrixShape(n);
  const [models, garments] = await Promise.all([
    makeImages({ ...MODEL_SIZE, count: shape.models }),
    makeImages({ ...GARMENT_SIZE, count: shape.garments }),
  ]);
  const start = performance.now();
  const ids = await client.uploadAssets([...models, ...garments]);
  const uploadMs = performance.now() - start;
  reporter.progress(
    `uploaded ${shape.models} models + ${shape.garments} garments in ${uploadMs.toFixed(0)} ms`,
  );
  return {
    models: ids.slice(0, shape.models),
    garments: ids.slice(shape.models),
    items: shape.models * shape.garments,
    uploadMs,
  };
}

/** Peak RSS numbers of a stack's processes, MB. */
export function rssNumbers(stack: Stack): JsonRecord {
  const peaks = stack.rss.peaksMb();
  const workers = stack.workers.map((w) => peaks[w.name] ?? 0);
  return {
    worker_rss_peak_mb: workers.length > 0 ? Math.max(...workers) : null,
    worker_rss_peak_mb_each: workers,
    api_rss_peak_mb: peaks.api ?? null,
    sim_rss_peak_mb: peaks.sim ?? null,
  };
}

export const WORKER_RSS_LIMIT_MB = 250;

/** Real seconds to FitRoom (real-time terms) seconds. */
export const fitroomSeconds = (realMs: number, timeScale: number): number =>
  (realMs * timeScale) / 1000;

/** "every 10 s" progress throttle. */
export function every(ms: number): () => boolean {
  let last = 0;
  return () => {
    const now = Date.now();
    if (now - last < ms) return false;
    last = now;
    return true;
  };
}
