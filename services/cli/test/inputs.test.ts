import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../src/errors.js';
import { localFiles, readImages, type InputImage } from '../src/inputs.js';
import { planItems } from '../src/plan.js';

let root: string;
const file = (image: InputImage) => (image.source.kind === 'file' ? image.source.path : null);

async function expectUsageError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CliError);
  expect((error as CliError).exitCode).toBe(EXIT.usage);
  expect((error as CliError).message).toMatch(pattern);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tryon-cli-inputs-'));
  await mkdir(join(root, 'models', 'nested'), { recursive: true });
  // Not images the API takes as they are: a GIF, a text file, a file named just "png".
  const names = [
    'b.jpg',
    'a10.png',
    'a2.JPEG',
    'c.webp',
    '.hidden.jpg',
    'notes.txt',
    'd.gif',
    'png',
  ];
  for (const name of names) {
    await writeFile(join(root, 'models', name), 'x');
  }
  await writeFile(join(root, 'models', 'nested', 'deep.jpg'), 'x');
  await mkdir(join(root, 'empty'));
  await mkdir(join(root, 'shots'));
  await writeFile(join(root, 'shots', 'top.jpg'), 'x');
  await writeFile(join(root, 'shots', 'jeans.png'), 'x');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a directory', () => {
  it('lists the images directly in it, naturally sorted, without hidden files', async () => {
    const images = await readImages(join(root, 'models'), 'models');
    expect(images.map((i) => i.source.label)).toEqual(['a2.JPEG', 'a10.png', 'b.jpg', 'c.webp']);
    expect(images.map((i) => i.name)).toEqual(['a2', 'a10', 'b', 'c']);
    expect(file(images[0]!)).toBe(join(root, 'models', 'a2.JPEG'));
  });

  it('without images is a usage error', async () => {
    await expectUsageError(readImages(join(root, 'empty'), 'models'), /no images/);
    await expectUsageError(readImages(join(root, 'missing'), 'garments'), /--garments .*no such/);
  });

  it('or a single image file', async () => {
    const images = await readImages(join(root, 'shots', 'top.jpg'), 'lower');
    expect(images).toHaveLength(1);
    expect(images[0]!.name).toBe('top');
  });
});

describe('a CSV', () => {
  async function csv(name: string, text: string): Promise<string> {
    const path = join(root, name);
    await writeFile(path, text);
    return path;
  }

  it('reads path (relative to the CSV) or url, external_id, and ignores other columns', async () => {
    const path = await csv(
      'models.csv',
      '\ufeffSKU,Path,URL,external_id,comment\n' +
        '1,shots/top.jpg,,anna,"tall, blond"\n' +
        '\n' +
        '2,,https://cdn.example.com/img/Ben%20Side.webp?v=2,,\n' +
        `3,${join(root, 'shots', 'jeans.png')},,,\n`,
    );
    const images = await readImages(path, 'models');
    expect(images.map((i) => i.name)).toEqual(['anna', 'Ben Side', 'jeans']);
    expect(file(images[0]!)).toBe(join(root, 'shots', 'top.jpg'));
    expect(images[0]!.source.label).toBe('shots/top.jpg');
    expect(images[1]!.source).toEqual({
      kind: 'url',
      url: 'https://cdn.example.com/img/Ben%20Side.webp?v=2',
      label: 'https://cdn.example.com/img/Ben%20Side.webp?v=2',
    });
    expect(file(images[2]!)).toBe(join(root, 'shots', 'jeans.png'));
  });

  it('reads cloth_type and lower_path or lower_url for garments', async () => {
    const path = await csv(
      'garments.csv',
      'path,cloth_type,lower_path,lower_url,external_id\n' +
        'shots/top.jpg,combo,shots/jeans.png,,outfit-1\n' +
        'shots/top.jpg,,,,\n' +
        'shots/jeans.png,lower,,,\n',
    );
    const images = await readImages(path, 'garments');
    expect(images.map((i) => [i.name, i.clothType])).toEqual([
      ['outfit-1', 'combo'],
      ['top', undefined],
      ['jeans', 'lower'],
    ]);
    expect(file(images[0]!.lower!)).toBe(join(root, 'shots', 'jeans.png'));
  });

  it('names the line of a bad row', async () => {
    await expectUsageError(
      readImages(
        await csv('bad-type.csv', 'path,cloth_type\nshots/top.jpg,upper\nshots/top.jpg,shirt\n'),
        'garments',
      ),
      /line 3: cloth_type "shirt" is not one of upper, lower, full_set, combo/,
    );
    await expectUsageError(
      readImages(
        await csv('both.csv', 'path,url\nshots/top.jpg,https://x.example/a.jpg\n'),
        'models',
      ),
      /line 2: give path or url, not both/,
    );
    await expectUsageError(
      readImages(await csv('ftp.csv', 'url\nftp://x.example/a.jpg\n'), 'models'),
      /line 2: .* is not an https URL/,
    );
    await expectUsageError(
      readImages(await csv('txt.csv', 'path\nnotes.txt\n'), 'models'),
      /line 2: "notes.txt" is not a .jpg/,
    );
    await expectUsageError(
      readImages(await csv('noheader.csv', 'file,name\na.jpg,b\n'), 'models'),
      /needs a "path" or "url" column/,
    );
    await expectUsageError(
      readImages(await csv('quote.csv', 'path\n"shots/top.jpg\n'), 'models'),
      /--models .*quote.csv/,
    );
    await expectUsageError(readImages(await csv('empty.csv', ''), 'models'), /empty/);
  });

  it('checks that the files it names exist', async () => {
    const images = await readImages(await csv('ghost.csv', 'path\nshots/ghost.jpg\n'), 'models');
    await expectUsageError(localFiles(images), /ghost.jpg: no such file/);
  });
});

describe('planning the items', () => {
  const image = (name: string, extra: Partial<InputImage> = {}): InputImage => ({
    source: { kind: 'file', path: `/x/${name}.jpg`, label: `${name}.jpg` },
    name,
    ...extra,
  });

  it('pairs every model with every garment, models outer, with ids and file metadata', () => {
    const items = planItems([image('anna'), image('ben')], [image('shirt'), image('coat')], {
      type: 'upper',
    });
    expect(items.map((i) => i.externalId)).toEqual([
      'anna__shirt',
      'anna__coat',
      'ben__shirt',
      'ben__coat',
    ]);
    expect(items[3]!.metadata).toEqual({ model_file: 'ben.jpg', garment_file: 'coat.jpg' });
    expect(items.every((i) => i.clothType === 'upper')).toBe(true);
  });

  it("uses a CSV's cloth_type over --type and keeps ids unique", () => {
    const items = planItems([image('a')], [image('g', { clothType: 'lower' }), image('g')], {
      type: 'full_set',
    });
    expect(items.map((i) => [i.externalId, i.clothType])).toEqual([
      ['a__g', 'lower'],
      ['a__g~2', 'full_set'],
    ]);
  });

  it('gives combo garments their lower half: one for all, or one each in order', () => {
    const one = planItems([image('m')], [image('top1'), image('top2')], {
      type: 'combo',
      lowers: [image('jeans')],
    });
    expect(one.map((i) => i.externalId)).toEqual(['m__top1+jeans', 'm__top2+jeans']);
    expect(one[0]!.metadata.lower_file).toBe('jeans.jpg');
    const paired = planItems([image('m')], [image('top1'), image('top2')], {
      type: 'combo',
      lowers: [image('jeans'), image('skirt')],
    });
    expect(paired.map((i) => i.lower?.name)).toEqual(['jeans', 'skirt']);
  });

  it('refuses combos without a lower half and lower halves without combo', () => {
    expect(() => planItems([image('m')], [image('top')], { type: 'combo' })).toThrow(/--lower/);
    expect(() =>
      planItems([image('m')], [image('top')], { type: 'upper', lowers: [image('j')] }),
    ).toThrow(/--type combo/);
    expect(() =>
      planItems([image('m')], [image('a'), image('b'), image('c')], {
        type: 'combo',
        lowers: [image('j'), image('k')],
      }),
    ).toThrow(/2 images for 3 combo garments/);
    expect(() =>
      planItems([image('m')], [image('top', { clothType: 'upper', lower: image('j') })], {
        type: 'upper',
      }),
    ).toThrow(/not combo/);
  });
});
