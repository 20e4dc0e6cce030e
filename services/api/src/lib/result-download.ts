import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parse as parseRange } from 'range-parser';
import type { GetResult } from '@tryon/storage';

/** The stored result a signed link serves. */
export interface ResultObject {
  /** Lowercase hex sha256 of the stored bytes: the strong ETag. */
  sha256: string;
  bytes: number;
  contentType: string;
  /** Seconds until the link expires: how long a browser may keep the image. */
  maxAgeSeconds: number;
  /** Reads the bytes; null when storage no longer has them. */
  load: () => Promise<GetResult | null>;
}

/** A result image is at most 2048 px on its long side: a few MB, read whole for a range. */
const MAX_RANGE_SOURCE_BYTES = 64 * 1024 * 1024;

/** The If-None-Match list matches this ETag (weak comparison, as RFC 9110 asks for GET). */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

async function readAll(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new Error(`stored result is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Answers a download of a stored result as a storage server would: 304 for a matching
 * If-None-Match (storage not read), one byte range as 206 (416 when unsatisfiable, the whole
 * image when the Range is malformed, lists several ranges or If-Range names another version),
 * else 200; always with the content type, length, ETag and Accept-Ranges. False, with nothing
 * sent, when storage no longer has the object (the caller answers 404). (A boolean, not the
 * reply: a FastifyReply is thenable, so awaiting one would wait for the answer to finish.)
 */
export async function sendResult(
  request: FastifyRequest,
  reply: FastifyReply,
  result: ResultObject,
): Promise<boolean> {
  const etag = `"${result.sha256}"`;
  void reply
    .header('etag', etag)
    .header('accept-ranges', 'bytes')
    .header('cache-control', `private, max-age=${Math.max(0, result.maxAgeSeconds)}, immutable`)
    .header('x-content-type-options', 'nosniff');
  if (noneMatch(request.headers['if-none-match'], etag)) {
    void reply.code(304).send();
    return true;
  }

  const range = wantedRange(request, etag, result.bytes);
  if (range === 'unsatisfiable') {
    void reply.code(416).header('content-range', `bytes */${result.bytes}`).send();
    return true;
  }
  const object = await result.load();
  if (!object) return false;
  void reply.type(result.contentType || object.contentType);
  if (range === null) {
    void reply.header('content-length', object.bytes).send(object.body);
    return true;
  }
  const whole = await readAll(object.body, MAX_RANGE_SOURCE_BYTES);
  const part = whole.subarray(range.start, range.end + 1);
  void reply
    .code(206)
    .header('content-range', `bytes ${range.start}-${range.end}/${whole.length}`)
    .header('content-length', part.length)
    .send(part);
  return true;
}

function wantedRange(
  request: FastifyRequest,
  etag: string,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | null {
  const header = request.headers.range;
  if (typeof header !== 'string' || size === 0) return null;
  const ifRange = request.headers['if-range'];
  if (typeof ifRange === 'string' && ifRange.trim() !== etag) return null;
  const parsed = parseRange(size, header);
  if (parsed.type !== 'bytes' || (parsed.code & 1) !== 0) return null;
  if (parsed.ranges.length === 0) return 'unsatisfiable';
  if (parsed.ranges.length > 1) return null;
  return parsed.ranges[0]!;
}
