// Where a metric of a run goes on a chart's x axis: by the stage's step, by epoch, or by wall
// time since the run started. The run page and the compare view share it, so a curve sits at
// the same place in both. Pure: reads the run as last seen and the metric, builds nothing.
//
// Metrics (docs/API.md): a per-step value has step >= 0 (the global step within its stage,
// counted after the step), a per-epoch value step -1 and its epoch (1-based, at the epoch's
// end). An epoch's mean is placed in the middle of its epoch (mid: true), where the step
// values it averages lie, so the two do not seem to disagree; the eval stage's values sit at
// the end of training.

import { isNum, parseTime } from './format.js';

// The x axis label of each mode.
export const X_LABELS = { step: 'step', epoch: 'epoch', wall: 'wall time since start' };

// run: the run object (stages with steps/epochs, started_at), or a function giving the run as
// last seen. Returns x(m, mode, {mid}) -> a number, or null when the run does not tell yet (its
// stage's steps per epoch unknown).
export function xMapper(run) {
  const current = typeof run === 'function' ? run : () => run;
  // The time each (stage, epoch) ended, learnt from the per-epoch metrics seen, for the middle
  // of an epoch in wall time.
  const epochEnds = new Map();
  let stages = new Map(), t0 = null;

  function perEpoch(stage) {
    const s = stages.get(stage);
    return s && isNum(s.steps) && isNum(s.epochs) && s.steps > 0 && s.epochs > 0 ? s.steps / s.epochs : null;
  }
  function seconds(m) {
    const t = parseTime(m.time);
    return t && t0 ? (t - t0) / 1000 : null;
  }

  return function x(m, mode, { mid = false } = {}) {
    const r = current();
    stages = new Map(((r && r.stages) || []).map((s) => [s.name, s]));
    t0 = parseTime(r && r.started_at);
    if (mode === 'wall') {
      const s = seconds(m);
      if (s == null) return null;
      if (m.step < 0) {
        const key = `${m.stage}:${m.epoch}`;
        epochEnds.set(key, s);
        if (mid) {
          const prev = epochEnds.get(`${m.stage}:${m.epoch - 1}`);
          const st = stages.get(m.stage);
          const start = prev != null ? prev : (st && parseTime(st.started_at) && t0
            ? (parseTime(st.started_at) - t0) / 1000 : null);
          return start != null && start <= s ? (start + s) / 2 : s;
        }
      }
      return s;
    }
    // eval's figures: at the end of SimCLR training
    const stage = m.stage === 'eval' ? 'simclr' : m.stage;
    const pe = perEpoch(stage);
    if (m.stage === 'eval') {
      const st = stages.get('simclr');
      if (mode === 'epoch') return st && isNum(st.epochs) ? st.epochs : null;
      return st && isNum(st.steps) ? st.steps : null;
    }
    const epochs = m.step >= 0 ? (pe ? m.step / pe : null) : m.epoch - (mid ? 0.5 : 0);
    if (epochs == null) return null;
    if (mode === 'epoch') return epochs;
    return pe ? epochs * pe : (m.step >= 0 ? m.step : null);
  };
}
