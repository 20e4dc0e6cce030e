/** Test helpers: real images (sharp), HTTP calls with fetch, and a manual clock. */
import { createHash } from 'node:crypto';
import sharp from 'sharp';

export const sha256 = (data: Uint8Array | string): string =>
  createHash('sha256').update(data).digest('hex');

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** A JPEG with a coloured block, so different seeds give different bytes. */
export async function jpeg(width: number, height: number, seed = 1): Promise<Buffer> {
  const color = { r: (seed * 67) % 256, g: (seed * 131) % 256, b: (seed * 29) % 256 };
  const block = await sharp({
    create: {
      width: Math.max(1, Math.floor(width / 3)),
      height: Math.max(1, Math.floor(height / 3)),
      channels: 3,
      background: { r: 255 - color.r, g: 255 - color.g, b: 255 - color.b },
    },
  })
    .png()
    .toBuffer();
  return sharp({ create: { width, height, channels: 3, background: color } })
    .composite([{ input: block, left: Math.floor(width / 3), top: Math.floor(height / 3) }])
    .jpeg({ quality: 80 })
    .toBuffer();
}

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export type Part = string | { data: Uint8Array; filename?: string; type?: string };

/** multipart/form-data from fields: strings become text fields, buffers file parts. */
export function form(fields: Record<string, Part | undefined>): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (typeof value === 'string') data.append(name, value);
    else {
      const blob = new Blob([value.data], { type: value.type ?? 'image/jpeg' });
      data.append(name, blob, value.filename ?? `${name}.jpg`);
    }
  }
  return data;
}

export const file = (data: Uint8Array): Part => ({ data });

/** One HTTP call; JSON answers are parsed, others returned as bytes. */
export async function call<T = unknown>(
  base: string,
  method: string,
  path: string,
  options: { key?: string; body?: FormData | string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers['x-api-key'] = options.key;
  const response = await fetch(`${base}${path}`, { method, headers, body: options.body });
  const type = response.headers.get('content-type') ?? '';
  const body = type.includes('json')
    ? ((await response.json()) as T)
    : (Buffer.from(await response.arrayBuffer()) as T);
  return { status: response.status, headers: response.headers, body };
}

/** A wall clock the test moves by hand (epoch ms). */
export function manualClock(start = Date.UTC(2025, 3, 15, 9, 5, 4)): {
  now: () => number;
  advance: (ms: number) => void;
} {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}
