import type { Redis } from 'ioredis';

/**
 * Batches whose records have no expiry yet (P:batches:live, a sorted set scored by creation
 * time): every batch from its creation until it has finished and its records were given their
 * expiry. Workers sweep it for items whose job vanished and for finished batches left to settle.
 */
export const liveBatchesKey = (prefix: string): string => `${prefix}:batches:live`;

/** Item hashes handled per script call, so a 100,000-item batch never blocks Redis for long. */
const CHUNK = 1_000;

/**
 * Gives a finished batch's records an expiry (never shortening a longer one already set), one
 * chunk of item hashes per call; the last call covers the batch's own keys and drops the batch
 * from the live set. Refuses (-2) once the batch is open again (a retry), -1 when it is gone.
 * KEYS: batch hash. ARGV: prefix, batch id, ttl ms, first item position, chunk size, now ms.
 * Returns the item hashes handled in this chunk, or 0 after the last one.
 */
const EXPIRE_BATCH = `
local batch = KEYS[1]
local P, batchId, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local first, count, now = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local tenant = redis.call('HGET', batch, 'tenant_id')
if not tenant then
  redis.call('ZREM', P .. ':batches:live', batchId)
  return -1
end
if redis.call('HGET', batch, 'completed_at') == '' then return -2 end
local function keep(key)
  local left = redis.call('PTTL', key)
  if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', key, ttl) end
end
local ids = redis.call('ZRANGE', batch .. ':items', first, first + count - 1)
for _, id in ipairs(ids) do keep(P .. ':item:' .. id) end
if #ids == count then return #ids end
for _, suffix in ipairs({':items', ':state:queued', ':state:running', ':state:completed',
    ':state:failed', ':state:cancelled', ':deliveries', ':replays'}) do
  keep(batch .. suffix)
end
-- What admission may have left behind for this batch (see @tryon/scheduling).
keep(P .. ':adm:batch:' .. batchId)
local idempotency = redis.call('HGET', batch, 'idempotency_key')
if idempotency and idempotency ~= '' then
  keep(P .. ':tenant:' .. tenant .. ':idempotency:' .. idempotency)
end
redis.call('HSET', batch, 'expires_at', now + ttl)
keep(batch)
redis.call('ZREM', P .. ':batches:live', batchId)
return 0
`;

/**
 * Takes the expiry off a batch that is open again (retried), one chunk of item hashes per call,
 * and puts it back in the live set. KEYS: batch hash. ARGV: prefix, batch id, first item
 * position, chunk size. Returns the item hashes handled, or 0 after the last chunk.
 */
const KEEP_BATCH = `
local batch = KEYS[1]
local P, batchId = ARGV[1], ARGV[2]
local first, count = tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZRANGE', batch .. ':items', first, first + count - 1)
for _, id in ipairs(ids) do redis.call('PERSIST', P .. ':item:' .. id) end
if #ids == count then return #ids end
for _, suffix in ipairs({'', ':items', ':state:queued', ':state:running', ':state:completed',
    ':state:failed', ':state:cancelled', ':deliveries'}) do
  redis.call('PERSIST', batch .. suffix)
end
if redis.call('HEXISTS', batch, 'expires_at') == 1 then redis.call('HSET', batch, 'expires_at', '') end
local created = redis.call('HGET', batch, 'created_at')
if created then redis.call('ZADD', P .. ':batches:live', 'NX', tonumber(created), batchId) end
return 0
`;

/**
 * How long a finished batch's records stay in Redis. Results and manifests live in storage and
 * are not touched here.
 */
export class BatchRetention {
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {}

  private batchKey = (batchId: string) => `${this.prefix}:batch:${batchId}`;

  /** Live batches (open, or finished and not yet given an expiry), oldest first. */
  async liveBatches(offset = 0, limit = 1_000): Promise<string[]> {
    return this.redis.zrange(liveBatchesKey(this.prefix), offset, offset + limit - 1);
  }

  /**
   * Gives every record of a finished batch an expiry of `ttlMs`: the batch hash, its item
   * hashes, item list, per-state sets, webhook deliveries, replay counter, idempotency key and
   * admission leftovers. Answers false (and sets nothing more) when the batch is open again.
   */
  async expireBatch(batchId: string, ttlMs: number): Promise<boolean> {
    for (let first = 0; ; first += CHUNK) {
      const handled = (await this.redis.eval(
        EXPIRE_BATCH,
        1,
        this.batchKey(batchId),
        this.prefix,
        batchId,
        Math.max(1, Math.round(ttlMs)),
        first,
        CHUNK,
        Date.now(),
      )) as number;
      if (handled === 0 || handled === -1) return true;
      if (handled === -2) return false;
    }
  }

  /** A batch that is open again (retried) keeps its records until it finishes anew. */
  async keepBatch(batchId: string): Promise<void> {
    for (let first = 0; ; first += CHUNK) {
      const handled = (await this.redis.eval(
        KEEP_BATCH,
        1,
        this.batchKey(batchId),
        this.prefix,
        batchId,
        first,
        CHUNK,
      )) as number;
      if (handled === 0) return;
    }
  }
}
