import type { FastifyInstance } from 'fastify';
import type { Batch, Item, ItemStatus } from '@tryon/domain';
import { InvalidCursorError, publicItem } from '@tryon/records';
import { ApiError } from '../../errors.js';
import { streamBatchEvents } from '../../lib/batch-events.js';
import { queryValue, type IdParams, type UiContext } from '../context.js';
import { html, type HtmlValue, type SafeHtml } from '../html.js';
import {
  badge,
  batchBadge,
  batchTitle,
  cancellable,
  elapsedMs,
  etaOf,
  finished,
  formatElapsed,
  formatEta,
  progress,
  time,
} from '../view-parts.js';

const ITEM_STATUSES: ItemStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];
const COUNT_NAMES = ['total', 'queued', 'running', 'completed', 'failed', 'cancelled'] as const;
const PAGE_SIZE = 60;
const ACTIONS = ['retry', 'cancel'] as const;
const NOTICES: Record<(typeof ACTIONS)[number], string> = {
  retry: 'The failed items are queued again.',
  cancel: 'The items that had not started are cancelled.',
};

export interface BatchPageOptions {
  batch: Batch;
  items: Item[];
  status: ItemStatus | undefined;
  cursor: string | undefined;
  nextCursor: string | null;
  notice: string | null;
}

const thumb = (itemId: string, role: string, version = '') =>
  html`<img
    src="/ui/thumbs/${itemId}/${role}${version ? `?v=${version}` : ''}"
    alt="${role}"
    data-role="${role}"
  />`;

function resultCell(item: Item): SafeHtml {
  if (item.status === 'completed' && item.result) {
    return html`<a href="/ui/items/${item.id}/result"
      >${thumb(item.id, 'result', item.result.sha256.slice(0, 16))}</a
    >`;
  }
  if (item.status === 'failed' && item.error) {
    return html`<div class="error"><code>${item.error.code}</code> ${item.error.message}</div>`;
  }
  return html`<span class="muted">${item.status}</span>`;
}

function itemRow(item: Item): SafeHtml {
  return html`<tr data-item="${item.id}">
    <td class="label">
      <div>${item.external_id ?? '—'}</div>
      <div class="muted mono">${item.id}</div>
      ${badge(item.status, 'item-status')} <span class="muted">${item.cloth_type}</span>
    </td>
    <td>${thumb(item.id, 'model')}</td>
    <td>${thumb(item.id, 'garment')} ${item.lower_cloth ? thumb(item.id, 'lower') : null}</td>
    <td data-field="result">${resultCell(item)}</td>
  </tr>`;
}

function galleryLink(batchId: string, query: { status?: string | undefined; cursor?: string }) {
  const params = new URLSearchParams();
  if (query.status) params.set('status', query.status);
  if (query.cursor) params.set('cursor', query.cursor);
  const search = params.toString();
  return `/ui/batches/${batchId}${search ? `?${search}` : ''}`;
}

/** Counts, progress, ETA and the retry/cancel buttons (the script keeps them current). */
function summary(batch: Batch): SafeHtml {
  const { counts } = batch;
  const live = !finished(batch.status);
  return html`<section class="summary">
    <div>${progress(batch)}</div>
    <dl>
      ${COUNT_NAMES.map(
        (name) =>
          html`<div>
            <dt>${name}</dt>
            <dd data-count="${name}">${counts[name]}</dd>
          </div>`,
      )}
    </dl>
    <div>
      <span class="muted">ETA</span>
      <span data-field="eta">${live ? formatEta(etaOf(batch)) : '—'}</span>
    </div>
    <div class="muted">
      created ${time(batch.created_at)}
      ${batch.retried_at ? html` · retried ${time(batch.retried_at)}` : null}
      ${batch.completed_at ? html` · finished ${time(batch.completed_at)}` : null}
      ${
        batch.completed_at
          ? html` · took <span data-field="elapsed">${formatElapsed(elapsedMs(batch))}</span>`
          : null
      }
    </div>
    <div class="actions">
      <form
        method="post"
        action="/ui/batches/${batch.id}/retry"
        data-action="retry"
        ${counts.failed > 0 ? '' : 'hidden'}
      >
        <button class="primary" type="submit">Retry failed items</button>
      </form>
      <form
        method="post"
        action="/ui/batches/${batch.id}/cancel"
        data-action="cancel"
        ${cancellable(batch) ? '' : 'hidden'}
      >
        <button class="danger" type="submit">Cancel batch</button>
      </form>
    </div>
  </section>`;
}

/** The items of one page of the gallery, its status filters and its pager. */
function gallery(options: BatchPageOptions): SafeHtml {
  const { batch, items, status } = options;
  const filters: HtmlValue = [undefined, ...ITEM_STATUSES].map(
    (s) =>
      html`<a class="${s === status ? 'on' : ''}" href="${galleryLink(batch.id, { status: s })}"
        >${s ?? 'all'} (${s ? batch.counts[s] : batch.counts.total})</a
      >`,
  );
  const rows =
    items.length > 0
      ? items.map(itemRow)
      : html`<tr>
          <td colspan="4" class="muted">No items here.</td>
        </tr>`;
  const first = options.cursor ? galleryLink(batch.id, { status }) : null;
  const next = options.nextCursor
    ? galleryLink(batch.id, { status, cursor: options.nextCursor })
    : null;
  return html`<h2>Items</h2>
    <div class="filters">${filters}</div>
    <table class="gallery">
      <thead>
        <tr>
          <th>Item</th>
          <th>Model</th>
          <th>Garment</th>
          <th>Result</th>
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
    <div class="pager">
      ${first ? html`<a href="${first}">« First page</a>` : null}
      ${next ? html`<a rel="next" href="${next}">Next page »</a>` : null}
    </div>`;
}

export function batchPage(options: BatchPageOptions): SafeHtml {
  const { batch } = options;
  const live = !finished(batch.status);
  return html`<div data-batch-events="${live ? `/ui/batches/${batch.id}/events` : null}">
    <h1>Batch ${batchTitle(batch)} ${batchBadge(batch)}</h1>
    ${options.notice ? html`<p class="notice" role="status">${options.notice}</p>` : null}
    ${summary(batch)}
    ${
      batch.metadata
        ? html`<details>
            <summary>Metadata</summary>
            <pre>${JSON.stringify(batch.metadata, null, 2)}</pre>
          </details>`
        : null
    }
    ${gallery(options)}
  </div>`;
}

/** ?status= and ?cursor= of the gallery, checked before any lookup. */
function galleryQuery(query: unknown): { status?: ItemStatus; cursor?: string } {
  const status = queryValue(query, 'status');
  const cursor = queryValue(query, 'cursor');
  if (status !== undefined && !(ITEM_STATUSES as string[]).includes(status)) {
    throw new ApiError(
      400,
      'validation_error',
      'status must be one of ' + ITEM_STATUSES.join(', '),
    );
  }
  if (cursor !== undefined && cursor.length > 64) {
    throw new ApiError(400, 'invalid_cursor', 'cursor is not one this page gave out');
  }
  return { status: status as ItemStatus | undefined, cursor };
}

function isAction(value: string | undefined): value is (typeof ACTIONS)[number] {
  return (ACTIONS as readonly (string | undefined)[]).includes(value);
}

/** GET /ui/batches/:id: the batch's summary and one page of its items. */
function registerBatchPageView(app: FastifyInstance, ui: UiContext): void {
  const { records, batches, config } = ui.deps;
  app.get<{ Params: IdParams }>('/batches/:id', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    ui.checkId(request.params.id, 'batch');
    const { status, cursor } = galleryQuery(request.query);
    const batch = await batches.get(tenant.id, request.params.id);
    const page = await records
      .listItems(batch.id, { status, limit: PAGE_SIZE, cursor })
      .catch((error: unknown) => {
        if (!(error instanceof InvalidCursorError)) throw error;
        throw new ApiError(400, 'invalid_cursor', 'cursor is not one this page gave out');
      });
    const done = queryValue(request.query, 'done');
    const body = batchPage({
      batch: await ui.view(batch),
      items: page.items.map((item) => publicItem(item, config.publicUrl)),
      status,
      cursor,
      nextCursor: page.nextCursor,
      notice: isAction(done) ? NOTICES[done] : null,
    });
    return ui.sendPage(request, reply, { title: `Batch ${batch.name ?? batch.id}`, body });
  });
}

/** The page's live updates (server-sent events) and its retry and cancel buttons. */
function registerBatchPageActions(app: FastifyInstance, ui: UiContext): void {
  app.get<{ Params: IdParams }>('/batches/:id/events', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    ui.checkId(request.params.id, 'batch');
    const batch = await ui.deps.batches.get(tenant.id, request.params.id);
    await streamBatchEvents(request, reply, ui.deps, batch);
  });

  for (const action of ACTIONS) {
    app.post<{ Params: IdParams }>(`/batches/:id/${action}`, async (request, reply) => {
      const tenant = ui.tenantOf(request);
      ui.checkId(request.params.id, 'batch');
      const batch = await ui.deps.batches[action](tenant.id, request.params.id);
      request.log.info({ batchId: batch.id, action }, 'batch action from the dashboard');
      return reply.redirect(`/ui/batches/${batch.id}?done=${action}`, 303);
    });
  }
}

/** One batch: /ui/batches/:id, its event stream and its actions. */
export function registerBatchPage(app: FastifyInstance, ui: UiContext): void {
  registerBatchPageView(app, ui);
  registerBatchPageActions(app, ui);
}
