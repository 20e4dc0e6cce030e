import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { fileTypeFromFile } from 'file-type';
import sharp from 'sharp';
import { assetIdFor, WEB_IMAGE_TYPES, type Asset } from '@tryon/domain';
import type { Records } from '@tryon/records';
import type { Storage } from '@tryon/storage';
import { ApiError } from '../errors.js';
import { MAX_IMAGE_PIXELS, MAX_UPLOAD_FILES } from '../limits.js';

export interface ReceivedFile {
  field: string;
  /** A temp file holding the bytes; removed with its directory by the caller. */
  path: string;
  sha256: string;
  bytes: number;
  /** The part's file name as the client sent it, if any. */
  filename?: string | undefined;
}

export interface CheckedFile extends ReceivedFile {
  contentType: string;
  width: number;
  height: number;
}

export interface ReceivedForm {
  files: ReceivedFile[];
  /** First value of each text field (only with `textFields: 'collect'`). */
  fields: Map<string, string>;
  /** Names of every text field sent, kept or not. */
  textFieldNames: Set<string>;
}

export interface ReceiveOptions {
  /** Largest file, bytes: a larger one is a 413 file_too_large. */
  maxBytes: number;
  maxFiles: number;
  maxFields: number;
  /** Text fields are a 400 (POST /v1/assets) or collected, the first value of each name. */
  textFields: 'refuse' | 'collect';
  /**
   * Which file fields to keep (default: all, repeats included). Others, and repeats of a kept
   * name, are read and dropped without touching the disk.
   */
  keepFile?: (field: string) => boolean;
}

const fieldName = (name: string): string => JSON.stringify(name.slice(0, 100));

/** A file in an error message: its field and, when the client sent one, its file name. */
const fileLabel = (file: ReceivedFile): string =>
  `file field ${fieldName(file.field)}` +
  (file.filename ? ` (${JSON.stringify(file.filename.slice(0, 200))})` : '');

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
  return withUploadDir(async (dir) => {
    const { files: received } = await receiveForm(request, dir, {
      maxBytes: deps.maxBytes,
      maxFiles: MAX_UPLOAD_FILES,
      maxFields: 20,
      textFields: 'refuse',
    });
    if (received.length === 0) {
      throw new ApiError(400, 'no_files', 'send at least one image as a multipart file field');
    }
    const checked: CheckedFile[] = [];
    for (const file of received) checked.push(await checkImage(file));

    let created = false;
    const assets: Asset[] = [];
    for (const file of checked) {
      const stored = await storeAsset(file, deps);
      created ||= stored.created;
      assets.push(stored.asset);
    }
    return { assets, created };
  });
}

/** Runs `work` with a fresh temp directory for uploaded files, removed afterwards whatever happens. */
export async function withUploadDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'tryon-upload-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Stores a checked image at `assets/{sha256}` (once, whoever uploads it) and records it as the
 * tenant's asset; `created` when the tenant did not have it yet.
 */
export async function storeAsset(
  file: CheckedFile,
  deps: { storage: Storage; records: Records; tenantId: string },
): Promise<{ asset: Asset; created: boolean }> {
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
  if (await deps.records.getAsset(deps.tenantId, asset.id)) return { asset, created: false };
  await deps.records.saveAsset(deps.tenantId, { ...asset, storage_key: key });
  return { asset, created: true };
}

/**
 * Reads a multipart body: each kept file part is streamed to a temp file in `dir` while it is
 * hashed and counted; text fields are refused or collected.
 */
export async function receiveForm(
  request: FastifyRequest,
  dir: string,
  options: ReceiveOptions,
): Promise<ReceivedForm> {
  const { maxBytes } = options;
  const form: ReceivedForm = { files: [], fields: new Map(), textFieldNames: new Set() };
  const parts = request.parts({
    limits: {
      fileSize: maxBytes,
      files: options.maxFiles,
      fields: options.maxFields,
      parts: options.maxFiles + options.maxFields,
    },
  });
  const kept = new Set<string>();
  try {
    for await (const part of parts) {
      if (part.type === 'field') {
        if (options.textFields === 'refuse') {
          throw new ApiError(
            400,
            'validation_error',
            `field ${fieldName(part.fieldname)} is not a file: only file fields are accepted`,
          );
        }
        form.textFieldNames.add(part.fieldname);
        if (!form.fields.has(part.fieldname)) form.fields.set(part.fieldname, String(part.value));
        continue;
      }
      if (options.keepFile) {
        if (!options.keepFile(part.fieldname) || kept.has(part.fieldname)) {
          await pipeline(part.file, new Writable({ write: (_chunk, _enc, cb) => cb() }));
          continue;
        }
        kept.add(part.fieldname);
      }
      const path = join(dir, String(form.files.length));
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
      form.files.push({
        field: part.fieldname,
        filename: part.filename,
        path,
        sha256: hash.digest('hex'),
        bytes,
      });
    }
  } catch (error) {
    throw asClientError(error, options.maxFiles);
  }
  return form;
}

/** Busboy's parse errors carry no status: a malformed multipart body is the client's. */
function asClientError(error: unknown, maxFiles: number): unknown {
  if (error instanceof ApiError) return error;
  const e = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (e.code === 'FST_FILES_LIMIT') {
    return new ApiError(
      400,
      'too_many_files',
      `at most ${maxFiles} files per request: send the others in further requests`,
    );
  }
  if (typeof e.statusCode === 'number' || typeof e.code === 'string') return error;
  const message = typeof e.message === 'string' ? e.message : 'malformed multipart body';
  return new ApiError(400, 'invalid_multipart', `malformed multipart body: ${message}`);
}

/**
 * Sniffs the bytes (JPEG, PNG or WebP, else 415), reads the dimensions (50 megapixels at most)
 * and decodes a thumbnail to catch truncated or corrupt files (422).
 */
export async function checkImage(file: ReceivedFile): Promise<CheckedFile> {
  const type = await fileTypeFromFile(file.path);
  if (!type || !WEB_IMAGE_TYPES.includes(type.mime)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      `${fileLabel(file)} is ${type ? type.mime : 'not a recognised image'}; JPEG, PNG and WebP are accepted`,
    );
  }
  const invalid = (why: string) => new ApiError(422, 'invalid_image', `${fileLabel(file)} ${why}`);
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
