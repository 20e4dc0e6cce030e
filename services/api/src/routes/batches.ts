import type { Readable } from 'node:stream';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  BatchResponse,
  MEDIA_TYPES,
  CreateBatchQuery,
  CreateBatchRequest,
  DryRunAnswer,
  ItemsPage,
  ListItemsQuery,
} from '@tryon/domain';
import { InvalidCursorError, publicItem } from '@tryon/records';
import { tenantOf } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { resultsStream, RESULT_COLUMNS, type ResultsFormat } from '../lib/results-export.js';
import { streamBatchEvents } from '../lib/batch-events.js';
import { publicOrigin } from '../lib/public-origin.js';
import {
  BATCH_BODY_LIMIT_BYTES,
  MAX_EVENT_STREAMS_PER_TENANT,
  METADATA_MAX_BYTES,
} from '../limits.js';
import { BatchList, errorResponses, IdParams, ListBatchesQuery } from '../schemas.js';

type BatchApp = Parameters<FastifyPluginCallbackTypebox<RouteDeps>>[0];

export const batchRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  // Registered in this order, which is also their order in the OpenAPI document.
  registerSubmit(app, deps);
  registerList(app, deps);
  registerGet(app, deps);
  registerResults(app, deps, 'jsonl', MEDIA_TYPES.jsonl);
  registerResults(app, deps, 'csv', `${MEDIA_TYPES.csv}; charset=utf-8`);
  registerEvents(app, deps);
  registerItems(app, deps);
  registerCancelAndRetry(app, deps);
  done();
};

/** POST /batches, and its dry run. */
function registerSubmit(app: BatchApp, deps: RouteDeps): void {
  const { batches, config, eta } = deps;
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
          'are queued; a repeated idempotency_key answers 200 with the batch it made. With ' +
          '?dry_run=true the same checks run (same errors) and nothing is recorded or queued: ' +
          '200 with the item count, the credits FitRoom would charge (items not served from ' +
          'the result cache) and the ETA the batch would get now.',
        querystring: CreateBatchQuery,
        body: CreateBatchRequest,
        response: {
          200: Type.Union([BatchResponse, DryRunAnswer]),
          202: BatchResponse,
          ...errorResponses(400, 401, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const tenantId = tenantOf(request).id;
      if (request.query.dry_run) {
        const { items, cached } = await batches.preview(tenantId, request.body);
        return reply.status(200).send({
          dry_run: true as const,
          items: items.length,
          credits: items.length - cached,
          cached,
          eta: await eta.forNewBatch({
            tenantId,
            priority: request.body.priority ?? 0,
            // Pairs served from earlier renders are done at once: only the rest wait for FitRoom.
            items: items.length - cached,
            hd: items[0]?.hd_mode ?? false,
          }),
        });
      }
      let answer: BatchResponse | undefined;
      const { batch, created } = await batches.submit(tenantId, request.body, async (b, isNew) => {
        answer = await eta.view(b);
        if (isNew && answer.eta) await deps.deadlines.promise(b.id, answer.eta.seconds);
      });
      return reply.status(created ? 202 : 200).send(answer ?? (await eta.view(batch)));
    },
  );
}

function registerList(app: BatchApp, deps: RouteDeps): void {
  const { records, eta } = deps;
  app.get(
    '/batches',
    {
      schema: {
        tags: ['batches'],
        summary: "The tenant's recent batches, newest first; ?q= finds them by name",
        querystring: ListBatchesQuery,
        response: { 200: BatchList, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, q } = request.query;
      const list = await records.listBatches(tenantOf(request).id, limit ?? 20, q);
      return { batches: await Promise.all(list.map((batch) => eta.view(batch))) };
    },
  );
}

function registerGet(app: BatchApp, deps: RouteDeps): void {
  const { batches, eta } = deps;
  app.get(
    '/batches/:id',
    {
      schema: {
        tags: ['batches'],
        summary: 'A batch: status, counts by state, progress, timestamps',
        params: IdParams,
        response: { 200: BatchResponse, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => eta.view(await batches.get(tenantOf(request).id, request.params.id)),
  );
}

/** GET /batches/:id/results.{jsonl,csv}: every item's outcome as one streamed file. */
function registerResults(
  app: BatchApp,
  deps: RouteDeps,
  format: ResultsFormat,
  type: string,
): void {
  const { batches, records, config } = deps;
  app.get(
    `/batches/:id/results.${format}`,
    {
      schema: {
        tags: ['batches'],
        summary: `Every item's outcome as one ${format === 'csv' ? 'CSV' : 'JSON Lines'} file`,
        description:
          `One row per item in submission order: ${RESULT_COLUMNS.join(', ')}. ` +
          (format === 'csv'
            ? 'RFC 4180 with a header row and CRLF line ends; metadata is JSON in its cell; a ' +
              "cell starting with = + - or @ gets a leading ' so spreadsheets do not run it."
            : 'One JSON object per line; metadata as an object.') +
          ' Streamed as it is read, at any batch size.',
        params: IdParams,
        produces: [type],
        response: {
          200: Type.Unsafe<Readable>({ type: 'string', description: `The ${format} file` }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const batch = await batches.get(tenantOf(request).id, request.params.id);
      return reply
        .type(type)
        .header('content-disposition', `attachment; filename="${batch.id}-results.${format}"`)
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .send(resultsStream(records, batch.id, publicOrigin(config, request), format));
    },
  );
}

function registerEvents(app: BatchApp, deps: RouteDeps): void {
  const { batches } = deps;
  app.get(
    '/batches/:id/events',
    {
      // A HEAD would open a stream with no body to send: not offered.
      exposeHeadRoute: false,
      schema: {
        tags: ['batches'],
        summary: 'Live progress of a batch (server-sent events)',
        description:
          'A `text/event-stream`. First `event: counts` with the batch (as GET ' +
          '/v1/batches/:id), then per item change `event: item` with the item (as in ' +
          '/v1/batches/:id/items) and `event: counts` again, at most about four a second. Once ' +
          'no item is queued or running, `event: done` with the finished batch, and the stream ' +
          'ends. A `: ping` comment comes every 15 s. Every event has an `id:`; a client that ' +
          'reconnects with `Last-Event-ID` also gets the items that changed since. A cancel or ' +
          'retry of more than 1,000 items sends their counts, not each item. A tenant may hold ' +
          `${MAX_EVENT_STREAMS_PER_TENANT} streams open at once (here and on the dashboard ` +
          'together); beyond, 429 too_many_streams. 503 when live events are unavailable ' +
          '(Redis): poll GET /v1/batches/:id instead.',
        params: IdParams,
        response: {
          200: {
            description: 'The event stream',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...errorResponses(400, 401, 404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const batch = await batches.get(tenantOf(request).id, request.params.id);
      await streamBatchEvents(request, reply, deps, batch);
      return reply;
    },
  );
}

function registerItems(app: BatchApp, deps: RouteDeps): void {
  const { batches, records, config } = deps;
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
          items: page.items.map((item) => publicItem(item, publicOrigin(config, request))),
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
}

function registerCancelAndRetry(app: BatchApp, deps: RouteDeps): void {
  const { batches, eta } = deps;
  app.post(
    '/batches/:id/cancel',
    {
      schema: {
        tags: ['batches'],
        summary: 'Cancel the items that have not started',
        description:
          'Running items finish; queued ones become cancelled. A finished batch is answered as it is.',
        params: IdParams,
        response: { 200: BatchResponse, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => eta.view(await batches.cancel(tenantOf(request).id, request.params.id)),
  );

  app.post(
    '/batches/:id/retry',
    {
      schema: {
        tags: ['batches'],
        summary: 'Queue the failed items again',
        params: IdParams,
        response: { 200: BatchResponse, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => eta.view(await batches.retry(tenantOf(request).id, request.params.id)),
  );
}
