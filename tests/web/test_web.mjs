// Browser test of the gsimclrd web page: starts bin/gsimclrd on a free port with a temporary
// data folder, drives Debian's Chromium (/usr/bin/chromium) through playwright-core, and walks
// the page as a person would: the runs list, the submit form (quick preset edited to a tiny
// run, its duration estimate), live progress on the run page, the curves (loss per step,
// learning rate per step, accuracy during training from the kNN monitor) and their controls,
// tags and a note, the clusters (sort by purity, filter by label, a cluster's image grid, the
// mosaic), a second (plain SimCLR) run, the runs list's search and sort, the compare view (its
// deltas, its configuration diff, skipped stages), clone and edit, a refused submit, the
// Datasets view (its --data-root holds a small image folder made by scripts/make-image-folders
// and an empty folder: the list, a dataset's classes and preview, the submit form's dataset
// picker), cancel and delete, a sweep (submitted, followed live, its table, chart, differences
// and verdict, deleted), and a second daemon listening beyond loopback with --token-file (the token dialog,
// and the run page polling since an EventSource cannot send the token). Every view is then
// opened at 1366x768 and at a phone's 390x844: the page must be no wider than the window, and
// a screenshot of each goes to build/web-test/. Any console error or uncaught exception fails
// the test.
//
//   node tests/web/test_web.mjs            (from the repository root; needs `npm ci` in tests/web)
//
// Environment: GS_WEB_DAEMON   the daemon command (default bin/gsimclrd; extra words are passed
//                              before the test's own options)
//              GS_WEB_CHROMIUM the browser (default /usr/bin/chromium)
//              GS_WEB_TIMEOUT  seconds a run may take to succeed (default 90)
//              GS_WEB_HEADED=1 show the browser window; GS_WEB_VERBOSE=1 echo the daemon's stderr
// The last line printed is "N passed, N failed"; the exit code is non-zero on any failure.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DAEMON = (process.env.GS_WEB_DAEMON || 'bin/gsimclrd').split(/\s+/).filter(Boolean);
const BROWSER = process.env.GS_WEB_CHROMIUM || '/usr/bin/chromium';
const RUN_TIMEOUT = Number(process.env.GS_WEB_TIMEOUT || 90) * 1000;
const OVERALL_TIMEOUT = 8 * 60 * 1000;
const SHOTS = path.join(ROOT, 'build', 'web-test');
const SIZES = [[1366, 768], [390, 844]];

let passed = 0, failed = 0;
const daemonsStarted = [];
const consoleErrors = [];
let reported = 0;
function check(name, ok, detail) {
  if (ok) { passed++; console.log(`ok    ${name}`); }
  else {
    failed++;
    console.log(`FAIL  ${name}${detail ? ` — ${detail}` : ''}`);
    // The browser's errors so far help explain a failure.
    for (const e of consoleErrors.slice(reported, reported + 5)) console.log(`      console: ${e}`);
    reported = consoleErrors.length;
  }
  return !!ok;
}
// Runs one step; an exception counts as a failed check of that name. `needs` lists what the
// step depends on: when one of them is missing the step fails at once instead of timing out.
async function step(name, fn, needs = []) {
  if (needs.some((n) => n == null || n === false)) return check(name, false, 'skipped: an earlier step failed');
  try {
    const r = await fn();
    if (r === undefined || r === true) return check(name, true);
    if (r === false) return check(name, false);
    return check(name, r.ok, r.detail);
  } catch (e) {
    return check(name, false, (e && e.message ? e.message : String(e)).split('\n')[0]);
  }
}

// --- the daemon

function startDaemon(dataDir, listen = '127.0.0.1:0', extra = []) {
  return new Promise((resolve, reject) => {
    const [cmd, ...pre] = DAEMON;
    const args = [...pre, '--listen', listen, '--data-dir', dataDir, '--workers', '1', '--threads', '2', ...extra];
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    daemonsStarted.push(child);
    const tail = [];
    let buf = '', found = false;
    const timer = setTimeout(() => { if (!found) reject(new Error(`no "listening on" line within 20 s; stderr: ${tail.join(' | ')}`)); }, 20000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        tail.push(line);
        if (tail.length > 40) tail.shift();
        if (process.env.GS_WEB_VERBOSE) console.log(`  [daemon] ${line}`);
        const m = /gsimclrd: listening on (http:\/\/[^\s]+)/.exec(line);
        if (m && !found) {
          found = true;
          clearTimeout(timer);
          // A daemon listening on every interface is still reached through loopback.
          resolve({ child, url: m[1].replace(/\/$/, '').replace('//0.0.0.0:', '//127.0.0.1:'), tail });
        }
      }
    });
    child.stdout.resume();
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, sig) => {
      if (!found) { clearTimeout(timer); reject(new Error(`daemon exited (${code ?? sig}) before listening: ${tail.join(' | ')}`)); }
    });
  });
}

async function stopDaemon(d) {
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
  const gone = new Promise((r) => d.child.once('exit', r));
  d.child.kill('SIGTERM');
  const t = setTimeout(() => d.child.kill('SIGKILL'), 10000);
  await gone;
  clearTimeout(t);
}

// --- the tiny runs

function tinyGsimclr(cfg) {
  cfg.name = 'web test: tiny G-SimCLR';
  cfg.method = 'gsimclr';
  cfg.subset = 1000;
  cfg.test_subset = 300;
  cfg.dae = { ...(cfg.dae || {}), filters: [8, 16, 32], epochs: 1 };
  cfg.kmeans = { ...(cfg.kmeans || {}), k: 16, n_init: 1 };
  cfg.simclr = { ...(cfg.simclr || {}), encoder: { arch: 'cnn3', width: 8, head: [32, 16] }, epochs: 2, batch: 64 };
  cfg.eval = { ...(cfg.eval || {}), linear: { ...((cfg.eval || {}).linear || {}), epochs: 2 }, knn_k: 10 };
  return cfg;
}

function tinySimclr() {
  return {
    name: 'web test: tiny SimCLR', method: 'simclr', subset: 1000, test_subset: 300,
    simclr: { encoder: { arch: 'cnn3', width: 8, head: [32, 16] }, epochs: 2, batch: 64, warmup_epochs: 0.5 },
    eval: { linear: { epochs: 2 }, knn_k: 10 },
  };
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gsimclr-web-'));
  let daemon = null, browser = null, daemon2 = null;
  let allowed = null; // a console error expected in the current step (the browser logs 4xx answers)
  try {
    // The data root: a small image folder (Fashion-MNIST written out as PNGs by the repository's
    // script) and an empty folder, which is no dataset.
    const dataRoot = path.join(dataDir, 'root');
    fs.mkdirSync(path.join(dataRoot, 'empty'), { recursive: true });
    execFileSync('python3', ['scripts/make-image-folders', path.join(dataRoot, 'fmpng'), '--train', '40', '--test', '10'],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    try {
      daemon = await startDaemon(path.join(dataDir, 'db'), '127.0.0.1:0', ['--data-root', dataRoot]);
      check('daemon starts and prints its address', true);
    } catch (e) {
      check('daemon starts and prints its address', false, e.message);
      return;
    }
    const S = daemon.url;

    browser = await chromium.launch({ executablePath: BROWSER, headless: !process.env.GS_WEB_HEADED });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const watch = (pg) => {
      pg.setDefaultTimeout(15000);
      pg.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        const text = msg.text();
        if (allowed && allowed.test(text)) return;
        consoleErrors.push(text);
      });
      pg.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
      pg.on('requestfailed', (rq) => {
        // Event streams that the page closes itself show up as aborted; anything else is a failure.
        const f = rq.failure();
        if (f && /ERR_ABORTED/.test(f.errorText)) return;
        consoleErrors.push(`request failed: ${rq.url()} ${f ? f.errorText : ''}`);
      });
      return pg;
    };
    watch(page);

    // 1. The runs list.
    await step('runs list renders at /', async () => {
      await page.goto(`${S}/`);
      await page.waitForSelector('#runs-table');
      await page.waitForSelector('#runs-table tbody tr');
      const hd = await page.textContent('h1');
      const headers = await page.$$eval('#runs-table thead th', (ths) => ths.map((t) => t.textContent.trim()));
      const want = ['ID', 'Name', 'Method', 'Status', 'Progress', 'Stage', 'Linear top-1', 'kNN top-1', 'Created'];
      const missing = want.filter((w) => !headers.includes(w));
      return { ok: hd.trim() === 'Runs' && missing.length === 0, detail: `h1 "${hd}", missing columns ${missing}` };
    });
    await step('chart library and styles load from web/node_modules', async () => {
      const ok = await page.evaluate(() => typeof window.uPlot === 'function');
      return { ok, detail: 'window.uPlot is not a function (npm ci in web/?)' };
    });
    await step('header shows the daemon health', async () => {
      await page.waitForFunction(() => /workers busy/.test(document.getElementById('health').textContent), null, { timeout: 5000 });
    });

    // 2. The submit form.
    await step('submit form lists the presets quick, gsimclr and simclr', async () => {
      await page.click('a[data-nav="submit"]');
      await page.waitForFunction(() => document.querySelectorAll('#preset option').length >= 3);
      const opts = await page.$$eval('#preset option', (os) => os.map((o) => o.value));
      return { ok: ['quick', 'gsimclr', 'simclr'].every((p) => opts.includes(p)), detail: `options ${opts}` };
    });
    await step('choosing a preset fills the JSON editor and the common fields', async () => {
      await page.selectOption('#preset', 'simclr');
      const simclr = JSON.parse(await page.inputValue('#config-json'));
      await page.selectOption('#preset', 'quick');
      const quick = JSON.parse(await page.inputValue('#config-json'));
      const method = await page.inputValue('#f-method');
      const subset = await page.inputValue('#f-subset');
      return {
        ok: simclr.method === 'simclr' && quick.method === 'gsimclr' && method === 'gsimclr' && subset === String(quick.subset),
        detail: `simclr preset method ${simclr.method}, quick ${quick.method}, field method ${method}, subset ${subset}`,
      };
    });
    await step('editing a common field updates the JSON', async () => {
      await page.fill('#f-kmeans-k', '99');
      const cfg = JSON.parse(await page.inputValue('#config-json'));
      return { ok: cfg.kmeans && cfg.kmeans.k === 99, detail: `kmeans ${JSON.stringify(cfg.kmeans)}` };
    });

    let runA = null;
    await step('submitting the tiny quick run opens its run page', async () => {
      const cfg = tinyGsimclr(JSON.parse(await page.inputValue('#config-json')));
      await page.fill('#config-json', JSON.stringify(cfg, null, 2));
      const k = await page.inputValue('#f-kmeans-k');
      if (k !== '16') return { ok: false, detail: `the k field did not follow the JSON (${k})` };
      await page.click('#submit-run');
      await page.waitForURL(/#\/runs\/\d+$/);
      runA = Number(/#\/runs\/(\d+)$/.exec(page.url())[1]);
      await page.waitForSelector('#timeline li[data-stage="simclr"]');
      return true;
    });

    // 3. The run page, live.
    await step('live progress arrives on the run page', async () => {
      await page.waitForFunction(() => {
        const m = document.getElementById('main');
        return Number(m.dataset.progressEvents || 0) > 0 || m.dataset.status === 'succeeded';
      }, null, { timeout: 30000 });
      const n = await page.$eval('#main', (m) => Number(m.dataset.progressEvents || 0));
      const live = await page.$eval('#main', (m) => m.dataset.live);
      return { ok: n > 0, detail: `progress events ${n}, live mode ${live}` };
    }, [runA]);
    const okA = await step(`run ${runA ?? '?'} succeeds (within ${RUN_TIMEOUT / 1000} s)`, async () => {
      await page.waitForFunction(() => ['succeeded', 'failed', 'canceled'].includes(document.getElementById('main').dataset.status),
        null, { timeout: RUN_TIMEOUT });
      const badge = (await page.textContent('#run-status .badge')).trim();
      const err = await page.$eval('#main', (m) => (m.querySelector('.error-box') || {}).textContent || '');
      return { ok: badge === 'succeeded', detail: `status ${badge} ${err}` };
    }, [runA]);
    await step('the event stream delivers the end event and the page stops listening', async () => {
      await page.waitForFunction(() => document.getElementById('main').dataset.live === 'ended', null, { timeout: 10000 });
      return true;
    }, [okA]);
    await step('stage timeline shows every stage succeeded', async () => {
      const st = await page.$$eval('#timeline li', (lis) => lis.map((li) => `${li.dataset.stage}:${li.dataset.status}`));
      return { ok: st.join(',') === 'dae:succeeded,kmeans:succeeded,simclr:succeeded,eval:succeeded', detail: st.join(',') };
    }, [okA]);
    await step('log panel shows the run\'s log lines', async () => {
      await page.waitForFunction(() => document.querySelectorAll('#log li').length > 0, null, { timeout: 5000 });
      const n = await page.$$eval('#log li', (l) => l.length);
      return { ok: n > 0, detail: `${n} lines` };
    }, [okA]);
    await step('results show linear top-1 and kNN as percentages', async () => {
      await page.waitForSelector('#results:not([hidden])');
      const txt = await page.textContent('#results');
      return { ok: /Linear top-1[^%]*\d+\.\d\d %/.test(txt) && /kNN top-1\s*\d+\.\d\d %/.test(txt), detail: txt.slice(0, 200) };
    }, [okA]);
    await step('curves are drawn: SimCLR and autoencoder loss, learning rate, accuracy', async () => {
      await page.waitForFunction(() => {
        const c = document.querySelector('#chart-simclr');
        return c && Number(c.dataset.points) > 0 && c.querySelector('canvas');
      }, null, { timeout: 10000 });
      const info = await page.evaluate(() => ['#chart-simclr', '#chart-dae', '#chart-lr', '#chart-acc'].map((s) => {
        const el = document.querySelector(s);
        const cv = el && el.querySelector('canvas');
        return { s, points: el ? Number(el.dataset.points) : -1, canvas: !!cv, w: cv ? cv.width : 0 };
      }));
      return { ok: info.every((i) => i.points > 0 && i.canvas && i.w > 0), detail: JSON.stringify(info) };
    }, [okA]);
    await step('the accuracy curve holds the kNN monitor of every epoch and the final kNN and linear top-1', async () => {
      // simclr.knn_every = 1 (the quick preset) over 2 epochs: 2 monitor points, then 2 finals
      const n = await page.$eval('#chart-acc', (c) => Number(c.dataset.points));
      const api = await page.request.get(`${S}/v1/runs/${runA}/metrics?stage=simclr&name=knn_top1`).then((r) => r.json());
      const legend = await page.$$eval('#chart-acc .u-legend .u-series th', (ths) => ths.map((t) => t.textContent));
      return { ok: api.metrics.length === 2 && n === 4 && legend.some((t) => /kNN monitor/.test(t)),
        detail: `${n} points, ${api.metrics.length} monitor metrics, legend ${legend}` };
    }, [okA]);
    await step('the learning rate is drawn per step (the warm-up shows)', async () => {
      const api = await page.request.get(`${S}/v1/runs/${runA}/metrics?stage=simclr&name=step_lr`).then((r) => r.json());
      const legend = await page.$$eval('#chart-lr .u-legend .u-series th', (ths) => ths.map((t) => t.textContent));
      return { ok: api.metrics.length > 0 && api.metrics.every((m) => m.step > 0) && legend.some((t) => /per step/.test(t)),
        detail: `${api.metrics.length} step_lr metrics, legend ${legend}` };
    }, [okA]);
    await step('chart controls: x axis by epoch and by wall time, smoothing, log scale, zoom reset', async () => {
      const before = await page.$eval('#chart-simclr', (c) => Number(c.dataset.points));
      const seen = {};
      for (const mode of ['epoch', 'wall', 'step']) {
        await page.selectOption('#run-chart-x', mode);
        await page.waitForFunction(() => document.querySelector('#chart-simclr canvas'));
        await page.waitForTimeout(100);
        seen[mode] = await page.$eval('#chart-simclr', (c) => Number(c.dataset.points));
      }
      const slide = (v) => page.$eval('#run-chart-smoothing', (el, val) => {
        el.value = val;
        el.dispatchEvent(new Event('input', { bubbles: true }));
      }, v);
      await page.check('#run-chart-log');
      await slide('0');
      await page.waitForTimeout(100);
      const smoothedGone = await page.$$eval('#chart-simclr .u-legend .u-series th', (ths) => !ths.some((t) => /smoothed/.test(t.textContent)));
      await slide('0.6');
      await page.uncheck('#run-chart-log');
      await page.waitForTimeout(100);
      // a drag zooms, "Reset zoom" goes back
      await page.$eval('#chart-simclr', (el) => el.scrollIntoView());
      await page.waitForTimeout(100);
      const box = await page.$eval('#chart-simclr .u-over', (o) => { const r = o.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
      await page.mouse.move(box.x + box.w * 0.2, box.y + box.h / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.w * 0.6, box.y + box.h / 2, { steps: 5 });
      await page.mouse.up();
      const zoomed = await page.isVisible('#chart-simclr .chart-reset');
      if (zoomed) await page.click('#chart-simclr .chart-reset');
      const reset = !(await page.isVisible('#chart-simclr .chart-reset'));
      return { ok: Object.values(seen).every((v) => v === before) && smoothedGone && zoomed && reset,
        detail: `points ${before} -> ${JSON.stringify(seen)}, smoothing 0 drops the smoothed line ${smoothedGone}, zoomed ${zoomed}, reset ${reset}` };
    }, [okA]);
    await step('stage cards: times, k-means\' inertia per point, no LOSS label on k-means', async () => {
      const km = await page.textContent('#timeline li[data-stage="kmeans"]');
      const times = await page.$$eval('#timeline li .stage-time', (dds) => dds.map((d) => d.textContent));
      return { ok: /inertia \/ point/i.test(km) && !/loss/i.test(km) && times.length === 4 && times.every((t) => /\d/.test(t)),
        detail: `kmeans card "${km}", times ${times}` };
    }, [okA]);
    await step('tags and a note are saved from the run page', async () => {
      await page.click('#edit-notes');
      await page.fill('#notes-tags', 'baseline, tiny');
      await page.fill('#notes-note', 'first try\nwith the quick preset');
      await page.click('#save-notes');
      await page.waitForSelector('#run-notes .tag');
      const tags = await page.$$eval('#run-notes .tag', (ts) => ts.map((t) => t.textContent));
      const note = await page.textContent('#run-note');
      const api = await page.request.get(`${S}/v1/runs/${runA}`).then((r) => r.json());
      return { ok: tags.join() === 'baseline,tiny' && /with the quick preset/.test(note) && api.tags.join() === 'baseline,tiny' &&
        api.note === 'first try\nwith the quick preset', detail: `tags ${tags}, note "${note}", API ${JSON.stringify([api.tags, api.note])}` };
    }, [okA]);
    await step('clusters table has 16 rows (k = 16) with purity and NMI', async () => {
      await page.waitForFunction(() => document.querySelectorAll('#clusters-table tbody tr').length > 0, null, { timeout: 10000 });
      const n = await page.$$eval('#clusters-table tbody tr', (r) => r.length);
      const k = (await page.textContent('#clusters dd[data-metric="k"]')).trim();
      const purity = (await page.textContent('#clusters dd[data-metric="purity"]')).trim();
      return { ok: n === 16 && k === '16' && /%$/.test(purity), detail: `${n} rows, k ${k}, purity ${purity}` };
    }, [okA]);
    await step('sorting the clusters by size orders the rows', async () => {
      await page.click('#clusters-table th[data-key="size"] button');
      const sizes = await page.$$eval('#clusters-table tbody tr td:nth-child(2)', (tds) => tds.map((t) => Number(t.textContent.replace(/,/g, ''))));
      const desc = sizes.every((v, i) => i === 0 || sizes[i - 1] >= v);
      const aria = await page.getAttribute('#clusters-table th[data-key="size"]', 'aria-sort');
      return { ok: desc && aria === 'descending' && sizes.reduce((a, b) => a + b, 0) === 1000, detail: `sizes ${sizes}, aria-sort ${aria}` };
    }, [okA]);
    await step('sorting the clusters by purity and filtering by majority label', async () => {
      await page.selectOption('#clusters-sort', 'label_fraction');
      const purity = await page.$$eval('#clusters-table tbody tr td:nth-child(4)', (tds) => tds.map((t) => parseFloat(t.textContent)));
      const desc = purity.length === 16 && purity.every((v, i) => i === 0 || purity[i - 1] >= v);
      const label = await page.$eval('#clusters-table tbody tr td:nth-child(3)', (td) => td.textContent);
      const value = await page.$eval('#clusters-filter option:nth-child(2)', (o) => o.value);
      await page.selectOption('#clusters-filter', value);
      const labels = await page.$$eval('#clusters-table tbody tr td:nth-child(3)', (tds) => tds.map((t) => t.textContent));
      const named = /^\d · \S/.test(label);
      await page.selectOption('#clusters-filter', '');
      const all = await page.$$eval('#clusters-table tbody tr', (r) => r.length);
      return { ok: desc && named && labels.length > 0 && labels.length < 16 && labels.every((l) => l.startsWith(`${value} · `)) && all === 16,
        detail: `purity ${purity}, first label "${label}", filtered ${labels}, all ${all}` };
    }, [okA]);
    await step('the mosaic shows one row of thumbnails per cluster', async () => {
      await page.click('#clusters-view-mosaic');
      await page.waitForFunction(() => {
        const imgs = [...document.querySelectorAll('#clusters-mosaic img')];
        return imgs.length === 16 && imgs.slice(0, 3).every((i) => i.complete && i.naturalWidth > 0);
      }, null, { timeout: 15000 });
      const [w, hgt] = await page.$eval('#clusters-mosaic img', (i) => [i.naturalWidth, i.naturalHeight]);
      await page.click('#clusters-view-table');
      return { ok: hgt > 0 && w > hgt, detail: `first row ${w}x${hgt}` };
    }, [okA]);
    await step('clicking a cluster shows its image grid', async () => {
      await page.click('#clusters-table tbody tr:first-child button');
      await page.waitForFunction(() => {
        const img = document.getElementById('cluster-grid');
        return img && !img.hidden && img.complete && img.naturalWidth > 0;
      }, null, { timeout: 10000 });
      const [w, hgt] = await page.$eval('#cluster-grid', (i) => [i.naturalWidth, i.naturalHeight]);
      return { ok: w > 0 && hgt > 0, detail: `${w}x${hgt}` };
    }, [okA]);
    await step('checkpoints are listed with download links', async () => {
      await page.waitForSelector('#checkpoints-table tbody tr', { timeout: 10000 });
      const hrefs = await page.$$eval('#checkpoints-table a[download]', (as) => as.map((a) => a.getAttribute('href')));
      const r = hrefs.length ? await page.request.get(S + hrefs[0]) : null;
      return { ok: hrefs.length > 0 && r && r.ok() && (await r.body()).length > 16, detail: `${hrefs.length} links, first ${hrefs[0]} -> ${r && r.status()}` };
    }, [okA]);
    await step('pseudo-labels CSV link downloads image,cluster rows', async () => {
      const href = await page.getAttribute('#download-labels', 'href');
      const r = await page.request.get(S + href);
      const text = await r.text();
      const lines = text.trim().split('\n');
      return { ok: r.ok() && lines[0].trim() === 'image,cluster' && lines.length === 1001, detail: `${r.status()} ${lines[0]} (${lines.length} lines)` };
    }, [okA]);
    fs.mkdirSync(SHOTS, { recursive: true });

    // 4. A second run, plain SimCLR, then the compare view.
    let runB = null;
    const okB = await step('a plain SimCLR run submitted from the form succeeds', async () => {
      await page.goto(`${S}/#/submit`);
      await page.waitForFunction(() => document.querySelectorAll('#preset option').length >= 3);
      await page.selectOption('#preset', 'simclr');
      const cfg = tinySimclr();
      cfg.eval.finetune = { fractions: [0.1], epochs: 2 }; // its page then shows the fine-tuning table
      await page.fill('#config-json', JSON.stringify(cfg, null, 2));
      await page.click('#submit-run');
      await page.waitForURL(/#\/runs\/\d+$/);
      runB = Number(/#\/runs\/(\d+)$/.exec(page.url())[1]);
      await page.waitForFunction(() => ['succeeded', 'failed', 'canceled'].includes(document.getElementById('main').dataset.status),
        null, { timeout: RUN_TIMEOUT });
      const badge = (await page.textContent('#run-status .badge')).trim();
      const st = await page.$$eval('#timeline li', (lis) => lis.map((li) => `${li.dataset.stage}:${li.dataset.status}`));
      return { ok: badge === 'succeeded' && st.join(',') === 'dae:skipped,kmeans:skipped,simclr:succeeded,eval:succeeded', detail: `${badge} ${st}` };
    });
    await step('the SimCLR run\'s page shows its fine-tuning table: fraction, images, fine-tuned, from scratch, gain', async () => {
      await page.waitForSelector('#finetune-table tbody tr');
      const cells = await page.$$eval('#finetune-table tbody tr td', (tds) => tds.map((t) => t.textContent.trim()));
      const api = await page.request.get(`${S}/v1/runs/${runB}`).then((r) => r.json());
      const row = (api.result.finetune || [])[0] || {};
      const gain = `${row.gain >= 0 ? '+' : ''}${(100 * row.gain).toFixed(2)}`;
      return { ok: cells.length === 6 && cells[0] === '10 %' && cells[1].startsWith(`${row.labels} (`) &&
        /^\d+\.\d+ ?%$/.test(cells[2]) && /^\d+\.\d+ ?%$/.test(cells[3]) && cells[4] === gain,
        detail: `${cells.join(' | ')} (API gain ${gain})` };
    }, [okB]);
    await step('runs list shows both runs as succeeded, with durations and run A\'s tags', async () => {
      await page.click('a[data-nav="runs"]');
      await page.waitForSelector(`#runs-table tr[data-run-id="${runA}"]`);
      await page.waitForSelector(`#runs-table tr[data-run-id="${runB}"]`);
      const txt = await page.$$eval('#runs-table tbody tr', (trs) => trs.map((t) => t.textContent));
      const tags = await page.$$eval(`#runs-table tr[data-run-id="${runA}"] .tag`, (ts) => ts.map((t) => t.textContent));
      const durations = await page.$$eval('#runs-table tbody tr td:nth-child(8)', (tds) => tds.map((t) => t.textContent));
      return { ok: txt.length === 2 && txt.every((t) => /succeeded/.test(t) && /\d+\.\d\d %/.test(t)) && tags.join() === 'baseline,tiny' &&
        durations.every((d) => /\d+(\.\d)? s|min/.test(d)), detail: `${txt.join(' / ').slice(0, 300)}; tags ${tags}; durations ${durations}` };
    }, [runA, runB]);
    await step('the search finds runs by tag and by method; the columns sort', async () => {
      await page.fill('#filter-search', 'BASELINE');
      await page.waitForFunction((a) => { const rows = document.querySelectorAll('#runs-table tbody tr[data-run-id]');
        return rows.length === 1 && rows[0].dataset.runId === String(a); }, runA, { timeout: 5000 });
      await page.fill('#filter-search', 'simclr');
      await page.waitForFunction(() => document.querySelectorAll('#runs-table tbody tr[data-run-id]').length === 2, null, { timeout: 5000 });
      await page.fill('#filter-search', 'nothing like it');
      await page.waitForSelector('#runs-table .empty-row', { timeout: 5000 });
      await page.fill('#filter-search', '');
      await page.waitForFunction(() => document.querySelectorAll('#runs-table tbody tr[data-run-id]').length === 2, null, { timeout: 5000 });
      await page.click('#runs-table th[data-key="id"] button'); // newest first -> oldest first
      const asc = await page.$$eval('#runs-table tbody tr[data-run-id]', (trs) => trs.map((t) => Number(t.dataset.runId)));
      await page.click('#runs-table th[data-key="method"] button');
      const methods = await page.$$eval('#runs-table tbody tr[data-run-id] td:nth-child(4)', (tds) => tds.map((t) => t.textContent));
      const aria = await page.getAttribute('#runs-table th[data-key="method"]', 'aria-sort');
      await page.click('#runs-table th[data-key="id"] button'); // back to newest first
      await page.click('#runs-table th[data-key="id"] button');
      return { ok: asc.join() === [runA, runB].sort((a, b) => a - b).join() && methods.join() === 'gsimclr,simclr' && aria === 'ascending',
        detail: `by id ${asc}, by method ${methods} (${aria})` };
    }, [runA, runB]);
    await step('status filter narrows the list', async () => {
      await page.selectOption('#filter-status', 'failed');
      await page.waitForSelector('#runs-table .empty-row');
      await page.selectOption('#filter-status', '');
      await page.waitForSelector(`#runs-table tr[data-run-id="${runA}"]`);
    });
    await step('ticking two runs opens the compare view with both columns', async () => {
      await page.check(`#runs-table tr[data-run-id="${runA}"] input[type=checkbox]`);
      await page.check(`#runs-table tr[data-run-id="${runB}"] input[type=checkbox]`);
      await page.click('#compare-selected');
      await page.waitForURL(/#\/compare\?ids=/);
      await page.waitForSelector('#compare-table');
      const cols = await page.$$eval('#compare-table thead th[data-run-id]', (ths) => ths.map((t) => Number(t.dataset.runId)));
      const methods = await page.$$eval('#compare-table tbody tr', (trs) => {
        const row = trs.find((tr) => tr.querySelector('th').textContent === 'Method');
        return row ? [...row.querySelectorAll('td')].map((td) => td.textContent) : [];
      });
      const lin = await page.$$eval('#compare-table tbody tr', (trs) => {
        const row = trs.find((tr) => tr.querySelector('th').textContent === 'Linear top-1');
        return row ? [...row.querySelectorAll('td')].map((td) => td.textContent) : [];
      });
      return {
        ok: cols.length === 2 && cols.includes(runA) && cols.includes(runB) && methods.join() === 'gsimclr,simclr' && lin.every((t) => /^\d+\.\d\d %/.test(t)),
        detail: `columns ${cols}, methods ${methods}, linear ${lin}`,
      };
    }, [okA, okB]);
    await step('compare shows each later run\'s difference from the first, and skipped stages as skipped', async () => {
      const row = async (label) => page.$$eval('#compare-table tbody tr', (trs, l) => {
        const tr = trs.find((t) => t.querySelector('th').textContent === l);
        return tr ? [...tr.querySelectorAll('td')].map((td) => ({ text: td.textContent, delta: td.querySelector('.delta') ? td.querySelector('.delta').dataset.delta : null })) : [];
      }, label);
      const lin = await row('Linear top-1'), dae = await row('Autoencoder time'), km = await row('k-means time');
      const a = await page.request.get(`${S}/v1/runs/${runA}`).then((r) => r.json());
      const b = await page.request.get(`${S}/v1/runs/${runB}`).then((r) => r.json());
      const want = b.result.linear_top1 - a.result.linear_top1;
      return { ok: lin.length === 2 && lin[0].delta === null && Math.abs(Number(lin[1].delta) - want) < 1e-9 && / pp$/.test(lin[1].text) &&
          dae[1] && dae[1].text === 'skipped' && km[1] && km[1].text === 'skipped' && /\d/.test(dae[0].text),
        detail: `linear ${JSON.stringify(lin)} (want delta ${want}), dae ${JSON.stringify(dae)}, kmeans ${JSON.stringify(km)}` };
    }, [okA, okB]);
    await step('compare lists only the configuration fields that differ', async () => {
      const paths = await page.$$eval('#config-diff-table tbody tr', (trs) => trs.map((t) => t.dataset.path));
      const a = await page.request.get(`${S}/v1/runs/${runA}`).then((r) => r.json());
      const b = await page.request.get(`${S}/v1/runs/${runB}`).then((r) => r.json());
      const flat = (o, p = '', out = {}) => { for (const [k, v] of Object.entries(o)) { const q = p ? `${p}.${k}` : k;
        if (v && typeof v === 'object' && !Array.isArray(v)) flat(v, q, out); else out[q] = JSON.stringify(v); } return out; };
      const fa = flat(a.config), fb = flat(b.config);
      const want = Object.keys(fa).filter((k) => k !== 'name' && fa[k] !== fb[k]).sort();
      return { ok: paths.join() === want.join() && paths.includes('method') && !paths.includes('seed'), detail: `shown ${paths}, want ${want}` };
    }, [okA, okB]);
    await step('compare overlays the loss and the accuracy curves of both runs', async () => {
      // each tiny run logs one step loss (every 20th of its 30 steps); run A's accuracy has its two
      // monitor points and the final kNN, run B (no monitor) its final kNN
      await page.waitForFunction(() => [['compare-chart', 2], ['compare-acc', 4]].every(([id, n]) => {
        const c = document.getElementById(id);
        return c && c.querySelector('canvas') && Number(c.dataset.points) >= n;
      }), null, { timeout: 10000 });
      const loss = await page.$$eval('#compare-chart .u-legend .u-series th', (s) => s.map((t) => t.textContent));
      const acc = await page.$$eval('#compare-acc .u-legend .u-series th', (s) => s.map((t) => t.textContent));
      await page.selectOption('#compare-chart-x', 'wall');
      await page.waitForTimeout(200);
      const wallPoints = await page.$eval('#compare-acc', (c) => Number(c.dataset.points));
      await page.selectOption('#compare-chart-x', 'step');
      return { ok: [runA, runB].every((id) => loss.some((t) => t.startsWith(`#${id}`)) && acc.some((t) => t.startsWith(`#${id}`))) && wallPoints >= 4,
        detail: `loss legend ${loss}, accuracy legend ${acc}, wall-time points ${wallPoints}` };
    }, [okA, okB]);
    await step('clone and edit puts run A\'s whole configuration in the form', async () => {
      await page.goto(`${S}/#/runs/${runA}`);
      await page.click('#clone-run');
      await page.waitForURL(/#\/submit\?clone=/);
      await page.waitForFunction(() => { try { return JSON.parse(document.getElementById('config-json').value).simclr; } catch { return false; } });
      const cfg = JSON.parse(await page.inputValue('#config-json'));
      const a = await page.request.get(`${S}/v1/runs/${runA}`).then((r) => r.json());
      const same = JSON.stringify({ ...cfg, name: '' }) === JSON.stringify({ ...a.config, name: '' });
      const note = await page.textContent('#clone-note');
      const k = await page.inputValue('#f-kmeans-k');
      return { ok: same && /\(clone\)$/.test(cfg.name) && new RegExp(`run ${runA}`).test(note) && k === '16',
        detail: `same ${same}, name "${cfg.name}", note "${note}", k ${k}` };
    }, [okA]);
    await step('the submit form estimates the duration before queueing (and follows the JSON)', async () => {
      await page.goto(`${S}/#/submit?preset=gsimclr`);
      await page.waitForFunction(() => Number(document.getElementById('estimate').dataset.seconds) > 0, null, { timeout: 10000 });
      const full = Number(await page.getAttribute('#estimate', 'data-seconds'));
      const text = await page.textContent('#estimate');
      await page.fill('#f-simclr-epochs', '2');
      await page.waitForFunction((f) => Number(document.getElementById('estimate').dataset.seconds) < f / 2, full, { timeout: 5000 });
      const two = Number(await page.getAttribute('#estimate', 'data-seconds'));
      // the default run trains for about 27 minutes on the reference machine (BENCHMARKS.md)
      return { ok: full > 15 * 60 && full < 60 * 60 && two < full && /SimCLR/.test(text), detail: `defaults ${full} s ("${text.slice(0, 160)}"), 2 epochs ${two} s` };
    });

    // 5. A refused submit names the field.
    await step('a bad submit shows the server\'s message naming simclr.batch', async () => {
      await page.goto(`${S}/#/submit`);
      await page.waitForFunction(() => document.querySelectorAll('#preset option').length >= 3);
      const before = await page.request.get(`${S}/v1/runs`).then((r) => r.json());
      allowed = /status of 400/;
      await page.fill('#config-json', '{"simclr": {"batch": 1}}');
      await page.click('#submit-run');
      await page.waitForSelector('#submit-error:not([hidden])');
      const msg = await page.textContent('#submit-error');
      const invalid = await page.getAttribute('#f-simclr-batch', 'aria-invalid');
      const url = page.url();
      await page.waitForTimeout(300);
      allowed = null;
      const after = await page.request.get(`${S}/v1/runs`).then((r) => r.json());
      return {
        ok: /simclr\.batch/.test(msg) && invalid === 'true' && /#\/submit$/.test(url) && after.total === before.total,
        detail: `message "${msg}", field aria-invalid ${invalid}, url ${url}, runs ${before.total} -> ${after.total}`,
      };
    });
    await step('malformed JSON is caught before sending', async () => {
      await page.fill('#config-json', '{"simclr": ');
      await page.click('#submit-run');
      const msg = await page.textContent('#submit-error');
      return { ok: /JSON/.test(msg), detail: msg };
    });
    let longRun = null;
    await step('server strings are shown as text, never as HTML', async () => {
      const evil = '<img src=x onerror="window.__xss=1"><b>bold</b>';
      // All 60,000 images and many epochs: it is still running when the next step cancels it.
      const r = await page.request.post(`${S}/v1/runs`, { data: { ...tinySimclr(), name: evil, subset: 0, simclr: { ...tinySimclr().simclr, epochs: 50 } } });
      if (r.status() !== 201) return { ok: false, detail: `submit ${r.status()}` };
      const id = longRun = (await r.json()).id;
      await page.goto(`${S}/#/runs/${id}`);
      await page.waitForFunction((id) => document.querySelector('h1').textContent.startsWith(`Run ${id}:`), id);
      const h1 = await page.textContent('h1');
      const injected = await page.evaluate(() => ({ xss: !!window.__xss, b: !!document.querySelector('h1 b, h1 img') }));
      await page.goto(`${S}/#/runs`);
      await page.waitForSelector(`#runs-table tr[data-run-id="${id}"]`);
      const inList = await page.evaluate(() => !!document.querySelector('#runs-table b, #runs-table img'));
      return { ok: h1.includes(evil) && !injected.xss && !injected.b && !inList, detail: `h1 "${h1}" ${JSON.stringify(injected)} list ${inList}` };
    });

    await step('cancel and then delete a run from the runs list', async () => {
      const row = `#runs-table tr[data-run-id="${longRun}"]`;
      await page.waitForSelector(`${row} button:has-text("Cancel"):visible`);
      await page.click(`${row} button:has-text("Cancel")`);
      await page.waitForFunction((sel) => /canceled/.test(document.querySelector(sel).textContent), row, { timeout: 30000 });
      page.once('dialog', (d) => d.accept());
      await page.click(`${row} button:has-text("Delete")`);
      await page.waitForSelector(row, { state: 'detached' });
      const r = await page.request.get(`${S}/v1/runs/${longRun}`);
      return { ok: r.status() === 404, detail: `GET the deleted run: ${r.status()}` };
    }, [longRun]);

    // 5b. The datasets: the list, one dataset's classes and preview, the submit form's picker.
    await step('the Datasets view lists fashion-mnist, the image folder and why the empty folder is none', async () => {
      await page.goto(`${S}/#/runs`);
      await page.click('a[data-nav="datasets"]');
      await page.waitForSelector('#datasets-table tbody tr');
      const rows = await page.$$eval('#datasets-table tbody tr', (trs) => trs.map((tr) =>
        [...tr.querySelectorAll('th, td')].map((c) => c.textContent.trim())));
      const byName = Object.fromEntries(rows.map((r) => [r[0], r]));
      const fm = byName.fmpng || [], empty = byName.empty || [];
      const current = await page.$eval('a[data-nav="datasets"]', (a) => a.getAttribute('aria-current'));
      return {
        ok: rows.length === 3 && rows[0][0] === 'fashion-mnist' && fm[1] === 'folder' && fm[2] === '40' && fm[3] === '10' &&
          fm[4] === '10' && fm[6] === '28×28' && fm[7] === 'no' && /Not a dataset: .*no images/.test(empty[1] || '') && current === 'page',
        detail: JSON.stringify(rows),
      };
    });
    await step('a dataset\'s page shows its class counts and its preview image', async () => {
      await page.click('#datasets-table a[href="#/datasets/fmpng"]');
      await page.waitForSelector('#classes-table tbody tr');
      await page.waitForFunction(() => document.getElementById('dataset-preview')?.naturalWidth > 0, null, { timeout: 10000 });
      const counts = await page.$$eval('#classes-table tbody tr', (trs) => trs.map((tr) =>
        [...tr.querySelectorAll('th, td')].map((c) => c.textContent.trim())));
      const sum = counts.reduce((a, r) => a + Number(r[1]), 0), sumTest = counts.reduce((a, r) => a + Number(r[2]), 0);
      const size = await page.$eval('#dataset-preview', (i) => [i.naturalWidth, i.naturalHeight]);
      const rowsNote = await page.textContent('#preview-rows');
      // 8 images of 28 px a row, drawn twice over with a 1 px gap: (8 * 29 - 1) * 2
      return { ok: counts.length === 10 && sum === 40 && sumTest === 10 && size[0] === 462 && size[1] === 10 * 58 - 2 &&
        /Rows, top to bottom: 0, 1, 2/.test(rowsNote), detail: `${counts.length} classes, ${sum}/${sumTest} images, preview ${size}` };
    });
    await step('an unknown dataset\'s page says so', async () => {
      allowed = /status of 404/;
      await page.goto(`${S}/#/datasets/nope`);
      await page.waitForSelector('#dataset-body .error-box');
      const msg = await page.textContent('#dataset-body .error-box');
      await page.waitForTimeout(200);
      allowed = null;
      return { ok: /no dataset nope/.test(msg), detail: msg };
    });
    await step('the submit form offers the listed datasets and writes the one picked into the JSON', async () => {
      await page.goto(`${S}/#/datasets/fmpng`);
      await page.click('a[href="#/submit?dataset=fmpng"]');
      await page.waitForFunction(() => /"dataset": "fmpng"/.test(document.getElementById('config-json')?.value ?? ''));
      await page.waitForFunction(() => document.querySelectorAll('#dataset-options option').length >= 2);
      const offered = await page.$$eval('#dataset-options option', (os) => os.map((o) => o.value));
      const field = await page.inputValue('#f-dataset');
      await page.fill('#f-dataset', 'fashion-mnist');
      const json = await page.inputValue('#config-json');
      const list = await page.getAttribute('#f-dataset', 'list');
      return { ok: offered.join() === 'fashion-mnist,fmpng' && field === 'fmpng' && /"dataset": "fashion-mnist"/.test(json) && list === 'dataset-options',
        detail: `offered ${offered}, field ${field}` };
    });
    // 6. A sweep: submitted from the sweeps page, followed live, its table, chart, paired
    // differences and verdict, a refused one, and deleted.
    let sweepId = null;
    await step('the sweeps page submits a sweep and opens it', async () => {
      await page.click('a[data-nav="sweeps"]');
      await page.waitForSelector('#sweeps-table');
      const tiny = {
        name: 'web test sweep', metric: 'linear_top1',
        base: { subset: 400, test_subset: 200, threads: 1, dae: { filters: [4, 8, 8], epochs: 1 }, kmeans: { k: 8, n_init: 1 },
          simclr: { encoder: { arch: 'cnn3', width: 4, head: [16, 8] }, epochs: 1, batch: 32 }, eval: { linear: { epochs: 2 }, knn_k: 10 } },
        grid: { method: ['gsimclr', 'simclr'], seed: [1, 2, 3] },
      };
      await page.fill('#sweep-json', JSON.stringify(tiny, null, 2));
      await page.click('#submit-sweep');
      await page.waitForURL(/#\/sweeps\/\d+$/);
      sweepId = Number(/#\/sweeps\/(\d+)$/.exec(page.url())[1]);
      await page.waitForSelector('#sweep-table tbody tr');
      return true;
    });
    await step('the sweep page follows its runs live until they have all succeeded', async () => {
      // The page opened as the sweep was submitted and is not reloaded: it must reach the end by
      // its own polling, every run shown succeeded. (Whether a state in between is seen depends
      // on the machine's speed: six tiny runs may all end within one poll, so it is not asserted.)
      const first = (await page.textContent('#sweep-status')).trim();
      const url = page.url();
      await page.waitForFunction(() => /succeeded/.test(document.querySelector('#sweep-status')?.textContent ?? ''),
        null, { timeout: 6 * RUN_TIMEOUT });
      await page.waitForFunction(() => {
        const st = [...document.querySelectorAll('#sweep-runs tbody .badge')].map((b) => b.textContent);
        return st.length === 6 && st.every((s) => s === 'succeeded');
      }, null, { timeout: 10000 });
      const runs = await page.$$eval('#sweep-runs tbody .badge', (bs) => bs.map((b) => b.textContent));
      return { ok: page.url() === url && runs.length === 6, detail: `status at first render "${first}", runs ${runs}` };
    }, [sweepId]);
    await step('the sweep shows its table over seeds, chart, paired difference and verdict', async () => {
      await page.waitForFunction(() => document.querySelectorAll('#sweep-chart circle.mean-dot').length === 2);
      const rows = await page.$$eval('#sweep-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
      const pairs = await page.$$eval('#pairs-table tbody tr', (trs) => trs.length);
      const verdict = (await page.textContent('#verdicts li')).trim();
      const seeds = await page.$$eval('#sweep-chart circle.seed-dot', (c) => c.length);
      await page.screenshot({ path: path.join(ROOT, 'build', 'web-test-sweep.png'), fullPage: true });
      const ok = rows.length === 2 && rows[0][0] === 'gsimclr' && rows[0][1] === '3' && /%/.test(rows[0][2]) &&
        pairs === 1 && seeds === 6 &&
        /^G-SimCLR − SimCLR: [+-]\d+\.\d\d points, 95 % CI \[[+-][\d.]+, [+-][\d.]+\], p [=<] [\d.e-]+ over 3 seeds$/.test(verdict);
      return { ok, detail: `rows ${JSON.stringify(rows)} pairs ${pairs} seeds ${seeds} verdict "${verdict}"` };
    }, [sweepId]);
    await step('a refused sweep shows the daemon\'s message naming the grid key', async () => {
      allowed = /status of 400/;
      await page.goto(`${S}/#/sweeps`);
      await page.waitForSelector('#sweep-json');
      await page.fill('#sweep-json', JSON.stringify({ grid: { 'simclr.batch': [64, 1] } }));
      await page.click('#submit-sweep');
      await page.waitForSelector('#sweep-error');
      const t = await page.textContent('#sweep-error');
      await page.waitForTimeout(200);
      allowed = null;
      return { ok: /grid\.simclr\.batch/.test(t) && /must be an integer in 2\.\.4096/.test(t), detail: t };
    });
    await step('the sweep is listed, then deleted with its runs', async () => {
      await page.waitForSelector(`#sweeps-table tr[data-sweep-id="${sweepId}"]`);
      await page.click(`#sweeps-table tr[data-sweep-id="${sweepId}"] a`);
      await page.waitForSelector('#delete-sweep');
      page.once('dialog', (d) => d.accept());
      await page.click('#delete-sweep');
      await page.waitForURL(/#\/sweeps$/);
      const r = await page.request.get(`${S}/v1/sweeps/${sweepId}`);
      return { ok: r.status() === 404, detail: `GET the deleted sweep: ${r.status()}` };
    }, [sweepId]);

    // 6. A daemon listening beyond loopback needs the token for every call: the page asks for
    // it once, and the run page polls instead of using the event stream.
    const TOKEN = 'web-test-token-0123456789abcdef';
    const dir2 = path.join(dataDir, 'token');
    fs.mkdirSync(dir2);
    fs.writeFileSync(path.join(dir2, 'token'), TOKEN + '\n', { mode: 0o600 });
    await step('a daemon listening beyond loopback with --token-file starts', async () => {
      daemon2 = await startDaemon(path.join(dir2, 'db'), '0.0.0.0:0', ['--token-file', path.join(dir2, 'token')]);
      const r = await fetch(`${daemon2.url}/v1/runs`);
      return { ok: r.status === 401, detail: `GET /v1/runs without a token: ${r.status}` };
    });
    const page2 = daemon2 ? watch(await context.newPage()) : null;
    await step('the page asks for the token once and then lists the runs', async () => {
      allowed = /status of 401/;
      await page2.goto(`${daemon2.url}/`);
      await page2.waitForSelector('#token-dialog[open]');
      await page2.fill('#token-input', TOKEN);
      await page2.click('#token-form button[value=ok]');
      await page2.waitForSelector('#runs-table tbody tr');
      const open = await page2.$eval('#token-dialog', (d) => d.open);
      const kept = await page2.evaluate(() => sessionStorage.getItem('gsimclr.token'));
      await page2.waitForTimeout(300);
      allowed = null;
      return { ok: !open && kept === TOKEN, detail: `dialog open ${open}, token kept ${!!kept}` };
    }, [page2]);
    let okT = false;
    await step('with the token for reads, the run page polls and follows a run to succeeded', async () => {
      await page2.goto(`${daemon2.url}/#/submit`);
      await page2.waitForFunction(() => document.querySelectorAll('#preset option').length >= 3);
      const cfg = tinyGsimclr({});
      cfg.name = 'web test: token and polling';
      cfg.simclr.epochs = 1;
      await page2.fill('#config-json', JSON.stringify(cfg, null, 2));
      await page2.click('#submit-run');
      await page2.waitForURL(/#\/runs\/\d+$/);
      await page2.waitForFunction(() => ['polling', 'ended'].includes(document.getElementById('main').dataset.live));
      const mode = await page2.$eval('#main', (m) => m.dataset.live);
      const note = await page2.textContent('#live-note');
      await page2.waitForFunction(() => ['succeeded', 'failed', 'canceled'].includes(document.getElementById('main').dataset.status),
        null, { timeout: RUN_TIMEOUT });
      const status = await page2.$eval('#main', (m) => m.dataset.status);
      okT = status === 'succeeded';
      return { ok: okT && mode === 'polling' && /polling every 2 s/.test(note), detail: `mode ${mode} ("${note}"), status ${status}` };
    }, [page2]);
    await step('with the token for reads, charts fill and a cluster grid loads through the token', async () => {
      await page2.waitForFunction(() => Number(document.querySelector('#chart-simclr').dataset.points) > 0, null, { timeout: 10000 });
      await page2.waitForSelector('#clusters-table tbody tr', { timeout: 10000 });
      await page2.click('#clusters-table tbody tr:first-child button');
      await page2.waitForFunction(() => document.getElementById('cluster-grid').naturalWidth > 0, null, { timeout: 10000 });
      const src = await page2.$eval('#cluster-grid', (i) => i.src);
      return { ok: src.startsWith('blob:'), detail: src };
    }, [okT]);

    // 7. Every view at a laptop's and a phone's size: no wider than the window; screenshots.
    const views = [
      ['runs', '#/runs', '#runs-table tbody tr'],
      ['run', `#/runs/${runA}`, '#clusters-table tbody tr'],
      ['run-simclr', `#/runs/${runB}`, '#chart-simclr canvas'],
      ['compare', `#/compare?ids=${runA},${runB}`, '#compare-acc canvas'],
      ['submit', '#/submit', '#estimate[data-seconds]'],
      ['clone', `#/submit?clone=${runA}`, '#clone-note:not([hidden])'],
      ['datasets', '#/datasets', '#datasets-table tbody tr'],
      ['dataset', '#/datasets/fmpng', '#classes-table tbody tr'],
    ];
    for (const [w, hgt] of SIZES) {
      const ctxS = await browser.newContext({ viewport: { width: w, height: hgt } });
      const pg = watch(await ctxS.newPage());
      for (const [name, hash, ready] of views) {
        await step(`${name} at ${w}x${hgt}: no wider than the window (screenshot)`, async () => {
          await pg.goto(`${S}/${hash}`);
          await pg.waitForSelector(ready, { timeout: 15000 });
          if (name === 'run') { // the widest parts open: a cluster's grid, the mosaic
            await pg.click('#clusters-table tbody tr:first-child button');
            await pg.waitForFunction(() => document.getElementById('cluster-grid').naturalWidth > 0, null, { timeout: 10000 });
          }
          if (name === 'dataset')
            await pg.waitForFunction(() => document.getElementById('dataset-preview').naturalWidth > 0, null, { timeout: 10000 });
          await pg.waitForTimeout(300);
          const width = await pg.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
          let mosaic = true;
          if (name === 'run') {
            await pg.click('#clusters-view-mosaic');
            await pg.waitForTimeout(300);
            mosaic = await pg.evaluate((vw) => document.documentElement.scrollWidth <= vw, w);
          }
          const file = path.join(SHOTS, `${name}-${w}x${hgt}.png`);
          await pg.screenshot({ path: file, fullPage: true });
          return { ok: width <= w && mosaic && fs.statSync(file).size > 5000, detail: `page ${width} px wide in a ${w} px window, mosaic fits ${mosaic}` };
        }, [okA, okB]);
      }
      await ctxS.close();
    }

    await step('no console errors or uncaught exceptions', async () => {
      await page.waitForTimeout(300);
      return { ok: consoleErrors.length === 0, detail: consoleErrors.slice(0, 5).join(' | ') };
    });
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopDaemon(daemon);
    await stopDaemon(daemon2);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const watchdog = setTimeout(() => {
  check('the test finishes within 8 minutes', false);
  for (const d of daemonsStarted) if (d.exitCode === null) d.kill('SIGKILL');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}, OVERALL_TIMEOUT);

main().catch((e) => check('test harness', false, e && e.stack ? e.stack : String(e))).finally(() => {
  clearTimeout(watchdog);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
});
