import { createHash } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetIdFor } from '@tryon/domain';
import { makeImage } from '@tryon/testing';
import { auth, buildTestApp, multipart, TOKENS, type TestApp } from './helper.js';

let t: TestApp;

/** A valid 1-bit greyscale PNG of width x height black pixels: 100 megapixels in a few KB. */
function pngBomb(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth
  header[9] = 0; // greyscale
  const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height); // filter byte 0 + zero bits
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function upload(files: Parameters<typeof multipart>[0], token: string = TOKENS.acme) {
  const { payload, headers } = multipart(files);
  return t.app.inject({
    method: 'POST',
    url: '/v1/assets',
    headers: { ...headers, ...auth(token) },
    payload,
  });
}

interface AssetAnswer {
  assets: {
    id: string;
    sha256: string;
    bytes: number;
    width: number;
    height: number;
    content_type: string;
  }[];
}

describe.each(['s3', 'fs'] as const)('POST /v1/assets with %s storage', (storage) => {
  beforeAll(async () => {
    // A small upload cap so the oversize case stays small.
    t = await buildTestApp({ storage, env: { UPLOAD_MAX_BYTES: String(256 * 1024) } });
  });
  afterAll(() => t.close());

  it('stores an image content-addressed and answers the same asset for the same bytes', async () => {
    const image = await makeImage({ width: 40, height: 30, color: { r: 1, g: 2, b: 3 } });
    const first = await upload([{ field: 'file', filename: 'model.jpg', data: image }]);
    expect(first.statusCode).toBe(201);
    const [asset] = first.json<AssetAnswer>().assets;
    expect(asset).toEqual({
      id: assetIdFor('acme', sha256(image)),
      sha256: sha256(image),
      bytes: image.length,
      width: 40,
      height: 30,
      content_type: 'image/jpeg',
    });
    const stored = await t.storage.get(`assets/${sha256(image)}`);
    expect(stored).not.toBeNull();
    const chunks: Buffer[] = [];
    for await (const chunk of stored!.body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(image)).toBe(true);
    expect(await t.records.getAsset('acme', asset!.id)).toMatchObject({
      storage_key: `assets/${sha256(image)}`,
    });

    const again = await upload([{ field: 'other', filename: 'renamed.bin', data: image }]);
    expect(again.statusCode).toBe(200);
    expect(again.json<AssetAnswer>().assets).toEqual([asset]);

    // Another tenant's upload of the same bytes is its own asset.
    const globex = await upload([{ field: 'file', filename: 'm.jpg', data: image }], TOKENS.globex);
    expect(globex.statusCode).toBe(201);
    expect(globex.json<AssetAnswer>().assets[0]!.id).toBe(assetIdFor('globex', sha256(image)));
  });

  it('answers one asset per file, in the order of the files', async () => {
    const png = await makeImage({
      width: 20,
      height: 10,
      format: 'png',
      color: { r: 9, g: 9, b: 9 },
    });
    const webp = await makeImage({ width: 12, height: 34, format: 'webp' });
    const res = await upload([
      { field: 'a', filename: 'a.png', data: png },
      { field: 'b', filename: 'b.webp', data: webp },
    ]);
    expect(res.statusCode).toBe(201);
    const { assets } = res.json<AssetAnswer>();
    expect(assets.map((a) => [a.sha256, a.content_type, a.width, a.height])).toEqual([
      [sha256(png), 'image/png', 20, 10],
      [sha256(webp), 'image/webp', 12, 34],
    ]);
  });

  it('refuses a text file named .jpg with 415 naming the field', async () => {
    const res = await upload([
      {
        field: 'photo',
        filename: 'photo.jpg',
        contentType: 'image/jpeg',
        data: Buffer.from('just some text, not an image at all\n'.repeat(20)),
      },
    ]);
    expect(res.statusCode).toBe(415);
    expect(res.json()).toEqual({
      error: {
        code: 'unsupported_media_type',
        message: expect.stringContaining('"photo"') as string,
      },
    });
  });

  it('refuses a truncated JPEG and stores nothing of the request', async () => {
    const good = await makeImage({ width: 64, height: 64, color: { r: 50, g: 60, b: 70 } });
    const image = await sharp({
      create: {
        width: 400,
        height: 300,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 30 },
      },
    })
      .jpeg()
      .toBuffer();
    const truncated = image.subarray(0, Math.floor(image.length / 2));
    const res = await upload([
      { field: 'good', filename: 'good.jpg', data: good },
      { field: 'broken', filename: 'broken.jpg', data: truncated },
    ]);
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: { code: 'invalid_image' } });
    expect(await t.storage.exists(`assets/${sha256(good)}`)).toBe(false);
  });

  it('refuses a decompression bomb before decoding it', async () => {
    const bomb = pngBomb(10_000, 10_000);
    expect(bomb.length).toBeLessThan(64 * 1024);
    const res = await upload([{ field: 'bomb', filename: 'bomb.png', data: bomb }]);
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({
      error: { code: 'invalid_image', message: expect.stringContaining('10000x10000') as string },
    });
  });

  it('refuses a file over UPLOAD_MAX_BYTES with 413', async () => {
    const big = await sharp({
      create: {
        width: 1200,
        height: 1200,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 60 },
      },
    })
      .png()
      .toBuffer();
    expect(big.length).toBeGreaterThan(256 * 1024);
    const res = await upload([{ field: 'big', filename: 'big.png', data: big }]);
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: { code: 'file_too_large' } });
  });

  it('answers 400 when no file is sent', async () => {
    const res = await upload([]);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'no_files' } });
  });
});
