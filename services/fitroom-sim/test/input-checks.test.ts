/** Input checks: documented shapes, determinism, the default rule, overrides. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clothesCheckRule,
  modelCheckRule,
  startSim,
  type ClothesCheckResult,
  type ModelCheckResult,
  type RunningSim,
} from '../src/index.js';
import { documentedResponses, expectDocumented, readDoc } from './doc.js';
import { call, file, form, jpeg, sha256 } from './helpers.js';

const KEY = 'checks-key';
const MODEL = 'POST /api/tryon/input_check/v1/model';
const CLOTHES = 'POST /api/tryon/input_check/v1/clothes';
const doc = readDoc();

describe('input checks over HTTP', () => {
  let sim: RunningSim;
  let images: Buffer[];
  beforeAll(async () => {
    images = await Promise.all(Array.from({ length: 12 }, (_, i) => jpeg(64 + i, 96, i + 1)));
    sim = await startSim({ keys: { [KEY]: 3 }, timeScale: 50, rateLimit: 100_000, seed: 31 });
  });
  afterAll(() => sim.close());

  const check = <T>(route: 'model' | 'clothes', image: Buffer) =>
    call<T>(sim.url, 'POST', `/api/tryon/input_check/v1/${route}`, {
      key: KEY,
      body: form({ input_image: file(image) }),
    });

  it('answer the documented shapes, the same for the same image, as the exported rule says', async () => {
    for (const image of images) {
      const model = await check<ModelCheckResult>('model', image);
      expect(model.status).toBe(200);
      expectDocumented(model.body, documentedResponses(doc, MODEL));
      expect(model.body).toEqual(modelCheckRule(sha256(image)));
      expect((await check<ModelCheckResult>('model', image)).body).toEqual(model.body);

      const clothes = await check<ClothesCheckResult>('clothes', image);
      expect(clothes.status).toBe(200);
      expectDocumented(clothes.body, documentedResponses(doc, CLOTHES));
      expect(clothes.body).toEqual(clothesCheckRule(sha256(image)));
      expect((await check<ClothesCheckResult>('clothes', image)).body).toEqual(clothes.body);
    }
    // No credit spent; every check counted.
    expect(sim.stats().keys[KEY]).toMatchObject({ credits_left: 3, total: 48, creates: 0 });
    expect(sim.stats().keys[KEY]?.requests[MODEL]).toEqual({ '200': 24 });
  });

  it('inputCheckOverrides force every documented code for a given image', async () => {
    const image = images[0] as Buffer;
    const sha = sha256(image);
    const forced: ModelCheckResult[] = [
      { is_good: true, error_code: '410001', good_clothes_types: ['upper', 'lower', 'full'] },
      { is_good: true, error_code: '410002', good_clothes_types: ['upper'] },
      { is_good: true, error_code: '410003', good_clothes_types: ['upper', 'lower'] },
      { is_good: false, error_code: '400001', good_clothes_types: [] },
      { is_good: false, error_code: '400002', good_clothes_types: [] },
      { is_good: false, error_code: '400003', good_clothes_types: [] },
      { is_good: false, error_code: '400004', good_clothes_types: [] },
      { is_good: true, good_clothes_types: ['lower'] },
    ];
    for (const result of forced) {
      sim.configure({ inputCheckOverrides: { [sha]: result } });
      const reply = await check<ModelCheckResult>('model', image);
      expect(reply.body).toEqual(result);
      expectDocumented(reply.body, documentedResponses(doc, MODEL));
      // A model override leaves the clothes check to the rule.
      expect((await check('clothes', image)).body).toEqual(clothesCheckRule(sha));
    }
    for (const result of [
      { clothes_type: 'full', is_clothes: false },
      { clothes_type: 'lower', is_clothes: true },
    ] satisfies ClothesCheckResult[]) {
      sim.configure({ inputCheckOverrides: { [sha]: result } });
      expect((await check('clothes', image)).body).toEqual(result);
    }
    sim.configure({ inputCheckOverrides: {} });
    expect((await check('model', image)).body).toEqual(modelCheckRule(sha));
    expect(() =>
      sim.configure({
        inputCheckOverrides: { [sha]: { is_good: false, error_code: '410001' } as never },
      }),
    ).toThrow(/inputCheckOverrides/);
  });

  it('input_image is required and must be an image', async () => {
    const missing = await call<{ message: string }>(
      sim.url,
      'POST',
      '/api/tryon/input_check/v1/model',
      {
        key: KEY,
        body: form({ image: file(images[0] as Buffer) }),
      },
    );
    expect(missing.status).toBe(400);
    expect(missing.body.message).toContain('input_image is required');
    const junk = await check<{ message: string }>('clothes', Buffer.from('GIF89a but not really'));
    expect(junk.status).toBe(400);
    expect(junk.body.message).toContain('input_image is not a decodable image');
  });

  it('overrides can be given at start', async () => {
    const image = images[1] as Buffer;
    const other = await startSim({
      keys: { [KEY]: 1 },
      inputCheckOverrides: {
        [sha256(image)]: { is_good: false, error_code: '400002', good_clothes_types: [] },
      },
    });
    try {
      const reply = await call(other.url, 'POST', '/api/tryon/input_check/v1/model', {
        key: KEY,
        body: form({ input_image: file(image) }),
      });
      expect(reply.body).toEqual({ is_good: false, error_code: '400002', good_clothes_types: [] });
    } finally {
      await other.close();
    }
  });
});

describe('the default rule', () => {
  const hashes = Array.from({ length: 5000 }, (_, i) => sha256(`image ${i}`));

  it('finds most images good (90%), and gives every code to some', () => {
    const models = hashes.map(modelCheckRule);
    const good = models.filter((m) => m.is_good && !('error_code' in m)).length / hashes.length;
    expect(good).toBeGreaterThan(0.85);
    expect(good).toBeLessThan(0.95);
    const codes = new Set(models.map((m) => ('error_code' in m ? m.error_code : 'ok')));
    expect([...codes].sort()).toEqual(
      ['400001', '400002', '400003', '400004', '410001', '410002', '410003', 'ok'].sort(),
    );
    for (const m of models) {
      if (!m.is_good) expect(m.good_clothes_types).toEqual([]);
      else expect(m.good_clothes_types).toEqual(['upper', 'lower', 'full']);
    }

    const clothes = hashes.map(clothesCheckRule);
    expect(clothes.filter((c) => c.is_clothes).length / hashes.length).toBeGreaterThan(0.85);
    expect(new Set(clothes.map((c) => c.clothes_type))).toEqual(
      new Set(['upper', 'lower', 'full']),
    );
  });
});
