import { randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertContentType, contentTypeFromKey } from './content-type.js';
import { InvalidKeyError, ObjectTooLargeError, StorageError } from './errors.js';
import { assertValidKey } from './keys.js';
import { assertMaxBytes, HashMeter } from './meter.js';
import type {
  FsStorageConfig,
  GetResult,
  HeadResult,
  ObjectInfo,
  PutOptions,
  Storage,
} from './types.js';

/** Where the driver keeps in-progress writes; same filesystem as the objects, so rename is atomic. */
const TMP_DIR = '.tmp';
/** Sidecar metadata (content type, size, sha256) mirrors the object tree under here. */
const META_DIR = '.meta';

interface Sidecar {
  contentType: string;
  bytes: number;
  sha256: string;
}

const RETRYABLE_FS_CODES = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR']);
const MISSING_FS_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = error.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function isMissing(error: unknown): boolean {
  const code = errnoCode(error);
  return code !== undefined && MISSING_FS_CODES.has(code);
}

function fsError(error: unknown, operation: string, key?: string): StorageError {
  if (error instanceof StorageError) return error;
  const code = errnoCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  return new StorageError(`fs storage ${operation} failed: ${detail}`, {
    code: 'io',
    retryable: code !== undefined && RETRYABLE_FS_CODES.has(code),
    operation,
    ...(key !== undefined ? { key } : {}),
    cause: error,
  });
}

/** Objects live at `{dataDir}/{key}`, so the tree is browsable and `results/...` is where DESIGN says. */
export class FsStorage implements Storage {
  readonly driver = 'fs' as const;
  private readonly root: string;

  constructor(config: Pick<FsStorageConfig, 'dataDir'>) {
    if (!config.dataDir)
      throw new StorageError('fs storage needs a dataDir', {
        code: 'invalid_argument',
        retryable: false,
      });
    this.root = resolve(config.dataDir);
  }

  /** Absolute paths of the object and its sidecar; refuses keys that would leave the root. */
  private paths(key: string): { file: string; meta: string } {
    assertValidKey(key);
    const segments = key.split('/');
    const file = resolve(this.root, ...segments);
    // The sidecar tree mirrors the object tree exactly, so it can only collide where objects do.
    const meta = resolve(this.root, META_DIR, ...segments);
    if (!file.startsWith(this.root + sep) || !meta.startsWith(this.root + sep)) {
      throw new InvalidKeyError(key, 'escapes the data directory');
    }
    return { file, meta };
  }

  async put(key: string, body: Readable | Buffer, opts: PutOptions): Promise<ObjectInfo> {
    const { file, meta } = this.paths(key);
    assertContentType(opts.contentType);
    assertMaxBytes(opts.maxBytes);
    if (Buffer.isBuffer(body) && opts.maxBytes !== undefined && body.length > opts.maxBytes) {
      throw new ObjectTooLargeError(key, opts.maxBytes);
    }

    const tmpDir = join(this.root, TMP_DIR);
    const tmpFile = join(tmpDir, `${randomUUID()}.part`);
    const tmpMeta = `${tmpFile}.meta`;
    try {
      await mkdir(tmpDir, { recursive: true });
      // flush: fsync before close, so the rename below never publishes a file whose bytes are
      // still only in the page cache.
      const sink = createWriteStream(tmpFile, { flags: 'wx', mode: 0o644, flush: true });
      const meter = await streamInto(key, body, opts.maxBytes, sink);
      const sidecar: Sidecar = {
        contentType: opts.contentType,
        bytes: meter.bytes,
        sha256: meter.sha256,
      };
      await writeDurable(tmpMeta, JSON.stringify(sidecar));
      await mkdir(dirname(file), { recursive: true });
      await mkdir(dirname(meta), { recursive: true });
      // Sidecar first: a crash between the two renames leaves the previous object (if any) with
      // a sidecar whose size does not match it, which readSidecar detects and ignores.
      await rename(tmpMeta, meta);
      await rename(tmpFile, file);
      return { key, bytes: meter.bytes, sha256: meter.sha256, contentType: opts.contentType };
    } catch (error) {
      await Promise.allSettled([rm(tmpFile, { force: true }), rm(tmpMeta, { force: true })]);
      if (error instanceof BodyError) throw error.original;
      throw fsError(error, 'put', key);
    }
  }

  private async readSidecar(key: string, meta: string, bytes: number): Promise<string> {
    try {
      const parsed = JSON.parse(await readFile(meta, 'utf8')) as Partial<Sidecar>;
      if (typeof parsed.contentType === 'string' && parsed.bytes === bytes) {
        return parsed.contentType;
      }
    } catch {
      // missing or unreadable sidecar: fall through to the extension
    }
    return contentTypeFromKey(key);
  }

  async get(key: string): Promise<GetResult | null> {
    const { file, meta } = this.paths(key);
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw fsError(error, 'get', key);
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) {
        await handle.close();
        return null;
      }
      const contentType = await this.readSidecar(key, meta, info.size);
      // The open handle keeps the bytes readable even if the key is replaced or deleted meanwhile.
      const body = handle.createReadStream();
      return { body, bytes: info.size, contentType };
    } catch (error) {
      await handle.close().catch(() => {});
      throw fsError(error, 'get', key);
    }
  }

  async head(key: string): Promise<HeadResult | null> {
    const { file, meta } = this.paths(key);
    let info;
    try {
      info = await stat(file);
    } catch (error) {
      if (isMissing(error)) return null;
      throw fsError(error, 'head', key);
    }
    if (!info.isFile()) return null;
    return { bytes: info.size, contentType: await this.readSidecar(key, meta, info.size) };
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async delete(key: string): Promise<void> {
    const { file, meta } = this.paths(key);
    for (const path of [file, meta]) {
      try {
        await unlink(path);
      } catch (error) {
        if (!isMissing(error)) throw fsError(error, 'delete', key);
      }
    }
  }

  presignedUrl(key: string, _ttlSeconds: number): Promise<string | null> {
    this.paths(key);
    return Promise.resolve(null);
  }

  async check(): Promise<void> {
    try {
      await mkdir(join(this.root, TMP_DIR), { recursive: true });
      await access(this.root, constants.R_OK | constants.W_OK | constants.X_OK);
      await access(join(this.root, TMP_DIR), constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (error) {
      throw fsError(error, 'check');
    }
  }

  close(): void {}
}

/** Wraps an error raised by the caller's body stream, so it is rethrown unchanged. */
class BodyError extends Error {
  constructor(readonly original: unknown) {
    super('the body stream failed');
  }
}

/**
 * Pipes body through a HashMeter into sink. Rejects with ObjectTooLargeError past maxBytes,
 * with BodyError when the body stream failed first, else with the sink's error.
 */
async function streamInto(
  key: string,
  body: Readable | Buffer,
  maxBytes: number | undefined,
  sink: NodeJS.WritableStream & NodeJS.EventEmitter,
): Promise<HashMeter> {
  const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
  const meter = new HashMeter(key, maxBytes);
  let origin: 'body' | 'sink' | undefined;
  const onBodyError = () => {
    origin ??= 'body';
  };
  const onSinkError = () => {
    origin ??= 'sink';
  };
  source.once('error', onBodyError);
  sink.once('error', onSinkError);
  try {
    await pipeline(source, meter, sink);
  } catch (error) {
    // (the once-listeners stay attached: a destroyed stream may still emit a late 'error')
    if (meter.tooLarge) throw new ObjectTooLargeError(key, maxBytes ?? 0);
    if (origin === 'body') throw new BodyError(error);
    throw error;
  }
  source.off('error', onBodyError);
  sink.off('error', onSinkError);
  return meter;
}

async function writeDurable(path: string, data: string): Promise<void> {
  const handle = await open(path, 'wx', 0o644);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}
