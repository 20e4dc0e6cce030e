import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FitRoomHttpError } from './lib/fitroom-errors.js';

/**
 * Errors Fastify raises before routing, where no error handler runs: a URL whose escapes do not
 * decode (`/v1/items/%ZZ`), a path parameter over the router's length limit. Answered in the
 * error shape of the route the URL aims at (FitRoom's under /api/tryon), not Fastify's default.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  let status = 400;
  let code = 'bad_request';
  let message = 'the request could not be routed';
  if (error.code === 'FST_ERR_BAD_URL') {
    code = 'invalid_url';
    message = 'the URL path has an escape sequence that does not decode';
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    status = 414;
    code = 'uri_too_long';
    message = 'a path parameter is longer than any id this API gives out';
  }
  request.log.info({ status, code: error.code }, message);
  if (request.raw.url?.startsWith('/api/tryon')) {
    const answer = new FitRoomHttpError(
      status,
      status === 400 ? `Your request is invalid: ${message}.` : message,
    );
    void reply.status(status).type('application/json').send(answer.body);
    return;
  }
  void reply.status(status).send({ error: { code, message } });
}

/** The path of the request line Node's parser had read when it gave up, if it got that far. */
function requestedPath(error: NodeJS.ErrnoException & { rawPacket?: unknown }): string {
  if (!Buffer.isBuffer(error.rawPacket)) return '';
  const line = error.rawPacket.subarray(0, 256).toString('latin1');
  return /^[A-Z]+ (\/\S*)/.exec(line)?.[1] ?? '';
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (a malformed request line, an
 * unknown method, headers over Node's limit, a body framing error, a request that took too
 * long): answered with the API's error shape (FitRoom's when the request line names an
 * /api/tryon route) instead of Fastify's default body, then the connection is closed (the
 * stream cannot be trusted after a parse error).
 */
export function clientErrorHandler(
  error: NodeJS.ErrnoException & { rawPacket?: unknown },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let code = 'bad_request';
  let message = 'malformed HTTP request';
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    code = 'headers_too_large';
    message = 'request headers are larger than this server accepts';
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    code = 'request_timeout';
    message = 'the request took too long to arrive';
  } else if (error.code === 'HPE_INVALID_METHOD') {
    message = 'unknown HTTP method';
  }
  const body = JSON.stringify(
    requestedPath(error).startsWith('/api/tryon')
      ? new FitRoomHttpError(
          status,
          status === 400 ? `Your request is invalid: ${message}.` : message,
        ).body
      : { error: { code, message } },
  );
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroySoon();
}
