import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@tryon/testing';
import { startWorkerStack, storeAsset, submitBatch, type InProcessStack } from './support.js';

let stack: InProcessStack;
beforeAll(async () => {
  stack = await startWorkerStack('reuse', { seed: 3 });
});
afterAll(() => stack?.close());

async function runBatch(items: Parameters<typeof submitBatch>[4], freshRenders = false) {
  const batchId = await submitBatch(
    stack.records,
    stack.config.redisUrl,
    stack.config.prefix,
    'acme',
    items,
    {
      freshRenders,
    },
  );
  await eventually(
    () => stack.records.getBatch(batchId),
    (b) => b?.status === 'completed',
    { timeoutMs: 30_000 },
  );
  const ids = await stack.records.itemIds(batchId);
  return Promise.all(ids.map(async (id) => (await stack.records.getItem(id))!));
}

describe('rendered pairs are reused', () => {
  it('a pair rendered before costs no FitRoom request, unless the batch asks for fresh renders', async () => {
    const model = await storeAsset(stack.records, stack.storage, 'acme', { r: 90, g: 30, b: 30 });
    const shirt = await storeAsset(stack.records, stack.storage, 'acme', { r: 10, g: 200, b: 30 });
    const trousers = await storeAsset(stack.records, stack.storage, 'acme', {
      r: 10,
      g: 20,
      b: 230,
    });
    const pairs = [
      { model, cloth: shirt, cloth_type: 'upper' as const },
      { model, cloth: shirt, lower_cloth: trousers, cloth_type: 'combo' as const },
    ];
    const first = await runBatch(pairs);
    const afterFirst = stack.sim.stats().keys['reuse-key']!;
    expect(afterFirst.creates).toBe(2);

    const second = await runBatch([...pairs, { ...pairs[0]!, hd_mode: true }]);
    const afterSecond = stack.sim.stats().keys['reuse-key']!;
    // Only the HD variant is new: the two repeated pairs cost nothing (no task, so no poll
    // either; how often the HD task is polled is the poll planner's business).
    expect(afterSecond.creates).toBe(3);
    for (const [i, item] of second.slice(0, 2).entries()) {
      expect(item.status).toBe('completed');
      expect(item.attempts).toBe(0);
      expect(item.fitroom_task_id).toBeNull();
      expect(item.credits).toEqual({ spent: 0, possibly_spent: 0 });
      expect(item.result?.sha256).toBe(first[i]!.result?.sha256);
      expect(item.result?.key).toBe(`results/${item.batch_id}/${item.id}.jpg`);
    }

    await runBatch([pairs[0]!], true);
    expect(stack.sim.stats().keys['reuse-key']!.creates).toBe(4);
  });
});
