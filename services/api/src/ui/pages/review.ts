import type { FastifyInstance } from 'fastify';
import { MEDIA_TYPES, type ReviewDecision } from '@tryon/domain';
import { ApiError, itemNotFound } from '../../errors.js';
import { RerenderService } from '../../lib/rerender.js';
import { resultsStream, type ResultsFormat } from '../../lib/results-export.js';
import { sendResultsZip } from '../../lib/results-zip.js';
import { queryValue, type IdParams, type UiContext } from '../context.js';
import { html } from '../html.js';

/**
 * What the batch page's review grid calls: a review per item (review.js posts it), an item's
 * earlier results, "Re-render rejected" with its cost shown first, and the batch's results as
 * CSV, JSONL and ZIP through the dashboard's session (the /v1 routes want a Bearer token).
 */

const DECISIONS: Record<string, ReviewDecision | null> = {
  approved: 'approved',
  rejected: 'rejected',
  '': null,
};

/** POST /ui/items/:id/review (decision=approved|rejected|empty): answers { review }. */
function registerReview(app: FastifyInstance, ui: UiContext): void {
  app.post<{ Params: IdParams }>('/items/:id/review', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    ui.checkId(request.params.id, 'item');
    const given = (request.body as Record<string, unknown> | undefined)?.decision ?? '';
    const decision = typeof given === 'string' ? DECISIONS[given] : undefined;
    if (decision === undefined) {
      throw new ApiError(400, 'validation_error', 'decision must be approved, rejected or empty');
    }
    const status = await ui.deps.records.setReview(request.params.id, tenant.id, decision);
    if (status === null) throw itemNotFound();
    if (status !== 'completed') {
      throw new ApiError(409, 'item_not_completed', `the item is ${status}, not completed`);
    }
    return reply.header('cache-control', 'no-store').send({ review: decision });
  });
}

/** GET /ui/items/:id/previous/:index: an earlier result a re-render replaced. */
function registerPreviousResult(app: FastifyInstance, ui: UiContext): void {
  app.get<{ Params: IdParams & { index: string } }>(
    '/items/:id/previous/:index',
    async (request, reply) => {
      const tenant = ui.tenantOf(request);
      ui.checkId(request.params.id, 'item');
      const item = await ui.deps.records.getItem(request.params.id, tenant.id);
      if (!item) throw itemNotFound();
      const index = /^[0-9]{1,4}$/.test(request.params.index) ? Number(request.params.index) : -1;
      const earlier = item.previous_results[index];
      const object = earlier ? await ui.deps.storage.get(earlier.key) : null;
      if (!earlier || !object) throw new ApiError(404, 'result_not_found', 'no such result');
      return reply
        .type(earlier.content_type || object.contentType)
        .header('content-length', object.bytes)
        .header('cache-control', 'private, max-age=3600')
        .send(object.body);
    },
  );
}

/** GET shows what "Re-render rejected" would cost; POST (the confirm button) does it. */
function registerRerender(app: FastifyInstance, ui: UiContext): void {
  const rerender = new RerenderService(ui.deps);
  app.get<{ Params: IdParams }>('/batches/:id/rerender', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    ui.checkId(request.params.id, 'batch');
    const plan = await rerender.preview(tenant.id, request.params.id);
    const back = `/ui/batches/${request.params.id}`;
    const body =
      plan.items === 0
        ? html`<h1>Re-render rejected results</h1>
            <p data-field="rerender-plan">No completed result of this batch is rejected.</p>
            <p><a href="${back}">Back to the batch</a></p>`
        : html`<h1>Re-render rejected results</h1>
            <p data-field="rerender-plan">
              <strong data-field="rerender-items">${plan.items}</strong>
              rejected result${plan.items === 1 ? '' : 's'} will be rendered again by FitRoom as
              fresh renders, costing
              <strong data-field="rerender-credits">${plan.credits}</strong>
              credit${plan.credits === 1 ? '' : 's'}. The current results stay reachable as earlier
              results of their items.
            </p>
            <div class="actions">
              <form method="post" action="/ui/batches/${request.params.id}/rerender">
                <button class="primary" type="submit" data-action="confirm-rerender">
                  Re-render ${plan.items} for ${plan.credits} credit${plan.credits === 1 ? '' : 's'}
                </button>
              </form>
              <a class="button" href="${back}">Cancel</a>
            </div>`;
    return ui.sendPage(request, reply, { title: 'Re-render rejected', body });
  });

  app.post<{ Params: IdParams }>('/batches/:id/rerender', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    ui.checkId(request.params.id, 'batch');
    const done = await rerender.rerender(tenant.id, request.params.id);
    request.log.info(
      { batchId: request.params.id, items: done.items },
      're-render from the dashboard',
    );
    return reply.redirect(`/ui/batches/${request.params.id}?done=rerender`, 303);
  });
}

/** GET /ui/batches/:id/results.{csv,jsonl,zip}: the API's files, for the signed-in tenant. */
function registerExports(app: FastifyInstance, ui: UiContext): void {
  const { batches, records, storage, config } = ui.deps;
  const formats: [ResultsFormat, string][] = [
    ['csv', `${MEDIA_TYPES.csv}; charset=utf-8`],
    ['jsonl', MEDIA_TYPES.jsonl],
  ];
  for (const [format, type] of formats) {
    app.get<{ Params: IdParams }>(`/batches/:id/results.${format}`, async (request, reply) => {
      const tenant = ui.tenantOf(request);
      ui.checkId(request.params.id, 'batch');
      const batch = await batches.get(tenant.id, request.params.id);
      return reply
        .type(type)
        .header('content-disposition', `attachment; filename="${batch.id}-results.${format}"`)
        .header('cache-control', 'no-store')
        .send(resultsStream(records, batch.id, config.publicUrl, format));
    });
  }
  app.get<{ Params: IdParams }>('/batches/:id/results.zip', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    ui.checkId(request.params.id, 'batch');
    const review = queryValue(request.query, 'review') ?? 'all';
    if (review !== 'all' && review !== 'approved') {
      throw new ApiError(400, 'validation_error', 'review must be approved or all');
    }
    const batch = await batches.get(tenant.id, request.params.id);
    const approvedOnly = review === 'approved';
    return sendResultsZip(request, reply, { records, storage, batchId: batch.id, approvedOnly });
  });
}

export function registerReviewPages(app: FastifyInstance, ui: UiContext): void {
  registerReview(app, ui);
  registerPreviousResult(app, ui);
  registerRerender(app, ui);
  registerExports(app, ui);
}
