import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { sha256hex } from './images.js';
import type { CreateClothType } from './tasks.js';

/** FitRoom's documented output limit. */
export const MAX_OUTPUT_PX = 2048;

export interface RenderInput {
  model: Buffer;
  cloth: Buffer;
  /** combo only */
  lowerCloth: Buffer | undefined;
  clothType: CreateClothType;
  hd: boolean;
}

/** Where a garment goes on the model, as fractions of the model image: left, top, width, height. */
const REGIONS = {
  upper: [0.2, 0.16, 0.6, 0.4],
  lower: [0.25, 0.5, 0.5, 0.46],
  full_set: [0.2, 0.16, 0.6, 0.8],
} as const;

async function garmentOverlay(
  garment: Buffer,
  region: readonly [number, number, number, number],
  width: number,
  height: number,
): Promise<OverlayOptions> {
  const boxLeft = Math.floor(region[0] * width);
  const boxTop = Math.floor(region[1] * height);
  const boxWidth = Math.max(1, Math.min(width - boxLeft, Math.round(region[2] * width)));
  const boxHeight = Math.max(1, Math.min(height - boxTop, Math.round(region[3] * height)));
  const { data, info } = await sharp(garment)
    .autoOrient()
    .resize(boxWidth, boxHeight, { fit: 'inside' })
    .ensureAlpha()
    .png()
    .toBuffer({ resolveWithObject: true });
  return {
    input: data,
    left: boxLeft + Math.floor((boxWidth - info.width) / 2),
    top: boxTop + Math.floor((boxHeight - info.height) / 2),
  };
}

/**
 * The try-on image: the model photo (at most 2048 px on the long side) with the garment
 * pasted over the body region its cloth_type covers (combo: upper and lower), as JPEG.
 * Deterministic: identical inputs give identical bytes.
 */
export async function renderTryOn(input: RenderInput): Promise<Buffer> {
  const { data: base, info } = await sharp(input.model)
    .autoOrient()
    .resize(MAX_OUTPUT_PX, MAX_OUTPUT_PX, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const overlays: OverlayOptions[] = [];
  if (input.clothType === 'combo') {
    overlays.push(await garmentOverlay(input.cloth, REGIONS.upper, width, height));
    if (input.lowerCloth) {
      overlays.push(await garmentOverlay(input.lowerCloth, REGIONS.lower, width, height));
    }
  } else {
    overlays.push(await garmentOverlay(input.cloth, REGIONS[input.clothType], width, height));
  }
  return sharp(base, { raw: { width, height, channels: info.channels } })
    .composite(overlays)
    .jpeg({ quality: input.hd ? 92 : 82 })
    .toBuffer();
}

/** Identifies a result by what it is rendered from. */
export function resultKeyOf(parts: {
  modelSha: string;
  clothSha: string;
  lowerClothSha: string | undefined;
  clothType: CreateClothType;
  hd: boolean;
}): string {
  return sha256hex(
    [parts.modelSha, parts.clothSha, parts.lowerClothSha ?? '-', parts.clothType, parts.hd].join(
      '|',
    ),
  );
}

/** Runs at most `limit` jobs at once. */
class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
    try {
      return await job();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * Rendered results, one file per distinct input combination in a private temp directory, so
 * thousands of tasks cost disk, not memory, and uploaded buffers are dropped once rendered.
 * Rendering starts at create (in the background, a few at a time) so the image is ready by
 * completion; a download that arrives earlier waits for it.
 */
export class ResultStore {
  private readonly results = new Map<string, Promise<string>>();
  private readonly limiter = new Limiter(Math.max(2, availableParallelism()));

  private constructor(private readonly dir: string) {}

  static async create(): Promise<ResultStore> {
    return new ResultStore(await mkdtemp(join(tmpdir(), 'fitroom-sim-')));
  }

  /** Starts rendering `key` unless it is rendered or rendering; `input` is only read if needed. */
  ensure(key: string, input: () => RenderInput, onError: (error: unknown) => void): void {
    if (this.results.has(key)) return;
    let pending: RenderInput | undefined = input();
    const path = join(this.dir, `${key}.jpg`);
    const promise = this.limiter.run(async () => {
      const job = pending;
      pending = undefined;
      if (!job) throw new Error('render input already consumed');
      await writeFile(path, await renderTryOn(job));
      return path;
    });
    promise.catch(onError);
    this.results.set(key, promise);
  }

  async read(key: string): Promise<Buffer> {
    const path = this.results.get(key);
    if (!path) throw new Error(`no result for ${key}`);
    return readFile(await path);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.results.values());
    await rm(this.dir, { recursive: true, force: true });
  }
}
