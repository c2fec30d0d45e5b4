/* jobs.c — the job queue's workers. Each worker claims the oldest queued run from the store,
 * loads its data, resumes it from its newest checkpoint when it has one, and runs the
 * pipeline with a sink that records everything in the store. The worker owns the run while
 * it trains; request handlers only read the live-progress snapshot under the jobs lock.
 * A checkpoint's format version and CRC are read here (the pipeline's checkpoint module)
 * and handed to the store, which never parses one. Nothing here speaks HTTP or SQL. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "crashpoint.h"
#include "launch.h"
#include "shared.h"
#include "gs/checkpoint.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/embeddings.h"
#include "gs/jobs.h"

typedef struct Jobs Jobs;

typedef struct {
    Jobs *jobs;
    pthread_t thread;
    bool started;
    /* guarded by jobs->mu */
    int64_t run;            /* the run being trained, 0 when idle */
    bool has_live;
    StageProgress live;
    atomic_int cancel;    /* read by the pipeline every step */
    /* for the daemon's log; the worker's own thread only */
    double t0;              /* monotonic seconds when it claimed the run */
    int stage;              /* the stage running now, -1 before the first */
} Worker;

struct Jobs {
    Store *st;
    JobsConfig cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;          /* guarded by mu */
    unsigned long kicks;    /* guarded by mu: bumped by jobs_submitted */
    Worker *workers;
    int n_workers;
    atomic_uint_fast64_t version;
    atomic_ulong steps_total;
    /* guarded by mu: the queue waits of the runs started here (JobsStats), per bucket */
    unsigned long wait_counts[JOBS_WAIT_BUCKETS + 1];
    double wait_sum;
    atomic_long last_notify_ms;
    SharedClaims *claims;   /* shared stages being computed (shared.h) */
    /* guarded by mu: processes lost by each multi-process run this daemon ran (the newest
     * JOBS_MAX_WORKERS runs that lost one), for the bound on its resumes */
    struct {
        int64_t run;
        int lost;
    } losses[JOBS_MAX_WORKERS];
    int next_loss;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Something changed: bump the version and tell the watcher, at most every 100 ms unless
 * forced (a status change must not wait for the next tick). */
static void changed(Jobs *j, bool force)
{
    atomic_fetch_add(&j->version, 1);
    if (!j->cfg.notify)
        return;
    long now = mono_ms(), last = atomic_load(&j->last_notify_ms);
    if (force || now - last >= 100) {
        atomic_store(&j->last_notify_ms, now);
        j->cfg.notify(j->cfg.notify_ctx);
    }
}

/* A store failure inside a worker has no caller to return to: it goes to stderr, and the
 * sink callbacks that must not lose data (checkpoints, pseudo-labels) stop the run. */
static void report(int64_t run, const char *what, const GsErr *err)
{
    fprintf(stderr, "gsimclrd: run %lld: %s: %s\n", (long long)run, what, err->msg);
}

/* ---- the daemon's log ------------------------------------------------------------- */

/* One line on stderr per thing an operator follows: a run's start, each stage's end with its
 * duration and key figure, the run's end with its duration. Each line is
 * "gsimclrd: run ID <what>", so `grep 'gsimclrd: run 3 '` gives one run's story; text that
 * people wrote (a name) or that came from elsewhere (an error) is shown on that one line, its
 * quotes and control characters escaped. */
static void log_run(int64_t run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_run(int64_t run, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* one write, so lines of two workers never mix */
    fprintf(stderr, "gsimclrd: run %lld %s\n", (long long)run, line);
}

/* s on one line into buf: newlines, tabs and other control bytes as \n, \t, \xNN; quotes
 * and backslashes escaped; cut (with "...") to fit. */
static const char *one_line(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s && *s && n + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            n += (size_t)snprintf(buf + n, cap - n, "\\n");
        else if (c == '\t')
            n += (size_t)snprintf(buf + n, cap - n, "\\t");
        else if (c == '"' || c == '\\')
            n += (size_t)snprintf(buf + n, cap - n, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
        else
            buf[n++] = (char)c;
    }
    if (s && *s)
        n += (size_t)snprintf(buf + n, cap - n, "...");
    buf[n < cap ? n : cap - 1] = 0;
    return buf;
}

/* The figures a stage's end line shows, from the metrics the stage reports: what tells at a
 * glance whether it went well. */
static const struct {
    int stage;
    const char *metric, *label;
} KEY_FIGURES[] = {
    {STAGE_DAE, "loss", "loss"},
    {STAGE_KMEANS, "inertia", "inertia"},
    {STAGE_KMEANS, "purity", "purity"},
    {STAGE_SIMCLR, "loss", "loss"},
    {STAGE_EVAL, "linear_top1", "linear top-1"},
};
#define N_KEY_FIGURES (int)(sizeof KEY_FIGURES / sizeof KEY_FIGURES[0])

int jobs_checkpoint_put(Store *st, int64_t run, const StorePos *at, const void *blob,
                        size_t len, int keep, const StoreStage *row, int64_t *id, GsErr *err)
{
    CkptReader r;
    GsErr why;
    if (ckpt_open(&r, blob, len, &why) != 0)
        return gs_errf(err, "run %" PRId64 ": refusing a bad checkpoint: %s", run, why.msg);
    return store_checkpoint_put(st, run, at, (int)r.version, r.crc, blob, len, keep, row, id,
                                err);
}

/* ---- the sink of one run ---------------------------------------------------------- */

/* Every write of the sink is a row at a position the pipeline reported (pipeline.h), and the
 * pipeline reports all of a position before the checkpoint there: a crash at any moment
 * leaves rows up to some point, the resume deletes those after the newest checkpoint, and the
 * pipeline reports them again. The first write that fails ends the writing: nothing after it
 * is stored (a later row without it would leave a gap), the pipeline is stopped and the run
 * fails with the store's reason. */
typedef struct {
    Worker *w;
    int64_t run;
    int stage;              /* the stage progress was last reported for, -1 none */
    int epoch;              /* and its epoch */
    double stage_t0;        /* when that stage started in this attempt */
    double started_at;      /* when it first started (kept across resumes) */
    double seconds_before[STAGE_COUNT]; /* stage seconds stored before this attempt */
    double stored_started[STAGE_COUNT]; /* stage start times stored before this attempt */
    StageProgress last;
    bool failed;            /* a write failed: the run stops and fails with `cause` */
    GsErr cause;
    /* for the daemon's log: the last value of each KEY_FIGURES metric (NaN: none yet), and
     * the stages whose end is logged (one bit each) */
    double key[N_KEY_FIGURES];
    unsigned logged;
    SharedRun share;        /* the shared stages it reuses or computes (shared.h) */
} RunSink;

/* The log line of stage s's end: seconds over every attempt, and its key figures. */
static void log_stage_end(RunSink *rs, int s, double seconds)
{
    char figs[200] = "";
    size_t n = 0;
    if (rs->logged & 1u << s)
        return;
    rs->logged |= 1u << s;
    for (int i = 0; i < N_KEY_FIGURES; i++)
        if (KEY_FIGURES[i].stage == s && isfinite(rs->key[i]) && n < sizeof figs)
            n += (size_t)snprintf(figs + n, sizeof figs - n, "%s %s %.6g", n ? "," : ":",
                                  KEY_FIGURES[i].label, rs->key[i]);
    log_run(rs->run, "stage %s done in %.1f s%s", STAGE_NAMES[s], seconds, figs);
}

/* A write of the sink failed: keep the first reason, and stop the pipeline. */
static void sink_failed(RunSink *rs, const char *what, const GsErr *err)
{
    report(rs->run, what, err);
    if (rs->failed)
        return;
    rs->failed = true;
    gs_errf(&rs->cause, "could not store %s: %s", what, err->msg);
    atomic_store(&rs->w->cancel, 1);
}

/* The stage row of progress p, as stored. */
static StoreStage stage_row(const RunSink *rs, const StageProgress *p, StageStatus status,
                            double finished_at)
{
    StoreStage s = {.progress = *p,
                    .status = status,
                    .seconds = rs->seconds_before[p->stage] + now_s() - rs->stage_t0,
                    .started_at = rs->started_at,
                    .finished_at = finished_at};
    if (status != SS_RUNNING)
        s.progress.eta_s = 0;
    return s;
}

static void put_stage(RunSink *rs, const StageProgress *p, StageStatus status, double finished_at)
{
    GsErr err;
    if (rs->failed)
        return;
    StoreStage s = stage_row(rs, p, status, finished_at);
    if (store_stage_put(rs->w->jobs->st, rs->run, &s, &err))
        sink_failed(rs, "a stage's progress", &err);
}

static void sink_progress(void *ctx, const StageProgress *p)
{
    RunSink *rs = ctx;
    Jobs *j = rs->w->jobs;
    bool new_stage = p->stage != rs->stage, new_epoch = new_stage || p->epoch != rs->epoch;
    if (new_stage) {
        if (rs->stage >= 0) {
            put_stage(rs, &rs->last, SS_SUCCEEDED, now_s());
            log_stage_end(rs, rs->stage, rs->seconds_before[rs->stage] + now_s() - rs->stage_t0);
        }
        shared_run_stage(j->claims, &rs->share, p->stage);
        rs->stage = p->stage;
        rs->w->stage = p->stage;
        rs->stage_t0 = now_s();
        rs->started_at = rs->stored_started[p->stage] > 0 ? rs->stored_started[p->stage]
                                                           : now_s();
    }
    /* the stored row follows each epoch; the live snapshot follows every step */
    if (new_epoch)
        put_stage(rs, p, SS_RUNNING, NAN);
    rs->epoch = p->epoch;
    rs->last = *p;
    pthread_mutex_lock(&j->mu);
    rs->w->live = *p;
    rs->w->has_live = true;
    pthread_mutex_unlock(&j->mu);
    if (p->stage == STAGE_DAE || p->stage == STAGE_SIMCLR)
        atomic_fetch_add(&j->steps_total, 1);
    changed(j, new_epoch);
    crash_point("step");
}

static void sink_metric(void *ctx, int stage, int epoch, long step, const char *name,
                        double value)
{
    RunSink *rs = ctx;
    GsErr err;
    if (rs->failed)
        return;
    if (store_metric_add(rs->w->jobs->st, rs->run, stage, epoch, step, name, value, now_s(),
                         &err)) {
        sink_failed(rs, "a metric", &err);
        return;
    }
    for (int i = 0; i < N_KEY_FIGURES; i++)
        if (KEY_FIGURES[i].stage == stage && step < 0 && strcmp(KEY_FIGURES[i].metric, name) == 0)
            rs->key[i] = value;
    crash_point("metric");
    changed(rs->w->jobs, false);
}

static int sink_checkpoint(void *ctx, int stage, int epoch, long step, const void *data,
                           size_t len)
{
    RunSink *rs = ctx;
    GsErr err;
    int64_t id;
    if (rs->failed)
        return -1;
    StorePos at = {.stage = stage, .epoch = epoch, .step = step < 0 ? STORE_END_OF_EPOCH : step};
    /* the stage row's figures at the checkpoint commit with it, so a resume restores them */
    StoreStage row = stage_row(rs, &rs->last, SS_RUNNING, 0);
    if (jobs_checkpoint_put(rs->w->jobs->st, rs->run, &at, data, len,
                            rs->w->jobs->cfg.keep_checkpoints, stage == rs->stage ? &row : NULL,
                            &id, &err)) {
        sink_failed(rs, "a checkpoint", &err);
        return -1;
    }
    crash_point("ckpt");
    shared_run_checkpoint(rs->w->jobs->claims, rs->w->jobs->st, rs->run, &rs->share, stage,
                          epoch, step, id, row.seconds);
    return 0;
}

static void sink_log(void *ctx, int stage, int epoch, const char *line)
{
    RunSink *rs = ctx;
    GsErr err;
    int64_t id;
    if (rs->failed || shared_run_drop_log(&rs->share, stage))
        return;
    StorePos at = {.stage = stage, .epoch = epoch, .step = STORE_END_OF_EPOCH};
    if (store_event_add(rs->w->jobs->st, rs->run, &at, "log", line, now_s(), &id, &err)) {
        sink_failed(rs, "a log line", &err);
        return;
    }
    changed(rs->w->jobs, true);
}

static int sink_assignments(void *ctx, const int32_t *assign, const int32_t *labels, int n,
                            int k)
{
    RunSink *rs = ctx;
    GsErr err;
    (void)k;
    if (rs->failed)
        return -1;
    /* where pipeline.h says the pseudo-labels are reported */
    StorePos at = {.stage = STAGE_KMEANS, .epoch = 1, .step = STORE_END_OF_EPOCH};
    if (store_assignments_put(rs->w->jobs->st, rs->run, &at, assign, labels, n, &err)) {
        sink_failed(rs, "the pseudo-labels", &err);
        return -1;
    }
    crash_point("assign");
    return 0;
}

/* The eval stage's features, kept as .npy files for GET /v1/runs/{id}/embeddings. A run's
 * figures do not depend on them, so a failure to write them (a full disk) is told in the
 * run's events and the run goes on. */
static int sink_features(void *ctx, int d, const float *train, const int32_t *train_labels,
                         int n_train, const float *test, const int32_t *test_labels, int n_test)
{
    RunSink *rs = ctx;
    const char *dir = rs->w->jobs->cfg.embeddings_dir;
    GsErr err;
    int64_t id;
    if (dir && embeddings_write(dir, rs->run, d, train, train_labels, n_train, test,
                                test_labels, n_test, &err)) {
        char line[600];
        /* a line of the eval stage: a resume before it deletes it with the stage's rows */
        StorePos at = {.stage = STAGE_EVAL, .epoch = rs->epoch, .step = STORE_END_OF_EPOCH};
        snprintf(line, sizeof line, "the embeddings could not be stored: %s", err.msg);
        if (store_event_add(rs->w->jobs->st, rs->run, &at, "log", line, now_s(), &id, &err))
            report(rs->run, "event", &err);
    }
    return 0;
}

/* The hosts of a multi-process run's processes, once its ranks told them: stored with the
 * run (GET /v1/runs/{id}: "hosts") and logged. */
static void sink_hosts(void *ctx, const char *const *hosts, int n)
{
    RunSink *rs = ctx;
    GsErr err;
    cJSON *arr = cJSON_CreateArray();
    char line[600];
    size_t used = 0;
    line[0] = 0;
    for (int i = 0; arr && i < n; i++) {
        cJSON_AddItemToArray(arr, cJSON_CreateString(hosts[i]));
        if (used < sizeof line)
            used += (size_t)snprintf(line + used, sizeof line - used, "%s%s", i ? ", " : "",
                                     hosts[i]);
    }
    char *json = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!json || store_run_set_hosts(rs->w->jobs->st, rs->run, json, &err))
        report(rs->run, "hosts", json ? &err : &(GsErr){"out of memory"});
    free(json);
    char esc[700];
    log_run(rs->run, "%d processes on %s", n, one_line(esc, sizeof esc, line));
    changed(rs->w->jobs, true);
}

/* One more process lost by run id: the count so far, this one included. */
static int count_loss(Jobs *j, int64_t id)
{
    int n = 0;
    pthread_mutex_lock(&j->mu);
    int at = -1;
    for (int i = 0; i < JOBS_MAX_WORKERS; i++)
        if (j->losses[i].run == id)
            at = i;
    if (at < 0) {
        at = j->next_loss;
        j->next_loss = (j->next_loss + 1) % JOBS_MAX_WORKERS;
        j->losses[at].run = id;
        j->losses[at].lost = 0;
    }
    n = ++j->losses[at].lost;
    pthread_mutex_unlock(&j->mu);
    return n;
}

/* ---- one run ---------------------------------------------------------------------- */

static void event(Jobs *j, int64_t run, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void event(Jobs *j, int64_t run, const char *kind, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    GsErr err;
    int64_t id;
    if (store_event_add(j->st, run, NULL, kind, msg, now_s(), &id, &err))
        report(run, "event", &err);
    changed(j, true);
}

/* " (in simclr)": the stage w was in, for the log line of a run that stopped early. */
static const char *in_stage(const Worker *w, char *buf, size_t cap)
{
    buf[0] = 0;
    if (w->stage >= 0 && w->stage < STAGE_COUNT)
        snprintf(buf, cap, " (in %s)", STAGE_NAMES[w->stage]);
    return buf;
}

static void finish(Worker *w, int64_t run, RunStatus to, const char *result, const char *error)
{
    Jobs *j = w->jobs;
    GsErr err;
    char where[32], text[600];
    if (store_run_finish(j->st, run, to, result, error, &err))
        report(run, "finish", &err);
    event(j, run, "status", "%s%s%s", RUN_STATUS_NAMES[to], error ? ": " : "",
          error ? error : "");
    double took = mono_s() - w->t0;
    if (to == RUN_SUCCEEDED)
        log_run(run, "succeeded in %.1f s", took);
    else
        log_run(run, "%s after %.1f s%s%s%s", RUN_STATUS_NAMES[to], took,
                in_stage(w, where, sizeof where), error ? ": " : "",
                error ? one_line(text, sizeof text, error) : "");
}

/* The last stage rows' figures once the pipeline has finished every stage. */
static void stages_done(RunSink *rs, const RunResult *res)
{
    GsErr err;
    StoreStage st[STAGE_COUNT];
    if (store_stages_get(rs->w->jobs->st, rs->run, st, &err)) {
        sink_failed(rs, "the stages", &err);
        return;
    }
    for (int s = 0; s < STAGE_COUNT && !rs->failed; s++) {
        if (st[s].status == SS_SKIPPED)
            continue;
        st[s].status = SS_SUCCEEDED;
        st[s].seconds = res->seconds[s] > 0 ? res->seconds[s] : st[s].seconds;
        st[s].progress.eta_s = 0;
        if (s == rs->stage) {
            st[s].progress.step = rs->last.step;
            st[s].progress.steps = rs->last.steps;
            st[s].progress.epoch = rs->last.epoch;
            st[s].progress.epochs = rs->last.epochs;
        }
        if (!(st[s].finished_at > 0))
            st[s].finished_at = now_s();
        if (store_stage_put(rs->w->jobs->st, rs->run, &st[s], &err))
            sink_failed(rs, "a stage's end", &err);
        else
            log_stage_end(rs, s, st[s].seconds);
    }
}

/* Starts this attempt at run id from its newest checkpoint (from the start when it has none;
 * *resume and *resume_len then stay NULL and 0), in the transaction that deletes what an
 * earlier attempt stored after it, and sets up the sink from the stage rows as they are then.
 * 0, or -1 with err set. */
static int attempt_start(Jobs *j, const StoreRun *run, RunSink *rs, void **resume,
                         size_t *resume_len, StoreCheckpoint *from, GsErr *err)
{
    StoreCheckpoint meta = {0};
    int rc = store_checkpoint_latest(j->st, run->id, &meta, resume, resume_len, err);
    if (rc != 0 && rc != STORE_NOT_FOUND)
        return -1;
    bool from_ckpt = rc == 0;
    char msg[200];
    if (from_ckpt && meta.step >= 0)
        snprintf(msg, sizeof msg, "resuming from the checkpoint of %s epoch %d at step %ld",
                 STAGE_NAMES[meta.stage], meta.epoch, meta.step);
    else if (from_ckpt)
        snprintf(msg, sizeof msg, "resuming from the checkpoint after %s epoch %d",
                 STAGE_NAMES[meta.stage], meta.epoch);
    else
        snprintf(msg, sizeof msg, "%s", run->attempts > 0
                                            ? "starting again from the start (it had no "
                                              "checkpoint yet)"
                                            : "running");
    bool resumed = run->attempts > 0;
    if (store_run_resume(j->st, run->id, from_ckpt ? meta.id : 0,
                         resumed ? "resume" : "status", msg, err) != 0)
        return -1;
    if (resumed)
        log_run(run->id, "%s", msg);
    changed(j, true);
    crash_point("resume");

    StoreStage stored[STAGE_COUNT];
    if (store_stages_get(j->st, run->id, stored, err) != 0)
        return -1;
    for (int s = 0; s < STAGE_COUNT; s++) {
        rs->seconds_before[s] = isfinite(stored[s].seconds) ? stored[s].seconds : 0;
        rs->stored_started[s] = stored[s].started_at > 0 ? stored[s].started_at : 0;
    }
    if (from_ckpt) {
        /* the pipeline continues the checkpoint's stage: the sink, too, from its row */
        const StoreStage *g = &stored[meta.stage];
        rs->logged = (1u << meta.stage) - 1; /* their ends were logged by an earlier attempt */
        rs->w->stage = meta.stage;
        rs->stage = meta.stage;
        rs->epoch = g->progress.epoch;
        rs->last = g->progress;
        rs->started_at = rs->stored_started[meta.stage] > 0 ? rs->stored_started[meta.stage]
                                                            : now_s();
    }
    rs->stage_t0 = now_s();
    *from = from_ckpt ? meta : (StoreCheckpoint){0};
    return 0;
}

/* The run stopped at its cancel flag: canceled, or, when the daemon is shutting down, back to
 * the queue to resume from its newest checkpoint. */
static void stopped(Worker *w, int64_t id)
{
    Jobs *j = w->jobs;
    GsErr err;
    pthread_mutex_lock(&j->mu);
    bool stopping = j->stopping;
    pthread_mutex_unlock(&j->mu);
    if (stopping) {
        /* shutdown: back to the queue, to resume from the newest checkpoint */
        char where[32];
        if (store_run_requeue(j->st, id, &err))
            report(id, "requeue", &err);
        event(j, id, "status", "stopped by the daemon's shutdown; queued to resume");
        log_run(id, "stopped by the shutdown after %.1f s%s; queued to resume",
                mono_s() - w->t0, in_stage(w, where, sizeof where));
    } else {
        finish(w, id, RUN_CANCELED, NULL, NULL);
    }
}

/* A process of a multi-process run was lost (why: err): back to the queue to resume from its
 * newest checkpoint, as after a crash, unless that already happened JOBS_MAX_LOSSES times. */
static void lost(Worker *w, int64_t id, const GsErr *why)
{
    Jobs *j = w->jobs;
    GsErr err;
    int n = count_loss(j, id);
    if (n >= JOBS_MAX_LOSSES) {
        char msg[700];
        snprintf(msg, sizeof msg, "%s (the %d%s time: giving up)", why->msg, n,
                 n == 2 ? "nd" : n == 3 ? "rd" : "th");
        finish(w, id, RUN_FAILED, NULL, msg);
        return;
    }
    char where[32];
    if (store_run_requeue(j->st, id, &err))
        report(id, "requeue", &err);
    event(j, id, "status", "%s; queued to resume from its newest checkpoint (%d of %d losses "
          "allowed)", why->msg, n, JOBS_MAX_LOSSES - 1);
    log_run(id, "lost a process after %.1f s%s: %s; queued to resume", mono_s() - w->t0,
            in_stage(w, where, sizeof where), why->msg);
}

static void run_one(Worker *w, int64_t id)
{
    Jobs *j = w->jobs;
    GsErr err;
    StoreRun run = {0};
    RunConfig cfg;
    Dataset train = {0}, test = {0};
    void *resume = NULL;
    size_t resume_len = 0;
    bool have_data = false;
    RunSink rs = {.stage = -1};
    RelayOwned owned = {0};     /* the texts of a multi-process run's result */

    crash_point("claim");
    if (store_run_get(j->st, id, &run, &err)) {
        report(id, "claim", &err);
        return;
    }
    pthread_mutex_lock(&j->mu);
    w->run = id;
    w->has_live = false;
    w->cancel = run.cancel_requested || j->stopping;
    pthread_mutex_unlock(&j->mu);
    w->t0 = mono_s();
    w->stage = -1;
    changed(j, true);

    bool cfg_ok = run_config_parse(&cfg, run.config_json, strlen(run.config_json), &err) == 0;
    char name[300], dataset[1100], waited[64] = "";
    /* the first attempt waited from its submission to the claim (which set started_at) */
    if (run.attempts == 0 && run.started_at >= run.created_at && run.created_at > 0) {
        double wait = run.started_at - run.created_at;
        snprintf(waited, sizeof waited, ", %.1f s in the queue", wait);
        int b = 0;
        while (b < JOBS_WAIT_BUCKETS && wait > JOBS_WAIT_BOUNDS[b])
            b++;
        pthread_mutex_lock(&j->mu);
        j->wait_counts[b]++;
        j->wait_sum += wait;
        pthread_mutex_unlock(&j->mu);
    }
    log_run(id, "%s: name \"%s\", method %s, dataset %s%s",
            run.attempts > 0 ? "restarted" : "started", one_line(name, sizeof name, run.name),
            run.method, cfg_ok ? one_line(dataset, sizeof dataset, cfg.dataset) : "?", waited);
    if (!cfg_ok) {
        finish(w, id, RUN_FAILED, NULL, err.msg);
        goto done;
    }
    if (run.cancel_requested) { /* canceled before a worker took it (e.g. across a restart) */
        finish(w, id, RUN_CANCELED, NULL, NULL);
        goto done;
    }
    /* a run of several processes: its processes load the data */
    if (cfg.processes == 1 &&
        pipeline_load_data(&cfg, j->cfg.data_root, j->cfg.cache_dir, &train, &test, &err)) {
        finish(w, id, RUN_FAILED, NULL, err.msg);
        goto done;
    }
    have_data = cfg.processes == 1;

    rs = (RunSink){.w = w, .run = id, .stage = -1, .epoch = -1, .stage_t0 = now_s()};
    for (int i = 0; i < N_KEY_FIGURES; i++)
        rs.key[i] = NAN;
    StoreCheckpoint from;
    if (shared_run_init(&rs.share, &cfg, &err) ||
        attempt_start(j, &run, &rs, &resume, &resume_len, &from, &err)) {
        finish(w, id, RUN_FAILED, NULL, err.msg);
        goto done;
    }
    /* shared stages: published from the checkpoint resumed from, or started from */
    rs.share.dae_seconds = rs.seconds_before[STAGE_DAE];
    if (from.id) {
        shared_run_resumed(j->claims, j->st, id, &rs.share, from.id, from.stage, from.epoch,
                           from.step, rs.seconds_before[from.stage]);
    } else {
        int rc = shared_run_start(j->claims, j->st, id, &rs.share, &w->cancel, &resume,
                                  &resume_len, &err);
        if (rc < 0) {
            finish(w, id, RUN_FAILED, NULL, err.msg);
            goto done;
        }
        if (rc > 0) {
            stopped(w, id);
            goto done;
        }
    }

    Sink sink = {.progress = sink_progress,
                 .metric = sink_metric,
                 .checkpoint = sink_checkpoint,
                 .log = sink_log,
                 .assignments = sink_assignments,
                 .features = sink_features,
                 .ctx = &rs,
                 .cancel = &w->cancel};
    RunResult res;
    int prc;
    if (cfg.processes > 1) {
        /* launched through mpirun; the relay calls this same sink (launch.h) */
        LaunchConfig lc = {.mpirun = j->cfg.mpirun,
                           .train_exe = j->cfg.train_exe,
                           .relay_listen = j->cfg.relay_listen,
                           .relay_host = j->cfg.relay_host,
                           .silence_s = j->cfg.relay_silence_s,
                           .cancel_wait_s = j->cfg.cancel_wait_s};
        LaunchResult lr;
        prc = launch_run(&lc, (int)(w - j->workers), cfg.processes, run.config_json,
                         j->cfg.data_root, j->cfg.cache_dir, &sink, resume, resume_len,
                         sink_hosts, &rs, &lr, &err);
        if (prc == 0) {
            res = lr.res;
            owned = lr.owned;
        }
    } else {
        prc = pipeline_run(&cfg, &train, &test, &sink, resume, resume_len, &res, &err);
    }
    bool ok = prc == 0;
    if (ok) {
        crash_point("done");
        shared_run_result(&rs.share, &res);
        stages_done(&rs, &res);
    }
    if (rs.failed) {
        /* the first write that failed is the reason; what the pipeline said after it (a
         * checkpoint refused, "canceled") only follows from it */
        finish(w, id, RUN_FAILED, NULL, rs.cause.msg);
        if (ok)
            run_result_free(&res);
    } else if (ok) {
        char *json = run_result_to_json(&res);
        run_result_free(&res);
        if (json)
            finish(w, id, RUN_SUCCEEDED, json, NULL);
        else
            finish(w, id, RUN_FAILED, NULL, "out of memory writing the result");
        free(json);
    } else if (w->cancel) {
        stopped(w, id);
    } else if (prc == LAUNCH_LOST) {
        lost(w, id, &err);
    } else {
        finish(w, id, RUN_FAILED, NULL, err.msg);
    }
done:
    relay_owned_free(&owned);
    shared_run_end(j->claims, &rs.share);
    free(resume);
    if (have_data) {
        dataset_free(&train);
        dataset_free(&test);
    }
    store_run_free(&run);
    pthread_mutex_lock(&j->mu);
    w->run = 0;
    w->has_live = false;
    pthread_mutex_unlock(&j->mu);
    changed(j, true);
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    Jobs *j = w->jobs;
    GsErr err;

    pthread_mutex_lock(&j->mu);
    while (!j->stopping) {
        unsigned long kicks = j->kicks;
        pthread_mutex_unlock(&j->mu);
        int64_t id = 0;
        /* while the disk is full a run would only fail: queued runs wait for room */
        if (store_writable(j->st) && store_run_claim(j->st, &id, &err)) {
            fprintf(stderr, "gsimclrd: claiming a run: %s\n", err.msg);
            id = 0;
        }
        if (id > 0)
            run_one(w, id);
        pthread_mutex_lock(&j->mu);
        if (id > 0 || j->stopping || kicks != j->kicks)
            continue;
        /* nothing queued: sleep until a submit (or a second passes, as a backstop) */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&j->cv, &j->mu, &until);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* ---- the queue -------------------------------------------------------------------- */

static void jobs_free(Jobs *j)
{
    shared_claims_free(j->claims);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->workers);
    free(j);
}

int jobs_start(Jobs **out, Store *st, const JobsConfig *cfg, GsErr *err)
{
    *out = NULL;
    if (cfg->workers < 1 || cfg->workers > JOBS_MAX_WORKERS || cfg->threads < 1 || cfg->keep_checkpoints < 1)
        return gs_errf(err, "jobs: workers must be 1..64, threads and keep_checkpoints >= 1");

    /* runs a crash left "running" resume from their newest checkpoint */
    int64_t *ids = NULL;
    int n = 0;
    if (store_runs_in_state(st, RUN_RUNNING, &ids, &n, err))
        return -1;
    for (int i = 0; i < n; i++) {
        if (store_run_requeue(st, ids[i], err)) {
            free(ids);
            return -1;
        }
        int64_t ev;
        store_event_add(st, ids[i], NULL, "status", "the daemon stopped while this run trained; "
                        "queued to resume", now_s(), &ev, err);
    }
    free(ids);

    Jobs *j = calloc(1, sizeof *j);
    if (!j)
        return gs_errf(err, "jobs: out of memory");
    j->workers = calloc((size_t)cfg->workers, sizeof *j->workers);
    if (!j->workers) {
        free(j);
        return gs_errf(err, "jobs: out of memory");
    }
    j->st = st;
    j->cfg = *cfg;
    j->n_workers = cfg->workers;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    if (shared_claims_create(&j->claims, err)) {
        jobs_free(j);
        return -1;
    }
    for (int i = 0; i < j->n_workers; i++) {
        j->workers[i].jobs = j;
        if (pthread_create(&j->workers[i].thread, NULL, worker_main, &j->workers[i]) != 0) {
            jobs_stop(j);
            return gs_errf(err, "jobs: cannot start worker %d", i + 1);
        }
        j->workers[i].started = true;
    }
    *out = j;
    return 0;
}

void jobs_submitted(Jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->kicks++;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void jobs_cancel(Jobs *j, int64_t id)
{
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n_workers; i++)
        if (j->workers[i].run == id)
            j->workers[i].cancel = 1;
    pthread_mutex_unlock(&j->mu);
    changed(j, true);
}

bool jobs_live(Jobs *j, int64_t id, StageProgress *p)
{
    bool found = false;
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n_workers && !found; i++)
        if (j->workers[i].run == id && j->workers[i].has_live) {
            *p = j->workers[i].live;
            found = true;
        }
    pthread_mutex_unlock(&j->mu);
    return found;
}

uint64_t jobs_version(Jobs *j)
{
    return atomic_load(&j->version);
}

void jobs_stats(Jobs *j, JobsStats *out)
{
    memset(out, 0, sizeof *out);
    out->workers = j->n_workers;
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n_workers; i++) {
        const Worker *w = &j->workers[i];
        if (!w->run)
            continue;
        out->busy++;
        if (!w->has_live)
            continue;
        if (isfinite(w->live.items_per_s))
            out->images_per_s += w->live.items_per_s;
        out->running[out->n_running].run = w->run;
        out->running[out->n_running].stage = w->live.stage;
        out->running[out->n_running].items_per_s = w->live.items_per_s;
        out->n_running++;
    }
    unsigned long below = 0;
    for (int b = 0; b <= JOBS_WAIT_BUCKETS; b++) {
        below += j->wait_counts[b];
        out->wait_buckets[b] = below;
    }
    out->wait_count = below;
    out->wait_sum = j->wait_sum;
    pthread_mutex_unlock(&j->mu);
    out->steps_total = atomic_load(&j->steps_total);
}

void jobs_stop(Jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    j->stopping = true;
    for (int i = 0; i < j->n_workers; i++)
        if (j->workers[i].run)
            j->workers[i].cancel = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < j->n_workers; i++)
        if (j->workers[i].started)
            pthread_join(j->workers[i].thread, NULL);
    jobs_free(j);
}
