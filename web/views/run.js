// View #/runs/{id}: one run's page. This module lays out the page and renders the header,
// actions, tags and note (edited here: PATCH /v1/runs/{id}), stage timeline, results, log and
// checkpoints from the run as last seen; the curves (run-charts.js), the clusters card
// (run-clusters.js) and the live connection (run-live.js) are its parts. Every server string
// (name, tags, note, error, log line) goes in as text.

import { TERMINAL, allMetrics, api } from '../lib/api.js';
import { append, clear, h, setText } from '../lib/dom.js';
import { DASH, fmtBytes, fmtClock, fmtDur, fmtInt, fmtNum, fmtPct, fmtRate, isNum, runSeconds } from '../lib/format.js';
import { badge, downloadLink, errorBox, focusHeading, healthSoon, progressEl, tagList, timeEl, toast } from '../lib/ui.js';
import { runCharts } from './run-charts.js';
import { runClusters } from './run-clusters.js';
import { runLive } from './run-live.js';
import { forgetRun } from './runs.js';

const STAGES = ['dae', 'kmeans', 'simclr', 'eval'];
const SKIP_REASON = {
  simclr: 'skipped: not used by plain SimCLR',
  supervised: 'skipped: method supervised has no pretraining',
};
const LOG_MAX = 2000;
// What a running stage does after its last counted step, until the next stage reports (the
// pipeline counts training steps only): shown instead of an ETA of 0.
const FINISHING = {
  dae: 'embedding the training images for k-means',
  kmeans: 'storing the pseudo-labels',
  simclr: 'writing the last checkpoint',
  eval: 'finishing the evaluation',
};

export function runView(ctx, root, id) {
  const state = {
    run: null, logCount: 0, progressEvents: 0, checkpointsKey: '', mode: 'connecting',
    seenAt: 0, // when the run's stage seconds were last read (Date.now()): the running one counts on
  };
  root.dataset.runId = String(id);

  // --- skeleton
  const title = h('h1', {}, `Run ${id}`);
  const statusSlot = h('span', { class: 'status-slot', id: 'run-status' });
  const actions = h('div', { class: 'actions run-actions' });
  const meta = h('dl', { class: 'meta' });
  const notes = h('section', { class: 'notes', id: 'run-notes', 'aria-label': 'Tags and note' });
  const errorSlot = h('div');
  const overall = h('div', { class: 'overall' });
  const liveNote = h('p', { class: 'muted live-note', id: 'live-note', 'aria-live': 'polite' });
  const queueNote = h('p', { class: 'muted live-note', id: 'queue-note' });
  const timeline = h('ol', { class: 'timeline', id: 'timeline', 'aria-label': 'Stages' });
  const results = h('section', { class: 'card', id: 'results', 'aria-labelledby': 'results-h' });
  results.hidden = true;
  const charts = h('div', { class: 'charts', id: 'charts' });
  const clusters = runClusters(ctx, id, () => state.run, stageOf);
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
    notes,
    overall, liveNote, queueNote,
    h('section', { class: 'card', 'aria-labelledby': 'stages-h' }, h('h2', { id: 'stages-h' }, 'Stages'), timeline),
    results,
    h('section', { class: 'card', 'aria-labelledby': 'charts-h' }, h('h2', { id: 'charts-h' }, 'Training curves'), charts),
    clusters.el,
    h('section', { class: 'card', 'aria-labelledby': 'log-h' }, h('h2', { id: 'log-h' }, 'Log'), logEmpty, logBox),
    ckpts,
    h('section', { class: 'card', 'aria-labelledby': 'config-h' },
      h('details', {}, h('summary', { id: 'config-h' }, 'Configuration'), configPre)));
  logBox.hidden = true;

  // --- charts
  const curves = runCharts(ctx, () => state.run);
  charts.before(curves.controls);
  append(charts, curves.els);

  function stageOf(name) {
    return state.run && (state.run.stages || []).find((s) => s.name === name);
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
    if (run.processes > 1) {
      // a data-parallel run: its processes, and their hosts once launched (host x count)
      const counts = new Map();
      for (const host of run.hosts || []) counts.set(host, (counts.get(host) || 0) + 1);
      const where = [...counts].map(([host, n]) => (n > 1 ? `${host} \u00d7 ${n}` : host)).join(', ');
      rows.push(['Processes', h('span', { id: 'run-processes' }, where ? `${run.processes} on ${where}` : `${run.processes}`)]);
    }
    if (run.sweep) rows.push(['Sweep', h('a', { href: `#/sweeps/${run.sweep}`, id: 'run-sweep' }, `Sweep ${run.sweep}`)]);
    for (const sh of (run.shared_stages || []).filter((x) => x.reused))
      rows.push(['Reused', [`${sh.stage === 'kmeans' ? 'autoencoder and k-means' : 'autoencoder'} of `,
        h('a', { href: `#/runs/${sh.computed_by}` }, `run ${sh.computed_by}`), ` (${fmtDur(sh.seconds)} saved)`]]);
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
    if (run.method === 'gsimclr' && kmeans && kmeans.status === 'succeeded')
      btns.push(downloadLink(`/v1/runs/${run.id}/pseudo-labels`, 'Pseudo-labels (CSV)',
        `run${run.id}-pseudo-labels.csv`, { class: 'button', id: 'download-labels' }));
    btns.push(h('a', { class: 'button', id: 'clone-run', href: `#/submit?clone=${run.id}`,
      title: 'A new run starting from this one\'s configuration' }, 'Clone and edit'));
    const sig = btns.map((b) => b.id || b.textContent).join('|');
    if (actions.dataset.sig !== sig) { actions.dataset.sig = sig; clear(actions, btns); }
  }

  // --- tags and note (PATCH /v1/runs/{id}); the form stays open while the run updates
  let editing = false;
  function renderNotes(run) {
    if (editing) return;
    const tags = run.tags || [];
    const sig = JSON.stringify([tags, run.note || '']);
    if (notes.dataset.sig === sig) return;
    notes.dataset.sig = sig;
    clear(notes,
      h('div', { class: 'notes-row' },
        tags.length ? tagList(tags) : h('span', { class: 'muted small-text' }, 'No tags.'),
        h('button', { type: 'button', class: 'small', id: 'edit-notes', onclick: () => editNotes(run) },
          tags.length || run.note ? 'Edit tags and note' : 'Add tags or a note')),
      run.note ? h('p', { class: 'note-text', id: 'run-note' }, run.note) : null);
  }
  function editNotes(run) {
    editing = true;
    const tagsIn = h('input', { id: 'notes-tags', name: 'tags', type: 'text', value: (run.tags || []).join(', '),
      placeholder: 'e.g. baseline, crop 0.5', autocomplete: 'off', 'aria-describedby': 'notes-help' });
    const noteIn = h('textarea', { id: 'notes-note', name: 'note', rows: '3', maxlength: '4000' });
    noteIn.value = run.note || '';
    const msg = h('p', { class: 'field-msg', id: 'notes-help' }, 'Tags: up to 16, separated by commas, each up to 32 characters.');
    const close = () => { editing = false; delete notes.dataset.sig; renderNotes(state.run); };
    const form = h('form', { class: 'notes-form', id: 'notes-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const tags = tagsIn.value.split(',').map((t) => t.trim()).filter(Boolean);
      try {
        const updated = await api.annotate(id, { tags: [...new Set(tags)], note: noteIn.value });
        editing = false;
        update(updated);
        toast(`Run ${id}: tags and note saved`);
      } catch (e) {
        setText(msg, e.message);
        msg.classList.add('bad');
        (e.field === 'note' ? noteIn : tagsIn).setAttribute('aria-invalid', 'true');
      }
    } },
    h('div', { class: 'field' }, h('label', { for: 'notes-tags' }, 'Tags'), tagsIn, msg),
    h('div', { class: 'field' }, h('label', { for: 'notes-note' }, 'Note'), noteIn),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'save-notes' }, 'Save'),
      h('button', { type: 'button', onclick: close }, 'Cancel')));
    clear(notes, form);
    tagsIn.focus();
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
      forgetRun(id);
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
      const running = s.status === 'running';
      const stepsDone = running && isNum(s.steps) && s.steps > 0 && s.step >= s.steps;
      el.li.dataset.finishing = stepsDone ? 'true' : 'false';
      if (running && isNum(s.steps) && s.steps > 0)
        clear(el.bar, progressEl(s.step / s.steps, `${s.name} progress`));
      else clear(el.bar);
      const items = [];
      el.timeDd = null;
      if (s.status === 'pending' && !(s.epochs > 0)) items.push(['', 'waiting']);
      else if (s.status === 'skipped') items.push(['', SKIP_REASON[run.method] || 'skipped']);
      else {
        if (isNum(s.epochs) && s.epochs > 0) items.push(['epoch', `${s.epoch ?? 0} / ${s.epochs}`]);
        if (isNum(s.steps) && s.steps > 0) items.push(['step', `${fmtInt(s.step)} / ${fmtInt(s.steps)}`]);
        // k-means reports its inertia per point where training stages report their loss
        if (isNum(s.loss)) items.push([s.name === 'kmeans' ? 'inertia / point' : 'loss', fmtNum(s.loss, 4)]);
        if (isNum(s.items_per_s) && s.items_per_s > 0) items.push([s.name === 'kmeans' ? 'points/s' : 'images/s', fmtRate(s.items_per_s).replace('/s', '')]);
        if (stepsDone) items.push(['now', FINISHING[s.name] || 'finishing']);
        else if (running && isNum(s.eta_s)) items.push(['ETA', fmtDur(s.eta_s)]);
        const secs = stageSeconds(s);
        if (isNum(secs) && (secs > 0 || running)) items.push(['time', fmtDur(secs), 'time']);
      }
      clear(el.dl, items.map(([k, v, role]) => {
        const dd = h('dd', { class: role === 'time' ? 'stage-time' : null }, v);
        if (role === 'time' && running) el.timeDd = dd;
        return h('div', {}, k ? h('dt', {}, k) : null, dd);
      }));
    }
    const pct = isNum(run.progress) ? run.progress : (run.status === 'succeeded' ? 1 : 0);
    clear(overall, h('span', { class: 'overall-label' }, 'Overall'), progressEl(pct, 'Overall progress'),
      run.stage ? h('span', { class: 'muted' }, ` in ${run.stage}`) : null);
  }

  // A stage's seconds as last read, counting on while it runs.
  function stageSeconds(s) {
    if (!isNum(s.seconds)) return s.status === 'running' ? 0 : null;
    if (s.status !== 'running' || !state.seenAt) return s.seconds;
    return s.seconds + Math.max(0, (Date.now() - state.seenAt) / 1000);
  }

  function renderResults(run) {
    const r = run.result;
    if (!r) { results.hidden = true; return; }
    results.hidden = false;
    const total = ['dae_seconds', 'kmeans_seconds', 'simclr_seconds', 'eval_seconds']
      .map((k) => r[k]).filter(isNum).reduce((a, b) => a + b, 0);
    const guided = run.method === 'gsimclr';
    const pretrained = run.method !== 'supervised';
    const rows = [
      ['Linear top-1 (backbone)', fmtPct(r.linear_top1), 'headline'],
      ['Linear top-1 (head hidden layer)', fmtPct(r.linear_top1_head)],
      ['kNN top-1', fmtPct(r.knn_top1), 'headline'],
      ['Linear weight decay (chosen on validation)', fmtNum(r.linear_weight_decay)],
      pretrained && ['SimCLR loss (last epoch)', fmtNum(r.simclr_loss)],
      guided && ['Autoencoder loss (last epoch)', fmtNum(r.dae_loss)],
      guided && ['k', fmtInt(r.k)],
      guided && ['Cluster purity', fmtPct(r.purity)],
      guided && ['NMI', fmtNum(r.nmi, 3)],
      guided && ['Batches repeating a cluster per epoch', fmtNum(r.repeat_batches_per_epoch, 1)],
      guided && ['Autoencoder time', fmtDur(r.dae_seconds)],
      guided && ['k-means time', fmtDur(r.kmeans_seconds)],
      pretrained && ['SimCLR time', fmtDur(r.simclr_seconds)],
      ['Evaluation time', fmtDur(r.eval_seconds)],
      ['Stages in all', fmtDur(total)],
    ].filter(Boolean);
    clear(results, h('h2', { id: 'results-h' }, 'Results'),
      h('dl', { class: 'results' }, rows.map(([k, v, cls]) =>
        h('div', { class: cls || null }, h('dt', {}, k), h('dd', { dataset: { metric: k } }, v)))),
      finetuneTable(r.finetune));
  }

  // Fine-tuning on fractions of the labels (eval.finetune): one row per fraction, the run's
  // encoder fine-tuned beside the same recipe from scratch, and what pretraining bought.
  function finetuneTable(rows) {
    if (!Array.isArray(rows) || !rows.length) return null;
    const gain = (f) => (isNum(f.gain) ? `${f.gain >= 0 ? '+' : ''}${(100 * f.gain).toFixed(2)}` : DASH);
    return h('section', { class: 'finetune', 'aria-labelledby': 'finetune-h' },
      h('h3', { id: 'finetune-h' }, 'Fine-tuning on few labels'),
      h('div', { class: 'table-scroll' }, h('table', { id: 'finetune-table', 'aria-labelledby': 'finetune-h' },
        h('thead', {}, h('tr', {}, ['Labels', 'Images (held out)', 'Fine-tuned', 'From scratch', 'Gain (points)', 'Time']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows.map((f) => h('tr', { dataset: { fraction: String(f.fraction) } },
          h('td', {}, `${+(100 * f.fraction).toFixed(3)} %`),
          h('td', { class: 'num' }, `${fmtInt(f.labels)} (${fmtInt(f.val_images)})`),
          h('td', { class: 'num' }, fmtPct(f.finetuned_top1)),
          h('td', { class: 'num' }, fmtPct(f.scratch_top1)),
          h('td', { class: 'num' }, gain(f)),
          h('td', { class: 'num' }, fmtDur(f.seconds))))))));
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
    state.seenAt = Date.now();
    root.dataset.status = run.status;
    // a run starting or ending changes the header's busy workers: ask now, not in 10 s
    if (prev && prev.status !== run.status) healthSoon();
    renderHeader(run);
    renderNotes(run);
    renderTimeline(run);
    renderResults(run);
    curves.runChanged();
    curves.setMethod(run.method);
    clusters.load(run);
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
    curves.runChanged();
  }

  // --- live: EventSource, or polling when reads need the token
  const live = runLive(ctx, id, {
    run: update, progress: onProgress, log: addLog, metric: curves.addMetric,
    catchUp: catchUpMetrics, mode: setMode,
  });

  function setMode(mode, text) {
    state.mode = mode;
    root.dataset.live = mode;
    setText(liveNote, text);
  }

  let catching = false;
  async function catchUpMetrics() {
    if (catching) return;
    catching = true;
    try {
      const r = await allMetrics(id, curves.lastMetricId ? { after: curves.lastMetricId } : {});
      if (ctx.alive) r.metrics.forEach(curves.addMetric);
    } catch (e) {
      if (ctx.alive) console.warn('metrics:', e.message);
    } finally {
      catching = false;
    }
  }

  // The wall time of a running run, and its running stage's time, tick on their own.
  ctx.every(1000, () => {
    const run = state.run;
    const el = document.getElementById('wall-time');
    if (run && run.status === 'running' && el) setText(el, fmtDur(runSeconds(run)));
    for (const [name, st] of stageEls) {
      const s = stageOf(name);
      if (st.timeDd && s && s.status === 'running') setText(st.timeDd, fmtDur(stageSeconds(s)));
    }
  });

  // --- start
  (async () => {
    try {
      const run = await api.run(id);
      if (!ctx.alive) return;
      update(run);
      live.start();
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
