import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/**
 * The dashboard's stylesheet and script, as plain files in one folder beside this module: a
 * build copies `public/` next to the compiled file and the same path resolves.
 */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
const ASSETS_PREFIX = '/assets/';
/** Where the stylesheet and script are served: static files, free of the tenant's limit. */
export const UI_ASSETS_PATH = `/ui${ASSETS_PREFIX}`;
const ONE_DAY_MS = 86_400_000;

/** Asset URLs carry their content hash, so they can be cached for long and still change. */
function versionedUrl(name: string): string {
  const hash = createHash('sha256')
    .update(readFileSync(join(PUBLIC_DIR, name)))
    .digest('hex')
    .slice(0, 12);
  return `/ui${ASSETS_PREFIX}${name}?v=${hash}`;
}

export const CSS_URL = versionedUrl('app.css');
export const JS_URL = versionedUrl('app.js');
export const REVIEW_JS_URL = versionedUrl('review.js');
export const NEW_BATCH_JS_URL = versionedUrl('new-batch.js');

/** Serves public/ under /ui/assets/ (only the files there at start: no wildcard route). */
export async function registerAssets(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: ASSETS_PREFIX,
    wildcard: false,
    index: false,
    decorateReply: false,
    maxAge: ONE_DAY_MS,
    // The type RFC 9239 names for scripts (send's table still says application/javascript).
    setHeaders: (reply, path) => {
      if (path.endsWith('.js')) void reply.type('text/javascript; charset=utf-8');
    },
  });
}
