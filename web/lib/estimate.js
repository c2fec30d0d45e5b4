// How long a run configuration will train, before it is queued: each stage's work counted in
// floating-point operations from the configuration (the networks' convolutions and linear
// layers, k-means' distance products, the kNN monitor's passes, the linear probe's epochs),
// divided by the speed the daemon reached on the same stage kind. That speed comes from the
// newest runs this daemon finished with the same encoder kind and thread count (their stage
// seconds and configurations), else from the default configuration's measured stage times on
// the project's 2-core machine (BENCHMARKS.md). Pure functions: no DOM, no requests.
//
// How good it is (BENCHMARKS.md, "The submit form's estimate"): within about 10 % for runs like
// one the daemon finished, within a factor of 2 when only the reference speeds apply to a
// different encoder size (small convolutions run at a lower rate than large ones); tiny runs
// (seconds) are dominated by fixed costs it counts only roughly.

import { isNum } from './format.js';

// Stage times of the default configuration on the reference machine (BENCHMARKS.md,
// "Upsampled convolutions by phases, and a wider last stage": the default budget, seed 11,
// all 60,000 / 10,000 Fashion-MNIST images, 2 threads), and that configuration's own fields,
// from which the reference speeds follow.
export const REFERENCE = {
  seconds: { dae: 96.0, kmeans: 9.0, simclr: 1458, eval: 37.5 },
  threads: 2,
  config: {
    method: 'gsimclr', subset: 0, test_subset: 0, threads: 2,
    dae: { filters: [16, 32, 64], epochs: 5, batch: 256 },
    kmeans: { k: 512, n_init: 4 },
    simclr: { encoder: { arch: 'cnn3', widths: [24, 48, 384], head: [128, 64] }, epochs: 28, batch: 64,
      knn_every: 4 },
    eval: { linear: { epochs: 100, weight_decays: [0, 1e-5, 1e-4, 1e-3, 1e-2] } },
  },
  where: 'the default configuration’s stage times on a 2-core AMD EPYC (BENCHMARKS.md)',
};
// The dataset of those times.
const REFERENCE_DATA = { train: 60000, test: 10000, c: 1, h: 28, w: 28, classes: 10 };
// A finished run's speed is used for a stage whose work is within this factor of its own.
const SIZE_WINDOW = 4;
// Seconds every run spends outside the stages it reports (loading the data, building nets).
const FIXED_S = 1;

const conv = (cin, cout, h, w, k = 3) => 2 * k * k * cin * cout * h * w;

function encoderWidths(enc) {
  const stages = enc.stages ?? 3;
  if (Array.isArray(enc.widths) && enc.widths.length) return enc.widths;
  const w0 = enc.width ?? 32;
  return Array.from({ length: stages }, (_, s) => w0 * 2 ** s);
}

// The encoder's forward work per image, its feature size and the head's sizes.
export function encoderCost(enc, c, h, w) {
  const widths = encoderWidths(enc);
  let f = 0, cin = c;
  if ((enc.arch || 'resnet') === 'cnn3') {
    for (const ws of widths) {
      f += conv(cin, ws, h, w);
      cin = ws;
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    }
  } else {
    f += conv(cin, widths[0], h, w);
    cin = widths[0];
    widths.forEach((ws, s) => {
      for (let b = 0; b < (enc.blocks ?? 1); b++) {
        const stride = s > 0 && b === 0 ? 2 : 1;
        const ho = Math.ceil(h / stride), wo = Math.ceil(w / stride);
        f += conv(cin, ws, ho, wo) + conv(ws, ws, ho, wo);
        if (stride !== 1 || cin !== ws) f += 2 * cin * ws * ho * wo;
        cin = ws;
        h = ho;
        w = wo;
      }
    });
  }
  const feature = cin;
  const head = Array.isArray(enc.head) ? enc.head : [128, 64];
  let d = feature, headF = 0;
  for (const o of head) { headF += 2 * d * o; d = o; }
  return { backbone: f, total: f + headF, feature, headHidden: head.length > 1 ? head[0] : 0 };
}

// The autoencoder's forward work per image (whole, and its encoder half) and its latent size.
export function daeCost(filters, c, h, w) {
  let f = 0, cin = c;
  const pooled = [];
  for (const fi of filters) {
    f += conv(cin, fi, h, w);
    cin = fi;
    const p = h % 2 === 0 && w % 2 === 0 && h >= 4 && w >= 4;
    pooled.push(p);
    if (p) { h /= 2; w /= 2; }
  }
  const encoder = f;
  for (let i = filters.length - 1; i >= 0; i--) {
    if (pooled[i]) { h *= 2; w *= 2; }
    const cout = filters[i > 0 ? i - 1 : 0];
    f += conv(cin, cout, h, w);
    cin = cout;
  }
  f += conv(cin, c, h, w);
  return { total: f, encoder, latent: filters[filters.length - 1] };
}

// Each stage's work (FLOPs) for configuration cfg (the full one: defaults filled in) on a
// dataset of info = {train, test, c, h, w, classes}; null for a stage the method skips.
export function stageWork(cfg, info) {
  const n = cfg.subset > 0 ? Math.min(cfg.subset, info.train || cfg.subset) : info.train;
  const nt = info.test ? (cfg.test_subset > 0 ? Math.min(cfg.test_subset, info.test) : info.test) : 0;
  const { c = 1, h = 28, w = 28, classes = 10 } = info;
  const guided = cfg.method !== 'simclr';
  const sc = cfg.simclr, enc = encoderCost(sc.encoder || {}, c, h, w);
  const work = {};
  if (guided) {
    const dae = daeCost(cfg.dae.filters, c, h, w);
    // training is about three forward passes' work (forward, input and weight gradients)
    work.dae = cfg.dae.epochs * n * 3 * dae.total + n * dae.encoder;
    work.kmeans = 2 * n * cfg.kmeans.k * dae.latent * cfg.kmeans.n_init;
  }
  const views = sc.epochs * Math.floor(n / sc.batch) * sc.batch * 2;
  const monitors = sc.knn_every > 0 && nt ? Math.floor(sc.epochs / sc.knn_every) : 0;
  work.simclr = views * 3 * enc.total + monitors * ((n + nt) * enc.backbone + 2 * n * nt * enc.feature);
  const lin = cfg.eval.linear;
  const probe = (d) => d ? ((lin.weight_decays || []).length + 1) * lin.epochs * n * d * classes * 6 : 0;
  work.eval = (n + nt) * enc.total + 2 * n * nt * enc.feature + probe(enc.feature) + probe(enc.headHidden);
  return { work, n, test: nt };
}

// Speeds (FLOP/s) per stage: the reference ones (REFERENCE), and those of runs this daemon
// finished, runs = [{id, config, result, info}] newest first (info: their dataset's figures).
export function stageSpeeds(runs = []) {
  const refWork = stageWork(REFERENCE.config, REFERENCE_DATA).work;
  const ref = {}, seen = {};
  for (const s of Object.keys(REFERENCE.seconds)) {
    ref[s] = refWork[s] / REFERENCE.seconds[s];
    seen[s] = [];
  }
  for (const r of runs) {
    if (!r.config || !r.result || !r.info) continue;
    let work;
    try { work = stageWork(r.config, r.info).work; } catch { continue; }
    for (const s of Object.keys(seen)) {
      const secs = r.result[`${s}_seconds`];
      // under half a second the fixed costs swamp the work
      if (!isNum(secs) || secs < 0.5 || !(work[s] > 0)) continue;
      seen[s].push({ id: r.id, speed: work[s] / secs, work: work[s], threads: r.config.threads,
        arch: ((r.config.simclr || {}).encoder || {}).arch });
    }
  }
  return { ref, seen };
}

function median(xs) {
  const a = xs.slice().sort((p, q) => p - q);
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
}

// The estimate for cfg: {stages: {dae, kmeans, simclr, eval} seconds (skipped ones absent),
// total, basis: [{stage, runs: [ids]} or reference]}. null when the dataset's size is unknown.
export function estimateRun(cfg, info, speeds) {
  if (!info || !(info.train > 0 || cfg.subset > 0)) return null;
  const { work } = stageWork(cfg, { ...info, train: info.train || cfg.subset });
  const arch = ((cfg.simclr || {}).encoder || {}).arch;
  const stages = {}, basis = {};
  let total = FIXED_S;
  for (const [s, w] of Object.entries(work)) {
    // runs of a like size only: small networks and short stages run at a lower rate (fixed
    // costs per step and per stage), so a tiny run says little about a long one. The
    // autoencoder and k-means do not depend on the encoder.
    const like = speeds.seen[s].filter((x) => x.threads === cfg.threads &&
      x.work >= w / SIZE_WINDOW && x.work <= w * SIZE_WINDOW &&
      (s === 'dae' || s === 'kmeans' || x.arch === arch)).slice(0, 3);
    let speed;
    if (like.length) {
      speed = median(like.map((x) => x.speed));
      basis[s] = like.map((x) => x.id);
    } else {
      // the reference ran on REFERENCE.threads; more or fewer threads scale it roughly
      speed = speeds.ref[s] * Math.min(cfg.threads || REFERENCE.threads, 2 * REFERENCE.threads) / REFERENCE.threads;
      basis[s] = null;
    }
    stages[s] = w / speed;
    total += stages[s];
  }
  return { stages, total, basis };
}
