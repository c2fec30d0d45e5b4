// The client of gsimclrd's JSON API (docs/API.md) on the same origin: request() with the bearer
// token, the token dialog (auth), one function per route the page uses, and paging through a
// run's metrics. Answers are returned as data; it builds no part of a view. Errors are thrown
// as ApiError with the daemon's code, message and the field it names.

import { setText } from './dom.js';

const TOKEN_KEY = 'gsimclr.token';

// The run statuses after which nothing changes any more.
export const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

export const auth = {
  readsNeedToken: false,
  declined: false, // the user cancelled the dialog: background reads stop asking
  asking: null,
  // Called (on a timer) once a token is entered; app.js points it at the header's health.
  // A hook rather than an import, so this module depends on nothing above it.
  onToken: () => {},
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
        if (ok) setTimeout(() => this.onToken(), 0);
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

export async function request(method, path, { body, signal, raw } = {}) {
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

export const api = {
  runs: (q) => request('GET', '/v1/runs' + queryString(q)),
  run: (id) => request('GET', `/v1/runs/${id}`),
  submit: (cfgText) => request('POST', '/v1/runs', { body: cfgText }),
  cancel: (id) => request('POST', `/v1/runs/${id}/cancel`),
  remove: (id) => request('DELETE', `/v1/runs/${id}`),
  annotate: (id, body) => request('PATCH', `/v1/runs/${id}`, { body }),
  datasets: () => request('GET', '/v1/datasets'),
  dataset: (name) => request('GET', `/v1/datasets/${encodeURIComponent(name)}`),
  metrics: (id, q) => request('GET', `/v1/runs/${id}/metrics` + queryString(q)),
  clusters: (id) => request('GET', `/v1/runs/${id}/clusters`),
  checkpoints: (id) => request('GET', `/v1/runs/${id}/checkpoints`),
  defaults: () => request('GET', '/v1/defaults'),
  sweeps: (q) => request('GET', '/v1/sweeps' + queryString(q)),
  sweep: (id) => request('GET', `/v1/sweeps/${id}`),
  submitSweep: (text) => request('POST', '/v1/sweeps', { body: text }),
  cancelSweep: (id) => request('POST', `/v1/sweeps/${id}/cancel`),
  removeSweep: (id) => request('DELETE', `/v1/sweeps/${id}`),
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
export async function allMetrics(id, q = {}) {
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
