import type { IncomingHttpHeaders } from 'node:http';
import { request, type Dispatcher } from 'undici';
import { safeDispatcherPolicy } from './dispatcher.js';
import {
  abandonBody,
  describeTransportError,
  discardBody,
  type TransportErrorCode,
} from './errors.js';
import {
  checkPublicUrl,
  DEFAULT_PROTOCOLS,
  type AllowedProtocol,
  type LookupFn,
} from './url-check.js';

export type SafeFetchErrorCode =
  TransportErrorCode | 'too_many_redirects' | 'bad_redirect' | 'body_too_large' | 'http_error';

/** Every failure of {@link safeFetch}; `status` is set for `http_error`. */
export class SafeFetchError extends Error {
  override readonly name = 'SafeFetchError';
  constructor(
    readonly code: SafeFetchErrorCode,
    message: string,
    readonly url: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface SafeFetchOptions {
  /** Should come from createSafeDispatcher; its policy also drives the per-hop pre-check. */
  dispatcher: Dispatcher;
  /** Redirects followed, each target checked again. Default 5; 0 refuses any redirect. */
  maxRedirects?: number;
  /** Total time over every hop, body included. Default 30 000. */
  timeoutMs?: number;
  /** Body size cap. Default 20 MiB. */
  maxBytes?: number;
  headers?: Record<string, string>;
  /** Default `['https:', 'http:']`, for the first URL and every redirect. */
  allowedProtocols?: AllowedProtocol[];
  /** Used only when `dispatcher` is not a safe dispatcher (default false). */
  allowPrivateNetworks?: boolean;
  /** Used only when `dispatcher` is not a safe dispatcher. */
  lookup?: LookupFn;
}

export interface SafeFetchResult {
  /** The final URL after redirects. */
  url: URL;
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  redirects: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/**
 * GETs a tenant-supplied URL (an image): every hop is checked with checkPublicUrl before the
 * request and again at connect time by the safe dispatcher; redirects are followed by hand up to
 * `maxRedirects`; the body is streamed into memory and cut off past `maxBytes`. Answers other
 * than 2xx after redirects throw `http_error`. Throws only {@link SafeFetchError}.
 */
export async function safeFetch(url: string, opts: SafeFetchOptions): Promise<SafeFetchResult> {
  const maxRedirects = opts.maxRedirects ?? 5;
  const maxBytes = opts.maxBytes ?? 20 * 1024 * 1024;
  const deadline = startDeadline(opts.timeoutMs ?? 30_000);
  let headers: Record<string, string> = { ...opts.headers };
  let current = url;
  let origin: string | undefined;
  try {
    for (let redirects = 0; ; redirects++) {
      const target = await checkHop(current, redirects, opts, deadline);
      // Credentials were meant for the first origin only.
      if (origin !== undefined && target.origin !== origin) headers = withoutCredentials(headers);
      origin = target.origin;

      const res = await sendRequest(target, headers, opts.dispatcher, deadline);
      if (REDIRECTS.has(res.statusCode)) {
        current = await redirectTarget(res, target, redirects, maxRedirects);
        continue;
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        await discardBody(res.body);
        throw new SafeFetchError(
          'http_error',
          `answered ${res.statusCode}`,
          target.href,
          res.statusCode,
        );
      }
      const body = await readBody(res, target, maxBytes, deadline);
      return { url: target, status: res.statusCode, headers: res.headers, body, redirects };
    }
  } finally {
    deadline.clear();
  }
}

/** The total time budget of one safeFetch, over every hop and the body. */
interface Deadline {
  timeoutMs: number;
  signal: AbortSignal;
  /** Settles (with undefined) when the budget runs out, to cut a slow name lookup short. */
  aborted: Promise<undefined>;
  timedOut(): boolean;
  clear(): void;
}

function startDeadline(timeoutMs: number): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`fetch timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  const aborted = new Promise<undefined>((resolve) => {
    controller.signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
  return {
    timeoutMs,
    signal: controller.signal,
    aborted,
    timedOut: () => timedOut,
    clear: () => clearTimeout(timer),
  };
}

/** Checks one hop's URL (the first or a redirect target) before anything is sent to it. */
async function checkHop(
  current: string,
  redirects: number,
  opts: SafeFetchOptions,
  deadline: Deadline,
): Promise<URL> {
  const policy = safeDispatcherPolicy(opts.dispatcher) ?? {
    allowPrivateNetworks: opts.allowPrivateNetworks ?? false,
    lookup: opts.lookup,
  };
  const checked = await Promise.race([
    checkPublicUrl(current, {
      allowPrivateNetworks: policy.allowPrivateNetworks,
      allowedProtocols: opts.allowedProtocols ?? [...DEFAULT_PROTOCOLS],
      ...(policy.lookup ? { lookup: policy.lookup } : {}),
    }),
    deadline.aborted,
  ]);
  if (deadline.timedOut() || checked === undefined) {
    throw new SafeFetchError('timeout', `no answer within ${deadline.timeoutMs} ms`, current);
  }
  if (!checked.ok) {
    const prefix = redirects > 0 ? 'redirect target refused: ' : '';
    throw new SafeFetchError(checked.code, prefix + checked.message, current);
  }
  return checked.url;
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.includes(k.toLowerCase())),
  );
}

async function sendRequest(
  target: URL,
  headers: Record<string, string>,
  dispatcher: Dispatcher,
  deadline: Deadline,
): Promise<Dispatcher.ResponseData> {
  try {
    return await request(target, {
      method: 'GET',
      headers,
      dispatcher,
      signal: deadline.signal,
      headersTimeout: deadline.timeoutMs,
      bodyTimeout: deadline.timeoutMs,
    });
  } catch (err) {
    const { code, message } = describeTransportError(err, deadline.timedOut(), deadline.timeoutMs);
    throw new SafeFetchError(code, message, target.href);
  }
}

/** The absolute URL a redirect answer points to, once its body is discarded. */
async function redirectTarget(
  res: Dispatcher.ResponseData,
  target: URL,
  redirects: number,
  maxRedirects: number,
): Promise<string> {
  await discardBody(res.body);
  const location = res.headers.location;
  const next = Array.isArray(location) ? location[0] : location;
  if (!next) {
    throw new SafeFetchError(
      'bad_redirect',
      `${res.statusCode} without a Location header`,
      target.href,
    );
  }
  if (redirects >= maxRedirects) {
    throw new SafeFetchError(
      'too_many_redirects',
      `more than ${maxRedirects} redirects`,
      target.href,
    );
  }
  try {
    return new URL(next, target).href;
  } catch {
    throw new SafeFetchError('bad_redirect', 'redirect Location is not a valid URL', target.href);
  }
}

/** Streams the body into memory, refusing it as soon as it is known to exceed `maxBytes`. */
async function readBody(
  res: Dispatcher.ResponseData,
  target: URL,
  maxBytes: number,
  deadline: Deadline,
): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    abandonBody(res.body);
    throw new SafeFetchError(
      'body_too_large',
      `body of ${declared} bytes exceeds the limit of ${maxBytes}`,
      target.href,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > maxBytes) {
        abandonBody(res.body);
        throw new SafeFetchError(
          'body_too_large',
          `body exceeds the limit of ${maxBytes} bytes`,
          target.href,
        );
      }
      chunks.push(buf);
    }
  } catch (err) {
    if (err instanceof SafeFetchError) throw err;
    const { code, message } = describeTransportError(err, deadline.timedOut(), deadline.timeoutMs);
    throw new SafeFetchError(code, message, target.href);
  }
  return Buffer.concat(chunks, size);
}
