import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { DestinationStream, LoggerOptions } from 'pino';
import type { Config } from '@tryon/config';
import packageJson from '../package.json' with { type: 'json' };

/** What callers may set: pino options, and a stream to write to (tests collect lines). */
export type ApiLoggerOptions = LoggerOptions & { stream?: DestinationStream };

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
 * Censors sensitive fields of the plain objects and arrays in a log call. Errors, requests and
 * replies are left to pino's serializers (their headers are covered by REDACT_PATHS).
 */
export function redactFields(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SENSITIVE_FIELD.test(key) ? REDACTED : redactFields(v, depth + 1);
  }
  return out;
}

export function loggerOptions(config: Config, overrides?: ApiLoggerOptions): ApiLoggerOptions {
  return {
    level: config.logLevel,
    ...overrides,
    base: { service: 'tryon-api', version: packageJson.version, ...overrides?.base },
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    formatters: {
      ...overrides?.formatters,
      log: (object) => redactFields(object) as Record<string, unknown>,
    },
  };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's X-Request-Id when it is a plain token (no log injection), else a UUID. */
export function requestId(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}
