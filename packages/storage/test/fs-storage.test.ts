import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createStorage,
  InvalidKeyError,
  manifestKey,
  resultKey,
  StorageError,
  type Storage,
} from '../src/index.js';

describe('fs driver specifics', () => {
  let dataDir: string;
  let storage: Storage;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'storage-fs-only-'));
    storage = createStorage({ driver: 'fs', dataDir: join(dataDir, 'data') });
  });
  afterAll(async () => {
    storage.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  // Writes go to a temp file and are renamed into place, so racing writers never mix. (Not part
  // of the shared suite: s3rver, the test S3 server, writes in place; S3 and MinIO do not.)
  it('concurrent puts to one key: the last complete write wins, never a mix', async () => {
    const key = 'results/batch-6/raced.bin';
    const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    const versions = [randomBytes(2 * 1024 * 1024), randomBytes(2 * 1024 * 1024)];
    const inChunks = (data: Buffer) =>
      Readable.from(
        Array.from({ length: Math.ceil(data.length / 50_000) }, (_, i) =>
          data.subarray(i * 50_000, (i + 1) * 50_000),
        ),
      );
    await Promise.all(
      versions.map((data) =>
        storage.put(key, inChunks(data), { contentType: 'application/octet-stream' }),
      ),
    );
    const stored = await storage.get(key);
    const chunks: Buffer[] = [];
    for await (const chunk of stored!.body) chunks.push(chunk as Buffer);
    expect(versions.map(sha256)).toContain(sha256(Buffer.concat(chunks)));
  });

  it('stores results at DATA_DIR/results/{batch_id}/{item_id}.{ext}', async () => {
    const key = resultKey('batch_1', 'item_9', 'png');
    expect(key).toBe('results/batch_1/item_9.png');
    await storage.put(key, Buffer.from('png bytes'), { contentType: 'image/png' });
    expect(await readFile(join(dataDir, 'data', 'results', 'batch_1', 'item_9.png'), 'utf8')).toBe(
      'png bytes',
    );
  });

  it("keeps a batch's manifest next to its results, and refuses unsafe batch ids", () => {
    expect(manifestKey('bat_1')).toBe('results/bat_1/manifest.json');
    expect(() => manifestKey('../bat_1')).toThrow(InvalidKeyError);
  });

  it('derives the content type from the extension when the sidecar is gone', async () => {
    await storage.put('assets/a/photo.jpg', Buffer.from('jpeg'), { contentType: 'image/jpeg' });
    await unlink(join(dataDir, 'data', '.meta', 'assets', 'a', 'photo.jpg'));
    expect(await storage.head('assets/a/photo.jpg')).toEqual({
      bytes: 4,
      contentType: 'image/jpeg',
    });
    await storage.put('assets/a/blob', Buffer.from('??'), { contentType: 'image/png' });
    await unlink(join(dataDir, 'data', '.meta', 'assets', 'a', 'blob'));
    expect((await storage.head('assets/a/blob'))!.contentType).toBe('application/octet-stream');
  });

  it('ignores a sidecar that does not match the file (crash between the two renames)', async () => {
    await storage.put('assets/b/x.png', Buffer.from('12345'), { contentType: 'image/webp' });
    // what a crash after the sidecar rename of a 3-byte replacement would leave
    await writeFile(
      join(dataDir, 'data', '.meta', 'assets', 'b', 'x.png'),
      JSON.stringify({ contentType: 'text/plain', bytes: 3, sha256: 'x' }),
    );
    expect(await storage.head('assets/b/x.png')).toEqual({ bytes: 5, contentType: 'image/png' });
  });

  it('writes with mode 0644 and leaves no temp files', async () => {
    await storage.put('assets/c/mode.png', Buffer.from('m'), { contentType: 'image/png' });
    const info = await stat(join(dataDir, 'data', 'assets', 'c', 'mode.png'));
    expect(info.mode & 0o777).toBe(0o644 & ~process.umask());
    expect(await readdir(join(dataDir, 'data', '.tmp'))).toEqual([]);
  });

  it('refuses keys that resolve outside the data directory', async () => {
    for (const key of ['../outside.png', 'a/../../outside.png', '/tmp/outside.png', 'C:/x.png']) {
      await expect(
        storage.put(key, Buffer.from('x'), { contentType: 'image/png' }),
      ).rejects.toThrow(InvalidKeyError);
    }
    await expect(stat(join(dataDir, 'outside.png'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('check() fails with a StorageError when the data dir cannot be used', async () => {
    const file = join(dataDir, 'not-a-dir');
    await writeFile(file, 'x');
    const broken = createStorage({ driver: 'fs', dataDir: file });
    const error = await broken.check().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe('io');
    const putError = await broken
      .put('a/b.png', Buffer.from('x'), { contentType: 'image/png' })
      .catch((e: unknown) => e);
    expect(putError).toBeInstanceOf(StorageError);
  });

  it('presignedUrl answers null (the API serves the bytes)', async () => {
    expect(await storage.presignedUrl('results/batch_1/item_9.png', 60)).toBeNull();
  });
});
