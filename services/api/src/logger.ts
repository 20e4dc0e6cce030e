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
    }),
    ...(stream && { stream }),
  };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's X-Request-Id when it is a plain token (no log injection), else a UUID. */
export function requestId(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}
