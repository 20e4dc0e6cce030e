import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

function randomSuffix(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte % 32];
  return out;
}

export const newBatchId = (): string => `bat_${randomSuffix(20)}`;
export const newItemId = (): string => `itm_${randomSuffix(20)}`;

/** Same bytes, same asset, within one tenant; another tenant's upload of them is its own asset. */
export function assetIdFor(tenantId: string, sha256: string): string {
  return `ast_${createHash('sha256').update(`${tenantId}:${sha256}`).digest('hex').slice(0, 32)}`;
}

export const isAssetId = (value: string): boolean => /^ast_[0-9a-f]{32}$/.test(value);
