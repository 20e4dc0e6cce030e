import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/**
 * Lua scripts of the shared FitRoom budget. Each runs atomically in Redis and reads Redis's own
 * clock (TIME), so worker processes on different machines agree on "now" without synced clocks.
 *
 * One sorted set per API key holds the slots: member = token id, score = the moment (ms) the slot
 * frees. A slot taken for a request is held until `holdMs` (window + request timeout) because we
 * cannot know when the server will count the request; when the answer arrives the slot is moved
 * to answer time + window. FitRoom counts a request somewhere between our take and its answer,
 * so our slot always outlives FitRoom's entry for it: we can never hold fewer slots than FitRoom
 * counts, hence never overflow its rolling window. A request that waits after its take (the
 * create gate) restarts its hold when it is sent (hold-from-now.ts), so the bound holds from the
 * send, however long the wait.
 *
 * The slots' free times are read against Redis's TIME, a wall clock: if it steps forward (an NTP
 * correction, a resumed VM), every slot would free early by the step while FitRoom, whose window
 * runs on its own clock, still counts them, and a burst would get 429s. The caller passes the
 * time it expects TIME to read (its monotonic clock plus the offset it learned); when TIME is
 * ahead by more than a tolerance, every slot is moved later by the difference, once per step
 * (the step is remembered for a while, so that other processes noticing it do not move them again).
 *
 * Waiting requests may be served by kind, polls or others (creates, input checks): while the key's
 * "first" marker names a kind, the other kind is granted only the slots left by the first kind's
 * waiters; without it, whoever asks first. A waiting request of the first kind is listed in its
 * kind's waiting set (member: its waiter id, score: when the listing lapses unless renewed by its
 * next try); without a marker nothing is written for a wait. The admitter sets the marker at the
 * end of a line (see closingTasks and createsFirst in @tryon/scheduling): polls first while the
 * line closes in rounds (a window of polls spent on polls, not half on creates the budget cannot
 * poll before the next window), then creates first once the next window is the last but one (no
 * create pushed into the last window by polls that can wait for it).
 */

/**
 * KEYS: slots, pause, clock step, waiting polls, waiting others, first-kind marker.
 * ARGV: limit, holdMs, tokenId, a pause reason that does not stop this request ('' for none),
 * the TIME expected in ms (0: unknown), the tolerance in ms, how long a step is remembered in
 * ms, the request's waiter id (stable across its tries; '' for a single try, never listed),
 * its kind ('poll' or 'other'), how long a listing lasts without a new try, in ms.
 * Returns [granted, waitMs, paused, now, slots moved by ms].
 */
const LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expected = tonumber(ARGV[5])
local tolerance = tonumber(ARGV[6])
local moved = 0
if expected > 0 and now - expected > tolerance then
  local step = now - expected
  local last = redis.call('GET', KEYS[3])
  if not last or math.abs(tonumber(last) - step) > tolerance then
    local slots = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
    for i = 1, #slots, 2 do
      redis.call('ZADD', KEYS[1], tonumber(slots[i + 1]) + step, slots[i])
    end
    if #slots > 0 then
      redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + step)
    end
    redis.call('SET', KEYS[3], step, 'PX', ARGV[7])
    moved = step
  end
end
local pausedFor = redis.call('PTTL', KEYS[2])
if pausedFor > 0 and (ARGV[4] == '' or redis.call('GET', KEYS[2]) ~= ARGV[4]) then
  return {0, pausedFor, 1, now, moved}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
local holdMs = tonumber(ARGV[2])
local waiter = ARGV[8]
local mine = ARGV[9] == 'poll' and KEYS[4] or KEYS[5]
local listTtl = tonumber(ARGV[10])
local order = redis.call('GET', KEYS[6])
local firstKind = nil
if order == 'poll' then firstKind = KEYS[4] elseif order == 'other' then firstKind = KEYS[5] end
local used = redis.call('ZCARD', KEYS[1])
local free = limit - used
if firstKind and mine ~= firstKind then
  redis.call('ZREMRANGEBYSCORE', firstKind, '-inf', now)
  free = free - redis.call('ZCARD', firstKind)
end
if free > 0 then
  redis.call('ZADD', KEYS[1], now + holdMs, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], holdMs)
  if waiter ~= '' then redis.call('ZREM', mine, waiter) end
  return {1, 0, 0, now, moved}
end
-- Only the kind that goes first is counted, so only its waiters are listed.
if waiter ~= '' and mine == firstKind then
  redis.call('ZADD', mine, now + listTtl, waiter)
  redis.call('PEXPIRE', mine, listTtl)
end
if used < limit then
  -- A free slot the waiters of the other kind will take within their next try.
  return {0, math.ceil(listTtl / 4), 0, now, moved}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now, 0, now, moved}
`;

export type AcquireReply = [
  granted: number,
  waitMs: number,
  paused: number,
  now: number,
  movedMs: number,
];

export const acquireScript = defineScript<AcquireReply>({
  name: 'rateLimiterAcquire',
  numberOfKeys: 6,
  lua: LUA,
});

export function acquireSlot(
  redis: Redis,
  keys: {
    slots: string;
    pause: string;
    clockStep: string;
    waitingPolls: string;
    waitingOthers: string;
    first: string;
  },
  args: {
    limit: number;
    holdMs: number;
    tokenId: string;
    pauseIgnored?: string;
    /** What TIME should read now, in ms; 0 when not known yet. */
    expectedNow?: number;
    toleranceMs?: number;
    stepMemoryMs?: number;
    /** The request's id while it waits, stable across its tries; none: a try that is not listed. */
    waiter?: string;
    kind?: 'poll' | 'other';
    /** How long a waiter stays listed without a new try. */
    listTtlMs?: number;
  },
): Promise<AcquireReply> {
  return acquireScript.run(
    redis,
    [keys.slots, keys.pause, keys.clockStep, keys.waitingPolls, keys.waitingOthers, keys.first],
    [
      args.limit,
      args.holdMs,
      args.tokenId,
      args.pauseIgnored ?? '',
      Math.floor(args.expectedNow ?? 0),
      args.toleranceMs ?? 0,
      args.stepMemoryMs ?? 1,
      args.waiter ?? '',
      args.kind ?? 'other',
      Math.max(1, Math.ceil(args.listTtlMs ?? 1_000)),
    ],
  );
}
