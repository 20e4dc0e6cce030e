import type { Batch } from '@tryon/domain';
import { html, type SafeHtml } from './html.js';

/** Pieces of markup more than one page shows: times, status badges, progress and ETA. */

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

export const finished = (status: string) => status === 'completed' || status === 'cancelled';

export function time(iso: string | null): SafeHtml {
  if (!iso) return html`—`;
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC</time>`;
}

export const badge = (status: string, field: string) =>
  html`<span class="badge st-${status}" data-field="${field}">${status}</span>`;

/**
 * A batch at a glance: its status while open (queued, running), its outcome once finished
 * (succeeded green, partial amber, failed red, cancelled grey), so a batch where nothing worked
 * never looks like one where everything did.
 */
export const batchBadge = (batch: Pick<Batch, 'status' | 'outcome'>) =>
  html`<span
    class="badge st-${batch.outcome ?? batch.status}"
    data-field="batch-status"
    title="status: ${batch.status}"
    >${batch.outcome ?? batch.status}</span
  >`;

/** "1 item", "2 items". */
export const plural = (count: number, one: string, many = `${one}s`): string =>
  `${count} ${count === 1 ? one : many}`;

/** The batch's name with its id beside it, or the id alone. */
export function batchTitle(batch: Pick<Batch, 'id' | 'name'>): SafeHtml {
  return batch.name
    ? html`<span data-field="batch-name">${batch.name}</span>
        <code class="muted">${batch.id}</code>`
    : html`<code>${batch.id}</code>`;
}

/** Cancel only cancels items that have not started: offered only while some are queued. */
export const cancellable = (batch: Pick<Batch, 'counts'>): boolean => batch.counts.queued > 0;

/** Time taken so far, or in all once finished: from the latest retry when there was one. */
export function elapsedMs(
  batch: Pick<Batch, 'created_at' | 'retried_at' | 'completed_at'>,
  now = Date.now(),
): number {
  const from = Date.parse(batch.retried_at ?? batch.created_at);
  const to = batch.completed_at ? Date.parse(batch.completed_at) : now;
  return Math.max(0, to - from);
}

/** `42 s`, `3 min 5 s`, `2 h 4 min`. */
export function formatElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

export function progress(batch: Batch): SafeHtml {
  const { counts } = batch;
  const done = counts.completed + counts.failed + counts.cancelled;
  return html`<progress
      data-field="progress"
      max="${Math.max(1, counts.total)}"
      value="${done}"
    ></progress>
    <span data-field="percent">${Math.floor(batch.progress * 100)}%</span>`;
}
