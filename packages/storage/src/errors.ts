/**
 * Typed storage errors. Callers branch on the class and on `retryable`: the worker retries a
 * step when `retryable` is true (network failures, timeouts, 5xx, throttling) and fails the
 * item otherwise.
 */
export type StorageErrorCode =
  | 'unavailable' // network failure, connection refused, DNS, 5xx
  | 'timeout' // connect or request timeout
  | 'throttled' // 429 / SlowDown
  | 'access_denied' // 401/403, bad credentials
  | 'no_such_bucket'
  | 'too_large'
  | 'invalid_key'
  | 'invalid_argument'
  | 'integrity' // the server stored something other than what was sent
  | 'io' // local filesystem failure
  | 'unknown';

export interface StorageErrorOptions {
  code: StorageErrorCode;
  retryable: boolean;
  /** The Storage method that failed: put, get, head, ... */
  operation?: string;
  key?: string;
  /** HTTP status of the S3 answer, when there was one. */
  status?: number;
  cause?: unknown;
}

export class StorageError extends Error {
  override readonly name: string = 'StorageError';
  readonly code: StorageErrorCode;
  readonly retryable: boolean;
  readonly operation: string | undefined;
  readonly key: string | undefined;
  readonly status: number | undefined;

  constructor(message: string, options: StorageErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.retryable = options.retryable;
    this.operation = options.operation;
    this.key = options.key;
    this.status = options.status;
  }
}

/** `put` saw more than `maxBytes`; the upload was abandoned and nothing was stored. */
export class ObjectTooLargeError extends StorageError {
  override readonly name = 'ObjectTooLargeError';
  readonly maxBytes: number;

  constructor(key: string, maxBytes: number) {
    super(`object ${JSON.stringify(key)} exceeds the limit of ${maxBytes} bytes`, {
      code: 'too_large',
      retryable: false,
      operation: 'put',
      key,
    });
    this.maxBytes = maxBytes;
  }
}

/** The key is not acceptable: empty, absolute, `..`, control characters, reserved prefix... */
export class InvalidKeyError extends StorageError {
  override readonly name = 'InvalidKeyError';
  readonly reason: string;

  constructor(key: string, reason: string) {
    super(`invalid storage key ${JSON.stringify(key)}: ${reason}`, {
      code: 'invalid_key',
      retryable: false,
      key,
    });
    this.reason = reason;
  }
}

/** True for a StorageError worth retrying later (outage, timeout, throttling). */
export function isRetryableStorageError(error: unknown): boolean {
  return error instanceof StorageError && error.retryable;
}
