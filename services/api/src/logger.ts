import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { DestinationStream, LoggerOptions } from 'pino';
import type { Config } from '@tryon/config';
import { loggerOptions as sharedLoggerOptions } from '@tryon/logger';
import packageJson from '../package.json' with { type: 'json' };

/** What callers may set: pino options, and a stream to write to (tests collect lines). */
export type ApiLoggerOptions = LoggerOptions & { stream?: DestinationStream };

export function loggerOptions(config: Config, overrides?: ApiLoggerOptions): ApiLoggerOptions {
  const { stream, ...options } = overrides ?? {};
  return {
    ...sharedLoggerOptions('tryon-api', config.logLevel, {
      ...options,
      base: { version: packageJson.version, ...options.base },
      serializers: { req: serializeRequest, ...options.serializers },
    }),
    ...(stream && { stream }),
  };
}

/** Query parameters whose value is a credential or a capability: never logged. */
const SECRET_PARAM = /^(signature|sig|token|access_token|api_key|apikey|key|secret|password)$/i;

/** A URL path and query as logged: the values of credential-like parameters replaced. */
export function redactRequestUrl(url: string): string {
  const queryAt = url.indexOf('?');
  if (queryAt < 0) return url;
  const query = url
    .slice(queryAt + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const name = equals < 0 ? pair : pair.slice(0, equals);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // a malformed escape: judge the raw name
      }
      return equals >= 0 && SECRET_PARAM.test(decoded) ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, queryAt)}?${query}`;
}

interface LoggedRequest {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number } | null;
}

/**
 * Fastify's own request serializer (method, url, host, remote address and port; never headers),
 * with signed result links' signatures and any token-like query parameter redacted.
 */
function serializeRequest(request: LoggedRequest) {
  return {
    method: request.method,
    url: redactRequestUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's X-Request-Id when it is a plain token (no log injection), else a UUID. */
export function requestId(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}
