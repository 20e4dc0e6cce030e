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
