import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';
import { ITEM_POSITION_FIELD, type ItemHash } from '../item-codec.js';

/**
 * Writes a chunk of a new batch's items from one compact JSON argument: building the same
 * writes as ten thousand client-side commands costs far more CPU in Node than in Redis.
 * KEYS: the batch's item list, its queued set, the item family prefix.
 * ARGV: JSON array of item hashes (field -> value, from the item codec), each with its id and
 * position. Returns how many were written.
 */
const STORE_ITEMS = `
local items = cjson.decode(ARGV[1])
local positions = {}
for _, item in ipairs(items) do
  local fields = {}
  for field, value in pairs(item) do
    fields[#fields + 1] = field
    fields[#fields + 1] = value
  end
  redis.call('HSET', KEYS[3] .. item.id, unpack(fields))
  positions[#positions + 1] = item.${ITEM_POSITION_FIELD}
  positions[#positions + 1] = item.id
end
redis.call('ZADD', KEYS[1], unpack(positions))
redis.call('ZADD', KEYS[2], unpack(positions))
return #items
`;

export const storeItemsScript = defineScript<number>({
  name: 'recordsStoreItems',
  numberOfKeys: 3,
  lua: STORE_ITEMS,
});

export function storeItems(
  redis: Redis,
  keys: RedisKeys,
  batchId: string,
  items: ItemHash[],
): Promise<number> {
  return storeItemsScript.run(
    redis,
    [keys.batchItems(batchId), keys.batchState(batchId, 'queued'), keys.itemFamily()],
    [JSON.stringify(items)],
  );
}
