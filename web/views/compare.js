// View #/compare?ids=1,2: the final metrics of the chosen runs side by side (best accuracy in
// bold) and their SimCLR loss per epoch in one chart. Reads only; changes no run.

import { api, allMetrics } from '../lib/api.js';
import { Chart, PALETTE } from '../lib/chart.js';
import { append, clear, h } from '../lib/dom.js';
import { DASH, fmtDur, fmtInt, fmtNum, fmtPct, getPath, isNum, runSeconds } from '../lib/format.js';
import { badge, errorBox, focusHeading } from '../lib/ui.js';

export function compareView(ctx, root, query) {
  const ids = (query.get('ids') || '').split(',').map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  const uniq = [...new Set(ids)];
  const idsInput = h('input', { id: 'compare-ids', type: 'text', value: uniq.join(','), inputmode: 'numeric',
    pattern: '[0-9, ]*', placeholder: 'e.g. 1,2' });
  const form = h('form', { class: 'toolbar', onsubmit: (ev) => {
    ev.preventDefault();
    const v = idsInput.value.split(/[\s,]+/).filter((s) => /^\d+$/.test(s)).join(',');
    location.hash = `#/compare?ids=${v}`;
  } }, h('label', { for: 'compare-ids' }, 'Run IDs '), idsInput, h('button', { type: 'submit' }, 'Compare'));
  const body = h('div', { id: 'compare-body' });
  append(root, h('div', { class: 'page-head' }, h('h1', {}, 'Compare runs')), form, body);
  focusHeading(root);

  if (!uniq.length) {
    append(body, h('p', { class: 'muted' }, 'Tick runs on the ', h('a', { href: '#/runs' }, 'runs list'),
      ' and press “Compare selected”, or type their IDs above.'));
    return;
  }
  append(body, h('p', { class: 'muted' }, 'Loading…'));

  (async () => {
    const got = await Promise.all(uniq.map(async (id) => {
      try {
        const [run, m] = await Promise.all([api.run(id), allMetrics(id, { stage: 'simclr', name: 'loss' })]);
        return { id, run, loss: m.metrics.filter((x) => x.step < 0) };
      } catch (e) {
        return { id, error: e };
      }
    }));
    if (!ctx.alive) return;
    const ok = got.filter((g) => g.run);
    const bad = got.filter((g) => !g.run);
    clear(body);
    for (const b of bad) append(body, errorBox(b.error, `Run ${b.id}`));
    if (!ok.length) return;

    const R = (g) => g.run.result || {};
    const TEXT_ROWS = new Set(['Status', 'Method']);
    const rows = [
      ['Status', (g) => badge(g.run.status)],
      ['Method', (g) => g.run.method || DASH],
      ['Training images', (g) => (g.run.config && g.run.config.subset ? fmtInt(g.run.config.subset) : 'all')],
      ['k (clusters)', (g) => (g.run.method === 'simclr' ? DASH : fmtInt(R(g).k ?? getPath(g.run.config, 'kmeans.k')))],
      ['Cluster purity', (g) => fmtPct(R(g).purity)],
      ['NMI', (g) => fmtNum(R(g).nmi, 3)],
      ['Batches repeating a cluster / epoch', (g) => (g.run.method === 'simclr' ? DASH : fmtNum(R(g).repeat_batches_per_epoch, 1))],
      ['SimCLR epochs × batch', (g) => {
        const s = (g.run.config && g.run.config.simclr) || {};
        return `${s.epochs ?? DASH} × ${s.batch ?? DASH}`;
      }],
      ['SimCLR loss (last epoch)', (g) => fmtNum(R(g).simclr_loss)],
      ['kNN top-1', (g) => fmtPct(R(g).knn_top1), (g) => R(g).knn_top1],
      ['Linear top-1', (g) => fmtPct(R(g).linear_top1), (g) => R(g).linear_top1],
      ['Linear top-1 (head)', (g) => fmtPct(R(g).linear_top1_head), (g) => R(g).linear_top1_head],
      ['Autoencoder time', (g) => fmtDur(R(g).dae_seconds)],
      ['k-means time', (g) => fmtDur(R(g).kmeans_seconds)],
      ['SimCLR time', (g) => fmtDur(R(g).simclr_seconds)],
      ['Evaluation time', (g) => fmtDur(R(g).eval_seconds)],
      ['Wall time', (g) => fmtDur(runSeconds(g.run))],
    ];
    const table = h('table', { class: 'compare-table', id: 'compare-table' },
      h('caption', {}, 'Final metrics side by side (best accuracy in bold)'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Metric'),
        ok.map((g) => h('th', { scope: 'col', dataset: { runId: String(g.id) } },
          h('a', { href: `#/runs/${g.id}` }, `#${g.id}`), h('br'),
          h('span', { class: 'small-text' }, g.run.name || g.run.method || ''))))),
      h('tbody', {}, rows.map(([label, cell, best]) => {
        let bestVal = null;
        if (best) for (const g of ok) { const v = best(g); if (isNum(v) && (bestVal == null || v > bestVal)) bestVal = v; }
        return h('tr', {}, h('th', { scope: 'row' }, label), ok.map((g) => {
          const isBest = best && ok.length > 1 && isNum(best(g)) && best(g) === bestVal;
          const cls = [isBest ? 'best' : '', TEXT_ROWS.has(label) ? '' : 'num'].filter(Boolean).join(' ');
          return h('td', { class: cls || null }, cell(g));
        }));
      })));

    const chart = new Chart('SimCLR loss per epoch', {
      yLabel: 'NT-Xent', intX: true, series: ok.map((g, i) => ({ key: String(g.id), label: `#${g.id} ${g.run.method}`, color: PALETTE[i % PALETTE.length] })),
      emptyText: 'None of these runs has finished a SimCLR epoch yet.' });
    chart.el.id = 'compare-chart';
    ctx.onCleanup(() => chart.destroy());
    append(body, h('div', { class: 'table-scroll' }, table),
      h('section', { class: 'card' }, chart.el),
      h('p', { class: 'muted small-text' }, 'NT-Xent values depend on the batch size (more negatives, higher loss), so compare curves of runs with the same batch.'));
    for (const g of ok) for (const m of g.loss) chart.add(String(g.id), m.epoch, m.value);
  })();
}
