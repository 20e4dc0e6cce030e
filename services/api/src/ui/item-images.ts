import type { FastifyInstance } from 'fastify';
import { ApiError, itemNotFound } from '../errors.js';
import type { IdParams, UiContext } from './context.js';
import { THUMB_ROLES, type ThumbRole } from './thumbs.js';

/** GET /ui/thumbs/:id/:role: an item's model, garment, lower or result image, small. */
function registerThumbs(app: FastifyInstance, ui: UiContext): void {
  app.get<{ Params: IdParams & { role: string } }>('/thumbs/:id/:role', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    ui.checkId(request.params.id, 'item');
    const role = request.params.role as ThumbRole;
    if (!THUMB_ROLES.includes(role)) throw new ApiError(404, 'not_found', 'no such image');
    const item = await ui.deps.records.getItem(request.params.id, tenant.id);
    if (!item) throw itemNotFound();
    const thumb = await ui.thumbs.forItem(item, role);
    if (!thumb) {
      void reply.header('cache-control', 'no-store');
      throw new ApiError(404, 'image_not_found', `the ${role} image is not there (yet)`);
    }
    // Per-item URLs never change what they show (a new result gets a new ?v=).
    void reply
      .header('cache-control', 'private, max-age=31536000, immutable')
      .header('etag', thumb.etag);
    if (request.headers['if-none-match'] === thumb.etag) return reply.status(304).send();
    return reply.type('image/webp').send(thumb.body);
  });
}

/** GET /ui/items/:id/result: the stored result at full size, for the gallery's links. */
function registerResult(app: FastifyInstance, ui: UiContext): void {
  app.get<{ Params: IdParams }>('/items/:id/result', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    ui.checkId(request.params.id, 'item');
    const item = await ui.deps.records.getItem(request.params.id, tenant.id);
    if (!item) throw itemNotFound();
    if (item.status !== 'completed' || !item.result) {
      throw new ApiError(404, 'result_not_ready', `the item is ${item.status}, not completed`);
    }
    const object = await ui.deps.storage.get(item.result.key);
    if (!object) throw new ApiError(404, 'result_not_found', 'the stored result is missing');
    return reply
      .type(item.result.content_type || object.contentType)
      .header('content-length', object.bytes)
      .header('etag', `"${item.result.sha256}"`)
      .header('cache-control', 'private, max-age=3600')
      .send(object.body);
  });
}

/** The images the pages show: thumbnails and full-size results, scoped to the tenant. */
export function registerItemImages(app: FastifyInstance, ui: UiContext): void {
  registerThumbs(app, ui);
  registerResult(app, ui);
}
