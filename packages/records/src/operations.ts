import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RedisKeys } from '@tryon/redis';
import { claimReplay } from './scripts/claim-replay.js';
import { takeReplayBudgetScript } from './scripts/replay-budget.js';
import { shareExpiryScript } from './scripts/share-expiry.js';

export interface FitroomErrorRecord {
  at: string;
  budgetKey: string;
  operation: string;
  code: string;
  status: number | null;
  message: string;
  itemId: string | null;
}

export interface DeliveryAttempt {
  at: string;
  event_id: string;
  type: string;
  attempt: number;
  ok: boolean;
  status: number | null;
  error: string | null;
  duration_ms: number;
}

const RECENT_ERRORS_KEPT = 100;
const DELIVERIES_KEPT = 1_000;
/**
 * How long a batch's replay counter outlives its last replay: longer than BullMQ keeps a failed
 * webhook job (30 days), so a replay job id is never one the queue still holds.
 */
const REPLAY_COUNTER_TTL_S = 31 * 86_400;

export type ReplayClaim = { replay: number } | { replay: null; retryInMs: number };

/** What the admin status page reads about the FitRoom side: tasks in flight, recent errors. */
export class Operations {
  private readonly keys: RedisKeys;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  private inFlightKey = () => this.keys.fitroomInFlight();
  private errorsKey = () => this.keys.fitroomErrors();

  /** A FitRoom task was created for this item and is not finished yet. */
  async taskStarted(itemId: string, taskId: string): Promise<void> {
    await this.redis.hset(this.inFlightKey(), itemId, taskId);
  }

  async taskEnded(itemId: string): Promise<void> {
    await this.redis.hdel(this.inFlightKey(), itemId);
  }

  async tasksInFlight(): Promise<number> {
    return this.redis.hlen(this.inFlightKey());
  }

  async recordFitroomError(error: Omit<FitroomErrorRecord, 'at'>): Promise<void> {
    const entry: FitroomErrorRecord = { at: new Date().toISOString(), ...error };
    await this.redis
      .multi()
      .lpush(this.errorsKey(), JSON.stringify(entry))
      .ltrim(this.errorsKey(), 0, RECENT_ERRORS_KEPT - 1)
      .exec();
  }

  async recentFitroomErrors(limit = 20): Promise<FitroomErrorRecord[]> {
    const entries = await this.redis.lrange(this.errorsKey(), 0, limit - 1);
    return entries.map((e) => JSON.parse(e) as FitroomErrorRecord);
  }

  private deliveriesKey = (batchId: string) => this.keys.batchDeliveries(batchId);

  /** One webhook delivery attempt for a batch's event, kept so tenants can see what happened. */
  async recordDelivery(batchId: string, attempt: Omit<DeliveryAttempt, 'at'>): Promise<void> {
    const entry: DeliveryAttempt = { at: new Date().toISOString(), ...attempt };
    shareExpiryScript.register(this.redis);
    const multi = this.redis
      .multi()
      .lpush(this.deliveriesKey(batchId), JSON.stringify(entry))
      .ltrim(this.deliveriesKey(batchId), 0, DELIVERIES_KEPT - 1);
    // A delivery after the batch's records got their expiry expires with them.
    shareExpiryScript.queue(multi, [this.deliveriesKey(batchId), this.keys.batch(batchId)], []);
    await multi.exec();
  }

  /** A batch's delivery attempts, newest first. */
  async deliveries(batchId: string, limit = 100): Promise<DeliveryAttempt[]> {
    const entries = await this.redis.lrange(this.deliveriesKey(batchId), 0, limit - 1);
    return entries.map((e) => JSON.parse(e) as DeliveryAttempt);
  }

  /**
   * Numbers a replay of a batch's webhook events (1, 2, ...), so each replay's delivery jobs get
   * ids of their own. With `cooldownMs`, refuses (answering how long to wait) while an earlier
   * replay of the batch is more recent than that.
   */
  async claimReplay(batchId: string, cooldownMs = 0): Promise<ReplayClaim> {
    const [replay, retryInMs] = await claimReplay(
      this.redis,
      {
        counter: this.keys.batchReplays(batchId),
        cooldown: this.keys.batchReplayCooldown(batchId),
      },
      { cooldownMs: Math.max(0, Math.ceil(cooldownMs)), counterTtlS: REPLAY_COUNTER_TTL_S },
    );
    return replay > 0 ? { replay } : { replay: null, retryInMs: Math.max(1, retryInMs) };
  }

  /**
   * Counts `events` replayed webhook events against the tenant's `limit` per `windowMs` (a
   * window starts with its first replay). All or nothing; a replay bigger than the whole limit
   * is let through only into an empty window, so no batch is too big to replay ever.
   */
  async takeReplayBudget(
    tenantId: string,
    events: number,
    budget: { limit: number; windowMs: number },
  ): Promise<{ taken: true } | { taken: false; retryInMs: number }> {
    const [taken, retryInMs] = await takeReplayBudgetScript.run(
      this.redis,
      [this.keys.tenantReplayBudget(tenantId)],
      [Math.max(0, Math.ceil(events)), budget.limit, budget.windowMs],
    );
    return taken === 1 ? { taken: true } : { taken: false, retryInMs: Math.max(1, retryInMs) };
  }

  /**
   * The master webhook secret when WEBHOOK_SECRET is unset (dev): made once per Redis so the api
   * and every worker sign and publish with the same one.
   */
  async devWebhookSecret(): Promise<string> {
    const key = this.keys.devWebhookSecret();
    await this.redis.set(key, randomBytes(32).toString('base64url'), 'NX');
    const secret = await this.redis.get(key);
    if (!secret) throw new Error('dev webhook secret vanished from Redis');
    return secret;
  }
}
