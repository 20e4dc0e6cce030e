import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/**
 * Sets (or clears) the review of a completed item of one tenant, atomically with the check of
 * its status and owner: a review can never land on an item a re-render has just reopened.
 * KEYS: item hash. ARGV: tenant id, decision ('' clears it), now (ms).
 * Returns the item's status ('' when it is missing or another tenant's); the review is set only
 * when that status is completed.
 */
const SET_REVIEW = `
local item = KEYS[1]
local fields = redis.call('HMGET', item, 'tenant_id', 'status')
if fields[1] ~= ARGV[1] then return '' end
if fields[2] == 'completed' then
  redis.call('HSET', item, 'review', ARGV[2], 'updated_at', ARGV[3])
end
return fields[2]
`;

export const setReviewScript = defineScript<string>({
  name: 'recordsSetReview',
  numberOfKeys: 1,
  lua: SET_REVIEW,
});

export function setItemReview(
  redis: Redis,
  keys: RedisKeys,
  change: { itemId: string; tenantId: string; decision: string; now: number },
): Promise<string> {
  return setReviewScript.run(
    redis,
    [keys.item(change.itemId)],
    [change.tenantId, change.decision, change.now],
  );
}
