/**
 * Distinct small JPEGs for the benchmarks: a flat colour with a strip of random pixels, so
 * every image of every run has its own bytes (no cache hit across images or runs) while the
 * simulator's rendering and the worker's preparation stay cheap.
 */
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';

export interface ImageSet {
  width: number;
  height: number;
  count: number;
}

async function makeOne(width: number, height: number, index: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  const colour = [(index * 67) % 256, (index * 131 + 40) % 256, (index * 29 + 90) % 256];
  for (let i = 0; i < pixels.length; i += 3) {
    pixels[i] = colour[0] as number;
    pixels[i + 1] = colour[1] as number;
    pixels[i + 2] = colour[2] as number;
  }
  // Two rows of noise: unique bytes, little extra JPEG weight.
  randomBytes(width * 3 * 2).copy(pixels, Math.floor(height / 2) * width * 3);
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 80 })
    .toBuffer();
}

/** `count` distinct JPEGs of width x height, made a few at a time. */
export async function makeImages({ width, height, count }: ImageSet): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i += 16) {
    const batch = Array.from({ length: Math.min(16, count - i) }, (_, j) =>
      makeOne(width, height, i + j),
    );
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** Model photos and garments sized for a cheap render: 192 x 256 and 96 x 96. */
export const MODEL_SIZE = { width: 192, height: 256 } as const;
export const GARMENT_SIZE = { width: 96, height: 96 } as const;

/**
 * A models x garments shape with models * garments = n when n has a divisor near its square
 * root (within a factor 4 either way), else ceil(sqrt(n)) x ceil(n / ceil(sqrt(n))) >= n.
 */
export function matrixShape(n: number): { models: number; garments: number } {
  const root = Math.sqrt(n);
  for (let m = Math.floor(root); m >= 1 && m >= root / 4; m--) {
    if (n % m === 0) return { models: m, garments: n / m };
  }
  const models = Math.ceil(root);
  return { models, garments: Math.ceil(n / models) };
}
