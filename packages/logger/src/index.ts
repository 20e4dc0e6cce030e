import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { serializeError, serializeRequest, stripQuery, URL_FIELD } from './urls.js';

export { serializeError, serializeRequest, stripQuery, stripQueriesInText } from './urls.js';

export type { Logger } from 'pino';

const REDACTED = '[redacted]';

/** Headers that carry credentials, wherever a request or response object is logged. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
];

/** Any field whose name says it holds a credential is censored, at any depth. */
const SENSITIVE_FIELD = /token|secret|key|authorization|cookie|passw/i;
const MAX_DEPTH = 8;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Censors sensitive fields of the plain objects and arrays in a log call, and cuts the query
 * string off every URL-named field (`url`, `downloadUrl`, `webhook_url`, ...). Errors, requests
 * and replies are left to pino's serializers (see urls.ts; headers are covered by REDACT_PATHS).
 */
export function redactFields(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (SENSITIVE_FIELD.test(key)) out[key] = REDACTED;
    else if (typeof v === 'string' && URL_FIELD.test(key)) out[key] = stripQuery(v);
    else out[key] = redactFields(v, depth + 1);
  }
  return out;
}

/** The pino options of every process: service name on each line, secrets and URL queries out. */
export function loggerOptions(
  service: string,
  level: LoggerOptions['level'] = 'info',
  overrides: LoggerOptions = {},
): LoggerOptions {
  return {
    level,
    ...overrides,
    base: { service, ...overrides.base },
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { req: serializeRequest, err: serializeError, ...overrides.serializers },
    formatters: {
      ...overrides.formatters,
      log: (object) => redactFields(object) as Record<string, unknown>,
    },
  };
}

export interface CreateLoggerOptions {
  service: string;
  level?: LoggerOptions['level'];
  /** Where lines go; stdout by default. Tests pass a stream to read every line. */
  destination?: DestinationStream;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const settings = loggerOptions(options.service, options.level);
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
