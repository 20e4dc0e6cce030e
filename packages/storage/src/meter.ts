import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ObjectTooLargeError, StorageError } from './errors.js';

/**
 * A pass-through that hashes (sha256) and counts the bytes flowing through it, and fails with
 * ObjectTooLargeError the moment the count passes `maxBytes` (before forwarding that chunk).
 */
export class HashMeter extends Transform {
  bytes = 0;
  tooLarge = false;
  private readonly hash: Hash = createHash('sha256');
  private digest: string | undefined;

  constructor(
    private readonly key: string,
    private readonly maxBytes: number | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.maxBytes !== undefined && this.bytes > this.maxBytes) {
      this.tooLarge = true;
      callback(new ObjectTooLargeError(this.key, this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    callback();
  }

  /** The hex sha256 of everything that passed; only valid once the stream has ended. */
  get sha256(): string {
    if (this.digest === undefined) throw new Error('HashMeter: stream has not ended');
    return this.digest;
  }
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function assertMaxBytes(maxBytes: number | undefined): void {
  if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes < 0)) {
    throw new StorageError(`maxBytes must be a non-negative integer, got ${maxBytes}`, {
      code: 'invalid_argument',
      retryable: false,
    });
  }
}
