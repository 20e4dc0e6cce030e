import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import sharp, { type Metadata } from 'sharp';
import { isAssetId } from '@tryon/domain';
import type { Redis } from 'ioredis';
import { preparedInputKey, type Records } from '@tryon/records';
import type { Storage } from '@tryon/storage';
import { SafeFetchError, safeFetch } from '@tryon/webhooks';
import type { Dispatcher } from 'undici';

/** FitRoom's guidelines: models at most 2048 px, garments at most 1024 px on the long side. */
export const MAX_SIDE = { model: 2048, garment: 1024 } as const;
export type ImageRole = keyof typeof MAX_SIDE;

/** An input that will never work (bad URL, not an image): the item fails, nothing is retried. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface PrepareContext {
  redis: Redis;
  /** Redis key prefix of the service. */
  prefix: string;
  records: Records;
  storage: Storage;
  dispatcher: Dispatcher;
  fetchTimeoutMs: number;
  maxBytes: number;
}

const FORMATS: Record<string, { contentType: string; ext: string }> = {
  jpeg: { contentType: 'image/jpeg', ext: 'jpg' },
  png: { contentType: 'image/png', ext: 'png' },
  webp: { contentType: 'image/webp', ext: 'webp' },
};

async function readAll(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) {
      body.destroy();
      throw new InvalidInputError('image_too_large', `image is larger than ${maxBytes} bytes`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

async function loadSource(ref: string, tenantId: string, ctx: PrepareContext): Promise<Buffer> {
  if (isAssetId(ref)) {
    const asset = await ctx.records.getAsset(tenantId, ref);
    if (!asset) throw new InvalidInputError('asset_not_found', `asset ${ref} does not exist`);
    const object = await ctx.storage.get(asset.storage_key);
    if (!object) throw new InvalidInputError('asset_not_found', `asset ${ref} has no stored bytes`);
    return readAll(object.body, ctx.maxBytes);
  }
  try {
    const response = await safeFetch(ref, {
      dispatcher: ctx.dispatcher,
      timeoutMs: ctx.fetchTimeoutMs,
      maxBytes: ctx.maxBytes,
      allowedProtocols: ['https:', 'http:'],
    });
    return response.body;
  } catch (error) {
    if (error instanceof SafeFetchError) {
      // Timeouts and network errors may pass; anything else about this URL will not.
      if (error.code === 'timeout' || error.code === 'network_error') throw error;
      if (error.code === 'http_error' && (error.status ?? 0) >= 500) throw error;
      throw new InvalidInputError(
        `image_url_${error.code}`,
        `could not fetch ${ref}: ${error.message}`,
      );
    }
    throw error;
  }
}

/** Prepares in progress in this process, by ref: fifty items sharing one model photo prepare it once. */
const preparing = new Map<string, Promise<string>>();

/**
 * Makes an input ready for FitRoom: EXIF orientation applied, long side within the guideline,
 * stored once per source image and size (cached by content hash across batches).
 * Returns the storage key of the prepared image.
 */
export function prepareImage(
  ref: string,
  role: ImageRole,
  tenantId: string,
  ctx: PrepareContext,
): Promise<string> {
  const flightKey = `${tenantId}\n${role}\n${ref}`;
  const inFlight = preparing.get(flightKey);
  if (inFlight) return inFlight;
  const work = prepareCached(ref, role, tenantId, ctx).finally(() => preparing.delete(flightKey));
  preparing.set(flightKey, work);
  return work;
}

/** How long the prepared form of an uploaded asset is remembered. */
const PREPARED_KEEP_SECONDS = 30 * 24 * 3_600;

/**
 * An asset's bytes never change, so its prepared form is looked up once and remembered in
 * Redis: the ten-thousandth item of a batch that shares one model photo costs two Redis calls,
 * not a read, a hash and an image decode.
 */
async function prepareCached(
  ref: string,
  role: ImageRole,
  tenantId: string,
  ctx: PrepareContext,
): Promise<string> {
  if (!isAssetId(ref)) return prepareOnce(ref, role, tenantId, ctx);
  const cacheKey = preparedInputKey(ctx.prefix, tenantId, ref, role);
  const known = await ctx.redis.get(cacheKey);
  if (known && (await ctx.storage.exists(known))) return known;
  const key = await prepareOnce(ref, role, tenantId, ctx);
  await ctx.redis.set(cacheKey, key, 'EX', PREPARED_KEEP_SECONDS);
  return key;
}

/**
 * libvips caches decoded images and runs a thread per core for each operation: right for one
 * big job, wrong for a worker that prepares many small ones next to other processes. No cache,
 * one thread per operation, keeps worker memory flat.
 */
export function configureImageLibrary(): void {
  sharp.cache(false);
  sharp.concurrency(1);
}

async function prepareOnce(
  ref: string,
  role: ImageRole,
  tenantId: string,
  ctx: PrepareContext,
): Promise<string> {
  const source = await loadSource(ref, tenantId, ctx);
  const sha256 = createHash('sha256').update(source).digest('hex');
  const maxSide = MAX_SIDE[role];
  let meta: Metadata;
  try {
    meta = await sharp(source, { limitInputPixels: 100_000_000 }).metadata();
  } catch {
    throw new InvalidInputError('invalid_image', `${ref} is not a readable image`);
  }
  const format = FORMATS[meta.format ?? ''];
  const oriented = !meta.orientation || meta.orientation === 1;
  const fits = Math.max(meta.width ?? 0, meta.height ?? 0) <= maxSide;
  const keep = format !== undefined && oriented && fits;
  const out = keep ? format : FORMATS.jpeg!;
  const key = `prepared/${sha256}-${maxSide}.${out.ext}`;
  if (await ctx.storage.exists(key)) return key;
  // Any other format sharp reads (GIF, TIFF, AVIF, HEIF) goes to FitRoom as a JPEG of its
  // first frame or page; transparency goes on white, not JPEG's default black.
  const bytes = keep
    ? source
    : await sharp(source, { limitInputPixels: 100_000_000, pages: 1 })
        .rotate()
        .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
        .flatten({ background: '#ffffff' })
        .jpeg({ quality: 92 })
        .toBuffer();
  await ctx.storage.put(key, bytes, { contentType: out.contentType });
  return key;
}

/** Reads a prepared image back for upload to FitRoom (a few MB at most by construction). */
export async function loadPrepared(
  key: string,
  storage: Storage,
): Promise<{ data: Buffer; contentType: string; filename: string } | null> {
  const object = await storage.get(key);
  if (!object) return null;
  const data = await readAll(object.body, 64 * 1024 * 1024);
  return { data, contentType: object.contentType, filename: key.split('/').pop() ?? 'image' };
}
