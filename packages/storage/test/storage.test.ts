import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createTestBucket, makeImage, testS3 } from '@tryon/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createStorage,
  InvalidKeyError,
  ObjectTooLargeError,
  StorageError,
  type Storage,
} from '../src/index.js';

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A stream of `data` in uneven chunks, produced lazily like a network body. */
function chunked(data: Buffer, chunkSize = 64 * 1024 + 7): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < data.length; offset += chunkSize) {
        yield data.subarray(offset, Math.min(offset + chunkSize, data.length));
      }
    })(),
    { objectMode: false },
  );
}

/** An endless-enough stream that never materialises its whole content. */
function generated(
  totalBytes: number,
  chunkSize = 256 * 1024,
  onChunk: (chunk: Buffer) => void = () => {},
): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= totalBytes) {
        this.push(null);
        return;
      }
      const size = Math.min(chunkSize, totalBytes - sent);
      sent += size;
      const chunk = randomBytes(size);
      onChunk(chunk);
      this.push(chunk);
    },
  });
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Harness {
  storage: Storage;
  cleanup: () => Promise<void>;
  /** Files left behind in the fs driver's data dir (temp files must not pile up). */
  leftovers?: () => Promise<string[]>;
}

const drivers: { name: 'fs' | 's3'; make: () => Promise<Harness> }[] = [
  {
    name: 'fs',
    make: async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'storage-fs-'));
      return {
        storage: createStorage({ driver: 'fs', dataDir }),
        cleanup: () => rm(dataDir, { recursive: true, force: true }),
        leftovers: () => readdir(join(dataDir, '.tmp')).catch(() => []),
      };
    },
  },
  {
    name: 's3',
    make: async () => {
      const s3 = testS3();
      const bucket = await createTestBucket('storage');
      return {
        storage: createStorage({
          driver: 's3',
          bucket,
          endpoint: s3.endpoint,
          region: s3.region,
          forcePathStyle: s3.forcePathStyle,
          checksum: s3.checksum,
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
          requestTimeoutMs: 10_000,
        }),
        cleanup: async () => {},
      };
    },
  },
];

describe.each(drivers)('$name driver', ({ name, make }) => {
  let harness: Harness;
  let storage: Storage;

  beforeAll(async () => {
    harness = await make();
    storage = harness.storage;
  });
  afterAll(async () => {
    storage.close();
    await harness.cleanup();
  });

  it('reports its driver and passes the readiness check', async () => {
    expect(storage.driver).toBe(name);
    await expect(storage.check()).resolves.toBeUndefined();
  });

  it('round-trips a ~3 MB stream byte for byte', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 12_345);
    const key = 'results/batch-1/item-stream.png';
    const info = await storage.put(key, chunked(data), { contentType: 'image/png' });
    expect(info).toEqual({
      key,
      bytes: data.length,
      sha256: sha256(data),
      contentType: 'image/png',
    });

    const got = await storage.get(key);
    expect(got).not.toBeNull();
    expect(got!.bytes).toBe(data.length);
    expect(got!.contentType).toBe('image/png');
    const back = await readAll(got!.body);
    expect(sha256(back)).toBe(sha256(data));
    expect(back.equals(data)).toBe(true);
  });

  it('round-trips a Buffer (a real JPEG)', async () => {
    const image = await makeImage({ width: 640, height: 480 });
    const key = 'assets/tenant-a/photo.jpg';
    const info = await storage.put(key, image, { contentType: 'image/jpeg' });
    expect(info.bytes).toBe(image.length);
    expect(info.sha256).toBe(sha256(image));

    const got = await storage.get(key);
    const back = await readAll(got!.body);
    expect(sha256(back)).toBe(info.sha256);
    expect(got!.contentType).toBe('image/jpeg');
  });

  it('round-trips a stream larger than one multipart part (~11 MB)', async () => {
    const hash = createHash('sha256');
    // hash what the generator produces without consuming it (a 'data' listener would)
    const source = generated(11 * 1024 * 1024 + 1, 256 * 1024, (chunk) => hash.update(chunk));
    const info = await storage.put('results/batch-1/big.bin', source, {
      contentType: 'application/octet-stream',
    });
    expect(info.bytes).toBe(11 * 1024 * 1024 + 1);
    expect(info.sha256).toBe(hash.digest('hex'));
    const got = await storage.get('results/batch-1/big.bin');
    expect(sha256(await readAll(got!.body))).toBe(info.sha256);
  });

  it('stores an empty body', async () => {
    const info = await storage.put('empty/stream.txt', chunked(Buffer.alloc(0)), {
      contentType: 'text/plain',
    });
    expect(info.bytes).toBe(0);
    expect(info.sha256).toBe(sha256(Buffer.alloc(0)));
    expect(await storage.head('empty/stream.txt')).toEqual({ bytes: 0, contentType: 'text/plain' });
  });

  it('head, exists and delete', async () => {
    const key = 'results/batch-2/item-1.webp';
    const data = randomBytes(1000);
    expect(await storage.exists(key)).toBe(false);
    expect(await storage.head(key)).toBeNull();

    await storage.put(key, data, { contentType: 'image/webp' });
    expect(await storage.exists(key)).toBe(true);
    expect(await storage.head(key)).toEqual({ bytes: 1000, contentType: 'image/webp' });

    await storage.delete(key);
    expect(await storage.exists(key)).toBe(false);
    expect(await storage.get(key)).toBeNull();
    await expect(storage.delete(key)).resolves.toBeUndefined(); // idempotent
  });

  it('get and head of a missing key answer null', async () => {
    expect(await storage.get('results/nope/missing.png')).toBeNull();
    expect(await storage.head('results/nope/missing.png')).toBeNull();
    // a "directory" is not an object either
    await storage.put('dir/child.txt', Buffer.from('x'), { contentType: 'text/plain' });
    expect(await storage.get('dir')).toBeNull();
  });

  it('overwrites an existing key, content type included', async () => {
    const key = 'results/batch-3/item.png';
    await storage.put(key, Buffer.from('first version'), { contentType: 'image/png' });
    const second = randomBytes(5000);
    await storage.put(key, chunked(second, 999), { contentType: 'image/jpeg' });
    const got = await storage.get(key);
    expect(got!.contentType).toBe('image/jpeg');
    expect((await readAll(got!.body)).equals(second)).toBe(true);
  });

  it('keeps keys with spaces and non-ASCII characters', async () => {
    const key = 'assets/tenant b/été photo+1.png';
    await storage.put(key, Buffer.from('spaces'), { contentType: 'image/png' });
    const got = await storage.get(key);
    expect((await readAll(got!.body)).toString()).toBe('spaces');
  });

  it('maxBytes: a stream over the limit rejects with ObjectTooLargeError and stores nothing', async () => {
    const key = 'assets/too-big-stream.bin';
    const error = await storage
      .put(key, generated(3 * 1024 * 1024), { contentType: 'image/png', maxBytes: 1024 * 1024 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectTooLargeError);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as ObjectTooLargeError).maxBytes).toBe(1024 * 1024);
    expect((error as StorageError).retryable).toBe(false);
    expect(await storage.exists(key)).toBe(false);
    if (harness.leftovers) expect(await harness.leftovers()).toEqual([]);
  });

  it('maxBytes: past the first multipart part, the upload is abandoned and nothing is stored', async () => {
    const key = 'assets/too-big-multipart.bin';
    await expect(
      storage.put(key, generated(14 * 1024 * 1024), {
        contentType: 'application/octet-stream',
        maxBytes: 12 * 1024 * 1024,
      }),
    ).rejects.toBeInstanceOf(ObjectTooLargeError);
    expect(await storage.exists(key)).toBe(false);
  });

  it('maxBytes: a Buffer over the limit is refused, one exactly at the limit is stored', async () => {
    await expect(
      storage.put('assets/too-big-buffer.bin', Buffer.alloc(101), {
        contentType: 'image/png',
        maxBytes: 100,
      }),
    ).rejects.toBeInstanceOf(ObjectTooLargeError);
    expect(await storage.exists('assets/too-big-buffer.bin')).toBe(false);

    const atLimit = await storage.put('assets/at-limit.bin', chunked(Buffer.alloc(100, 1), 7), {
      contentType: 'image/png',
      maxBytes: 100,
    });
    expect(atLimit.bytes).toBe(100);
  });

  it('a failing body stream rejects with its own error and stores nothing', async () => {
    const key = 'assets/broken-body.bin';
    const failure = new Error('client went away');
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= 3) {
          this.destroy(failure);
          return;
        }
        sent += 1;
        this.push(randomBytes(100_000));
      },
    });
    const error = await storage
      .put(key, body, { contentType: 'image/png' })
      .catch((e: unknown) => e);
    expect(error).toBe(failure);
    expect(await storage.exists(key)).toBe(false);
    if (harness.leftovers) expect(await harness.leftovers()).toEqual([]);
  });

  it('an unfinished put is invisible: no half object under the key, nothing after it fails', async () => {
    const key = 'results/batch-5/in-progress.png';
    let release: (error: Error) => void = () => {};
    const stalled = new Promise<Error>((resolve) => {
      release = resolve;
    });
    let pushed = 0;
    const body = new Readable({
      read() {
        if (pushed === 0) {
          pushed += 1;
          this.push(randomBytes(1024 * 1024));
          return;
        }
        // then stall, as a slow client would, until the test breaks the connection
        void stalled.then((error) => this.destroy(error));
      },
    });
    const putting = storage.put(key, body, { contentType: 'image/png' }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await storage.exists(key)).toBe(false);
    const crash = new Error('connection reset');
    release(crash);
    expect(await putting).toBe(crash);
    expect(await storage.exists(key)).toBe(false);
  });

  it.each([
    '../escape.png',
    'results/../../escape.png',
    '/etc/passwd',
    'results//double-slash.png',
    'results/./dot.png',
    'trailing/',
    'back\\slash.png',
    'nul\u0000byte',
    '.tmp/reserved',
    '.meta/reserved',
    '',
  ])('refuses the key %j with InvalidKeyError', async (key) => {
    await expect(storage.put(key, Buffer.from('x'), { contentType: 'image/png' })).rejects.toThrow(
      InvalidKeyError,
    );
    await expect(storage.get(key)).rejects.toThrow(InvalidKeyError);
    await expect(storage.head(key)).rejects.toThrow(InvalidKeyError);
    await expect(storage.exists(key)).rejects.toThrow(InvalidKeyError);
    await expect(storage.delete(key)).rejects.toThrow(InvalidKeyError);
  });

  it('refuses a content type that could inject headers', async () => {
    await expect(
      storage.put('assets/x.png', Buffer.from('x'), { contentType: 'image/png\r\nX-Evil: 1' }),
    ).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('presignedUrl: a fetchable, byte-identical URL on s3; null on fs', async () => {
    const image = await makeImage({ width: 300, height: 200, format: 'png' });
    const key = 'results/batch-4/item-presigned.png';
    await storage.put(key, image, { contentType: 'image/png' });
    const url = await storage.presignedUrl(key, 300);
    if (name === 'fs') {
      expect(url).toBeNull();
      return;
    }
    expect(url).toMatch(/^http/);
    const parsed = new URL(url!);
    // Only `host` is signed: a browser or plain fetch can use the URL without extra headers.
    expect(parsed.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    const response = await fetch(url!);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    const back = Buffer.from(await response.arrayBuffer());
    expect(sha256(back)).toBe(sha256(image));
  });
});
