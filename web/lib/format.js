// Formatting of numbers, durations, sizes and times for display, and small readers of a run's
// fields (its wall time, a class label's name, a dotted path in its configuration, the stage
// seconds of its result). Pure functions returning strings or values: no DOM, no requests.

export const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
export const DASH = '—';

const FASHION_MNIST = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
  'Sneaker', 'Bag', 'Ankle boot'];

export function fmtPct(x) { return isNum(x) ? `${(x * 100).toFixed(2)} %` : DASH; }
export function fmtNum(x, digits = 4) {
  if (!isNum(x)) return DASH;
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
  return x.toFixed(digits);
}
export function fmtTick(v) {
  if (!isNum(v)) return '';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}
export function fmtInt(x) { return isNum(x) ? Math.round(x).toLocaleString('en-US') : DASH; }
export function fmtRate(x) { return isNum(x) ? `${Math.round(x).toLocaleString('en-US')}/s` : DASH; }
export function fmtDur(s) {
  if (!isNum(s)) return DASH;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60), sec = Math.round(s - m * 60);
  if (m < 60) return `${m} min ${sec} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
// A compact duration for chart axes and tight cells: "45 s", "12:05" (min:s), "1:02:05".
export function fmtClockDur(s) {
  if (!isNum(s)) return '';
  const neg = s < 0 ? '-' : '';
  s = Math.abs(s);
  if (s < 60) return `${neg}${Number(s.toFixed(s < 10 ? 1 : 0))} s`;
  const t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  const pad = (v) => String(v).padStart(2, '0');
  return h ? `${neg}${h}:${pad(m)}:${pad(sec)}` : `${neg}${m}:${pad(sec)}`;
}
// A signed difference for the comparison: percentage points for fractions, else the number.
export function fmtDelta(d, kind) {
  if (!isNum(d)) return '';
  const sign = d > 0 ? '+' : d < 0 ? '−' : '±';
  const a = Math.abs(d);
  if (kind === 'pct') return `${sign}${(a * 100).toFixed(2)} pp`;
  if (kind === 'dur') return `${sign}${fmtDur(a)}`;
  if (kind === 'int') return `${sign}${Math.round(a).toLocaleString('en-US')}`;
  return `${sign}${fmtNum(a, 4)}`;
}
export function fmtBytes(b) {
  if (!isNum(b)) return DASH;
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1024 / 1024).toFixed(1)} MiB`;
}
export function parseTime(iso) {
  if (typeof iso !== 'string') return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}
export function fmtClock(iso) {
  const d = parseTime(iso);
  return d ? d.toLocaleTimeString() : '';
}
export function runSeconds(run) {
  const a = parseTime(run.started_at);
  if (!a) return null;
  const b = parseTime(run.finished_at) || new Date();
  return (b - a) / 1000;
}
// The class names of a run's dataset when they are known (Fashion-MNIST's), else null.
export function classNames(run) {
  const ds = run && run.config && run.config.dataset;
  return ds === 'fashion-mnist' ? FASHION_MNIST : null;
}
export function labelName(run, label) {
  if (label == null) return DASH;
  const names = classNames(run);
  if (names && names[label]) return `${label} · ${names[label]}`;
  return String(label);
}
// Whether the run skips a stage (plain SimCLR has no autoencoder or k-means), from its stages.
export function stageSkipped(run, name) {
  const s = run && (run.stages || []).find((x) => x.name === name);
  return !!s && s.status === 'skipped';
}

// A dotted path ("simclr.batch") in a run configuration; undefined when a level is missing.
export function getPath(obj, path) {
  let o = obj;
  for (const p of path.split('.')) {
    if (o == null || typeof o !== 'object') return undefined;
    o = o[p];
  }
  return o;
}
