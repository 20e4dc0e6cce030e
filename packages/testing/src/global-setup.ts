import type { TestProject } from 'vitest/node';
import { startRedis, startS3, type TestS3 } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    s3: TestS3;
  }
}

/** Starts (or finds) the Redis and S3 server every test file shares, once per run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedis();
  const s3 = await startS3();
  project.provide('redisUrl', redis.value);
  project.provide('s3', s3.value);
  console.log(`test services: redis from ${redis.source}, s3 from ${s3.source}`);
  return async () => {
    await Promise.allSettled([redis.stop(), s3.stop()]);
  };
}
