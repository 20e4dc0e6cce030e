import { StorageError } from './errors.js';
import { sha256Hex } from './meter.js';
import type { Storage } from './types.js';

/** What a content-addressed object must be: its address names its sha256 and size. */
export interface ContentAddress {
  sha256: string;
  bytes: number;
}

export type VerifiedRead =
  | { status: 'ok'; data: Buffer; contentType: string }
  | { status: 'missing' }
  /** The bytes read are not the object the key names: cut short, or mid-overwrite. */
  | { status: 'mismatch'; read: ContentAddress };

/**
 * Reads a content-addressed object whole and checks its size and sha256 against its address
 * before anyone may use it. A read that returned fewer bytes than the object (a connection cut,
 * a server writing the object in place while we read, as s3rver does) or bytes of another
 * object is a `mismatch`, never data.
 */
export async function readVerified(
  storage: Storage,
  key: string,
  expected: ContentAddress,
): Promise<VerifiedRead> {
  const object = await storage.get(key);
  if (!object) return { status: 'missing' };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of object.body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > expected.bytes) {
      // Longer than its address says: not the object; stop reading it.
      object.body.destroy();
      return { status: 'mismatch', read: { sha256: '', bytes: size } };
    }
    chunks.push(buffer);
  }
  const data = Buffer.concat(chunks);
  const sha256 = sha256Hex(data);
  if (data.length !== expected.bytes || sha256 !== expected.sha256) {
    return { status: 'mismatch', read: { sha256, bytes: data.length } };
  }
  return { status: 'ok', data, contentType: object.contentType };
}

/**
 * Stores `data` under its content-addressed `key` unless an intact copy is there already, then
 * reads it back: resolves only once the stored object is verified. Throws a retryable
 * StorageError (code `integrity`) when the read-back does not match (someone else is writing
 * the same key right now, or the server stored other bytes).
 */
export async function storeVerified(
  storage: Storage,
  key: string,
  data: Buffer,
  contentType: string,
): Promise<void> {
  const expected: ContentAddress = { sha256: sha256Hex(data), bytes: data.length };
  if ((await readVerified(storage, key, expected)).status === 'ok') return;
  await storage.put(key, data, { contentType });
  const back = await readVerified(storage, key, expected);
  if (back.status === 'ok') return;
  throw new StorageError(
    `${key} read back ${back.status === 'missing' ? 'as missing' : `as ${back.read.bytes} bytes of another content`} after a put of ${expected.bytes} bytes`,
    { code: 'integrity', retryable: true, operation: 'put', key },
  );
}
