/**
 * Lua scripts of the shared FitRoom budget. Each runs atomically in Redis and reads Redis's own
 * clock (TIME), so worker processes on different machines agree on "now" without synced clocks.
 *
 * One sorted set per API key holds the slots: member = token id, score = the moment (ms) the slot
 * frees. A slot taken for a request is held until `holdMs` (window + request timeout) because we
 * cannot know when the server will count the request; when the answer arrives the slot is moved
 * to answer time + window. FitRoom counts a request somewhere between our take and its answer,
 * so our slot always outlives FitRoom's entry for it: we can never hold fewer slots than FitRoom
 * counts, hence never overflow its rolling window.
 */

/** KEYS: slots, pause. ARGV: limit, holdMs, tokenId. Returns [granted, waitMs, paused, now]. */
export const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pausedFor = redis.call('PTTL', KEYS[2])
if pausedFor > 0 then
  return {0, pausedFor, 1, now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
local holdMs = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + holdMs, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], holdMs)
  return {1, 0, 0, now}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now, 0, now}
`;

/** KEYS: slots. ARGV: tokenId, windowMs, holdMs. Moves the slot's expiry to answer time + window. */
export const RELEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry then
  return 0
end
local freeAt = now + tonumber(ARGV[2])
if freeAt < tonumber(expiry) then
  redis.call('ZADD', KEYS[1], 'XX', freeAt, ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

/** KEYS: pause. ARGV: ms, reason. Extends a pause, never shortens one. */
export const PAUSE = `
local current = redis.call('PTTL', KEYS[1])
if current >= tonumber(ARGV[1]) then
  return current
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
return tonumber(ARGV[1])
`;

/** KEYS: slots, pause. Returns [inUse, inFlightUntilAnswer, pausedMs, now]; in-flight = not yet released. */
export const USAGE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local inUse = redis.call('ZCARD', KEYS[1])
local inFlight = redis.call('ZCOUNT', KEYS[1], now + tonumber(ARGV[1]) + 1, '+inf')
return {inUse, inFlight, redis.call('PTTL', KEYS[2]), now}
`;
