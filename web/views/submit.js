// View #/submit: a run configuration from a preset (GET /v1/defaults), six common fields that
// edit the JSON and follow it, POST /v1/runs; a refusal shows the daemon's message and marks
// the field it names, a success opens the run page. Never changes the configuration beyond
// what the user typed or picked.

import { api } from '../lib/api.js';
import { append, clear, h, setText } from '../lib/dom.js';
import { getPath } from '../lib/format.js';
import { focusHeading, toast } from '../lib/ui.js';

// Common fields shown above the JSON editor: [path, label, kind, extra]
const COMMON_FIELDS = [
  ['name', 'Name', 'text'],
  ['method', 'Method', 'select', ['gsimclr', 'simclr']],
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
