/* api_events.c — GET /v1/runs/{id}/events, live progress as Server-Sent Events. Each stream
 * is a small state machine polled by the HTTP server: it reads what is new in the store (log
 * events by id, metrics by id, the run's status and stage statuses) and the worker's live
 * snapshot, and writes SSE text into its own buffer, handed out as the server asks, in
 * pieces as small as it likes. It never waits: with nothing new it returns 0 and the
 * connection sleeps until the workers wake the server or its one-second tick. Polls are
 * rate-limited to 4 per second per stream, so a run reporting every step costs each watcher
 * at most four rounds of store reads a second. Every JSON it sends is rendered by
 * api_render.c, the same renderer as GET /v1/runs/{id}. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/bytebuf.h"
#include "api_handlers.h"
#include "api_render.h"

#define POLL_MIN_S 0.25      /* at most 4 polls (and progress events) a second */
#define POLL_MAX_S 1.0       /* and at least one a second, whatever the version says */
#define KEEPALIVE_S 15.0
#define END_GRACE_S 0.5      /* a run's last log lines land just after its final status */
#define EVENTS_PER_POLL 200
#define METRICS_PER_POLL 500

typedef struct {
    Api *api;
    int64_t run;
    int64_t last_event;     /* id of the last log event sent */
    int64_t last_metric;    /* id of the last metric sent */
    uint64_t version;       /* jobs_version at the last poll */
    int status;             /* run status last sent, -1 before the first */
    int stage_status[STAGE_COUNT];
    double last_send, last_poll, terminal_seen;
    bool started, ended, more;
    ByteBuf out;            /* pending output: out.p[off..out.len) */
    size_t off;
} Stream;

static void out_printf(Stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(Stream *s, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        bytebuf_put(&s->out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* One event: its data is one line of JSON (cJSON's unformatted print escapes newlines). */
static void out_event(Stream *s, const char *name, int64_t id, cJSON *data)
{
    char *text = data ? cJSON_PrintUnformatted(data) : NULL;
    cJSON_Delete(data);
    if (!text) {
        s->out.oom = true;
        return;
    }
    if (id > 0)
        out_printf(s, "id: %lld\n", (long long)id);
    out_printf(s, "event: %s\ndata: ", name);
    bytebuf_put(&s->out, text, strlen(text));
    bytebuf_put(&s->out, "\n\n", 2);
    free(text);
}

/* The newest metric id of the run: the stream starts after it (history is at /metrics). */
static int64_t newest_metric(Api *api, int64_t run)
{
    StoreMetric *m = NULL;
    int n = 0;
    GsErr err;
    int64_t last = 0;
    if (store_metrics_get(api->store, run, -1, NULL, 0, 0, &m, &n, &err) == 0 && n > 0)
        last = m[n - 1].id;
    free(m);
    return last;
}

/* One round: everything new since the last one goes into the buffer. */
static void poll_run(Stream *s, uint64_t version, double now)
{
    Api *api = s->api;
    StoreRun r = {0};
    StoreStage st[STAGE_COUNT];
    GsErr err;
    int rc = store_run_get(api->store, s->run, &r, &err);
    if (rc == STORE_NOT_FOUND) {
        s->ended = true; /* deleted: nothing more will come */
        return;
    }
    if (rc != 0 || store_stages_get(api->store, s->run, st, &err) != 0) {
        store_run_free(&r);
        return; /* a passing store failure: try again next round */
    }
    s->more = false;
    s->last_poll = now;

    /* the run as a watcher sees it now, and whether its status or a stage's changed */
    RunView view;
    api_run_view(api, &r, st, &view);
    cJSON *run = api_run_view_json(&r, &view, false);
    bool changed = s->status != (int)r.status;
    for (int i = 0; i < STAGE_COUNT; i++) {
        /* as rendered: a status outside the names shows as "pending" */
        unsigned code = (unsigned)view.stages[i].status;
        int shown = code < SS_COUNT ? (int)code : SS_PENDING;
        if (shown != s->stage_status[i])
            changed = true;
        s->stage_status[i] = shown;
    }
    s->status = (int)r.status;
    double progress = view.progress;

    if (!s->started) {
        s->started = true;
        s->last_metric = newest_metric(api, s->run);
        out_printf(s, "retry: 2000\n\n");
        out_event(s, "run", 0, cJSON_Duplicate(run, 1));
        changed = false;
    }

    /* what was recorded since the last round, in order */
    StoreEvent *ev = NULL;
    int n = 0;
    if (store_events_get(api->store, s->run, s->last_event, EVENTS_PER_POLL, &ev, &n, &err) == 0) {
        for (int i = 0; i < n; i++) {
            out_event(s, "log", ev[i].id, api_log_json(&ev[i]));
            s->last_event = ev[i].id;
        }
        if (n == EVENTS_PER_POLL)
            s->more = true;
        store_events_free(ev, n);
    }
    StoreMetric *m = NULL;
    n = 0;
    if (store_metrics_get(api->store, s->run, -1, NULL, s->last_metric, METRICS_PER_POLL, &m, &n,
                          &err) == 0) {
        for (int i = 0; i < n; i++) {
            out_event(s, "metric", 0, api_metric_json(&m[i]));
            s->last_metric = m[i].id;
        }
        if (n == METRICS_PER_POLL)
            s->more = true;
    }
    free(m);

    bool terminal = run_status_terminal(r.status);
    StageProgress live;
    if (!terminal && version != s->version && jobs_live(api->jobs, s->run, &live))
        out_event(s, "progress", 0, api_progress_json(&live, progress));
    s->version = version;
    if (changed)
        out_event(s, "run", 0, cJSON_Duplicate(run, 1));

    if (terminal) {
        if (s->terminal_seen == 0)
            s->terminal_seen = now;
        /* ended a while ago, or seen ended long enough for its last lines to land */
        bool settled = (r.finished_at > 0 && api_wall() - r.finished_at >= END_GRACE_S) ||
                       now - s->terminal_seen >= END_GRACE_S;
        if (settled && !s->more) {
            out_event(s, "end", 0, run);
            s->ended = true;
            run = NULL;
        }
    }
    cJSON_Delete(run);
    store_run_free(&r);
}

static ssize_t flush(Stream *s, char *buf, size_t max)
{
    size_t n = s->out.len - s->off;
    if (n > max)
        n = max;
    memcpy(buf, s->out.p + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static ssize_t stream_read(void *ctx, char *buf, size_t max)
{
    Stream *s = ctx;
    Api *api = s->api;
    if (max == 0)
        return 0;
    if (s->off < s->out.len)
        return flush(s, buf, max);
    s->off = s->out.len = 0;
    if (s->ended || s->out.oom || atomic_load(&api->shutting_down))
        return -1;

    double now = api_mono();
    uint64_t version = jobs_version(api->jobs);
    bool due = !s->started || s->more || now - s->last_poll >= POLL_MAX_S ||
               (version != s->version && now - s->last_poll >= POLL_MIN_S) ||
               (s->terminal_seen > 0 && now - s->terminal_seen >= END_GRACE_S);
    if (due)
        poll_run(s, version, now);
    if (s->out.len == 0 && !s->ended && now - s->last_send >= KEEPALIVE_S)
        out_printf(s, ": keep-alive\n\n");
    if (s->out.oom)
        return -1;
    if (s->out.len == 0)
        return s->ended ? -1 : 0;
    s->last_send = now;
    return flush(s, buf, max);
}

static void stream_free(void *ctx)
{
    Stream *s = ctx;
    if (!s)
        return;
    bytebuf_free(&s->out);
    free(s);
}

void api_run_events(Api *api, const ApiCall *call, HttpResponse *resp)
{
    const HttpRequest *rq = call->rq;
    int64_t id = call->run;
    if (api_require_run(api, id, resp) != 0)
        return;
    Stream *s = calloc(1, sizeof *s);
    if (!s) {
        api_error(resp, 500, "internal", NULL, "out of memory");
        return;
    }
    s->api = api;
    s->run = id;
    s->status = -1;
    for (int i = 0; i < STAGE_COUNT; i++)
        s->stage_status[i] = -1;
    s->last_send = api_mono();
    /* a reconnecting client says where it stopped; anything unreadable starts over */
    if (rq->last_event_id) {
        char *end;
        long long v = strtoll(rq->last_event_id, &end, 10);
        if (*rq->last_event_id && !*end && v > 0)
            s->last_event = v;
    }
    resp->status = 200;
    resp->content_type = "text/event-stream";
    resp->stream = stream_read;
    resp->stream_ctx = s;
    resp->stream_free = stream_free;
    http_response_header(resp, "Cache-Control", "no-cache");
}
