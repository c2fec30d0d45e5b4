// Browser test of the gsimclrd web page: starts bin/gsimclrd on a free port with a temporary
// data folder, drives Debian's Chromium (/usr/bin/chromium) through playwright-core, and walks
// the page as a person would: the runs list, the submit form (quick preset edited to a tiny
// run), live progress on the run page, the loss charts, the clusters and a cluster's image grid,
// a second (plain SimCLR) run, the compare view, a refused submit, cancel and delete from the
// list, a sweep (submitted, followed live, its table, chart, differences and verdict, deleted),
// and a second daemon listening beyond loopback with --token-file (the token dialog, and
// the run page polling since an EventSource cannot send the token). Any console error or
// uncaught exception fails the test. Screenshots go to build/web-test*.png.
//
//   node tests/web/test_web.mjs            (from the repository root; needs `npm ci` in tests/web)
//
// Environment: GS_WEB_DAEMON   the daemon command (default bin/gsimclrd; extra words are passed
//                              before the test's own options)
//              GS_WEB_CHROMIUM the browser (default /usr/bin/chromium)
//              GS_WEB_TIMEOUT  seconds a run may take to succeed (default 90)
//              GS_WEB_HEADED=1 show the browser window; GS_WEB_VERBOSE=1 echo the daemon's stderr
// The last line printed is "N passed, N failed"; the exit code is non-zero on any failure.

import { spawn } from 'node:child_process';
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
const SHOT = path.join(ROOT, 'build', 'web-test.png');

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
    try {
      daemon = await startDaemon(dataDir);
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
    await step('loss charts are drawn (SimCLR and autoencoder canvases with data)', async () => {
      await page.waitForFunction(() => {
        const c = document.querySelector('#chart-simclr');
        return c && Number(c.dataset.points) > 0 && c.querySelector('canvas');
      }, null, { timeout: 10000 });
      const info = await page.evaluate(() => ['#chart-simclr', '#chart-dae', '#chart-lr'].map((s) => {
        const el = document.querySelector(s);
        const cv = el && el.querySelector('canvas');
        return { s, points: el ? Number(el.dataset.points) : -1, canvas: !!cv, w: cv ? cv.width : 0 };
      }));
      return { ok: info.every((i) => i.points > 0 && i.canvas && i.w > 0), detail: JSON.stringify(info) };
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
    fs.mkdirSync(path.dirname(SHOT), { recursive: true });
    await step('screenshot of the run page', async () => {
      await page.screenshot({ path: SHOT, fullPage: true });
      return fs.statSync(SHOT).size > 10000;
    });

    // 4. A second run, plain SimCLR, then the compare view.
    let runB = null;
    const okB = await step('a plain SimCLR run submitted from the form succeeds', async () => {
      await page.goto(`${S}/#/submit`);
      await page.waitForFunction(() => document.querySelectorAll('#preset option').length >= 3);
      await page.selectOption('#preset', 'simclr');
      await page.fill('#config-json', JSON.stringify(tinySimclr(), null, 2));
      await page.click('#submit-run');
      await page.waitForURL(/#\/runs\/\d+$/);
      runB = Number(/#\/runs\/(\d+)$/.exec(page.url())[1]);
      await page.waitForFunction(() => ['succeeded', 'failed', 'canceled'].includes(document.getElementById('main').dataset.status),
        null, { timeout: RUN_TIMEOUT });
      const badge = (await page.textContent('#run-status .badge')).trim();
      const st = await page.$$eval('#timeline li', (lis) => lis.map((li) => `${li.dataset.stage}:${li.dataset.status}`));
      return { ok: badge === 'succeeded' && st.join(',') === 'dae:skipped,kmeans:skipped,simclr:succeeded,eval:succeeded', detail: `${badge} ${st}` };
    });
    await step('runs list shows both runs as succeeded', async () => {
      await page.click('a[data-nav="runs"]');
      await page.waitForSelector(`#runs-table tr[data-run-id="${runA}"]`);
      await page.waitForSelector(`#runs-table tr[data-run-id="${runB}"]`);
      const txt = await page.$$eval('#runs-table tbody tr', (trs) => trs.map((t) => t.textContent));
      return { ok: txt.length === 2 && txt.every((t) => /succeeded/.test(t) && /\d+\.\d\d %/.test(t)), detail: txt.join(' / ').slice(0, 300) };
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
        ok: cols.length === 2 && cols.includes(runA) && cols.includes(runB) && methods.join() === 'gsimclr,simclr' && lin.every((t) => /%$/.test(t)),
        detail: `columns ${cols}, methods ${methods}, linear ${lin}`,
      };
    }, [okA, okB]);
    await step('compare chart overlays both SimCLR loss curves', async () => {
      await page.waitForFunction(() => {
        const c = document.getElementById('compare-chart');
        return c && c.querySelector('canvas') && Number(c.dataset.points) >= 4;
      }, null, { timeout: 10000 });
      const series = await page.$$eval('#compare-chart .u-legend .u-series', (s) => s.length);
      return { ok: series === 3, detail: `${series} legend entries (x + 2 runs)` };
    }, [okA, okB]);
    await step('screenshot of the compare view', async () => {
      const p = SHOT.replace(/\.png$/, '-compare.png');
      await page.screenshot({ path: p, fullPage: true });
      return fs.statSync(p).size > 5000;
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
      // some run ended while others had not: the page updated as runs finished
      await page.waitForFunction(() => {
        const st = [...document.querySelectorAll('#sweep-runs tbody .badge')].map((b) => b.textContent);
        return st.includes('succeeded') && st.some((s) => s !== 'succeeded');
      }, null, { timeout: RUN_TIMEOUT });
      await page.waitForFunction(() => /succeeded/.test(document.querySelector('#sweep-status').textContent),
        null, { timeout: 6 * RUN_TIMEOUT });
      return true;
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
