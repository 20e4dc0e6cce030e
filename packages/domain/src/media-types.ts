/**
 * The one table of media types the project knows: file extension <-> content type. Uploads,
 * storage, the FitRoom client, the worker and the CLI all read it, so a format is added once.
 */
export const MEDIA_TYPES = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  bmp: 'image/bmp',
  tiff: 'image/tiff',
  avif: 'image/avif',
  heic: 'image/heic',
  heif: 'image/heif',
  json: 'application/json',
  txt: 'text/plain',
  csv: 'text/csv',
  jsonl: 'application/x-ndjson',
  zip: 'application/zip',
} as const;

export type MediaExtension = keyof typeof MEDIA_TYPES;

/** Extensions that name the same type as a canonical one above. */
const EXTENSION_ALIASES: Record<string, MediaExtension> = { jpeg: 'jpg', tif: 'tiff' };
/** Content types seen in the wild that mean a canonical one above. */
const TYPE_ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
};

/** The image formats FitRoom and the result store take as they are. */
export const WEB_IMAGE_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/webp'];

/** `jpg` for `.JPEG`, `photo.jpeg` or `jpeg`; undefined when the extension is unknown. */
export function mediaExtension(nameOrExtension: string): MediaExtension | undefined {
  const ext = (/\.([A-Za-z0-9]+)$/.exec(nameOrExtension)?.[1] ?? nameOrExtension).toLowerCase();
  if (ext in MEDIA_TYPES) return ext as MediaExtension;
  return EXTENSION_ALIASES[ext];
}

/** The content type for a file name or extension; undefined when unknown. */
export function contentTypeForName(nameOrExtension: string): string | undefined {
  const ext = mediaExtension(nameOrExtension);
  return ext === undefined ? undefined : MEDIA_TYPES[ext];
}

/** The canonical extension (no dot) for a content type, parameters ignored; undefined when unknown. */
export function extensionForContentType(contentType: string): MediaExtension | undefined {
  const bare = contentType.split(';')[0]!.trim().toLowerCase();
  const canonical = TYPE_ALIASES[bare] ?? bare;
  for (const [ext, type] of Object.entries(MEDIA_TYPES)) {
    if (type === canonical) return ext as MediaExtension;
  }
  return undefined;
}
