// The run page's training curves: the autoencoder loss, the SimCLR loss (per epoch and per
// logged step), the learning rate and the kNN monitor, fed one metric at a time from the
// metrics page or the event stream. Step metrics are placed on the epoch axis once the stage's
// step count is known. Draws only; fetches nothing.

import { Chart, PALETTE } from '../lib/chart.js';
import { isNum } from '../lib/format.js';

// stageOf(name): the run's stage of that name as last seen, for its steps per epoch.
export function runCharts(ctx, stageOf) {
  const chartDefs = {
    dae: new Chart('Denoising autoencoder: reconstruction loss (MSE) per epoch', {
      yLabel: 'loss', intX: true, series: [{ key: 'loss', label: 'dae loss', color: PALETTE[2] }],
      emptyText: 'No autoencoder epoch finished yet.' }),
    simclr: new Chart('SimCLR: NT-Xent loss', {
      yLabel: 'loss',
      series: [
        { key: 'step_loss', label: 'step loss', color: '#9aa9c3', width: 1, pointSize: 3 },
        { key: 'loss', label: 'epoch mean', color: PALETTE[1] },
      ],
      emptyText: 'No SimCLR loss yet.' }),
    lr: new Chart('SimCLR: learning rate', {
      yLabel: 'lr', intX: true, series: [{ key: 'lr', label: 'lr', color: PALETTE[3] }],
      emptyText: 'No learning rate recorded yet.' }),
    knn: new Chart('SimCLR: kNN top-1 during training', {
      yLabel: 'top-1', intX: true, series: [{ key: 'knn_top1', label: 'kNN top-1', color: PALETTE[0] }],
      emptyText: 'Set simclr.knn_every to monitor kNN accuracy during training.' }),
  };
  chartDefs.dae.el.id = 'chart-dae';
  chartDefs.simclr.el.id = 'chart-simclr';
  chartDefs.lr.el.id = 'chart-lr';
  chartDefs.knn.el.id = 'chart-knn';
  chartDefs.knn.el.hidden = true;
  ctx.onCleanup(() => Object.values(chartDefs).forEach((c) => c.destroy()));

  const metricIds = new Set();
  let lastMetricId = 0;
  const pendingSteps = []; // step metrics that came before the stage's step count was known

  function stepsPerEpoch(stage) {
    const s = stageOf(stage);
    if (s && isNum(s.steps) && isNum(s.epochs) && s.steps > 0 && s.epochs > 0) return s.steps / s.epochs;
    return null;
  }

  function addMetric(m) {
    if (!m || m.id == null || metricIds.has(m.id)) return;
    metricIds.add(m.id);
    if (m.id > lastMetricId) lastMetricId = m.id;
    plotMetric(m);
  }
  function plotMetric(m) {
    const perEpoch = m.step >= 0 ? stepsPerEpoch(m.stage) : null;
    if (m.step >= 0 && perEpoch == null) { pendingSteps.push(m); return; }
    const x = m.step >= 0 ? m.step / perEpoch : m.epoch;
    if (m.stage === 'dae' && m.name === 'loss' && m.step < 0) chartDefs.dae.add('loss', x, m.value);
    else if (m.stage === 'simclr' && m.name === 'loss' && m.step < 0) chartDefs.simclr.add('loss', x, m.value);
    else if (m.stage === 'simclr' && m.name === 'step_loss') chartDefs.simclr.add('step_loss', x, m.value);
    else if (m.stage === 'simclr' && m.name === 'lr') chartDefs.lr.add('lr', x, m.value);
    else if (m.stage === 'simclr' && m.name === 'knn_top1') { chartDefs.knn.el.hidden = false; chartDefs.knn.add('knn_top1', x, m.value); }
  }
  function flushPendingSteps() {
    if (!pendingSteps.length) return;
    const left = pendingSteps.splice(0);
    for (const m of left) plotMetric(m);
  }

  return {
    els: Object.values(chartDefs).map((c) => c.el),
    addMetric,
    flushPendingSteps,
    // The newest metric id seen: the next metrics page starts after it.
    get lastMetricId() { return lastMetricId; },
    // Plain SimCLR has no autoencoder stage, so no autoencoder chart.
    setMethod(method) { chartDefs.dae.el.hidden = method === 'simclr'; },
  };
}
