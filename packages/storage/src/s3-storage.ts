import { setTimeout as sleep } from 'node:timers/promises';
import { pipeline, Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertContentType } from './content-type.js';
import { ObjectTooLargeError, StorageError, type StorageErrorCode } from './errors.js';
import { assertValidKey } from './keys.js';
import { assertMaxBytes, HashMeter, sha256Hex } from './meter.js';
import type {
  GetResult,
  HeadResult,
  ObjectInfo,
  PutOptions,
  S3StorageConfig,
  Storage,
} from './types.js';

/** How often, and how long apart, a put's size check looks again before it fails. */
const VERIFY_WAITS = 5;
const VERIFY_WAIT_MS = 40;

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_ATTEMPTS = 3;
/** SigV4 presigned URLs live at most 7 days. */
export const MAX_PRESIGN_TTL_SECONDS = 604_800;
/** lib-storage's minimum; bodies smaller than this go up as a single PutObject. */
const PART_SIZE = 5 * 1024 * 1024;
const QUEUE_SIZE = 2;

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const THROTTLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);
const AUTH_NAMES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'CredentialsProviderError',
  'ExpiredToken',
  'InvalidToken',
]);

function classify(error: unknown): { code: StorageErrorCode; retryable: boolean; status?: number } {
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = typeof e.name === 'string' ? e.name : '';
  const sysCode = typeof e.code === 'string' ? e.code : '';
  const status = e.$metadata?.httpStatusCode;
  const withStatus = status !== undefined ? { status } : {};
  if (TIMEOUT_NAMES.has(name) || sysCode === 'ETIMEDOUT' || sysCode === 'ECONNABORTED') {
    return { code: 'timeout', retryable: true, ...withStatus };
  }
  if (status === 429 || THROTTLE_NAMES.has(name)) {
    return { code: 'throttled', retryable: true, ...withStatus };
  }
  if (status !== undefined && status >= 500) {
    return { code: 'unavailable', retryable: true, status };
  }
  if (name === 'NoSuchBucket') return { code: 'no_such_bucket', retryable: false, ...withStatus };
  if (status === 401 || status === 403 || AUTH_NAMES.has(name)) {
    return { code: 'access_denied', retryable: false, ...withStatus };
  }
  // No HTTP answer and a system error code (ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ENOTFOUND,
  // EPIPE, EAI_AGAIN...): the server is unreachable, which is what an outage looks like.
  if (status === undefined && /^E[A-Z_]+$/.test(sysCode)) {
    return { code: 'unavailable', retryable: true };
  }
  if (status === undefined && e.$fault === 'server')
    return { code: 'unavailable', retryable: true };
  return { code: 'unknown', retryable: false, ...withStatus };
}

function s3Error(error: unknown, operation: string, key?: string): StorageError {
  if (error instanceof StorageError) return error;
  const { code, retryable, status } = classify(error);
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const sysCode = typeof e.code === 'string' ? ` ${e.code}` : '';
  const message = typeof e.message === 'string' && e.message ? e.message : String(error);
  return new StorageError(
    `s3 ${operation} failed: ${name}${sysCode}${status !== undefined ? ` (HTTP ${status})` : ''}: ${message}`,
    {
      code,
      retryable,
      operation,
      ...(key !== undefined ? { key } : {}),
      ...(status !== undefined ? { status } : {}),
      cause: error,
    },
  );
}

/** A 404 that means "no such object" (not "no such bucket"). */
function isMissingObject(error: unknown): boolean {
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  if (e.name === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** Builds the S3Client; exported for tests and tools that need the same settings. */
export function createS3Client(config: S3StorageConfig): S3Client {
  const timeout = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new StorageError('requestTimeoutMs must be a positive number', {
      code: 'invalid_argument',
      retryable: false,
    });
  }
  if ((config.accessKeyId === undefined) !== (config.secretAccessKey === undefined)) {
    throw new StorageError('give both accessKeyId and secretAccessKey, or neither', {
      code: 'invalid_argument',
      retryable: false,
    });
  }
  const checksum = config.checksum === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  const options: S3ClientConfig = {
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    maxAttempts: config.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    requestChecksumCalculation: checksum,
    responseChecksumValidation: checksum,
    // Per attempt: connect timeout; time until the answer's headers (for an upload that is
    // one part, at most 5 MB, or one small PutObject); and socket inactivity, which also bounds
    // a download that stalls half way. Without throwOnRequestTimeout this SDK only logs a
    // warning when requestTimeout passes.
    requestHandler: {
      connectionTimeout: Math.min(timeout, 10_000),
      requestTimeout: timeout,
      throwOnRequestTimeout: true,
      socketTimeout: timeout,
    },
  };
  if (config.endpoint) options.endpoint = config.endpoint;
  if (config.accessKeyId !== undefined && config.secretAccessKey !== undefined) {
    options.credentials = {
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
    };
  }
  return new S3Client(options);
}

export class S3Storage implements Storage {
  readonly driver = 's3' as const;
  // ES-private, so neither util.inspect nor JSON.stringify of the storage shows the client
  // (whose config holds the credentials).
  readonly #client: S3Client;
  readonly #bucket: string;

  constructor(config: S3StorageConfig) {
    if (!config.bucket) {
      throw new StorageError('s3 storage needs a bucket', {
        code: 'invalid_argument',
        retryable: false,
      });
    }
    this.#bucket = config.bucket;
    this.#client = createS3Client(config);
  }

  get bucket(): string {
    return this.#bucket;
  }

  async put(key: string, body: Readable | Buffer, opts: PutOptions): Promise<ObjectInfo> {
    assertValidKey(key);
    assertContentType(opts.contentType);
    assertMaxBytes(opts.maxBytes);
    const info = Buffer.isBuffer(body)
      ? await this.putBuffer(key, body, opts)
      : await this.putStream(key, body, opts);
    await this.verifyStored(info);
    return info;
  }

  private async putBuffer(key: string, body: Buffer, opts: PutOptions): Promise<ObjectInfo> {
    if (opts.maxBytes !== undefined && body.length > opts.maxBytes) {
      throw new ObjectTooLargeError(key, opts.maxBytes);
    }
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: opts.contentType,
        }),
      );
    } catch (error) {
      throw s3Error(error, 'put', key);
    }
    return { key, bytes: body.length, sha256: sha256Hex(body), contentType: opts.contentType };
  }

  private async putStream(key: string, body: Readable, opts: PutOptions): Promise<ObjectInfo> {
    const meter = new HashMeter(key, opts.maxBytes);
    // The body's own failure (client went away, download broke) is rethrown unchanged. It is the
    // body's own only if it errors while the meter is still intact: once the meter is destroyed
    // (too large, or the SDK gave up reading), pipeline destroys the body too, with an echo.
    let bodyError: { error: unknown } | undefined;
    const onBodyError = (error: unknown) => {
      if (!meter.destroyed && !meter.tooLarge) bodyError ??= { error };
    };
    body.once('error', onBodyError);
    pipeline(body, meter, () => {
      // outcome observed through the Upload, which reads the meter
    });
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: meter, ContentType: opts.contentType },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      // On failure (too large, body error, S3 error) abort the multipart upload: nothing is left.
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      if (meter.tooLarge) throw new ObjectTooLargeError(key, opts.maxBytes ?? 0);
      if (bodyError) throw bodyError.error;
      meter.destroy(); // stop reading the body, if the SDK had not finished it
      throw s3Error(error, 'put', key);
    }
    body.off('error', onBodyError);
    return { key, bytes: meter.bytes, sha256: meter.sha256, contentType: opts.contentType };
  }

  /**
   * One HEAD after each put: a server that mishandles the SDK's checksum encoding (s3rver with
   * S3_CHECKSUM=when_supported) reports success while storing other bytes. Fail loudly instead.
   * The object is left alone and the error is retryable: on servers that write in place, another
   * writer of the same content-addressed key may simply be mid-write.
   */
  private async verifyStored(info: ObjectInfo): Promise<void> {
    let stored = await this.head(info.key);
    // A writer of the same content-addressed key may be mid-write: give it a moment.
    for (let wait = 0; stored?.bytes !== info.bytes && wait < VERIFY_WAITS; wait++) {
      await sleep(VERIFY_WAIT_MS);
      stored = await this.head(info.key);
    }
    if (stored?.bytes === info.bytes) return;
    throw new StorageError(
      `s3 put stored ${stored ? `${stored.bytes} bytes` : 'nothing'} for ${info.bytes} bytes sent` +
        ' (a concurrent write, or an S3-compatible server that needs S3_CHECKSUM=when_required?)',
      { code: 'integrity', retryable: true, operation: 'put', key: info.key },
    );
  }

  async get(key: string): Promise<GetResult | null> {
    assertValidKey(key);
    let answer;
    try {
      answer = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (error) {
      if (isMissingObject(error)) return null;
      throw s3Error(error, 'get', key);
    }
    // In Node the SDK answers an IncomingMessage, or a checksum-validating Duplex around it.
    const raw: unknown = answer.Body;
    const body =
      raw instanceof Readable
        ? raw
        : raw !== null && typeof raw === 'object' && Symbol.asyncIterator in raw
          ? Readable.from(raw as AsyncIterable<Uint8Array>)
          : undefined;
    if (body === undefined || answer.ContentLength === undefined) {
      body?.destroy();
      throw new StorageError('s3 get: answer without a readable body or content length', {
        code: 'unknown',
        retryable: false,
        operation: 'get',
        key,
      });
    }
    return {
      body,
      bytes: answer.ContentLength,
      contentType: answer.ContentType ?? 'application/octet-stream',
    };
  }

  async head(key: string): Promise<HeadResult | null> {
    assertValidKey(key);
    try {
      const answer = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: key }),
      );
      return {
        bytes: answer.ContentLength ?? 0,
        contentType: answer.ContentType ?? 'application/octet-stream',
      };
    } catch (error) {
      if (isMissingObject(error)) return null;
      throw s3Error(error, 'head', key);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (error) {
      if (isMissingObject(error)) return;
      throw s3Error(error, 'delete', key);
    }
  }

  async presignedUrl(key: string, ttlSeconds: number): Promise<string | null> {
    assertValidKey(key);
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_PRESIGN_TTL_SECONDS) {
      throw new StorageError(
        `ttlSeconds must be an integer from 1 to ${MAX_PRESIGN_TTL_SECONDS}, got ${ttlSeconds}`,
        { code: 'invalid_argument', retryable: false, operation: 'presignedUrl', key },
      );
    }
    try {
      return await getSignedUrl(
        this.#client,
        new GetObjectCommand({ Bucket: this.#bucket, Key: key }),
        { expiresIn: ttlSeconds },
      );
    } catch (error) {
      throw s3Error(error, 'presignedUrl', key);
    }
  }

  async check(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }));
    } catch (error) {
      const failure = s3Error(error, 'check');
      if (failure.status === 404) {
        throw new StorageError(`s3 bucket ${JSON.stringify(this.#bucket)} does not exist`, {
          code: 'no_such_bucket',
          retryable: false,
          operation: 'check',
          status: 404,
          cause: error,
        });
      }
      throw failure;
    }
  }

  close(): void {
    this.#client.destroy();
  }
}
