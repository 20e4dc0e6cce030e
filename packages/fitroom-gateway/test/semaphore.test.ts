import { describe, expect, it } from 'vitest';
import { Semaphore } from '../src/semaphore.js';

describe('Semaphore', () => {
  it('lets `size` holders in at once and the others in arrival order', async () => {
    const gate = new Semaphore(1);
    const order: string[] = [];
    const first = await gate.acquire();
    const second = gate.acquire().then((release) => {
      order.push('second');
      return release;
    });
    const third = gate.acquire().then((release) => {
      order.push('third');
      return release;
    });
    await Promise.resolve();
    expect(order).toEqual([]);
    first();
    first(); // a second call gives nothing back twice
    (await second)();
    (await third)();
    expect(order).toEqual(['second', 'third']);
    const again = await gate.acquire();
    again();
  });

  it('refuses a size below one', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
  });
});
