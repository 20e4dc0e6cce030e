import type { Batch, Item } from '@tryon/domain';
import { REVIEW_JS_URL } from './assets.js';
import { html, type SafeHtml } from './html.js';
import { badge } from './view-parts.js';

/**
 * The batch page's gallery as a dense review grid: one tile per item, its result large and its
 * inputs on hover, the review marked on the tile. review.js adds the keyboard (arrows or j/k,
 * a/r/u, Enter) and the enlarged side-by-side view; without it the tiles still link to the
 * full-size results.
 */

/** Results load as they scroll into view; the small input images load with the page. */
const thumb = (itemId: string, role: string, version = '') =>
  html`<img
    src="/ui/thumbs/${itemId}/${role}${version ? `?v=${version}` : ''}"
    alt="${role}"
    data-role="${role}"
    ${role === 'result' ? html`loading="lazy"` : null}
  />`;

export const REVIEW_LABELS: Record<string, string> = {
  approved: '✓ approved',
  rejected: '✗ rejected',
};

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

function tile(item: Item): SafeHtml {
  const name = item.external_id ?? item.id;
  return html`<figure
    class="tile"
    tabindex="-1"
    data-item="${item.id}"
    data-status="${item.status}"
    data-review="${item.review ?? ''}"
    data-previous="${item.previous_results.length}"
  >
    <div class="shot" data-field="result">${resultCell(item)}</div>
    <div class="inputs">
      ${thumb(item.id, 'model')} ${thumb(item.id, 'garment')}
      ${item.lower_cloth ? thumb(item.id, 'lower') : null}
    </div>
    <figcaption>
      <span class="name" title="${name} · ${item.id}">${name}</span>
      ${badge(item.status, 'item-status')}
      <span class="verdict" data-field="review">${REVIEW_LABELS[item.review ?? ''] ?? ''}</span>
    </figcaption>
  </figure>`;
}

/** Downloads of the batch's results, through the dashboard's session. */
function exports(batch: Batch): SafeHtml {
  const base = `/ui/batches/${batch.id}`;
  return html`<div class="exports" data-field="exports">
    <span class="muted">Download</span>
    <a href="${base}/results.csv" download>CSV</a>
    <a href="${base}/results.jsonl" download>JSONL</a>
    <a href="${base}/results.zip" download data-export="zip-all">ZIP (all results)</a>
    <a href="${base}/results.zip?review=approved" download data-export="zip-approved"
      >ZIP (approved)</a
    >
  </div>`;
}

/** The review bar: the keys, the exports, and the way to render the rejected results again. */
export function reviewBar(batch: Batch): SafeHtml {
  return html`<div class="review-bar">
    <span class="keys muted" data-field="review-help">
      <kbd>←</kbd><kbd>→</kbd>/<kbd>j</kbd><kbd>k</kbd> move · <kbd>a</kbd> approve ·
      <kbd>r</kbd> reject · <kbd>u</kbd> clear · <kbd>Enter</kbd> enlarge
    </span>
    <a class="button" href="/ui/batches/${batch.id}/rerender" data-action="rerender"
      >Re-render rejected…</a
    >
    ${exports(batch)}
  </div>`;
}

/** The grid itself, the enlarged view it opens, and the script that drives both. */
export function reviewGrid(items: Item[]): SafeHtml {
  const tiles = items.length > 0 ? items.map(tile) : html`<p class="muted">No items here.</p>`;
  return html`<div class="review-grid" data-review-grid>${tiles}</div>
    <p class="review-status muted" role="status" data-field="review-status"></p>
    <div class="viewer" data-viewer hidden>
      <div class="viewer-images"></div>
      <p class="viewer-caption" data-field="viewer-caption"></p>
    </div>
    <script src="${REVIEW_JS_URL}" defer></script>`;
}
