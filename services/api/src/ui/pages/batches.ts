import type { FastifyInstance } from 'fastify';
import type { Batch } from '@tryon/domain';
import { queryValue, type UiContext } from '../context.js';
import { html, type SafeHtml } from '../html.js';
import { ApiError } from '../../errors.js';
import {
  batchBadge,
  batchTitle,
  etaOf,
  finished,
  formatEta,
  progress,
  time,
} from '../view-parts.js';

const BATCHES_LISTED = 50;
const QUERY_MAX_LENGTH = 200;

export function batchRows(batches: Batch[], query?: string): SafeHtml {
  if (batches.length === 0 && query) {
    return html`<tr>
      <td colspan="7" class="muted">No batch name or id contains “${query}”.</td>
    </tr>`;
  }
  if (batches.length === 0) {
    return html`<tr>
      <td colspan="7" class="muted">
        No batches yet: submit one with <code>POST /v1/batches</code> or
        <code>pnpm tryon submit</code>.
      </td>
    </tr>`;
  }
  return html`${batches.map((batch) => {
    const { counts } = batch;
    const done = counts.completed + counts.failed + counts.cancelled;
    return html`<tr data-batch="${batch.id}">
      <td>
        <a href="/ui/batches/${batch.id}">${batchTitle(batch)}</a>
      </td>
      <td>${batchBadge(batch)}</td>
      <td>${progress(batch)}</td>
      <td class="num">${done} / ${counts.total}</td>
      <td class="num">${counts.failed}</td>
      <td>${time(batch.created_at)}</td>
      <td>${finished(batch.status) ? '—' : formatEta(etaOf(batch))}</td>
    </tr>`;
  })}`;
}

export function batchesPage(batches: Batch[], query?: string): SafeHtml {
  const params = new URLSearchParams({ partial: 'rows', ...(query && { q: query }) });
  const refresh = `/ui?${params.toString()}`;
  return html`<h1>Batches</h1>
    <form class="search" method="get" action="/ui" role="search">
      <input
        type="search"
        name="q"
        value="${query ?? ''}"
        maxlength="${QUERY_MAX_LENGTH}"
        placeholder="Find by name or id"
        aria-label="Find batches by name or id"
      />
      <button type="submit">Find</button>
    </form>
    <table>
      <thead>
        <tr>
          <th>Batch</th>
          <th>Status</th>
          <th>Progress</th>
          <th class="num">Done</th>
          <th class="num">Failed</th>
          <th>Created</th>
          <th>ETA</th>
        </tr>
      </thead>
      <tbody data-refresh="${refresh}" data-every="3000">
        ${batchRows(batches, query)}
      </tbody>
    </table>`;
}

/** The tenant's latest batches at /ui; ?partial=rows is the table body the script refreshes. */
export function registerBatchesPage(app: FastifyInstance, ui: UiContext): void {
  app.get('/', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    const query = queryValue(request.query, 'q')?.trim() || undefined;
    if (query && query.length > QUERY_MAX_LENGTH) {
      throw new ApiError(400, 'validation_error', `q is at most ${QUERY_MAX_LENGTH} characters`);
    }
    const records = await ui.deps.records.listBatches(tenant.id, BATCHES_LISTED, query);
    const list = await Promise.all(records.map((batch) => ui.view(batch)));
    if (queryValue(request.query, 'partial') === 'rows') {
      return ui.sendFragment(reply, batchRows(list, query));
    }
    return ui.sendPage(request, reply, { title: 'Batches', body: batchesPage(list, query) });
  });
}
