import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/** KEYS: assigned, the item family prefix. Returns itemId, run, key triples of every admitted item. */
const ASSIGNED = `
local entries = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #entries, 2 do
  out[#out + 1] = entries[i]
  out[#out + 1] = redis.call('HGET', KEYS[2] .. entries[i], 'run') or '0'
  out[#out + 1] = entries[i + 1]
end
return out
`;

export const assignedScript = defineScript<string[]>({
  name: 'admissionAssigned',
  numberOfKeys: 2,
  lua: ASSIGNED,
});

export function assignedItems(redis: Redis, keys: RedisKeys): Promise<string[]> {
  return assignedScript.run(redis, [keys.admissionAssigned(), keys.itemFamily()], []);
}
