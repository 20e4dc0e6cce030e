import { defineScript } from '@tryon/redis';

/**
 * A tenant's budget of replayed webhook events: a counter per window that starts with the
 * window's first replay. A replay takes all its events or nothing.
 *
 * KEYS: the tenant's counter. ARGV: events, limit, window ms.
 * Returns [taken (1 or 0), ms until the window ends (when refused)].
 */
const TAKE = `
local events = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used > 0 and used + events > tonumber(ARGV[2]) then
  return {0, redis.call('PTTL', KEYS[1])}
end
local total = redis.call('INCRBY', KEYS[1], events)
if total == events then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return {1, 0}
`;

export const takeReplayBudgetScript = defineScript<[taken: number, retryInMs: number]>({
  name: 'recordsTakeReplayBudget',
  numberOfKeys: 1,
  lua: TAKE,
});
