import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { adminStatus } from '../../routes/admin.js';
import type { AdminStatus } from '../../schemas.js';
import { queryValue, type UiContext } from '../context.js';
import { html, type SafeHtml } from '../html.js';
import { time } from '../view-parts.js';

type Status = Static<typeof AdminStatus>;
type Budget = Status['budgets'][number];
type Queue = Status['queues']['tryon'];

const QUEUE_COUNTS = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'completed',
  'failed',
] as const;

function budgetRow(b: Budget, admitted: number): SafeHtml {
  return html`<tr data-budget="${b.budget_key}">
    <td><code>${b.budget_key}</code></td>
    <td><progress max="${Math.max(1, b.limit)}" value="${b.in_use}"></progress></td>
    <td class="num" data-field="budget-use">${b.in_use} / ${b.limit}</td>
    <td class="num">${Math.round(b.window_ms / 1000)} s</td>
    <td class="num">${b.in_flight}</td>
    <td class="num">${admitted}</td>
    <td>
      ${
        b.paused
          ? html`<span class="badge st-failed">${b.paused_reason ?? 'paused'}</span>
              <span class="muted">${Math.ceil(b.paused_ms / 1000)} s left</span>`
          : html`<span class="muted">no</span>`
      }
    </td>
  </tr>`;
}

function budgetsTable(status: Status): SafeHtml {
  const rows =
    status.budgets.length === 0
      ? html`<tr>
          <td colspan="7" class="muted">No FitRoom keys configured.</td>
        </tr>`
      : status.budgets.map((b) => budgetRow(b, status.admission.admitted[b.budget_key] ?? 0));
  return html`<h2>FitRoom keys</h2>
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
        ${rows}
      </tbody>
    </table>`;
}

function pausedKeys(status: Status): SafeHtml {
  if (status.paused_keys.length === 0) {
    return html`<h2>Paused keys</h2>
      <p class="muted" data-section="paused">None: every key is usable.</p>`;
  }
  return html`<h2>Paused keys</h2>
    <ul data-section="paused">
      ${status.paused_keys.map(
        (k) =>
          html`<li>
            <code>${k.budget_key}</code>: ${k.reason ?? 'paused'}, resumes in
            ${Math.ceil(k.resumes_in_ms / 1000)} s
            <span class="muted">(POST /admin/keys/${k.budget_key}/resume once it is fixed)</span>
          </li>`,
      )}
    </ul>`;
}

const queueRow = (q: Queue) =>
  html`<tr data-queue="${q.name}">
    <td><code>${q.name}</code></td>
    <td>${q.paused ? 'yes' : 'no'}</td>
    ${QUEUE_COUNTS.map((name) => html`<td class="num">${q.counts[name]}</td>`)}
  </tr>`;

function queuesTable(status: Status): SafeHtml {
  const admitted = Object.values(status.admission.admitted).reduce((a, b) => a + b, 0);
  return html`<h2>Queues</h2>
    <table data-section="queues">
      <thead>
        <tr>
          <th>Queue</th>
          <th>Paused</th>
          ${QUEUE_COUNTS.map((name) => html`<th class="num">${name}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${[status.queues.tryon, status.queues.webhooks].map(queueRow)}
      </tbody>
    </table>
    <p>
      Admission line: ${status.admission.waiting} waiting, ${admitted} admitted · FitRoom tasks in
      flight: ${status.fitroom.tasks_in_flight} ·
      <a href="/admin/queues">queue board</a>
    </p>`;
}

function recentErrors(status: Status): SafeHtml {
  const errors = status.fitroom.recent_errors;
  if (errors.length === 0)
    return html`<h2>Recent FitRoom errors</h2>
      <p class="muted">None.</p>`;
  return html`<h2>Recent FitRoom errors</h2>
    <table>
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
        ${errors.map(
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
    </table>`;
}

/** What the operator page refreshes every few seconds. */
export function operatorBody(status: Status): SafeHtml {
  return html`${
      status.try_on.paused ? html`<p class="error" role="alert">${status.try_on.reason}</p>` : null
    }
    ${budgetsTable(status)} ${pausedKeys(status)} ${queuesTable(status)} ${recentErrors(status)}
    <p class="muted">As of ${time(status.generated_at)}.</p>`;
}

export function operatorPage(status: Status): SafeHtml {
  return html`<h1>Operator</h1>
    <div data-refresh="/ui/operator?partial=1" data-every="5000">${operatorBody(status)}</div>`;
}

/** /ui/operator for the admin: what /admin/status computes; ?partial=1 is the refreshed part. */
export function registerOperatorPage(app: FastifyInstance, ui: UiContext): void {
  app.get('/operator', async (request, reply) => {
    ui.requireAdmin(request);
    const status = await adminStatus(ui.deps);
    if (queryValue(request.query, 'partial')) return ui.sendFragment(reply, operatorBody(status));
    return ui.sendPage(request, reply, { title: 'Operator', body: operatorPage(status) });
  });
}
