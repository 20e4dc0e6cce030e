import { stdSerializers } from 'pino';

/**
 * A URL as logged: path only, never its query string or fragment. Signed result links, presigned
 * S3 URLs and callers' `?token=` parameters carry capabilities there; no list of parameter names
 * can know them all, so the whole query goes.
 */
export function stripQuery(url: string): string {
  const end = url.search(/[?#]/);
  return end < 0 ? url : url.slice(0, end);
}

/** Absolute URLs inside free text (error messages, stacks): their queries removed too. */
const URL_WITH_QUERY = /\b([a-z][a-z0-9+.-]*:\/\/[^\s?#"'<>`]+)[?#][^\s"'<>`]*/gi;

export function stripQueriesInText(text: string): string {
  return text.replace(URL_WITH_QUERY, '$1');
}

/** Fields whose name says they hold a URL: url, downloadUrl, webhook_url, href, ... */
export const URL_FIELD = /(^|[_-])(url|uri|href)$|[a-z](Url|Uri|Href)$/i;

interface LoggedRequest {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number } | null;
}

function isRequest(value: unknown): value is LoggedRequest {
  const candidate = value as Partial<LoggedRequest> | null;
  return typeof candidate?.url === 'string' && typeof candidate.method === 'string';
}

/**
 * Fastify's request serializer (method, url, host, remote address; never headers), url bare.
 * Anything else logged as `req` is left to the field rules (redactFields).
 */
export function serializeRequest(request: unknown): unknown {
  if (!isRequest(request)) return request;
  return {
    method: request.method,
    url: stripQuery(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** pino's error serializer, then every URL in it (message, stack, url fields) without query. */
export function serializeError(error: Error): Record<string, unknown> {
  const serialized = stdSerializers.err(error) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(serialized)) {
    if (typeof value !== 'string') out[key] = value;
    else out[key] = URL_FIELD.test(key) ? stripQuery(value) : stripQueriesInText(value);
  }
  return out;
}
