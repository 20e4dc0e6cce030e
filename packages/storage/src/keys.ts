import { InvalidKeyError } from './errors.js';

const MAX_KEY_BYTES = 1024;
// C0 controls, DEL, and backslash (a path separator on some systems, an escape in others).
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f\\]/;

/**
 * Throws InvalidKeyError unless `key` is a plain relative path of non-empty segments. Both
 * drivers apply the same rules, so a key that works on one works on the other:
 * no leading or trailing `/`, no empty, `.` or `..` segment, no backslash or control
 * characters, at most 1024 UTF-8 bytes, and the first segment may not start with `.`
 * (the fs driver keeps its temp files and metadata there).
 */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidKeyError(String(key), 'empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new InvalidKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`);
  }
  if (FORBIDDEN_CHARS.test(key)) {
    throw new InvalidKeyError(key, 'contains a backslash or control character');
  }
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'absolute');
  if (/^[A-Za-z]:/.test(key)) throw new InvalidKeyError(key, 'absolute');
  const segments = key.split('/');
  for (const segment of segments) {
    if (segment === '') throw new InvalidKeyError(key, 'empty path segment');
    if (segment === '.' || segment === '..') {
      throw new InvalidKeyError(key, `"${segment}" path segment`);
    }
  }
  if (segments[0]?.startsWith('.')) {
    throw new InvalidKeyError(key, 'first segment may not start with "."');
  }
}

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const SAFE_EXT = /^[A-Za-z0-9]{1,10}$/;

/** `results/{batch_id}/{item_id}.{ext}`, the one place a result is stored (see DESIGN.md). */
export function resultKey(batchId: string, itemId: string, ext: string): string {
  const extension = ext.startsWith('.') ? ext.slice(1) : ext;
  for (const [label, value] of [
    ['batch id', batchId],
    ['item id', itemId],
  ] as const) {
    if (!SAFE_SEGMENT.test(value)) {
      throw new InvalidKeyError(`results/${batchId}/${itemId}.${extension}`, `unsafe ${label}`);
    }
  }
  if (!SAFE_EXT.test(extension)) {
    throw new InvalidKeyError(`results/${batchId}/${itemId}.${extension}`, 'unsafe extension');
  }
  return `results/${batchId}/${itemId}.${extension.toLowerCase()}`;
}

/** `results/{batch_id}/manifest.json`: what a finished batch produced, next to its results. */
export function manifestKey(batchId: string): string {
  if (!SAFE_SEGMENT.test(batchId)) {
    throw new InvalidKeyError(`results/${batchId}/manifest.json`, 'unsafe batch id');
  }
  return `results/${batchId}/manifest.json`;
}

/**
 * `results/{batch_id}/{item_id}.run{n}.{ext}`: an item's result of run n, kept when a re-render
 * replaces it at resultKey.
 */
export function previousResultKey(
  batchId: string,
  itemId: string,
  run: number,
  ext: string,
): string {
  const current = resultKey(batchId, itemId, ext);
  const dot = current.lastIndexOf('.');
  return `${current.slice(0, dot)}.run${Math.max(0, Math.floor(run))}${current.slice(dot)}`;
}
