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
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxBytes = opts.maxBytes ?? 20 * 1024 * 1024;
  const protocols = opts.allowedProtocols ?? [...DEFAULT_PROTOCOLS];
  const policy = safeDispatcherPolicy(opts.dispatcher) ?? {
    allowPrivateNetworks: opts.allowPrivateNetworks ?? false,
    lookup: opts.lookup,
  };

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`fetch timed out after ${timeoutMs} ms`));
  }, timeoutMs);

  // Settles (with undefined) when the total timeout fires, to cut a slow name lookup short.
  const aborted = new Promise<undefined>((resolve) => {
    controller.signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });

  let headers: Record<string, string> = { ...opts.headers };
  let current = url;
  let origin: string | undefined;
  try {
    for (let redirects = 0; ; redirects++) {
      const checked = await Promise.race([
        checkPublicUrl(current, {
          allowPrivateNetworks: policy.allowPrivateNetworks,
          allowedProtocols: protocols,
          ...(policy.lookup ? { lookup: policy.lookup } : {}),
        }),
        aborted,
      ]);
      if (timedOut || checked === undefined) {
        throw new SafeFetchError('timeout', `no answer within ${timeoutMs} ms`, current);
      }
      if (!checked.ok) {
        const prefix = redirects > 0 ? 'redirect target refused: ' : '';
        throw new SafeFetchError(checked.code, prefix + checked.message, current);
      }
      const target = checked.url;
      if (origin !== undefined && target.origin !== origin) {
        headers = Object.fromEntries(
          Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.includes(k.toLowerCase())),
        );
      }
      origin = target.origin;

      let res: Dispatcher.ResponseData;
      try {
        res = await request(target, {
          method: 'GET',
          headers,
          dispatcher: opts.dispatcher,
          signal: controller.signal,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
      } catch (err) {
        const { code, message } = describeTransportError(err, timedOut, timeoutMs);
        throw new SafeFetchError(code, message, target.href);
      }

      if (REDIRECTS.has(res.statusCode)) {
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
          current = new URL(next, target).href;
        } catch {
          throw new SafeFetchError(
            'bad_redirect',
            'redirect Location is not a valid URL',
            target.href,
          );
        }
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
        const { code, message } = describeTransportError(err, timedOut, timeoutMs);
        throw new SafeFetchError(code, message, target.href);
      }
      return {
        url: target,
        status: res.statusCode,
        headers: res.headers,
        body: Buffer.concat(chunks, size),
        redirects,
      };
    }
  } finally {
    clearTimeout(timer);
  }
}
