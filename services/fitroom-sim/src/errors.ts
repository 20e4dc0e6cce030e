import { STATUS_CODES } from 'node:http';

/**
 * Error bodies: `{ "error": "<Reason Phrase>", "message": "<human text>" }`, with the FitRoom
 * document's descriptions as messages where it has them.
 */
export interface ErrorBody {
  error: string;
  message: string;
}

const DOCUMENTED_MESSAGES: Record<number, string> = {
  400: 'Your request is invalid.',
  401: 'Your API key is wrong.',
  402: 'Insufficient credit. Please upgrade your plan or purchase more credits.',
  429: 'You requested too much API. Try again later',
  500: 'We had a problem with our server. Try again later.',
  503: "We're temporarily offline for maintenance. Please try again later.",
};

export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

export function errorBody(status: number, message?: string): ErrorBody {
  return {
    error: reasonPhrase(status),
    message: message ?? DOCUMENTED_MESSAGES[status] ?? reasonPhrase(status),
  };
}

/** 400 with the document's wording followed by what exactly is wrong. */
export function badRequest(detail: string): HttpError {
  return new HttpError(400, `Your request is invalid: ${detail}`);
}

/** An error that becomes an HTTP answer of `statusCode` with `message`. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message?: string,
  ) {
    super(message ?? DOCUMENTED_MESSAGES[statusCode] ?? reasonPhrase(statusCode));
    this.name = 'HttpError';
  }
}
