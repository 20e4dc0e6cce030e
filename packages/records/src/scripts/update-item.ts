import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/**
 * Sets an item's fields (not its status) only while `run` is the item's current run: a job that
 * outlived its run (a worker paused past its lock, then the batch retried) writes nothing.
 * KEYS: item hash. ARGV: run, now (ms), then field/value pairs (from the item codec).
 * Returns 1 when written, 0 for another run, -1 when the item is gone.
 */
const UPDATE_ITEM = `
local run = redis.call('HGET', KEYS[1], 'run')
if not run then return -1 end
if run ~= ARGV[1] then return 0 end
local fields = {'updated_at', ARGV[2]}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
return 1
`;

export const updateItemScript = defineScript<number>({
  name: 'recordsUpdateItem',
  numberOfKeys: 1,
  lua: UPDATE_ITEM,
});

export function updateItemOfRun(
  redis: Redis,
  keys: RedisKeys,
  itemId: string,
  change: { run: number; now: number; fields: string[] },
): Promise<number> {
  return updateItemScript.run(
    redis,
    [keys.item(itemId)],
    [change.run, change.now, ...change.fields],
  );
}
