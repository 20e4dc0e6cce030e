import type { Redis } from 'ioredis';
import { RedisKeys } from '@tryon/redis';
import { sampleQuantiles } from './duration-distribution.js';
import type { DurationEstimate } from './poll-planner.js';
import { observeDuration } from './scripts/observe.js';

export type TaskMode = 'normal' | 'hd';

export interface DurationModelOptions {
  redis: Redis;
  prefix: string;
  /** What to assume until enough tasks were seen (from FITROOM_NORMAL_TASK_MS / HD). */
  defaults: Record<TaskMode, DurationEstimate>;
  /**
   * Length of one FitRoom second in our milliseconds: FitRoom's timestamps are whole seconds
   * of its clock. 1000 against FitRoom; shorter against a time-scaled simulator.
   */
  fitroomSecondMs: number;
  /** How often a process re-reads the shared model. */
  refreshMs: number;
  /** Samples before the learned model replaces the defaults. */
  minSamples?: number;
  /** Weight floor of a new sample. */
  alpha?: number;
  /** Recent durations kept per mode: the distribution's quantiles come from these. */
  window?: number;
  /** Samples before their quantiles replace a normal of the learned mean and sd. */
  minQuantileSamples?: number;
}

type Cached = DurationEstimate & { n: number };

/** Task durations per mode, learned online from every completed task, shared through Redis. */
export class DurationModel {
  private readonly cache: Record<TaskMode, Cached>;
  private refreshedAt = 0;
  private refreshing: Promise<void> | null = null;

  constructor(private readonly options: DurationModelOptions) {
    this.cache = {
      normal: { ...options.defaults.normal, n: 0 },
      hd: { ...options.defaults.hd, n: 0 },
    };
  }

  private key(mode: TaskMode): string {
    return new RedisKeys(this.options.prefix).durations(mode);
  }

  /**
   * One finished task, from FitRoom's own created_at and completed_at (whole seconds of its
   * clock). Rounding to seconds adds noise of variance 1/6 s², taken out again in estimate().
   */
  async observe(mode: TaskMode, createdAt: number, completedAt: number): Promise<void> {
    const ms = (completedAt - createdAt) * this.options.fitroomSecondMs;
    if (!Number.isFinite(ms) || ms <= 0) return;
    const { redis, alpha, window } = this.options;
    await observeDuration(redis, this.key(mode), ms, alpha ?? 0.05, window ?? 200);
  }

  /** The current estimate (from this process's cache, refreshed in the background). */
  estimate(mode: TaskMode): DurationEstimate {
    // A failed background read keeps the last estimate; the next call tries again.
    if (Date.now() - this.refreshedAt > this.options.refreshMs) {
      this.refresh().catch(() => undefined);
    }
    const { meanMs, sdMs, quantilesMs } = this.cache[mode];
    return quantilesMs ? { meanMs, sdMs, quantilesMs } : { meanMs, sdMs };
  }

  samples(mode: TaskMode): number {
    return this.cache[mode].n;
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const minSamples = this.options.minSamples ?? 5;
    const quantizationVar = this.options.fitroomSecondMs ** 2 / 6;
    for (const mode of ['normal', 'hd'] as const) {
      const stored = await this.options.redis.hgetall(this.key(mode));
      const n = Number(stored.n ?? 0);
      if (n < minSamples) continue;
      const meanMs = Number(stored.mean);
      // The spread never drops below 2 % of the mean: a model that believes in exact durations
      // would poll a hair too early forever after one lucky streak.
      const floor = (0.02 * meanMs) ** 2;
      const sdMs = Math.sqrt(Math.max(floor, Number(stored.var) - quantizationVar));
      this.cache[mode] = { meanMs, sdMs, n, ...this.quantiles(mode, n, stored) };
    }
    this.refreshedAt = Date.now();
  }

  /** The quantile table of the stored window, recomputed only when a sample was added. */
  private quantiles(
    mode: TaskMode,
    n: number,
    stored: Record<string, string>,
  ): Pick<DurationEstimate, 'quantilesMs'> {
    if (n < (this.options.minQuantileSamples ?? 20)) return {};
    const cached = this.cache[mode];
    if (cached.n === n && cached.quantilesMs) return { quantilesMs: cached.quantilesMs };
    const samples = Object.entries(stored)
      .filter(([field]) => /^s\d+$/.test(field))
      .map(([, value]) => Number(value))
      .filter((ms) => Number.isFinite(ms) && ms > 0);
    return samples.length > 0 ? { quantilesMs: sampleQuantiles(samples) } : {};
  }
}
