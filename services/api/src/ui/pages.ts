import type { Static } from '@sinclair/typebox';
import type { Batch, Item, ItemStatus } from '@tryon/domain';
import type { AdminStatus } from '../schemas.js';
import { html, type HtmlValue, type SafeHtml } from './html.js';

const ITEM_STATUSES: ItemStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];
const COUNT_NAMES = ['total', 'queued', 'running', 'completed', 'failed', 'cancelled'] as const;

export interface Eta {
  seconds: number;
  at: string;
}

/**
 * A batch view's ETA when it carries one ({ seconds, at } or null). Read defensively: older
 * views have no `eta` field at all.
 */
export function etaOf(batch: object): Eta | null {
  const eta = (batch as { eta?: unknown }).eta;
  if (!eta || typeof eta !== 'object') return null;
  const { seconds, at } = eta as { seconds?: unknown; at?: unknown };
  return typeof seconds === 'number' && Number.isFinite(seconds) && typeof at === 'string'
    ? { seconds, at }
    : null;
}

export function formatEta(eta: Eta | null): string {
  if (!eta) return '—';
  const s = Math.max(0, Math.round(eta.seconds));
  if (s >= 3600) return `~${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  if (s >= 60) return `~${Math.floor(s / 60)} min ${s % 60} s`;
  return `~${s} s`;
}

const finished = (status: string) => status === 'completed' || status === 'cancelled';

function time(iso: string | null): SafeHtml {
  if (!iso) return html`—`;
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC</time>`;
}

const badge = (status: string, field: string) =>
  html`<span class="badge st-${status}" data-field="${field}">${status}</span>`;

function progress(batch: Batch): SafeHtml {
  const { counts } = batch;
  const done = counts.completed + counts.failed + counts.cancelled;
  return html`<progress
      data-field="progress"
      max="${Math.max(1, counts.total)}"
      value="${done}"
    ></progress>
    <span data-field="percent">${Math.floor(batch.progress * 100)}%</span>`;
}

export function loginPage(options: { message: string | null; next: string | null }): SafeHtml {
  return html`<div class="login">
    <h1>Sign in</h1>
    <p class="muted">
      Use your API token (the Bearer token of the API), or the admin token for the operator page.
    </p>
    ${options.message ? html`<p class="error" role="alert">${options.message}</p>` : null}
    <form method="post" action="/ui/login">
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required />
      ${options.next ? html`<input type="hidden" name="next" value="${options.next}" />` : null}
      <button class="primary" type="submit">Sign in</button>
    </form>
  </div>`;
}

export function batchRows(batches: Batch[]): SafeHtml {
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
        <a href="/ui/batches/${batch.id}"><code>${batch.id}</code></a>
      </td>
      <td>${badge(batch.status, 'batch-status')}</td>
      <td>${progress(batch)}</td>
      <td class="num">${done} / ${counts.total}</td>
      <td class="num">${counts.failed}</td>
      <td>${time(batch.created_at)}</td>
      <td>${finished(batch.status) ? '—' : formatEta(etaOf(batch))}</td>
    </tr>`;
  })}`;
}

export function batchesPage(batches: Batch[]): SafeHtml {
  return html`<h1>Batches</h1>
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
      <tbody data-refresh="/ui?partial=rows" data-every="3000">
        ${batchRows(batches)}
      </tbody>
    </table>`;
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

export interface BatchPageOptions {
  batch: Batch;
  items: Item[];
  status: ItemStatus | undefined;
  cursor: string | undefined;
  nextCursor: string | null;
  notice: string | null;
}

function galleryLink(batchId: string, query: { status?: string | undefined; cursor?: string }) {
  const params = new URLSearchParams();
  if (query.status) params.set('status', query.status);
  if (query.cursor) params.set('cursor', query.cursor);
  const search = params.toString();
  return `/ui/batches/${batchId}${search ? `?${search}` : ''}`;
}

export function batchPage(options: BatchPageOptions): SafeHtml {
  const { batch, items, status } = options;
  const { counts } = batch;
  const live = !finished(batch.status);
  const filters: HtmlValue = [undefined, ...ITEM_STATUSES].map(
    (s) =>
      html`<a class="${s === status ? 'on' : ''}" href="${galleryLink(batch.id, { status: s })}"
        >${s ?? 'all'} (${s ? counts[s] : counts.total})</a
      >`,
  );
  return html`<div data-batch-events="${live ? `/ui/batches/${batch.id}/events` : null}">
    <h1>Batch <code>${batch.id}</code> ${badge(batch.status, 'batch-status')}</h1>
    ${options.notice ? html`<p class="notice" role="status">${options.notice}</p>` : null}
    <section class="summary">
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
        ${batch.completed_at ? html` · finished ${time(batch.completed_at)}` : null}
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
          ${live ? '' : 'hidden'}
        >
          <button class="danger" type="submit">Cancel batch</button>
        </form>
      </div>
    </section>
    ${
      batch.metadata
        ? html`<details>
            <summary>Metadata</summary>
            <pre>${JSON.stringify(batch.metadata, null, 2)}</pre>
          </details>`
        : null
    }
    <h2>Items</h2>
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
        ${
          items.length > 0
            ? items.map(itemRow)
            : html`<tr>
                <td colspan="4" class="muted">No items here.</td>
              </tr>`
        }
      </tbody>
    </table>
    <div class="pager">
      ${
        options.cursor
          ? html`<a href="${galleryLink(batch.id, { status })}">« First page</a>`
          : null
      }
      ${
        options.nextCursor
          ? html`<a
              rel="next"
              href="${galleryLink(batch.id, { status, cursor: options.nextCursor })}"
              >Next page »</a
            >`
          : null
      }
    </div>
  </div>`;
}

type Status = Static<typeof AdminStatus>;

export function operatorBody(status: Status): SafeHtml {
  const queues = [status.queues.tryon, status.queues.webhooks];
  return html`${
      status.try_on.paused ? html`<p class="error" role="alert">${status.try_on.reason}</p>` : null
    }
    <h2>FitRoom keys</h2>
    <table data-section="budgets">
      <thead>
        <tr>
          <th>Budget key</th>
          <th>Budget use</th>
          <th class="num">In use / limit</th>
          <th class="num">Window</th>
          <th class="num">In flight</th>
          <th class="num">Admitted</th>
          <th>Paused</th>
        </tr>
      </thead>
      <tbody>
        ${
          status.budgets.length === 0
            ? html`<tr>
                <td colspan="7" class="muted">No FitRoom keys configured.</td>
              </tr>`
            : status.budgets.map(
                (b) =>
                  html`<tr data-budget="${b.budget_key}">
                    <td><code>${b.budget_key}</code></td>
                    <td><progress max="${Math.max(1, b.limit)}" value="${b.in_use}"></progress></td>
                    <td class="num" data-field="budget-use">${b.in_use} / ${b.limit}</td>
                    <td class="num">${Math.round(b.window_ms / 1000)} s</td>
                    <td class="num">${b.in_flight}</td>
                    <td class="num">${status.admission.admitted[b.budget_key] ?? 0}</td>
                    <td>
                      ${
                        b.paused
                          ? html`<span class="badge st-failed">${b.paused_reason ?? 'paused'}</span>
                              <span class="muted">${Math.ceil(b.paused_ms / 1000)} s left</span>`
                          : html`<span class="muted">no</span>`
                      }
                    </td>
                  </tr>`,
              )
        }
      </tbody>
    </table>
    <h2>Paused keys</h2>
    ${
      status.paused_keys.length === 0
        ? html`<p class="muted" data-section="paused">None: every key is usable.</p>`
        : html`<ul data-section="paused">
            ${status.paused_keys.map(
              (k) =>
                html`<li>
                  <code>${k.budget_key}</code>: ${k.reason ?? 'paused'}, resumes in
                  ${Math.ceil(k.resumes_in_ms / 1000)} s
                  <span class="muted"
                    >(POST /admin/keys/${k.budget_key}/resume once it is fixed)</span
                  >
                </li>`,
            )}
          </ul>`
    }
    <h2>Queues</h2>
    <table data-section="queues">
      <thead>
        <tr>
          <th>Queue</th>
          <th>Paused</th>
          ${['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'].map(
            (name) => html`<th class="num">${name}</th>`,
          )}
        </tr>
      </thead>
      <tbody>
        ${queues.map(
          (q) =>
            html`<tr data-queue="${q.name}">
              <td><code>${q.name}</code></td>
              <td>${q.paused ? 'yes' : 'no'}</td>
              <td class="num">${q.counts.waiting}</td>
              <td class="num">${q.counts.prioritized}</td>
              <td class="num">${q.counts.active}</td>
              <td class="num">${q.counts.delayed}</td>
              <td class="num">${q.counts.completed}</td>
              <td class="num">${q.counts.failed}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p>
      Admission line: ${status.admission.waiting} waiting,
      ${Object.values(status.admission.admitted).reduce((a, b) => a + b, 0)} admitted · FitRoom
      tasks in flight: ${status.fitroom.tasks_in_flight} ·
      <a href="/admin/queues">queue board</a>
    </p>
    <h2>Recent FitRoom errors</h2>
    ${
      status.fitroom.recent_errors.length === 0
        ? html`<p class="muted">None.</p>`
        : html`<table>
            <thead>
              <tr>
                <th>At</th>
                <th>Key</th>
                <th>Operation</th>
                <th>Code</th>
                <th>Message</th>
                <th>Item</th>
              </tr>
            </thead>
            <tbody>
              ${status.fitroom.recent_errors.map(
                (e) =>
                  html`<tr>
                    <td>${time(e.at)}</td>
                    <td><code>${e.budgetKey}</code></td>
                    <td>${e.operation}</td>
                    <td><code>${e.code}</code>${e.status !== null ? ` (${e.status})` : ''}</td>
                    <td class="error">${e.message}</td>
                    <td>${e.itemId ? html`<code>${e.itemId}</code>` : '—'}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    <p class="muted">As of ${time(status.generated_at)}.</p>`;
}

export function operatorPage(status: Status): SafeHtml {
  return html`<h1>Operator</h1>
    <div data-refresh="/ui/operator?partial=1" data-every="5000">${operatorBody(status)}</div>`;
}

export function errorPage(options: { status: number; message: string }): SafeHtml {
  return html`<h1>${options.status === 404 ? 'Not found' : 'Something is wrong'}</h1>
    <p class="error" role="alert">${options.message}</p>
    <p><a href="/ui">Back to the batches</a></p>`;
}
