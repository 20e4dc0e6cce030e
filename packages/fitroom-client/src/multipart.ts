import { Blob } from 'node:buffer';
import { FormData } from 'undici';
import type { ImageInput } from './types';

interface Format {
  ext: string;
  contentType: string;
}

const JPEG: Format = { ext: 'jpg', contentType: 'image/jpeg' };
const PNG: Format = { ext: 'png', contentType: 'image/png' };
const WEBP: Format = { ext: 'webp', contentType: 'image/webp' };
const GIF: Format = { ext: 'gif', contentType: 'image/gif' };
const BMP: Format = { ext: 'bmp', contentType: 'image/bmp' };
const TIFF: Format = { ext: 'tiff', contentType: 'image/tiff' };
const HEIC: Format = { ext: 'heic', contentType: 'image/heic' };
const AVIF: Format = { ext: 'avif', contentType: 'image/avif' };

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

const EXT_BY_TYPE: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/jpg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/bmp': 'bmp',
  'image/tiff': 'tiff',
  'image/heic': 'heic',
  'image/heif': 'heif',
  'image/avif': 'avif',
};

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
  const ext = sniffImageFormat(head)?.ext ?? EXT_BY_TYPE[blob.type.toLowerCase()] ?? 'bin';
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
