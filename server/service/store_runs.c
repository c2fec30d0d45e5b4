/* store_runs.c — runs and their stages in the store: a run's life from queued to its end
 * (claim, resume, cancel, finish, requeue, delete), listing and counting runs, and the stage
 * rows the workers keep up to date. The start of each attempt at a run (store_run_resume) is
 * here too: it cuts every table back to the checkpoint the attempt starts from, in one
 * transaction. The SQL of these tables lives here. It is told which stages a run skips and
 * never reads a run's configuration or result: both are opaque text. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gs/config.h"
#include "store_internal.h"

/* The schema's stages table holds stages 0..3 (a CHECK constraint). */
_Static_assert(STAGE_COUNT == 4, "schema/001_init.sql stores stages 0..3");

const char *const RUN_STATUS_NAMES[RUN_STATUS_COUNT] = {"queued", "running", "succeeded",
                                                         "failed", "canceled"};
const char *const STAGE_STATUS_NAMES[SS_COUNT] = {"pending",  "running",  "succeeded",
                                                  "failed",   "canceled", "skipped"};

int run_status_parse(const char *name)
{
    for (int i = 0; name && i < RUN_STATUS_COUNT; i++)
        if (strcmp(name, RUN_STATUS_NAMES[i]) == 0)
            return i;
    return -1;
}

static int stage_status_parse(const char *name)
{
    for (int i = 0; name && i < SS_COUNT; i++)
        if (strcmp(name, STAGE_STATUS_NAMES[i]) == 0)
            return i;
    return -1;
}

#define RUN_COLS "id, status, method, name, result, error, created_at, started_at, " \
                 "finished_at, cancel_requested, resumes, attempts, tags, note, processes, hosts"
/* ?1 status (NULL: any), ?2 method (NULL: any), ?5 a LIKE pattern matched against the name,
 * method, status, tags and note (NULL: any; escaped with backslashes by like_pattern) */
#define RUN_FILTER "WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR method = ?2) " \
                   "AND (?5 IS NULL OR name LIKE ?5 ESCAPE '\\' OR method LIKE ?5 ESCAPE '\\' " \
                   "OR status LIKE ?5 ESCAPE '\\' OR tags LIKE ?5 ESCAPE '\\' " \
                   "OR note LIKE ?5 ESCAPE '\\')"

const char *const STORE_SQL_RUNS[Q_COUNT] = {
    [Q_RUN_INSERT] = "INSERT INTO runs (status, method, name, config, created_at, processes) "
                     "VALUES ('queued', ?1, ?2, ?3, ?4, "
                     "coalesce(json_extract(?3, '$.processes'), 1))",
    [Q_STAGE_INSERT] = "INSERT INTO stages (run_id, stage, status) VALUES (?1, ?2, ?3)",
    [Q_RUN_GET] = "SELECT " RUN_COLS ", config FROM runs WHERE id = ?1",
    /* an attempt after the first is a resume (SET reads the values from before the update) */
    [Q_RUN_ATTEMPT] = "UPDATE runs SET resumes = resumes + (attempts > 0), "
                      "attempts = attempts + 1 WHERE id = ?1",
    [Q_RUN_STATUS] = "SELECT status FROM runs WHERE id = ?1",
    [Q_RUN_COUNT] = "SELECT count(*) FROM runs " RUN_FILTER,
    [Q_RUN_LIST] = "SELECT " RUN_COLS " FROM runs " RUN_FILTER
                   " ORDER BY id DESC LIMIT ?3 OFFSET ?4",
    [Q_RUN_CLAIM] = "UPDATE runs SET status = 'running', started_at = coalesce(started_at, ?1) "
                    "WHERE id = (SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1) "
                    "RETURNING id",
    [Q_RUN_CANCEL_QUEUED] = "UPDATE runs SET status = 'canceled', cancel_requested = 1, "
                            "finished_at = ?2 WHERE id = ?1",
    [Q_STAGES_CANCEL] = "UPDATE stages SET status = 'canceled' "
                        "WHERE run_id = ?1 AND status = 'pending'",
    [Q_RUN_CANCEL_REQUEST] = "UPDATE runs SET cancel_requested = 1 WHERE id = ?1",
    [Q_RUN_FINISH] = "UPDATE runs SET status = ?2, result = ?3, error = ?4, finished_at = ?5 "
                     "WHERE id = ?1",
    /* ?2 the stage status, ?3 now, ?4 whether pending stages end too */
    [Q_STAGES_FINISH] = "UPDATE stages SET status = ?2, "
                        "finished_at = CASE WHEN status = 'running' THEN ?3 ELSE finished_at END "
                        "WHERE run_id = ?1 AND (status = 'running' OR (?4 AND status = 'pending'))",
    [Q_RUN_REQUEUE] = "UPDATE runs SET status = 'queued' WHERE id = ?1",
    [Q_STAGES_REQUEUE] = "UPDATE stages SET status = 'pending' "
                         "WHERE run_id = ?1 AND status = 'running'",
    [Q_RUNS_IN_STATE] = "SELECT id FROM runs WHERE status = ?1 ORDER BY id",
    [Q_RUN_DELETE] = "DELETE FROM runs WHERE id = ?1",
    [Q_RUN_COUNTS] = "SELECT status, count(*) FROM runs GROUP BY status",
    /* ?2 tags, ?3 note: NULL keeps the stored one */
    [Q_RUN_ANNOTATE] = "UPDATE runs SET tags = coalesce(?2, tags), note = coalesce(?3, note) "
                       "WHERE id = ?1",
    [Q_RUN_HOSTS] = "UPDATE runs SET hosts = ?2 WHERE id = ?1",

    [Q_STAGE_PUT] = "UPDATE stages SET status = ?3, epoch = ?4, epochs = ?5, step = ?6, "
                    "steps = ?7, loss = ?8, items_per_s = ?9, eta_s = ?10, seconds = ?11, "
                    "started_at = ?12, finished_at = ?13 WHERE run_id = ?1 AND stage = ?2",
    [Q_STAGES_GET] = "SELECT stage, status, epoch, epochs, step, steps, loss, items_per_s, "
                     "eta_s, seconds, started_at, finished_at FROM stages "
                     "WHERE run_id = ?1 ORDER BY stage",
    [Q_STAGE_RUNNING] = "UPDATE stages SET status = 'running', finished_at = NULL "
                        "WHERE run_id = ?1 AND stage = ?2",
    /* every stage after ?2 as if it had never run; skipped ones stay */
    [Q_STAGES_RESET_AFTER] = "UPDATE stages SET status = 'pending', epoch = 0, epochs = 0, "
                             "step = 0, steps = 0, loss = NULL, items_per_s = NULL, "
                             "eta_s = NULL, seconds = NULL, started_at = NULL, "
                             "finished_at = NULL "
                             "WHERE run_id = ?1 AND stage > ?2 AND status <> 'skipped'",
};

/* ---- runs ---- */

/* The status of run id into *status: 0, STORE_NOT_FOUND or -1. */
int db_run_status(Conn *c, int64_t id, RunStatus *status, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(c, Q_RUN_STATUS, err);
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, id) != SQLITE_OK ? db_err(err, c->db, id, "bind")
                                                       : db_step(c, s, id, "read its status", err);
    if (rc == SQLITE_DONE) {
        rc = db_not_found(err, id);
    } else if (rc == SQLITE_ROW) {
        int v = run_status_parse((const char *)sqlite3_column_text(s, 0));
        rc = v < 0 ? gs_errf(err, "store: run %" PRId64 ": unknown status", id) : 0;
        if (v >= 0)
            *status = (RunStatus)v;
    }
    db_release(s);
    return rc;
}

/* 0 when run id exists, else STORE_NOT_FOUND or -1. */
int db_run_exists(Conn *c, int64_t id, GsErr *err)
{
    RunStatus status;
    return db_run_status(c, id, &status, err);
}

/* 0 when run id is running, else STORE_CONFLICT (naming its status), STORE_NOT_FOUND or -1. */
static int run_is_running(Conn *c, int64_t id, GsErr *err)
{
    RunStatus status;
    int rc = db_run_status(c, id, &status, err);
    if (rc != 0)
        return rc;
    if (status != RUN_RUNNING) {
        gs_errf(err, "run %" PRId64 " is %s, not running", id, RUN_STATUS_NAMES[status]);
        return STORE_CONFLICT;
    }
    return 0;
}

int db_run_insert(Conn *w, const char *method, const char *name, const char *config_json,
                  unsigned skipped, int64_t *id, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_RUN_INSERT, err);
    if (!s)
        return -1;
    if (db_bind_text(s, 1, method) || db_bind_text(s, 2, name) || db_bind_text(s, 3, config_json) ||
        sqlite3_bind_double(s, 4, db_now())) {
        db_release(s);
        return db_err(err, w->db, 0, "insert a run");
    }
    if (db_run_to_end(w, s, 0, "insert a run", err) != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(w->db);

    for (int stage = 0; stage < STAGE_COUNT; stage++) {
        StageStatus status = skipped & (1u << stage) ? SS_SKIPPED : SS_PENDING;
        s = db_stmt(w, Q_STAGE_INSERT, err);
        if (!s)
            return -1;
        if (sqlite3_bind_int64(s, 1, *id) || sqlite3_bind_int(s, 2, stage) ||
            db_bind_text(s, 3, STAGE_STATUS_NAMES[status])) {
            db_release(s);
            return db_err(err, w->db, *id, "insert a stage");
        }
        if (db_run_to_end(w, s, *id, "insert a stage", err) != 0)
            return -1;
    }
    return 0;
}

int db_run_check(const char *method, const char *name, const char *config_json,
                 unsigned skipped, GsErr *err)
{
    if (!run_config_method_known(method))
        return gs_errf(err, "store: method must be gsimclr, simclr or supervised");
    if (!name)
        name = "";
    if (strlen(name) >= FIELD_SIZE(StoreRun, name))
        return gs_errf(err, "store: run name longer than %zu bytes",
                       FIELD_SIZE(StoreRun, name) - 1);
    if (!config_json)
        return gs_errf(err, "store: a run needs its configuration");
    if (skipped >> STAGE_COUNT)
        return gs_errf(err, "store: skipped stages 0x%x name no stage of %d", skipped,
                       STAGE_COUNT);
    return 0;
}

int store_run_insert(Store *st, const char *method, const char *name, const char *config_json,
                     unsigned skipped, int64_t *id, GsErr *err)
{
    if (!name)
        name = "";
    if (db_run_check(method, name, config_json, skipped, err) != 0)
        return -1;
    int64_t new_id = 0;
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    int rc = db_run_insert(w, method, name, config_json, skipped, &new_id, err);
    rc = db_write_end(st, rc, err);
    if (rc == 0 && id)
        *id = new_id;
    return rc;
}

/* Fills r from a row of RUN_COLS (then config at column 16 when with_config). */
static int read_run(sqlite3_stmt *s, StoreRun *r, bool with_config, GsErr *err)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    int status = run_status_parse((const char *)sqlite3_column_text(s, 1));
    if (status < 0)
        return gs_errf(err, "store: run %" PRId64 ": unknown status", r->id);
    r->status = (RunStatus)status;
    db_col_copy(s, 2, r->method, sizeof r->method);
    db_col_copy(s, 3, r->name, sizeof r->name);
    r->created_at = db_col_time(s, 6);
    r->started_at = db_col_time(s, 7);
    r->finished_at = db_col_time(s, 8);
    r->cancel_requested = sqlite3_column_int(s, 9) != 0;
    r->resumes = sqlite3_column_int(s, 10);
    r->attempts = sqlite3_column_int(s, 11);
    r->processes = sqlite3_column_int(s, 14);
    if (db_col_strdup(s, 4, &r->result_json) || db_col_strdup(s, 5, &r->error) ||
        db_col_strdup(s, 12, &r->tags_json) || db_col_strdup(s, 13, &r->note) ||
        db_col_strdup(s, 15, &r->hosts_json) ||
        (with_config && db_col_strdup(s, 16, &r->config_json))) {
        store_run_free(r);
        return db_oom(err, "read a run");
    }
    return 0;
}

static int read_run_row(sqlite3_stmt *s, void *row, GsErr *err)
{
    return read_run(s, row, false, err);
}

int store_run_get(Store *st, int64_t id, StoreRun *out, GsErr *err)
{
    memset(out, 0, sizeof *out);
    Conn *c = db_reader_get(st);
    sqlite3_stmt *s = db_stmt(c, Q_RUN_GET, err);
    int rc = -1;
    if (s) {
        rc = sqlite3_bind_int64(s, 1, id) ? db_err(err, c->db, id, "bind")
                                          : db_step(c, s, id, "read the run", err);
        if (rc == SQLITE_ROW)
            rc = read_run(s, out, true, err);
        else if (rc == SQLITE_DONE)
            rc = db_not_found(err, id);
        db_release(s);
    }
    db_reader_put(st, c);
    return rc;
}

void store_run_free(StoreRun *r)
{
    if (!r)
        return;
    free(r->config_json);
    free(r->result_json);
    free(r->error);
    free(r->tags_json);
    free(r->note);
    free(r->hosts_json);
    r->config_json = r->result_json = r->error = r->tags_json = r->note = r->hosts_json = NULL;
}

void store_run_list_free(StoreRun *runs, int n)
{
    for (int i = 0; runs && i < n; i++)
        store_run_free(&runs[i]);
    free(runs);
}

static void free_run_rows(void *rows, int n)
{
    store_run_list_free(rows, n);
}

/* ?1 status, ?2 method and ?5 the search pattern of the filter. */
static int bind_run_filter(sqlite3_stmt *s, int status, const char *method, const char *like)
{
    return db_bind_text(s, 1, status >= 0 ? RUN_STATUS_NAMES[status] : NULL) ||
           db_bind_text(s, 2, method) || db_bind_text(s, 5, like);
}

/* "%text%" with LIKE's wildcards in text escaped, so a search for "50%" or "a_b" finds
 * those characters and nothing else (malloc'd; NULL when out of memory). */
static char *like_pattern(const char *text)
{
    size_t n = strlen(text), o = 0;
    char *p = malloc(2 * n + 3);
    if (!p)
        return NULL;
    p[o++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '%' || text[i] == '_' || text[i] == '\\')
            p[o++] = '\\';
        p[o++] = text[i];
    }
    p[o++] = '%';
    p[o] = '\0';
    return p;
}

static int run_list_tx(Conn *c, int status, const char *method, const char *like, int limit,
                       int offset, StoreRun **runs, int *n, int *total, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(c, Q_RUN_COUNT, err);
    if (!s)
        return -1;
    int rc = bind_run_filter(s, status, method, like) ? db_err(err, c->db, 0, "bind")
                                                      : db_step(c, s, 0, "count runs", err);
    if (rc == SQLITE_ROW && total)
        *total = sqlite3_column_int(s, 0);
    db_release(s);
    if (rc != SQLITE_ROW)
        return -1;

    s = db_stmt(c, Q_RUN_LIST, err);
    if (!s)
        return -1;
    if (bind_run_filter(s, status, method, like) ||
        sqlite3_bind_int(s, 3, limit > 0 ? limit : -1) ||
        sqlite3_bind_int(s, 4, offset > 0 ? offset : 0)) {
        db_release(s);
        return db_err(err, c->db, 0, "bind");
    }
    void *rows = NULL;
    rc = db_read_rows(c, s, 0, "list runs", sizeof **runs, read_run_row, free_run_rows, &rows,
                      n, err);
    *runs = rows;
    return rc;
}

int store_run_list(Store *st, const StoreRunFilter *f, StoreRun **runs, int *n, int *total,
                   GsErr *err)
{
    *runs = NULL;
    *n = 0;
    if (total)
        *total = 0;
    int status = f ? f->status : -1;
    if (status < -1 || status >= RUN_STATUS_COUNT)
        return gs_errf(err, "store: list runs: no run status %d", status);
    char *like = NULL;
    if (f && f->search && *f->search && !(like = like_pattern(f->search)))
        return db_oom(err, "list runs");
    Conn *c = db_read_begin(st, err);
    if (!c) {
        free(like);
        return -1;
    }
    int rc = run_list_tx(c, status, f ? f->method : NULL, like, f ? f->limit : 0,
                         f ? f->offset : 0, runs, n, total, err);
    rc = db_read_end(st, c, rc, err);
    free(like);
    if (rc != 0) {
        store_run_list_free(*runs, *n);
        *runs = NULL;
        *n = 0;
    }
    return rc;
}

static int run_claim_tx(Conn *w, int64_t *id, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_RUN_CLAIM, err);
    if (!s)
        return -1;
    int rc = sqlite3_bind_double(s, 1, db_now()) ? db_err(err, w->db, 0, "bind")
                                                : db_step(w, s, 0, "claim a run", err);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        rc = db_step(w, s, *id, "claim a run", err);   /* RETURNING: run it to its end */
    }
    db_release(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_run_claim(Store *st, int64_t *id, GsErr *err)
{
    int64_t claimed = 0;
    Conn *w = db_write_begin(st, false, err);
    if (!w)
        return -1;
    int rc = db_write_end(st, run_claim_tx(w, &claimed, err), err);
    *id = rc == 0 ? claimed : 0;
    return rc;
}

static int run_cancel_tx(Conn *w, int64_t id, bool *now_canceled, GsErr *err)
{
    RunStatus status;
    int rc = db_run_status(w, id, &status, err);
    if (rc != 0)
        return rc;
    if (run_status_terminal(status)) {
        gs_errf(err, "run %" PRId64 " has already ended (%s)", id, RUN_STATUS_NAMES[status]);
        return STORE_CONFLICT;
    }
    if (status == RUN_RUNNING) {
        *now_canceled = false;
        return db_exec_id(w, Q_RUN_CANCEL_REQUEST, id, "request a cancel", err);
    }
    if (db_run_cancel_queued(w, id, err) != 0)
        return -1;
    *now_canceled = true;
    return 0;
}

int db_run_cancel_queued(Conn *w, int64_t id, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_RUN_CANCEL_QUEUED, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_double(s, 2, db_now())) {
        db_release(s);
        return db_err(err, w->db, id, "bind");
    }
    if (db_run_to_end(w, s, id, "cancel", err) != 0 ||
        db_exec_id(w, Q_STAGES_CANCEL, id, "cancel its stages", err) != 0)
        return -1;
    return 0;
}

int store_run_request_cancel(Store *st, int64_t id, bool *now_canceled, GsErr *err)
{
    bool canceled = false;
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    int rc = db_write_end(st, run_cancel_tx(w, id, &canceled, err), err);
    if (now_canceled)
        *now_canceled = rc == 0 && canceled;
    return rc;
}

static int run_finish_tx(Conn *w, int64_t id, RunStatus to, const char *result_json,
                         const char *error, GsErr *err)
{
    int rc = run_is_running(w, id, err);
    if (rc != 0)
        return rc;
    double now = db_now();
    sqlite3_stmt *s = db_stmt(w, Q_RUN_FINISH, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, id) || db_bind_text(s, 2, RUN_STATUS_NAMES[to]) ||
        db_bind_text(s, 3, result_json) || db_bind_text(s, 4, error) ||
        sqlite3_bind_double(s, 5, now)) {
        db_release(s);
        return db_err(err, w->db, id, "bind");
    }
    if (db_run_to_end(w, s, id, "finish", err) != 0)
        return -1;

    StageStatus stage_to = to == RUN_SUCCEEDED ? SS_SUCCEEDED
                           : to == RUN_FAILED  ? SS_FAILED
                                               : SS_CANCELED;
    s = db_stmt(w, Q_STAGES_FINISH, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, id) || db_bind_text(s, 2, STAGE_STATUS_NAMES[stage_to]) ||
        sqlite3_bind_double(s, 3, now) || sqlite3_bind_int(s, 4, to != RUN_SUCCEEDED)) {
        db_release(s);
        return db_err(err, w->db, id, "bind");
    }
    return db_run_to_end(w, s, id, "finish its stages", err);
}

int store_run_finish(Store *st, int64_t id, RunStatus to, const char *result_json,
                     const char *error, GsErr *err)
{
    if (to != RUN_SUCCEEDED && to != RUN_FAILED && to != RUN_CANCELED)
        return gs_errf(err, "store: run %" PRId64 ": a run ends succeeded, failed or canceled",
                       id);
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    return db_write_end(st, run_finish_tx(w, id, to, result_json, error, err), err);
}

static int run_requeue_tx(Conn *w, int64_t id, GsErr *err)
{
    int rc = run_is_running(w, id, err);
    if (rc != 0)
        return rc;
    if (db_exec_id(w, Q_RUN_REQUEUE, id, "requeue", err) != 0 ||
        db_exec_id(w, Q_STAGES_REQUEUE, id, "requeue its stages", err) != 0)
        return -1;
    return 0;
}

int store_run_requeue(Store *st, int64_t id, GsErr *err)
{
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    return db_write_end(st, run_requeue_tx(w, id, err), err);
}

static int run_resume_tx(Conn *w, int64_t id, int64_t from, const char *kind,
                         const char *message, GsErr *err)
{
    int rc = run_is_running(w, id, err);
    if (rc != 0)
        return rc;
    int64_t newest;
    if (db_checkpoint_newest(w, id, &newest, err) != 0)
        return -1;
    if (newest != from) {
        gs_errf(err, "run %" PRId64 ": resuming from checkpoint %" PRId64 ", but its newest is "
                "%" PRId64, id, from, newest);
        return STORE_CONFLICT;
    }
    StorePos at = DB_START;
    StoreStage row;
    bool has_row = false;
    if (from && (rc = db_checkpoint_position(w, id, from, &at, &row, &has_row, err)) != 0)
        return rc;
    if (db_metrics_delete_after(w, id, &at, err) != 0 ||
        db_assignments_delete_after(w, id, &at, err) != 0 ||
        db_checkpoints_delete_after(w, id, &at, err) != 0 ||
        db_exec_run_stage(w, Q_STAGES_RESET_AFTER, id, at.stage, 0, "reset later stages",
                          err) != 0)
        return -1;
    /* the checkpoint's stage as it was when the checkpoint was written (one stored before
     * rows were kept with checkpoints keeps its figures) */
    if (from && (has_row ? db_stage_put(w, id, &row, err)
                         : db_exec_run_stage(w, Q_STAGE_RUNNING, id, at.stage, 0,
                                             "restore its stage", err)) != 0)
        return -1;
    if (db_exec_id(w, Q_RUN_ATTEMPT, id, "count the attempt", err) != 0)
        return -1;
    return db_event_insert(w, id, NULL, kind, message, db_now(), NULL, err);
}

int store_run_resume(Store *st, int64_t id, int64_t from, const char *kind, const char *message,
                     GsErr *err)
{
    if (!kind || !*kind || strlen(kind) >= FIELD_SIZE(StoreEvent, kind) || !message)
        return gs_errf(err, "store: run %" PRId64 ": a resume needs an event kind and message",
                       id);
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    return db_write_end(st, run_resume_tx(w, id, from, kind, message, err), err);
}

static int read_id_row(sqlite3_stmt *s, void *row, GsErr *err)
{
    (void)err;
    *(int64_t *)row = sqlite3_column_int64(s, 0);
    return 0;
}

int store_runs_in_state(Store *st, RunStatus status, int64_t **ids, int *n, GsErr *err)
{
    *ids = NULL;
    *n = 0;
    if ((int)status < 0 || status >= RUN_STATUS_COUNT)
        return gs_errf(err, "store: no run status %d", (int)status);
    Conn *c = db_reader_get(st);
    sqlite3_stmt *s = db_stmt(c, Q_RUNS_IN_STATE, err);
    void *rows = NULL;
    int rc = -1;
    if (s) {
        if (db_bind_text(s, 1, RUN_STATUS_NAMES[status])) {
            rc = db_err(err, c->db, 0, "bind");
            db_release(s);
        } else {
            rc = db_read_rows(c, s, 0, "list runs by state", sizeof **ids, read_id_row, NULL,
                              &rows, n, err);
        }
    }
    db_reader_put(st, c);
    *ids = rows;
    return rc;
}

static int run_delete_tx(Conn *w, int64_t id, GsErr *err)
{
    RunStatus status;
    int rc = db_run_status(w, id, &status, err);
    if (rc != 0)
        return rc;
    if (!run_status_terminal(status)) {
        gs_errf(err, "run %" PRId64 " is %s: only a run that has ended can be deleted", id,
                RUN_STATUS_NAMES[status]);
        return STORE_CONFLICT;
    }
    /* stages, metrics, events, assignments and checkpoints go by ON DELETE CASCADE */
    return db_exec_id(w, Q_RUN_DELETE, id, "delete", err);
}

int store_run_delete(Store *st, int64_t id, GsErr *err)
{
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    return db_write_end(st, run_delete_tx(w, id, err), err);
}

static int run_annotate_tx(Conn *w, int64_t id, const char *tags_json, const char *note,
                           GsErr *err)
{
    int rc = db_run_exists(w, id, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = db_stmt(w, Q_RUN_ANNOTATE, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, id) || db_bind_text(s, 2, tags_json) ||
        db_bind_text(s, 3, note)) {
        db_release(s);
        return db_err(err, w->db, id, "bind");
    }
    return db_run_to_end(w, s, id, "annotate", err);
}

int store_run_annotate(Store *st, int64_t id, const char *tags_json, const char *note,
                       GsErr *err)
{
    /* a run in any state may be annotated, a finished one most of all */
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    return db_write_end(st, run_annotate_tx(w, id, tags_json, note, err), err);
}

static int run_hosts_tx(Conn *w, int64_t id, const char *hosts_json, GsErr *err)
{
    int rc = db_run_exists(w, id, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = db_stmt(w, Q_RUN_HOSTS, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, id) || db_bind_text(s, 2, hosts_json)) {
        db_release(s);
        return db_err(err, w->db, id, "bind");
    }
    return db_run_to_end(w, s, id, "set its hosts", err);
}

int store_run_set_hosts(Store *st, int64_t id, const char *hosts_json, GsErr *err)
{
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    return db_write_end(st, run_hosts_tx(w, id, hosts_json, err), err);
}

int store_run_counts(Store *st, long counts[RUN_STATUS_COUNT], GsErr *err)
{
    for (int i = 0; i < RUN_STATUS_COUNT; i++)
        counts[i] = 0;
    Conn *c = db_reader_get(st);
    sqlite3_stmt *s = db_stmt(c, Q_RUN_COUNTS, err);
    int rc = -1;
    if (s) {
        while ((rc = db_step(c, s, 0, "count runs", err)) == SQLITE_ROW) {
            int v = run_status_parse((const char *)sqlite3_column_text(s, 0));
            if (v >= 0)
                counts[v] = (long)sqlite3_column_int64(s, 1);
        }
        rc = rc == SQLITE_DONE ? 0 : -1;
        db_release(s);
    }
    db_reader_put(st, c);
    return rc;
}

/* ---- stages ---- */

int db_stage_put(Conn *w, int64_t run, const StoreStage *g, GsErr *err)
{
    const StageProgress *p = &g->progress;
    if (p->stage < 0 || p->stage >= STAGE_COUNT)
        return gs_errf(err, "store: run %" PRId64 ": no stage %d", run, p->stage);
    if ((int)g->status < 0 || g->status >= SS_COUNT)
        return gs_errf(err, "store: run %" PRId64 ": no stage status %d", run, (int)g->status);
    sqlite3_stmt *s = db_stmt(w, Q_STAGE_PUT, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int(s, 2, p->stage) ||
        db_bind_text(s, 3, STAGE_STATUS_NAMES[g->status]) || sqlite3_bind_int(s, 4, p->epoch) ||
        sqlite3_bind_int(s, 5, p->epochs) || sqlite3_bind_int64(s, 6, p->step) ||
        sqlite3_bind_int64(s, 7, p->steps) || db_bind_real(s, 8, p->loss) ||
        db_bind_real(s, 9, p->items_per_s) || db_bind_real(s, 10, p->eta_s) ||
        db_bind_real(s, 11, g->seconds) || db_bind_time(s, 12, g->started_at) ||
        db_bind_time(s, 13, g->finished_at)) {
        db_release(s);
        return db_err(err, w->db, run, "bind");
    }
    int rc = db_run_to_end(w, s, run, "store a stage", err);
    /* every run has its stage rows, so no row means no run */
    if (rc == 0 && sqlite3_changes(w->db) == 0)
        rc = db_not_found(err, run);
    return rc;
}

int store_stage_put(Store *st, int64_t run, const StoreStage *g, GsErr *err)
{
    const StageProgress *p = &g->progress;
    if (p->stage < 0 || p->stage >= STAGE_COUNT)
        return gs_errf(err, "store: run %" PRId64 ": no stage %d", run, p->stage);
    if ((int)g->status < 0 || g->status >= SS_COUNT)
        return gs_errf(err, "store: run %" PRId64 ": no stage status %d", run, (int)g->status);
    Conn *w = db_write_begin(st, false, err);
    if (!w)
        return -1;
    return db_write_end(st, db_stage_put(w, run, g, err), err);
}

int store_stages_get(Store *st, int64_t run, StoreStage out[STAGE_COUNT], GsErr *err)
{
    memset(out, 0, STAGE_COUNT * sizeof *out);
    Conn *c = db_reader_get(st);
    sqlite3_stmt *s = db_stmt(c, Q_STAGES_GET, err);
    int rc = -1, k = 0;
    if (s) {
        rc = sqlite3_bind_int64(s, 1, run) ? db_err(err, c->db, run, "bind") : 0;
        while (rc == 0 && (rc = db_step(c, s, run, "read stages", err)) == SQLITE_ROW) {
            int stage = sqlite3_column_int(s, 0);
            int status = stage_status_parse((const char *)sqlite3_column_text(s, 1));
            if (stage != k || k >= STAGE_COUNT || status < 0) {
                rc = gs_errf(err, "store: run %" PRId64 ": bad stage row %d", run, stage);
                break;
            }
            StoreStage *g = &out[k++];
            g->status = (StageStatus)status;
            g->progress = (StageProgress){.stage = stage,
                                          .epoch = sqlite3_column_int(s, 2),
                                          .epochs = sqlite3_column_int(s, 3),
                                          .step = (long)sqlite3_column_int64(s, 4),
                                          .steps = (long)sqlite3_column_int64(s, 5),
                                          .loss = db_col_real(s, 6),
                                          .items_per_s = db_col_real(s, 7),
                                          .eta_s = db_col_real(s, 8)};
            g->seconds = db_col_real(s, 9);
            g->started_at = db_col_time(s, 10);
            g->finished_at = db_col_time(s, 11);
            rc = 0;
        }
        if (rc == SQLITE_DONE)
            rc = k == 0 ? db_not_found(err, run)
                 : k == STAGE_COUNT
                     ? 0
                     : gs_errf(err, "store: run %" PRId64 ": %d stage rows of %d", run, k,
                               STAGE_COUNT);
        db_release(s);
    }
    db_reader_put(st, c);
    return rc;
}

