import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface FitroomErrorRecord {
  at: string;
  budgetKey: string;
  operation: string;
  code: string;
  status: number | null;
  message: string;
  itemId: string | null;
}

const RECENT_ERRORS_KEPT = 100;

/** What the admin status page reads about the FitRoom side: tasks in flight, recent errors. */
export class Operations {
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {}

  private inFlightKey = () => `${this.prefix}:fitroom:in-flight`;
  private errorsKey = () => `${this.prefix}:fitroom:errors`;

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

  /**
   * The master webhook secret when WEBHOOK_SECRET is unset (dev): made once per Redis so the api
   * and every worker sign and publish with the same one.
   */
  async devWebhookSecret(): Promise<string> {
    const key = `${this.prefix}:dev:webhook-secret`;
    await this.redis.set(key, randomBytes(32).toString('base64url'), 'NX');
    const secret = await this.redis.get(key);
    if (!secret) throw new Error('dev webhook secret vanished from Redis');
    return secret;
  }
}
