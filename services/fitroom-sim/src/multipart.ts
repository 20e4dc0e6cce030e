import type { FastifyRequest } from 'fastify';
import { badRequest, HttpError } from './errors.js';

export interface Form {
  /** First file sent under each field name. */
  files: Map<string, Buffer>;
  /** First text value sent under each field name. */
  fields: Map<string, string>;
}

export const MULTIPART_LIMITS = { files: 8, fields: 16, parts: 32, fieldSize: 64 * 1024 };

function isFastifyError(error: unknown): error is { code?: string; statusCode?: number } {
  return typeof error === 'object' && error !== null;
}

/**
 * Reads a multipart/form-data body into memory. A non-multipart body or a malformed one is
 * a 400; a file over `maxFileBytes` (or too many parts) a 413.
 */
export async function readForm(request: FastifyRequest, maxFileBytes: number): Promise<Form> {
  if (!request.isMultipart()) {
    throw badRequest('the body must be multipart/form-data.');
  }
  const form: Form = { files: new Map(), fields: new Map() };
  let field = '';
  try {
    for await (const part of request.parts({
      limits: { ...MULTIPART_LIMITS, fileSize: maxFileBytes },
    })) {
      field = part.fieldname;
      if (part.type === 'file') {
        const data = await part.toBuffer();
        if (!form.files.has(part.fieldname)) form.files.set(part.fieldname, data);
      } else if (!form.fields.has(part.fieldname)) {
        form.fields.set(part.fieldname, String(part.value));
      }
    }
  } catch (error) {
    if (error instanceof HttpError) throw error;
    if (isFastifyError(error) && error.code === 'FST_REQ_FILE_TOO_LARGE') {
      throw new HttpError(413, `${field} is larger than ${maxFileBytes} bytes.`);
    }
    if (isFastifyError(error) && error.statusCode === 413) {
      throw new HttpError(413, 'The request has too many parts.');
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw badRequest(`malformed multipart body (${detail}).`);
  }
  return form;
}
