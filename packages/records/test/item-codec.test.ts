import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import {
  decodeItem,
  encodeItem,
  encodeItemUpdate,
  ITEM_FIELDS,
  type ItemRecord,
} from '../src/item-codec.js';
import { Records } from '../src/index.js';

/** Every field set to a value that differs from its empty encoding. */
const full: ItemRecord = {
  id: 'itm_full',
  batch_id: 'bat_full',
  tenant_id: 'acme',
  run: 3,
  status: 'completed',
  model: 'ast_model',
  cloth: 'https://img.example/cloth.jpg',
  lower_cloth: 'ast_lower',
  cloth_type: 'combo',
  hd_mode: true,
  external_id: 'sku-9',
  metadata: { season: 'fw26', tags: ['a', 'b'], n: 2 },
  fitroom_task_id: 'task_42',
  attempts: 2,
  credits: { spent: 2, possibly_spent: 1 },
  error: { code: 'fitroom_failed', message: 'the render failed' },
  result: {
    key: 'results/bat_full/itm_full.png',
    bytes: 1234,
    sha256: 'ab'.repeat(32),
    content_type: 'image/png',
  },
  review: 'rejected',
  previous_results: [
    {
      key: 'results/bat_full/itm_full-r2.png',
      bytes: 999,
      sha256: 'cd'.repeat(32),
      content_type: 'image/png',
      review: 'rejected',
      replaced_at: '2026-12-04T10:00:05.000Z',
    },
  ],
  created_at: '2026-12-04T10:00:00.000Z',
  updated_at: '2026-12-04T10:00:09.123Z',
  started_at: '2026-12-04T10:00:01.000Z',
  completed_at: '2026-12-04T10:00:09.000Z',
};

/** Every optional field empty. */
const bare: ItemRecord = {
  ...full,
  lower_cloth: null,
  hd_mode: false,
  external_id: null,
  metadata: null,
  fitroom_task_id: null,
  error: null,
  result: null,
  review: null,
  previous_results: [],
  started_at: null,
  completed_at: null,
};

let redis: Redis;
let prefix: string;
beforeAll(() => {
  redis = new Redis(testRedisUrl());
  prefix = uniqueId('item-codec');
});
afterAll(() => redis.disconnect());

describe('item codec', () => {
  it('covers every property of an item record', () => {
    expect(Object.keys(ITEM_FIELDS).sort()).toEqual(Object.keys(full).sort());
  });

  it('round-trips every field, filled and empty, through a Redis hash', async () => {
    for (const item of [full, bare]) {
      const key = `${prefix}:${item.hd_mode ? 'full' : 'bare'}`;
      await redis.hset(key, encodeItem(item));
      const back = decodeItem(await redis.hgetall(key));
      expect(back).toEqual(item);
    }
  });

  it('encodes an update as field/value pairs of the given properties only', () => {
    const pairs = encodeItemUpdate({ attempts: 4, error: null, completed_at: 1_733_306_409_000 });
    expect(pairs).toEqual([
      'attempts',
      '4',
      'error_code',
      '',
      'error_message',
      '',
      'completed_at',
      '1733306409000',
    ]);
    expect(encodeItemUpdate({})).toEqual([]);
  });

  it('is what Records writes and reads: an update through TRANSITION comes back whole', async () => {
    const records = new Records(redis, prefix);
    const { batch } = await records.createBatch({
      tenantId: 'acme',
      items: [
        {
          model: 'ast_m',
          cloth: 'ast_c',
          lower_cloth: 'ast_l',
          cloth_type: 'combo',
          hd_mode: true,
          external_id: 'x',
          metadata: { a: 1 },
        },
      ],
    });
    const [id] = await records.itemIds(batch.id);
    const item = { id: id!, batch_id: batch.id };
    await records.transition(item, ['queued'], 'running', {
      fitroom_task_id: 'task_1',
      attempts: 1,
    });
    await records.transition(item, ['running'], 'completed', {
      result: full.result,
      error: full.error,
      completed_at: Date.parse(full.completed_at!),
    });
    const stored = await records.getItem(id!);
    expect(stored).toMatchObject({
      status: 'completed',
      lower_cloth: 'ast_l',
      cloth_type: 'combo',
      hd_mode: true,
      external_id: 'x',
      metadata: { a: 1 },
      fitroom_task_id: 'task_1',
      attempts: 1,
      error: full.error,
      result: full.result,
      completed_at: full.completed_at,
    });
    expect(stored?.started_at).not.toBeNull();
  });
});
