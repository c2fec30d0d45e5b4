// View #/submit: a run configuration from a preset (GET /v1/defaults) or cloned from a run
// (#/submit?clone=ID), seven common fields that edit the JSON and follow it (the dataset picked
// from those GET /v1/datasets lists, or typed; #/submit?dataset=NAME sets it), the run's duration
// estimated before it is queued (lib/estimate.js: the work of each stage over the speeds this
// daemon reached), POST /v1/runs; a refusal shows the daemon's message and marks the field it
// names, a success opens the run page. Never changes the configuration beyond what the user
// typed or picked.

import { TERMINAL, api } from '../lib/api.js';
import { append, clear, h, setText } from '../lib/dom.js';
import { REFERENCE, estimateRun, stageSpeeds } from '../lib/estimate.js';
import { fmtDur, getPath } from '../lib/format.js';
import { focusHeading, toast } from '../lib/ui.js';

// How many finished runs the estimate learns its speeds from (one request each).
const ESTIMATE_RUNS = 8;
const STAGE_WORDS = { dae: 'autoencoder', kmeans: 'k-means', simclr: 'SimCLR', eval: 'evaluation' };

// The configuration the daemon will run: its defaults with the user's fields over them
// (objects merged, everything else replaced), as POST /v1/runs reads a partial body.
function withDefaults(defaults, cfg) {
  const out = structuredClone(defaults);
  for (const [k, v] of Object.entries(cfg || {})) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k])
      ? withDefaults(out[k], v) : v;
  }
  return out;
}

// The dataset a configuration names: its "dataset" string, or the object's name.
const datasetName = (v) => (v && typeof v === 'object' ? v.name : v);

// A dataset's figures for the estimate from GET /v1/datasets, by the name a run gives (a
// folder's name under the data root, or its path).
function datasetInfo(datasets, dataset) {
  const name = datasetName(dataset);
  const d = (datasets || []).find((x) => x.name === name || (x.path && x.path === name));
  if (!d || !(d.train > 0)) return null;
  return { train: d.train, test: d.test || 0, c: d.channels || 1, h: d.height || 28, w: d.width || 28, classes: d.classes || 10 };
}

// Common fields shown above the JSON editor: [path, label, kind, extra]
const COMMON_FIELDS = [
  ['name', 'Name', 'text'],
  ['method', 'Method', 'select', ['gsimclr', 'simclr', 'supervised']],
  ['dataset', 'Dataset', 'dataset'],
  ['subset', 'Training images (subset, 0 = all)', 'int', { min: 0 }],
  ['simclr.epochs', 'SimCLR epochs', 'int', { min: 1 }],
  ['simclr.batch', 'SimCLR batch', 'int', { min: 2 }],
  ['kmeans.k', 'k-means k (clusters)', 'int', { min: 2 }],
];

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

export function submitView(ctx, root, query) {
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
  const estimateBox = h('div', { class: 'estimate', id: 'estimate', 'aria-live': 'polite' }, 'Estimating the duration…');
  const cloneNote = h('p', { class: 'muted', id: 'clone-note' });
  cloneNote.hidden = true;
  const inputs = new Map();
  let defaults = null, presets = {};
  const est = { datasets: null, speeds: null, queued: 0, timer: null };

  // The datasets the daemon lists, offered by the dataset field (any other text may be typed).
  const datasetOptions = h('datalist', { id: 'dataset-options' });
  const fieldEls = COMMON_FIELDS.map(([path, label, kind, extra]) => {
    let input;
    if (kind === 'dataset') input = h('input', { id: fieldId(path), name: path, type: 'text', list: 'dataset-options', maxlength: '4096', autocomplete: 'off', spellcheck: 'false' });
    else if (kind === 'select') input = h('select', { id: fieldId(path), name: path }, extra.map((v) => h('option', { value: v }, v)));
    else if (kind === 'int') input = h('input', { id: fieldId(path), name: path, type: 'number', step: '1', inputmode: 'numeric', ...extra });
    else input = h('input', { id: fieldId(path), name: path, type: 'text', maxlength: '200' });
    input.setAttribute('aria-describedby', `${fieldId(path)}-msg`);
    inputs.set(path, input);
    input.addEventListener('input', () => fieldChanged(path, kind));
    input.addEventListener('change', () => fieldChanged(path, kind));
    return h('div', { class: 'field' },
      h('label', { for: fieldId(path) }, label, ' ', h('code', { class: 'path' }, path)),
      input, kind === 'dataset' ? datasetOptions : null,
      h('span', { id: `${fieldId(path)}-msg`, class: 'field-msg' }));
  });

  const form = h('form', { id: 'submit-form', novalidate: true },
    h('div', { class: 'field preset-field' },
      h('label', { for: 'preset' }, 'Preset'), presetSel,
      h('span', { class: 'field-msg' }, 'Fills the fields and the JSON below (presets are the daemon’s examples).')),
    h('fieldset', { class: 'common' }, h('legend', {}, 'Common settings'), fieldEls),
    estimateBox,
    h('div', { class: 'field' },
      h('label', { for: 'config-json' }, 'Run configuration (JSON)'),
      h('p', { id: 'config-help', class: 'field-msg' },
        'Every field is optional; what is left out takes the server default. The fields above edit this JSON.'),
      jsonArea, jsonStatus),
    errBox,
    h('div', { class: 'actions' }, submitBtn,
      h('button', { type: 'button', onclick: () => applyPreset(presetSel.value) }, 'Reset to preset')),
    h('details', {}, h('summary', {}, 'Server defaults'), defaultsPre));

  append(root, h('div', { class: 'page-head' }, h('h1', {}, 'New run')), cloneNote, form);
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
      const v = kind === 'dataset' ? datasetName(getPath(cfg, path)) : getPath(cfg, path);
      const dv = defaults ? (kind === 'dataset' ? datasetName(getPath(defaults, path)) : getPath(defaults, path)) : undefined;
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
    } else if ((kind === 'text' || kind === 'dataset') && v === '') v = undefined;
    // a dataset given as an object ({"name", "size", ...}) keeps its other fields
    if (kind === 'dataset' && cfg.dataset && typeof cfg.dataset === 'object') setPath(cfg, 'dataset.name', v);
    else setPath(cfg, path, v);
    jsonArea.value = JSON.stringify(cfg, null, 2);
    jsonValid();
    estimateSoon();
  }

  function jsonValid() {
    setText(jsonStatus, '');
    jsonStatus.classList.remove('bad');
    jsonArea.removeAttribute('aria-invalid');
  }

  jsonArea.addEventListener('input', () => {
    clearFieldErrors();
    try { syncFields(parseJson()); jsonValid(); estimateSoon(); } catch (e) {
      setText(jsonStatus, `Not valid JSON yet: ${e.message}`);
      jsonStatus.classList.add('bad');
    }
  });

  function applyPreset(name) {
    const cfg = name && presets[name] ? structuredClone(presets[name]) : {};
    setConfig(cfg);
  }
  function setConfig(cfg) {
    jsonArea.value = JSON.stringify(cfg, null, 2);
    syncFields(cfg);
    jsonValid();
    clearFieldErrors();
    estimateSoon();
  }

  // --- the duration estimate
  function estimateSoon() {
    clearTimeout(est.timer);
    est.timer = setTimeout(showEstimate, 200);
  }
  ctx.onCleanup(() => clearTimeout(est.timer));

  function showEstimate() {
    if (!ctx.alive || !defaults || !est.speeds) return;
    let cfg;
    try { cfg = withDefaults(defaults, parseJson()); } catch { return; }
    const info = datasetInfo(est.datasets, cfg.dataset);
    let e = null;
    try { e = info || cfg.subset > 0 ? estimateRun(cfg, info || {}, est.speeds) : null; } catch { e = null; }
    if (!e || !Number.isFinite(e.total)) {
      estimateBox.dataset.seconds = '';
      clear(estimateBox, h('strong', {}, 'Duration: '), 'no estimate (the dataset’s size is not known here; give a subset).');
      return;
    }
    estimateBox.dataset.seconds = String(Math.round(e.total));
    const parts = Object.entries(e.stages).map(([s, v]) => `${STAGE_WORDS[s]} ${fmtDur(v)}`);
    const ids = [...new Set(Object.values(e.basis).filter(Boolean).flat())];
    const fromRef = Object.entries(e.basis).filter(([, b]) => !b).map(([s]) => STAGE_WORDS[s]);
    const basis = [];
    if (ids.length) basis.push(`the speeds this daemon reached in run${ids.length > 1 ? 's' : ''} ${ids.map((i) => `#${i}`).join(', ')} (same encoder kind and threads)`);
    if (fromRef.length) basis.push(`${ids.length ? `for ${fromRef.join(', ')}: ` : ''}${REFERENCE.where}`);
    clear(estimateBox,
      h('strong', {}, 'Estimated duration: '), h('span', { id: 'estimate-total' }, `about ${fmtDur(e.total)}`),
      ` (${parts.join(', ')}) once a worker takes it`,
      est.queued ? `; ${est.queued} run${est.queued === 1 ? '' : 's'} ahead of it` : '', '.',
      h('br'), h('span', { class: 'muted small-text' }, `From ${basis.join('; ')}. Expect it within about ${ids.length ? '10–20 %' : 'a factor of 2'}; a busy machine takes longer.`));
  }

  // Speeds of the newest finished runs (their configurations need one request each).
  async function loadSpeeds() {
    let runs = [];
    try {
      const [ds, page, health] = await Promise.all([api.datasets(), api.runs({ status: 'succeeded', limit: ESTIMATE_RUNS }),
        api.health().catch(() => null)]);
      est.datasets = ds.datasets || [];
      if (ctx.alive) {
        clear(datasetOptions, est.datasets.filter((d) => d.available).map((d) => h('option', { value: d.name },
          `${d.kind || 'dataset'} · ${d.train} train · ${d.labelled ? `${d.classes} classes` : 'unlabelled'} · ${d.channels === 3 ? 'RGB' : 'gray'} ${d.width}×${d.height}`)));
      }
      est.queued = health ? (health.queued ?? 0) + (health.busy_workers >= health.workers ? health.running ?? 0 : 0) : 0;
      const full = await Promise.all((page.runs || []).map((r) => api.run(r.id).catch(() => null)));
      runs = full.filter((r) => r && TERMINAL.has(r.status) && r.config)
        .map((r) => ({ id: r.id, config: r.config, result: r.result, info: datasetInfo(est.datasets, r.config.dataset) }));
    } catch { /* the reference speeds still give an estimate */ }
    est.speeds = stageSpeeds(runs);
    if (ctx.alive) showEstimate();
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

  // "Clone and edit": the run's whole configuration (every field, as the daemon stored it).
  async function cloneRun(id) {
    try {
      const run = await api.run(id);
      if (!ctx.alive) return;
      const cfg = structuredClone(run.config || {});
      cfg.name = `${run.name || `run ${id}`} (clone)`.slice(0, 120);
      setConfig(cfg);
      cloneNote.hidden = false;
      clear(cloneNote, 'Cloned from ', h('a', { href: `#/runs/${id}` }, `run ${id}`),
        ': every field as it ran; edit what should differ and submit.');
    } catch (e) {
      if (!ctx.alive) return;
      showError(`could not clone run ${id}: ${e.message}`, null);
      applyPreset('');
    }
  }

  loadSpeeds();
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
      const want = query.get('preset'), clone = Number(query.get('clone'));
      if (Number.isInteger(clone) && clone > 0) {
        presetSel.value = '';
        await cloneRun(clone);
      } else {
        presetSel.value = want != null && (want === '' || names.includes(want)) ? want : (order[0] ?? '');
        applyPreset(presetSel.value);
      }
      // #/submit?dataset=NAME (the Datasets page's "New run on it"): that dataset over the preset
      const wantDataset = query.get('dataset');
      if (wantDataset) {
        const cfg = parseJson();
        if (cfg.dataset && typeof cfg.dataset === 'object') cfg.dataset.name = wantDataset; else cfg.dataset = wantDataset;
        setConfig(cfg);
      }
    } catch (e) {
      if (!ctx.alive) return;
      clear(presetSel, h('option', { value: '' }, '(presets unavailable)'));
      showError(`could not load the defaults: ${e.message}`, null);
      applyPreset('');
    }
  })();
}
