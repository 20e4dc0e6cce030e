import { request, type Dispatcher } from 'undici';
import { describeTransportError, discardBody, type TransportErrorCode } from './errors.js';
import { isSafeDispatcher } from './dispatcher.js';
import { signWebhook, type WebhookEvent } from './signing.js';
import { checkPublicUrl, checkUrlSyntax, type UrlCheckResult } from './url-check.js';

export interface DeliverWebhookInput {
  url: string;
  /** The tenant's `whsec_` secret; used to sign, never logged or returned. */
  secret: string;
  event: WebhookEvent<object>;
  /** The stable webhook-id (see webhookEventId). */
  id: string;
  /**
   * Should come from createSafeDispatcher (it checks addresses at connect time). Any other
   * dispatcher gets a full checkPublicUrl with private networks refused before the request.
   */
  dispatcher: Dispatcher;
  /** Total time for connect, request, answer and draining the answer. Default 15 000. */
  timeoutMs?: number;
  /** Signing time; default now. */
  now?: Date;
  userAgent?: string;
}

export type DeliveryErrorCode = TransportErrorCode | 'redirect' | 'http_status';

export interface DeliveryResult {
  ok: boolean;
  status?: number;
  /** A short reason, safe to store and show to the tenant. */
  error?: string;
  code?: DeliveryErrorCode;
  durationMs: number;
}

const MAX_DRAIN_BYTES = 64 * 1024;

/**
 * POSTs one signed event. 2xx is success; a 3xx is a failure (redirects are never followed, so
 * a receiver cannot bounce us to another host); anything else, a refused destination, a network
 * error or the total timeout is a failure with a reason. Never throws.
 */
export async function deliverWebhook(input: DeliverWebhookInput): Promise<DeliveryResult> {
  const started = performance.now();
  const timeoutMs = input.timeoutMs ?? 15_000;
  const done = (r: Omit<DeliveryResult, 'durationMs'>): DeliveryResult => ({
    ...r,
    durationMs: Math.round(performance.now() - started),
  });

  let checked: UrlCheckResult;
  try {
    checked = isSafeDispatcher(input.dispatcher)
      ? checkUrlSyntax(input.url)
      : await checkPublicUrl(input.url, { allowPrivateNetworks: false });
  } catch (err) {
    return done({ ok: false, code: 'network_error', error: String(err) });
  }
  if (!checked.ok) return done({ ok: false, code: checked.code, error: checked.message });

  const body = JSON.stringify(input.event);
  const headers = {
    'content-type': 'application/json',
    'user-agent': input.userAgent ?? 'tryon-webhooks/1',
    ...signWebhook({
      secret: input.secret,
      id: input.id,
      timestamp: input.now ?? new Date(),
      body,
    }),
  };

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`webhook delivery timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  try {
    const res = await request(checked.url, {
      method: 'POST',
      headers,
      body,
      dispatcher: input.dispatcher,
      signal: controller.signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await discardBody(res.body, MAX_DRAIN_BYTES);
    const status = res.statusCode;
    if (status >= 200 && status < 300) return done({ ok: true, status });
    if (status >= 300 && status < 400) {
      return done({
        ok: false,
        status,
        code: 'redirect',
        error: `receiver answered ${status}; redirects are not followed`,
      });
    }
    return done({ ok: false, status, code: 'http_status', error: `receiver answered ${status}` });
  } catch (err) {
    const { code, message } = describeTransportError(err, timedOut, timeoutMs);
    return done({ ok: false, code, error: message });
  } finally {
    clearTimeout(timer);
  }
}
