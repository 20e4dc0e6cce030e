import type { Redis } from 'ioredis';
import { RedisKeys } from '@tryon/redis';
import type { ItemStatus } from '@tryon/domain';

/**
 * Live batch events: the TRANSITION and MOVE_ALL scripts PUBLISH a small message on a per-batch
 * channel whenever an item changes state and when the batch finishes. Pub/sub is fire and
 * forget (a message sent while a subscriber reconnects is lost), so listeners are also told
 * when the connection came back ('resync') and should re-read what they show.
 */

/** The channel's name (made by RedisKeys): the scripts receive it as an argument. */
export const batchEventsChannel = (prefix: string, batchId: string): string =>
  new RedisKeys(prefix).batchEventsChannel(batchId);

export interface BatchEvent {
  batchId: string;
  /** The items that changed, or null when a cancel/retry moved too many to list. */
  items: string[] | null;
  /** How many items changed (0 when only the batch finished or its status changed). */
  count: number;
  /** Their new status. */
  status: ItemStatus;
  /** This change finished the batch (no queued or running item left). */
  finished: boolean;
}

/** An event, or 'resync' after a reconnect: messages may have been lost meanwhile. */
export type BatchEventListener = (event: BatchEvent | 'resync') => void;

export interface BatchEventSubscriberOptions {
  /** Errors of the subscriber connection (it reconnects by itself). */
  onError?: (error: Error) => void;
  /** How long subscribe() waits for Redis to confirm. */
  subscribeTimeoutMs?: number;
}

/**
 * One Redis subscriber connection shared by every listener of this process, made lazily
 * (`redis.duplicate()`) on the first subscribe. A batch's channel is subscribed while it has at
 * least one listener and unsubscribed when its last listener leaves.
 */
export class BatchEventSubscriber {
  private connection: Redis | null = null;
  private readonly listeners = new Map<string, Set<BatchEventListener>>();
  /** The SUBSCRIBE in flight or done, per channel: later listeners wait for the same one. */
  private readonly subscribed = new Map<string, Promise<unknown>>();
  private readonly subscribeTimeoutMs: number;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: BatchEventSubscriberOptions = {},
  ) {
    this.subscribeTimeoutMs = options.subscribeTimeoutMs ?? 5_000;
  }

  /** Channels with at least one listener in this process. */
  get channelCount(): number {
    return this.listeners.size;
  }

  /**
   * Calls `listener` for every event of the batch from the moment this resolves (Redis has
   * confirmed the subscription). Answers the function that removes the listener; idempotent.
   */
  async subscribe(batchId: string, listener: BatchEventListener): Promise<() => void> {
    if (this.closed) throw new Error('batch event subscriber is closed');
    const channel = batchEventsChannel(this.prefix, batchId);
    const connection = this.connect();
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      // Commands on one connection run in order, so an UNSUBSCRIBE of an earlier last listener
      // cannot overtake this SUBSCRIBE.
      this.subscribed.set(channel, connection.subscribe(channel));
    }
    set.add(listener);
    let removed = false;
    const unsubscribe = () => {
      if (removed) return;
      removed = true;
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      this.subscribed.delete(channel);
      if (!this.closed) {
        connection.unsubscribe(channel).catch((error: Error) => this.options.onError?.(error));
      }
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.subscribed.get(channel),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`Redis did not confirm SUBSCRIBE ${channel} in time`)),
            this.subscribeTimeoutMs,
          );
        }),
      ]);
    } catch (error) {
      unsubscribe();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return unsubscribe;
  }

  /** Drops every listener and the connection. */
  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.subscribed.clear();
    // Nothing to flush on a subscriber connection: disconnect, do not wait for QUIT.
    this.connection?.disconnect();
    this.connection = null;
  }

  private connect(): Redis {
    if (this.connection) return this.connection;
    const connection = this.redis.duplicate();
    let connectedBefore = false;
    connection.on('error', (error: Error) => this.options.onError?.(error));
    connection.on('ready', () => {
      // ioredis subscribes again by itself after a reconnect; what was published in between
      // is lost, so every listener is told to re-read.
      if (connectedBefore) this.notifyAll('resync');
      connectedBefore = true;
    });
    connection.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      const event = parseEvent(channel.slice(channel.lastIndexOf(':') + 1), message);
      if (!event) return;
      for (const listener of [...set]) listener(event);
    });
    this.connection = connection;
    return connection;
  }

  private notifyAll(event: 'resync'): void {
    for (const set of this.listeners.values()) {
      for (const listener of [...set]) listener(event);
    }
  }
}

function parseEvent(batchId: string, message: string): BatchEvent | null {
  try {
    const raw = JSON.parse(message) as {
      items?: string[];
      count?: number;
      status: ItemStatus;
      finished: boolean;
    };
    const items = raw.items ?? (raw.count ? null : []);
    return {
      batchId,
      items,
      count: raw.count ?? items?.length ?? 0,
      status: raw.status,
      finished: raw.finished === true,
    };
  } catch {
    return null; // not one of ours: ignore
  }
}
