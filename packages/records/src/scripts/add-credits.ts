import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/**
 * KEYS: item, batch, key credits. ARGV: spent field, possibly-spent field, spent delta,
 * possibly-spent delta. Adds a create's credits to its item, its batch and its key at once,
 * so the three always agree. An item or batch already gone (expired) is not brought back.
 */
const ADD_CREDITS = `
local spent = tonumber(ARGV[3])
local possibly = tonumber(ARGV[4])
for i = 1, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if spent ~= 0 then redis.call('HINCRBY', KEYS[i], ARGV[1], spent) end
    if possibly ~= 0 then redis.call('HINCRBY', KEYS[i], ARGV[2], possibly) end
  end
end
if spent ~= 0 then redis.call('HINCRBY', KEYS[3], 'spent', spent) end
if possibly ~= 0 then redis.call('HINCRBY', KEYS[3], 'possibly_spent', possibly) end
return 1
`;

export const addCreditsScript = defineScript<number>({
  name: 'recordsAddCredits',
  numberOfKeys: 3,
  lua: ADD_CREDITS,
});

export function addCredits(
  redis: Redis,
  keys: { item: string; batch: string; keyCredits: string },
  fields: { spent: string; possiblySpent: string },
  delta: { spent: number; possiblySpent: number },
): Promise<number> {
  return addCreditsScript.run(
    redis,
    [keys.item, keys.batch, keys.keyCredits],
    [fields.spent, fields.possiblySpent, delta.spent, delta.possiblySpent],
  );
}

/** KEYS: batch. ARGV: field. Counts one item served from an earlier render, if the batch exists. */
const ADD_SAVED = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
end
return 0
`;

export const addSavedByReuseScript = defineScript<number>({
  name: 'recordsAddSavedByReuse',
  numberOfKeys: 1,
  lua: ADD_SAVED,
});
