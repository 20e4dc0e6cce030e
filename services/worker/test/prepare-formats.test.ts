/**
 * The prepare step's format conversion: inputs in a format FitRoom may not take (GIF, TIFF,
 * AVIF) go to FitRoom as JPEG; transparency lands on white; JPEG, PNG and WebP that fit the
 * guidelines go as they are.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetIdFor } from '@tryon/domain';
import { Records } from '@tryon/records';
import { createStorage, type Storage } from '@tryon/storage';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { loadPrepared, prepareImage, type PrepareContext } from '../src/prepare.js';

const TENANT = 'acme';
let redis: Redis;
let storage: Storage;
let dataDir: string;
let dispatcher: Agent;
let ctx: PrepareContext;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'prepare-formats-'));
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  storage = createStorage({ driver: 'fs', dataDir });
  dispatcher = new Agent();
  const prefix = uniqueId('prepare-formats');
  ctx = {
    redis,
    prefix,
    records: new Records(redis, prefix),
    storage,
    dispatcher,
    fetchTimeoutMs: 5_000,
    maxBytes: 20 * 1024 * 1024,
  };
});

afterAll(async () => {
  storage?.close();
  redis?.disconnect();
  await dispatcher?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A 40x30 image: its left half opaque red, its right half transparent black (opaque where the format keeps no alpha). */
async function halfTransparent(format: 'gif' | 'tiff' | 'avif' | 'png'): Promise<Buffer> {
  const pixels = Buffer.alloc(40 * 30 * 4);
  for (let y = 0; y < 30; y++) {
    for (let x = 0; x < 20; x++) pixels.set([220, 20, 20, 255], (y * 40 + x) * 4);
  }
  return sharp(pixels, { raw: { width: 40, height: 30, channels: 4 } })
    .toFormat(format)
    .toBuffer();
}

async function asset(bytes: Buffer, contentType: string): Promise<string> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const stored = await storage.put(`assets/${sha256}`, bytes, { contentType });
  const id = assetIdFor(TENANT, sha256);
  await ctx.records.saveAsset(TENANT, {
    id,
    sha256,
    bytes: stored.bytes,
    width: 40,
    height: 30,
    content_type: contentType,
    storage_key: stored.key,
  });
  return id;
}

describe('prepareImage', () => {
  it.each([
    ['gif', 'image/gif'],
    ['tiff', 'image/tiff'],
    ['avif', 'image/avif'],
  ] as const)('turns a %s input into a JPEG, transparency on white', async (format, type) => {
    const input = await halfTransparent(format);
    const { hasAlpha } = await sharp(input).metadata();
    const id = await asset(input, type);
    const key = await prepareImage(id, 'garment', TENANT, ctx);
    expect(key).toMatch(/\.jpg$/);
    const prepared = await loadPrepared(key, storage);
    expect(prepared?.contentType).toBe('image/jpeg');
    const { data, info } = await sharp(prepared!.data).raw().toBuffer({ resolveWithObject: true });
    expect(info).toMatchObject({ width: 40, height: 30, channels: 3 });
    const at = (x: number, y: number) => [...data.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
    const [r, g, b] = at(5, 15);
    expect(r).toBeGreaterThan(180);
    expect(g).toBeLessThan(70);
    expect(b).toBeLessThan(70);
    // The transparent half is white, not JPEG's default black (sharp writes TIFF without alpha).
    expect(hasAlpha).toBe(format !== 'tiff');
    const right = at(35, 15);
    for (const channel of right) {
      if (hasAlpha) expect(channel).toBeGreaterThan(235);
      else expect(channel).toBeLessThan(20);
    }
  });

  it('sends a PNG that fits the guidelines as it is', async () => {
    const png = await halfTransparent('png');
    const key = await prepareImage(await asset(png, 'image/png'), 'garment', TENANT, ctx);
    expect(key).toMatch(/\.png$/);
    expect((await loadPrepared(key, storage))?.data.equals(png)).toBe(true);
  });
});
