import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultBatchName } from '../src/names.js';
import { plural, tryonCommand } from '../src/wording.js';

describe('wording', () => {
  it('says "1 item" and "2 items"', () => {
    expect(plural(1, 'item')).toBe('1 item');
    expect(plural(2, 'item')).toBe('2 items');
    expect(plural(0, 'image')).toBe('0 images');
    expect(plural(3, 'running item')).toBe('3 running items');
  });

  it('spells commands as the README runs them', () => {
    expect(tryonCommand('watch bat_1')).toBe('pnpm tryon watch bat_1');
  });
});

describe('the default batch name', () => {
  it("is the inputs' folder or file names", () => {
    expect(defaultBatchName('./models', 'shop/shirts/')).toBe('models x shirts');
    expect(defaultBatchName('catalog/models.csv', 'tops.CSV', 'jeans')).toBe(
      'models x tops + jeans',
    );
    expect(defaultBatchName('anna.jpg', 'https://cdn.example.com/a/blue%20shirt.webp')).toBe(
      'anna x blue shirt',
    );
    expect(defaultBatchName('.', 'ss27.shirts')).toBe(`${basename(process.cwd())} x ss27.shirts`);
  });

  it('is cut to the API limit of 200 characters', () => {
    const name = defaultBatchName('m'.repeat(150), 'g'.repeat(150));
    expect(name).toHaveLength(200);
    expect(name.endsWith('...')).toBe(true);
  });
});
