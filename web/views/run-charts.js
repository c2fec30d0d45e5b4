// The run page's training curves: the autoencoder loss, the SimCLR loss (every logged step,
// smoothed, with each epoch's mean in the middle of its epoch), the learning rate per step
// (the warm-up shows), and accuracy during training (the kNN monitor, every simclr.knn_every
// epochs, with the final kNN and linear top-1 when the run has them). Above them the controls:
// x axis by step, epoch or wall time, smoothing, log scale. Fed one metric at a time from the
// metrics page or the event stream; draws only, fetches nothing.

import { Chart, PALETTE, chartControls } from '../lib/chart.js';
import { X_LABELS, xMapper } from '../lib/curves.js';
import { fmtClockDur, fmtPct } from '../lib/format.js';

// currentRun(): the run as last seen (its stages give the steps per epoch, its start the wall
// time's origin).
export function runCharts(ctx, currentRun) {
  const pct = (v) => fmtPct(v).replace(' ', '');
  const charts = {
    dae: new Chart('Denoising autoencoder: reconstruction loss (MSE) per epoch', {
      yLabel: 'loss', series: [{ key: 'loss', label: 'dae loss', color: PALETTE[2] }],
      emptyText: 'No autoencoder epoch finished yet.' }),
    simclr: new Chart('SimCLR: NT-Xent loss', {
      yLabel: 'loss',
      series: [
        { key: 'step_loss', label: 'step loss', color: PALETTE[1], smooth: true },
        { key: 'loss', label: 'epoch mean (mid-epoch)', color: '#1d2330', markers: true, pointSize: 8 },
      ],
      emptyText: 'No SimCLR loss yet.' }),
    lr: new Chart('SimCLR: learning rate', {
      yLabel: 'lr',
      series: [
        { key: 'step_lr', label: 'lr per step', color: PALETTE[3], width: 2 },
        { key: 'lr', label: 'lr at epoch end', color: PALETTE[3], markers: true, pointSize: 6 },
      ],
      emptyText: 'No learning rate recorded yet.' }),
    acc: new Chart('Accuracy during training (top-1 on the test images)', {
      yLabel: 'top-1', yFormat: pct,
      series: [
        { key: 'knn_monitor', label: 'kNN monitor', color: PALETTE[0] },
        { key: 'knn_final', label: 'kNN (final)', color: PALETTE[0], markers: true, pointSize: 9 },
        { key: 'linear_final', label: 'linear (final)', color: PALETTE[2], markers: true, pointSize: 9 },
      ],
      emptyText: 'No accuracy yet: the kNN monitor reports every simclr.knn_every epochs (0 = off), the evaluation at the end.' }),
  };
  charts.dae.el.id = 'chart-dae';
  charts.simclr.el.id = 'chart-simclr';
  charts.lr.el.id = 'chart-lr';
  charts.acc.el.id = 'chart-acc';
  ctx.onCleanup(() => Object.values(charts).forEach((c) => c.destroy()));

  // [stage, metric name, chart, series key, {mid}] for every metric drawn
  const ROUTE = [
    ['dae', 'loss', 'dae', 'loss'],
    ['simclr', 'step_loss', 'simclr', 'step_loss'],
    ['simclr', 'loss', 'simclr', 'loss', { mid: true }],
    ['simclr', 'step_lr', 'lr', 'step_lr'],
    ['simclr', 'lr', 'lr', 'lr'],
    ['simclr', 'knn_top1', 'acc', 'knn_monitor'],
    ['eval', 'knn_top1', 'acc', 'knn_final'],
    ['eval', 'linear_top1', 'acc', 'linear_final'],
  ];

  const metricIds = new Set();
  const all = [];       // every metric drawn, in arrival order, to draw again on a change
  let pending = 0;      // metrics that could not be placed yet (steps per epoch unknown)
  let lastMetricId = 0;
  let mode = 'step';
  let x = xMapper(currentRun);

  function plot(m) {
    const r = ROUTE.find(([st, name]) => st === m.stage && name === m.name && (name !== 'loss' || m.step < 0));
    if (!r) return true;
    const v = x(m, mode, r[4] || {});
    if (v == null) return false;
    charts[r[2]].add(r[3], v, m.value);
    return true;
  }

  function addMetric(m) {
    if (!m || m.id == null || metricIds.has(m.id)) return;
    metricIds.add(m.id);
    if (m.id > lastMetricId) lastMetricId = m.id;
    all.push(m);
    if (!plot(m)) pending++;
  }

  // Draws everything again (a new x axis, or steps per epoch now known).
  function replot() {
    x = xMapper(currentRun);
    for (const c of Object.values(charts)) c.clear();
    pending = 0;
    for (const m of all) if (!plot(m)) pending++;
  }

  function setView(v) {
    mode = v.x;
    const wall = mode === 'wall';
    for (const c of Object.values(charts)) {
      c.setView({ xLabel: X_LABELS[mode], intX: mode === 'epoch', xFormat: wall ? fmtClockDur : null,
        smoothing: v.smoothing, logY: v.logY && c !== charts.acc });
    }
    replot();
  }
  const controls = chartControls('gsimclr.run-charts', setView, { idPrefix: 'run-chart' });

  return {
    controls: controls.el,
    els: Object.values(charts).map((c) => c.el),
    addMetric,
    // The run was updated: metrics waiting for its steps per epoch can be placed now.
    runChanged() { if (pending) replot(); },
    // The newest metric id seen: the next metrics page starts after it.
    get lastMetricId() { return lastMetricId; },
    // Plain SimCLR has no autoencoder stage, so no autoencoder chart.
    setMethod(method) { charts.dae.el.hidden = method !== 'gsimclr'; },
    // How many accuracy points the chart holds (the browser test reads data-points too).
    accuracyPoints: () => charts.acc.count(),
  };
}

