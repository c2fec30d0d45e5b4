// Views #/datasets and #/datasets/{name}: the datasets this daemon can read (GET /v1/datasets):
// Fashion-MNIST and every folder directly under its --data-root, as a table (kind, images per
// split, classes, channels, typical size, the sizes whose decoded cache exists; a folder that
// is not a usable dataset with the daemon's reason); and one dataset (GET /v1/datasets/{name}):
// its figures, its classes with their train and test counts, the bad files the daemon found,
// and its preview (a grid of the first images of each class, one row per class), with a link
// that starts a run on it. Reads only; changes nothing on the daemon.

import { api } from '../lib/api.js';
import { append, clear, h } from '../lib/dom.js';
import { DASH, fmtInt, isNum } from '../lib/format.js';
import { errorBox, focusHeading, setImageSrc } from '../lib/ui.js';

const PREVIEW_ROWS = 16; // classes drawn in the preview, at most (docs/API.md)

const sizeText = (d) => (isNum(d.width) && isNum(d.height) && d.width > 0 ? `${d.width}×${d.height}` : DASH);
const cachedText = (d) => (Array.isArray(d.cached) ? (d.cached.length ? d.cached.join(', ') : 'no') : DASH);
const classesText = (d) => (d.available && !d.labelled ? 'none' : fmtInt(d.classes));
const datasetHref = (name) => `#/datasets/${encodeURIComponent(name)}`;

export function datasetsView(ctx, root) {
  const body = h('div', { id: 'datasets-body' }, h('p', { class: 'muted' }, 'Loading…'));
  append(root, h('div', { class: 'page-head' }, h('h1', {}, 'Datasets')), body);
  focusHeading(root);
  document.title = 'Datasets · gsimclr';

  (async () => {
    let got;
    try { got = await api.datasets(); } catch (e) {
      if (ctx.alive) clear(body, errorBox(e, 'Could not load the datasets'));
      return;
    }
    if (!ctx.alive) return;
    const list = got.datasets || [];
    const rows = list.map((d) => h('tr', { dataset: { name: d.name } },
      h('th', { scope: 'row' }, h('a', { href: datasetHref(d.name) }, d.name)),
      d.available
        ? [h('td', {}, d.kind || DASH), h('td', { class: 'num' }, fmtInt(d.train)), h('td', { class: 'num' }, fmtInt(d.test)),
          h('td', { class: 'num' }, classesText(d)), h('td', { class: 'num' }, fmtInt(d.channels)),
          h('td', { class: 'num' }, sizeText(d)), h('td', {}, cachedText(d))]
        : h('td', { colspan: '7', class: 'ds-error' }, d.forbidden ? 'Refused: ' : 'Not a dataset: ', d.error || '')));
    const table = h('table', { class: 'datasets-table', id: 'datasets-table' },
      h('caption', {}, got.data_root
        ? ['Fashion-MNIST and the folders under the data root ', h('code', {}, got.data_root),
          got.truncated ? ' (more than shown: the list is cut)' : '']
        : 'Only Fashion-MNIST: the daemon has no --data-root.'),
      h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Train', 'Test', 'Classes', 'Channels', 'Size', 'Cached']
        .map((t, i) => h('th', { scope: 'col', class: i >= 2 && i <= 6 ? 'num' : null }, t)))),
      h('tbody', {}, rows));
    clear(body, h('div', { class: 'table-scroll' }, table),
      h('p', { class: 'muted small-text' }, 'Size is the typical image size (an image folder’s median); a run resizes to its ',
        h('code', {}, 'dataset.size'), '. Cached: the sizes whose decoded images a run left beside the database.'));
  })();
}

export function datasetView(ctx, root, name) {
  const body = h('div', { id: 'dataset-body' }, h('p', { class: 'muted' }, 'Loading…'));
  append(root, h('p', { class: 'crumbs' }, h('a', { href: '#/datasets' }, '← Datasets')),
    h('div', { class: 'page-head' }, h('h1', {}, name),
      h('a', { class: 'button primary', href: `#/submit?dataset=${encodeURIComponent(name)}` }, 'New run on it')),
    body);
  focusHeading(root);
  document.title = `${name} · Datasets · gsimclr`;

  (async () => {
    let d;
    try { d = await api.dataset(name); } catch (e) {
      if (ctx.alive) clear(body, errorBox(e, `Dataset ${name}`));
      return;
    }
    if (!ctx.alive) return;
    if (!d.available) {
      clear(body, h('p', { class: 'error-box', role: 'alert' }, 'Not a usable dataset: ', d.error || ''));
      return;
    }
    const facts = [
      ['Kind', `${d.kind}${d.builtin ? ' (built in)' : ''}, ${d.labelled ? 'labelled' : 'unlabelled'}`],
      ['Folder', d.path || 'the Debian package dataset-fashion-mnist'],
      ['Images', `${fmtInt(d.train)} train, ${d.test > 0 ? `${fmtInt(d.test)} test` : 'no test split (a run can hold out part of train)'}`],
      ['Classes', classesText(d)],
      ['Channels', fmtInt(d.channels)],
      ['Typical size', sizeText(d)],
      ['Decoded cache', cachedText(d)],
    ];
    if (d.ignored > 0) facts.push(['Ignored', `${fmtInt(d.ignored)} files that are not images`]);
    const counts = d.class_counts || [];
    const classTable = counts.length ? h('div', { class: 'table-scroll classes-wrap' },
      h('table', { class: 'classes-table', id: 'classes-table' },
        h('caption', {}, 'Images per class'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Class'), h('th', { scope: 'col', class: 'num' }, 'Train'),
          h('th', { scope: 'col', class: 'num' }, 'Test'))),
        h('tbody', {}, counts.map((c) => h('tr', {}, h('th', { scope: 'row' }, c.name),
          h('td', { class: 'num' }, fmtInt(c.train)), h('td', { class: 'num' }, fmtInt(c.test))))))) : null;
    const bad = d.bad_files || [];
    const img = h('img', { id: 'dataset-preview', class: 'preview-img', decoding: 'async',
      alt: d.labelled ? `The first images of each class of ${name}, one row per class` : `The first images of ${name}` });
    const shownClasses = counts.slice(0, PREVIEW_ROWS).map((c) => c.name);
    clear(body,
      h('section', { class: 'card', 'aria-labelledby': 'ds-facts-h' }, h('h2', { id: 'ds-facts-h' }, 'Figures'),
        h('dl', { class: 'facts', id: 'dataset-facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      classTable,
      bad.length ? h('section', { class: 'card', id: 'bad-files', 'aria-labelledby': 'ds-bad-h' },
        h('h2', { id: 'ds-bad-h' }, `${bad.length} bad file${bad.length === 1 ? '' : 's'}`),
        h('p', { class: 'muted small-text' }, 'A run fails on them, or with ', h('code', {}, 'dataset.on_bad_file: "skip"'), ' leaves them out.'),
        h('ul', { class: 'bad-list' }, bad.map((b) => h('li', {}, h('code', {}, b))))) : null,
      h('section', { class: 'card', 'aria-labelledby': 'ds-preview-h' }, h('h2', { id: 'ds-preview-h' }, 'Preview'),
        h('div', { class: 'preview-wrap' }, img),
        shownClasses.length ? h('p', { class: 'muted small-text', id: 'preview-rows' }, 'Rows, top to bottom: ', shownClasses.join(', '),
          counts.length > PREVIEW_ROWS ? ` (the first ${PREVIEW_ROWS} of ${counts.length} classes)` : '', '.') : null));
    try { await setImageSrc(img, `/v1/datasets/${encodeURIComponent(name)}/preview.png`); } catch (e) {
      if (ctx.alive) img.replaceWith(errorBox(e, 'The preview did not load'));
    }
  })();
}
