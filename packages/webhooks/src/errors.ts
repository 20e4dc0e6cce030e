import { UnsafeDestinationError, type UrlCheckCode } from './url-check.js';

export type TransportErrorCode = UrlCheckCode | 'timeout' | 'network_error';

/** Maps an error from an undici request (or our connector) to a code and a safe message. */
export function describeTransportError(
  err: unknown,
  timedOut: boolean,
  timeoutMs: number,
): { code: TransportErrorCode; message: string } {
  if (err instanceof UnsafeDestinationError) return { code: err.code, message: err.message };
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof UnsafeDestinationError) return { code: cause.code, message: cause.message };
  const code = (err as { code?: unknown } | null)?.code;
  if (
    timedOut ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return { code: 'timeout', message: `no complete answer within ${timeoutMs} ms` };
  }
  const text = err instanceof Error ? err.message : String(err);
  return {
    code: 'network_error',
    message: typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text,
  };
}

type Body = AsyncIterable<unknown> & {
  destroy(): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
};

const ignore = (): void => {};

/**
 * Closes a response body we no longer want. Destroying an unfinished undici body emits an
 * AbortError; the listener keeps that from becoming an uncaught exception.
 */
export function abandonBody(body: Body): void {
  body.on('error', ignore);
  body.destroy();
}

/** Reads and discards up to `limit` bytes of a body, then closes it; never throws. */
export async function discardBody(body: Body, limit = 64 * 1024): Promise<void> {
  body.on('error', ignore);
  let seen = 0;
  try {
    for await (const chunk of body) {
      seen += (chunk as Buffer).length;
      if (seen > limit) break;
    }
  } catch {
    // The answer is already known; a broken or slow body does not change it.
  } finally {
    body.destroy();
  }
}
