import { clothesCheckRule, modelCheckRule } from '@tryon/fitroom-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FitRoomClient, clothTypeFor, describeModelCheckCode } from '../src/index';
import { png, sha256, startSim, type RunningSim } from './support';

const KEY = 'checks-key';
const goodModel = png(40, 80, { r: 1, g: 2, b: 3 });
const warnModel = png(40, 80, { r: 4, g: 5, b: 6 });
const badModel = png(40, 80, { r: 7, g: 8, b: 9 });
const dress = png(30, 60, { r: 200, g: 0, b: 100 });
const notClothes = png(30, 30, { r: 90, g: 90, b: 90 });
const unforced = png(33, 33, { r: 12, g: 34, b: 56 });

describe('input checks', () => {
  let sim: RunningSim;
  let client: FitRoomClient;

  beforeAll(async () => {
    sim = await startSim({
      timeScale: 50,
      keys: { [KEY]: 0 }, // input checks need no credit
      inputCheckOverrides: {
        [sha256(goodModel)]: { is_good: true, good_clothes_types: ['upper', 'lower', 'full'] },
        [sha256(warnModel)]: {
          is_good: true,
          error_code: '410002',
          good_clothes_types: ['upper', 'lower', 'full'],
        },
        [sha256(badModel)]: { is_good: false, error_code: '400003', good_clothes_types: [] },
        [sha256(dress)]: { clothes_type: 'full', is_clothes: true },
        [sha256(notClothes)]: { clothes_type: 'upper', is_clothes: false },
      },
      seed: 17,
    });
    client = new FitRoomClient({ baseUrl: sim.url, apiKey: KEY });
  });

  afterAll(async () => {
    await sim?.close();
  });

  it('model check: success', async () => {
    const result = await client.checkModel({ data: goodModel });
    expect(result).toEqual({ is_good: true, good_clothes_types: ['upper', 'lower', 'full'] });
    expect(result.error_code).toBeUndefined();
  });

  it('model check: a 410xxx warning', async () => {
    const result = await client.checkModel({ data: warnModel, filename: 'warn.png' });
    expect(result).toEqual({
      is_good: true,
      error_code: '410002',
      good_clothes_types: ['upper', 'lower', 'full'],
    });
    expect(describeModelCheckCode(result.error_code ?? '')).toEqual({
      code: '410002',
      severity: 'warning',
      description: 'Model pose is undetermined. Please make sure the model is standing straight.',
    });
  });

  it('model check: a 400xxx error', async () => {
    const result = await client.checkModel({ data: badModel });
    expect(result).toEqual({ is_good: false, error_code: '400003', good_clothes_types: [] });
    expect(describeModelCheckCode(result.error_code ?? '')).toMatchObject({
      severity: 'error',
      description: 'Person is not facing forward',
    });
  });

  it('model check without an override follows the simulator rule', async () => {
    const result = await client.checkModel({ data: unforced });
    expect(result).toEqual(modelCheckRule(sha256(unforced)));
  });

  it('clothes check: detected type and is_clothes', async () => {
    const full = await client.checkClothes({ data: dress });
    expect(full).toEqual({ clothes_type: 'full', is_clothes: true });
    expect(full.clothes_type && clothTypeFor(full.clothes_type)).toBe('full_set');

    const unsuitable = await client.checkClothes({ data: notClothes });
    expect(unsuitable).toEqual({ clothes_type: 'upper', is_clothes: false });

    const byRule = await client.checkClothes({ data: unforced });
    expect(byRule).toEqual(clothesCheckRule(sha256(unforced)));
  });

  it('input checks spend no credit', () => {
    expect(sim.stats().keys[KEY]?.credits_left).toBe(0);
  });
});
