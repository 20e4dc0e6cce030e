/** Small HTTP clients for the api (tenant routes) and the simulator's /_sim routes. */
import { setTimeout as sleep } from 'node:timers/promises';
import pMap from 'p-map';
import type { SimStats, SimTaskPage, SimTaskTimes } from '@tryon/fitroom-sim';

export interface BatchView {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'cancelled';
  counts: {
    total: number;
    queued: number;
    running: number;
    completed: number;
    failed: number;
    cancelled: number;
  };
  progress: number;
  created_at: string;
  completed_at: string | null;
}

export interface ItemView {
  id: string;
  batch_id: string;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  fitroom_task_id: string | null;
  attempts: number;
  error: { code: string; message: string } | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface MatrixGarment {
  cloth: string;
  cloth_type: 'upper' | 'lower' | 'full_set' | 'combo';
  lower_cloth?: string;
  external_id?: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const MAX_UPLOAD_FILES = 20;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async call<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    timeoutMs = 60_000,
  ): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (response.status >= 300) {
      throw new HttpError(
        response.status,
        `${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`,
      );
    }
    return { status: response.status, body: JSON.parse(text) as T };
  }

  /** POST /v1/assets, 20 files per request, two requests at a time; the asset ids in order. */
  async uploadAssets(images: readonly Buffer[]): Promise<string[]> {
    const chunks: Buffer[][] = [];
    for (let i = 0; i < images.length; i += MAX_UPLOAD_FILES) {
      chunks.push(images.slice(i, i + MAX_UPLOAD_FILES));
    }
    const ids = await pMap(
      chunks,
      async (chunk, index) => {
        const form = new FormData();
        for (const [i, bytes] of chunk.entries()) {
          form.append('file', new Blob([bytes], { type: 'image/jpeg' }), `img-${index}-${i}.jpg`);
        }
        const response = await fetch(`${this.baseUrl}/v1/assets`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.token}` },
          body: form,
          signal: AbortSignal.timeout(120_000),
        });
        const text = await response.text();
        if (response.status >= 300) {
          throw new HttpError(
            response.status,
            `POST /v1/assets answered ${response.status}: ${text.slice(0, 500)}`,
          );
        }
        return (JSON.parse(text) as { assets: { id: string }[] }).assets.map((a) => a.id);
      },
      { concurrency: 2 },
    );
    return ids.flat();
  }

  /** POST /v1/batches; `ms` is the real time from sending the request to the whole answer. */
  async submitBatch(body: unknown): Promise<{ batch: BatchView; status: number; ms: number }> {
    const start = performance.now();
    const { status, body: batch } = await this.call<BatchView>(
      'POST',
      '/v1/batches',
      body,
      120_000,
    );
    return { batch, status, ms: performance.now() - start };
  }

  async batch(id: string): Promise<BatchView> {
    return (await this.call<BatchView>('GET', `/v1/batches/${id}`)).body;
  }

  async cancel(id: string): Promise<BatchView> {
    return (await this.call<BatchView>('POST', `/v1/batches/${id}/cancel`)).body;
  }

  /** Every item of a batch, through the cursor pages (bounded). */
  async items(batchId: string): Promise<ItemView[]> {
    const items: ItemView[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 1_000; page++) {
      const query: string = `limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const { body } = await this.call<{ items: ItemView[]; next_cursor: string | null }>(
        'GET',
        `/v1/batches/${batchId}/items?${query}`,
      );
      items.push(...body.items);
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  /**
   * Polls the batch every `intervalMs` until it is finished (completed or cancelled), `until`
   * says stop, or `timeoutMs` passes; `onTick` sees each read. Returns the last read.
   */
  async waitForBatch(
    id: string,
    options: {
      timeoutMs: number;
      intervalMs: number;
      onTick?: (batch: BatchView) => void;
      until?: (batch: BatchView) => boolean;
    },
  ): Promise<{ batch: BatchView; timedOut: boolean }> {
    const deadline = Date.now() + options.timeoutMs;
    const maxRounds = Math.ceil(options.timeoutMs / options.intervalMs) + 10;
    let batch = await this.batch(id);
    for (let round = 0; round < maxRounds; round++) {
      options.onTick?.(batch);
      const finished = batch.status === 'completed' || batch.status === 'cancelled';
      if (finished || options.until?.(batch)) return { batch, timedOut: false };
      if (Date.now() >= deadline) return { batch, timedOut: true };
      await sleep(options.intervalMs);
      batch = await this.batch(id);
    }
    return { batch, timedOut: true };
  }
}

/** A simulator task with its times moved onto this process's wall clock (Date.now()). */
export type TaskTimes = SimTaskTimes;

export async function simStats(simUrl: string): Promise<SimStats> {
  const response = await fetch(`${simUrl}/_sim/stats`, { signal: AbortSignal.timeout(30_000) });
  if (response.status !== 200) throw new HttpError(response.status, '/_sim/stats failed');
  return (await response.json()) as SimStats;
}

/**
 * Every simulator task (GET /_sim/tasks, paged), with its real-ms times shifted onto this
 * process's Date.now() clock: the offset is the simulator's now_ms minus the midpoint of our
 * clock around the first request (the services' timestamps come from Date.now()).
 */
export async function simTasks(simUrl: string): Promise<{ tasks: TaskTimes[]; offsetMs: number }> {
  const tasks: TaskTimes[] = [];
  let offsetMs: number | undefined;
  let after: string | null = null;
  for (let page = 0; page < 1_000; page++) {
    const before = Date.now();
    const response = await fetch(
      `${simUrl}/_sim/tasks?limit=10000${after !== null ? `&after=${after}` : ''}`,
      { signal: AbortSignal.timeout(30_000) },
    );
    if (response.status !== 200) throw new HttpError(response.status, '/_sim/tasks failed');
    const body = (await response.json()) as SimTaskPage;
    offsetMs ??= body.now_ms - (before + Date.now()) / 2;
    tasks.push(...body.tasks);
    after = body.next_after;
    if (after === null) break;
  }
  const shift = offsetMs ?? 0;
  const moved = (t: number): number => t - shift;
  return {
    offsetMs: shift,
    tasks: tasks.map((t) => ({
      ...t,
      created_ms: moved(t.created_ms),
      started_ms: moved(t.started_ms),
      completed_ms: moved(t.completed_ms),
      seen_ms: t.seen_ms === null ? null : moved(t.seen_ms),
    })),
  };
}
