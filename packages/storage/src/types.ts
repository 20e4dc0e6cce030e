import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  bytes: number;
  /** Lowercase hex sha256 of the stored bytes. */
  sha256: string;
  contentType: string;
}

export interface PutOptions {
  contentType: string;
  /** Reject with ObjectTooLargeError (and store nothing) once the body passes this many bytes. */
  maxBytes?: number;
}

export interface GetResult {
  body: Readable;
  bytes: number;
  contentType: string;
}

export interface HeadResult {
  bytes: number;
  contentType: string;
}

export interface Storage {
  readonly driver: 'fs' | 's3';
  /**
   * Streams body in (never buffers whole files), computing sha256 and byte count on the way.
   * Replaces any object under the same key. Errors raised by the body stream itself are
   * rethrown unchanged; storage failures are StorageError.
   */
  put(key: string, body: Readable | Buffer, opts: PutOptions): Promise<ObjectInfo>;
  /** null when absent. The caller must consume or destroy `body`. */
  get(key: string): Promise<GetResult | null>;
  head(key: string): Promise<HeadResult | null>;
  exists(key: string): Promise<boolean>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** A time-limited URL for the object: S3 presigned GET; the fs driver returns null (the API serves the bytes itself). */
  presignedUrl(key: string, ttlSeconds: number): Promise<string | null>;
  /** Readiness probe: can we reach the bucket / directory? Throws StorageError when not. */
  check(): Promise<void>;
  close(): void;
}

export interface FsStorageConfig {
  driver: 'fs';
  dataDir: string;
}

export interface S3StorageConfig {
  driver: 's3';
  bucket: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** 'when_required' for S3-compatible servers (s3rver) that mishandle the SDK's default checksums. */
  checksum: 'when_supported' | 'when_required';
  /** Both or neither; neither means the SDK's default credential chain. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /**
   * Per request attempt: connect timeout (capped at 10 s), time to the answer's headers, and
   * socket inactivity (which also bounds a stalled download). Default 30000.
   */
  requestTimeoutMs?: number;
  /** Attempts per call, the first included, for network errors, timeouts and 5xx. Default 3. */
  maxAttempts?: number;
}

export type StorageConfig = FsStorageConfig | S3StorageConfig;
