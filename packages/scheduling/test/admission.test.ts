import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Records, type NewItem } from '@tryon/records';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { Admission, closingTasks, createsFirst, keyCap } from '../src/index.js';

let redis: Redis;
let records: Records;
let admission: Admission;
beforeEach(() => {
  redis ??= new Redis(testRedisUrl());
  const prefix = uniqueId('adm');
  records = new Records(redis, prefix);
  admission = new Admission(redis, prefix);
});
afterAll(() => redis.disconnect());

const WEIGHTS = { normal: 1 / 10_000, hd: 1 / 33_000 };
/** Room for 6 normal tasks: 60 per minute, two requests per task, 25 % slack. */
const oneKey = [{ budgetKey: 'key-a', cap: keyCap(60, 60_000, 1.25) }];

function items(n: number, hd = false): NewItem[] {
  return Array.from({ length: n }, (_, i) => ({
    model: `https://img.example/m${i}.jpg`,
    cloth: `https://img.example/c${i}.jpg`,
    cloth_type: 'upper' as const,
    hd_mode: hd,
  }));
}

async function parkBatch(
  tenantId: string,
  n: number,
  options: { hd?: boolean; priority?: number } = {},
) {
  const { batch } = await records.createBatch({
    tenantId,
    items: items(n, options.hd),
    priority: options.priority,
  });
  const ids = await records.itemIds(batch.id);
  for (const id of ids) {
    await admission.park({ id, batchId: batch.id, tenantId, priority: options.priority ?? 0 });
  }
  return { batchId: batch.id, ids };
}

describe('Admission', () => {
  it('admits about 5 normal or 15 HD tasks per key: Little law on the budget', async () => {
    await parkBatch('acme', 40);
    expect(await admission.admit(oneKey, WEIGHTS)).toHaveLength(6);
    expect(await admission.admit(oneKey, WEIGHTS)).toHaveLength(0);

    const hdRoom = new Admission(redis, uniqueId('adm-hd'));
    const hdRecords = new Records(redis, hdRoom.prefix);
    const { batch } = await hdRecords.createBatch({ tenantId: 'acme', items: items(40, true) });
    for (const id of await hdRecords.itemIds(batch.id)) {
      await hdRoom.park({ id, batchId: batch.id, tenantId: 'acme', priority: 0 });
    }
    expect(await hdRoom.admit(oneKey, WEIGHTS)).toHaveLength(20);
  });

  it('lets a burst into a free window: as many tasks as its free requests serve whole', async () => {
    await parkBatch('acme', 100);
    const freeWindow = [{ ...oneKey[0]!, spareRequests: 60 }];
    // 60 free requests, 2.2 per task: 27 tasks, where the cap alone allows 6.
    expect(await admission.admit(freeWindow, WEIGHTS, 100, 2.2)).toHaveLength(27);
    // Those 27 are still in flight and counted as if none of their requests were made yet.
    expect(await admission.admit(freeWindow, WEIGHTS, 100, 2.2)).toHaveLength(0);
    const halfFull = [{ ...oneKey[0]!, spareRequests: 70 }];
    expect(await admission.admit(halfFull, WEIGHTS, 100, 2)).toHaveLength(35 - 27);
  });

  it('lets a closing line fill a whole window with tasks, counted whatever their weights', async () => {
    await parkBatch('acme', 100);
    const closing = [{ ...oneKey[0]!, closingTasks: 60 }];
    expect(await admission.admit(closing, WEIGHTS, 100)).toHaveLength(60);
    // Lighter weights now (a longer first poll learned) admit no more: tasks are counted.
    expect(await admission.admit(closing, { normal: 1 / 40_000, hd: 1 / 90_000 })).toHaveLength(0);
    expect(await admission.admit(oneKey, WEIGHTS, 100)).toHaveLength(0);
  });

  it('opens the closing allowance only for a line within two windows of tasks that mostly end within one', () => {
    const key = { limit: 60, windowMs: 60_000, mostTasksEndMs: 16_000, createsFirst: false };
    expect(closingTasks({ ...key, itemsWaiting: 120, tasksInFlight: 0 })).toBe(60);
    expect(closingTasks({ ...key, itemsWaiting: 100, tasksInFlight: 21 })).toBe(0);
    expect(closingTasks({ ...key, itemsWaiting: 1_000, tasksInFlight: 40 })).toBe(0);
    // Tasks longer than a window would each need a second poll in rounds of a window.
    expect(
      closingTasks({ ...key, mostTasksEndMs: 61_000, itemsWaiting: 20, tasksInFlight: 0 }),
    ).toBe(0);
    // Creates first: every item left, so that their creates wait ahead of the polls.
    expect(closingTasks({ ...key, createsFirst: true, itemsWaiting: 20, tasksInFlight: 60 })).toBe(
      80,
    );
  });

  it('counts the admitted items of a key whose FitRoom task is still to be created', async () => {
    await parkBatch('acme', 10);
    const admitted = await admission.admit(oneKey, WEIGHTS);
    expect(await admission.notCreated('key-a')).toBe(admitted.length);
    await records.updateItem(admitted[0]!.itemId, { fitroom_task_id: 'task-1' });
    expect(await admission.notCreated('key-a')).toBe(admitted.length - 1);
    expect(await admission.notCreated('key-b')).toBe(0);
  });

  it('puts creates first once the requests left for a key fit in two windows', () => {
    const key = { limit: 60, notCreated: 0 };
    // 80 items on a fresh key, its first 60 created: the 20 others go in the second window.
    expect(createsFirst({ ...key, itemsWaiting: 20, tasksInFlight: 60 })).toBe(true);
    // 120 items: polls first while the second round of creates still waits for them ...
    expect(createsFirst({ ...key, itemsWaiting: 60, tasksInFlight: 60 })).toBe(false);
    expect(createsFirst({ ...key, itemsWaiting: 1, tasksInFlight: 60, notCreated: 59 })).toBe(
      false,
    );
    // ... and creates first once they are all admitted.
    expect(createsFirst({ ...key, itemsWaiting: 0, tasksInFlight: 60, notCreated: 60 })).toBe(true);
  });

  it("lets a small batch in within one admission, behind another tenant's big one", async () => {
    const big = await parkBatch('acme', 1_000);
    const firstWave = await admission.admit(oneKey, WEIGHTS);
    expect(firstWave.every((a) => big.ids.includes(a.itemId))).toBe(true);
    const small = await parkBatch('globex', 10);
    // As tasks finish one by one, admissions alternate between the tenants.
    const order: string[] = [];
    for (const done of firstWave) {
      await records.transition({ id: done.itemId, batch_id: big.batchId }, ['queued'], 'completed');
      await admission.release(done.itemId);
      const next = await admission.admit(oneKey, WEIGHTS);
      order.push(...next.map((a) => (small.ids.includes(a.itemId) ? 'globex' : 'acme')));
    }
    expect(order[0]).toBe('globex');
    expect(order).toEqual(['globex', 'acme', 'globex', 'acme', 'globex', 'acme']);
  });

  it("serves a tenant's higher-priority batch first", async () => {
    const low = await parkBatch('acme', 3, { priority: 0 });
    const high = await parkBatch('acme', 3, { priority: 5 });
    const admitted = await admission.admit(oneKey, WEIGHTS, 3);
    expect(admitted.map((a) => a.itemId).slice(0, 3)).toEqual(high.ids);
    expect(low.ids).not.toContain(admitted[0]!.itemId);
  });

  it('spreads admissions over keys by room, never beyond a cap', async () => {
    await parkBatch('acme', 30);
    const keys = ['key-a', 'key-b', 'key-c'].map((budgetKey) => ({
      budgetKey,
      cap: keyCap(60, 60_000, 1.25),
    }));
    const admitted = await admission.admit(keys, WEIGHTS);
    expect(admitted).toHaveLength(18);
    const perKey = admitted.reduce<Record<string, number>>(
      (acc, a) => ({ ...acc, [a.budgetKey]: (acc[a.budgetKey] ?? 0) + 1 }),
      {},
    );
    expect(perKey).toEqual({ 'key-a': 6, 'key-b': 6, 'key-c': 6 });
    expect((await admission.stats(['key-a', 'key-b', 'key-c'])).parked).toBe(12);
  });

  it('drops items cancelled while they waited, and takes back slots of finished items', async () => {
    const { batchId, ids } = await parkBatch('acme', 8);
    const admitted = await admission.admit(oneKey, WEIGHTS);
    expect(admitted).toHaveLength(6);
    for (const a of admitted) {
      await records.transition({ id: a.itemId, batch_id: batchId }, ['queued'], 'running');
    }
    // A crashed worker never released this one; it has finished meanwhile.
    await records.transition({ id: admitted[0]!.itemId, batch_id: batchId }, ['running'], 'failed');
    await records.cancelBatch(batchId);
    expect(await admission.admit(oneKey, WEIGHTS)).toHaveLength(0);
    expect((await admission.stats(['key-a'])).inFlight['key-a']).toBe(5);
    expect(await admission.assignedKey(ids[7]!)).toBeNull();
  });

  it('parks a whole batch in one call, in order, skipping what already waits', async () => {
    const { batch } = await records.createBatch({ tenantId: 'acme', items: items(5) });
    const ids = await records.itemIds(batch.id);
    const target = { id: batch.id, tenantId: 'acme', priority: 0 };
    expect(await admission.parkMany(target, ids.slice(0, 2))).toBe(2);
    expect(await admission.parkMany(target, ids)).toBe(3);
    const admitted = await admission.admit(oneKey, WEIGHTS, 5);
    expect(admitted.map((a) => a.itemId)).toEqual(ids);
    expect((await admission.assigned()).map((a) => a.itemId).sort()).toEqual([...ids].sort());
  });

  it('parks an item once however often it asks, and not again once admitted', async () => {
    const { batchId, ids } = await parkBatch('acme', 1);
    const again = { id: ids[0]!, batchId, tenantId: 'acme', priority: 0 };
    expect(await admission.park(again)).toBe(false);
    const [admitted] = await admission.admit(oneKey, WEIGHTS);
    expect(admitted).toMatchObject({ itemId: ids[0], run: 0, budgetKey: 'key-a' });
    expect(await admission.park(again)).toBe(false);
    expect(await admission.assignedKey(ids[0]!)).toBe('key-a');
    expect(await admission.release(ids[0]!)).toBe(true);
    expect(await admission.release(ids[0]!)).toBe(false);
  });
});
