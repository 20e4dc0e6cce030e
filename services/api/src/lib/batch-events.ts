import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import {
  BatchEventSubscriber,
  publicBatch,
  publicItem,
  type BatchEvent,
  type BatchRecord,
} from '@tryon/records';
import type { RouteDeps } from '../deps.js';
import { ApiError } from '../errors.js';

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

/** The process's streams and their one shared Redis subscriber connection. */
export class BatchEventStreams {
  readonly subscriber: BatchEventSubscriber;
  private readonly open = new Set<() => void>();

  constructor(redis: Redis, prefix: string, log: FastifyBaseLogger) {
    this.subscriber = new BatchEventSubscriber(redis, prefix, {
      onError: (error) => log.warn({ err: error }, 'batch events subscriber: redis error'),
    });
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
 * as GET /v1/batches/:id answers it, ETA included) first, then `item` (the public Item) per item change with coalesced `counts`, and a
 * final `done` (the finished Batch). The caller has authorized the request and loaded the
 * batch. Resolves when the stream has ended; throws (before anything is sent) only when Redis
 * cannot subscribe.
 */
export async function streamBatchEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: RouteDeps,
  batch: BatchRecord,
): Promise<void> {
  const { records, config, batchEvents, metrics, eta } = deps;
  const log = request.log;
  const resumeFrom = parseLastEventId(request.headers['last-event-id']);

  const pending = new Set<string>();
  let countsDue = false;
  let finishedMessage = false;
  let graceOver = false;
  let ended = false;
  let busy = false;
  let lastId = 0;
  let lastCounts = '';
  let lastCountsAt = 0;
  let countsTimer: NodeJS.Timeout | null = null;
  let graceTimer: NodeJS.Timeout | null = null;
  let unsubscribe = () => {};
  let kick = () => {};

  const onEvent = (event: BatchEvent | 'resync') => {
    if (event === 'resync') {
      countsDue = true;
    } else {
      for (const id of event.items ?? []) pending.add(id);
      if (event.finished) finishedMessage = true;
      scheduleCounts(event.finished);
    }
    kick();
  };
  const scheduleCounts = (now: boolean) => {
    if (now) {
      if (countsTimer) clearTimeout(countsTimer);
      countsTimer = null;
      countsDue = true;
      return;
    }
    if (countsTimer || ended) return;
    const delay = Math.max(0, lastCountsAt + COUNTS_INTERVAL_MS - Date.now());
    countsTimer = setTimeout(() => {
      countsTimer = null;
      countsDue = true;
      kick();
    }, delay);
  };

  // Subscribe before reading the batch, so no change between the read and the subscription is
  // missed (even a finished batch: a retry may have reopened it since the caller read it).
  try {
    unsubscribe = await batchEvents.subscriber.subscribe(batch.id, onEvent);
  } catch (error) {
    log.warn({ err: error, batch_id: batch.id }, 'could not subscribe to batch events');
    throw new ApiError(503, 'unavailable', 'live events are unavailable; retry shortly');
  }
  let current: BatchRecord;
  try {
    current = (await records.getBatch(batch.id)) ?? batch;
  } catch (error) {
    unsubscribe();
    if (countsTimer) clearTimeout(countsTimer);
    throw error;
  }

  reply.hijack();
  const raw = reply.raw;
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

  let resolveEnded = () => {};
  const endedPromise = new Promise<void>((resolve) => (resolveEnded = resolve));
  const heartbeat = setInterval(() => {
    if (!ended) raw.write(': ping\n\n');
  }, HEARTBEAT_MS);
  const resync = setInterval(() => {
    countsDue = true;
    kick();
  }, RESYNC_INTERVAL_MS);
  const finish = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    clearInterval(resync);
    if (countsTimer) clearTimeout(countsTimer);
    if (graceTimer) clearTimeout(graceTimer);
    unsubscribe();
    untrack();
    metrics.batchEventStreamsOpen.dec();
    if (!raw.writableEnded) raw.end();
    resolveEnded();
  };
  const untrack = batchEvents.track(finish);
  raw.once('close', finish);
  raw.on('error', finish);
  // The client may have left while we subscribed: its 'close' is gone already.
  if (raw.destroyed || !raw.socket || raw.socket.destroyed) finish();
  // Finished when the stream began: nothing to wait for once its counts are out.
  const startedFinished = current.completed_at !== null;

  const send = (event: string, data: unknown) => {
    if (ended) return;
    // Milliseconds, strictly increasing: a reconnecting client's Last-Event-ID says from when.
    lastId = Math.max(Date.now(), lastId + 1);
    raw.write(`id: ${lastId}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (raw.writableLength > MAX_BUFFERED_BYTES) {
      log.info({ batch_id: batch.id }, 'batch events client is not reading; ending its stream');
      finish();
    }
  };
  // The ETA is advice: a failed reading of it sends the counts without one, not nothing.
  const viewOf = (record: BatchRecord) =>
    eta.view(record).catch((error: unknown) => {
      log.warn({ err: error, batch_id: batch.id }, 'batch events: could not estimate the ETA');
      return { ...publicBatch(record), eta: null };
    });
  const sendCounts = async (record: BatchRecord, force = false) => {
    const key = JSON.stringify([record.status, record.counts, record.completed_at]);
    lastCountsAt = Date.now();
    if (!force && key === lastCounts) return;
    lastCounts = key;
    send('counts', await viewOf(record));
  };

  /** The one loop that reads Redis and writes, so events go out in order. */
  const pump = async () => {
    if (busy || ended) return;
    busy = true;
    try {
      while (!ended && (pending.size > 0 || countsDue)) {
        if (pending.size > 0) {
          const ids = [...pending].slice(0, ITEM_CHUNK);
          for (const id of ids) pending.delete(id);
          try {
            for (const item of await records.getItems(ids)) {
              if (item.batch_id === batch.id) send('item', publicItem(item, config.publicUrl));
            }
          } catch (error) {
            for (const id of ids) pending.add(id);
            throw error;
          }
          continue;
        }
        countsDue = false;
        const fresh = await records.getBatch(batch.id);
        if (!fresh) {
          finish(); // expired or gone: nothing more will happen
          break;
        }
        await sendCounts(fresh);
        if (fresh.completed_at === null) continue;
        if (pending.size > 0) {
          countsDue = true; // items first, then done
        } else if (finishedMessage || graceOver || startedFinished) {
          send('done', await viewOf(fresh));
          finish();
        } else {
          graceTimer ??= setTimeout(() => {
            graceOver = true;
            countsDue = true;
            kick();
          }, FINISH_GRACE_MS);
        }
      }
    } catch (error) {
      // Redis trouble: the resync timer tries again.
      log.warn({ err: error, batch_id: batch.id }, 'batch events: could not read the batch');
    } finally {
      busy = false;
    }
  };
  kick = () => void pump();

  await sendCounts(current, true);
  if (!ended && resumeFrom !== null) {
    await sendChangedSince(resumeFrom - RESUME_SLACK_MS).catch((error: unknown) =>
      log.warn({ err: error, batch_id: batch.id }, 'batch events: could not resume'),
    );
  }
  // A finished batch: its done goes out from the pump, after any item events queued above.
  if (startedFinished) countsDue = true;
  kick();
  return endedPromise;

  /** A reconnecting client missed what changed since its last event: those items again. */
  async function sendChangedSince(since: number): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await records.listItems(batch.id, { limit: ITEM_CHUNK, cursor });
      for (const item of page.items) {
        if (Date.parse(item.updated_at) >= since) pending.add(item.id);
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor && !ended);
  }
}

function parseLastEventId(header: string | string[] | undefined): number | null {
  const text = Array.isArray(header) ? header[0] : header;
  if (!text || !/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}
