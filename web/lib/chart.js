// Charts (uPlot, loaded by index.html as window.uPlot): a Chart keeps named series of (x, y)
// points and redraws at most once a frame. A series may be smoothed (TensorBoard's debiased
// exponential moving average: the raw points drawn faint, the smoothed line over them) or drawn
// as markers only; the view (smoothing, log scale, the axis labels and formats) can change at
// any time and a drag zooms until "Reset zoom" (or a double click). Used by the run page and
// the compare view; it knows nothing of runs or metrics, only points. Without uPlot it shows
// its "no data" text.

import { h } from './dom.js';
import { DASH, fmtNum, fmtTick, isNum } from './format.js';

export const PALETTE = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#0b7285', '#e67700',
  '#5c7cfa'];

// TensorBoard's smoothing: an exponential moving average started at zero and divided by the
// weight it has gathered, so the first points are not pulled towards zero. ys: numbers or null.
export function smoothEma(ys, weight) {
  if (!(weight > 0)) return ys.slice();
  let last = 0, n = 0;
  return ys.map((y) => {
    if (!isNum(y)) return null;
    last = last * weight + (1 - weight) * y;
    n++;
    return last / (1 - weight ** n);
  });
}

// A colour with an alpha channel: "#rrggbb" -> "rgba(r, g, b, a)".
function faint(hex, alpha) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || '');
  if (!m) return hex;
  return `rgba(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)}, ${alpha})`;
}

export class Chart {
  // series: [{key, label, color, width, pointSize, smooth (bool), markers (bool: points only)}]
  // view: {smoothing 0..0.99, logY, xLabel, intX, xFormat(v), yFormat(v)}
  constructor(title, { xLabel = 'epoch', yLabel = '', series, height = 220, emptyText, intX = false,
    xFormat = null, yFormat = null } = {}) {
    this.title = title;
    this.yLabel = yLabel;
    this.defs = series;
    this.height = height;
    this.view = { smoothing: 0, logY: false, xLabel, intX, xFormat, yFormat };
    this.data = new Map(series.map((s) => [s.key, new Map()]));
    this.plot = null;
    this.pending = false;
    this.zoomed = false;
    this.box = h('div', { class: 'chart-box' });
    this.empty = h('p', { class: 'chart-empty' }, emptyText || 'No data yet.');
    this.resetBtn = h('button', { type: 'button', class: 'small chart-reset', hidden: true,
      onclick: () => this.resetZoom() }, 'Reset zoom');
    this.el = h('figure', { class: 'chart', dataset: { points: '0' } },
      h('figcaption', {}, h('span', {}, title), this.resetBtn), this.box, this.empty);
    this.box.hidden = true;
    this.box.addEventListener('dblclick', () => { this.zoomed = false; this.resetBtn.hidden = true; });
    this.resizeObs = new ResizeObserver(() => this.resize());
    this.resizeObs.observe(this.el);
  }

  add(key, x, y) {
    const m = this.data.get(key);
    if (!m || !isNum(x) || !isNum(y)) return;
    m.set(x, y);
    this.schedule();
  }

  // Drops every point (the caller re-adds them against another x axis).
  clear() {
    for (const m of this.data.values()) m.clear();
    this.rebuild();
  }

  // Changes how the chart is drawn; the plot is made again (uPlot fixes scales at creation).
  setView(view) {
    Object.assign(this.view, view);
    this.rebuild();
  }

  rebuild() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.zoomed = false;
    this.resetBtn.hidden = true;
    this.schedule();
  }

  count() {
    let n = 0;
    for (const m of this.data.values()) n += m.size;
    return n;
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  // The uPlot series after the x series: a smoothed series is two (raw faint, then smoothed).
  plotSeries() {
    const out = [];
    const smoothing = this.view.smoothing > 0;
    this.defs.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      const value = (u, v) => (v == null ? DASH : this.view.yFormat ? this.view.yFormat(v) : fmtNum(v, 4));
      if (s.smooth && smoothing) {
        // points: uPlot's own choice, shown where the points are sparse enough to see
        out.push({ def: s, raw: true, opts: { label: s.label, stroke: faint(color, 0.3), width: 1, spanGaps: true,
          points: { size: 4 }, value } });
        out.push({ def: s, opts: { label: `${s.label} (smoothed)`, stroke: color, width: s.width || 2, spanGaps: true,
          points: { size: 5 }, value } });
      } else if (s.markers) {
        out.push({ def: s, opts: { label: s.label, stroke: color, width: 0, paths: () => null,
          points: { show: true, size: s.pointSize || 7, fill: color }, value } });
      } else {
        out.push({ def: s, opts: { label: s.label, stroke: color, width: s.width || 2, spanGaps: true,
          points: { size: s.pointSize || 5 }, value } });
      }
    });
    return out;
  }

  aligned(series) {
    const xs = new Set();
    for (const m of this.data.values()) for (const x of m.keys()) xs.add(x);
    const xArr = [...xs].sort((a, b) => a - b);
    const logY = this.view.logY;
    const cols = series.map((ps) => {
      const m = this.data.get(ps.def.key);
      let col = xArr.map((x) => (m.has(x) ? m.get(x) : null));
      if (ps.def.smooth && !ps.raw && this.view.smoothing > 0) {
        // smoothed over this series' own points only, then put back in place
        const idx = [], ys = [];
        col.forEach((y, i) => { if (y != null) { idx.push(i); ys.push(y); } });
        const sm = smoothEma(ys, this.view.smoothing);
        col = xArr.map(() => null);
        idx.forEach((i, j) => { col[i] = sm[j]; });
      }
      return logY ? col.map((y) => (y != null && y > 0 ? y : null)) : col;
    });
    return [xArr, ...cols];
  }

  width() {
    return Math.max(200, Math.floor(this.el.clientWidth || 480) - 2);
  }

  draw() {
    const n = this.count();
    this.el.dataset.points = String(n);
    if (n === 0 || typeof window.uPlot !== 'function') {
      this.empty.hidden = n > 0;
      this.box.hidden = n === 0 || typeof window.uPlot !== 'function';
      return;
    }
    this.empty.hidden = true;
    this.box.hidden = false;
    const series = this.plotSeries();
    const data = this.aligned(series);
    if (this.plot) { this.plot.setData(data, !this.zoomed); return; }
    const v = this.view;
    const xFmt = v.xFormat || ((x) => fmtNum(x, 2));
    const opts = {
      width: this.width(),
      height: this.height,
      scales: { x: { time: false }, y: v.logY ? { distr: 3 } : {} },
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      axes: [
        { label: v.xLabel, stroke: '#4a5568', grid: { stroke: '#e7eaf0' },
          ...(v.intX ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] } : {}),
          ...(v.xFormat ? { values: (u, splits) => splits.map(v.xFormat) } : {}) },
        { label: this.yLabel, stroke: '#4a5568', grid: { stroke: '#e7eaf0' }, size: 64,
          values: (u, splits) => splits.map(v.yFormat || fmtTick) },
      ],
      series: [{ label: v.xLabel, value: (u, x) => (x == null ? DASH : xFmt(x)) }, ...series.map((s) => s.opts)],
      hooks: {
        // A drag zooms; the chart remembers it, so new points do not reset the zoom.
        setScale: [(u, key) => {
          if (key !== 'x' || !u.data[0].length) return;
          const xs = u.data[0], lo = xs[0], hi = xs[xs.length - 1];
          const span = Math.max(1e-12, hi - lo);
          this.zoomed = u.scales.x.min > lo + span * 1e-6 || u.scales.x.max < hi - span * 1e-6;
          this.resetBtn.hidden = !this.zoomed;
        }],
      },
    };
    this.plot = new window.uPlot(opts, data, this.box);
  }

  resetZoom() {
    this.zoomed = false;
    this.resetBtn.hidden = true;
    if (this.plot) this.plot.setData(this.aligned(this.plotSeries()), true);
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: this.height });
  }

  destroy() {
    this.resizeObs.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

// The controls over a group of charts, as TensorBoard has them: the x axis (by step, epoch or
// wall time), the smoothing weight and a log scale for the y axis. The choice is kept in
// localStorage under key. onChange({x, smoothing, logY}) runs at once and on every change.
export function chartControls(key, onChange, { xModes = ['step', 'epoch', 'wall'], idPrefix = 'chart' } = {}) {
  const LABELS = { step: 'step', epoch: 'epoch', wall: 'wall time' };
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(key) || '{}') || {}; } catch { saved = {}; }
  const state = {
    x: xModes.includes(saved.x) ? saved.x : xModes[0],
    smoothing: isNum(saved.smoothing) && saved.smoothing >= 0 && saved.smoothing < 1 ? saved.smoothing : 0.6,
    logY: saved.logY === true,
  };
  const xSel = h('select', { id: `${idPrefix}-x`, name: 'x' }, xModes.map((m) => h('option', { value: m }, LABELS[m] || m)));
  xSel.value = state.x;
  const smooth = h('input', { id: `${idPrefix}-smoothing`, name: 'smoothing', type: 'range', min: '0', max: '0.99',
    step: '0.01', value: String(state.smoothing) });
  const smoothOut = h('output', { for: `${idPrefix}-smoothing`, class: 'smooth-value' }, state.smoothing.toFixed(2));
  const logBox = h('input', { id: `${idPrefix}-log`, name: 'log', type: 'checkbox', checked: state.logY });
  const save = () => { try { localStorage.setItem(key, JSON.stringify(state)); } catch { /* private mode */ } };
  const changed = () => { save(); onChange({ ...state }); };
  xSel.addEventListener('change', () => { state.x = xSel.value; changed(); });
  smooth.addEventListener('input', () => {
    state.smoothing = Number(smooth.value);
    smoothOut.value = state.smoothing.toFixed(2);
    changed();
  });
  logBox.addEventListener('change', () => { state.logY = logBox.checked; changed(); });
  const el = h('div', { class: 'chart-controls toolbar', role: 'group', 'aria-label': 'Chart settings' },
    h('label', { for: xSel.id }, 'x axis '), xSel,
    h('label', { for: smooth.id }, 'smoothing '), smooth, smoothOut,
    h('label', { class: 'check' }, logBox, ' log scale'),
    h('span', { class: 'muted small-text' }, 'Drag across a chart to zoom; double-click or “Reset zoom” to go back.'));
  onChange({ ...state });
  return { el, get state() { return { ...state }; } };
}
