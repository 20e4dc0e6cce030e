import type { Redis } from 'ioredis';
import { RedisKeys } from '@tryon/redis';
import type { Records } from '@tryon/records';

/** A promise is kept if the batch ends by its ETA plus this share of it (at least a minute). */
const GRACE_SHARE = 0.25;
const MIN_GRACE_MS = 60_000;
/** Overdue batches looked at per reading: a scrape stays cheap whatever the backlog. */
const READ_LIMIT = 500;

/**
 * The ETA each batch was given when it was submitted, as a deadline: /metrics counts the open
 * batches past theirs (the "batch older than its ETA" alert). Batches that ended, or whose
 * records expired, are dropped from the set when they are read.
 */
export class BatchDeadlines {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly records: Pick<Records, 'getBatch'>,
  ) {
    this.key = new RedisKeys(prefix).batchDeadlines();
  }

  async promise(batchId: string, etaSeconds: number, nowMs = Date.now()): Promise<void> {
    const etaMs = etaSeconds * 1000;
    const deadline = nowMs + etaMs + Math.max(MIN_GRACE_MS, etaMs * GRACE_SHARE);
    await this.redis.zadd(this.key, 'NX', Math.round(deadline), batchId);
  }

  /** Open batches past their deadline now. */
  async overdue(nowMs = Date.now()): Promise<number> {
    const ids = await this.redis.zrangebyscore(this.key, '-inf', nowMs, 'LIMIT', 0, READ_LIMIT);
    let open = 0;
    for (const id of ids) {
      const batch = await this.records.getBatch(id);
      if (batch && (batch.status === 'queued' || batch.status === 'running')) open += 1;
      else await this.redis.zrem(this.key, id);
    }
    return open;
  }
}
