import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createTestBucket, freePort, testS3 } from '@tryon/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createStorage, StorageError, type S3StorageConfig } from '../src/index.js';

function s3Config(overrides: Partial<S3StorageConfig> = {}): S3StorageConfig {
  const s3 = testS3();
  return {
    driver: 's3',
    bucket: 'unused',
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    checksum: s3.checksum,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<StorageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  return error as StorageError;
}

describe('s3 driver when S3 is unreachable', () => {
  it('a closed port: every call rejects with a retryable StorageError, quickly', async () => {
    const port = await freePort(); // bound and released: nothing listens there now
    const storage = createStorage(
      s3Config({ endpoint: `http://127.0.0.1:${port}`, requestTimeoutMs: 2_000 }),
    );
    try {
      const started = Date.now();
      const calls: Promise<StorageError>[] = [
        storage.put('results/b/i.png', Buffer.from('x'), { contentType: 'image/png' }),
        storage.put('results/b/j.png', Readable.from([Buffer.from('streamed')]), {
          contentType: 'image/png',
        }),
        storage.get('results/b/i.png'),
        storage.head('results/b/i.png'),
        storage.exists('results/b/i.png'),
        storage.delete('results/b/i.png'),
        storage.check(),
      ].map(failure);
      for (const error of await Promise.all(calls)) {
        expect(error.retryable).toBe(true);
        expect(error.code).toBe('unavailable');
        expect(error.message).toContain('ECONNREFUSED');
      }
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      storage.close();
    }
  });

  describe('a server that accepts connections and never answers', () => {
    const sockets = new Set<Socket>();
    let server: Server;
    let port: number;

    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    it('times out per attempt and rejects with a retryable timeout', async () => {
      server = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.resume(); // read and ignore
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      port = typeof address === 'object' && address ? address.port : 0;

      const storage = createStorage(
        s3Config({ endpoint: `http://127.0.0.1:${port}`, requestTimeoutMs: 300, maxAttempts: 2 }),
      );
      try {
        const started = Date.now();
        const errors = await Promise.all([
          failure(storage.head('results/b/i.png')),
          failure(storage.put('results/b/i.png', Buffer.from('x'), { contentType: 'image/png' })),
          failure(storage.check()),
        ]);
        for (const error of errors) {
          expect(error.retryable).toBe(true);
          expect(error.code).toBe('timeout');
        }
        // 2 attempts x 300 ms plus backoff, nowhere near the 30 s default
        expect(Date.now() - started).toBeLessThan(3_000);
      } finally {
        storage.close();
      }
    });
  });
});

describe('s3 driver against the test server', () => {
  it('check() on a missing bucket: a non-retryable no_such_bucket', async () => {
    const storage = createStorage(s3Config({ bucket: 'no-such-bucket-here' }));
    try {
      const error = await failure(storage.check());
      expect(error.code).toBe('no_such_bucket');
      expect(error.retryable).toBe(false);
    } finally {
      storage.close();
    }
  });

  it('a presigned URL stops working after its TTL', async () => {
    const bucket = await createTestBucket('storage-ttl');
    const storage = createStorage(s3Config({ bucket }));
    try {
      await storage.put('results/b/ttl.png', Buffer.from('short-lived'), {
        contentType: 'image/png',
      });
      // Signed the same way, one for 1 s and one for an hour: once the first has expired, the
      // second still opens, so its 403 is the TTL and not a bad signature. (Fetching the 1 s
      // link before it expires was a race on a loaded machine.)
      const short = await storage.presignedUrl('results/b/ttl.png', 1);
      const long = await storage.presignedUrl('results/b/ttl.png', 3_600);
      await sleep(2_100);
      expect((await fetch(short!)).status).toBe(403);
      expect((await fetch(long!)).status).toBe(200);
      await expect(storage.presignedUrl('results/b/ttl.png', 0)).rejects.toMatchObject({
        code: 'invalid_argument',
      });
      await expect(storage.presignedUrl('results/b/ttl.png', 8 * 86_400)).rejects.toMatchObject({
        code: 'invalid_argument',
      });
    } finally {
      storage.close();
    }
  });

  it('presigned URLs sign only the host header, even with the default checksum mode', async () => {
    const storage = createStorage(s3Config({ checksum: 'when_supported' }));
    try {
      const url = new URL((await storage.presignedUrl('results/b/i.png', 60))!);
      expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
      expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    } finally {
      storage.close();
    }
  });

  it('a wrongly stored object (the s3rver checksum trap) is detected by the size check', async () => {
    // Reproduce what the trap stores: a raw streamed PutObject with the SDK defaults. On servers
    // that decode aws-chunked bodies properly this stores the right bytes and the test only
    // checks that head() reports what get() returns.
    const s3 = testS3();
    const bucket = await createTestBucket('storage-trap');
    const raw = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    const storage = createStorage(s3Config({ bucket, checksum: 'when_supported' }));
    try {
      const data = Buffer.alloc(50_000, 7);
      await raw.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'trap.bin',
          Body: Readable.from([data]),
          ContentLength: data.length,
        }),
      );
      const head = await storage.head('trap.bin');
      if (s3.checksum === 'when_required') expect(head!.bytes).not.toBe(data.length);

      // Our put never streams a raw PutObject (lib-storage hands the SDK buffers), so even with
      // the default checksum mode it stores the right bytes on s3rver.
      const info = await storage.put('ours.bin', Readable.from([data]), {
        contentType: 'application/octet-stream',
      });
      expect((await storage.head('ours.bin'))!.bytes).toBe(info.bytes);
    } finally {
      raw.destroy();
      storage.close();
    }
  });

  it('never shows credentials when logged', () => {
    const config = s3Config({ accessKeyId: 'AKIAEXAMPLEKEY', secretAccessKey: 'sekrit/value' });
    const storage = createStorage(config);
    try {
      const shown = [
        inspect(storage, { depth: 10, showHidden: true }),
        JSON.stringify(storage),
      ].join('\n');
      expect(shown).not.toContain('sekrit/value');
      expect(shown).not.toContain('AKIAEXAMPLEKEY');
    } finally {
      storage.close();
    }
  });
});
