import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Batch } from '@tryon/domain';
import type { TryonClient } from './api.js';
import { ApiError, NetworkError } from './errors.js';

/**
 * How the CLI learns about a batch's progress: the one place that knows the transport.
 * It reads the batch's server-sent events (GET /v1/batches/:id/events): a snapshot per
 * `counts` event, the last one at `done`. An API without the route (404) is polled instead,
 * GET /v1/batches/:id about once a second (far inside the per-tenant limit). A stream that
 * breaks (network, API restart) is replaced by one poll, then opened again (resuming from its
 * last event id); after a few breaks in a row without news the CLI polls for good.
 */

export const POLL_INTERVAL_MS = 1_000;
/** Stream breaks in a row, none of them with an event, before polling for good. */
export const STREAM_ATTEMPTS = 3;

export interface FollowOptions {
  intervalMs?: number;
  signal?: AbortSignal;
}

/** No item is queued or running: nothing will change unless someone retries. */
export function isFinished(batch: Batch): boolean {
  const { counts } = batch;
  return batch.completed_at !== null || (counts.queued === 0 && counts.running === 0);
}

/**
 * Snapshots of the batch, the first at once, then as it changes (or about once per interval
 * when polling) until it is finished: the last snapshot yielded is the finished batch. Stops
 * quietly when the signal aborts.
 */
export async function* followBatch(
  client: TryonClient,
  batchId: string,
  options: FollowOptions = {},
): AsyncGenerator<Batch> {
  const intervalMs = options.intervalMs ?? POLL_INTERVAL_MS;
  const { signal } = options;
  let failures = 0;
  let lastEventId: string | undefined;
  while (!signal?.aborted && failures < STREAM_ATTEMPTS) {
    let heard = false;
    try {
      const body = await client.batchEvents(batchId, { signal, lastEventId });
      for await (const event of batchSnapshots(body)) {
        heard = true;
        if (event.id) lastEventId = event.id;
        yield event.batch;
        if (event.done) return;
      }
      // Ended without done: the API closed it (a restart). Counted like a break.
    } catch (error) {
      if (signal?.aborted) return;
      // No such route (an older API): poll. An unknown batch gets its 404 from the poll too.
      if (error instanceof ApiError && error.status === 404) break;
      const broken =
        error instanceof NetworkError || (error instanceof ApiError && error.status >= 500);
      if (!broken) throw error; // 401, 403, ...: polling would get the same
    }
    failures = heard ? 1 : failures + 1;
    if (failures >= STREAM_ATTEMPTS) break;
    // One poll in between: progress goes on, and a batch that finished meanwhile ends here.
    const batch = await poll(client, batchId, signal);
    if (!batch) return;
    yield batch;
    if (isFinished(batch)) return;
    if (!(await pause(intervalMs, signal))) return;
  }
  while (!signal?.aborted) {
    const batch = await poll(client, batchId, signal);
    if (!batch) return;
    yield batch;
    if (isFinished(batch)) return;
    if (!(await pause(intervalMs, signal))) return;
  }
}

/** The batch, or null when the signal aborted. */
async function poll(
  client: TryonClient,
  batchId: string,
  signal: AbortSignal | undefined,
): Promise<Batch | null> {
  try {
    return await client.getBatch(batchId, signal);
  } catch (error) {
    if (signal?.aborted) return null;
    throw error;
  }
}

/** False when the signal aborted the wait. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** The batch snapshots of an event stream: its `counts` and `done` events. */
async function* batchSnapshots(
  body: Readable,
): AsyncGenerator<{ batch: Batch; id: string | null; done: boolean }> {
  try {
    for await (const event of parseEventStream(body)) {
      if (event.event !== 'counts' && event.event !== 'done') continue;
      let batch: Batch;
      try {
        batch = JSON.parse(event.data) as Batch;
      } catch {
        batch = null as unknown as Batch;
      }
      if (!batch || typeof batch.counts !== 'object') {
        throw new NetworkError(
          'unexpected_answer',
          `GET /v1/batches/:id/events: unexpected ${event.event} event: ${event.data.slice(0, 80)}`,
          false,
        );
      }
      yield { batch, id: event.id, done: event.event === 'done' };
    }
  } catch (error) {
    if (error instanceof NetworkError) throw error;
    // The body broke off (reset, timeout between chunks): a break, to reconnect or poll.
    const e = error as { code?: string; message?: string };
    throw new NetworkError(
      (e.code ?? 'stream_broken').toLowerCase(),
      `GET /v1/batches/:id/events: ${e.message ?? 'the stream broke off'}`,
      true,
    );
  } finally {
    body.destroy();
  }
}

export interface SseEvent {
  event: string;
  data: string;
  /** The last id the stream set (ids carry over to later events, per the spec). */
  id: string | null;
}

/** Server-sent events as the HTML spec parses them (comments skipped, data lines joined). */
export async function* parseEventStream(
  chunks: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
): AsyncGenerator<SseEvent> {
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | null = null;
  const decoder = new TextDecoder();
  for await (const chunk of chunks) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer);
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (!match || (match[0] === '\r' && match.index === buffer.length - 1)) break;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      if (line === '') {
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
    }
  }
}
