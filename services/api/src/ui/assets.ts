import { createHash } from 'node:crypto';

/** The dashboard's one stylesheet, served from /ui/assets/app.css (CSP: style-src 'self'). */
export const CSS = `
:root { --fg: #1d232b; --muted: #5f6b7a; --line: #dde2e8; --bg: #f6f7f9; --accent: #2f6fde;
  --ok: #1f8a4c; --bad: #c0392b; --warn: #b7791f; font: 14px/1.45 system-ui, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.5rem;
  background: #fff; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 600; }
header nav { display: flex; gap: 1rem; flex: 1; }
header form { margin: 0; }
main { padding: 1.25rem 1.5rem; max-width: 1200px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { padding: .45rem .6rem; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .85rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, monospace; font-size: .85em; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: .8rem;
  background: #e8ebef; }
.st-completed { background: #dcf2e4; color: var(--ok); }
.st-failed { background: #f8dedb; color: var(--bad); }
.st-running { background: #dfe9fb; color: var(--accent); }
.st-cancelled { background: #eee; color: var(--muted); }
progress { width: 12rem; height: .8rem; vertical-align: middle; accent-color: var(--ok); }
.summary { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: center; margin-bottom: 1rem;
  background: #fff; border: 1px solid var(--line); padding: .8rem 1rem; }
.summary dl { display: flex; gap: 1.2rem; margin: 0; }
.summary dt { color: var(--muted); font-size: .8rem; }
.summary dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.actions { display: flex; gap: .5rem; }
.actions form { margin: 0; }
button { font: inherit; padding: .35rem .9rem; border: 1px solid var(--line); border-radius: 4px;
  background: #fff; cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--bad); }
.gallery img { width: 120px; height: auto; display: block; border-radius: 3px; background: #eee; }
.gallery img.missing { display: none; }
.gallery td { width: 1%; }
.gallery td.label { width: auto; }
.error { color: var(--bad); max-width: 28rem; overflow-wrap: anywhere; }
.gallery .error { min-width: 16rem; }
.notice { background: #e9f4ec; border: 1px solid #b9dcc5; padding: .5rem .8rem; margin-bottom: 1rem; }
.filters { display: flex; gap: .8rem; margin: .5rem 0; }
.filters a.on { font-weight: 600; color: var(--fg); }
.pager { display: flex; gap: 1rem; margin: .8rem 0; }
.login { max-width: 26rem; margin: 4rem auto; background: #fff; border: 1px solid var(--line);
  padding: 1.5rem; }
.login input { width: 100%; font: inherit; padding: .45rem; margin: .4rem 0 1rem; }
.login .error { margin-bottom: 1rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
`;

/**
 * The dashboard's script (CSP: script-src 'self', so no inline code anywhere): hides thumbnails
 * that fail to load, refreshes [data-refresh] fragments, and follows a batch's server-sent events.
 */
export const JS = `'use strict';
(() => {
  // An input image that no longer answers is left out rather than shown broken.
  document.addEventListener('error', (event) => {
    if (event.target instanceof HTMLImageElement) event.target.classList.add('missing');
  }, true);

  // A signed-out or revoked session answers 401 (or a redirect): show the login page.
  const signedOut = (res) => res.status === 401 || res.type === 'opaqueredirect';

  for (const el of document.querySelectorAll('[data-refresh]')) {
    const every = Number(el.dataset.every || 5000);
    const tick = async () => {
      try {
        const res = await fetch(el.dataset.refresh, { redirect: 'manual' });
        if (signedOut(res)) return location.reload();
        if (res.ok) el.innerHTML = await res.text();
      } catch {
        // the API restarting: try again next time
      }
      setTimeout(tick, every);
    };
    setTimeout(tick, every);
  }

  // Only an unfinished batch's page names an event stream.
  const page = document.querySelector('[data-batch-events]:not([data-batch-events=""])');
  if (!page) return;
  const finished = (status) => status === 'completed' || status === 'cancelled';
  const setText = (selector, text) => {
    for (const el of page.querySelectorAll(selector)) el.textContent = text;
  };
  const formatEta = (eta) => {
    if (!eta || typeof eta.seconds !== 'number') return '\\u2014';
    const s = Math.max(0, Math.round(eta.seconds));
    const text = s >= 3600 ? Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min'
      : s >= 60 ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s' : s + ' s';
    return '~' + text;
  };
  const badge = (el, status) => {
    el.textContent = status;
    el.className = 'badge st-' + status;
  };

  const applyBatch = (batch) => {
    for (const el of page.querySelectorAll('[data-field="batch-status"]')) badge(el, batch.status);
    for (const [name, value] of Object.entries(batch.counts)) setText('[data-count="' + name + '"]', String(value));
    const done = batch.counts.completed + batch.counts.failed + batch.counts.cancelled;
    for (const bar of page.querySelectorAll('progress[data-field="progress"]')) {
      bar.max = Math.max(1, batch.counts.total);
      bar.value = done;
    }
    setText('[data-field="percent"]', Math.floor((batch.progress ?? 0) * 100) + '%');
    // Events may carry no ETA: the one on the page stays until the batch finishes.
    if (finished(batch.status)) setText('[data-field="eta"]', '\\u2014');
    else if ('eta' in batch) setText('[data-field="eta"]', formatEta(batch.eta));
    const retry = page.querySelector('[data-action="retry"]');
    if (retry) retry.hidden = !(batch.counts.failed > 0);
    const cancel = page.querySelector('[data-action="cancel"]');
    if (cancel) cancel.hidden = finished(batch.status);
  };

  const applyItem = (item) => {
    const row = page.querySelector('tr[data-item="' + CSS.escape(item.id) + '"]');
    if (!row) return; // on another page of the gallery
    for (const el of row.querySelectorAll('[data-field="item-status"]')) badge(el, item.status);
    const cell = row.querySelector('[data-field="result"]');
    if (!cell) return;
    if (item.status === 'completed' && item.result) {
      const src = '/ui/thumbs/' + encodeURIComponent(item.id) + '/result?v=' + item.result.sha256.slice(0, 16);
      if (cell.querySelector('img')?.getAttribute('src') === src) return;
      const link = document.createElement('a');
      link.href = '/ui/items/' + encodeURIComponent(item.id) + '/result';
      const img = document.createElement('img');
      img.src = src;
      img.alt = 'result';
      img.dataset.role = 'result';
      link.append(img);
      cell.replaceChildren(link);
    } else if (item.status === 'failed' && item.error) {
      const box = document.createElement('div');
      box.className = 'error';
      const code = document.createElement('code');
      code.textContent = item.error.code;
      box.append(code, ' ', item.error.message);
      cell.replaceChildren(box);
    } else {
      const span = document.createElement('span');
      span.className = 'muted';
      span.textContent = item.status;
      cell.replaceChildren(span);
    }
  };

  const source = new EventSource(page.dataset.batchEvents);
  source.addEventListener('counts', (event) => applyBatch(JSON.parse(event.data)));
  source.addEventListener('item', (event) => applyItem(JSON.parse(event.data)));
  source.addEventListener('done', (event) => {
    applyBatch(JSON.parse(event.data));
    source.close();
  });
})();
`;

const version = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** Asset URLs carry their content hash, so they can be cached for long and still change. */
export const CSS_URL = `/ui/assets/app.css?v=${version(CSS)}`;
export const JS_URL = `/ui/assets/app.js?v=${version(JS)}`;
