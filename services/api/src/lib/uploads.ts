import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { fileTypeFromFile } from 'file-type';
import sharp from 'sharp';
import { assetIdFor, type Asset } from '@tryon/domain';
import type { Records } from '@tryon/records';
import type { Storage } from '@tryon/storage';
import { ApiError } from '../errors.js';
import { MAX_IMAGE_PIXELS, MAX_UPLOAD_FILES } from '../limits.js';

const ACCEPTED = new Set(['image/jpeg', 'image/png', 'image/webp']);

interface ReceivedFile {
  field: string;
  path: string;
  sha256: string;
  bytes: number;
}

interface CheckedFile extends ReceivedFile {
  contentType: string;
  width: number;
  height: number;
}

const fieldName = (name: string): string => JSON.stringify(name.slice(0, 100));

/**
 * POST /v1/assets: every file part is streamed to a temp file while it is hashed (never held
 * in memory), then each is sniffed, decoded far enough to catch truncation and bombs, and
 * only when all of them pass are they stored at `assets/{sha256}` and recorded for the tenant.
 * Answers the assets in the order of the files and whether any was new to the tenant.
 */
export async function receiveAssets(
  request: FastifyRequest,
  deps: { storage: Storage; records: Records; maxBytes: number; tenantId: string },
): Promise<{ assets: Asset[]; created: boolean }> {
  if (!request.isMultipart()) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'send the images as multipart/form-data file fields',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'tryon-upload-'));
  try {
    const received = await receiveFiles(request, dir, deps.maxBytes);
    if (received.length === 0) {
      throw new ApiError(400, 'no_files', 'send at least one image as a multipart file field');
    }
    const checked: CheckedFile[] = [];
    for (const file of received) checked.push(await checkImage(file));

    let created = false;
    const assets: Asset[] = [];
    for (const file of checked) {
      const key = `assets/${file.sha256}`;
      if (!(await deps.storage.exists(key))) {
        await deps.storage.put(key, createReadStream(file.path), { contentType: file.contentType });
      }
      const asset: Asset = {
        id: assetIdFor(deps.tenantId, file.sha256),
        sha256: file.sha256,
        bytes: file.bytes,
        width: file.width,
        height: file.height,
        content_type: file.contentType,
      };
      if (!(await deps.records.getAsset(deps.tenantId, asset.id))) {
        created = true;
        await deps.records.saveAsset(deps.tenantId, { ...asset, storage_key: key });
      }
      assets.push(asset);
    }
    return { assets, created };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function receiveFiles(
  request: FastifyRequest,
  dir: string,
  maxBytes: number,
): Promise<ReceivedFile[]> {
  const files: ReceivedFile[] = [];
  const parts = request.parts({
    limits: {
      fileSize: maxBytes,
      files: MAX_UPLOAD_FILES,
      fields: 20,
      parts: MAX_UPLOAD_FILES + 20,
    },
  });
  try {
    for await (const part of parts) {
      if (part.type === 'field') {
        throw new ApiError(
          400,
          'validation_error',
          `field ${fieldName(part.fieldname)} is not a file: only file fields are accepted`,
        );
      }
      const path = join(dir, String(files.length));
      const hash = createHash('sha256');
      let bytes = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          bytes += chunk.length;
          callback(null, chunk);
        },
      });
      await pipeline(part.file, meter, createWriteStream(path));
      if (part.file.truncated) {
        throw new ApiError(
          413,
          'file_too_large',
          `file field ${fieldName(part.fieldname)} is larger than ${maxBytes} bytes`,
        );
      }
      files.push({ field: part.fieldname, path, sha256: hash.digest('hex'), bytes });
    }
  } catch (error) {
    throw asClientError(error);
  }
  return files;
}

/** Busboy's parse errors carry no status: a malformed multipart body is the client's. */
function asClientError(error: unknown): unknown {
  if (error instanceof ApiError) return error;
  const e = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.statusCode === 'number' || typeof e.code === 'string') return error;
  const message = typeof e.message === 'string' ? e.message : 'malformed multipart body';
  return new ApiError(400, 'invalid_multipart', `malformed multipart body: ${message}`);
}

async function checkImage(file: ReceivedFile): Promise<CheckedFile> {
  const type = await fileTypeFromFile(file.path);
  if (!type || !ACCEPTED.has(type.mime)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      `file field ${fieldName(file.field)} is ${type ? type.mime : 'not a recognised image'}; JPEG, PNG and WebP are accepted`,
    );
  }
  const invalid = (why: string) =>
    new ApiError(422, 'invalid_image', `file field ${fieldName(file.field)} ${why}`);
  let width: number;
  let height: number;
  try {
    // The header only: the pixel limit is checked below, with the dimensions in the message.
    const meta = await sharp(file.path, { limitInputPixels: false }).metadata();
    width = meta.autoOrient.width;
    height = meta.autoOrient.height;
  } catch {
    throw invalid('is not a readable image');
  }
  if (!width || !height) throw invalid('has no dimensions');
  if (width * height > MAX_IMAGE_PIXELS) {
    throw invalid(`is ${width}x${height}: more than ${MAX_IMAGE_PIXELS} pixels`);
  }
  try {
    // Decoding to a thumbnail reads every byte (shrink-on-load keeps it cheap for JPEG): a
    // truncated or corrupt file fails here instead of at FitRoom.
    await sharp(file.path, {
      limitInputPixels: MAX_IMAGE_PIXELS,
      failOn: 'truncated',
      sequentialRead: true,
    })
      .resize(64, 64, { fit: 'inside' })
      .toBuffer();
  } catch (error) {
    const pixelLimit = error instanceof Error && /pixel limit/i.test(error.message);
    throw invalid(
      pixelLimit ? `has more than ${MAX_IMAGE_PIXELS} pixels` : 'is truncated or corrupt',
    );
  }
  return { ...file, contentType: type.mime, width, height };
}
