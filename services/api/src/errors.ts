import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/**
 * An answer the API gives on purpose: a status, a stable machine-readable code and a message
 * for a person. Everything else that reaches the error handler is mapped below, and anything
 * unknown becomes a 500 `internal_error` whose details only go to the log.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** Seconds, sent as Retry-After (429). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export const batchNotFound = (): ApiError =>
  new ApiError(404, 'batch_not_found', 'no batch with this id');
export const itemNotFound = (): ApiError =>
  new ApiError(404, 'item_not_found', 'no item with this id');
export const validationError = (message: string): ApiError =>
  new ApiError(400, 'validation_error', message);

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string | undefined;
  params: Record<string, unknown>;
}

/**
 * One message naming the field, from ajv's first error: `body/items/3/cloth_type must be one
 * of "upper", "lower", "full_set", "combo"`, `body/items/0: unknown field "colour"`.
 */
export function validationMessage(errors: readonly AjvError[], context: string): string {
  const first = errors[0];
  if (!first) return `${context} is invalid`;
  const where = (e: AjvError) => `${context}${e.instancePath}`;
  // A union of literals (TypeBox Union of Literal) fails as anyOf over const branches.
  const anyOf = errors.find((e) => e.keyword === 'anyOf');
  if (anyOf) {
    const branches = errors.filter((e) => e.instancePath === anyOf.instancePath && e !== anyOf);
    const allowed = branches
      .filter((e) => e.keyword === 'const')
      .map((e) => JSON.stringify(e.params.allowedValue));
    if (allowed.length > 0 && branches.every((e) => ['const', 'type'].includes(e.keyword))) {
      return `${where(anyOf)} must be one of ${allowed.join(', ')}`;
    }
  }
  if (first.keyword === 'additionalProperties') {
    return `${where(first)}: unknown field ${JSON.stringify(first.params.additionalProperty)}`;
  }
  return `${where(first)} ${first.message ?? 'is invalid'}`;
}

interface Answer {
  status: number;
  code: string;
  message: string;
  retryAfterSeconds?: number;
}

/** Fastify's and @fastify/multipart's own 4xx errors, by their code. */
const KNOWN: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'invalid_json',
    message: 'body is not valid JSON',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', message: 'body is empty' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'unsupported Content-Type: send application/json (multipart/form-data for uploads)',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'body_too_large',
    message: 'request body is larger than this route accepts',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request' },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'file_too_large' },
  // Uploads name their own limit (lib/uploads.ts); this is the fallback, with the same status.
  FST_FILES_LIMIT: { status: 400, code: 'too_many_files' },
  FST_PARTS_LIMIT: { status: 413, code: 'too_many_parts' },
  FST_FIELDS_LIMIT: { status: 413, code: 'too_many_parts' },
  FST_PROTO_VIOLATION: { status: 400, code: 'invalid_multipart' },
  FST_MP_PREMATURE_CLOSE: { status: 400, code: 'invalid_multipart' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'send the images as multipart/form-data',
  },
  FST_INVALID_JSON_FIELD_ERROR: { status: 400, code: 'invalid_multipart' },
};

export function describeError(error: unknown): Answer {
  if (error instanceof ApiError) {
    return {
      status: error.statusCode,
      code: error.code,
      message: error.message,
      ...(error.retryAfterSeconds !== undefined && { retryAfterSeconds: error.retryAfterSeconds }),
    };
  }
  const e = error as Partial<FastifyError> & { validation?: AjvError[] };
  if (Array.isArray(e.validation)) {
    return {
      status: 400,
      code: 'validation_error',
      message: validationMessage(e.validation, e.validationContext ?? 'request'),
    };
  }
  const known = typeof e.code === 'string' ? KNOWN[e.code] : undefined;
  if (known) {
    return {
      status: known.status,
      code: known.code,
      message: known.message ?? e.message ?? known.code,
    };
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    // Fastify's own client errors carry messages written for clients.
    return {
      status,
      code: status === 429 ? 'rate_limited' : 'bad_request',
      message: e.message ?? 'bad request',
    };
  }
  return {
    status: status >= 500 && status < 600 ? status : 500,
    code: 'internal_error',
    message: 'internal error; the request id is in the x-request-id header',
  };
}

/** How much of an unread body is still read (and dropped) after an error answer, and how long. */
const LINGER_BYTES = 32 * 1024 * 1024;
const LINGER_MS = 10_000;

/**
 * An error answered before the body was read to the end (413 too large, 415, 401, 429) leaves
 * the client still sending. Closing at once (Fastify asks for it after a body-parser error)
 * makes the kernel answer the rest with a reset, which can reach the client before it has read
 * the answer (it sees EPIPE or ECONNRESET instead). So the rest is read and dropped, up to
 * LINGER_BYTES or LINGER_MS, keeping the connection; past that it is cut: a client that sends
 * far more than any limit cannot make the server read it all.
 */
export function lingerOnRefusedBody(request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return;
  reply.removeHeader('connection');
  let read = 0;
  const cut = () => {
    cleanup();
    raw.socket?.destroy();
  };
  const timer = setTimeout(cut, LINGER_MS);
  timer.unref();
  const onData = (chunk: Buffer) => {
    read += chunk.length;
    if (read > LINGER_BYTES) cut();
  };
  const cleanup = () => {
    clearTimeout(timer);
    raw.off('data', onData);
    raw.off('end', cleanup);
    raw.off('close', cleanup);
  };
  raw.on('data', onData);
  raw.once('end', cleanup);
  raw.once('close', cleanup);
  raw.resume();
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const answer = describeError(error);
  lingerOnRefusedBody(request, reply);
  if (answer.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ status: answer.status, code: answer.code }, answer.message);
  }
  if (answer.status === 401) reply.header('www-authenticate', 'Bearer');
  if (answer.retryAfterSeconds !== undefined) {
    reply.header('retry-after', String(answer.retryAfterSeconds));
  }
  void reply.status(answer.status).send({ error: { code: answer.code, message: answer.message } });
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  void reply.status(404).send({
    error: {
      code: 'not_found',
      message: `no route ${request.method} ${(request.url.split('?')[0] ?? '').slice(0, 200)}`,
    },
  });
}
