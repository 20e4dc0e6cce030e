import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describeError, lingerOnRefusedBody } from '../errors.js';

/**
 * Errors of the FitRoom-compatible routes, in FitRoom's shape and status codes: an existing
 * FitRoom client reads them as it reads FitRoom's own. Body `{ "error": "<Reason Phrase>",
 * "message" }`, with the document's descriptions as messages where it has them.
 */
export interface FitRoomErrorBody {
  error: string;
  message: string;
}

const DOCUMENTED: Record<number, string> = {
  400: 'Your request is invalid.',
  401: 'Your API key is wrong.',
  402: 'Insufficient credit. Please upgrade your plan or purchase more credits.',
  429: 'You requested too much API. Try again later',
  500: 'We had a problem with our server. Try again later.',
  503: "We're temporarily offline for maintenance. Please try again later.",
};

const reason = (status: number): string => STATUS_CODES[status] ?? 'Error';

export class FitRoomHttpError extends Error {
  override readonly name = 'FitRoomHttpError';
  constructor(
    readonly statusCode: number,
    message?: string,
    /** Seconds, sent as Retry-After (429, 503). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message ?? DOCUMENTED[statusCode] ?? reason(statusCode));
  }

  get body(): FitRoomErrorBody {
    return { error: reason(this.statusCode), message: this.message };
  }
}

/** 400 with the document's wording followed by what exactly is wrong, as FitRoom's simulator does. */
export const fitroomBadRequest = (detail: string): FitRoomHttpError =>
  new FitRoomHttpError(400, `Your request is invalid: ${detail}`);

/** Error codes of Fastify and of this API whose status FitRoom would not answer. */
const AS_BAD_REQUEST = new Set([
  'unsupported_media_type', // a body that is not multipart, a file that is not an image
  'invalid_image', // a truncated or corrupt image, a decompression bomb
  'validation_error',
  'invalid_multipart',
  'invalid_json',
  'invalid_request',
]);

/** Any error thrown on a FitRoom-compatible route, as FitRoom would answer it. */
export function asFitRoomError(error: unknown): FitRoomHttpError {
  if (error instanceof FitRoomHttpError) return error;
  const described = describeError(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return fitroomBadRequest('the body must be multipart/form-data.');
  }
  if (described.status >= 500) return new FitRoomHttpError(500);
  if (described.status === 401) return new FitRoomHttpError(401);
  if (AS_BAD_REQUEST.has(described.code) || described.status === 400) {
    return fitroomBadRequest(described.message);
  }
  return new FitRoomHttpError(described.status, described.message);
}

/** The error handler of the FitRoom-compatible scope. */
export function fitroomErrorHandler(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const answer = asFitRoomError(error);
  lingerOnRefusedBody(request, reply);
  if (answer.statusCode >= 500 && !(error instanceof FitRoomHttpError)) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ status: answer.statusCode }, answer.message);
  }
  if (answer.retryAfterSeconds !== undefined) {
    void reply.header('retry-after', String(answer.retryAfterSeconds));
  }
  void reply.status(answer.statusCode).type('application/json').send(answer.body);
}

export function fitroomNotFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const path = (request.url.split('?')[0] ?? '').slice(0, 200);
  const answer = new FitRoomHttpError(404, `Route ${request.method} ${path} not found.`);
  void reply.status(404).type('application/json').send(answer.body);
}
