// The run page's clusters card: once k-means has succeeded, the pseudo-label clusters (k,
// purity, NMI), sorted by id, size or purity (the majority label's share) and filtered by
// majority label, shown as a table (a chosen cluster's image grid beside it) or as a mosaic (one
// row of thumbnails per cluster, loaded as they scroll into view). Loads the clusters once per
// visit; reads only. Plain SimCLR runs have no clusters, so the card stays hidden.

import { api } from '../lib/api.js';
import { clear, h, setText } from '../lib/dom.js';
import { classNames, fmtInt, fmtNum, fmtPct, labelName } from '../lib/format.js';
import { errorBox, setImageSrc } from '../lib/ui.js';

const MOSAIC_ROWS = 40;     // rows drawn at first, and added by "Show more"
const MOSAIC_IMAGES = 16;   // thumbnails per row: the grid's width (docs/API.md)

// currentRun(): the run as last seen (its dataset names the labels); stageOf(name): its stage.
export function runClusters(ctx, id, currentRun, stageOf) {
  const clusters = h('section', { class: 'card', id: 'clusters', 'aria-labelledby': 'clusters-h' });
  clusters.hidden = true;
  let loaded = false, loading = false;
  let observer = null;
  ctx.onCleanup(() => { if (observer) observer.disconnect(); });

  async function load(run) {
    if (loaded || loading || run.method !== 'gsimclr') return;
    const km = stageOf('kmeans');
    if (!km || km.status !== 'succeeded') return;
    loading = true;
    try {
      const c = await api.clusters(id);
      if (!ctx.alive) return;
      loaded = true;
      renderClusters(c);
    } catch (e) {
      if (!ctx.alive) return;
      clusters.hidden = false;
      clear(clusters, h('h2', { id: 'clusters-h' }, 'Pseudo-label clusters'), errorBox(e, 'Could not load the clusters'));
    } finally {
      loading = false;
    }
  }

  // Grids are loaded when their row comes near the screen (k may be in the hundreds).
  function lazyImage(img, href) {
    img.dataset.src = href;
    if (!observer) {
      observer = new IntersectionObserver((entries) => {
        for (const en of entries) {
          if (!en.isIntersecting) continue;
          observer.unobserve(en.target);
          setImageSrc(en.target, en.target.dataset.src).catch(() => { en.target.alt = 'The image did not load.'; });
        }
      }, { rootMargin: '300px' });
    }
    observer.observe(img);
    return img;
  }

  function renderClusters(c) {
    clusters.hidden = false;
    const all = (c.clusters || []).slice();
    const hasLabels = all.some((x) => x.label != null);
    const run = currentRun();
    const sort = { key: 'id', dir: 1 };
    let filter = '', view = 'table', mosaicShown = MOSAIC_ROWS;
    const tbody = h('tbody');
    const gridImg = h('img', { id: 'cluster-grid', alt: '', decoding: 'async' });
    const gridCap = h('figcaption', {}, 'Pick a cluster to see its first members.');
    const gridFig = h('figure', { class: 'grid-fig', 'aria-live': 'polite' }, gridCap, gridImg);
    gridImg.hidden = true;
    let selected = null;
    const cols = [
      ['id', 'Cluster'], ['size', 'Size'],
      ...(hasLabels ? [['label', 'Majority label'], ['label_fraction', 'Purity']] : []),
    ];
    const sortDefault = (key) => (key === 'id' || key === 'label' ? 1 : -1);
    const ths = cols.map(([key, text]) => {
      const btn = h('button', { type: 'button', class: 'sort', onclick: () => {
        sort.dir = sort.key === key ? -sort.dir : sortDefault(key);
        sort.key = key;
        sortSel.value = sort.key;
        draw();
      } }, text);
      return h('th', { scope: 'col', dataset: { key } }, btn);
    });
    const table = h('table', { class: 'clusters-table', id: 'clusters-table' },
      h('caption', { class: 'sr-only' }, 'Clusters; the column buttons sort, the cluster buttons show the members'),
      h('thead', {}, h('tr', {}, ths)), tbody);

    // the controls: sort (also the column buttons), filter by majority label, table or mosaic
    const sortSel = h('select', { id: 'clusters-sort', name: 'sort' }, cols.map(([key, text]) =>
      h('option', { value: key }, key === 'label_fraction' ? 'purity (highest first)' : key === 'size' ? 'size (largest first)' : text.toLowerCase())));
    sortSel.addEventListener('change', () => { sort.key = sortSel.value; sort.dir = sortDefault(sort.key); draw(); });
    const labels = [...new Set(all.map((x) => x.label).filter((l) => l != null))].sort((a, b) => a - b);
    const names = classNames(run);
    const filterSel = h('select', { id: 'clusters-filter', name: 'label' }, h('option', { value: '' }, 'all labels'),
      labels.map((l) => h('option', { value: String(l) }, names && names[l] ? `${l} · ${names[l]}` : String(l))));
    filterSel.addEventListener('change', () => { filter = filterSel.value; mosaicShown = MOSAIC_ROWS; draw(); });
    const viewBtns = ['table', 'mosaic'].map((v) => h('button', { type: 'button', class: 'small', id: `clusters-view-${v}`,
      'aria-pressed': String(v === view), onclick: () => { view = v; mosaicShown = MOSAIC_ROWS; draw(); } },
    v === 'table' ? 'Table' : 'Mosaic'));
    const countNote = h('span', { class: 'muted small-text', id: 'clusters-count' });
    const mosaic = h('ol', { class: 'mosaic', id: 'clusters-mosaic', 'aria-label': 'One row of members per cluster' });
    const more = h('button', { type: 'button', class: 'small', id: 'mosaic-more',
      onclick: () => { mosaicShown += MOSAIC_ROWS; draw(); } }, 'Show more clusters');
    const tableLayout = h('div', { class: 'clusters-layout' }, h('div', { class: 'table-scroll clusters-scroll' }, table), gridFig);
    const mosaicLayout = h('div', { class: 'mosaic-wrap' }, mosaic, more);

    function show(cl) {
      selected = cl.id;
      for (const tr of tbody.children) tr.classList.toggle('selected', tr.dataset.cluster === String(cl.id));
      for (const b of tbody.querySelectorAll('button[aria-pressed]')) b.setAttribute('aria-pressed', String(b.dataset.cluster === String(cl.id)));
      setText(gridCap, `Cluster ${cl.id}: ${fmtInt(cl.size)} images` +
        (cl.label != null ? `, ${fmtPct(cl.label_fraction)} of them ${labelName(currentRun(), cl.label)}` : '') +
        ` (first ${Math.min(64, cl.size)} shown)`);
      gridImg.alt = `The first members of cluster ${cl.id}`;
      gridImg.hidden = false;
      gridImg.classList.add('loading');
      setImageSrc(gridImg, `/v1/runs/${id}/clusters/${cl.id}/grid.png?n=64&scale=2`)
        .catch((e) => setText(gridCap, `Could not load cluster ${cl.id}: ${e.message}`));
    }
    gridImg.addEventListener('load', () => gridImg.classList.remove('loading'));
    gridImg.addEventListener('error', () => { gridImg.classList.remove('loading'); setText(gridCap, 'The image did not load.'); });

    function ordered() {
      const k = sort.key;
      const list = filter === '' ? all.slice() : all.filter((x) => String(x.label) === filter);
      return list.sort((a, b) => {
        const va = a[k] ?? -Infinity, vb = b[k] ?? -Infinity;
        if (va !== vb) return (va < vb ? -1 : 1) * sort.dir;
        return a.id - b.id;
      });
    }

    function draw() {
      const list = ordered();
      for (const th of ths) {
        if (th.dataset.key === sort.key) th.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
        else th.removeAttribute('aria-sort');
      }
      for (const b of viewBtns) b.setAttribute('aria-pressed', String(b.id === `clusters-view-${view}`));
      setText(countNote, filter === '' ? `${list.length} clusters` : `${list.length} of ${all.length} clusters`);
      tableLayout.hidden = view !== 'table';
      mosaicLayout.hidden = view !== 'mosaic';
      if (view === 'table') {
        const maxSize = Math.max(1, ...list.map((x) => x.size || 0));
        clear(tbody, list.map((cl) => h('tr', { dataset: { cluster: String(cl.id) }, class: cl.id === selected ? 'selected' : null,
          onclick: (ev) => { if (!ev.target.closest('button')) show(cl); } },
          h('td', {}, h('button', { type: 'button', class: 'link', 'aria-pressed': String(cl.id === selected),
            dataset: { cluster: String(cl.id) }, 'aria-label': `Show cluster ${cl.id}`, onclick: () => show(cl) }, `#${cl.id}`)),
          h('td', { class: 'num size-cell' }, h('span', { class: 'size-num' }, fmtInt(cl.size)),
            h('span', { class: 'bar', 'aria-hidden': 'true', style: `--w:${((cl.size || 0) / maxSize * 100).toFixed(1)}%` })),
          hasLabels ? [
            h('td', {}, labelName(currentRun(), cl.label)),
            h('td', { class: 'num' }, fmtPct(cl.label_fraction)),
          ] : null)));
      } else {
        if (observer) observer.disconnect();
        clear(mosaic, list.slice(0, mosaicShown).map((cl) => h('li', { class: 'mosaic-row', dataset: { cluster: String(cl.id) } },
          h('div', { class: 'mosaic-label' },
            h('button', { type: 'button', class: 'link', onclick: () => { view = 'table'; draw(); show(cl); } }, `#${cl.id}`),
            ` ${fmtInt(cl.size)} images`,
            cl.label != null ? h('span', { class: 'muted' }, ` · ${labelName(currentRun(), cl.label)} ${fmtPct(cl.label_fraction)}`) : null),
          // drawn at most at its own size, narrower (same shape) when the row is narrower
          lazyImage(h('img', { alt: `The first members of cluster ${cl.id}`, class: 'mosaic-img', decoding: 'async',
            width: String(28 * Math.min(MOSAIC_IMAGES, cl.size || 1)), height: '28',
            style: `max-width:min(100%, ${28 * Math.min(MOSAIC_IMAGES, cl.size || 1)}px)` }),
          `/v1/runs/${id}/clusters/${cl.id}/grid.png?n=${MOSAIC_IMAGES}&scale=1`))));
        more.hidden = list.length <= mosaicShown;
      }
    }
    draw();
    clear(clusters,
      h('h2', { id: 'clusters-h' }, 'Pseudo-label clusters'),
      h('dl', { class: 'meta' }, [
        ['k', fmtInt(c.k)], ['images', fmtInt(c.n)], ['inertia', fmtNum(c.inertia, 1)],
        ['purity', fmtPct(c.purity)], ['NMI', fmtNum(c.nmi, 3)],
      ].map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', { dataset: { metric: k } }, v)))),
      h('p', { class: 'muted small-text' }, 'Purity, NMI and the majority labels compare the pseudo-labels with the true labels: a diagnostic only, training never sees labels. A cluster’s purity is its majority label’s share.'),
      h('div', { class: 'toolbar clusters-tools' },
        h('label', { for: 'clusters-sort' }, 'Sort by '), sortSel,
        hasLabels ? [h('label', { for: 'clusters-filter' }, 'Majority label '), filterSel] : null,
        h('span', { class: 'seg', role: 'group', 'aria-label': 'Show as' }, viewBtns), countNote),
      tableLayout, mosaicLayout);
  }

  return { el: clusters, load };
}
