import { setTimeout as sleep } from 'node:timers/promises';
import type { Batch, TryonClient } from './api.js';

/**
 * How the CLI learns about a batch's progress: the one place that knows the transport.
 * Today it polls GET /v1/batches/:id about once a second (one request per second is far
 * inside the per-tenant limit). When the API serves GET /v1/batches/:id/events (server-sent
 * events), only this module changes: read the stream, yield a snapshot per counts event, and
 * fall back to polling when the route answers 404.
 */

export const POLL_INTERVAL_MS = 1_000;

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
 * Snapshots of the batch, the first at once, then about once per interval until it is
 * finished: the last snapshot yielded is the finished batch. Stops quietly when the signal
 * aborts.
 */
export async function* followBatch(
  client: TryonClient,
  batchId: string,
  options: FollowOptions = {},
): AsyncGenerator<Batch> {
  const intervalMs = options.intervalMs ?? POLL_INTERVAL_MS;
  const { signal } = options;
  while (!signal?.aborted) {
    let batch: Batch;
    try {
      batch = await client.getBatch(batchId, signal);
    } catch (error) {
      if (signal?.aborted) return;
      throw error;
    }
    yield batch;
    if (isFinished(batch)) return;
    try {
      await sleep(intervalMs, undefined, { signal });
    } catch {
      return; // aborted
    }
  }
}
