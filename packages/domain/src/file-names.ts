import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { extensionForContentType } from './media-types.js';

/**
 * File names for result images, shared by `tryon download` and the API's results ZIP so both
 * name the same item the same way.
 */

/** File names stay well under the 255 bytes most file systems allow, extension included. */
const FILE_STEM_MAX_BYTES = 150;

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

/**
 * A name that is safe as a file name on Linux, macOS and Windows: letters (any script),
 * digits, `.`, `_`, `-`, `+` and `~`; everything else becomes `_`. No leading dot or dash
 * (hidden files, options), no reserved Windows device names, at most 150 bytes.
 */
export function safeFileStem(name: string): string {
  let stem = name
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}._+~-]+/gu, '_')
    .replace(/^[.\-_]+/, '')
    .replace(/[. ]+$/, '');
  if (Buffer.byteLength(stem) > FILE_STEM_MAX_BYTES) {
    const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
    let cut = stem;
    while (Buffer.byteLength(cut) > FILE_STEM_MAX_BYTES - 11) cut = cut.slice(0, -1);
    stem = `${cut}~${hash}`;
  }
  if (WINDOWS_RESERVED.test(stem.split('.')[0] ?? '')) stem = `_${stem}`;
  return stem;
}

/**
 * File stems for a batch's items, one at a time in item order: the safe external_id (the item
 * id when there is none), made unique case-insensitively by appending the item id. Stable from
 * one run to the next, so a second download finds the files of the first.
 */
export class FileStems {
  private readonly taken = new Set<string>();

  next(item: { id: string; external_id: string | null }): string {
    let stem = safeFileStem(item.external_id ?? '') || safeFileStem(item.id) || 'item';
    if (this.taken.has(stem.toLowerCase())) stem = `${stem}_${safeFileStem(item.id)}`;
    for (let n = 2; this.taken.has(stem.toLowerCase()); n++) stem = `${stem}_${n}`;
    this.taken.add(stem.toLowerCase());
    return stem;
  }
}

/** File stems for a batch's items, in item order (see FileStems). */
export function itemFileStems(items: { id: string; external_id: string | null }[]): string[] {
  const stems = new FileStems();
  return items.map((item) => stems.next(item));
}

/** The file extension of a stored result: from its content type, else its storage key. */
export function resultExtension(result: { content_type: string; key: string }): string {
  const byType = extensionForContentType(result.content_type);
  if (byType) return byType;
  const fromKey = extname(result.key).slice(1).toLowerCase();
  return /^[a-z0-9]{1,5}$/.test(fromKey) ? fromKey : 'bin';
}
