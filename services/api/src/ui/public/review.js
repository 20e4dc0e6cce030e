/*
 * The batch page's review grid, keyboard first: arrows or j/k move between tiles, a approves,
 * r rejects, u clears (each then moves on), Enter enlarges the current tile into model, garment
 * and result side by side, Escape closes it. Reviews are posted to /ui/items/:id/review; a tile
 * shows its verdict once saved and goes back if the save failed.
 */
/* global document, location, fetch, URLSearchParams, Image, Element */
'use strict';
(() => {
  const grid = document.querySelector('[data-review-grid]');
  if (!grid) return;
  const viewer = document.querySelector('[data-viewer]');
  const statusLine = document.querySelector('[data-field="review-status"]');
  const LABELS = { approved: '\u2713 approved', rejected: '\u2717 rejected', '': '' };
  const tiles = () => Array.from(grid.querySelectorAll('.tile'));
  let current = null;

  const say = (text) => {
    if (statusLine) statusLine.textContent = text;
  };

  const image = (src, role) => {
    const figure = document.createElement('figure');
    const img = new Image();
    img.src = src;
    img.alt = role;
    img.dataset.role = 'viewer-' + role;
    const caption = document.createElement('figcaption');
    caption.textContent = role;
    figure.append(img, caption);
    return figure;
  };

  const fillViewer = (tile) => {
    const id = encodeURIComponent(tile.dataset.item);
    const parts = [image('/ui/thumbs/' + id + '/model', 'model')];
    parts.push(image('/ui/thumbs/' + id + '/garment', 'garment'));
    if (tile.querySelector('img[data-role="lower"]')) {
      parts.push(image('/ui/thumbs/' + id + '/lower', 'lower'));
    }
    if (tile.dataset.status === 'completed') {
      parts.push(image('/ui/items/' + id + '/result', 'result'));
    }
    const earlier = Number(tile.dataset.previous || 0);
    if (earlier > 0) parts.push(image('/ui/items/' + id + '/previous/' + (earlier - 1), 'earlier'));
    viewer.querySelector('.viewer-images').replaceChildren(...parts);
    const name = tile.querySelector('.name')?.textContent ?? '';
    const verdict = LABELS[tile.dataset.review || ''];
    viewer.querySelector('[data-field="viewer-caption"]').textContent =
      name + (verdict ? ' \u00b7 ' + verdict : '') + ' \u2014 a/r to review, Esc to close';
  };

  const select = (tile) => {
    if (!tile) return;
    current?.classList.remove('current');
    current = tile;
    tile.classList.add('current');
    tile.focus({ preventScroll: true });
    tile.scrollIntoView({ block: 'nearest' });
    if (!viewer.hidden) fillViewer(tile);
  };

  const columns = () => {
    const all = tiles();
    const top = all[0]?.offsetTop;
    const n = all.filter((t) => t.offsetTop === top).length;
    return Math.max(1, n);
  };

  const move = (delta) => {
    const all = tiles();
    if (all.length === 0) return;
    const at = current ? all.indexOf(current) : -1;
    // Past the last tile: on to the next page of the gallery, if there is one.
    const next = document.querySelector('a[rel="next"]');
    if (delta > 0 && at === all.length - 1 && next) return location.assign(next.href);
    const to = at < 0 ? 0 : Math.min(all.length - 1, Math.max(0, at + delta));
    select(all[to]);
  };

  const show = (tile, review) => {
    tile.dataset.review = review;
    const verdict = tile.querySelector('[data-field="review"]');
    if (verdict) verdict.textContent = LABELS[review] ?? '';
  };

  const review = async (tile, decision) => {
    if (tile.dataset.status !== 'completed') {
      say('Only completed items can be reviewed.');
      return;
    }
    const before = tile.dataset.review || '';
    show(tile, decision);
    tile.dataset.saving = '1';
    try {
      const res = await fetch('/ui/items/' + encodeURIComponent(tile.dataset.item) + '/review', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ decision }).toString(),
        redirect: 'manual',
      });
      if (!res.ok) throw new Error('the review was not saved (' + res.status + ')');
      say('');
    } catch (error) {
      show(tile, before);
      say(String(error.message || error));
    } finally {
      delete tile.dataset.saving;
      if (tile === current && !viewer.hidden) fillViewer(tile);
    }
  };

  const KEYS = {
    ArrowRight: () => move(1),
    ArrowLeft: () => move(-1),
    ArrowDown: () => move(columns()),
    ArrowUp: () => move(-columns()),
    j: () => move(1),
    k: () => move(-1),
    a: () => current && (review(current, 'approved'), move(1)),
    r: () => current && (review(current, 'rejected'), move(1)),
    u: () => current && (review(current, ''), move(1)),
    Enter: () => {
      if (!current) return move(0);
      viewer.hidden = !viewer.hidden;
      if (!viewer.hidden) fillViewer(current);
    },
    Escape: () => (viewer.hidden = true),
  };

  document.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    // Links, buttons and fields keep their keys; a tile (and the link inside it) is the grid's.
    const target = event.target instanceof Element ? event.target : null;
    const control = target?.closest('a, button, input, textarea, select, summary');
    if (control && !control.closest('.tile')) return;
    const action = KEYS[event.key];
    if (!action) return;
    event.preventDefault();
    if (!current && event.key !== 'Escape' && event.key !== 'Enter') return move(0);
    action();
  });

  grid.addEventListener('click', (event) => {
    const tile = event.target instanceof Element ? event.target.closest('.tile') : null;
    if (!tile) return;
    // A click selects and enlarges instead of leaving the page for the full-size image.
    event.preventDefault();
    select(tile);
    viewer.hidden = false;
    fillViewer(tile);
  });
  viewer.addEventListener('click', () => (viewer.hidden = true));
})();
