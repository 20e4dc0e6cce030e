/*
 * /ui/new: models and garment groups from picked or dropped folders and files; uploads one file
 * per request, 4 at once, with progress, naming each file that failed while the rest go on;
 * then the dry run (items, credits, cached, ETA) and, on confirmation, the batch. Every model
 * meets every garment of every group; each item is named <model>__<garment> by file names.
 */
/* global document, location, fetch, FormData, crypto */
'use strict';
(() => {
  const root = document.querySelector('[data-new-batch]');
  if (!root) return;
  const IMAGE = /\.(jpe?g|png|webp)$/i;
  const $ = (selector, within = root) => within.querySelector(selector);
  const status = (text) => ($('[data-field="new-status"]').textContent = text);
  const byName = (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true });
  const stem = (name) => name.replace(/\.[^.]+$/, '');

  /** The files of each drop zone (models, or one garment group), by zone element. */
  const files = new Map();
  /** Asset ids of files uploaded already, so a second dry run sends nothing again. */
  const uploaded = new Map();
  let plan = null;

  const showFiles = (zone) => {
    const list = $('[data-list]', zone);
    list.replaceChildren(
      ...files.get(zone).map((file) => {
        const li = document.createElement('li');
        li.textContent = file.name;
        return li;
      }),
    );
  };
  const addFiles = (zone, added) => {
    const known = files.get(zone) ?? [];
    const names = new Set(known.map((f) => f.name));
    const fresh = added.filter((f) => IMAGE.test(f.name) && !names.has(f.name));
    files.set(zone, [...known, ...fresh].sort(byName));
    showFiles(zone);
    plan = null;
    $('[data-action="submit"]').hidden = true;
  };

  /** Every file under a dropped entry (a folder is read to the bottom). */
  const entryFiles = async (entry) => {
    if (!entry) return [];
    if (entry.isFile) return [await new Promise((ok, fail) => entry.file(ok, fail))];
    const reader = entry.createReader();
    const all = [];
    for (;;) {
      const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
      if (batch.length === 0) break;
      for (const child of batch) all.push(...(await entryFiles(child)));
    }
    return all;
  };

  const wire = (zone) => {
    files.set(zone, []);
    for (const input of zone.querySelectorAll('input[type="file"]')) {
      input.addEventListener('change', () => addFiles(zone, Array.from(input.files)));
    }
    zone.addEventListener('dragover', (event) => event.preventDefault());
    zone.addEventListener('drop', async (event) => {
      event.preventDefault();
      const entries = Array.from(event.dataTransfer.items).map((i) => i.webkitGetAsEntry());
      const dropped = [];
      for (const entry of entries) dropped.push(...(await entryFiles(entry)));
      addFiles(zone, dropped);
    });
  };
  for (const zone of root.querySelectorAll('.drop')) wire(zone);

  $('[data-action="add-group"]').addEventListener('click', () => {
    const first = $('[data-group]');
    const copy = first.cloneNode(true);
    for (const list of copy.querySelectorAll('[data-list]')) list.replaceChildren();
    for (const input of copy.querySelectorAll('input[type="file"]')) input.value = '';
    $('[data-groups]').append(copy);
    wire($('.drop', copy));
  });

  const groups = () =>
    Array.from(root.querySelectorAll('[data-group]')).map((group) => ({
      clothType: $('[data-field="cloth-type"]', group).value,
      hd: $('[data-field="hd"]', group).checked,
      files: files.get($('.drop', group)) ?? [],
    }));

  const errorText = async (res) => {
    try {
      const body = await res.json();
      return body.error ? body.error.message : res.statusText;
    } catch {
      return res.status + ' ' + res.statusText;
    }
  };

  /** Uploads what is not uploaded yet; answers the files that failed, with why. */
  const uploadAll = async (all) => {
    const todo = all.filter((file) => !uploaded.has(file));
    const failures = [];
    const bar = $('[data-field="upload-progress"]');
    bar.hidden = todo.length === 0;
    bar.max = Math.max(1, todo.length);
    bar.value = 0;
    let next = 0;
    const lane = async () => {
      while (next < todo.length) {
        const file = todo[next++];
        const form = new FormData();
        form.append('file', file, file.name);
        try {
          const res = await fetch('/ui/assets', { method: 'POST', body: form });
          if (!res.ok) throw new Error(await errorText(res));
          uploaded.set(file, (await res.json()).assets[0].id);
        } catch (error) {
          failures.push(file.name + ': ' + (error.message || error));
        }
        bar.value += 1;
        status('Uploading: ' + bar.value + ' of ' + todo.length);
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
    return failures;
  };

  const post = async (url, body) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(await errorText(res));
    return res.json();
  };

  const buildItems = (models, garmentGroups) =>
    models.flatMap((model) =>
      garmentGroups.flatMap((group) =>
        group.files.map((garment) => ({
          model: uploaded.get(model),
          cloth: uploaded.get(garment),
          cloth_type: group.clothType,
          hd_mode: group.hd,
          external_id: stem(model.name) + '__' + stem(garment.name),
          metadata: { model_file: model.name, garment_file: garment.name },
        })),
      ),
    );

  $('[data-action="dry-run"]').addEventListener('click', async () => {
    const models = files.get($('.drop[data-drop="models"]')) ?? [];
    const garmentGroups = groups();
    const garments = garmentGroups.flatMap((g) => g.files);
    if (models.length === 0 || garments.length === 0) {
      return status('Add at least one model and one garment.');
    }
    $('[data-field="upload-failures"]').replaceChildren();
    const failures = await uploadAll([...models, ...garments]);
    $('[data-field="upload-failures"]').replaceChildren(
      ...failures.map((text) => {
        const li = document.createElement('li');
        li.textContent = text;
        return li;
      }),
    );
    const okModels = models.filter((f) => uploaded.has(f));
    const okGroups = garmentGroups.map((g) => ({
      ...g,
      files: g.files.filter((f) => uploaded.has(f)),
    }));
    const items = buildItems(okModels, okGroups);
    if (items.length === 0) return status('Nothing could be uploaded: see the files above.');
    try {
      const answer = await post('/ui/batches?dry_run=true', { items });
      $('[data-field="dry-items"]').textContent = String(answer.items);
      $('[data-field="dry-credits"]').textContent = String(answer.credits);
      $('[data-field="dry-cached"]').textContent = String(answer.cached);
      $('[data-field="dry-eta"]').textContent = answer.eta
        ? '~' + Math.round(answer.eta.seconds) + ' s'
        : '\u2014';
      $('[data-field="dry-run"]').hidden = false;
      $('[data-action="submit"]').hidden = false;
      plan = { items, idempotency_key: 'ui-' + crypto.randomUUID() };
      status(
        failures.length > 0
          ? failures.length + ' file(s) could not be uploaded and are left out.'
          : 'Ready: check the numbers, then start the batch.',
      );
    } catch (error) {
      status(String(error.message || error));
    }
  });

  $('[data-action="submit"]').addEventListener('click', async () => {
    if (!plan) return;
    try {
      const batch = await post('/ui/batches', plan);
      location.assign('/ui/batches/' + encodeURIComponent(batch.id));
    } catch (error) {
      status(String(error.message || error));
    }
  });
})();
