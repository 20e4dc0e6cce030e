import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp, { type Metadata } from 'sharp';
import { isAssetId } from '@tryon/domain';
import type { Redis } from 'ioredis';
import { preparedInputKey, type Records } from '@tryon/records';
import { RedisKeys, releaseLock, tryLock } from '@tryon/redis';
import {
  readVerified,
  storeVerified,
  StorageError,
  type ContentAddress,
  type Storage,
} from '@tryon/storage';
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

async function loadSource(ref: string, tenantId: string, ctx: PrepareContext): Promise<Buffer> {
  if (isAssetId(ref)) return loadAsset(ref, tenantId, ctx);
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

/** An uploaded asset's bytes, checked against the size and sha256 it was uploaded with. */
async function loadAsset(ref: string, tenantId: string, ctx: PrepareContext): Promise<Buffer> {
  const asset = await ctx.records.getAsset(tenantId, ref);
  if (!asset) throw new InvalidInputError('asset_not_found', `asset ${ref} does not exist`);
  if (asset.bytes > ctx.maxBytes) {
    throw new InvalidInputError('image_too_large', `image is larger than ${ctx.maxBytes} bytes`);
  }
  const read = await readVerified(ctx.storage, asset.storage_key, asset);
  if (read.status === 'missing') {
    throw new InvalidInputError('asset_not_found', `asset ${ref} has no stored bytes`);
  }
  if (read.status === 'mismatch') {
    // Cut short or mid-write: the step is retried, the bytes are never used.
    throw new StorageError(
      `asset ${ref} read as ${read.read.bytes} bytes that do not match its sha256 (${asset.bytes} bytes)`,
      { code: 'integrity', retryable: true, operation: 'get', key: asset.storage_key },
    );
  }
  return read.data;
}

/** Prepares in progress in this process, by ref: fifty items sharing one model photo prepare it once. */
const preparing = new Map<string, Promise<string>>();

export interface PrepareOptions {
  /**
   * Prepare again from the source, trusting no remembered key: a prepared input failed its
   * verification, or FitRoom refused it as an image. The stored object is read back and
   * written again unless it is intact.
   */
  fresh?: boolean;
}

/**
 * Makes an input ready for FitRoom: EXIF orientation applied, long side within the guideline,
 * stored once under its content address (`prepared/<sha256>-<bytes>.<ext>` of the prepared
 * bytes). Returns the storage key of the prepared image.
 */
export function prepareImage(
  ref: string,
  role: ImageRole,
  tenantId: string,
  ctx: PrepareContext,
  options: PrepareOptions = {},
): Promise<string> {
  const fresh = options.fresh === true;
  const flightKey = `${tenantId}\n${role}\n${ref}\n${fresh}`;
  const inFlight = preparing.get(flightKey);
  if (inFlight) return inFlight;
  const work = prepareCached(ref, role, tenantId, ctx, fresh).finally(() =>
    preparing.delete(flightKey),
  );
  preparing.set(flightKey, work);
  return work;
}

/** How long the prepared form of an uploaded asset is remembered. */
const PREPARED_KEEP_SECONDS = 30 * 24 * 3_600;

/**
 * An asset's bytes never change, so its prepared form is looked up once and remembered in
 * Redis: the ten-thousandth item of a batch that shares one model photo costs two Redis calls,
 * not a read, a hash and an image decode. (The bytes are verified where they are used.)
 */
async function prepareCached(
  ref: string,
  role: ImageRole,
  tenantId: string,
  ctx: PrepareContext,
  fresh: boolean,
): Promise<string> {
  if (!isAssetId(ref)) return prepareOnce(ref, role, tenantId, ctx, fresh);
  const cacheKey = preparedInputKey(ctx.prefix, tenantId, ref, role);
  const known = fresh ? null : await ctx.redis.get(cacheKey);
  if (known && preparedAddress(known) && (await ctx.storage.exists(known))) return known;
  const key = await prepareOnce(ref, role, tenantId, ctx, fresh);
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

const PREPARED_KEY = /^prepared\/([0-9a-f]{64})-(\d+)\.[a-z0-9]+$/;

/** The content address of a prepared image: its storage key names its sha256 and size. */
export function preparedKeyFor(data: Buffer, ext: string): string {
  return `prepared/${createHash('sha256').update(data).digest('hex')}-${data.length}.${ext}`;
}

/** The sha256 and size a prepared key names; null for a key of another shape (an older one). */
export function preparedAddress(key: string): ContentAddress | null {
  const match = PREPARED_KEY.exec(key);
  return match ? { sha256: match[1]!, bytes: Number(match[2]) } : null;
}

async function prepareOnce(
  ref: string,
  role: ImageRole,
  tenantId: string,
  ctx: PrepareContext,
  fresh: boolean,
): Promise<string> {
  const source = await loadSource(ref, tenantId, ctx);
  const sourceSha = createHash('sha256').update(source).digest('hex');
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
  if (format !== undefined && oriented && fits) {
    // Sent as it came: its address is known without any work.
    const key = preparedKeyFor(source, format.ext);
    if (!fresh && (await ctx.storage.exists(key))) return key;
    return underPrepareLock(ctx, sourceSha, maxSide, async () => {
      await storeVerified(ctx.storage, key, source, format.contentType);
      return key;
    });
  }
  const sourceKey = new RedisKeys(ctx.prefix).preparedSource(sourceSha, maxSide);
  return underPrepareLock(ctx, sourceSha, maxSide, async () => {
    const known = fresh ? null : await ctx.redis.get(sourceKey);
    if (known && (await ctx.storage.exists(known))) return known;
    // Any other format sharp reads (GIF, TIFF, AVIF, HEIF) goes to FitRoom as a JPEG of its
    // first frame or page; transparency goes on white, not JPEG's default black.
    const bytes = await sharp(source, { limitInputPixels: 100_000_000, pages: 1 })
      .rotate()
      .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 92 })
      .toBuffer();
    const key = preparedKeyFor(bytes, FORMATS.jpeg!.ext);
    await storeVerified(ctx.storage, key, bytes, FORMATS.jpeg!.contentType);
    await ctx.redis.set(sourceKey, key, 'EX', PREPARED_KEEP_SECONDS);
    return key;
  });
}

/** Longer than storing and reading back one prepared image takes. */
const PREPARE_LOCK_MS = 60_000;
/** How often a process waiting for another's preparation of the same image looks again. */
const PREPARE_LOCK_POLL_MS = 25;

/**
 * Runs `work` while holding the cross-process lock of one source image at one size: four
 * workers preparing the same model photo write it once, and none reads it while another
 * rewrites it. A waiter runs `work` itself once the lock is free (it then finds the object
 * stored and verified, and writes nothing).
 */
async function underPrepareLock<T>(
  ctx: PrepareContext,
  sourceSha: string,
  maxSide: number,
  work: () => Promise<T>,
): Promise<T> {
  const lockKey = new RedisKeys(ctx.prefix).preparedSourceLock(sourceSha, maxSide);
  const deadline = Date.now() + 2 * PREPARE_LOCK_MS;
  for (;;) {
    const token = await tryLock(ctx.redis, lockKey, PREPARE_LOCK_MS);
    if (token !== null) {
      try {
        return await work();
      } finally {
        await releaseLock(ctx.redis, lockKey, token).catch(() => undefined);
      }
    }
    if (Date.now() > deadline) {
      throw new StorageError(`another process has been preparing ${sourceSha} for too long`, {
        code: 'timeout',
        retryable: true,
        operation: 'put',
      });
    }
    await sleep(PREPARE_LOCK_POLL_MS);
  }
}

/**
 * Reads a prepared image back for upload to FitRoom, checked against its content address: null
 * when it is missing, cut short, changed, or of an older key shape (it is then prepared again).
 */
export async function loadPrepared(
  key: string,
  storage: Storage,
): Promise<{ data: Buffer; contentType: string; filename: string } | null> {
  const address = preparedAddress(key);
  if (!address) return null;
  const read = await readVerified(storage, key, address);
  if (read.status !== 'ok') return null;
  return {
    data: read.data,
    contentType: read.contentType,
    filename: key.split('/').pop() ?? 'image',
  };
}
