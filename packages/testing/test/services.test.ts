import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createTestBucket, makeImage, testRedisUrl, testS3, uniqueId } from '../src/index.js';

describe('test services', () => {
  it('gives a Redis that answers, with a key prefix no other run uses', async () => {
    const redis = new Redis(testRedisUrl());
    try {
      const prefix = uniqueId('probe');
      expect(prefix).not.toEqual(uniqueId('probe'));
      await redis.set(`${prefix}:k`, 'v', 'EX', 60);
      expect(await redis.get(`${prefix}:k`)).toBe('v');
    } finally {
      redis.disconnect();
    }
  });

  it('gives an S3 server that stores streamed bytes unchanged', async () => {
    const s3 = testS3();
    const bucket = await createTestBucket();
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation:
        s3.checksum === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      responseChecksumValidation:
        s3.checksum === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    });
    try {
      const body = randomBytes(256 * 1024);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/b.bin', Body: body }));
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'a/b.bin' }));
      const bytes = Buffer.from(await got.Body!.transformToByteArray());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(
        createHash('sha256').update(body).digest('hex'),
      );
    } finally {
      client.destroy();
    }
  });

  it('makes real images of the size and format asked', async () => {
    const png = await makeImage({ width: 40, height: 30, format: 'png' });
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 40, 30]);
    const red = await makeImage({ width: 40, height: 30, color: { r: 255, g: 0, b: 0 } });
    const blue = await makeImage({ width: 40, height: 30, color: { r: 0, g: 0, b: 255 } });
    expect(red.equals(blue)).toBe(false);
  });
});
