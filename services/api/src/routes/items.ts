import type { Readable } from 'node:stream';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Item, WEB_IMAGE_TYPES } from '@tryon/domain';
import { tenantOf } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { ApiError, itemNotFound } from '../errors.js';
import { publicItem } from '@tryon/records';
import { publicOrigin } from '../lib/public-origin.js';
import { errorResponses, IdParams } from '../schemas.js';

export const itemRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  const { records, storage, config } = deps;

  app.get(
    '/items/:id',
    {
      schema: {
        tags: ['items'],
        summary: 'One item, with its result once completed',
        params: IdParams,
        response: { 200: Item, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const item = await records.getItem(request.params.id, tenantOf(request).id);
      if (!item) throw itemNotFound();
      return publicItem(item, publicOrigin(config, request));
    },
  );

  app.get(
    '/items/:id/result',
    {
      schema: {
        tags: ['items'],
        summary: "The item's result image",
        description: '404 result_not_ready until the item is completed.',
        params: IdParams,
        produces: [...WEB_IMAGE_TYPES],
        response: {
          200: Type.Unsafe<Readable>({
            type: 'string',
            format: 'binary',
            description: 'The stored image',
          }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const item = await records.getItem(request.params.id, tenantOf(request).id);
      if (!item) throw itemNotFound();
      if (item.status !== 'completed' || !item.result) {
        throw new ApiError(404, 'result_not_ready', `the item is ${item.status}, not completed`);
      }
      const object = await storage.get(item.result.key);
      if (!object) {
        request.log.warn({ itemId: item.id }, 'result object missing from storage');
        throw new ApiError(404, 'result_not_found', 'the stored result is missing');
      }
      return reply
        .type(item.result.content_type || object.contentType)
        .header('content-length', object.bytes)
        .header('etag', `"${item.result.sha256}"`)
        .header('cache-control', 'private, max-age=3600')
        .header('x-content-type-options', 'nosniff')
        .send(object.body);
    },
  );
  done();
};
