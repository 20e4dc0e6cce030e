import { describe, expect, it } from 'vitest';
import type { Item } from '@tryon/domain';
import { manifestRows, toCsv } from '../src/download.js';
import {
  itemFileStems,
  pairExternalId,
  resultExtension,
  safeFileStem,
  stemOf,
  uniqueIds,
} from '../src/names.js';
import { chunk } from '../src/upload.js';

describe('stems and external ids', () => {
  it('takes the stem of a path or a URL', () => {
    expect(stemOf('/photos/anna.front.JPG')).toBe('anna.front');
    expect(stemOf('shirt.png')).toBe('shirt');
    expect(stemOf('https://cdn.example.com/a/Blue%20Shirt.webp?v=3#x')).toBe('Blue Shirt');
    expect(stemOf('https://cdn.example.com/')).toBe('image');
  });

  it('joins model and garment, and a combo lower half, cut to 256 characters', () => {
    expect(pairExternalId('anna', 'shirt')).toBe('anna__shirt');
    expect(pairExternalId('anna', 'shirt', 'jeans')).toBe('anna__shirt+jeans');
    const long = pairExternalId('m'.repeat(200), 'g'.repeat(200));
    expect(long).toHaveLength(256);
    expect(long).not.toBe(pairExternalId('m'.repeat(200), `${'g'.repeat(199)}h`));
  });

  it('makes repeated ids unique in order', () => {
    expect(uniqueIds(['a', 'b', 'a', 'a', 'a~2'])).toEqual(['a', 'b', 'a~2', 'a~3', 'a~2~2']);
  });
});

describe('safe file names', () => {
  it('keeps letters, digits and a few marks; replaces the rest', () => {
    expect(safeFileStem('anna__shirt-1')).toBe('anna__shirt-1');
    expect(safeFileStem('model 1__SKU/42')).toBe('model_1__SKU_42');
    expect(safeFileStem('../../etc/passwd')).toBe('etc_passwd');
    expect(safeFileStem('a:b*c?"d<e>f|g\\h')).toBe('a_b_c_d_e_f_g_h');
    expect(safeFileStem('Jürgen__Hemd+Hose')).toBe('Jürgen__Hemd+Hose');
    expect(safeFileStem('-rf')).toBe('rf');
    expect(safeFileStem('.hidden')).toBe('hidden');
    expect(safeFileStem('name..')).toBe('name');
    expect(safeFileStem('CON')).toBe('_CON');
    expect(safeFileStem('nul.txt')).toBe('_nul.txt');
    expect(safeFileStem('\u0000\n\t')).toBe('');
  });

  it('stays under 150 bytes, also in multi-byte scripts, without collisions', () => {
    const a = safeFileStem('ü'.repeat(300));
    const b = safeFileStem(`${'ü'.repeat(299)}x`);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(150);
    expect(a).not.toBe(b);
  });

  it('names every item uniquely and stably, case-insensitively', () => {
    const items = [
      { id: 'itm_1', external_id: 'anna__shirt' },
      { id: 'itm_2', external_id: 'Anna__Shirt' },
      { id: 'itm_3', external_id: null },
      { id: 'itm_4', external_id: 'anna/shirt' },
      { id: 'itm_5', external_id: 'anna?shirt' },
      { id: 'itm_6', external_id: '???' },
    ];
    const stems = itemFileStems(items);
    expect(stems).toEqual([
      'anna__shirt',
      'Anna__Shirt_itm_2',
      'itm_3',
      'anna_shirt',
      'anna_shirt_itm_5',
      'itm_6',
    ]);
    expect(itemFileStems(items)).toEqual(stems);
  });

  it('picks the extension from the content type, else the storage key', () => {
    expect(resultExtension({ content_type: 'image/jpeg', key: 'results/b/i.png' })).toBe('jpg');
    expect(resultExtension({ content_type: 'image/webp; q=1', key: '' })).toBe('webp');
    expect(resultExtension({ content_type: '', key: 'results/b/i.PNG' })).toBe('png');
    expect(resultExtension({ content_type: 'application/x', key: 'results/b/i' })).toBe('bin');
  });
});

describe('the manifest', () => {
  const item = (over: Partial<Item>): Item => ({
    id: 'itm_1',
    batch_id: 'bat_1',
    status: 'completed',
    model: 'ast_m',
    cloth: 'ast_g',
    lower_cloth: null,
    cloth_type: 'upper',
    hd_mode: false,
    external_id: 'anna__shirt',
    metadata: { model_file: 'anna.jpg', garment_file: 'shirt.png' },
    fitroom_task_id: null,
    attempts: 1,
    credits: { spent: 1, possibly_spent: 0 },
    error: null,
    result: null,
    review: null,
    previous_results: [],
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    started_at: null,
    completed_at: null,
    ...over,
  });

  it('has one row per item with its file or its error, quoted as RFC 4180', () => {
    const rows = manifestRows(
      [
        item({}),
        item({
          id: 'itm_2',
          status: 'failed',
          external_id: 'ben, "B"__shirt',
          metadata: null,
          model: 'https://x.example/ben.jpg',
          error: { code: 'image_url_http_error', message: 'could not fetch:\n404' },
        }),
      ],
      new Map([['itm_1', 'anna__shirt.jpg']]),
    );
    expect(rows[1]).toEqual({
      item_id: 'itm_2',
      external_id: 'ben, "B"__shirt',
      model_file: 'https://x.example/ben.jpg',
      garment_file: 'ast_g',
      status: 'failed',
      file: '',
      error: 'image_url_http_error: could not fetch:\n404',
      review: '',
    });
    expect(toCsv(rows)).toBe(
      'item_id,external_id,model_file,garment_file,status,file,error,review\r\n' +
        'itm_1,anna__shirt,anna.jpg,shirt.png,completed,anna__shirt.jpg,,\r\n' +
        'itm_2,"ben, ""B""__shirt",https://x.example/ben.jpg,ast_g,failed,,' +
        '"image_url_http_error: could not fetch:\n404",\r\n',
    );
  });
});

describe('upload requests', () => {
  const files = (n: number, bytes = 1000) => Array.from({ length: n }, () => ({ bytes }));

  it('spread over the lanes, at most 10 files and 32 MiB each', () => {
    expect(chunk(files(7), 4).map((g) => g.length)).toEqual([2, 2, 2, 1]);
    expect(chunk(files(100), 4).map((g) => g.length)).toEqual(Array(10).fill(10));
    expect(chunk(files(3), 8).map((g) => g.length)).toEqual([1, 1, 1]);
    expect(chunk(files(5, 20 * 1024 * 1024), 1).map((g) => g.length)).toEqual([1, 1, 1, 1, 1]);
    expect(chunk([], 4)).toEqual([]);
  });
});
