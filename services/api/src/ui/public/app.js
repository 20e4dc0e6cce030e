/*
 * The dashboard's script, loaded by every page. The CSP allows scripts from /ui/assets only, so
 * there is no inline code anywhere: it hides thumbnails that fail to load, refreshes
 * [data-refresh] fragments, and follows a batch's server-sent events.
 */
/* global document, location, fetch, setTimeout, HTMLImageElement, CSS, EventSource */
'use strict';
(() => {
  // An input image that no longer answers is left out rather than shown broken.
  document.addEventListener(
    'error',
    (event) => {
      if (event.target instanceof HTMLImageElement) event.target.classList.add('missing');
    },
    true,
  );

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
    if (!eta || typeof eta.seconds !== 'number') return '\u2014';
    const s = Math.max(0, Math.round(eta.seconds));
    const text =
      s >= 3600
        ? Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min'
        : s >= 60
          ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s'
          : s + ' s';
    return '~' + text;
  };
  const badge = (el, status) => {
    el.textContent = status;
    el.className = 'badge st-' + status;
  };

  const applyBatch = (batch) => {
    // Open: its status; finished: its outcome (succeeded, partial, failed, cancelled).
    for (const el of page.querySelectorAll('[data-field="batch-status"]')) {
      badge(el, batch.outcome || batch.status);
      el.title = 'status: ' + batch.status;
    }
    for (const [name, value] of Object.entries(batch.counts))
      setText('[data-count="' + name + '"]', String(value));
    const done = batch.counts.completed + batch.counts.failed + batch.counts.cancelled;
    for (const bar of page.querySelectorAll('progress[data-field="progress"]')) {
      bar.max = Math.max(1, batch.counts.total);
      bar.value = done;
    }
    setText('[data-field="percent"]', Math.floor((batch.progress ?? 0) * 100) + '%');
    // Events may carry no ETA: the one on the page stays until the batch finishes.
    if (finished(batch.status)) setText('[data-field="eta"]', '\u2014');
    else if ('eta' in batch) setText('[data-field="eta"]', formatEta(batch.eta));
    const retry = page.querySelector('[data-action="retry"]');
    if (retry) retry.hidden = !(batch.counts.failed > 0);
    const cancel = page.querySelector('[data-action="cancel"]');
    // Cancel stops only items that have not started: offered while some are queued.
    if (cancel) cancel.hidden = !(batch.counts.queued > 0);
  };

  const applyItem = (item) => {
    const row = page.querySelector('tr[data-item="' + CSS.escape(item.id) + '"]');
    if (!row) return; // on another page of the gallery
    for (const el of row.querySelectorAll('[data-field="item-status"]')) badge(el, item.status);
    const cell = row.querySelector('[data-field="result"]');
    if (!cell) return;
    if (item.status === 'completed' && item.result) {
      const src =
        '/ui/thumbs/' +
        encodeURIComponent(item.id) +
        '/result?v=' +
        item.result.sha256.slice(0, 16);
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
