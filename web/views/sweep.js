// View #/sweeps/{id}: one sweep as GET /v1/sweeps/{id} describes it, refreshed every few
// seconds until its runs have ended: status and progress, the table over seeds (mean, sd, 95 %
// t and bootstrap intervals, the other figures), a chart of the metric per combination with
// its interval and every seed's value, the paired differences with a verdict line each, and
// the runs of its points. Cancel and Delete act on the whole sweep. The statistics are the
// daemon's; this view only draws them.

import { TERMINAL, api } from '../lib/api.js';
import { append, clear, h, setText } from '../lib/dom.js';
import { DASH, fmtDur, fmtNum, isNum } from '../lib/format.js';
import { badge, downloadLink, errorBox, focusHeading, progressEl, timeEl, toast } from '../lib/ui.js';

const REFRESH_MS = 3000;
const SVG_NS = 'http://www.w3.org/2000/svg';

// An SVG element; attribute values and text are set as such, never parsed as markup.
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, String(v));
  if (text != null) el.textContent = String(text);
  return el;
}

// Values of the sweep's metric: percent for a fraction (an accuracy), plain otherwise; the
// differences of a fraction in percentage points.
function units(sweep) {
  const frac = sweep.unit === 'fraction';
  return {
    frac,
    value: (v) => (!isNum(v) ? DASH : frac ? `${(100 * v).toFixed(2)} %` : fmtNum(v)),
    diff: (v) => (!isNum(v) ? DASH : frac ? `${v >= 0 ? '+' : ''}${(100 * v).toFixed(2)}` : `${v >= 0 ? '+' : ''}${fmtNum(v)}`),
    ci: (iv, f) => (Array.isArray(iv) && iv.length === 2 ? `[${f(iv[0])}, ${f(iv[1])}]` : DASH),
  };
}

const valueText = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

function sideName(param, v) {
  if (param === 'method' && v === 'gsimclr') return 'G-SimCLR';
  if (param === 'method' && v === 'simclr') return 'SimCLR';
  if (param === 'method' && v === 'supervised') return 'supervised only';
  return `${param}=${valueText(v)}`;
}

// "G-SimCLR - SimCLR: +0.31 points, 95 % CI [+0.05, +0.57], p = 0.03 over 5 seeds"
export function verdict(pair, u) {
  let s = `${sideName(pair.param, pair.a)} − ${sideName(pair.param, pair.b)}`;
  if (pair.where) s += ` (${pair.where})`;
  if (!(pair.n >= 1)) return `${s}: no seed with both results yet`;
  s += `: ${u.diff(pair.mean)}${u.frac ? ' points' : ''}`;
  if (pair.n >= 2) {
    const p = !isNum(pair.p) ? DASH : pair.p < 0.001 ? '< 0.001' : `= ${Number(pair.p.toPrecision(2))}`;
    s += `, 95 % CI ${u.ci(pair.ci95, u.diff)}, p ${p}`;
  }
  return `${s} over ${pair.n} seed${pair.n === 1 ? '' : 's'}`;
}

// The metric per row: a dot at the mean, a bar over the t interval, a thin bar over the
// bootstrap interval, and each seed's value as a small grey dot.
function forestPlot(sweep, u) {
  const rows = sweep.rows || [];
  const xs = [];
  for (const r of rows) {
    for (const v of r.values || []) xs.push(v.value);
    for (const iv of [r.ci95, r.bootstrap95]) if (Array.isArray(iv)) xs.push(...iv);
  }
  const fig = h('figure', { class: 'chart sweep-chart', id: 'sweep-chart', dataset: { points: String(xs.length) } },
    h('figcaption', {}, `${sweep.metric} per combination (mean, 95 % t interval, bootstrap interval, each seed)`));
  if (!xs.length) {
    append(fig, h('p', { class: 'chart-empty' }, 'No run has finished yet.'));
    return fig;
  }
  let lo = Math.min(...xs), hi = Math.max(...xs);
  if (hi - lo < 1e-9) { lo -= 0.005; hi += 0.005; }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const labelW = 220, plotW = 520, rowH = 30, top = 10, W = labelW + plotW + 20, H = top + rows.length * rowH + 36;
  const X = (v) => labelW + ((v - lo) / (hi - lo)) * plotW;
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img',
    'aria-label': `${sweep.metric} per combination with 95 % intervals` });
  // ticks
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const v = lo + ((hi - lo) * i) / ticks, x = X(v);
    g.append(svg('line', { x1: x, x2: x, y1: top - 4, y2: H - 30, class: 'grid' }),
      svg('text', { x, y: H - 14, 'text-anchor': 'middle', class: 'tick' }, u.value(v)));
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    g.append(svg('text', { x: labelW - 8, y: y + 4, 'text-anchor': 'end', class: 'row-label' }, r.label || '(all)'));
    for (const v of r.values || [])
      g.append(svg('circle', { cx: X(v.value), cy: y + 7, r: 2.5, class: 'seed-dot' }));
    if (Array.isArray(r.bootstrap95))
      g.append(svg('line', { x1: X(r.bootstrap95[0]), x2: X(r.bootstrap95[1]), y1: y + 3, y2: y + 3, class: 'boot-bar' }));
    if (Array.isArray(r.ci95))
      g.append(svg('line', { x1: X(r.ci95[0]), x2: X(r.ci95[1]), y1: y, y2: y, class: 'ci-bar' }));
    if (isNum(r.mean)) {
      const dot = svg('circle', { cx: X(r.mean), cy: y, r: 5, class: 'mean-dot' });
      dot.append(svg('title', {}, `${r.label}: ${u.value(r.mean)}, 95 % CI ${u.ci(r.ci95, u.value)}, n ${r.n}`));
      g.append(dot);
    }
  });
  fig.append(g);
  return fig;
}

export function sweepView(ctx, root, id) {
  root.dataset.sweepId = String(id);
  const title = h('h1', {}, `Sweep ${id}`);
  const statusSlot = h('span', { class: 'status-slot', id: 'sweep-status' });
  const meta = h('dl', { class: 'meta' });
  const actions = h('div', { class: 'actions run-actions' });
  const overall = h('div', { class: 'overall' });
  const msg = h('div', { 'aria-live': 'polite' });
  const tableCard = h('section', { class: 'card', 'aria-labelledby': 'sweep-table-h' });
  const chartCard = h('section', { class: 'card', 'aria-labelledby': 'sweep-chart-h' });
  const pairsCard = h('section', { class: 'card', id: 'sweep-pairs', 'aria-labelledby': 'sweep-pairs-h' });
  const runsCard = h('section', { class: 'card', 'aria-labelledby': 'sweep-runs-h' });
  append(root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/sweeps' }, '‹ All sweeps')),
    h('div', { class: 'page-head' }, title, statusSlot),
    msg,
    h('div', { class: 'run-head' }, meta, actions),
    overall, tableCard, chartCard, pairsCard, runsCard);
  focusHeading(root);

  let last = '', ended = false;
  function render(s) {
    const sig = JSON.stringify(s);
    if (sig === last) return;
    last = sig;
    const u = units(s);
    setText(title, s.name ? `Sweep ${s.id}: ${s.name}` : `Sweep ${s.id}`);
    document.title = `Sweep ${s.id} · gsimclr`;
    clear(statusSlot, badge(s.status, 'large'));
    const c = s.counts || {};
    const sh = s.shared || {};
    clear(meta, [
      ['Metric', s.metric],
      ['Runs', `${s.runs} (${c.succeeded || 0} succeeded, ${c.failed || 0} failed, ${c.canceled || 0} canceled, ${c.running || 0} running, ${c.queued || 0} queued)`],
      ['Points', s.points > s.runs ? `${s.points} (points whose runs would be the same share one: SimCLR ignores the k-means settings)` : String(s.points)],
      ['Shared stages', `${sh.runs_reused ?? 0} run${sh.runs_reused === 1 ? '' : 's'} reused an autoencoder or k-means: ${fmtDur(sh.seconds_saved)} of work saved`],
      ['Created', timeEl(s.created_at)],
    ].map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
    const live = (c.queued || 0) + (c.running || 0) > 0;
    clear(actions,
      live ? h('button', { type: 'button', id: 'cancel-sweep', onclick: doCancel }, 'Cancel sweep') : null,
      !live ? h('button', { type: 'button', class: 'danger', id: 'delete-sweep', onclick: doDelete }, 'Delete sweep') : null,
      downloadLink(`/v1/sweeps/${s.id}/table.csv`, 'Table (CSV)', `sweep${s.id}.csv`, { class: 'button', id: 'sweep-csv' }));
    clear(overall, h('span', { class: 'overall-label' }, 'Runs ended'), progressEl(s.progress, 'Sweep progress'));

    const params = s.params || [];
    clear(tableCard, h('h2', { id: 'sweep-table-h' }, `${s.metric} over seeds`),
      h('div', { class: 'table-scroll' }, h('table', { class: 'runs-table', id: 'sweep-table' },
        h('thead', {}, h('tr', {}, [...params, 'n', 'mean', 'sd', '95 % CI (t)', '95 % CI (bootstrap)', 'runs ended',
          'linear top-1', 'kNN top-1', 'purity', 'repeats / epoch'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, (s.rows || []).map((r) => {
          const rc = r.counts || {};
          const done = (rc.succeeded || 0) + (rc.failed || 0) + (rc.canceled || 0);
          const all = done + (rc.running || 0) + (rc.queued || 0);
          const f = r.figures || {};
          const pct = (v) => (isNum(v) ? `${(100 * v).toFixed(2)} %` : DASH);
          return h('tr', {}, params.map((p) => h('td', {}, valueText((r.params || {})[p]))),
            h('td', { class: 'num' }, String(r.n)), h('td', { class: 'num' }, u.value(r.mean)),
            h('td', { class: 'num' }, u.frac && isNum(r.sd) ? (100 * r.sd).toFixed(2) : fmtNum(r.sd)),
            h('td', {}, u.ci(r.ci95, u.value)), h('td', {}, u.ci(r.bootstrap95, u.value)),
            h('td', { class: 'num' }, `${done}/${all}`),
            h('td', { class: 'num' }, pct(f.linear_top1)), h('td', { class: 'num' }, pct(f.knn_top1)),
            h('td', { class: 'num' }, pct(f.purity)), h('td', { class: 'num' }, fmtNum(f.repeat_batches_per_epoch, 1)));
        })))),
      h('p', { class: 'muted small-text' }, u.frac ? 'sd in percentage points. ' : '',
        'A bootstrap interval from five seeds on (10,000 resamples, a fixed seed).'));
    clear(chartCard, h('h2', { id: 'sweep-chart-h' }, 'Chart'), forestPlot(s, u));

    const pairs = s.pairs || [];
    clear(pairsCard, h('h2', { id: 'sweep-pairs-h' }, 'Paired differences'),
      pairs.length ? [
        h('p', { class: 'muted small-text' }, 'Rows that differ in one value, a − b over the seeds both have: mean, 95 % t interval, two-sided paired t-test',
          u.frac ? ' (in percentage points).' : '.'),
        h('div', { class: 'table-scroll' }, h('table', { class: 'runs-table', id: 'pairs-table' },
          h('thead', {}, h('tr', {}, ['key', 'a', 'b', 'where', 'n', 'mean', '95 % CI', 'p'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, pairs.map((p) => h('tr', {},
            h('td', {}, p.param), h('td', {}, valueText(p.a)), h('td', {}, valueText(p.b)), h('td', {}, p.where || DASH),
            h('td', { class: 'num' }, String(p.n)), h('td', { class: 'num' }, u.diff(p.mean)),
            h('td', {}, u.ci(p.ci95, u.diff)), h('td', { class: 'num' }, isNum(p.p) ? p.p.toPrecision(2) : DASH)))))),
        h('ul', { class: 'verdicts', id: 'verdicts' }, pairs.map((p) => h('li', { class: 'verdict' }, verdict(p, u)))),
      ] : h('p', { class: 'muted' }, 'No two rows differ in one value only.'));

    clear(runsCard, h('h2', { id: 'sweep-runs-h' }, 'Runs'),
      h('div', { class: 'table-scroll' }, h('table', { class: 'runs-table', id: 'sweep-runs' },
        h('thead', {}, h('tr', {}, ['point', 'values', 'run', 'status', s.metric, 'saved'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, (s.points_runs || []).map((p) => h('tr', {},
          h('td', { class: 'num' }, String(p.point)), h('td', {}, p.label),
          h('td', {}, p.run ? h('a', { href: `#/runs/${p.run}` }, `#${p.run}`) : DASH),
          h('td', {}, badge(p.status)), h('td', { class: 'num' }, u.value(p.value)),
          h('td', { class: 'num' }, p.seconds_saved > 0 ? fmtDur(p.seconds_saved) : DASH)))))));
    ended = !live && TERMINAL.has(s.status);
  }

  async function doCancel() {
    try {
      render(await api.cancelSweep(id));
      toast(`Sweep ${id}: its runs are being canceled`);
    } catch (e) { toast(`Cancel failed: ${e.message}`, 'error'); }
  }
  async function doDelete() {
    if (!window.confirm(`Delete sweep ${id} and all its runs?`)) return;
    try {
      await api.removeSweep(id);
      toast(`Sweep ${id} deleted`);
      location.hash = '#/sweeps';
    } catch (e) { toast(`Delete failed: ${e.message}`, 'error'); }
  }

  let inflight = false;
  async function refresh() {
    if (inflight || !ctx.alive || ended) return;
    inflight = true;
    try {
      const s = await api.sweep(id);
      if (!ctx.alive) return;
      clear(msg);
      render(s);
    } catch (e) {
      if (ctx.alive) clear(msg, errorBox(e, `Sweep ${id}`));
    } finally {
      inflight = false;
    }
  }
  refresh();
  ctx.every(REFRESH_MS, refresh);
}
