import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Batch, CreateBatchRequest, ItemsPage, ListItemsQuery } from '@tryon/domain';
import { InvalidCursorError } from '@tryon/records';
import { tenantOf } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { publicBatch, publicItem } from '@tryon/records';
import { BATCH_BODY_LIMIT_BYTES, METADATA_MAX_BYTES } from '../limits.js';
import { BatchList, errorResponses, IdParams, ListBatchesQuery } from '../schemas.js';

export const batchRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  const { batches, records, config } = deps;

  app.post(
    '/batches',
    {
      bodyLimit: BATCH_BODY_LIMIT_BYTES,
      schema: {
        tags: ['batches'],
        summary: 'Submit a batch',
        description:
          `Exactly one of \`items\` or \`matrix\` (models x garments), at most ` +
          `${config.api.maxBatchItems} items (422 too_many_items). Image refs are asset ids of ` +
          'this tenant (422 asset_not_found) or https URLs of public hosts (422 ' +
          'invalid_image_url); webhook_url likewise (422 invalid_webhook_url). metadata is at ' +
          `most ${METADATA_MAX_BYTES} bytes as JSON. Answers 202 with the batch once its jobs ` +
          'are queued; a repeated idempotency_key answers 200 with the batch it made.',
        body: CreateBatchRequest,
        response: {
          200: Batch,
          202: Batch,
          ...errorResponses(400, 401, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { batch, created } = await batches.submit(tenantOf(request).id, request.body);
      return reply.status(created ? 202 : 200).send(publicBatch(batch));
    },
  );

  app.get(
    '/batches',
    {
      schema: {
        tags: ['batches'],
        summary: "The tenant's recent batches, newest first",
        querystring: ListBatchesQuery,
        response: { 200: BatchList, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const list = await records.listBatches(tenantOf(request).id, request.query.limit ?? 20);
      return { batches: list.map(publicBatch) };
    },
  );

  app.get(
    '/batches/:id',
    {
      schema: {
        tags: ['batches'],
        summary: 'A batch: status, counts by state, progress, timestamps',
        params: IdParams,
        response: { 200: Batch, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => publicBatch(await batches.get(tenantOf(request).id, request.params.id)),
  );

  app.get(
    '/batches/:id/items',
    {
      schema: {
        tags: ['batches'],
        summary: "A page of the batch's items, in submission order",
        description:
          'Filter by status; pass next_cursor back as cursor for the next page (null at the end).',
        params: IdParams,
        querystring: ListItemsQuery,
        response: { 200: ItemsPage, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const batch = await batches.get(tenantOf(request).id, request.params.id);
      const { status, limit, cursor } = request.query;
      try {
        const page = await records.listItems(batch.id, { status, limit: limit ?? 100, cursor });
        return {
          items: page.items.map((item) => publicItem(item, config.publicUrl)),
          next_cursor: page.nextCursor,
        };
      } catch (error) {
        if (error instanceof InvalidCursorError) {
          throw new ApiError(400, 'invalid_cursor', 'cursor is not one this API gave out');
        }
        throw error;
      }
    },
  );

  app.post(
    '/batches/:id/cancel',
    {
      schema: {
        tags: ['batches'],
        summary: 'Cancel the items that have not started',
        description:
          'Running items finish; queued ones become cancelled. A finished batch is answered as it is.',
        params: IdParams,
        response: { 200: Batch, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => publicBatch(await batches.cancel(tenantOf(request).id, request.params.id)),
  );

  app.post(
    '/batches/:id/retry',
    {
      schema: {
        tags: ['batches'],
        summary: 'Queue the failed items again',
        params: IdParams,
        response: { 200: Batch, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => publicBatch(await batches.retry(tenantOf(request).id, request.params.id)),
  );
  done();
};
