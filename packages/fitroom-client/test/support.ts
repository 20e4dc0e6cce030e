/**
 * Helpers of the contract tests: tiny real images without native dependencies (a hand-built
 * PNG encoder; `sharp` is not resolvable from this package), a structural image decoder for
 * results, and the simulator.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { deflateSync, inflateSync } from 'node:zlib';
import { startSim } from '@tryon/fitroom-sim';
import type { FitRoomClient, Task } from '../src/index';

export type RunningSim = Awaited<ReturnType<typeof startSim>>;
export type SimOptions = Parameters<typeof startSim>[0];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** A real RGB PNG of one colour (with a diagonal so images of one colour still differ by size). */
export function png(width: number, height: number, color: Rgb = { r: 200, g: 120, b: 80 }): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  ihdr[10] = 0;
  ihdr[11] = 0;
  ihdr[12] = 0;
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const i = row + 1 + x * 3;
      const onDiagonal = x === y;
      raw[i] = onDiagonal ? 255 - color.r : color.r;
      raw[i + 1] = onDiagonal ? 255 - color.g : color.g;
      raw[i + 2] = onDiagonal ? 255 - color.b : color.b;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG of noise (deflate cannot shrink it): about width * height * 3 bytes. */
export function noisyPng(width: number, height: number, seed = 1): Buffer {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) & 0xff;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3);
    for (let i = 1; i <= width * 3; i++) raw[row + i] = next();
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 1 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export interface DecodedInfo {
  format: 'png' | 'jpeg' | 'webp';
  width: number;
  height: number;
}

function decodePng(buf: Buffer): DecodedInfo {
  let offset = 8;
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  let colourType = 0;
  const idat: Buffer[] = [];
  let sawEnd = false;
  while (offset + 8 <= buf.length) {
    const length = buf.readUInt32BE(offset);
    const type = buf.toString('ascii', offset + 4, offset + 8);
    const data = buf.subarray(offset + 8, offset + 8 + length);
    const crc = buf.readUInt32BE(offset + 8 + length);
    if (crc32(buf.subarray(offset + 4, offset + 8 + length)) !== crc) {
      throw new Error(`PNG: bad CRC in ${type}`);
    }
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      bitDepth = data[8] ?? 0;
      colourType = data[9] ?? 0;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    offset += 12 + length;
  }
  if (!sawEnd || width === 0 || height === 0) throw new Error('PNG: truncated');
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colourType];
  if (channels === undefined) throw new Error(`PNG: colour type ${colourType}`);
  const rowBytes = Math.ceil((width * channels * bitDepth) / 8);
  const pixels = inflateSync(Buffer.concat(idat));
  if (pixels.length !== height * (1 + rowBytes)) throw new Error('PNG: pixel data size mismatch');
  return { format: 'png', width, height };
}

function decodeJpeg(buf: Buffer): DecodedInfo {
  if (buf[buf.length - 2] !== 0xff || buf[buf.length - 1] !== 0xd9) {
    throw new Error('JPEG: no EOI marker at the end');
  }
  let offset = 2;
  while (offset + 4 <= buf.length) {
    if (buf[offset] !== 0xff) throw new Error(`JPEG: expected a marker at ${offset}`);
    const marker = buf[offset + 1] ?? 0;
    if (marker === 0xff) {
      offset++;
      continue;
    }
    const length = buf.readUInt16BE(offset + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      const height = buf.readUInt16BE(offset + 5);
      const width = buf.readUInt16BE(offset + 7);
      if (width === 0 || height === 0) throw new Error('JPEG: zero size');
      return { format: 'jpeg', width, height };
    }
    offset += 2 + length;
  }
  throw new Error('JPEG: no SOF marker');
}

function decodeWebp(buf: Buffer): DecodedInfo {
  if (buf.readUInt32LE(4) + 8 !== buf.length) throw new Error('WebP: RIFF size mismatch');
  const kind = buf.toString('ascii', 12, 16);
  if (kind === 'VP8 ') {
    return {
      format: 'webp',
      width: buf.readUInt16LE(26) & 0x3fff,
      height: buf.readUInt16LE(28) & 0x3fff,
    };
  }
  if (kind === 'VP8L') {
    const bits = buf.readUInt32LE(21);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (kind === 'VP8X') {
    return {
      format: 'webp',
      width: buf.readUIntLE(24, 3) + 1,
      height: buf.readUIntLE(27, 3) + 1,
    };
  }
  throw new Error(`WebP: unknown chunk ${kind}`);
}

/** Checks an image's structure (PNG fully inflated, JPEG/WebP headers) and reads its size. */
export function decodeImage(buf: Buffer): DecodedInfo {
  if (buf.length > 8 && buf.readUInt32BE(0) === 0x89504e47) return decodePng(buf);
  if (buf.length > 4 && buf[0] === 0xff && buf[1] === 0xd8) return decodeJpeg(buf);
  if (buf.length > 16 && buf.toString('ascii', 0, 4) === 'RIFF') return decodeWebp(buf);
  throw new Error('not a PNG, JPEG or WebP image');
}

export function sha256(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const part of stream as AsyncIterable<Buffer>) chunks.push(part);
  return Buffer.concat(chunks);
}

/** Polls (every `intervalMs`) until the task is COMPLETED or FAILED. */
export async function waitForTask(
  client: FitRoomClient,
  taskId: string,
  { intervalMs = 50, maxPolls = 400 } = {},
): Promise<Task> {
  for (let i = 0; i < maxPolls; i++) {
    const task = await client.getTask(taskId);
    if (task.status === 'COMPLETED' || task.status === 'FAILED') return task;
    await sleep(intervalMs);
  }
  throw new Error(`task ${taskId} did not finish after ${maxPolls} polls`);
}

/** Catches the rejection of `promise` (failing if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

export { startSim, sleep };
