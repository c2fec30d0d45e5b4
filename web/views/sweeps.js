// View #/sweeps: every sweep, newest first, refreshed every few seconds (status, runs ended of
// all, metric, name, created), and a form to submit one as JSON (a base run configuration, a
// grid of values by dotted field, the metric); a refusal shows the daemon's message and the
// field it names. It changes nothing but by the form.

import { api } from '../lib/api.js';
import { append, clear, h, setText } from '../lib/dom.js';
import { badge, errorBox, focusHeading, progressEl, timeEl, toast } from '../lib/ui.js';

const LIST_REFRESH_MS = 3000;

// What the form starts with: G-SimCLR against SimCLR over five seeds, small enough to try.
const EXAMPLE = {
  name: 'G-SimCLR vs SimCLR, 5 seeds',
  metric: 'linear_top1',
  base: { subset: 5000, subset_random: true, test_subset: 2000, simclr: { epochs: 2 }, dae: { epochs: 2 } },
  grid: { method: ['gsimclr', 'simclr'], seed: [1, 2, 3, 4, 5] },
};

export function sweepsView(ctx, root) {
  const tbody = h('tbody');
  const msg = h('div', { class: 'msg', 'aria-live': 'polite' });
  const table = h('table', { class: 'runs-table', id: 'sweeps-table' },
    h('caption', { class: 'sr-only' }, 'Sweeps, newest first'),
    h('thead', {}, h('tr', {}, ['ID', 'Name', 'Status', 'Progress', 'Runs', 'Metric', 'Created']
      .map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const editor = h('textarea', { id: 'sweep-json', class: 'json', rows: '12', spellcheck: 'false',
    'aria-label': 'Sweep as JSON' });
  editor.value = JSON.stringify(EXAMPLE, null, 2);
  const formMsg = h('div', { id: 'sweep-form-msg', 'aria-live': 'polite' });
  const form = h('form', { id: 'sweep-form', onsubmit: submit },
    h('p', { class: 'muted small-text' }, 'A base run configuration, a grid of values by dotted field ',
      '(the product of the lists; "seed" is the replicate the statistics run over; an array of grids ',
      'is their union) and the result field to compare. The daemon checks every value and point ',
      'before it queues anything.'),
    editor, formMsg,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'submit-sweep' }, 'Submit sweep')));

  append(root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Sweeps')),
    msg, h('div', { class: 'table-scroll' }, table),
    h('section', { class: 'card', 'aria-labelledby': 'new-sweep-h' }, h('h2', { id: 'new-sweep-h' }, 'New sweep'), form));
  focusHeading(root);

  async function submit(ev) {
    ev.preventDefault();
    let text = editor.value;
    try { text = JSON.stringify(JSON.parse(text)); } catch (e) {
      clear(formMsg, h('p', { class: 'error-box', role: 'alert' }, `Not valid JSON: ${e.message}`));
      return;
    }
    try {
      const s = await api.submitSweep(text);
      toast(`Sweep ${s.id} submitted: ${s.runs} runs`);
      location.hash = `#/sweeps/${s.id}`;
    } catch (e) {
      clear(formMsg, h('p', { class: 'error-box', role: 'alert', id: 'sweep-error' },
        e.field ? h('strong', {}, `${e.field}: `) : null, e.message));
    }
  }

  let inflight = false;
  async function refresh() {
    if (inflight || !ctx.alive) return;
    inflight = true;
    try {
      const page = await api.sweeps({ limit: 100 });
      if (!ctx.alive) return;
      clear(msg);
      const list = page.sweeps || [];
      clear(tbody, list.length ? list.map((s) => {
        const c = s.counts || {};
        const ended = (c.succeeded || 0) + (c.failed || 0) + (c.canceled || 0);
        return h('tr', { dataset: { sweepId: String(s.id) } },
          h('td', { class: 'num' }, String(s.id)),
          h('td', {}, h('a', { href: `#/sweeps/${s.id}` }, s.name || `sweep ${s.id}`)),
          h('td', {}, badge(s.status)),
          h('td', {}, progressEl(s.progress, `Sweep ${s.id} progress`)),
          h('td', { class: 'num' }, `${ended}/${s.runs}`),
          h('td', {}, s.metric),
          h('td', {}, timeEl(s.created_at)));
      }) : h('tr', { class: 'empty-row' }, h('td', { colspan: '7' }, 'No sweeps yet. Submit one below.')));
    } catch (e) {
      if (ctx.alive) clear(msg, errorBox(e, 'Could not load the sweeps'));
    } finally {
      inflight = false;
    }
  }
  refresh();
  ctx.every(LIST_REFRESH_MS, refresh);
}
