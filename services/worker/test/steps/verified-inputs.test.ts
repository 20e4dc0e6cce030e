import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage } from '@tryon/storage';
import { loadPrepared, preparedAddress, prepareImage } from '../../src/prepare.js';
import { createStep } from '../../src/steps/create.js';
import { prepareStep } from '../../src/steps/prepare.js';
import { storeAsset } from '../support.js';
import { startStepHarness, type StepHarness } from './harness.js';

let h: StepHarness;
beforeAll(async () => {
  h = await startStepHarness('verified');
});
afterAll(() => h?.close());

const CREATE = 'POST /api/tryon/v2/tasks';

/** The simulator's create answers on the harness key, by status. */
function creates(): Record<string, number> {
  const keys = Object.values(h.sim.stats().keys);
  return keys[0]?.requests[CREATE] ?? {};
}

async function readAll(storage: Storage, key: string): Promise<Buffer> {
  const object = await storage.get(key);
  const chunks: Buffer[] = [];
  for await (const chunk of object!.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('inputs verified before they are sent', () => {
  it('names a prepared input by the sha256 and size of its bytes', async () => {
    const { item, data } = await h.newItem();
    const outcome = await prepareStep(h.env, h.runFor(item, data));
    if (!('next' in outcome)) throw new Error(`expected next, got ${JSON.stringify(outcome)}`);
    const key = outcome.next.inputs!.model;
    const bytes = await readAll(h.storage, key);
    expect(preparedAddress(key)).toEqual({
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.length,
    });
  });

  it('a prepared input cut short in storage is prepared again, never sent to FitRoom', async () => {
    const { item, data } = await h.newItem();
    const prepared = await prepareStep(h.env, h.runFor(item, data));
    if (!('next' in prepared)) throw new Error('expected next');
    const model = prepared.next.inputs!.model;
    const whole = await readAll(h.storage, model);
    // What a read racing an in-place overwrite hands back: a JPEG without its end.
    await h.storage.put(model, whole.subarray(0, Math.floor(whole.length / 2)), {
      contentType: 'image/jpeg',
    });
    expect(await loadPrepared(model, h.storage)).toBeNull();

    const before = creates();
    const budgetKey = h.env.deps.pool.keys[0]!.budgetKey;
    const atCreate = { ...prepared.next, budgetKey };
    const outcome = await createStep(h.env, h.runFor(item, atCreate));
    expect(outcome).toEqual({
      next: { ...atCreate, step: 'prepare', inputs: undefined, inputMismatches: 1 },
    });
    expect(creates()).toEqual(before);

    // Prepared again from the source: the stored object is whole again and the create goes out.
    const again = await prepareStep(h.env, h.runFor(item, (outcome as { next: never }).next));
    if (!('next' in again)) throw new Error('expected next');
    expect(again.next.inputs!.model).toBe(model);
    expect((await readAll(h.storage, model)).equals(whole)).toBe(true);
    const fresh = (await h.records.getItem(item.id))!;
    const created = await createStep(h.env, h.runFor(fresh, again.next));
    expect('delayMs' in created).toBe(true);
    expect(creates()['200']).toBe((before['200'] ?? 0) + 1);
    expect(creates()['400']).toBe(before['400']);
  });

  it('concurrent preparation of the same image stores it once', async () => {
    // Four tenants upload the same photo: four flights, one source, one prepared object.
    const color = { r: 1, g: 2, b: 3 };
    const tenants = ['t1', 't2', 't3', 't4'];
    const refs = await Promise.all(
      tenants.map((t) => storeAsset(h.records, h.storage, t, color, { width: 2400, height: 1600 })),
    );
    let puts = 0;
    const s = h.storage;
    const counting: Storage = {
      driver: s.driver,
      put: (...args) => {
        puts++;
        return s.put(...args);
      },
      get: (key) => s.get(key),
      head: (key) => s.head(key),
      exists: (key) => s.exists(key),
      delete: (key) => s.delete(key),
      presignedUrl: (key, ttl) => s.presignedUrl(key, ttl),
      check: () => s.check(),
      close: () => s.close(),
    };
    const ctx = { ...h.env.deps.prepare, storage: counting };
    const keys = await Promise.all(
      refs.map((ref, i) => prepareImage(ref, 'model', tenants[i]!, ctx)),
    );
    expect(new Set(keys).size).toBe(1);
    expect(puts).toBe(1);
    expect(await loadPrepared(keys[0]!, h.storage)).not.toBeNull();
  });
});
