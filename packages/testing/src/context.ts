import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import type { TestS3 } from './services.js';

export function testRedisUrl(): string {
  return inject('redisUrl');
}

export function testS3(): TestS3 {
  return inject('s3');
}

/** A name no other test run uses: Redis key prefixes, queue names, buckets. */
export function uniqueId(label: string): string {
  return `${label}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A fresh bucket on the test S3 server, so runs never see each other's objects. */
export async function createTestBucket(label = 'test'): Promise<string> {
  const s3 = testS3();
  const bucket = uniqueId(label).toLowerCase();
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}
