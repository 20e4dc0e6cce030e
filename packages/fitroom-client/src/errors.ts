/**
 * Typed errors of the FitRoom client. Every error the client throws on its own account is a
 * `FitRoomError`; the one exception is an abort requested by the caller's own AbortSignal,
 * which rejects with that signal's `reason` (as `fetch` does).
 *
 * No message, `fitroomMessage` or `cause` may carry the API key: the client redacts it before
 * building an error (see `redact`).
 */

/** Which FitRoom request an error (or a `beforeRequest` call) belongs to. */
export type FitRoomOperation = 'createTask' | 'getTask' | 'checkModel' | 'checkClothes';

/** Operations an error can come from: the four API requests and the result download. */
export type FitRoomErrorOperation = FitRoomOperation | 'downloadResult';

export type FitRoomErrorCode =
  | 'unauthorized'
  | 'insufficient_credit'
  | 'rate_limited'
  | 'bad_request'
  | 'not_found'
  | 'server_error'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'download_expired'
  | 'invalid_response';

export interface FitRoomErrorOptions {
  /** HTTP status of FitRoom's answer, when there was one. */
  status?: number;
  /** FitRoom's own message (already redacted and truncated). */
  fitroomMessage?: string;
  operation?: FitRoomErrorOperation;
  /** When the request was sent (Date.now()), for errors that answer a sent request. */
  sentAt?: number;
  cause?: unknown;
}

export abstract class FitRoomError extends Error {
  abstract readonly code: FitRoomErrorCode;
  /** Whether the same request may succeed later. The client itself never retries. */
  abstract readonly retryable: boolean;
  readonly status?: number;
  /** FitRoom's own message from the response body, when it sent one. */
  readonly fitroomMessage?: string;
  readonly operation?: FitRoomErrorOperation;
  /**
   * When the refused request was sent (this process's Date.now()): FitRoom's answer may arrive
   * after an operator resumed the key, and says nothing of the key as it is since.
   */
  readonly sentAt?: number;

  constructor(message: string, options: FitRoomErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.status !== undefined) this.status = options.status;
    if (options.fitroomMessage !== undefined) this.fitroomMessage = options.fitroomMessage;
    if (options.operation !== undefined) this.operation = options.operation;
    if (options.sentAt !== undefined) this.sentAt = options.sentAt;
  }
}

/** 401 (or 403 on an API route): the API key is wrong. */
export class FitRoomUnauthorizedError extends FitRoomError {
  override readonly code = 'unauthorized';
  override readonly retryable = false;
}

/** 402: the key has no credit left. */
export class FitRoomInsufficientCreditError extends FitRoomError {
  override readonly code = 'insufficient_credit';
  override readonly retryable = false;
}

/** 429: the key's request budget is spent; `retryAfterMs` comes from Retry-After. */
export class FitRoomRateLimitedError extends FitRoomError {
  override readonly code = 'rate_limited';
  override readonly retryable = true;
  readonly retryAfterMs?: number;

  constructor(message: string, options: FitRoomErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options);
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/** 400 (and any other 4xx without a more precise class): the request is invalid. */
export class FitRoomBadRequestError extends FitRoomError {
  override readonly code = 'bad_request';
  override readonly retryable = false;
}

/** 404: no such task (or route). */
export class FitRoomNotFoundError extends FitRoomError {
  override readonly code = 'not_found';
  override readonly retryable = false;
}

/** 500 and any 5xx other than 503. */
export class FitRoomServerError extends FitRoomError {
  override readonly code = 'server_error';
  override readonly retryable = true;
}

/** 503: FitRoom is offline for maintenance; `retryAfterMs` when it sent Retry-After. */
export class FitRoomUnavailableError extends FitRoomError {
  override readonly code = 'unavailable';
  override readonly retryable = true;
  readonly retryAfterMs?: number;

  constructor(message: string, options: FitRoomErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options);
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The call did not complete within its timeout (headers, body idle time or the overall
 * deadline). For createTask the task may nevertheless have been created.
 */
export class FitRoomTimeoutError extends FitRoomError {
  override readonly code = 'timeout';
  override readonly retryable = true;
}

/**
 * The connection failed (refused, reset, DNS ...). For createTask, if the request had been
 * sent, the task may nevertheless have been created.
 */
export class FitRoomNetworkError extends FitRoomError {
  override readonly code = 'network';
  override readonly retryable = true;
}

/** 403 on a download (also 410, or a 400 that says "expired"): the signed URL has expired. */
export class FitRoomDownloadExpiredError extends FitRoomError {
  override readonly code = 'download_expired';
  override readonly retryable = false;
}

/** A 2xx whose body is not what FitRoom documents, or a status the client cannot place. */
export class FitRoomInvalidResponseError extends FitRoomError {
  override readonly code = 'invalid_response';
  override readonly retryable = true;
}

export function isFitRoomError(value: unknown): value is FitRoomError {
  return value instanceof FitRoomError;
}

const MAX_MESSAGE_CHARS = 500;

/** Replaces every occurrence of each secret by `[redacted]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('[redacted]');
  }
  return out;
}

function truncate(text: string, max = MAX_MESSAGE_CHARS): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

function messageOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (Array.isArray(value)) {
    // e.g. FastAPI's `detail: [{ msg, loc, ... }]`
    const parts = value.map((item) => messageOf(item)).filter((m): m is string => m !== undefined);
    return parts.length > 0 ? parts.join('; ') : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return messageOf(record.message) ?? messageOf(record.msg) ?? messageOf(record.detail);
  }
  return undefined;
}

/**
 * FitRoom's own message from an error body. The simulator answers
 * `{ "error": "<Reason Phrase>", "message": "<text>" }`; real FitRoom's shape is undocumented,
 * so this reads `message`, then `error` (a string or an object with a message), then `detail`,
 * then the raw text; truncated, whitespace collapsed, secrets redacted.
 */
export function extractFitRoomMessage(
  rawBody: string,
  secrets: readonly string[] = [],
): string | undefined {
  if (rawBody.trim() === '') return undefined;
  let found: string | undefined;
  try {
    const parsed: unknown = JSON.parse(rawBody);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const body = parsed as Record<string, unknown>;
      found = messageOf(body.message) ?? messageOf(body.error) ?? messageOf(body.detail);
    } else {
      found = messageOf(parsed);
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return truncate(redact(found ?? rawBody, secrets));
}

/**
 * Milliseconds to wait from a Retry-After value: delay-seconds (decimals accepted) or an
 * HTTP date. Undefined when absent or unreadable; never negative.
 */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.max(0, Math.ceil(Number(text) * 1000));
  if (!/[a-z]/i.test(text)) return undefined; // an HTTP date names its day and month
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
