import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import {
  BatchEventSubscriber,
  publicBatch,
  publicItem,
  StreamSlots,
  type BatchEvent,
  type BatchRecord,
  type StreamSlot,
} from '@tryon/records';
import type { RouteDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { EVENT_STREAM_LEASE_MS, MAX_EVENT_STREAMS_PER_TENANT } from '../limits.js';

/**
 * Live batch progress as server-sent events (GET /v1/batches/:id/events and any route that
 * reuses streamBatchEvents). Item changes arrive by Redis pub/sub (published by the records'
 * Lua scripts); counts are read from Redis, coalesced to a few per second.
 */

/** Counts events at most this often (item events are not held back). */
export const COUNTS_INTERVAL_MS = 250;
/** Re-read the batch this often in case a pub/sub message was lost (a Redis reconnect). */
export const RESYNC_INTERVAL_MS = 5_000;
/** A comment line this often keeps proxies and clients from timing the stream out. */
export const HEARTBEAT_MS = 15_000;
/**
 * The batch reads finished but its `finished` message has not arrived: wait this long for it
 * (it normally follows within milliseconds; item events published before it must go first).
 */
export const FINISH_GRACE_MS = 1_000;
/** A client this far behind is not reading: end its stream (it may reconnect). */
const MAX_BUFFERED_BYTES = 1 << 20;
/** Items read from Redis per round trip. */
const ITEM_CHUNK = 500;
/** On resume (Last-Event-ID), items changed this long before it are sent too (clock skew). */
const RESUME_SLACK_MS = 5_000;

/**
 * The process's streams, their one shared Redis subscriber connection, and the per-tenant cap on
 * open streams (shared by every api process through Redis).
 */
export class BatchEventStreams {
  readonly subscriber: BatchEventSubscriber;
  readonly slots: StreamSlots;
  private readonly open = new Set<() => void>();

  constructor(
    redis: Redis,
    prefix: string,
    log: FastifyBaseLogger,
    limits = { perTenant: MAX_EVENT_STREAMS_PER_TENANT, leaseMs: EVENT_STREAM_LEASE_MS },
  ) {
    this.subscriber = new BatchEventSubscriber(redis, prefix, {
      onError: (error) => log.warn({ err: error }, 'batch events subscriber: redis error'),
    });
    this.slots = new StreamSlots(redis, prefix, {
      limit: limits.perTenant,
      leaseMs: limits.leaseMs,
    });
  }

  /** A slot for one more stream of this tenant, or 429 too_many_streams. */
  async takeSlot(tenantId: string): Promise<StreamSlot> {
    const slot = await this.slots.take(tenantId);
    if (slot) return slot;
    const { limit } = this.slots.options;
    throw new ApiError(
      429,
      'too_many_streams',
      `this tenant already has ${limit} event streams open, the most it may hold at once; ` +
        'close one (or poll GET /v1/batches/:id) and try again',
    );
  }

  get openStreams(): number {
    return this.open.size;
  }

  /** Registers a stream's end function; answers the function that forgets it. */
  track(end: () => void): () => void {
    this.open.add(end);
    return () => this.open.delete(end);
  }

  /** Ends every open stream (the server is closing: they would keep it open forever). */
  endAll(): void {
    for (const end of [...this.open]) end();
  }

  close(): void {
    this.endAll();
    this.subscriber.close();
  }
}

/**
 * Streams the batch's events until it has finished or the client leaves: `counts` (the batch
 * as GET /v1/batches/:id answers it, ETA included) first, then `item` (the public Item) per item
 * change with coalesced `counts`, and a final `done` (the finished Batch). The caller has
 * authorized the request and loaded the batch. Resolves when the stream has ended; throws
 * (before anything is sent) only when Redis cannot subscribe.
 */
export async function streamBatchEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: RouteDeps,
  batch: BatchRecord,
): Promise<void> {
  const slot = await deps.batchEvents.takeSlot(batch.tenant_id);
  const stream = new BatchEventStream(deps, batch.id, request.log, slot);
  // Subscribe before reading the batch, so no change between the read and the subscription is
  // missed (even a finished batch: a retry may have reopened it since the caller read it).
  await stream.subscribe();
  let current: BatchRecord;
  try {
    current = (await deps.records.getBatch(batch.id)) ?? batch;
  } catch (error) {
    stream.abandon();
    throw error;
  }
  return stream.run(reply, current, parseLastEventId(request.headers['last-event-id']));
}

/** One client's stream: what is still to send, and the one loop that sends it in order. */
class BatchEventStream {
  /** Items changed and not sent yet. */
  private readonly pending = new Set<string>();
  private countsDue = false;
  /** The batch's `finished` message has arrived. */
  private finishedMessage = false;
  private graceOver = false;
  /** Finished when the stream began: nothing to wait for once its counts are out. */
  private startedFinished = false;
  /** Events are only read and sent once the stream is open and its first counts are on the way. */
  private live = false;
  private ended = false;
  private busy = false;
  private lastId = 0;
  private lastCounts = '';
  private lastCountsAt = 0;
  private countsTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private intervals: NodeJS.Timeout[] = [];
  private unsubscribe = () => {};
  private untrack = () => {};
  /** Set by open(), before anything can end the stream. */
  private raw!: ServerResponse;
  private resolveEnded = () => {};
  private readonly endedPromise = new Promise<void>((resolve) => (this.resolveEnded = resolve));

  constructor(
    private readonly deps: RouteDeps,
    private readonly batchId: string,
    private readonly log: FastifyBaseLogger,
    private readonly slot: StreamSlot,
  ) {}

  async subscribe(): Promise<void> {
    try {
      this.unsubscribe = await this.deps.batchEvents.subscriber.subscribe(
        this.batchId,
        this.onEvent,
      );
    } catch (error) {
      this.log.warn({ err: error, batch_id: this.batchId }, 'could not subscribe to batch events');
      this.releaseSlot();
      throw new ApiError(503, 'unavailable', 'live events are unavailable; retry shortly');
    }
  }

  /** The stream will not open after all: drop the subscription. */
  abandon(): void {
    this.unsubscribe();
    this.releaseSlot();
    if (this.countsTimer) clearTimeout(this.countsTimer);
  }

  /** Opens the stream, sends the first counts (and what a resuming client missed), then pumps. */
  async run(reply: FastifyReply, current: BatchRecord, resumeFrom: number | null): Promise<void> {
    this.open(reply);
    this.startedFinished = current.completed_at !== null;
    this.live = true;
    await this.sendCounts(current, true);
    if (!this.ended && resumeFrom !== null) {
      await this.sendChangedSince(resumeFrom - RESUME_SLACK_MS).catch((error: unknown) =>
        this.log.warn({ err: error, batch_id: this.batchId }, 'batch events: could not resume'),
      );
    }
    // A finished batch: its done goes out from the pump, after any item events queued above.
    if (this.startedFinished) this.countsDue = true;
    this.kick();
    return this.endedPromise;
  }

  private readonly onEvent = (event: BatchEvent | 'resync') => {
    if (event === 'resync') {
      this.countsDue = true;
    } else {
      for (const id of event.items ?? []) this.pending.add(id);
      if (event.finished) this.finishedMessage = true;
      this.scheduleCounts(event.finished);
    }
    this.kick();
  };

  private readonly kick = () => {
    if (this.live) void this.pump();
  };

  private scheduleCounts(now: boolean): void {
    if (now) {
      if (this.countsTimer) clearTimeout(this.countsTimer);
      this.countsTimer = null;
      this.countsDue = true;
      return;
    }
    if (this.countsTimer || this.ended) return;
    const delay = Math.max(0, this.lastCountsAt + COUNTS_INTERVAL_MS - Date.now());
    this.countsTimer = setTimeout(() => {
      this.countsTimer = null;
      this.countsDue = true;
      this.kick();
    }, delay);
  }

  /** Takes the reply over, sends the event-stream headers and starts the heartbeat and resync. */
  private open(reply: FastifyReply): void {
    const { batchEvents, metrics } = this.deps;
    reply.hijack();
    const raw = (this.raw = reply.raw);
    // Headers set on the reply so far (x-request-id) are not sent for a hijacked reply by itself.
    const headers: Record<string, string | number | string[]> = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) headers[name] = value;
    }
    raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      // nginx and friends would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    metrics.batchEventStreams.inc();
    metrics.batchEventStreamsOpen.inc();
    const heartbeat = setInterval(() => {
      if (this.ended) return;
      raw.write(': ping\n\n');
      this.slot.renew().catch((error: unknown) => {
        this.log.warn({ err: error, batch_id: this.batchId }, 'batch events: lease not renewed');
      });
    }, HEARTBEAT_MS);
    const resync = setInterval(() => {
      this.countsDue = true;
      this.kick();
    }, RESYNC_INTERVAL_MS);
    this.intervals = [heartbeat, resync];
    this.untrack = batchEvents.track(this.finish);
    raw.once('close', this.finish);
    raw.on('error', this.finish);
    // The client may have left while we subscribed: its 'close' is gone already.
    if (raw.destroyed || !raw.socket || raw.socket.destroyed) this.finish();
  }

  private readonly finish = () => {
    if (this.ended) return;
    this.ended = true;
    for (const interval of this.intervals) clearInterval(interval);
    if (this.countsTimer) clearTimeout(this.countsTimer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.unsubscribe();
    this.untrack();
    this.releaseSlot();
    this.deps.metrics.batchEventStreamsOpen.dec();
    if (!this.raw.writableEnded) this.raw.end();
    this.resolveEnded();
  };

  /** The tenant's stream slot goes back (a failure only leaves it to its lease). */
  private releaseSlot(): void {
    this.slot.release().catch((error: unknown) => {
      this.log.warn({ err: error, batch_id: this.batchId }, 'batch events: slot not released');
    });
  }

  private send(event: string, data: unknown): void {
    if (this.ended) return;
    // Milliseconds, strictly increasing: a reconnecting client's Last-Event-ID says from when.
    this.lastId = Math.max(Date.now(), this.lastId + 1);
    this.raw.write(`id: ${this.lastId}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (this.raw.writableLength > MAX_BUFFERED_BYTES) {
      this.log.info(
        { batch_id: this.batchId },
        'batch events client is not reading; ending its stream',
      );
      this.finish();
    }
  }

  /** The ETA is advice: a failed reading of it sends the counts without one, not nothing. */
  private viewOf(record: BatchRecord) {
    return this.deps.eta.view(record).catch((error: unknown) => {
      this.log.warn(
        { err: error, batch_id: this.batchId },
        'batch events: could not estimate the ETA',
      );
      return { ...publicBatch(record), eta: null };
    });
  }

  private async sendCounts(record: BatchRecord, force = false): Promise<void> {
    const key = JSON.stringify([record.status, record.counts, record.completed_at]);
    this.lastCountsAt = Date.now();
    if (!force && key === this.lastCounts) return;
    this.lastCounts = key;
    this.send('counts', await this.viewOf(record));
  }

  /** The one loop that reads Redis and writes, so events go out in order. */
  private async pump(): Promise<void> {
    if (this.busy || this.ended) return;
    this.busy = true;
    try {
      while (!this.ended && (this.pending.size > 0 || this.countsDue)) {
        if (this.pending.size > 0) await this.sendPendingItems();
        else await this.sendLatestCounts();
      }
    } catch (error) {
      // Redis trouble: the resync timer tries again.
      this.log.warn(
        { err: error, batch_id: this.batchId },
        'batch events: could not read the batch',
      );
    } finally {
      this.busy = false;
    }
  }

  private async sendPendingItems(): Promise<void> {
    const ids = [...this.pending].slice(0, ITEM_CHUNK);
    for (const id of ids) this.pending.delete(id);
    try {
      for (const item of await this.deps.records.getItems(ids)) {
        if (item.batch_id === this.batchId) {
          this.send('item', publicItem(item, this.deps.config.publicUrl));
        }
      }
    } catch (error) {
      for (const id of ids) this.pending.add(id);
      throw error;
    }
  }

  /** Counts, then `done` once the batch has finished and every item event has gone out. */
  private async sendLatestCounts(): Promise<void> {
    this.countsDue = false;
    const fresh = await this.deps.records.getBatch(this.batchId);
    if (!fresh) {
      this.finish(); // expired or gone: nothing more will happen
      return;
    }
    await this.sendCounts(fresh);
    if (fresh.completed_at === null) return;
    if (this.pending.size > 0) {
      this.countsDue = true; // items first, then done
    } else if (this.finishedMessage || this.graceOver || this.startedFinished) {
      this.send('done', await this.viewOf(fresh));
      this.finish();
    } else {
      this.graceTimer ??= setTimeout(() => {
        this.graceOver = true;
        this.countsDue = true;
        this.kick();
      }, FINISH_GRACE_MS);
    }
  }

  /** A reconnecting client missed what changed since its last event: those items again. */
  private async sendChangedSince(since: number): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.deps.records.listItems(this.batchId, { limit: ITEM_CHUNK, cursor });
      for (const item of page.items) {
        if (Date.parse(item.updated_at) >= since) this.pending.add(item.id);
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor && !this.ended);
  }
}

function parseLastEventId(header: string | string[] | undefined): number | null {
  const text = Array.isArray(header) ? header[0] : header;
  if (!text || !/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}
