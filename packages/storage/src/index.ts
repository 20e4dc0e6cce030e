import { FsStorage } from './fs-storage.js';
import { S3Storage } from './s3-storage.js';
import type { Storage, StorageConfig } from './types.js';

export type {
  FsStorageConfig,
  GetResult,
  HeadResult,
  ObjectInfo,
  PutOptions,
  S3StorageConfig,
  Storage,
  StorageConfig,
} from './types.js';
export {
  InvalidKeyError,
  ObjectTooLargeError,
  StorageError,
  isRetryableStorageError,
  type StorageErrorCode,
  type StorageErrorOptions,
} from './errors.js';
export { assertValidKey, manifestKey, previousResultKey, resultKey } from './keys.js';
export {
  createS3Client,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_PRESIGN_TTL_SECONDS,
  S3Storage,
} from './s3-storage.js';
export { FsStorage } from './fs-storage.js';
export { readVerified, storeVerified, type ContentAddress, type VerifiedRead } from './verified.js';

/** The driver the config names: files under dataDir, or an S3 bucket. */
export function createStorage(config: StorageConfig): Storage {
  switch (config.driver) {
    case 'fs':
      return new FsStorage(config);
    case 's3':
      return new S3Storage(config);
  }
}
