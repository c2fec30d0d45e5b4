// View #/runs: every run, newest first, refreshed every few seconds: a search (name, method,
// status, tags, note: the daemon's ?q=), a status filter, paging, columns that sort the runs
// shown, each run's tags, note and duration, ticking runs to compare, and Clone, Cancel and
// Delete. Keeps the filter, sort and ticked runs across visits (listState); other views only
// ask it to forget a deleted run (forgetRun). It changes a run only when the user presses
// Cancel or Delete.

import { TERMINAL, api } from '../lib/api.js';
import { append, clear, h, setText } from '../lib/dom.js';
import { DASH, fmtDur, fmtPct, isNum, parseTime, runSeconds } from '../lib/format.js';
import { badge, errorBox, focusHeading, healthSoon, progressEl, tagList, timeEl, toast } from '../lib/ui.js';

const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
const PAGE_SIZES = [50, 200, 500];
const LIST_REFRESH_MS = 3000;
const SEARCH_DELAY_MS = 300;

const listState = {
  status: '', search: '', offset: 0, limit: 50, selected: new Set(),
  sort: { key: 'id', dir: -1 },
};

// A run deleted elsewhere (its own page) is no longer ticked for comparison.
export function forgetRun(id) {
  listState.selected.delete(id);
}

// The sortable columns: [key, header, value of a run to sort by (null sorts last)].
const STATUS_ORDER = new Map(RUN_STATUSES.map((s, i) => [s, i]));
const COLUMNS = [
  ['id', 'ID', (r) => r.id],
  ['name', 'Name', (r) => (r.name || '').toLowerCase() || null],
  ['method', 'Method', (r) => r.method || null],
  ['status', 'Status', (r) => STATUS_ORDER.get(r.status) ?? null],
  ['progress', 'Progress', (r) => (isNum(r.progress) ? r.progress : null)],
  ['stage', 'Stage', (r) => r.stage || null],
  ['duration', 'Duration', (r) => runSeconds(r)],
  ['linear', 'Linear top-1', (r) => (r.result && isNum(r.result.linear_top1) ? r.result.linear_top1 : null)],
  ['knn', 'kNN top-1', (r) => (r.result && isNum(r.result.knn_top1) ? r.result.knn_top1 : null)],
  ['created', 'Created', (r) => { const d = parseTime(r.created_at); return d ? d.getTime() : null; }],
];

function sortRuns(runs) {
  const { key, dir } = listState.sort;
  const col = COLUMNS.find((c) => c[0] === key) || COLUMNS[0];
  return runs.slice().sort((a, b) => {
    const va = col[2](a), vb = col[2](b);
    if (va == null && vb == null) return b.id - a.id;
    if (va == null) return 1;   // unknown values last, whichever the direction
    if (vb == null) return -1;
    return (va < vb ? -1 : va > vb ? 1 : b.id - a.id) * (va === vb ? 1 : dir);
  });
}

export function runsView(ctx, root, query) {
  if (query.has('status')) listState.status = query.get('status');
  if (query.has('q')) listState.search = query.get('q');
  const statusSel = h('select', { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'all'),
    RUN_STATUSES.map((s) => h('option', { value: s }, s)));
  statusSel.value = listState.status;
  const searchIn = h('input', { id: 'filter-search', name: 'q', type: 'search', value: listState.search,
    placeholder: 'name, method, status, tag, note', maxlength: '200', autocomplete: 'off' });
  const sizeSel = h('select', { id: 'page-size', name: 'limit' }, PAGE_SIZES.map((n) => h('option', { value: String(n) }, String(n))));
  sizeSel.value = String(listState.limit);
  const compareBtn = h('button', { type: 'button', class: 'primary', id: 'compare-selected' }, 'Compare selected');
  const selInfo = h('span', { class: 'muted', id: 'selected-info' });
  const updated = h('span', { class: 'muted updated', 'aria-live': 'off' });
  const msg = h('div', { class: 'msg', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const pager = h('div', { class: 'pager' });
  const ths = COLUMNS.map(([key, text]) => h('th', { scope: 'col', dataset: { key } },
    h('button', { type: 'button', class: 'sort', onclick: () => {
      const s = listState.sort;
      // numbers and times start from the largest, text from A
      s.dir = s.key === key ? -s.dir : (['name', 'method', 'stage', 'status'].includes(key) ? 1 : -1);
      s.key = key;
      markSort();
      draw();
    } }, text)));
  const table = h('table', { class: 'runs-table', id: 'runs-table' },
    h('caption', { class: 'sr-only' }, 'Runs; the column buttons sort the runs shown'),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Select')),
      ths,
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    tbody);

  append(root,
    h('div', { class: 'page-head' },
      h('h1', {}, 'Runs'),
      h('a', { class: 'button primary', href: '#/submit' }, 'New run')),
    h('div', { class: 'toolbar' },
      h('label', { for: 'filter-search' }, 'Search '), searchIn,
      h('label', { for: 'filter-status' }, 'Status '), statusSel,
      h('label', { for: 'page-size' }, 'Per page '), sizeSel),
    h('div', { class: 'toolbar' }, compareBtn, selInfo, updated),
    msg,
    h('div', { class: 'table-scroll' }, table),
    pager);

  const rows = new Map(); // run id -> {tr, cells, run}
  let shown = [];         // the runs of the current page, as the daemon sent them

  function markSort() {
    for (const th of ths) {
      if (th.dataset.key === listState.sort.key) th.setAttribute('aria-sort', listState.sort.dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
  }

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
  sizeSel.addEventListener('change', () => {
    listState.limit = Number(sizeSel.value);
    listState.offset = 0;
    refresh();
  });
  let searchTimer = null;
  searchIn.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      listState.search = searchIn.value.trim();
      listState.offset = 0;
      refresh();
    }, SEARCH_DELAY_MS);
  });
  ctx.onCleanup(() => clearTimeout(searchTimer));

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
    const extra = h('div', { class: 'run-extra' });
    const cloneLink = h('a', { class: 'button small', href: `#/submit?clone=${run.id}` }, 'Clone');
    const cancelBtn = h('button', { type: 'button', class: 'small', onclick: () => act('cancel', cur.run) }, 'Cancel');
    const deleteBtn = h('button', { type: 'button', class: 'small danger', onclick: () => act('delete', cur.run) }, 'Delete');
    const cells = {
      id: h('td', { class: 'num' }), name: h('td', { class: 'name-cell' }, nameLink, extra), method: h('td'),
      status: h('td'), progress: h('td'), stage: h('td'), duration: h('td', { class: 'num' }),
      linear: h('td', { class: 'num' }), knn: h('td', { class: 'num' }),
      created: h('td'), actions: h('td', { class: 'row-actions' }, cloneLink, cancelBtn, deleteBtn),
    };
    const tr = h('tr', { dataset: { runId: String(run.id) } }, h('td', {}, check), Object.values(cells));
    const cur = { tr, cells, nameLink, extra, check, cloneLink, cancelBtn, deleteBtn, run, sig: '' };
    return cur;
  }

  function fillRow(cur, run) {
    const prev = cur.run;
    cur.run = run;
    if (prev && prev.status !== run.status) healthSoon();
    const sig = JSON.stringify(run);
    if (sig === cur.sig) {
      if (run.status === 'running') setText(cur.cells.duration, fmtDur(runSeconds(run)));
      return;
    }
    cur.sig = sig;
    const c = cur.cells;
    setText(c.id, String(run.id));
    setText(cur.nameLink, run.name || `run ${run.id}`);
    cur.nameLink.setAttribute('aria-label', `Run ${run.id}: ${run.name || 'unnamed'}`);
    clear(cur.extra, (run.tags || []).length ? tagList(run.tags) : null,
      run.note ? h('span', { class: 'note-preview', title: run.note }, run.note) : null);
    setText(c.method, run.method || DASH);
    clear(c.status, badge(run.status), run.cancel_requested && !TERMINAL.has(run.status)
      ? h('span', { class: 'muted small-text' }, ' cancelling') : null);
    clear(c.progress, progressEl(run.progress, `Run ${run.id} progress`));
    setText(c.stage, run.stage || (run.status === 'succeeded' ? 'done' : DASH));
    setText(c.duration, fmtDur(runSeconds(run)));
    setText(c.linear, fmtPct(run.result && run.result.linear_top1));
    setText(c.knn, fmtPct(run.result && run.result.knn_top1));
    clear(c.created, timeEl(run.created_at));
    cur.cancelBtn.hidden = TERMINAL.has(run.status) || run.cancel_requested;
    cur.deleteBtn.hidden = !TERMINAL.has(run.status);
    cur.cloneLink.setAttribute('aria-label', `Clone run ${run.id} into a new run`);
    cur.cancelBtn.setAttribute('aria-label', `Cancel run ${run.id}`);
    cur.deleteBtn.setAttribute('aria-label', `Delete run ${run.id}`);
  }

  // Puts the rows in the sort order; moves them only when needed, so focus stays where it is.
  function draw() {
    const order = sortRuns(shown).map((r) => rows.get(r.id).tr);
    const now = [...tbody.children];
    if (order.length !== now.length || order.some((tr, i) => tr !== now[i])) {
      const emptyRow = tbody.querySelector('.empty-row');
      if (emptyRow) emptyRow.remove();
      for (const tr of order) tbody.append(tr);
    }
    if (!shown.length) {
      const st = listState.status ? `${listState.status} ` : '';
      const text = listState.search ? `No ${st}runs match “${listState.search}”. `
        : st ? `No ${st}runs. ` : 'No runs yet. ';
      clear(tbody, h('tr', { class: 'empty-row' }, h('td', { colspan: String(COLUMNS.length + 2) },
        text, h('a', { href: '#/submit' }, 'Submit one.'))));
    }
  }

  let inflight = false;
  async function refresh() {
    if (inflight || !ctx.alive) return;
    inflight = true;
    try {
      const page = await api.runs({ status: listState.status, q: listState.search, limit: listState.limit, offset: listState.offset });
      if (!ctx.alive) return;
      clear(msg);
      shown = page.runs || [];
      const seen = new Set();
      for (const run of shown) {
        seen.add(run.id);
        let cur = rows.get(run.id);
        if (!cur) { cur = makeRow(run); rows.set(run.id, cur); }
        fillRow(cur, run);
      }
      for (const [id, cur] of rows) if (!seen.has(id)) { cur.tr.remove(); rows.delete(id); }
      draw();
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
    else clear(pager, prev, h('span', { class: 'muted' }, ` ${from}–${to} of ${total} (sorting orders this page) `), next);
  }

  markSort();
  updateSelection();
  refresh();
  ctx.every(LIST_REFRESH_MS, refresh);
  focusHeading(root);
}
