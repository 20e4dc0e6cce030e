import { defineScript } from '@tryon/redis';

/**
 * KEYS: a key, the key whose expiry it shares (when that one has an expiry).
 * Returns the shared key's PTTL.
 */
const SHARE_EXPIRY = `
local left = redis.call('PTTL', KEYS[2])
if left > 0 then redis.call('PEXPIRE', KEYS[1], left) end
return left
`;

export const shareExpiryScript = defineScript<number>({
  name: 'recordsShareExpiry',
  numberOfKeys: 2,
  lua: SHARE_EXPIRY,
});
