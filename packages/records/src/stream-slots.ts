import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RedisKeys } from '@tryon/redis';
import {
  releaseStreamSlotScript,
  renewStreamSlotScript,
  takeStreamSlotScript,
} from './scripts/stream-slots.js';

export interface StreamSlotsOptions {
  /** Streams one tenant may hold open at once, across every api process. */
  limit: number;
  /** How long a slot outlives its last renewal: what a crashed process leaks, at most. */
  leaseMs: number;
}

/** One open stream's hold on its tenant's slot. */
export interface StreamSlot {
  /** Extends the lease; call it well within leaseMs while the stream is open. */
  renew(): Promise<void>;
  /** Frees the slot (idempotent). */
  release(): Promise<void>;
}

/**
 * The per-tenant cap on concurrent event streams, kept in Redis so it holds across api
 * processes, with leases so a process that dies without closing its streams frees them soon.
 */
export class StreamSlots {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly options: StreamSlotsOptions,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  /** A slot for a new stream of this tenant, or null when it already has `limit` open. */
  async take(tenantId: string): Promise<StreamSlot | null> {
    const key = this.keys.tenantEventStreams(tenantId);
    const id = randomUUID();
    const { leaseMs, limit } = this.options;
    const [taken] = await takeStreamSlotScript.run(this.redis, [key], [limit, leaseMs, id]);
    if (taken !== 1) return null;
    let released = false;
    return {
      renew: async () => {
        if (!released) await renewStreamSlotScript.run(this.redis, [key], [leaseMs, id]);
      },
      release: async () => {
        if (released) return;
        released = true;
        await releaseStreamSlotScript.run(this.redis, [key], [id]);
      },
    };
  }

  /** Streams this tenant holds open now (leases not yet ended). */
  async open(tenantId: string): Promise<number> {
    const key = this.keys.tenantEventStreams(tenantId);
    const now = Date.now();
    return this.redis.zcount(key, now, '+inf');
  }
}
