import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeImage } from '@tryon/testing';
import { startWorkerStack, storeAsset, submitBatch, type InProcessStack } from './support.js';

/** A rejected model photo: FitRoom's model check answers 400001 (no person) for these bytes. */
const REJECTED = { r: 13, g: 13, b: 13 };

let stack: InProcessStack;
beforeAll(async () => {
  const rejected = await makeImage({ width: 400, height: 600, color: REJECTED });
  stack = await startWorkerStack('checks', {
    inputCheckOverrides: {
      [createHash('sha256').update(rejected).digest('hex')]: {
        is_good: false,
        error_code: '400001',
        good_clothes_types: [],
      },
    },
  });
});
afterAll(() => stack?.close());

describe('input checks, when a batch asks for them', () => {
  it('check each model photo once, and fail only the items whose model FitRoom rejects', async () => {
    const good = await storeAsset(stack.records, stack.storage, 'acme', { r: 200, g: 170, b: 150 });
    const rejected = await storeAsset(stack.records, stack.storage, 'acme', REJECTED);
    const garments = await Promise.all(
      [0, 1, 2].map((i) =>
        storeAsset(
          stack.records,
          stack.storage,
          'acme',
          { r: 10, g: 80 * i, b: 200 },
          { width: 300, height: 300 },
        ),
      ),
    );
    const items = [good, rejected].flatMap((model) =>
      garments.map((cloth) => ({ model, cloth, cloth_type: 'upper' as const })),
    );
    const queued = await submitBatch(
      stack.records,
      stack.config.redisUrl,
      stack.config.prefix,
      'acme',
      items,
      {
        inputChecks: true,
      },
    );
    const done = await eventually(
      () => stack.records.getBatch(queued),
      (b) => b?.status === 'completed',
      { timeoutMs: 30_000 },
    );
    expect(done?.counts).toMatchObject({ total: 6, completed: 3, failed: 3 });
    for (const id of await stack.records.itemIds(queued)) {
      const item = (await stack.records.getItem(id))!;
      if (item.model === rejected) {
        expect(item.error).toEqual({
          code: 'model_check_400001',
          message: "FitRoom's model check refused the model image: No person detected in the image",
        });
        expect(item.attempts).toBe(0);
      } else {
        expect(item.status).toBe('completed');
      }
    }
    const requests =
      stack.sim.stats().keys['checks-key']!.requests['POST /api/tryon/input_check/v1/model'];
    // Two model photos, six items: two checks.
    expect(Object.values(requests ?? {}).reduce((a, b) => a + b, 0)).toBe(2);
    expect(stack.sim.stats().keys['checks-key']!.creates).toBe(3);
  });
});
