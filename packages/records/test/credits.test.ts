import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { CreditBook, Records, publicBatch, publicItem } from '../src/index.js';

let redis: Redis;
let prefix: string;
let records: Records;
let book: CreditBook;

beforeAll(() => {
  redis = new Redis(testRedisUrl());
  prefix = uniqueId('credits');
  records = new Records(redis, prefix);
  book = new CreditBook(redis, prefix);
});
afterAll(() => redis.disconnect());

async function batchOfTwo() {
  const item = { model: 'ast_m', cloth: 'ast_c', cloth_type: 'upper' as const };
  const { batch } = await records.createBatch({ tenantId: 'acme', items: [item, item] });
  const [first, second] = await records.itemIds(batch.id);
  return { batchId: batch.id, first: first!, second: second! };
}

describe('CreditBook', () => {
  it('starts every item and batch at zero', async () => {
    const { batchId, first } = await batchOfTwo();
    expect((await records.getItem(first))!.credits).toEqual({ spent: 0, possibly_spent: 0 });
    expect((await records.getBatch(batchId))!.credits).toEqual({
      spent: 0,
      possibly_spent: 0,
      saved_by_reuse: 0,
    });
  });

  it('opens a create as possibly spent and settles it on the item, its batch and its key', async () => {
    const { batchId, first, second } = await batchOfTwo();
    const budgetKey = uniqueId('key');
    const one = { itemId: first, batchId, budgetKey };
    const two = { itemId: second, batchId, budgetKey };
    await book.open(one);
    await book.open(two);
    // In flight: both may be charged already.
    expect((await records.getBatch(batchId))!.credits).toMatchObject({
      spent: 0,
      possibly_spent: 2,
    });
    await book.confirm(one); // answered with a task
    await book.cancel(two); // never sent
    await book.open(two); // sent again; its answer is lost: stays possibly spent
    const [itemOne, itemTwo, batch] = await Promise.all([
      records.getItem(first),
      records.getItem(second),
      records.getBatch(batchId),
    ]);
    expect(itemOne!.credits).toEqual({ spent: 1, possibly_spent: 0 });
    expect(itemTwo!.credits).toEqual({ spent: 0, possibly_spent: 1 });
    expect(batch!.credits).toEqual({ spent: 1, possibly_spent: 1, saved_by_reuse: 0 });
    expect(await book.byKey([budgetKey, uniqueId('unused')])).toEqual([
      { spent: 1, possibly_spent: 1 },
      { spent: 0, possibly_spent: 0 },
    ]);
    // The public shapes carry them.
    expect(publicItem(itemTwo!, 'http://x').credits).toEqual({ spent: 0, possibly_spent: 1 });
    expect(publicBatch(batch!).credits.spent).toBe(1);
  });

  it('counts credits saved by reuse per batch', async () => {
    const { batchId } = await batchOfTwo();
    await book.savedByReuse(batchId);
    await book.savedByReuse(batchId);
    expect((await records.getBatch(batchId))!.credits.saved_by_reuse).toBe(2);
  });

  it('does not bring back an item or batch that is gone, but still counts the key', async () => {
    const budgetKey = uniqueId('key');
    const holder = { itemId: 'itm_gone', batchId: 'bat_gone', budgetKey };
    await book.open(holder);
    await book.savedByReuse('bat_gone');
    expect(await records.getItem('itm_gone')).toBeNull();
    expect(await records.getBatch('bat_gone')).toBeNull();
    expect(await book.byKey([budgetKey])).toEqual([{ spent: 0, possibly_spent: 1 }]);
  });
});
