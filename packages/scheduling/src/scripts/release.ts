import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/**
 * KEYS: assigned, the in-flight family prefix (+ budget key). ARGV: itemId.
 * Gives the item's slot back. Returns 1 if it held one.
 */
const RELEASE = `
local itemId = ARGV[1]
local key = redis.call('HGET', KEYS[1], itemId)
if not key then return 0 end
redis.call('HDEL', KEYS[2] .. key, itemId)
redis.call('HDEL', KEYS[1], itemId)
return 1
`;

export const releaseScript = defineScript<number>({
  name: 'admissionRelease',
  numberOfKeys: 2,
  lua: RELEASE,
});

export async function releaseItem(redis: Redis, keys: RedisKeys, itemId: string): Promise<boolean> {
  const released = await releaseScript.run(
    redis,
    [keys.admissionAssigned(), keys.admissionInFlightFamily()],
    [itemId],
  );
  return released === 1;
}
