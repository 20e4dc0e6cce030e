/**
 * Duration families, CREATED waits and progress curves as pure functions of a seeded stream:
 * the shape of each (median and tail, bimodal split), and progress that only rises and stays
 * below 100 until COMPLETED.
 */
import { describe, expect, it } from 'vitest';
import {
  drawDuration,
  drawQueued,
  progressPercent,
  PROGRESS_CURVES,
  type DurationShape,
  type ProgressShape,
} from '../src/behaviour.js';
import { resolveConfig, SimConfigError } from '../src/config.js';
import { seededRandom } from '../src/random.js';

const SHAPE: DurationShape = {
  family: 'normal',
  jitter: 0.1,
  sigma: 0.6,
  slowShare: 0.1,
  slowFactor: 5,
};

function draws(shape: Partial<DurationShape>, n = 20_000, seed = 7): number[] {
  const random = seededRandom(seed, 'tasks');
  return Array.from({ length: n }, () => drawDuration(random, 9_000, { ...SHAPE, ...shape }));
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const sortedCopy = (values: number[]): number[] => [...values].sort((a, b) => a - b);

describe('duration families', () => {
  it('fixed is exactly the configured duration', () => {
    expect(new Set(draws({ family: 'fixed' }, 100))).toEqual(new Set([9_000]));
  });

  it('normal stays within ± jitter and draws what the simulator always drew', () => {
    const values = draws({ family: 'normal' });
    expect(Math.min(...values)).toBeGreaterThanOrEqual(8_100);
    expect(Math.max(...values)).toBeLessThanOrEqual(9_900);
    const random = seededRandom(7, 'tasks');
    // Today's formula, one uniform per task: seeded runs keep their durations.
    expect(values[0]).toBe(Math.max(1, 9_000 * (1 + 0.1 * (2 * random() - 1))));
  });

  it('lognormal has the configured median and a long tail; a seed reproduces the run', () => {
    const values = draws({ family: 'lognormal', sigma: 0.6 });
    const sorted = sortedCopy(values);
    expect(quantile(sorted, 0.5)).toBeGreaterThan(8_600);
    expect(quantile(sorted, 0.5)).toBeLessThan(9_400);
    // exp(0.6 x 2.326) = 4.04: the 99th percentile is about 4 times the median.
    expect(quantile(sorted, 0.99) / quantile(sorted, 0.5)).toBeGreaterThan(3.5);
    expect(quantile(sorted, 0.99) / quantile(sorted, 0.5)).toBeLessThan(4.6);
    expect(Math.max(...values)).toBeGreaterThan(5 * 9_000);
    expect(draws({ family: 'lognormal' }, 50)).toEqual(values.slice(0, 50));
    expect(draws({ family: 'lognormal' }, 50, 8)).not.toEqual(values.slice(0, 50));
  });

  it('bimodal puts slowShare of the tasks at slowFactor times the duration, none between', () => {
    const values = draws({ family: 'bimodal', slowShare: 0.2, slowFactor: 5, jitter: 0.1 });
    const slow = values.filter((v) => v > 20_000);
    expect(slow.length / values.length).toBeGreaterThan(0.18);
    expect(slow.length / values.length).toBeLessThan(0.22);
    expect(values.filter((v) => v > 9_900 && v < 40_500)).toEqual([]);
    expect(Math.min(...slow)).toBeGreaterThanOrEqual(40_500);
    expect(Math.max(...slow)).toBeLessThanOrEqual(49_500);
  });
});

describe('wait in CREATED', () => {
  const waits = (family: 'fixed' | 'uniform' | 'exponential'): number[] => {
    const random = seededRandom(3, 'tasks');
    return Array.from({ length: 20_000 }, () => drawQueued(random, 2_000, family));
  };
  const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

  it('fixed is the mean, uniform spans 0..2x, exponential has the mean and a tail', () => {
    expect(new Set(waits('fixed'))).toEqual(new Set([2_000]));
    const uniform = waits('uniform');
    expect(Math.min(...uniform)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...uniform)).toBeLessThan(4_000);
    expect(mean(uniform)).toBeGreaterThan(1_900);
    expect(mean(uniform)).toBeLessThan(2_100);
    const exponential = waits('exponential');
    expect(mean(exponential)).toBeGreaterThan(1_900);
    expect(mean(exponential)).toBeLessThan(2_100);
    expect(Math.max(...exponential)).toBeGreaterThan(5 * 2_000);
  });
});

describe('progress curves', () => {
  const shape = (curve: ProgressShape['curve']): ProgressShape => ({
    curve,
    stages: 4,
    stallShare: 0.4,
  });
  const at = (curve: ProgressShape['curve'], share: number): number =>
    progressPercent(share, shape(curve));

  it.each(PROGRESS_CURVES)('%s rises monotonically within 1..99', (curve) => {
    let last = 0;
    for (let i = 0; i <= 1_000; i++) {
      const progress = at(curve, i / 1_000);
      expect(progress).toBeGreaterThanOrEqual(last);
      expect(progress).toBeGreaterThanOrEqual(1);
      expect(progress).toBeLessThanOrEqual(99);
      last = progress;
    }
    // Near the end every curve but stepwise (whose last stage shows 75) is close to 99.
    expect(at(curve, 0.9999)).toBeGreaterThanOrEqual(curve === 'stepwise' ? 75 : 95);
  });

  it('each curve has its shape at half time', () => {
    expect(at('linear', 0.5)).toBe(50);
    expect(at('slow-then-fast', 0.5)).toBeLessThan(20);
    expect(at('fast-then-slow', 0.5)).toBeGreaterThan(80);
    expect(at('stepwise', 0.3)).toBe(25);
    expect(at('stepwise', 0.49)).toBe(25);
    expect(at('stepwise', 0.5)).toBe(50);
    expect(at('stepwise', 0.1)).toBe(1);
  });

  it('stalled reaches 95 at 1 - stallShare and creeps to 99 for the rest', () => {
    expect(at('stalled', 0.3)).toBe(47);
    expect(at('stalled', 0.6)).toBe(95);
    expect(at('stalled', 0.8)).toBe(97);
    expect(at('stalled', 0.999)).toBe(98);
  });
});

describe('validation of the new knobs', () => {
  it('defaults are today: normal durations, linear progress, fixed wait, no faults', () => {
    const config = resolveConfig({ seed: 1 });
    expect(config.durations).toMatchObject({
      family: 'normal',
      jitter: 0.1,
      queuedFamily: 'fixed',
    });
    expect(config.progress.curve).toBe('linear');
    expect(Object.values(config.faults).filter((f) => typeof f === 'object')).toEqual(
      Array.from({ length: 6 }, () => ({})),
    );
    expect(config.routeLatencyMs).toEqual({});
  });

  it('rejects bad families, curves, fault rates and route latencies, naming each', () => {
    let error: unknown;
    try {
      resolveConfig({
        durations: { family: 'gamma' as never, slowFactor: 0.5 },
        progress: { curve: 'random' as never, stallShare: 1 },
        faults: { lateCreate: { rate: 2 }, resetAfterCreate: { every: 1.5 } },
        routeLatencyMs: { poll: { min: 5, max: 1 } },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SimConfigError);
    const message = (error as SimConfigError).message;
    for (const part of [
      'durations.family must be one of fixed, normal, lognormal, bimodal',
      'durations.slowFactor must be a number >= 1',
      'progress.curve must be one of',
      'progress.stallShare must be > 0 and < 1',
      'faults.lateCreate.rate must be between 0 and 1',
      'faults.resetAfterCreate.every must be an integer >= 0',
      'routeLatencyMs.poll must be { min, max }',
    ]) {
      expect(message).toContain(part);
    }
  });
});
