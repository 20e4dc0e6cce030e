/**
 * Exit codes, the one table the help text, the README and every command share.
 * A script can tell "the work failed" (1) from "the command was wrong" (2), "the service or the
 * network failed" (3) and "the token was refused" (4).
 */
export const EXIT = {
  ok: 0,
  /**
   * The batch did not succeed (outcome partial, failed or cancelled): some or all items failed,
   * or some were cancelled (download: some items have no file).
   */
  itemsFailed: 1,
  /** A wrong flag or argument, an unreadable input, or input the API refused as invalid. */
  usage: 2,
  /** The API or the network failed: 5xx, timeouts, refused connections, unexpected answers. */
  api: 3,
  /** The API refused the token (401, 403). */
  auth: 4,
  /** Interrupted (Ctrl-C) while watching: the batch goes on. */
  interrupted: 130,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  some or all items failed, or some were cancelled: the batch's outcome is not
     "succeeded" (download: some items have no file)
  2  usage or input error (bad flag, unreadable file, input the API refused as invalid)
  3  API or network error (5xx, timeout, connection refused, unexpected answer)
  4  auth error (the API refused the token)

Environment: TRYON_URL (default http://127.0.0.1:3000), TRYON_TOKEN; --url and --token win.`;

/** An error with a code for --json output and the exit code it ends the process with. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string, code = 'usage_error'): CliError =>
  new CliError(EXIT.usage, code, message);

/** The API answered with an error status: `{ error: { code, message } }` or something else. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(exitCodeForStatus(status), code, message);
    this.name = 'ApiError';
  }
}

/** The API could not be reached or did not answer in time or in shape. */
export class NetworkError extends CliError {
  constructor(
    code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(EXIT.api, code, message);
    this.name = 'NetworkError';
  }
}

export function exitCodeForStatus(status: number): number {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 429 || status >= 500) return EXIT.api;
  if (status >= 400) return EXIT.usage;
  return EXIT.api;
}

/** Any thrown value as a CliError: unexpected ones are exit 3 with their message. */
export function asCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CliError(EXIT.api, 'unexpected_error', message);
}
