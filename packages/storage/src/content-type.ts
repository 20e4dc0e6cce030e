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

const BY_EXTENSION: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  heic: 'image/heic',
  json: 'application/json',
  txt: 'text/plain',
};

/** Fallback when no metadata is recorded: by extension, else application/octet-stream. */
export function contentTypeFromKey(key: string): string {
  const match = /\.([A-Za-z0-9]+)$/.exec(key);
  const ext = match?.[1]?.toLowerCase();
  return (ext !== undefined ? BY_EXTENSION[ext] : undefined) ?? 'application/octet-stream';
}
