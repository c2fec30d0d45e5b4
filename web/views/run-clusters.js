// The run page's clusters card: once k-means has succeeded, the pseudo-label clusters (k,
// purity, NMI, a sortable table) and a chosen cluster's image grid. Loads them once per visit;
// reads only. Plain SimCLR runs have no clusters, so the card stays hidden.

import { api } from '../lib/api.js';
import { clear, h, setText } from '../lib/dom.js';
import { fmtInt, fmtNum, fmtPct, labelName } from '../lib/format.js';
import { errorBox, setImageSrc } from '../lib/ui.js';

// currentRun(): the run as last seen (its dataset names the labels); stageOf(name): its stage.
export function runClusters(ctx, id, currentRun, stageOf) {
  const clusters = h('section', { class: 'card', id: 'clusters', 'aria-labelledby': 'clusters-h' });
  clusters.hidden = true;
  let loaded = false, loading = false;

  async function load(run) {
    if (loaded || loading || run.method === 'simclr') return;
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

  function renderClusters(c) {
    clusters.hidden = false;
    const list = (c.clusters || []).slice();
    const hasLabels = list.some((x) => x.label != null);
    const sort = { key: 'id', dir: 1 };
    const tbody = h('tbody');
    const gridImg = h('img', { id: 'cluster-grid', alt: '', decoding: 'async' });
    const gridCap = h('figcaption', {}, 'Pick a cluster to see its first members.');
    const gridFig = h('figure', { class: 'grid-fig', 'aria-live': 'polite' }, gridCap, gridImg);
    gridImg.hidden = true;
    let selected = null;
    const cols = [
      ['id', 'Cluster'], ['size', 'Size'],
      ...(hasLabels ? [['label', 'Majority label'], ['label_fraction', 'Label share']] : []),
    ];
    const ths = cols.map(([key, text]) => {
      const btn = h('button', { type: 'button', class: 'sort', onclick: () => {
        sort.dir = sort.key === key ? -sort.dir : (key === 'id' || key === 'label' ? 1 : -1);
        sort.key = key;
        draw();
      } }, text);
      return h('th', { scope: 'col', dataset: { key } }, btn);
    });
    const table = h('table', { class: 'clusters-table', id: 'clusters-table' },
      h('caption', { class: 'sr-only' }, 'Clusters; the column buttons sort, the cluster buttons show the members'),
      h('thead', {}, h('tr', {}, ths)), tbody);

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

    function draw() {
      const k = sort.key;
      list.sort((a, b) => {
        const va = a[k] ?? -Infinity, vb = b[k] ?? -Infinity;
        return (va < vb ? -1 : va > vb ? 1 : a.id - b.id) * sort.dir;
      });
      for (const th of ths) {
        if (th.dataset.key === k) th.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
        else th.removeAttribute('aria-sort');
      }
      const maxSize = Math.max(1, ...list.map((x) => x.size || 0));
      clear(tbody, list.map((cl) => h('tr', { dataset: { cluster: String(cl.id) }, class: cl.id === selected ? 'selected' : null,
        onclick: (ev) => { if (!ev.target.closest('button')) show(cl); } },
        h('td', {}, h('button', { type: 'button', class: 'link', 'aria-pressed': String(cl.id === selected),
          dataset: { cluster: String(cl.id) }, 'aria-label': `Show cluster ${cl.id}`, onclick: () => show(cl) }, `#${cl.id}`)),
        h('td', { class: 'num' }, h('span', { class: 'bar', style: `--w:${((cl.size || 0) / maxSize * 100).toFixed(1)}%` }), fmtInt(cl.size)),
        hasLabels ? [
          h('td', {}, labelName(currentRun(), cl.label)),
          h('td', { class: 'num' }, fmtPct(cl.label_fraction)),
        ] : null)));
    }
    draw();
    clear(clusters,
      h('h2', { id: 'clusters-h' }, 'Pseudo-label clusters'),
      h('dl', { class: 'meta' }, [
        ['k', fmtInt(c.k)], ['images', fmtInt(c.n)], ['inertia', fmtNum(c.inertia, 1)],
        ['purity', fmtPct(c.purity)], ['NMI', fmtNum(c.nmi, 3)],
      ].map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', { dataset: { metric: k } }, v)))),
      h('p', { class: 'muted small-text' }, 'Purity, NMI and the majority labels compare the pseudo-labels with the true labels: a diagnostic only, training never sees labels.'),
      h('div', { class: 'clusters-layout' }, h('div', { class: 'table-scroll clusters-scroll' }, table), gridFig));
  }

  return { el: clusters, load };
}
