import { describe, expect, it } from 'vitest';
import {
  DurationDistribution,
  normalQuantile,
  normalQuantiles,
  QUANTILE_POINTS,
  sampleQuantiles,
} from '../src/index.js';

describe('DurationDistribution', () => {
  it('reads quantiles and the CDF from a table, linear between its points', () => {
    const dist = new DurationDistribution([0, 10, 30]);
    expect(dist.quantile(0.25)).toBe(5);
    expect(dist.quantile(0.75)).toBe(20);
    expect(dist.cdf(5)).toBe(0.25);
    expect(dist.cdf(20)).toBe(0.75);
    expect(dist.cdf(-1)).toBe(0);
    expect(dist.cdf(31)).toBe(1);
  });

  it('conditions on the time elapsed: the quantile among tasks still running', () => {
    const dist = new DurationDistribution(sampleQuantiles([1, 2, 3, 4, 5]));
    // Still running at 3: the rest are spread over 3..5, so their median is 4.
    expect(dist.conditionalQuantile(0.5, 3)).toBeCloseTo(4, 5);
    expect(dist.conditionalMean(3)).toBeCloseTo(4, 1);
    expect(dist.conditionalQuantile(0.5, 9)).toBe(9);
  });

  it('builds a table from samples in any order and from a normal', () => {
    const table = sampleQuantiles([30, 10, 20]);
    expect(table).toHaveLength(QUANTILE_POINTS);
    expect(table[0]).toBe(10);
    expect(table[QUANTILE_POINTS - 1]).toBe(30);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5);
    const normal = new DurationDistribution(normalQuantiles(9_000, 500));
    expect(normal.quantile(0.5)).toBeCloseTo(9_000, 0);
    expect(normal.quantile(0.99)).toBeCloseTo(9_000 + 2.326 * 500, -1);
  });
});
