// gsimclr web page, the entry module: the route table (hash routes to views) and start-up (the
// header's daemon health, read every 3 s and whenever a view sees a run start or end). Plain ES modules loaded as they are, no build step, no framework: the
// daemon serves web/ by path. Talks to gsimclrd's JSON API (docs/API.md) on the same origin.
// Every server string is put into the page as text (DOM nodes, textContent), never as HTML.
// It renders no view itself beyond "Not found".
//
// Views (hash routes): #/runs  #/runs/{id}  #/submit  #/compare?ids=1,2  #/datasets
// #/datasets/{name}  #/sweeps  #/sweeps/{id}, one module each under
// views/ (the run page with its parts run-charts.js, run-clusters.js, run-live.js). The shared
// parts under lib/ (api, dom, format, ui, chart) import nothing from views/ or from this file;
// the file map is in web/README.md.
//
// Tokens: a 401 asks for the bearer token once (kept in sessionStorage for this tab) and
// sends it as "Authorization: Bearer ...". EventSource cannot send headers, so when reads need
// the token (a daemon listening beyond loopback) the run page polls GET /v1/runs/{id} and
// /metrics every 2 s instead of the event stream (log lines then are not shown).

import { api, auth } from './lib/api.js';
import { append, clear, h } from './lib/dom.js';
import { fmtDur } from './lib/format.js';
import { setHealthHook, setRerender, toast } from './lib/ui.js';
import { compareView } from './views/compare.js';
import { datasetView, datasetsView } from './views/datasets.js';
import { runView } from './views/run.js';
import { runsView } from './views/runs.js';
import { submitView } from './views/submit.js';
import { sweepView } from './views/sweep.js';
import { sweepsView } from './views/sweeps.js';

// ---------------------------------------------------------------------------------------------
// Router. Each view gets a ctx (alive flag, timers and cleanups ended on leaving the view).

// [path pattern, the nav link marked current, view(ctx, root, query, match)]
const ROUTES = [
  [/^(\/runs|\/)?$/, 'runs', (ctx, root, query) => runsView(ctx, root, query)],
  [/^\/runs\/(\d+)$/, 'runs', (ctx, root, query, m) => runView(ctx, root, Number(m[1]))],
  [/^\/submit$/, 'submit', (ctx, root, query) => submitView(ctx, root, query)],
  [/^\/compare$/, 'compare', (ctx, root, query) => compareView(ctx, root, query)],
  [/^\/datasets$/, 'datasets', (ctx, root) => datasetsView(ctx, root)],
  [/^\/datasets\/([^/]+)$/, 'datasets', (ctx, root, query, m) => datasetView(ctx, root, safeDecode(m[1]))],
  [/^\/sweeps$/, 'sweeps', (ctx, root) => sweepsView(ctx, root)],
  [/^\/sweeps\/(\d+)$/, 'sweeps', (ctx, root, query, m) => sweepView(ctx, root, Number(m[1]))],
];

// A name from the address bar: a malformed %-escape stays as it was typed.
function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

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
  let nav = '', found = false;
  for (const [pattern, navName, view] of ROUTES) {
    const m = pattern.exec(path);
    if (!m) continue;
    nav = navName;
    found = true;
    view(ctx, root, query, m);
    break;
  }
  if (!found) {
    append(root, h('h1', {}, 'Not found'),
      h('p', {}, 'No such page. ', h('a', { href: '#/runs' }, 'Back to the runs.')));
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ---------------------------------------------------------------------------------------------
// Header: daemon health.

const HEALTH_MS = 3000;
let healthInflight = false;

async function refreshHealth() {
  const el = document.getElementById('health');
  if (healthInflight) return;
  healthInflight = true;
  try {
    const hz = await api.health();
    clear(el, h('span', { class: 'dot ok', 'aria-hidden': 'true' }), ` gsimclrd ${hz.version || ''} · `,
      `${hz.busy_workers ?? 0}/${hz.workers ?? 0} workers busy · ${hz.queued ?? 0} queued`);
    el.title = `uptime ${fmtDur(hz.uptime_s)}, ${hz.threads_per_run ?? '?'} threads per run`;
  } catch (e) {
    clear(el, h('span', { class: 'dot bad', 'aria-hidden': 'true' }),
      e.status === 401 ? ' token needed' : e.status ? ` daemon: ${e.message}` : ' daemon unreachable');
  } finally {
    healthInflight = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Start.

function start() {
  // The shared parts call back up through these hooks instead of importing this module.
  auth.onToken = refreshHealth;
  setRerender(route);
  setHealthHook(refreshHealth);
  if (typeof window.uPlot !== 'function')
    toast('The chart library did not load (run `npm ci` in web/); charts are off.', 'error');
  window.addEventListener('hashchange', route);
  if (!location.hash) history.replaceState(null, '', '#/runs');
  route();
  refreshHealth();
  // Views also ask for it when they see a run start or end (healthSoon), so this is a backstop.
  setInterval(() => { if (!document.hidden) refreshHealth(); }, HEALTH_MS);
}

start();
