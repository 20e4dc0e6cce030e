import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '@tryon/config';
import {
  createTryonQueue,
  createWebhookQueue,
  type TryonQueue,
  type WebhookQueue,
} from '@tryon/queues';
import { Operations, Records, type ItemRecord } from '@tryon/records';
import { createStorage, resultKey, type Storage } from '@tryon/storage';
import { createTestBucket, makeImage, testRedisUrl, testS3, uniqueId } from '@tryon/testing';
import { buildApp, type ApiApp } from '../src/index.js';

export const TOKENS = {
  acme: 'acme-token-0123456789',
  globex: 'globex-token-0123456789',
  admin: 'admin-token-0123456789',
} as const;

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });

export interface TestApp {
  app: ApiApp;
  config: Config;
  redis: Redis;
  records: Records;
  operations: Operations;
  storage: Storage;
  tryonQueue: TryonQueue;
  webhookQueue: WebhookQueue;
  /** Every log line the app wrote, as text. */
  logs: string[];
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Extra environment on top of: a fresh prefix, the test Redis, two tenants and an admin token. */
  env?: Record<string, string>;
  /** Real S3-protocol storage in a fresh bucket (default), or files in a temp dir. */
  storage?: 's3' | 'fs';
}

/** The one way tests build the app: real Redis under a fresh prefix, real storage, app.inject. */
export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tryon-api-test-'));
  const env: Record<string, string> = {
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: uniqueId('api'),
    PUBLIC_URL: 'http://api.test',
    API_TOKENS: `acme:${TOKENS.acme},globex:${TOKENS.globex}`,
    ADMIN_TOKEN: TOKENS.admin,
    WEBHOOK_SECRET: 'test-master-secret-0123456789',
    FITROOM_API_KEYS: 'fitroom-key-one,fitroom-key-two',
    LOG_LEVEL: 'info',
    STORAGE_DRIVER: 'fs',
    DATA_DIR: dataDir,
  };
  if ((options.storage ?? 's3') === 's3') {
    const s3 = testS3();
    Object.assign(env, {
      STORAGE_DRIVER: 's3',
      S3_BUCKET: await createTestBucket('api'),
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: s3.region,
      S3_FORCE_PATH_STYLE: String(s3.forcePathStyle),
      S3_CHECKSUM: s3.checksum,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    });
  }
  Object.assign(env, options.env);
  const config = loadConfig(env);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const storage = createStorage(config.storage);
  const tryonQueue = createTryonQueue(redis, config.prefix);
  const webhookQueue = createWebhookQueue(redis, config.prefix);
  const records = new Records(redis, config.prefix);
  const operations = new Operations(redis, config.prefix);
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const app = buildApp({
    config,
    redis,
    records,
    operations,
    storage,
    tryonQueue,
    webhookQueue,
    logger: { level: 'info', stream },
  });
  await app.ready();
  return {
    app,
    config,
    redis,
    records,
    operations,
    storage,
    tryonQueue,
    webhookQueue,
    logs,
    async close() {
      await app.close();
      await tryonQueue.close();
      await webhookQueue.close();
      storage.close();
      redis.disconnect();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A multipart/form-data body built by hand, so tests control every byte. */
export function multipart(
  files: { field: string; filename: string; contentType?: string; data: Buffer }[],
  fields: Record<string, string> = {},
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----tryon${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
      ),
    );
  }
  for (const file of files) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.filename}"\r\n` +
          `Content-Type: ${file.contentType ?? 'application/octet-stream'}\r\n\r\n`,
      ),
      file.data,
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

/** Public IPv4 literals: URL refs that pass the SSRF check without DNS (tests run on loopback). */
export const PUBLIC_IMAGE_HOST = 'https://93.184.216.34';
export const imageUrl = (name: string) => `${PUBLIC_IMAGE_HOST}/images/${name}.jpg`;

/** Uploads `count` small distinct PNGs (distinct per seed too) as the tenant; their asset ids. */
export async function uploadImages(
  t: Pick<TestApp, 'app'>,
  count: number,
  seed: number,
  token: string = TOKENS.acme,
): Promise<string[]> {
  const files = await Promise.all(
    Array.from({ length: count }, async (_, i) => ({
      field: `f${i}`,
      filename: `f${i}.png`,
      data: await makeImage({
        width: 16,
        height: 16,
        format: 'png',
        color: { r: seed, g: i, b: 200 },
      }),
    })),
  );
  const { payload, headers } = multipart(files);
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/assets',
    headers: { ...headers, ...auth(token) },
    payload,
  });
  if (res.statusCode !== 201) throw new Error(`upload answered ${res.statusCode}: ${res.body}`);
  return res.json<{ assets: { id: string }[] }>().assets.map((a) => a.id);
}

/** Completes a queued item with `image` as its stored result, as the worker would. */
export async function completeItem(
  t: Pick<TestApp, 'records' | 'storage'>,
  item: ItemRecord,
  image: Buffer,
): Promise<{ key: string; bytes: number; sha256: string }> {
  await t.records.transition(item, ['queued'], 'running');
  const stored = await t.storage.put(resultKey(item.batch_id, item.id, 'jpg'), image, {
    contentType: 'image/jpeg',
  });
  await t.records.updateItem(item.id, {
    result: {
      key: stored.key,
      bytes: stored.bytes,
      sha256: stored.sha256,
      content_type: 'image/jpeg',
    },
  });
  await t.records.transition(item, ['running'], 'completed', { completed_at: Date.now() });
  return stored;
}
