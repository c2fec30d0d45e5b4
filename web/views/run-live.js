// The run page's live connection: the event stream GET /v1/runs/{id}/events, or, when reads
// need the token (an EventSource cannot send it) or the stream is refused, polling the run
// every few seconds. Hands what arrives to the run page's handlers; renders nothing itself.

import { TERMINAL, api, auth } from '../lib/api.js';

const POLL_MS = 2000;

// on: { run(run), progress(p), log(line), metric(m), catchUp() (fetches missed metrics),
//       mode(mode, text) (the state of the connection, for the note under the progress bar) }
export function runLive(ctx, id, on) {
  let es = null, pollTimer = null, ended = false;
  ctx.onCleanup(() => { if (es) es.close(); if (pollTimer) clearInterval(pollTimer); });

  function parse(ev) {
    try { return JSON.parse(ev.data); } catch { return null; }
  }

  function startStream() {
    if (auth.readsNeedToken) { startPolling(); return; }
    on.mode('connecting', 'Connecting to the live stream…');
    es = new EventSource(`/v1/runs/${id}/events`);
    es.addEventListener('open', () => {
      if (!ended) on.mode('live', 'Live: updates stream from the daemon.');
    });
    es.addEventListener('run', (ev) => on.run(parse(ev)));
    es.addEventListener('progress', (ev) => { const p = parse(ev); if (p) on.progress(p); });
    es.addEventListener('log', (ev) => { const l = parse(ev); if (l) on.log(l); });
    es.addEventListener('metric', (ev) => { const m = parse(ev); if (m) on.metric(m); });
    es.addEventListener('end', (ev) => {
      ended = true;
      es.close();
      es = null;
      on.run(parse(ev));
      on.catchUp();
      on.mode('ended', 'The run has ended.');
    });
    es.addEventListener('error', () => {
      if (ended || !ctx.alive || !es) return;
      if (es.readyState === EventSource.CLOSED) {
        // Refused (e.g. 401 when reads need a token) or not an event stream: poll instead.
        es.close();
        es = null;
        startPolling();
      } else {
        on.mode('reconnecting', 'Connection lost; reconnecting…');
      }
    });
  }

  function startPolling() {
    if (pollTimer) return;
    on.mode('polling', auth.readsNeedToken
      ? 'The daemon needs the token for reads, and an event stream cannot send it: polling every 2 s (log lines are shown on the live stream only).'
      : 'The live stream is unavailable: polling every 2 s.');
    const tick = async () => {
      try {
        const run = await api.run(id);
        await on.catchUp();
        on.run(run);
        if (TERMINAL.has(run.status)) {
          clearInterval(pollTimer);
          pollTimer = null;
          ended = true;
          on.mode('ended', 'The run has ended.');
        }
      } catch (e) {
        if (ctx.alive) on.mode('polling', `Polling: ${e.message}`);
      }
    };
    pollTimer = setInterval(() => { if (!document.hidden) tick(); }, POLL_MS);
  }

  return { start: startStream };
}
