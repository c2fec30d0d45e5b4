// Small page parts the views share: toasts, status badges, progress bars, times, the error
// box (with its "Enter token" button), focusing a view's heading, and downloads and images that
// carry the token when reads need it. Builds elements from dom.js (text only, never HTML);
// holds no view's state.

import { auth, request } from './api.js';
import { h } from './dom.js';
import { DASH, isNum, parseTime } from './format.js';

// Shows the current view again; app.js points it at its router. A hook rather than an import,
// so the views' shared parts never depend on the entry module.
let rerender = () => {};
export function setRerender(fn) { rerender = fn; }

// Refreshes the header's daemon health (busy workers, queue) soon; app.js points it at its
// refresher. Views call it when they see a run start or end, so the header does not lag.
let healthHook = () => {};
export function setHealthHook(fn) { healthHook = fn; }
let healthTimer = null;
export function healthSoon() {
  if (healthTimer) return;
  healthTimer = setTimeout(() => { healthTimer = null; healthHook(); }, 150);
}

// A run's tags as small chips (text only).
export function tagList(tags) {
  return h('ul', { class: 'tags', 'aria-label': 'Tags' }, (tags || []).map((t) => h('li', { class: 'tag' }, t)));
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

export function timeEl(iso) {
  const d = parseTime(iso);
  if (!d) return DASH;
  return h('time', { datetime: iso, title: iso }, d.toLocaleString());
}

export function badge(status, extra) {
  const s = String(status || 'unknown');
  return h('span', { class: `badge badge-${s.replace(/[^a-z]/g, '')}${extra ? ' ' + extra : ''}` }, s);
}

export function progressEl(frac, label) {
  const v = isNum(frac) ? Math.max(0, Math.min(1, frac)) : 0;
  return h('span', { class: 'progress-wrap' },
    h('progress', { max: '1', value: v, 'aria-label': label || 'progress' }),
    h('span', { class: 'progress-text' }, `${Math.round(v * 100)} %`));
}

export function focusHeading(root) {
  const hd = root.querySelector('h1');
  if (hd) { hd.tabIndex = -1; hd.focus({ preventScroll: true }); }
}

export function errorBox(e, prefix) {
  return h('p', { class: 'error-box', role: 'alert' }, prefix ? `${prefix}: ` : '', e.message || String(e),
    e.status === 401 ? [' ', h('button', { type: 'button', class: 'small', onclick: async () => {
      if (await auth.ask()) rerender();
    } }, 'Enter token')] : null);
}

// Files (CSV, checkpoints, PNG grids): a plain link when reads need no token, else fetched with
// the Authorization header and handed over as a blob.
export function downloadLink(href, text, filename, props = {}) {
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

export async function setImageSrc(img, href) {
  if (!auth.readsNeedToken) { img.src = href; return; }
  const resp = await request('GET', href, { raw: true });
  const old = img.dataset.blobUrl;
  const url = URL.createObjectURL(await resp.blob());
  img.dataset.blobUrl = url;
  img.src = url;
  if (old) URL.revokeObjectURL(old);
}
