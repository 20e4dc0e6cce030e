import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Everywhere a secret could ride along in a log line: request headers, config objects, errors
 * that carry request options. Values at these paths print as [redacted].
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.apiKey',
  '*.apiKeys',
  '*.token',
  '*.tokens',
  '*.secret',
  '*.password',
  '*.secretAccessKey',
  'apiKey',
  'apiKeys',
  'token',
  'secret',
  'password',
  'err.options.headers',
];

export interface CreateLoggerOptions {
  service: string;
  level?: LoggerOptions['level'];
  /** Where lines go; stdout by default. Tests pass a stream to read every line. */
  destination?: DestinationStream;
}

/** The one logger setup of every process: service name on each line, secrets redacted. */
export function createLogger(options: CreateLoggerOptions): Logger {
  const settings: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
