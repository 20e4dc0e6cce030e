import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  contentTypeForName,
  type Asset,
  type BatchResponse,
  type CreateBatchRequest,
  type DryRunAnswer,
  type Item,
  type ItemsPage,
  type ItemStatus,
} from '@tryon/domain';
import { Agent, request, type Dispatcher } from 'undici';
import { ApiError, CliError, NetworkError } from './errors.js';

/**
 * A typed client of the try-on API, on undici, with timeouts, retries where a retry is safe,
 * and errors that say what went wrong and where. The request and answer shapes are the API's
 * own, from @tryon/domain. The CLI talks to the service only through this module.
 */

export interface ClientOptions {
  baseUrl: string;
  token?: string;
  /** Waiting for an answer's headers (uploads and submits wait longer) or its next chunk. */
  timeoutMs?: number;
  /** Attempts for a request that may be repeated safely (network errors, 502-504, 429). */
  attempts?: number;
}

type Method = 'GET' | 'POST';

interface Call {
  method: Method;
  path: string;
  json?: unknown;
  /** Built again for each attempt (a multipart body is consumed by sending it). */
  form?: () => Promise<FormData>;
  /** Only requests that can be repeated without effect are retried. */
  idempotent: boolean;
  /** Until the answer's headers arrive: covers sending the body and the API's work on it. */
  headersTimeoutMs?: number;
  signal?: AbortSignal;
  /** Extra request headers (an event stream's accept and Last-Event-ID). */
  headers?: Record<string, string>;
}

/** Sending up to 32 MiB and the API checking every image. */
const UPLOAD_TIMEOUT_MS = 300_000;
/** Recording and queueing up to 10,000 items. */
const SUBMIT_TIMEOUT_MS = 120_000;
/** A 429's Retry-After is honoured up to this long per wait. */
const MAX_RETRY_AFTER_MS = 60_000;
const RATE_LIMIT_ATTEMPTS = 20;

export class TryonClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly dispatcher: Dispatcher;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token || undefined;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.attempts = options.attempts ?? 4;
    this.dispatcher = new Agent({
      connectTimeout: 10_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      keepAliveTimeout: 10_000,
    });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** Uploads files in one multipart request; answers one asset per file, in order. */
  async uploadAssets(paths: string[], signal?: AbortSignal): Promise<Asset[]> {
    const answer = await this.call<{ assets: Asset[] }>({
      method: 'POST',
      path: '/v1/assets',
      // Same bytes, same asset: repeating an upload changes nothing.
      idempotent: true,
      headersTimeoutMs: UPLOAD_TIMEOUT_MS,
      signal,
      form: async () => {
        const form = new FormData();
        for (const path of paths) {
          const type = contentTypeForName(path) ?? 'application/octet-stream';
          form.append('file', await openAsBlob(path, { type }), basename(path));
        }
        return form;
      },
    });
    if (!Array.isArray(answer.assets) || answer.assets.length !== paths.length) {
      throw unexpected('POST /v1/assets', `expected ${paths.length} assets`);
    }
    return answer.assets;
  }

  /**
   * Submits a batch. Retried only with an idempotency key (the API answers the batch it made
   * for a repeated key), which the CLI always sends.
   */
  createBatch(body: CreateBatchRequest, signal?: AbortSignal): Promise<BatchResponse> {
    return this.call<BatchResponse>({
      method: 'POST',
      path: '/v1/batches',
      json: body,
      idempotent: body.idempotency_key !== undefined,
      headersTimeoutMs: SUBMIT_TIMEOUT_MS,
      signal,
    });
  }

  /** Validates a batch and estimates it (items, credits, ETA) without recording anything. */
  dryRunBatch(body: CreateBatchRequest, signal?: AbortSignal): Promise<DryRunAnswer> {
    return this.call<DryRunAnswer>({
      method: 'POST',
      path: '/v1/batches?dry_run=true',
      json: body,
      // Records nothing: repeating it is harmless.
      idempotent: true,
      headersTimeoutMs: SUBMIT_TIMEOUT_MS,
      signal,
    });
  }

  getBatch(id: string, signal?: AbortSignal): Promise<BatchResponse> {
    return this.call<BatchResponse>({
      method: 'GET',
      path: `/v1/batches/${encodeURIComponent(id)}`,
      idempotent: true,
      signal,
    });
  }

  listItems(
    batchId: string,
    query: { status?: ItemStatus; limit?: number; cursor?: string | null } = {},
    signal?: AbortSignal,
  ): Promise<ItemsPage> {
    const params = new URLSearchParams();
    if (query.status) params.set('status', query.status);
    if (query.limit) params.set('limit', String(query.limit));
    if (query.cursor) params.set('cursor', query.cursor);
    const qs = params.size > 0 ? `?${params.toString()}` : '';
    return this.call({
      method: 'GET',
      path: `/v1/batches/${encodeURIComponent(batchId)}/items${qs}`,
      idempotent: true,
      signal,
    });
  }

  /** Every item of a batch, in submission order (pages of 500). */
  async allItems(batchId: string, status?: ItemStatus): Promise<Item[]> {
    const items: Item[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.listItems(batchId, { status, limit: 500, cursor });
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  }

  cancelBatch(id: string): Promise<BatchResponse> {
    return this.call<BatchResponse>({
      method: 'POST',
      path: `/v1/batches/${encodeURIComponent(id)}/cancel`,
      idempotent: true,
    });
  }

  retryBatch(id: string): Promise<BatchResponse> {
    // Not repeated on its own: a second retry could re-queue items that failed again meanwhile.
    return this.call<BatchResponse>({
      method: 'POST',
      path: `/v1/batches/${encodeURIComponent(id)}/retry`,
      idempotent: false,
    });
  }

  /**
   * The batch's server-sent events (GET /v1/batches/:id/events) as a raw stream the caller must
   * consume or destroy. The API pings every 15 s, so the client's body timeout (between two
   * chunks) notices a stream that went silent.
   */
  async batchEvents(
    id: string,
    options: { signal?: AbortSignal | undefined; lastEventId?: string | undefined } = {},
  ): Promise<Readable> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
    const response = await this.send({
      method: 'GET',
      path: `/v1/batches/${encodeURIComponent(id)}/events`,
      idempotent: true,
      signal: options.signal,
      headers,
    });
    return response.body;
  }

  /** The result image of a completed item, as a stream the caller must consume. */
  async itemResult(
    itemId: string,
    signal?: AbortSignal,
  ): Promise<{ body: Readable; contentType: string; bytes: number | null }> {
    const response = await this.send({
      method: 'GET',
      path: `/v1/items/${encodeURIComponent(itemId)}/result`,
      idempotent: true,
      signal,
    });
    const length = Number(response.headers['content-length']);
    return {
      body: response.body,
      contentType: String(response.headers['content-type'] ?? ''),
      bytes: Number.isFinite(length) ? length : null,
    };
  }

  private async call<T>(call: Call): Promise<T> {
    const response = await this.send(call);
    const text = await response.body.text().catch((error: unknown) => {
      throw networkError(`${call.method} ${call.path}`, error);
    });
    try {
      return JSON.parse(text) as T;
    } catch {
      throw unexpected(`${call.method} ${call.path}`, `not JSON: ${text.slice(0, 80)}`);
    }
  }

  /** One request with retries; answers a 2xx response whose body the caller reads. */
  private async send(call: Call): Promise<Dispatcher.ResponseData> {
    const what = `${call.method} ${call.path}`;
    let failures = 0;
    let rateLimited = 0;
    for (;;) {
      try {
        return await this.once(call, what);
      } catch (error) {
        if (call.signal?.aborted) throw error;
        let waitMs: number;
        if (error instanceof ApiError && error.status === 429) {
          // Every request may be refused by the per-tenant limit before it did anything.
          if (++rateLimited >= RATE_LIMIT_ATTEMPTS) throw error;
          waitMs = Math.min(error.retryAfterMs ?? 1_000, MAX_RETRY_AFTER_MS);
        } else {
          const retryable =
            (error instanceof NetworkError && error.retryable) ||
            (error instanceof ApiError && [502, 503, 504].includes(error.status));
          if (!retryable || !call.idempotent || ++failures >= this.attempts) throw error;
          waitMs = 250 * 2 ** failures;
        }
        await sleep(waitMs, undefined, { signal: call.signal });
      }
    }
  }

  private async once(call: Call, what: string): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | Readable | undefined;
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.json);
    } else if (call.form) {
      // Encoded by Node's own Response: undici 7's request cannot send Node 24's FormData.
      const encoded = new Response(await call.form());
      headers['content-type'] = encoded.headers.get('content-type') ?? 'multipart/form-data';
      body = encoded.body ? Readable.fromWeb(encoded.body) : undefined;
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.baseUrl}${call.path}`, {
        method: call.method,
        headers,
        body,
        dispatcher: this.dispatcher,
        headersTimeout: call.headersTimeoutMs ?? this.timeoutMs,
        // Between two chunks of the answer, not for all of it: a long download is fine.
        bodyTimeout: this.timeoutMs,
        signal: call.signal,
      });
    } catch (error) {
      throw networkError(what, error, this.baseUrl);
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return response;
    const text = await response.body.text().catch(() => '');
    throw apiError(what, response.statusCode, text, response.headers['retry-after']);
  }
}

function apiError(
  what: string,
  status: number,
  text: string,
  retryAfter: string | string[] | undefined,
): ApiError {
  let code = `http_${status}`;
  let message = text.trim().slice(0, 200) || `HTTP ${status}`;
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string') code = parsed.error.code;
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    // not the API's error shape: keep the status and the start of the body
  }
  if (status === 401) {
    message = `${message} (check TRYON_TOKEN or --token)`;
  }
  return new ApiError(status, code, `${what}: ${message}`, parseRetryAfter(retryAfter));
}

export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function networkError(what: string, error: unknown, baseUrl?: string): CliError {
  if (error instanceof CliError) return error;
  const e = error as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  if (e.name === 'AbortError') return new NetworkError('aborted', `${what}: aborted`, false);
  const code = e.code ?? e.cause?.code ?? 'network_error';
  const where = baseUrl ? ` (${baseUrl})` : '';
  const hint =
    code === 'ECONNREFUSED' || code === 'ENOTFOUND'
      ? ': is the API running there? Set TRYON_URL or --url'
      : code.includes('TIMEOUT')
        ? ': the API did not answer in time'
        : '';
  return new NetworkError(
    code.toLowerCase(),
    `${what}${where}: ${e.message ?? code}${hint}`,
    RETRYABLE_CODES.has(code),
  );
}

function unexpected(what: string, detail: string): NetworkError {
  return new NetworkError('unexpected_answer', `${what}: unexpected answer, ${detail}`, false);
}
