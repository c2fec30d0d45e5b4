// gsimclr web page: one ES module, no build step, no framework. Talks to gsimclrd's JSON API
// (docs/API.md) on the same origin. Every server string is put into the page as text (DOM
// nodes, textContent), never as HTML.
//
// Views (hash routes): #/runs  #/runs/{id}  #/submit  #/compare?ids=1,2
//
// Tokens: a 401 asks for the bearer token once (kept in sessionStorage for this tab) and
// sends it as "Authorization: Bearer ...". EventSource cannot send headers, so when reads need
// the token (a daemon listening beyond loopback) the run page polls GET /v1/runs/{id} and
// /metrics every 2 s instead of the event stream (log lines then are not shown).

'use strict';

const TOKEN_KEY = 'gsimclr.token';
const STAGES = ['dae', 'kmeans', 'simclr', 'eval'];
const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
const LIST_REFRESH_MS = 3000;
const POLL_MS = 2000;
const LOG_MAX = 2000;
const FASHION_MNIST = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
  'Sneaker', 'Bag', 'Ankle boot'];
const PALETTE = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#0b7285', '#e67700',
  '#5c7cfa'];

// ---------------------------------------------------------------------------------------------
// DOM helpers: h() builds elements; strings always become text nodes.

function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') el.style.cssText = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'indeterminate') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

function append(el, ...kids) {
  for (const k of [kids].flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

function clear(el, ...kids) {
  el.replaceChildren();
  return append(el, kids);
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Formatting.

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
const DASH = '—';

function fmtPct(x) { return isNum(x) ? `${(x * 100).toFixed(2)} %` : DASH; }
function fmtNum(x, digits = 4) {
  if (!isNum(x)) return DASH;
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
  return x.toFixed(digits);
}
function fmtTick(v) {
  if (!isNum(v)) return '';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}
function fmtInt(x) { return isNum(x) ? Math.round(x).toLocaleString('en-US') : DASH; }
function fmtRate(x) { return isNum(x) ? `${Math.round(x).toLocaleString('en-US')}/s` : DASH; }
function fmtDur(s) {
  if (!isNum(s)) return DASH;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60), sec = Math.round(s - m * 60);
  if (m < 60) return `${m} min ${sec} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
function fmtBytes(b) {
  if (!isNum(b)) return DASH;
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1024 / 1024).toFixed(1)} MiB`;
}
function parseTime(iso) {
  if (typeof iso !== 'string') return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}
function timeEl(iso) {
  const d = parseTime(iso);
  if (!d) return DASH;
  return h('time', { datetime: iso, title: iso }, d.toLocaleString());
}
function fmtClock(iso) {
  const d = parseTime(iso);
  return d ? d.toLocaleTimeString() : '';
}
function runSeconds(run) {
  const a = parseTime(run.started_at);
  if (!a) return null;
  const b = parseTime(run.finished_at) || new Date();
  return (b - a) / 1000;
}
function labelName(run, label) {
  if (label == null) return DASH;
  const ds = run && run.config && run.config.dataset;
  if (ds === 'fashion-mnist' && FASHION_MNIST[label])
    return `${label} · ${FASHION_MNIST[label]}`;
  return String(label);
}

function badge(status, extra) {
  const s = String(status || 'unknown');
  return h('span', { class: `badge badge-${s.replace(/[^a-z]/g, '')}${extra ? ' ' + extra : ''}` }, s);
}

function progressEl(frac, label) {
  const v = isNum(frac) ? Math.max(0, Math.min(1, frac)) : 0;
  return h('span', { class: 'progress-wrap' },
    h('progress', { max: '1', value: v, 'aria-label': label || 'progress' }),
    h('span', { class: 'progress-text' }, `${Math.round(v * 100)} %`));
}

// ---------------------------------------------------------------------------------------------
// Toasts and the live status region.

function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// ---------------------------------------------------------------------------------------------
// API client.

class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

const auth = {
  readsNeedToken: false,
  declined: false, // the user cancelled the dialog: background reads stop asking
  asking: null,
  get token() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; } },
  set token(v) {
    try { if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY); } catch { /* private mode */ }
  },
  // Asks for the token once; concurrent 401s share the same dialog.
  ask(reason) {
    if (this.asking) return this.asking;
    const dlg = document.getElementById('token-dialog');
    const input = document.getElementById('token-input');
    const reasonEl = document.getElementById('token-reason');
    if (reason) setText(reasonEl, reason);
    input.value = '';
    this.asking = new Promise((resolve) => {
      const done = () => {
        dlg.removeEventListener('close', done);
        const ok = dlg.returnValue === 'ok' && input.value.trim() !== '';
        if (ok) this.token = input.value.trim();
        this.declined = !ok;
        if (ok) setTimeout(refreshHealth, 0);
        input.value = '';
        this.asking = null;
        resolve(ok);
      };
      dlg.addEventListener('close', done);
      dlg.returnValue = '';
      if (typeof dlg.showModal === 'function') dlg.showModal();
      else { const t = window.prompt('gsimclrd access token'); dlg.returnValue = t ? 'ok' : ''; input.value = t || ''; done(); }
      input.focus();
    });
    return this.asking;
  },
};

async function request(method, path, { body, signal, raw } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: raw ? '*/*' : 'application/json' };
    const tok = auth.token;
    if (tok) headers.Authorization = `Bearer ${tok}`;
    const init = { method, headers, signal, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'The daemon did not answer (is gsimclrd running?)');
    }
    if (resp.status === 401 && attempt === 0) {
      if (method === 'GET') auth.readsNeedToken = true;
      const reason = tok
        ? 'The daemon refused the token. Enter the contents of its --token-file.'
        : 'This daemon requires a bearer token (the contents of its --token-file).';
      if (tok) auth.token = '';
      // Background reads (refreshes) do not ask again once the user has cancelled the dialog;
      // an action of the user's (POST, DELETE) or the "Enter token" button does.
      if ((method !== 'GET' || !auth.declined) && await auth.ask(reason)) continue;
    }
    if (resp.status === 401) auth.token = '';
    if (!resp.ok) {
      let code = 'http_' + resp.status, message = `${resp.status} ${resp.statusText}`, field = null;
      try {
        const j = await resp.json();
        if (j && j.error) {
          code = j.error.code || code;
          message = j.error.message || message;
          field = j.error.field || null;
        }
      } catch { /* not JSON */ }
      throw new ApiError(resp.status, code, message, field);
    }
    if (resp.status === 204) return null;
    if (raw) return resp;
    return resp.json();
  }
}

const api = {
  runs: (q) => request('GET', '/v1/runs' + queryString(q)),
  run: (id) => request('GET', `/v1/runs/${id}`),
  submit: (cfgText) => request('POST', '/v1/runs', { body: cfgText }),
  cancel: (id) => request('POST', `/v1/runs/${id}/cancel`),
  remove: (id) => request('DELETE', `/v1/runs/${id}`),
  metrics: (id, q) => request('GET', `/v1/runs/${id}/metrics` + queryString(q)),
  clusters: (id) => request('GET', `/v1/runs/${id}/clusters`),
  checkpoints: (id) => request('GET', `/v1/runs/${id}/checkpoints`),
  defaults: () => request('GET', '/v1/defaults'),
  health: () => request('GET', '/healthz'),
};

function queryString(q) {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v != null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

// All metrics of a run (pages through the limit), optionally after a metric id.
async function allMetrics(id, q = {}) {
  const out = [];
  let after = q.after;
  for (;;) {
    const page = await api.metrics(id, { ...q, after, limit: 10000 });
    const ms = (page && page.metrics) || [];
    out.push(...ms);
    if (ms.length < 10000) return { metrics: out, last_id: page.last_id ?? after };
    after = ms[ms.length - 1].id;
  }
}

// Files (CSV, checkpoints, PNG grids): a plain link when reads need no token, else fetched with
// the Authorization header and handed over as a blob.
function downloadLink(href, text, filename, props = {}) {
  return h('a', {
    href, download: filename || true, ...props,
    onclick: async (ev) => {
      if (!auth.readsNeedToken) return;
      ev.preventDefault();
      try {
        const resp = await request('GET', href, { raw: true });
        const url = URL.createObjectURL(await resp.blob());
        const a = h('a', { href: url, download: filename || '' });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (e) {
        toast(`Download failed: ${e.message}`, 'error');
      }
    },
  }, text);
}

async function setImageSrc(img, href) {
  if (!auth.readsNeedToken) { img.src = href; return; }
  const resp = await request('GET', href, { raw: true });
  const old = img.dataset.blobUrl;
  const url = URL.createObjectURL(await resp.blob());
  img.dataset.blobUrl = url;
  img.src = url;
  if (old) URL.revokeObjectURL(old);
}

// ---------------------------------------------------------------------------------------------
// Charts (uPlot). A Chart keeps named series of (x, y) points and redraws at most once a frame.

class Chart {
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

// ---------------------------------------------------------------------------------------------
// Router. Each view gets a ctx (alive flag, timers and cleanups ended on leaving the view).

const main = () => document.getElementById('main');
let currentCtx = null;

function makeCtx() {
  const cleanups = [];
  const ctx = {
    alive: true,
    onCleanup(fn) { cleanups.push(fn); },
    every(ms, fn) {
      const t = setInterval(() => { if (!document.hidden) fn(); }, ms);
      cleanups.push(() => clearInterval(t));
    },
    end() {
      ctx.alive = false;
      for (const fn of cleanups.splice(0)) { try { fn(); } catch (e) { console.warn(e); } }
    },
  };
  return ctx;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/runs';
  const [path, qs] = raw.split('?');
  return { path, query: new URLSearchParams(qs || '') };
}

function route() {
  if (currentCtx) currentCtx.end();
  const ctx = currentCtx = makeCtx();
  const { path, query } = parseHash();
  const root = main();
  clear(root);
  for (const k of Object.keys(root.dataset)) delete root.dataset[k];
  document.title = 'gsimclr';
  let m, nav = '';
  if (path === '/runs' || path === '/' || path === '') { nav = 'runs'; runsView(ctx, root, query); }
  else if ((m = /^\/runs\/(\d+)$/.exec(path))) { nav = 'runs'; runView(ctx, root, Number(m[1])); }
  else if (path === '/submit') { nav = 'submit'; submitView(ctx, root, query); }
  else if (path === '/compare') { nav = 'compare'; compareView(ctx, root, query); }
  else {
    append(root, h('h1', {}, 'Not found'),
      h('p', {}, 'No such page. ', h('a', { href: '#/runs' }, 'Back to the runs.')));
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function focusHeading(root) {
  const hd = root.querySelector('h1');
  if (hd) { hd.tabIndex = -1; hd.focus({ preventScroll: true }); }
}

function errorBox(e, prefix) {
  return h('p', { class: 'error-box', role: 'alert' }, prefix ? `${prefix}: ` : '', e.message || String(e),
    e.status === 401 ? [' ', h('button', { type: 'button', class: 'small', onclick: async () => {
      if (await auth.ask()) route();
    } }, 'Enter token')] : null);
}

// ---------------------------------------------------------------------------------------------
// View: runs list.

const listState = { status: '', offset: 0, limit: 50, selected: new Set() };

function runsView(ctx, root, query) {
  if (query.has('status')) listState.status = query.get('status');
  const statusSel = h('select', { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'all'),
    RUN_STATUSES.map((s) => h('option', { value: s }, s)));
  statusSel.value = listState.status;
  const compareBtn = h('button', { type: 'button', class: 'primary', id: 'compare-selected' }, 'Compare selected');
  const selInfo = h('span', { class: 'muted', id: 'selected-info' });
  const updated = h('span', { class: 'muted updated', 'aria-live': 'off' });
  const msg = h('div', { class: 'msg', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const pager = h('div', { class: 'pager' });
  const table = h('table', { class: 'runs-table', id: 'runs-table' },
    h('caption', { class: 'sr-only' }, 'Runs, newest first'),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Select')),
      ['ID', 'Name', 'Method', 'Status', 'Progress', 'Stage', 'Linear top-1', 'kNN top-1', 'Created']
        .map((t) => h('th', { scope: 'col' }, t)),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    tbody);

  append(root,
    h('div', { class: 'page-head' },
      h('h1', {}, 'Runs'),
      h('a', { class: 'button primary', href: '#/submit' }, 'New run')),
    h('div', { class: 'toolbar' },
      h('label', { for: 'filter-status' }, 'Status '), statusSel,
      compareBtn, selInfo, updated),
    msg,
    h('div', { class: 'table-scroll' }, table),
    pager);

  const rows = new Map(); // run id -> {tr, cells}

  function updateSelection() {
    const n = listState.selected.size;
    compareBtn.disabled = n < 2;
    setText(selInfo, n ? `${n} selected` : 'Tick two or more runs to compare them');
  }
  compareBtn.addEventListener('click', () => {
    const ids = [...listState.selected].sort((a, b) => a - b);
    location.hash = `#/compare?ids=${ids.join(',')}`;
  });
  statusSel.addEventListener('change', () => {
    listState.status = statusSel.value;
    listState.offset = 0;
    refresh();
  });

  async function act(kind, run) {
    if (kind === 'delete' && !window.confirm(`Delete run ${run.id} and everything it owns?`)) return;
    try {
      if (kind === 'cancel') await api.cancel(run.id);
      else { await api.remove(run.id); listState.selected.delete(run.id); }
      toast(kind === 'cancel' ? `Run ${run.id}: cancel requested` : `Run ${run.id} deleted`);
    } catch (e) {
      toast(`Run ${run.id}: ${e.message}`, 'error');
    }
    refresh();
  }

  function makeRow(run) {
    const check = h('input', {
      type: 'checkbox', 'aria-label': `Select run ${run.id} to compare`,
      checked: listState.selected.has(run.id),
      onchange: () => {
        if (check.checked) listState.selected.add(run.id); else listState.selected.delete(run.id);
        updateSelection();
      },
    });
    const nameLink = h('a', { href: `#/runs/${run.id}` });
    const cancelBtn = h('button', { type: 'button', class: 'small', onclick: () => act('cancel', cur.run) }, 'Cancel');
    const deleteBtn = h('button', { type: 'button', class: 'small danger', onclick: () => act('delete', cur.run) }, 'Delete');
    const cells = {
      id: h('td', { class: 'num' }), name: h('td', {}, nameLink), method: h('td'), status: h('td'),
      progress: h('td'), stage: h('td'), linear: h('td', { class: 'num' }), knn: h('td', { class: 'num' }),
      created: h('td'), actions: h('td', { class: 'row-actions' }, cancelBtn, deleteBtn),
    };
    const tr = h('tr', { dataset: { runId: String(run.id) } }, h('td', {}, check), Object.values(cells));
    const cur = { tr, cells, nameLink, check, cancelBtn, deleteBtn, run, sig: '' };
    return cur;
  }

  function fillRow(cur, run) {
    cur.run = run;
    const sig = JSON.stringify(run);
    if (sig === cur.sig) return;
    cur.sig = sig;
    const c = cur.cells;
    setText(c.id, String(run.id));
    setText(cur.nameLink, run.name || `run ${run.id}`);
    cur.nameLink.setAttribute('aria-label', `Run ${run.id}: ${run.name || 'unnamed'}`);
    setText(c.method, run.method || DASH);
    clear(c.status, badge(run.status), run.cancel_requested && !TERMINAL.has(run.status)
      ? h('span', { class: 'muted small-text' }, ' cancelling') : null);
    clear(c.progress, progressEl(run.progress, `Run ${run.id} progress`));
    setText(c.stage, run.stage || (run.status === 'succeeded' ? 'done' : DASH));
    setText(c.linear, fmtPct(run.result && run.result.linear_top1));
    setText(c.knn, fmtPct(run.result && run.result.knn_top1));
    clear(c.created, timeEl(run.created_at));
    cur.cancelBtn.hidden = TERMINAL.has(run.status) || run.cancel_requested;
    cur.deleteBtn.hidden = !TERMINAL.has(run.status);
    cur.cancelBtn.setAttribute('aria-label', `Cancel run ${run.id}`);
    cur.deleteBtn.setAttribute('aria-label', `Delete run ${run.id}`);
  }

  let inflight = false;
  async function refresh() {
    if (inflight || !ctx.alive) return;
    inflight = true;
    try {
      const page = await api.runs({ status: listState.status, limit: listState.limit, offset: listState.offset });
      if (!ctx.alive) return;
      clear(msg);
      const runs = page.runs || [];
      const seen = new Set();
      const order = [];
      for (const run of runs) {
        seen.add(run.id);
        let cur = rows.get(run.id);
        if (!cur) { cur = makeRow(run); rows.set(run.id, cur); }
        fillRow(cur, run);
        order.push(cur.tr);
      }
      for (const [id, cur] of rows) if (!seen.has(id)) { cur.tr.remove(); rows.delete(id); }
      // Re-order only when needed, so focus stays where it is.
      const now = [...tbody.children];
      if (order.length !== now.length || order.some((tr, i) => tr !== now[i])) {
        const emptyRow = tbody.querySelector('.empty-row');
        if (emptyRow) emptyRow.remove();
        for (const tr of order) tbody.append(tr);
      }
      if (!runs.length) {
        clear(tbody, h('tr', { class: 'empty-row' }, h('td', { colspan: '11' },
          listState.status ? `No ${listState.status} runs. ` : 'No runs yet. ',
          h('a', { href: '#/submit' }, 'Submit one.'))));
      }
      renderPager(page);
      setText(updated, `updated ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      if (ctx.alive) clear(msg, errorBox(e, 'Could not load the runs'));
    } finally {
      inflight = false;
    }
  }

  function renderPager(page) {
    const total = page.total ?? 0;
    const from = total ? listState.offset + 1 : 0;
    const to = Math.min(total, listState.offset + (page.runs || []).length);
    const prev = h('button', { type: 'button', class: 'small', disabled: listState.offset === 0,
      onclick: () => { listState.offset = Math.max(0, listState.offset - listState.limit); refresh(); } }, '‹ Newer');
    const next = h('button', { type: 'button', class: 'small', disabled: to >= total,
      onclick: () => { listState.offset += listState.limit; refresh(); } }, 'Older ›');
    if (total <= listState.limit && listState.offset === 0) clear(pager, h('span', { class: 'muted' }, `${total} run${total === 1 ? '' : 's'}`));
    else clear(pager, prev, h('span', { class: 'muted' }, ` ${from}–${to} of ${total} `), next);
  }

  updateSelection();
  refresh();
  ctx.every(LIST_REFRESH_MS, refresh);
  focusHeading(root);
}

// ---------------------------------------------------------------------------------------------
// View: submit.

// Common fields shown above the JSON editor: [path, label, kind, extra]
const COMMON_FIELDS = [
  ['name', 'Name', 'text'],
  ['method', 'Method', 'select', ['gsimclr', 'simclr']],
  ['subset', 'Training images (subset, 0 = all)', 'int', { min: 0 }],
  ['simclr.epochs', 'SimCLR epochs', 'int', { min: 1 }],
  ['simclr.batch', 'SimCLR batch', 'int', { min: 2 }],
  ['kmeans.k', 'k-means k (clusters)', 'int', { min: 2 }],
];

function getPath(obj, path) {
  let o = obj;
  for (const p of path.split('.')) {
    if (o == null || typeof o !== 'object') return undefined;
    o = o[p];
  }
  return o;
}

function setPath(obj, path, value) {
  const parts = path.split('.');
  const stack = [];
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    if (o[p] == null || typeof o[p] !== 'object' || Array.isArray(o[p])) {
      if (value === undefined) return;
      o[p] = {};
    }
    stack.push([o, p]);
    o = o[p];
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete o[last]; else o[last] = value;
  // Drop sections left empty.
  for (let i = stack.length - 1; i >= 0; i--) {
    const [parent, key] = stack[i];
    if (Object.keys(parent[key]).length === 0) delete parent[key]; else break;
  }
}

const fieldId = (path) => `f-${path.replace(/\./g, '-')}`;

function submitView(ctx, root, query) {
  const presetSel = h('select', { id: 'preset', name: 'preset' });
  const jsonArea = h('textarea', {
    id: 'config-json', name: 'config', rows: '18', spellcheck: 'false', autocomplete: 'off',
    'aria-describedby': 'config-help json-status',
  });
  const jsonStatus = h('p', { id: 'json-status', class: 'field-msg', 'aria-live': 'polite' });
  const errBox = h('div', { id: 'submit-error', class: 'error-box', role: 'alert', tabindex: '-1' });
  errBox.hidden = true;
  const submitBtn = h('button', { type: 'submit', class: 'primary', id: 'submit-run' }, 'Submit run');
  const defaultsPre = h('pre', { class: 'json small-text' });
  const inputs = new Map();
  let defaults = null, presets = {};

  const fieldEls = COMMON_FIELDS.map(([path, label, kind, extra]) => {
    let input;
    if (kind === 'select') input = h('select', { id: fieldId(path), name: path }, extra.map((v) => h('option', { value: v }, v)));
    else if (kind === 'int') input = h('input', { id: fieldId(path), name: path, type: 'number', step: '1', inputmode: 'numeric', ...extra });
    else input = h('input', { id: fieldId(path), name: path, type: 'text', maxlength: '200' });
    input.setAttribute('aria-describedby', `${fieldId(path)}-msg`);
    inputs.set(path, input);
    input.addEventListener('input', () => fieldChanged(path, kind));
    input.addEventListener('change', () => fieldChanged(path, kind));
    return h('div', { class: 'field' },
      h('label', { for: fieldId(path) }, label, ' ', h('code', { class: 'path' }, path)),
      input,
      h('span', { id: `${fieldId(path)}-msg`, class: 'field-msg' }));
  });

  const form = h('form', { id: 'submit-form', novalidate: true },
    h('div', { class: 'field preset-field' },
      h('label', { for: 'preset' }, 'Preset'), presetSel,
      h('span', { class: 'field-msg' }, 'Fills the fields and the JSON below (presets are the daemon’s examples).')),
    h('fieldset', { class: 'common' }, h('legend', {}, 'Common settings'), fieldEls),
    h('div', { class: 'field' },
      h('label', { for: 'config-json' }, 'Run configuration (JSON)'),
      h('p', { id: 'config-help', class: 'field-msg' },
        'Every field is optional; what is left out takes the server default. The fields above edit this JSON.'),
      jsonArea, jsonStatus),
    errBox,
    h('div', { class: 'actions' }, submitBtn,
      h('button', { type: 'button', onclick: () => applyPreset(presetSel.value) }, 'Reset to preset')),
    h('details', {}, h('summary', {}, 'Server defaults'), defaultsPre));

  append(root, h('div', { class: 'page-head' }, h('h1', {}, 'New run')), form);
  focusHeading(root);

  function parseJson() {
    const text = jsonArea.value.trim();
    if (!text) return {};
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('the configuration must be a JSON object');
    return v;
  }

  function syncFields(cfg) {
    for (const [path, , kind] of COMMON_FIELDS) {
      const input = inputs.get(path);
      if (document.activeElement === input) continue;
      const v = getPath(cfg, path);
      const dv = defaults ? getPath(defaults, path) : undefined;
      if (kind === 'select') input.value = v ?? dv ?? input.options[0].value;
      else input.value = v == null ? '' : String(v);
      if (kind !== 'select') input.placeholder = dv == null ? '' : `default ${dv === '' ? '(empty)' : dv}`;
    }
  }

  function fieldChanged(path, kind) {
    clearFieldErrors();
    let cfg;
    try { cfg = parseJson(); } catch (e) {
      setText(jsonStatus, `Fix the JSON first: ${e.message}`);
      jsonStatus.classList.add('bad');
      return;
    }
    const input = inputs.get(path);
    let v = input.value;
    if (kind === 'int') {
      if (v.trim() === '') v = undefined;
      else if (/^-?\d+$/.test(v.trim())) v = Number(v.trim());
      else return; // half-typed number: leave the JSON alone
    } else if (kind === 'text' && v === '') v = undefined;
    setPath(cfg, path, v);
    jsonArea.value = JSON.stringify(cfg, null, 2);
    jsonValid();
  }

  function jsonValid() {
    setText(jsonStatus, '');
    jsonStatus.classList.remove('bad');
    jsonArea.removeAttribute('aria-invalid');
  }

  jsonArea.addEventListener('input', () => {
    clearFieldErrors();
    try { syncFields(parseJson()); jsonValid(); } catch (e) {
      setText(jsonStatus, `Not valid JSON yet: ${e.message}`);
      jsonStatus.classList.add('bad');
    }
  });

  function applyPreset(name) {
    const cfg = name && presets[name] ? structuredClone(presets[name]) : {};
    jsonArea.value = JSON.stringify(cfg, null, 2);
    syncFields(cfg);
    jsonValid();
    clearFieldErrors();
  }
  presetSel.addEventListener('change', () => applyPreset(presetSel.value));

  function clearFieldErrors() {
    errBox.hidden = true;
    clear(errBox);
    for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
    for (const el of form.querySelectorAll('.field.invalid')) el.classList.remove('invalid');
    for (const [path] of COMMON_FIELDS) setText(document.getElementById(`${fieldId(path)}-msg`), '');
  }

  function showError(message, field) {
    clear(errBox, h('strong', {}, 'Not submitted: '), message);
    errBox.hidden = false;
    let target = null;
    if (field && inputs.has(field)) {
      target = inputs.get(field);
      target.setAttribute('aria-invalid', 'true');
      target.closest('.field').classList.add('invalid');
      setText(document.getElementById(`${fieldId(field)}-msg`), message);
    }
    if (field) {
      jsonArea.setAttribute('aria-invalid', 'true');
      jsonArea.closest('.field').classList.add('invalid');
      errBox.dataset.field = field;
      if (!target) selectJsonKey(field);
    } else {
      delete errBox.dataset.field;
    }
    (target || errBox).focus();
  }

  // Selects the named key in the JSON text (best effort: the last key of the path after its
  // parents, in order).
  function selectJsonKey(path) {
    const text = jsonArea.value;
    let pos = 0;
    for (const part of path.split('.')) {
      if (/^\d+$/.test(part)) continue;
      const i = text.indexOf(JSON.stringify(part), pos);
      if (i < 0) return;
      pos = i;
    }
    const last = path.split('.').filter((p) => !/^\d+$/.test(p)).pop();
    jsonArea.focus();
    jsonArea.setSelectionRange(pos, pos + JSON.stringify(last).length);
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors();
    let cfg;
    try { cfg = parseJson(); } catch (e) {
      jsonArea.setAttribute('aria-invalid', 'true');
      showError(`the JSON does not parse: ${e.message}`, null);
      jsonArea.focus();
      return;
    }
    submitBtn.disabled = true;
    setText(submitBtn, 'Submitting…');
    try {
      const run = await api.submit(JSON.stringify(cfg));
      toast(`Run ${run.id} submitted`);
      location.hash = `#/runs/${run.id}`;
    } catch (e) {
      if (!ctx.alive) return;
      showError(e.message, e.field);
    } finally {
      submitBtn.disabled = false;
      setText(submitBtn, 'Submit run');
    }
  });

  (async () => {
    try {
      const d = await api.defaults();
      if (!ctx.alive) return;
      defaults = d.defaults || {};
      presets = d.presets || {};
      defaultsPre.textContent = JSON.stringify(defaults, null, 2);
      const names = Object.keys(presets);
      const order = ['quick', 'gsimclr', 'simclr'].filter((n) => names.includes(n))
        .concat(names.filter((n) => !['quick', 'gsimclr', 'simclr'].includes(n)));
      clear(presetSel, order.map((n) => h('option', { value: n }, n)),
        h('option', { value: '' }, '(none: server defaults)'));
      const want = query.get('preset');
      presetSel.value = want != null && (want === '' || names.includes(want)) ? want : (order[0] ?? '');
      applyPreset(presetSel.value);
    } catch (e) {
      if (!ctx.alive) return;
      clear(presetSel, h('option', { value: '' }, '(presets unavailable)'));
      showError(`could not load the defaults: ${e.message}`, null);
      applyPreset('');
    }
  })();
}

// ---------------------------------------------------------------------------------------------
// View: one run.

function runView(ctx, root, id) {
  const state = {
    run: null, metricIds: new Set(), lastMetricId: 0, logCount: 0, progressEvents: 0,
    clustersLoaded: false, clustersLoading: false, checkpointsKey: '', mode: 'connecting',
  };
  root.dataset.runId = String(id);

  // --- skeleton
  const title = h('h1', {}, `Run ${id}`);
  const statusSlot = h('span', { class: 'status-slot', id: 'run-status' });
  const actions = h('div', { class: 'actions run-actions' });
  const meta = h('dl', { class: 'meta' });
  const errorSlot = h('div');
  const overall = h('div', { class: 'overall' });
  const liveNote = h('p', { class: 'muted live-note', id: 'live-note', 'aria-live': 'polite' });
  const queueNote = h('p', { class: 'muted live-note', id: 'queue-note' });
  const timeline = h('ol', { class: 'timeline', id: 'timeline', 'aria-label': 'Stages' });
  const results = h('section', { class: 'card', id: 'results', 'aria-labelledby': 'results-h' });
  results.hidden = true;
  const charts = h('div', { class: 'charts', id: 'charts' });
  const clusters = h('section', { class: 'card', id: 'clusters', 'aria-labelledby': 'clusters-h' });
  clusters.hidden = true;
  const ckpts = h('section', { class: 'card', id: 'checkpoints', 'aria-labelledby': 'ckpt-h' });
  const logList = h('ol', { class: 'log', id: 'log' });
  const logBox = h('div', { class: 'log-box', tabindex: '0', role: 'log', 'aria-label': 'Run log', 'aria-live': 'off' }, logList);
  const logEmpty = h('p', { class: 'muted' }, 'No log lines yet.');
  const configPre = h('pre', { class: 'json small-text' });

  append(root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/runs' }, '‹ All runs')),
    h('div', { class: 'page-head' }, title, statusSlot),
    errorSlot,
    h('div', { class: 'run-head' }, meta, actions),
    overall, liveNote, queueNote,
    h('section', { class: 'card', 'aria-labelledby': 'stages-h' }, h('h2', { id: 'stages-h' }, 'Stages'), timeline),
    results,
    h('section', { class: 'card', 'aria-labelledby': 'charts-h' }, h('h2', { id: 'charts-h' }, 'Training curves'), charts),
    clusters,
    h('section', { class: 'card', 'aria-labelledby': 'log-h' }, h('h2', { id: 'log-h' }, 'Log'), logEmpty, logBox),
    ckpts,
    h('section', { class: 'card', 'aria-labelledby': 'config-h' },
      h('details', {}, h('summary', { id: 'config-h' }, 'Configuration'), configPre)));
  logBox.hidden = true;

  // --- charts
  const chartDefs = {
    dae: new Chart('Denoising autoencoder: reconstruction loss (MSE) per epoch', {
      yLabel: 'loss', intX: true, series: [{ key: 'loss', label: 'dae loss', color: PALETTE[2] }],
      emptyText: 'No autoencoder epoch finished yet.' }),
    simclr: new Chart('SimCLR: NT-Xent loss', {
      yLabel: 'loss',
      series: [
        { key: 'step_loss', label: 'step loss', color: '#9aa9c3', width: 1, pointSize: 3 },
        { key: 'loss', label: 'epoch mean', color: PALETTE[1] },
      ],
      emptyText: 'No SimCLR loss yet.' }),
    lr: new Chart('SimCLR: learning rate', {
      yLabel: 'lr', intX: true, series: [{ key: 'lr', label: 'lr', color: PALETTE[3] }],
      emptyText: 'No learning rate recorded yet.' }),
    knn: new Chart('SimCLR: kNN top-1 during training', {
      yLabel: 'top-1', intX: true, series: [{ key: 'knn_top1', label: 'kNN top-1', color: PALETTE[0] }],
      emptyText: 'Set simclr.knn_every to monitor kNN accuracy during training.' }),
  };
  chartDefs.dae.el.id = 'chart-dae';
  chartDefs.simclr.el.id = 'chart-simclr';
  chartDefs.lr.el.id = 'chart-lr';
  chartDefs.knn.el.id = 'chart-knn';
  chartDefs.knn.el.hidden = true;
  append(charts, Object.values(chartDefs).map((c) => c.el));
  ctx.onCleanup(() => Object.values(chartDefs).forEach((c) => c.destroy()));

  function stageOf(name) {
    return state.run && (state.run.stages || []).find((s) => s.name === name);
  }
  function stepsPerEpoch(stage) {
    const s = stageOf(stage);
    if (s && isNum(s.steps) && isNum(s.epochs) && s.steps > 0 && s.epochs > 0) return s.steps / s.epochs;
    return null;
  }
  const pendingSteps = []; // step metrics that came before the stage's step count was known

  function addMetric(m) {
    if (!m || m.id == null || state.metricIds.has(m.id)) return;
    state.metricIds.add(m.id);
    if (m.id > state.lastMetricId) state.lastMetricId = m.id;
    plotMetric(m);
  }
  function plotMetric(m) {
    const perEpoch = m.step >= 0 ? stepsPerEpoch(m.stage) : null;
    if (m.step >= 0 && perEpoch == null) { pendingSteps.push(m); return; }
    const x = m.step >= 0 ? m.step / perEpoch : m.epoch;
    if (m.stage === 'dae' && m.name === 'loss' && m.step < 0) chartDefs.dae.add('loss', x, m.value);
    else if (m.stage === 'simclr' && m.name === 'loss' && m.step < 0) chartDefs.simclr.add('loss', x, m.value);
    else if (m.stage === 'simclr' && m.name === 'step_loss') chartDefs.simclr.add('step_loss', x, m.value);
    else if (m.stage === 'simclr' && m.name === 'lr') chartDefs.lr.add('lr', x, m.value);
    else if (m.stage === 'simclr' && m.name === 'knn_top1') { chartDefs.knn.el.hidden = false; chartDefs.knn.add('knn_top1', x, m.value); }
  }
  function flushPendingSteps() {
    if (!pendingSteps.length) return;
    const left = pendingSteps.splice(0);
    for (const m of left) plotMetric(m);
  }

  // --- rendering
  function renderHeader(run) {
    setText(title, run.name ? `Run ${run.id}: ${run.name}` : `Run ${run.id}`);
    document.title = `Run ${run.id} · gsimclr`;
    clear(statusSlot, badge(run.status, 'large'),
      run.cancel_requested && !TERMINAL.has(run.status) ? h('span', { class: 'muted' }, ' cancel requested') : null);
    const dur = runSeconds(run);
    const rows = [
      ['Method', run.method || DASH],
      ['Dataset', (run.config && run.config.dataset) || DASH],
      ['Created', timeEl(run.created_at)],
      ['Started', timeEl(run.started_at)],
      ['Finished', timeEl(run.finished_at)],
      ['Wall time', h('span', { id: 'wall-time' }, dur == null ? DASH : fmtDur(dur))],
    ];
    if (run.resumes) rows.push(['Resumed', `${run.resumes} time${run.resumes === 1 ? '' : 's'}`]);
    clear(meta, rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
    if (run.status === 'queued' && state.mode !== 'ended') setText(queueNote, 'Queued: waiting for a free worker.');
    else setText(queueNote, '');
    clear(errorSlot, run.error ? h('p', { class: 'error-box', role: 'alert' }, h('strong', {}, 'Error: '), run.error) : null);
    renderActions(run);
    if (run.config) configPre.textContent = JSON.stringify(run.config, null, 2);
  }

  function renderActions(run) {
    const btns = [];
    if (!TERMINAL.has(run.status) && !run.cancel_requested)
      btns.push(h('button', { type: 'button', id: 'cancel-run', onclick: doCancel }, 'Cancel run'));
    if (TERMINAL.has(run.status))
      btns.push(h('button', { type: 'button', class: 'danger', id: 'delete-run', onclick: doDelete }, 'Delete run'));
    const kmeans = stageOf('kmeans');
    if (run.method !== 'simclr' && kmeans && kmeans.status === 'succeeded')
      btns.push(downloadLink(`/v1/runs/${run.id}/pseudo-labels`, 'Pseudo-labels (CSV)',
        `run${run.id}-pseudo-labels.csv`, { class: 'button', id: 'download-labels' }));
    btns.push(h('a', { class: 'button', href: `#/submit` }, 'New run'));
    const sig = btns.map((b) => b.id || b.textContent).join('|');
    if (actions.dataset.sig !== sig) { actions.dataset.sig = sig; clear(actions, btns); }
  }

  async function doCancel() {
    try {
      update(await api.cancel(id));
      toast(`Run ${id}: cancel requested`);
    } catch (e) { toast(`Cancel failed: ${e.message}`, 'error'); }
  }
  async function doDelete() {
    if (!window.confirm(`Delete run ${id} and everything it owns (metrics, clusters, checkpoints)?`)) return;
    try {
      await api.remove(id);
      listState.selected.delete(id);
      toast(`Run ${id} deleted`);
      location.hash = '#/runs';
    } catch (e) { toast(`Delete failed: ${e.message}`, 'error'); }
  }

  const stageEls = new Map();
  function renderTimeline(run) {
    const stages = run.stages && run.stages.length ? run.stages : STAGES.map((name) => ({ name, status: 'pending' }));
    for (const s of stages) {
      let el = stageEls.get(s.name);
      if (!el) {
        el = {
          li: h('li', { class: 'stage', dataset: { stage: s.name } }),
          head: h('div', { class: 'stage-head' }),
          bar: h('div', { class: 'stage-bar' }),
          dl: h('dl', { class: 'stage-dl' }),
        };
        append(el.li, el.head, el.bar, el.dl);
        stageEls.set(s.name, el);
        timeline.append(el.li);
      }
      el.li.dataset.status = s.status || 'pending';
      el.li.classList.toggle('current', run.stage === s.name && s.status === 'running');
      clear(el.head, h('h3', {}, s.name), badge(s.status || 'pending'));
      if (s.status === 'running' && isNum(s.steps) && s.steps > 0)
        clear(el.bar, progressEl(s.step / s.steps, `${s.name} progress`));
      else clear(el.bar);
      const items = [];
      if (s.status === 'pending' && !(s.epochs > 0)) items.push(['', 'waiting']);
      else if (s.status === 'skipped') items.push(['', run.method === 'simclr' ? 'not used by plain SimCLR' : 'skipped']);
      else {
        if (isNum(s.epochs) && s.epochs > 0) items.push(['epoch', `${s.epoch ?? 0} / ${s.epochs}`]);
        if (isNum(s.steps) && s.steps > 0) items.push(['step', `${fmtInt(s.step)} / ${fmtInt(s.steps)}`]);
        if (isNum(s.loss)) items.push(['loss', fmtNum(s.loss, 4)]);
        if (isNum(s.items_per_s) && s.items_per_s > 0) items.push([s.name === 'kmeans' ? 'points/s' : 'images/s', fmtRate(s.items_per_s).replace('/s', '')]);
        if (s.status === 'running' && isNum(s.eta_s)) items.push(['ETA', fmtDur(s.eta_s)]);
        if (isNum(s.seconds) && s.seconds > 0) items.push(['time', fmtDur(s.seconds)]);
      }
      clear(el.dl, items.map(([k, v]) => h('div', {}, k ? h('dt', {}, k) : null, h('dd', {}, v))));
    }
    const pct = isNum(run.progress) ? run.progress : (run.status === 'succeeded' ? 1 : 0);
    clear(overall, h('span', { class: 'overall-label' }, 'Overall'), progressEl(pct, 'Overall progress'),
      run.stage ? h('span', { class: 'muted' }, ` in ${run.stage}`) : null);
  }

  function renderResults(run) {
    const r = run.result;
    if (!r) { results.hidden = true; return; }
    results.hidden = false;
    const total = ['dae_seconds', 'kmeans_seconds', 'simclr_seconds', 'eval_seconds']
      .map((k) => r[k]).filter(isNum).reduce((a, b) => a + b, 0);
    const guided = run.method !== 'simclr';
    const rows = [
      ['Linear top-1 (backbone)', fmtPct(r.linear_top1), 'headline'],
      ['Linear top-1 (head hidden layer)', fmtPct(r.linear_top1_head)],
      ['kNN top-1', fmtPct(r.knn_top1), 'headline'],
      ['Linear weight decay (chosen on validation)', fmtNum(r.linear_weight_decay)],
      ['SimCLR loss (last epoch)', fmtNum(r.simclr_loss)],
      guided && ['Autoencoder loss (last epoch)', fmtNum(r.dae_loss)],
      guided && ['k', fmtInt(r.k)],
      guided && ['Cluster purity', fmtPct(r.purity)],
      guided && ['NMI', fmtNum(r.nmi, 3)],
      guided && ['Batches repeating a cluster per epoch', fmtNum(r.repeat_batches_per_epoch, 1)],
      guided && ['Autoencoder time', fmtDur(r.dae_seconds)],
      guided && ['k-means time', fmtDur(r.kmeans_seconds)],
      ['SimCLR time', fmtDur(r.simclr_seconds)],
      ['Evaluation time', fmtDur(r.eval_seconds)],
      ['Stages in all', fmtDur(total)],
    ].filter(Boolean);
    clear(results, h('h2', { id: 'results-h' }, 'Results'),
      h('dl', { class: 'results' }, rows.map(([k, v, cls]) =>
        h('div', { class: cls || null }, h('dt', {}, k), h('dd', { dataset: { metric: k } }, v)))));
  }

  // --- clusters
  async function loadClusters(run) {
    if (state.clustersLoaded || state.clustersLoading || run.method === 'simclr') return;
    const km = stageOf('kmeans');
    if (!km || km.status !== 'succeeded') return;
    state.clustersLoading = true;
    try {
      const c = await api.clusters(id);
      if (!ctx.alive) return;
      state.clustersLoaded = true;
      renderClusters(c);
    } catch (e) {
      if (!ctx.alive) return;
      clusters.hidden = false;
      clear(clusters, h('h2', { id: 'clusters-h' }, 'Pseudo-label clusters'), errorBox(e, 'Could not load the clusters'));
    } finally {
      state.clustersLoading = false;
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
        (cl.label != null ? `, ${fmtPct(cl.label_fraction)} of them ${labelName(state.run, cl.label)}` : '') +
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
          h('td', {}, labelName(state.run, cl.label)),
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

  // --- checkpoints
  async function loadCheckpoints(run) {
    const key = `${run.status}|${run.stage}|${(run.stages || []).map((s) => s.status + s.epoch).join(',')}`;
    if (key === state.checkpointsKey) return;
    state.checkpointsKey = key;
    try {
      const c = await api.checkpoints(id);
      if (!ctx.alive) return;
      const list = c.checkpoints || [];
      clear(ckpts, h('h2', { id: 'ckpt-h' }, 'Checkpoints'),
        list.length ? h('div', { class: 'table-scroll' }, h('table', { id: 'checkpoints-table' },
          h('thead', {}, h('tr', {}, ['Stage', 'Epoch', 'Size', 'CRC-32', 'Created', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, list.map((k) => h('tr', {},
            h('td', {}, k.stage), h('td', { class: 'num' }, fmtInt(k.epoch)), h('td', { class: 'num' }, fmtBytes(k.bytes)),
            h('td', {}, h('code', {}, k.crc32 || DASH)), h('td', {}, timeEl(k.created_at)),
            h('td', {}, downloadLink(`/v1/runs/${id}/checkpoints/${k.id}`, 'Download',
              `run${id}-${k.stage}-e${k.epoch}.gsck`, { 'aria-label': `Download the ${k.stage} checkpoint of epoch ${k.epoch}` }))))))) :
          h('p', { class: 'muted' }, TERMINAL.has(run.status) ? 'No checkpoints kept.' : 'None yet: one is written after each epoch.'));
    } catch (e) {
      if (!ctx.alive) return;
      state.checkpointsKey = '';
      clear(ckpts, h('h2', { id: 'ckpt-h' }, 'Checkpoints'), errorBox(e, 'Could not load the checkpoints'));
    }
  }

  // --- log
  function addLog(ev) {
    if (ev.id != null && state.lastLogId != null && ev.id <= state.lastLogId) return;
    if (ev.id != null) state.lastLogId = ev.id;
    const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 8;
    logList.append(h('li', { class: `log-${ev.kind || 'log'}` },
      h('time', { datetime: ev.time || '' }, fmtClock(ev.time)), ' ', ev.message || ''));
    while (logList.childElementCount > LOG_MAX) logList.firstElementChild.remove();
    state.logCount++;
    logBox.hidden = false;
    logEmpty.hidden = true;
    if (atBottom) logBox.scrollTop = logBox.scrollHeight;
  }

  // --- state updates
  function update(run) {
    if (!run || !ctx.alive) return;
    const prev = state.run;
    if (prev && !run.config && prev.config) run = { ...run, config: prev.config };
    state.run = run;
    root.dataset.status = run.status;
    renderHeader(run);
    renderTimeline(run);
    renderResults(run);
    flushPendingSteps();
    chartDefs.dae.el.hidden = run.method === 'simclr';
    loadClusters(run);
    loadCheckpoints(run);
  }

  function onProgress(p) {
    if (!state.run) return;
    state.progressEvents++;
    root.dataset.progressEvents = String(state.progressEvents);
    const run = state.run;
    const stages = (run.stages || []).map((s) => (s.name === p.stage ? {
      ...s, status: s.status === 'pending' ? 'running' : s.status, epoch: p.epoch, epochs: p.epochs,
      step: p.step, steps: p.steps, loss: p.loss, items_per_s: p.items_per_s, eta_s: p.eta_s,
    } : s));
    state.run = { ...run, stages, stage: p.stage, progress: isNum(p.progress) ? p.progress : run.progress };
    renderTimeline(state.run);
    flushPendingSteps();
  }

  // --- live: EventSource, or polling when reads need the token
  let es = null, pollTimer = null, ended = false;
  ctx.onCleanup(() => { if (es) es.close(); if (pollTimer) clearInterval(pollTimer); });

  function setMode(mode, text) {
    state.mode = mode;
    root.dataset.live = mode;
    setText(liveNote, text);
  }

  function parse(ev) {
    try { return JSON.parse(ev.data); } catch { return null; }
  }

  function startStream() {
    if (auth.readsNeedToken) { startPolling(); return; }
    setMode('connecting', 'Connecting to the live stream…');
    es = new EventSource(`/v1/runs/${id}/events`);
    es.addEventListener('open', () => {
      if (!ended) setMode('live', 'Live: updates stream from the daemon.');
    });
    es.addEventListener('run', (ev) => update(parse(ev)));
    es.addEventListener('progress', (ev) => { const p = parse(ev); if (p) onProgress(p); });
    es.addEventListener('log', (ev) => { const l = parse(ev); if (l) addLog(l); });
    es.addEventListener('metric', (ev) => { const m = parse(ev); if (m) addMetric(m); });
    es.addEventListener('end', (ev) => {
      ended = true;
      es.close();
      es = null;
      update(parse(ev));
      catchUpMetrics();
      setMode('ended', 'The run has ended.');
    });
    es.addEventListener('error', () => {
      if (ended || !ctx.alive || !es) return;
      if (es.readyState === EventSource.CLOSED) {
        // Refused (e.g. 401 when reads need a token) or not an event stream: poll instead.
        es.close();
        es = null;
        startPolling();
      } else {
        setMode('reconnecting', 'Connection lost; reconnecting…');
      }
    });
  }

  function startPolling() {
    if (pollTimer) return;
    setMode('polling', auth.readsNeedToken
      ? 'The daemon needs the token for reads, and an event stream cannot send it: polling every 2 s (log lines are shown on the live stream only).'
      : 'The live stream is unavailable: polling every 2 s.');
    const tick = async () => {
      try {
        const run = await api.run(id);
        await catchUpMetrics();
        update(run);
        if (TERMINAL.has(run.status)) {
          clearInterval(pollTimer);
          pollTimer = null;
          ended = true;
          setMode('ended', 'The run has ended.');
        }
      } catch (e) {
        if (ctx.alive) setMode('polling', `Polling: ${e.message}`);
      }
    };
    pollTimer = setInterval(() => { if (!document.hidden) tick(); }, POLL_MS);
  }

  let catching = false;
  async function catchUpMetrics() {
    if (catching) return;
    catching = true;
    try {
      const r = await allMetrics(id, state.lastMetricId ? { after: state.lastMetricId } : {});
      if (ctx.alive) r.metrics.forEach(addMetric);
    } catch (e) {
      if (ctx.alive) console.warn('metrics:', e.message);
    } finally {
      catching = false;
    }
  }

  // The wall time of a running run ticks on its own.
  ctx.every(1000, () => {
    const run = state.run;
    const el = document.getElementById('wall-time');
    if (run && run.status === 'running' && el) setText(el, fmtDur(runSeconds(run)));
  });

  // --- start
  (async () => {
    try {
      const run = await api.run(id);
      if (!ctx.alive) return;
      update(run);
      startStream();
      await catchUpMetrics();
    } catch (e) {
      if (!ctx.alive) return;
      clear(root, h('p', { class: 'crumbs' }, h('a', { href: '#/runs' }, '‹ All runs')),
        h('h1', {}, `Run ${id}`),
        errorBox(e, e.status === 404 ? 'No such run' : 'Could not load the run'));
    }
  })();
  renderTimeline({ stages: [], status: 'queued' });
  focusHeading(root);
}

// ---------------------------------------------------------------------------------------------
// View: compare.

function compareView(ctx, root, query) {
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

// ---------------------------------------------------------------------------------------------
// Header: daemon health.

async function refreshHealth() {
  const el = document.getElementById('health');
  try {
    const hz = await api.health();
    clear(el, h('span', { class: 'dot ok', 'aria-hidden': 'true' }), ` gsimclrd ${hz.version || ''} · `,
      `${hz.busy_workers ?? 0}/${hz.workers ?? 0} workers busy · ${hz.queued ?? 0} queued`);
    el.title = `uptime ${fmtDur(hz.uptime_s)}, ${hz.threads_per_run ?? '?'} threads per run`;
  } catch (e) {
    clear(el, h('span', { class: 'dot bad', 'aria-hidden': 'true' }),
      e.status === 401 ? ' token needed' : e.status ? ` daemon: ${e.message}` : ' daemon unreachable');
  }
}

// ---------------------------------------------------------------------------------------------
// Start.

function start() {
  if (typeof window.uPlot !== 'function')
    toast('The chart library did not load (run `npm ci` in web/); charts are off.', 'error');
  window.addEventListener('hashchange', route);
  if (!location.hash) history.replaceState(null, '', '#/runs');
  route();
  refreshHealth();
  setInterval(() => { if (!document.hidden) refreshHealth(); }, 10000);
}

start();
