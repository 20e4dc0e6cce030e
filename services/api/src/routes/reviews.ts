import type { Readable } from 'node:stream';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  Item,
  RerenderAnswer,
  RerenderQuery,
  ResultsZipQuery,
  ReviewRequest,
  WEB_IMAGE_TYPES,
} from '@tryon/domain';
import { publicItem } from '@tryon/records';
import { tenantOf } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { ApiError, itemNotFound } from '../errors.js';
import { RerenderService } from '../lib/rerender.js';
import { sendResultsZip, ZIP_MANIFEST_COLUMNS } from '../lib/results-zip.js';
import { errorResponses, IdParams } from '../schemas.js';

type ReviewApp = Parameters<FastifyPluginCallbackTypebox<RouteDeps>>[0];

const ImageBody = Type.Unsafe<Readable>({
  type: 'string',
  format: 'binary',
  description: 'The stored image',
});

/** Review of results, re-rendering the rejected ones, and the results ZIP. */
export const reviewRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  registerReview(app, deps);
  registerPreviousResult(app, deps);
  registerRerender(app, deps);
  registerResultsZip(app, deps);
  done();
};

/** POST /items/:id/review: approve, reject, or clear (null) a completed item's result. */
function registerReview(app: ReviewApp, deps: RouteDeps): void {
  const { records, config } = deps;
  app.post(
    '/items/:id/review',
    {
      schema: {
        tags: ['items'],
        summary: "Approve or reject a completed item's result",
        description:
          '`{ "decision": "approved" | "rejected" | null }` (null clears it). Answers the item. ' +
          '409 item_not_completed for an item without a result to judge.',
        params: IdParams,
        body: ReviewRequest,
        response: { 200: Item, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => {
      const tenant = tenantOf(request).id;
      const status = await records.setReview(request.params.id, tenant, request.body.decision);
      if (status === null) throw itemNotFound();
      if (status !== 'completed') {
        throw new ApiError(
          409,
          'item_not_completed',
          `the item is ${status}: only a completed item's result can be reviewed`,
        );
      }
      const item = await records.getItem(request.params.id, tenant);
      if (!item) throw itemNotFound();
      return publicItem(item, config.publicUrl);
    },
  );
}

/** GET /items/:id/previous-results/:index: a result a re-render replaced. */
function registerPreviousResult(app: ReviewApp, deps: RouteDeps): void {
  const { records, storage } = deps;
  app.get(
    '/items/:id/previous-results/:index',
    {
      schema: {
        tags: ['items'],
        summary: "One of the item's earlier results (previous_results[index])",
        params: Type.Composite([
          IdParams,
          Type.Object({
            index: Type.String({ pattern: '^[0-9]{1,4}$', description: '0 is the oldest' }),
          }),
        ]),
        produces: [...WEB_IMAGE_TYPES],
        response: { 200: ImageBody, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const item = await records.getItem(request.params.id, tenantOf(request).id);
      if (!item) throw itemNotFound();
      const earlier = item.previous_results[Number(request.params.index)];
      if (!earlier) throw new ApiError(404, 'result_not_found', 'no earlier result at this index');
      const object = await storage.get(earlier.key);
      if (!object) throw new ApiError(404, 'result_not_found', 'the stored result is missing');
      return reply
        .type(earlier.content_type || object.contentType)
        .header('content-length', object.bytes)
        .header('etag', `"${earlier.sha256}"`)
        .header('cache-control', 'private, max-age=3600')
        .header('x-content-type-options', 'nosniff')
        .send(object.body);
    },
  );
}

/** POST /batches/:id/rerender: the rejected results rendered again, fresh; ?dry_run=true first. */
function registerRerender(app: ReviewApp, deps: RouteDeps): void {
  const rerender = new RerenderService(deps);
  app.post(
    '/batches/:id/rerender',
    {
      schema: {
        tags: ['batches'],
        summary: 'Render the rejected results again as fresh renders',
        description:
          'Every completed item whose review is rejected is queued again and rendered by ' +
          'FitRoom (never reused from an earlier render), one credit each. Its current result ' +
          'moves to previous_results (still served, with the review it had) and its review is ' +
          'cleared. With dry_run=true nothing changes: the answer says what it would cost.',
        params: IdParams,
        querystring: RerenderQuery,
        response: { 200: RerenderAnswer, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const tenant = tenantOf(request).id;
      const answer = request.query.dry_run
        ? await rerender.preview(tenant, request.params.id)
        : await rerender.rerender(tenant, request.params.id);
      if (!answer.dry_run) {
        request.log.info({ batchId: request.params.id, items: answer.items }, 're-render queued');
      }
      return answer;
    },
  );
}

/** GET /batches/:id/results.zip: the result images and a manifest, streamed. */
function registerResultsZip(app: ReviewApp, deps: RouteDeps): void {
  const { batches, records, storage } = deps;
  app.get(
    '/batches/:id/results.zip',
    {
      schema: {
        tags: ['batches'],
        summary: "The batch's result images as one ZIP, with a manifest",
        description:
          "Each completed item's image (review=approved: only the approved ones), named by its " +
          'external_id made safe for any file system (the item id when it has none; names that ' +
          'collide get the item id appended), as `tryon download` names them; then ' +
          `manifest.csv: ${ZIP_MANIFEST_COLUMNS.join(', ')}. Streamed as it is read, at any ` +
          'batch size.',
        params: IdParams,
        querystring: ResultsZipQuery,
        produces: ['application/zip'],
        response: {
          200: Type.Unsafe<Readable>({ type: 'string', format: 'binary' }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const batch = await batches.get(tenantOf(request).id, request.params.id);
      const approvedOnly = request.query.review === 'approved';
      return sendResultsZip(request, reply, {
        records,
        storage,
        batchId: batch.id,
        approvedOnly,
      });
    },
  );
}
