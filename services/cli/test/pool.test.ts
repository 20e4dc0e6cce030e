import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { mapLimit } from '../src/pool.js';

describe('mapLimit', () => {
  it('answers results in item order with at most `limit` at once', async () => {
    let running = 0;
    let most = 0;
    const results = await mapLimit([30, 5, 20, 1, 10, 2], 3, async (ms, index) => {
      most = Math.max(most, ++running);
      await sleep(ms);
      running--;
      return `${index}:${ms}`;
    });
    expect(results).toEqual(['0:30', '1:5', '2:20', '3:1', '4:10', '5:2']);
    expect(most).toBe(3);
  });

  it('starts nothing after a failure, and awaits the work in flight before throwing', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = mapLimit([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      await sleep(n === 0 ? 10 : 60);
      if (n === 0) throw new Error('first fails');
      finished.push(n);
      return n;
    });
    await expect(run).rejects.toThrow('first fails');
    // Item 1 was in flight when item 0 failed: it finished before the error came back.
    expect(finished).toEqual([1]);
    expect(started).toEqual([0, 1]);
    await sleep(100);
    expect(finished).toEqual([1]);
  });
});
