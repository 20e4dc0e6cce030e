import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import {
  FitRoomBadRequestError,
  FitRoomError,
  FitRoomInsufficientCreditError,
  FitRoomInvalidResponseError,
  FitRoomNetworkError,
  FitRoomNotFoundError,
  FitRoomRateLimitedError,
  FitRoomServerError,
  FitRoomTimeoutError,
  FitRoomUnauthorizedError,
  FitRoomUnavailableError,
  extractFitRoomMessage,
  parseRetryAfter,
  redact,
  type FitRoomErrorOperation,
} from './errors';

/** HTTP plumbing of the client: deadlines, bounded body reads, and the mapping of failures. */

/** Error bodies are read up to this size for their message. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** JSON answers larger than this are not FitRoom's. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

function errorCode(err: unknown): string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be > 0`);
  return value;
}

export function header(
  headers: Dispatcher.ResponseData['headers'],
  name: string,
): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads a body as text, stopping (and discarding the rest) after `limit` bytes. */
export async function readText(
  body: Readable,
  limit: number,
): Promise<{ text: string; complete: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      chunks.push(chunk.subarray(0, chunk.length - (size - limit)));
      body.destroy();
      return { text: Buffer.concat(chunks).toString('utf8'), complete: false };
    }
    chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), complete: true };
}

export interface Deadline {
  signal: AbortSignal;
  /** True once the deadline fired (as opposed to the caller aborting). */
  readonly timedOut: boolean;
  dispose(): void;
}

/** An AbortSignal that fires after `ms` with a FitRoomTimeoutError, or when `outer` aborts. */
export function deadline(
  ms: number,
  operation: FitRoomErrorOperation,
  outer?: AbortSignal,
): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(
      new FitRoomTimeoutError(`FitRoom ${operation}: no complete answer within ${ms} ms`, {
        operation,
      }),
    );
  }, ms);
  timer.unref();
  const onAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    dispose() {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

/** A FitRoomError for a non-2xx answer. */
export function statusError(
  status: number,
  headers: Dispatcher.ResponseData['headers'],
  text: string,
  operation: FitRoomErrorOperation,
  secrets: string[],
  sentAt?: number,
): FitRoomError {
  const fitroomMessage = extractFitRoomMessage(text, secrets);
  const reason = STATUS_CODES[status] ?? 'Unknown Status';
  const message = `FitRoom ${operation}: ${status} ${reason}${fitroomMessage ? ` - ${fitroomMessage}` : ''}`;
  const base = {
    status,
    operation,
    ...(fitroomMessage ? { fitroomMessage } : {}),
    ...(sentAt === undefined ? {} : { sentAt }),
  };
  const retryAfterMs = parseRetryAfter(headers['retry-after']);
  const withRetry = retryAfterMs === undefined ? base : { ...base, retryAfterMs };
  switch (status) {
    case 400:
      return new FitRoomBadRequestError(message, base);
    case 401:
    case 403:
      return new FitRoomUnauthorizedError(message, base);
    case 402:
      return new FitRoomInsufficientCreditError(message, base);
    case 404:
      return new FitRoomNotFoundError(message, base);
    case 408:
      return new FitRoomTimeoutError(message, base);
    case 429:
      return new FitRoomRateLimitedError(message, withRetry);
    case 503:
      return new FitRoomUnavailableError(message, withRetry);
  }
  if (status >= 500) return new FitRoomServerError(message, base);
  if (status >= 400) return new FitRoomBadRequestError(message, base);
  return new FitRoomInvalidResponseError(message, base);
}

/** Maps a failure without an HTTP answer: deadline, caller abort, undici and socket errors. */
export function transportError(
  err: unknown,
  operation: FitRoomErrorOperation,
  limit: Deadline,
  signal: AbortSignal | undefined,
  secrets: string[],
): unknown {
  if (err instanceof FitRoomError) return err;
  if (limit.timedOut) {
    return new FitRoomTimeoutError(`FitRoom ${operation}: timed out`, { operation });
  }
  // The caller's own abort: reject with its reason, as fetch does.
  if (signal?.aborted) return signal.reason as unknown;
  const code = errorCode(err);
  const detail = redact(err instanceof Error ? err.message : String(err), secrets);
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new FitRoomTimeoutError(`FitRoom ${operation}: timed out (${code})`, {
      operation,
      cause: err,
    });
  }
  return new FitRoomNetworkError(
    `FitRoom ${operation}: network error${code ? ` (${code})` : ''}: ${detail}`,
    { operation, cause: err },
  );
}
