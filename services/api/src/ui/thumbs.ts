import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import sharp from 'sharp';
import type { Config } from '@tryon/config';
import { isAssetId } from '@tryon/domain';
import type { ItemRecord, Records } from '@tryon/records';
import type { Storage } from '@tryon/storage';
import { createSafeDispatcher, safeFetch, type LookupFn } from '@tryon/webhooks';

export const THUMB_ROLES = ['model', 'garment', 'lower', 'result'] as const;
export type ThumbRole = (typeof THUMB_ROLES)[number];

export const THUMB_WIDTH = 240;
const THUMB_MAX_HEIGHT = 480;
const SOURCE_MAX_BYTES = 50 * 1024 * 1024;
/** A URL that could not be fetched is not tried again for this long (a gallery reload). */
const FAILURE_TTL_MS = 60_000;
const FAILURES_KEPT = 2_000;

export interface Thumb {
  body: Buffer;
  etag: string;
}

export interface ThumbnailDeps {
  config: Config;
  records: Records;
  storage: Storage;
  lookup?: LookupFn | undefined;
  /** Bytes of thumbnails kept in memory (least recently used dropped first). */
  cacheBytes?: number;
}

async function readAll(body: Readable, maxBytes: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Small WebP thumbnails of an item's model, garment and result images for the dashboard's
 * gallery, kept in a bounded in-memory LRU: a gallery reload resizes nothing, and items sharing
 * one model photo share one thumbnail. Inputs given by URL are fetched through the same SSRF
 * guard as the worker's (the worker keeps no per-item copy of what it fetched).
 */
export class ThumbnailService {
  private readonly cache = new Map<string, Thumb>();
  private cachedBytes = 0;
  private readonly pending = new Map<string, Promise<Thumb | null>>();
  private readonly failures = new Map<string, number>();
  private dispatcher: ReturnType<typeof createSafeDispatcher> | null = null;
  private readonly maxBytes: number;

  constructor(private readonly deps: ThumbnailDeps) {
    this.maxBytes = deps.cacheBytes ?? 32 * 1024 * 1024;
  }

  /** The thumbnail of one image of an item, or null when that image is not there (yet). */
  async forItem(item: ItemRecord, role: ThumbRole): Promise<Thumb | null> {
    const source = this.sourceOf(item, role);
    if (!source) return null;
    const hit = this.cache.get(source.cacheKey);
    if (hit) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.cache.delete(source.cacheKey);
      this.cache.set(source.cacheKey, hit);
      return hit;
    }
    const failedUntil = this.failures.get(source.cacheKey);
    if (failedUntil !== undefined && failedUntil > Date.now()) return null;
    let work = this.pending.get(source.cacheKey);
    if (!work) {
      work = this.make(source.load).finally(() => this.pending.delete(source.cacheKey));
      this.pending.set(source.cacheKey, work);
    }
    const thumb = await work;
    if (thumb) this.remember(source.cacheKey, thumb);
    else this.rememberFailure(source.cacheKey);
    return thumb;
  }

  async close(): Promise<void> {
    const dispatcher = this.dispatcher;
    this.dispatcher = null;
    await dispatcher?.close().catch(() => undefined);
  }

  private sourceOf(
    item: ItemRecord,
    role: ThumbRole,
  ): { cacheKey: string; load: () => Promise<Buffer | null> } | null {
    if (role === 'result') {
      const result = item.result;
      if (item.status !== 'completed' || !result) return null;
      return {
        cacheKey: `result:${result.sha256}`,
        load: () => this.fromStorage(result.key),
      };
    }
    const ref = role === 'model' ? item.model : role === 'garment' ? item.cloth : item.lower_cloth;
    if (!ref) return null;
    const tenantId = item.tenant_id;
    if (isAssetId(ref)) {
      return {
        cacheKey: `asset:${tenantId}:${ref}`,
        load: async () => {
          const asset = await this.deps.records.getAsset(tenantId, ref);
          return asset ? this.fromStorage(asset.storage_key) : null;
        },
      };
    }
    return { cacheKey: `url:${tenantId}:${ref}`, load: () => this.fromUrl(ref) };
  }

  private async fromStorage(key: string): Promise<Buffer | null> {
    const object = await this.deps.storage.get(key);
    return object ? readAll(object.body, SOURCE_MAX_BYTES) : null;
  }

  private async fromUrl(url: string): Promise<Buffer | null> {
    const { config, lookup } = this.deps;
    this.dispatcher ??= createSafeDispatcher({
      allowPrivateNetworks: config.webhooks.allowPrivateNetworks,
      connectTimeoutMs: 5_000,
      ...(lookup && { lookup }),
    });
    try {
      const response = await safeFetch(url, {
        dispatcher: this.dispatcher,
        timeoutMs: Math.min(config.worker.imageFetchTimeoutMs, 15_000),
        maxBytes: Math.min(config.worker.imageMaxBytes, SOURCE_MAX_BYTES),
      });
      return response.body;
    } catch {
      // Unreachable, refused by the SSRF guard, 404, too big: no thumbnail, as for a missing file.
      return null;
    }
  }

  private async make(load: () => Promise<Buffer | null>): Promise<Thumb | null> {
    const source = await load();
    if (!source) return null;
    try {
      const body = await sharp(source, { limitInputPixels: 100_000_000 })
        .rotate()
        .resize({
          width: THUMB_WIDTH,
          height: THUMB_MAX_HEIGHT,
          fit: 'inside',
          withoutEnlargement: true,
        })
        .webp({ quality: 72 })
        .toBuffer();
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
      return { body, etag };
    } catch {
      return null; // not a readable image
    }
  }

  private remember(key: string, thumb: Thumb): void {
    if (this.cache.has(key) || thumb.body.length > this.maxBytes) return;
    this.cache.set(key, thumb);
    this.cachedBytes += thumb.body.length;
    for (const [oldKey, old] of this.cache) {
      if (this.cachedBytes <= this.maxBytes) break;
      this.cache.delete(oldKey);
      this.cachedBytes -= old.body.length;
    }
  }

  private rememberFailure(key: string): void {
    this.failures.delete(key);
    this.failures.set(key, Date.now() + FAILURE_TTL_MS);
    for (const oldKey of this.failures.keys()) {
      if (this.failures.size <= FAILURES_KEPT) break;
      this.failures.delete(oldKey);
    }
  }
}
