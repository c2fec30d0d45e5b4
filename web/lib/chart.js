// Charts (uPlot, loaded by index.html as window.uPlot): a Chart keeps named series of (x, y)
// points and redraws at most once a frame. Used by the run page and the compare view; it knows
// nothing of runs or metrics, only points. Without uPlot it shows its "no data" text.

import { h } from './dom.js';
import { DASH, fmtNum, fmtTick, isNum } from './format.js';

export const PALETTE = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#0b7285', '#e67700',
  '#5c7cfa'];
export class Chart {
  // series: [{key, label, color, width, points}]
  constructor(title, { xLabel = 'epoch', yLabel = '', series, height = 220, emptyText, intX = false } = {}) {
    this.title = title;
    this.intX = intX;
    this.xLabel = xLabel;
    this.yLabel = yLabel;
    this.defs = series;
    this.height = height;
    this.data = new Map(series.map((s) => [s.key, new Map()]));
    this.plot = null;
    this.pending = false;
    this.box = h('div', { class: 'chart-box' });
    this.empty = h('p', { class: 'chart-empty' }, emptyText || 'No data yet.');
    this.el = h('figure', { class: 'chart', dataset: { points: '0' } },
      h('figcaption', {}, title), this.box, this.empty);
    this.box.hidden = true;
    this.resizeObs = new ResizeObserver(() => this.resize());
    this.resizeObs.observe(this.el);
  }

  add(key, x, y) {
    const m = this.data.get(key);
    if (!m || !isNum(x) || !isNum(y)) return;
    m.set(x, y);
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

  aligned() {
    const xs = new Set();
    for (const m of this.data.values()) for (const x of m.keys()) xs.add(x);
    const xArr = [...xs].sort((a, b) => a - b);
    const cols = this.defs.map((s) => {
      const m = this.data.get(s.key);
      return xArr.map((x) => (m.has(x) ? m.get(x) : null));
    });
    return [xArr, ...cols];
  }

  width() {
    return Math.max(240, Math.floor(this.el.clientWidth || 480) - 2);
  }

  draw() {
    const n = this.count();
    this.el.dataset.points = String(n);
    if (n === 0 || typeof window.uPlot !== 'function') return;
    this.empty.hidden = true;
    this.box.hidden = false;
    const data = this.aligned();
    if (this.plot) { this.plot.setData(data); return; }
    const opts = {
      width: this.width(),
      height: this.height,
      scales: { x: { time: false } },
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      axes: [
        { label: this.xLabel, stroke: '#4a5568', grid: { stroke: '#e7eaf0' },
          ...(this.intX ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] } : {}) },
        { label: this.yLabel, stroke: '#4a5568', grid: { stroke: '#e7eaf0' }, size: 64,
          values: (u, splits) => splits.map(fmtTick) },
      ],
      series: [
        { label: this.xLabel, value: (u, v) => (v == null ? DASH : fmtNum(v, 2)) },
        ...this.defs.map((s, i) => ({
          label: s.label,
          stroke: s.color || PALETTE[i % PALETTE.length],
          width: s.width || 2,
          spanGaps: true,
          points: s.pointSize ? { size: s.pointSize } : { show: true, size: 5 },
          value: (u, v) => (v == null ? DASH : fmtNum(v, 4)),
        })),
      ],
    };
    this.plot = new window.uPlot(opts, data, this.box);
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
