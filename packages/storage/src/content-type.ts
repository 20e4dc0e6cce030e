import { contentTypeForName } from '@tryon/domain';
import { StorageError } from './errors.js';

// type/subtype with optional parameters; no CR/LF or other controls (they would end up in headers).
const CONTENT_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[\x20-\x7e]*)?$/;

export function assertContentType(contentType: string): void {
  if (
    typeof contentType !== 'string' ||
    contentType.length > 255 ||
    !CONTENT_TYPE.test(contentType)
  ) {
    throw new StorageError(`invalid content type ${JSON.stringify(contentType)}`, {
      code: 'invalid_argument',
      retryable: false,
    });
  }
}

/** Fallback when no metadata is recorded: by extension, else application/octet-stream. */
export function contentTypeFromKey(key: string): string {
  // Only a key that ends in an extension: a bare `assets/a/jpg` is no JPEG.
  const ext = /\.([A-Za-z0-9]+)$/.exec(key)?.[1];
  return (ext !== undefined ? contentTypeForName(ext) : undefined) ?? 'application/octet-stream';
}
