import { createHash } from 'node:crypto';
import sharp from 'sharp';

export function sha256hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ImageInfo {
  format: string;
  width: number;
  height: number;
}

/** Formats FitRoom-like clients send; SVG and the like are refused as not an image. */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'avif', 'heif', 'tiff']);

/**
 * Whether bytes are a decodable image, decoding them fully (a truncated JPEG fails here, not
 * later while rendering). Answers are cached by sha256 so clients that send the same photo
 * thousands of times pay for one decode.
 */
export class ImageInspector {
  private readonly cache = new Map<string, ImageInfo | undefined>();

  constructor(private readonly maxEntries = 10_000) {}

  async inspect(data: Buffer, sha256: string): Promise<ImageInfo | undefined> {
    if (this.cache.has(sha256)) return this.cache.get(sha256);
    const info = await decode(data);
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(sha256, info);
    return info;
  }
}

async function decode(data: Buffer): Promise<ImageInfo | undefined> {
  if (data.length === 0) return undefined;
  try {
    const meta = await sharp(data, { failOn: 'warning' }).metadata();
    if (!meta.format || !ACCEPTED_FORMATS.has(meta.format) || !meta.width || !meta.height) {
      return undefined;
    }
    // Shrink-on-load keeps this cheap while still reading every byte of the image.
    await sharp(data, { failOn: 'warning' }).resize(64, 64, { fit: 'inside' }).raw().toBuffer();
    return { format: meta.format, width: meta.width, height: meta.height };
  } catch {
    return undefined;
  }
}
