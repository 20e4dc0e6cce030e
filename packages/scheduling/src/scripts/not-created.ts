import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/**
 * KEYS: a budget key's in-flight hash, the item family prefix. Returns how many of its admitted
 * items have no FitRoom task yet (their create is still to come). Read-only.
 */
const NOT_CREATED = `
local count = 0
for _, itemId in ipairs(redis.call('HKEYS', KEYS[1])) do
  local taskId = redis.call('HGET', KEYS[2] .. itemId, 'fitroom_task_id')
  if not taskId or taskId == '' then count = count + 1 end
end
return count
`;

export const notCreatedScript = defineScript<number>({
  name: 'admissionNotCreated',
  numberOfKeys: 2,
  lua: NOT_CREATED,
});

export function notCreatedItems(redis: Redis, keys: RedisKeys, budgetKey: string): Promise<number> {
  return notCreatedScript.run(redis, [keys.admissionInFlight(budgetKey), keys.itemFamily()], []);
}
