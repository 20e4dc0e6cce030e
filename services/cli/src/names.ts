import { createHash } from 'node:crypto';
import { basename, extname, resolve } from 'node:path';
import { BATCH_NAME_MAX_LENGTH } from '@tryon/domain';

// Shared with the API's results ZIP, which names the same item the same way.
export { itemFileStems, resultExtension, safeFileStem } from '@tryon/domain';

/** The API's limits on external_id and on a batch's name. */
export const EXTERNAL_ID_MAX = 256;
export const BATCH_NAME_MAX = BATCH_NAME_MAX_LENGTH;

/** A file's name without its directory and extension: `shots/anna.front.jpg` -> `anna.front`. */
export function stemOf(pathOrUrl: string): string {
  let name = pathOrUrl;
  if (/^https?:\/\//i.test(pathOrUrl)) {
    try {
      name = decodeURIComponent(new URL(pathOrUrl).pathname);
    } catch {
      name = new URL(pathOrUrl).pathname;
    }
  }
  const base = basename(name);
  const stem = base.slice(0, base.length - extname(base).length);
  return stem || base || 'image';
}

/**
 * The external_id of a model x garment pair: each side's CSV external_id or file stem, joined
 * with `__` (a combo garment's lower half joins with `+`). Cut to the API's limit with a hash
 * so two long ids stay different.
 */
export function pairExternalId(model: string, garment: string, lower?: string): string {
  const id = `${model}__${garment}${lower === undefined ? '' : `+${lower}`}`;
  if (id.length <= EXTERNAL_ID_MAX) return id;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 12);
  return `${id.slice(0, EXTERNAL_ID_MAX - 13)}~${hash}`;
}

/** Makes ids unique in order: the second `a` becomes `a~2`, the third `a~3`. */
export function uniqueIds(ids: string[]): string[] {
  const seen = new Set<string>();
  return ids.map((id) => {
    let candidate = id;
    for (let n = 2; seen.has(candidate); n++) candidate = `${id}~${n}`;
    seen.add(candidate);
    return candidate;
  });
}

/** Extensions of the inputs that are files (a CSV, one image), cut from a default name. */
const INPUT_FILE_EXTENSION = /\.(csv|jpe?g|png|webp)$/i;

/**
 * A batch's name when --name is not given: the names of the folders (or CSVs, or files) it
 * was made from, `models x shirts`, or `models x tops + jeans` with combo lower halves.
 */
export function defaultBatchName(models: string, garments: string, lower?: string): string {
  const label = (input: string): string => {
    if (/^https?:\/\//i.test(input)) return stemOf(input);
    const base = basename(resolve(input));
    return base.replace(INPUT_FILE_EXTENSION, '') || base;
  };
  const name =
    `${label(models)} x ${label(garments)}` + (lower === undefined ? '' : ` + ${label(lower)}`);
  return name.length > BATCH_NAME_MAX ? `${name.slice(0, BATCH_NAME_MAX - 3)}...` : name;
}
