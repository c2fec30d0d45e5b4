// View #/compare?ids=1,2: the chosen runs side by side. Their final figures (best accuracy in
// bold, and each later run's difference from the first run), a stage a method skips said to be
// skipped (not 0 s), the configuration fields that differ between them (and only those), and
// their curves overlaid: the SimCLR loss (every logged step, smoothed) and the accuracy during
// training (the kNN monitor), against step, epoch or wall time. Reads only; changes no run.

import { api, allMetrics } from '../lib/api.js';
import { Chart, PALETTE, chartControls } from '../lib/chart.js';
import { X_LABELS, xMapper } from '../lib/curves.js';
import { append, clear, h } from '../lib/dom.js';
import { DASH, fmtClockDur, fmtDelta, fmtDur, fmtInt, fmtNum, fmtPct, getPath, isNum, runSeconds, stageSkipped } from '../lib/format.js';
import { badge, errorBox, focusHeading } from '../lib/ui.js';

// Every leaf of a configuration by its dotted path; arrays are one value (their JSON).
function flatten(obj, prefix = '', out = new Map()) {
  for (const [k, v] of Object.entries(obj || {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, p, out);
    else out.set(p, JSON.stringify(v));
  }
  return out;
}

export function compareView(ctx, root, query) {
  const ids = (query.get('ids') || '').split(',').map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  const uniq = [...new Set(ids)];
  const idsInput = h('input', { id: 'compare-ids', type: 'text', value: uniq.join(','), inputmode: 'numeric',
    pattern: '[0-9, ]*', placeholder: 'e.g. 1,2', size: '12' });
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
        const [run, sm, ev] = await Promise.all([api.run(id), allMetrics(id, { stage: 'simclr' }),
          allMetrics(id, { stage: 'eval' })]);
        return { id, run, metrics: [...sm.metrics, ...ev.metrics] };
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
    append(body, figuresTable(ok), configDiff(ok), curves(ok));
  })();

  // --- final figures, with deltas against the first run
  function figuresTable(ok) {
    const R = (g) => g.run.result || {};
    const guided = (g) => g.run.method === 'gsimclr';
    const stageTime = (name, key) => (g) => (stageSkipped(g.run, name) ? null : R(g)[key]);
    // [label, shown(g), value(g) for the delta and the best (null: text row), kind, best: 'high' | 'low']
    const rows = [
      ['Status', (g) => badge(g.run.status)],
      ['Method', (g) => g.run.method || DASH],
      ['Training images', (g) => (g.run.config && g.run.config.subset ? fmtInt(g.run.config.subset) : 'all'),
        (g) => (g.run.config && g.run.config.subset ? g.run.config.subset : null), 'int'],
      ['k (clusters)', (g) => (guided(g) ? fmtInt(R(g).k ?? getPath(g.run.config, 'kmeans.k')) : 'skipped'),
        (g) => (guided(g) ? R(g).k ?? getPath(g.run.config, 'kmeans.k') : null), 'int'],
      ['Cluster purity', (g) => (guided(g) ? fmtPct(R(g).purity) : 'skipped'), (g) => (guided(g) ? R(g).purity : null), 'pct'],
      ['NMI', (g) => (guided(g) ? fmtNum(R(g).nmi, 3) : 'skipped'), (g) => (guided(g) ? R(g).nmi : null), 'num'],
      ['Batches repeating a cluster / epoch', (g) => (guided(g) ? fmtNum(R(g).repeat_batches_per_epoch, 1) : 'skipped'),
        (g) => (guided(g) ? R(g).repeat_batches_per_epoch : null), 'num'],
      ['SimCLR epochs × batch', (g) => {
        const s = (g.run.config && g.run.config.simclr) || {};
        return `${s.epochs ?? DASH} × ${s.batch ?? DASH}`;
      }],
      ['SimCLR loss (last epoch)', (g) => fmtNum(R(g).simclr_loss), (g) => R(g).simclr_loss, 'num'],
      ['kNN top-1', (g) => fmtPct(R(g).knn_top1), (g) => R(g).knn_top1, 'pct', 'high'],
      ['Linear top-1', (g) => fmtPct(R(g).linear_top1), (g) => R(g).linear_top1, 'pct', 'high'],
      ['Linear top-1 (head)', (g) => fmtPct(R(g).linear_top1_head), (g) => R(g).linear_top1_head, 'pct', 'high'],
      ['Autoencoder time', (g) => (stageSkipped(g.run, 'dae') ? 'skipped' : fmtDur(R(g).dae_seconds)), stageTime('dae', 'dae_seconds'), 'dur'],
      ['k-means time', (g) => (stageSkipped(g.run, 'kmeans') ? 'skipped' : fmtDur(R(g).kmeans_seconds)), stageTime('kmeans', 'kmeans_seconds'), 'dur'],
      ['SimCLR time', (g) => fmtDur(R(g).simclr_seconds), (g) => R(g).simclr_seconds, 'dur'],
      ['Evaluation time', (g) => fmtDur(R(g).eval_seconds), (g) => R(g).eval_seconds, 'dur'],
      ['Wall time', (g) => fmtDur(runSeconds(g.run)), (g) => runSeconds(g.run), 'dur'],
    ];
    const first = ok[0];
    const caption = ok.length > 1
      ? `Final figures side by side: best accuracy in bold; under each later run, its difference from run #${first.id}.`
      : 'Final figures.';
    const table = h('table', { class: 'compare-table', id: 'compare-table' },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Metric'),
        ok.map((g) => h('th', { scope: 'col', dataset: { runId: String(g.id) } },
          h('a', { href: `#/runs/${g.id}` }, `#${g.id}`), h('br'),
          h('span', { class: 'small-text' }, g.run.name || g.run.method || ''))))),
      h('tbody', {}, rows.map(([label, cell, value, kind, best]) => {
        let bestVal = null;
        if (best) for (const g of ok) { const v = value(g); if (isNum(v) && (bestVal == null || v > bestVal)) bestVal = v; }
        return h('tr', {}, h('th', { scope: 'row' }, label), ok.map((g, i) => {
          const v = value ? value(g) : null;
          const isBest = best && ok.length > 1 && isNum(v) && v === bestVal;
          const cls = [isBest ? 'best' : '', value ? 'num' : ''].filter(Boolean).join(' ');
          const base = value ? value(first) : null;
          const delta = i > 0 && isNum(v) && isNum(base) ? v - base : null;
          return h('td', { class: cls || null },
            cell(g),
            delta != null ? h('span', { class: `delta${delta > 0 ? ' up' : delta < 0 ? ' down' : ''}`, dataset: { delta: String(delta) } },
              fmtDelta(delta, kind)) : null);
        }));
      })));
    return [h('p', { class: 'muted small-text', 'aria-hidden': 'true' }, caption),
      h('div', { class: 'table-scroll compare-scroll' }, table)];
  }

  // --- the configuration fields that differ
  function configDiff(ok) {
    const flat = ok.map((g) => flatten(g.run.config));
    const paths = [...new Set(flat.flatMap((f) => [...f.keys()]))].filter((p) => p !== 'name').sort();
    const differ = paths.filter((p) => new Set(flat.map((f) => (f.has(p) ? f.get(p) : '(absent)'))).size > 1);
    const sec = h('section', { class: 'card', id: 'config-diff', 'aria-labelledby': 'diff-h' },
      h('h2', { id: 'diff-h' }, 'Configuration: what differs'));
    if (ok.length < 2) return append(sec, h('p', { class: 'muted' }, 'Add a second run to see what differs.'));
    if (!differ.length) return append(sec, h('p', { class: 'muted', id: 'config-same' }, `The ${ok.length} runs have the same configuration (names aside).`));
    append(sec,
      h('p', { class: 'muted small-text' }, `${differ.length} of ${paths.length} fields differ; the others are the same in every run.`),
      h('div', { class: 'table-scroll' }, h('table', { class: 'diff-table', id: 'config-diff-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), ok.map((g) => h('th', { scope: 'col' }, `#${g.id}`)))),
        h('tbody', {}, differ.map((p) => h('tr', { dataset: { path: p } }, h('th', { scope: 'row' }, h('code', {}, p)),
          flat.map((f, i) => {
            const v = f.has(p) ? f.get(p) : '(absent)';
            return h('td', { class: i > 0 && v !== flat[0].get(p) ? 'changed' : null }, h('code', {}, v));
          })))))));
    return sec;
  }

  // --- the curves
  function curves(ok) {
    const pct = (v) => fmtPct(v).replace(' ', '');
    const series = (suffix, extra = {}) => ok.map((g, i) => ({ key: String(g.id), label: `#${g.id} ${g.run.method}${suffix}`,
      color: PALETTE[i % PALETTE.length], ...extra }));
    const loss = new Chart('SimCLR loss (every logged step)', { yLabel: 'NT-Xent', series: series('', { smooth: true }),
      emptyText: 'None of these runs has logged a SimCLR step yet.' });
    const acc = new Chart('Accuracy during training (kNN monitor; dots: final kNN)', { yLabel: 'top-1', yFormat: pct,
      series: [...series(''), ...ok.map((g, i) => ({ key: `${g.id}:final`, label: `#${g.id} final`, color: PALETTE[i % PALETTE.length], markers: true, pointSize: 9 }))],
      emptyText: 'No accuracy yet: runs with simclr.knn_every > 0 report it during training, every run at its end.' });
    loss.el.id = 'compare-chart';
    acc.el.id = 'compare-acc';
    ctx.onCleanup(() => { loss.destroy(); acc.destroy(); });
    function plot(mode) {
      loss.clear();
      acc.clear();
      for (const g of ok) {
        const x = xMapper(g.run);
        for (const m of g.metrics) {
          if (m.stage === 'simclr' && m.name === 'step_loss') loss.add(String(g.id), x(m, mode), m.value);
          else if (m.stage === 'simclr' && m.name === 'knn_top1') acc.add(String(g.id), x(m, mode), m.value);
          else if (m.stage === 'eval' && m.name === 'knn_top1') acc.add(`${g.id}:final`, x(m, mode), m.value);
        }
      }
    }
    const controls = chartControls('gsimclr.compare-charts', (v) => {
      for (const c of [loss, acc]) {
        c.setView({ xLabel: X_LABELS[v.x], intX: v.x === 'epoch', xFormat: v.x === 'wall' ? fmtClockDur : null,
          smoothing: v.smoothing, logY: v.logY && c === loss });
      }
      plot(v.x);
    }, { idPrefix: 'compare-chart' });
    return h('section', { class: 'card', 'aria-labelledby': 'curves-h' },
      h('h2', { id: 'curves-h' }, 'Curves'), controls.el,
      h('div', { class: 'charts' }, loss.el, acc.el),
      h('p', { class: 'muted small-text' }, 'NT-Xent values depend on the batch size (more negatives, higher loss), so compare loss curves of runs with the same batch. Wall time counts from each run’s start, its autoencoder and k-means included.'));
  }
}
