import { MEDIA_TYPES, extensionForContentType, type MediaExtension } from '@tryon/domain';
import type { ImageInput } from './types';

interface Format {
  ext: string;
  contentType: string;
}

const format = (ext: MediaExtension): Format => ({ ext, contentType: MEDIA_TYPES[ext] });
const JPEG = format('jpg');
const PNG = format('png');
const WEBP = format('webp');
const GIF = format('gif');
const BMP = format('bmp');
const TIFF = format('tiff');
const HEIC = format('heic');
const AVIF = format('avif');

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, end));
}

/** The image format from its first bytes, if recognised. */
export function sniffImageFormat(bytes: Uint8Array): Format | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return JPEG;
  }
  if (bytes.length >= 8 && ascii(bytes, 1, 4) === 'PNG' && bytes[0] === 0x89) return PNG;
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') {
    return WEBP;
  }
  if (bytes.length >= 6 && ascii(bytes, 0, 4) === 'GIF8') return GIF;
  if (bytes.length >= 2 && ascii(bytes, 0, 2) === 'BM') return BMP;
  if (bytes.length >= 4 && (ascii(bytes, 0, 4) === 'II*\0' || ascii(bytes, 0, 4) === 'MM\0*')) {
    return TIFF;
  }
  if (bytes.length >= 12 && ascii(bytes, 4, 8) === 'ftyp') {
    const brand = ascii(bytes, 8, 12);
    if (brand === 'avif' || brand === 'avis') return AVIF;
    if (['heic', 'heix', 'hevc', 'hevx', 'mif1', 'msf1'].includes(brand)) return HEIC;
  }
  return undefined;
}

/** The file extension for an image content type, from the shared table. */
function imageExtension(contentType: string): string | undefined {
  return contentType.toLowerCase().startsWith('image/')
    ? extensionForContentType(contentType)
    : undefined;
}

interface FilePart {
  blob: Blob;
  filename: string;
}

async function toFilePart(field: string, image: ImageInput): Promise<FilePart> {
  const { data } = image;
  let blob: Blob;
  let head: Uint8Array;
  let blobName: string | undefined;
  if (data instanceof Blob) {
    head = new Uint8Array(await data.slice(0, 16).arrayBuffer());
    const format = sniffImageFormat(head);
    const type =
      image.contentType ?? (data.type || format?.contentType || 'application/octet-stream');
    blob = data.type === type ? data : data.slice(0, data.size, type);
    const name = (data as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') blobName = name;
  } else if (data instanceof Uint8Array) {
    head = data.subarray(0, 16);
    const format = sniffImageFormat(head);
    const type = image.contentType ?? format?.contentType ?? 'application/octet-stream';
    blob = new Blob([data], { type });
  } else {
    throw new TypeError(`${field}: image data must be a Buffer, a Uint8Array or a Blob`);
  }
  const ext = sniffImageFormat(head)?.ext ?? imageExtension(blob.type) ?? 'bin';
  return { blob, filename: image.filename ?? blobName ?? `${field}.${ext}` };
}

export type FormFields = Record<string, string | ImageInput | undefined>;

/**
 * Multipart form for FitRoom: string fields as is, images as files. Undefined fields are left
 * out (FitRoom then decides whether the request is valid).
 */
export async function buildForm(fields: FormFields): Promise<FormData> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    if (typeof value === 'string') {
      form.append(name, value);
    } else {
      const part = await toFilePart(name, value);
      form.append(name, part.blob, part.filename);
    }
  }
  return form;
}

/**
 * The form as the bytes of a multipart body and its content type. undici 7's `request` cannot
 * send a FormData whose class is not its own (Node 24's global one: "action is not a function"),
 * so the body is encoded by Node's own Response; with its length known, FitRoom gets a
 * Content-Length rather than a chunked upload.
 */
export async function encodeForm(form: FormData): Promise<{ body: Buffer; contentType: string }> {
  const encoded = new Response(form);
  const contentType = encoded.headers.get('content-type');
  if (contentType === null) throw new Error('a multipart form without a content type');
  return { body: Buffer.from(await encoded.arrayBuffer()), contentType };
}
