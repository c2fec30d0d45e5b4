// View #/runs: every run, newest first, refreshed every few seconds; a status filter, paging,
// ticking runs to compare, Cancel and Delete. Keeps the filter and the ticked runs across
// visits (listState); other views only ask it to forget a deleted run (forgetRun). It changes
// a run only when the user presses Cancel or Delete.

import { TERMINAL, api } from '../lib/api.js';
import { append, clear, h, setText } from '../lib/dom.js';
import { DASH, fmtPct } from '../lib/format.js';
import { badge, errorBox, focusHeading, progressEl, timeEl, toast } from '../lib/ui.js';

const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
const LIST_REFRESH_MS = 3000;

const listState = { status: '', offset: 0, limit: 50, selected: new Set() };

// A run deleted elsewhere (its own page) is no longer ticked for comparison.
export function forgetRun(id) {
  listState.selected.delete(id);
}

export function runsView(ctx, root, query) {
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
