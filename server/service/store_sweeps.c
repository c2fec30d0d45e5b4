/* store_sweeps.c — sweeps in the store: a sweep row and the point rows that tie each point of
 * its grid to an ordinary run, written with those runs in one transaction; listing, reading
 * with its points' runs, and cancelling or deleting all of a sweep's runs at once. The SQL of
 * these tables lives here. A sweep's specification is opaque text here: which points exist
 * and what they mean is the caller's (sweep.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define SWEEP_COLS "SELECT id, name, metric, created_at"

const char *const STORE_SQL_SWEEPS[Q_COUNT] = {
    [Q_SWEEP_INSERT] = "INSERT INTO sweeps (name, metric, spec, created_at) "
                       "VALUES (?1, ?2, ?3, ?4)",
    [Q_SWEEP_POINT_INSERT] = "INSERT INTO sweep_runs (sweep_id, point, run_id) "
                             "VALUES (?1, ?2, ?3)",
    [Q_SWEEP_GET] = SWEEP_COLS ", spec FROM sweeps WHERE id = ?1",
    [Q_SWEEP_COUNT] = "SELECT count(*) FROM sweeps",
    [Q_SWEEP_LIST] = SWEEP_COLS " FROM sweeps ORDER BY id DESC LIMIT ?1 OFFSET ?2",
    [Q_SWEEP_STATUS_COUNTS] = "SELECT r.status, count(DISTINCT r.id) FROM sweep_runs p "
                              "JOIN runs r ON r.id = p.run_id WHERE p.sweep_id = ?1 "
                              "GROUP BY r.status",
    /* what reusing a shared stage saved a run: the seconds of the stages it reused */
    [Q_SWEEP_POINTS] = "SELECT p.point, r.id, r.status, r.result, "
                       "(SELECT coalesce(sum(s.seconds), 0) FROM shared_uses u "
                       "JOIN shared_stages s ON s.id = u.shared_id "
                       "WHERE u.run_id = r.id AND u.reused = 1) "
                       "FROM sweep_runs p JOIN runs r ON r.id = p.run_id "
                       "WHERE p.sweep_id = ?1 ORDER BY p.point",
    /* ?2, ?3: the statuses wanted (the same twice for one) */
    [Q_SWEEP_RUNS_IN] = "SELECT DISTINCT r.id FROM sweep_runs p JOIN runs r ON r.id = p.run_id "
                        "WHERE p.sweep_id = ?1 AND r.status IN (?2, ?3) ORDER BY r.id",
    [Q_SWEEP_DELETE] = "DELETE FROM sweeps WHERE id = ?1",
    [Q_RUN_SWEEP] = "SELECT sweep_id FROM sweep_runs WHERE run_id = ?1 LIMIT 1",
};

/* ---- insert ---- */

static int sweep_insert_tx(Conn *w, const char *name, const char *metric, const char *spec,
                           const StoreNewRun *runs, int n_runs, const int *run_of, int n_points,
                           int64_t *id, int64_t *ids, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_SWEEP_INSERT, err);
    if (!s)
        return -1;
    if (db_bind_text(s, 1, name) || db_bind_text(s, 2, metric) || db_bind_text(s, 3, spec) ||
        sqlite3_bind_double(s, 4, db_now())) {
        db_release(s);
        return db_err(err, w->db, 0, "insert a sweep");
    }
    if (db_run_to_end(w, s, 0, "insert a sweep", err) != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(w->db);
    for (int i = 0; i < n_runs; i++)
        if (db_run_insert(w, runs[i].method, runs[i].name, runs[i].config_json,
                          runs[i].skipped, &ids[i], err) != 0)
            return -1;
    for (int p = 0; p < n_points; p++) {
        s = db_stmt(w, Q_SWEEP_POINT_INSERT, err);
        if (!s)
            return -1;
        if (sqlite3_bind_int64(s, 1, *id) || sqlite3_bind_int(s, 2, p) ||
            sqlite3_bind_int64(s, 3, ids[run_of[p]])) {
            db_release(s);
            return db_err(err, w->db, 0, "bind");
        }
        if (db_run_to_end(w, s, 0, "insert a sweep's point", err) != 0)
            return -1;
    }
    return 0;
}

int store_sweep_insert(Store *st, const char *name, const char *metric, const char *spec_json,
                       const StoreNewRun *runs, int n_runs, const int *run_of, int n_points,
                       int64_t *id, int64_t *run_ids, GsErr *err)
{
    if (!name)
        name = "";
    if (strlen(name) >= FIELD_SIZE(StoreSweep, name))
        return gs_errf(err, "store: sweep name longer than %zu bytes",
                       FIELD_SIZE(StoreSweep, name) - 1);
    if (!metric || !*metric || strlen(metric) >= FIELD_SIZE(StoreSweep, metric))
        return gs_errf(err, "store: a sweep's metric has 1 to %zu bytes",
                       FIELD_SIZE(StoreSweep, metric) - 1);
    if (!spec_json || n_runs < 1 || n_points < n_runs || !runs || !run_of)
        return gs_errf(err, "store: a sweep needs its specification, runs and points");
    for (int i = 0; i < n_runs; i++)
        if (db_run_check(runs[i].method, runs[i].name ? runs[i].name : "",
                         runs[i].config_json, runs[i].skipped, err) != 0)
            return -1;
    for (int p = 0; p < n_points; p++)
        if (run_of[p] < 0 || run_of[p] >= n_runs)
            return gs_errf(err, "store: point %d has no run (%d)", p, run_of[p]);
    int64_t *ids = calloc((size_t)n_runs, sizeof *ids);
    if (!ids)
        return db_oom(err, "insert a sweep");
    int64_t new_id = 0;
    Conn *w = db_write_begin(st, true, err);
    if (!w) {
        free(ids);
        return -1;
    }
    int rc = sweep_insert_tx(w, name, metric, spec_json, runs, n_runs, run_of, n_points,
                             &new_id, ids, err);
    rc = db_write_end(st, rc, err);
    if (rc == 0) {
        *id = new_id;
        if (run_ids)
            memcpy(run_ids, ids, (size_t)n_runs * sizeof *ids);
    }
    free(ids);
    return rc;
}

/* ---- read ---- */

static int sweep_counts(Conn *c, StoreSweep *sw, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(c, Q_SWEEP_STATUS_COUNTS, err);
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, sw->id) ? db_err(err, c->db, 0, "bind") : 0;
    while (rc == 0 && (rc = db_step(c, s, 0, "count a sweep's runs", err)) == SQLITE_ROW) {
        int v = run_status_parse((const char *)sqlite3_column_text(s, 0));
        long k = (long)sqlite3_column_int64(s, 1);
        if (v >= 0)
            sw->counts[v] = k;
        sw->runs += (int)k;
        rc = 0;
    }
    db_release(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Fills sw from a row of SWEEP_COLS (then spec at column 4 when with_spec). */
static int read_sweep(sqlite3_stmt *s, StoreSweep *sw, bool with_spec, GsErr *err)
{
    memset(sw, 0, sizeof *sw);
    sw->id = sqlite3_column_int64(s, 0);
    db_col_copy(s, 1, sw->name, sizeof sw->name);
    db_col_copy(s, 2, sw->metric, sizeof sw->metric);
    sw->created_at = db_col_time(s, 3);
    if (with_spec && db_col_strdup(s, 4, &sw->spec_json))
        return db_oom(err, "read a sweep");
    return 0;
}

static int sweep_get_tx(Conn *c, int64_t id, StoreSweep *out, GsErr *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = db_stmt(c, Q_SWEEP_GET, err);
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, id) ? db_err(err, c->db, 0, "bind")
                                          : db_step(c, s, 0, "read a sweep", err);
    if (rc == SQLITE_DONE) {
        gs_errf(err, "sweep %" PRId64 " not found", id);
        rc = STORE_NOT_FOUND;
    } else if (rc == SQLITE_ROW) {
        rc = read_sweep(s, out, true, err);
    }
    db_release(s);
    if (rc == 0)
        rc = sweep_counts(c, out, err);
    return rc;
}

int store_sweep_get(Store *st, int64_t id, StoreSweep *out, GsErr *err)
{
    memset(out, 0, sizeof *out);
    Conn *c = db_read_begin(st, err);
    if (!c)
        return -1;
    int rc = db_read_end(st, c, sweep_get_tx(c, id, out, err), err);
    if (rc != 0)
        store_sweep_free(out);
    return rc;
}

void store_sweep_free(StoreSweep *s)
{
    if (s) {
        free(s->spec_json);
        s->spec_json = NULL;
    }
}

void store_sweep_list_free(StoreSweep *s, int n)
{
    for (int i = 0; s && i < n; i++)
        store_sweep_free(&s[i]);
    free(s);
}

static int read_sweep_row(sqlite3_stmt *s, void *row, GsErr *err)
{
    return read_sweep(s, row, false, err);
}

static int sweep_list_tx(Conn *c, int limit, int offset, StoreSweep **out, int *n, int *total,
                         GsErr *err)
{
    sqlite3_stmt *s = db_stmt(c, Q_SWEEP_COUNT, err);
    if (!s)
        return -1;
    int rc = db_step(c, s, 0, "count sweeps", err);
    if (rc == SQLITE_ROW && total)
        *total = sqlite3_column_int(s, 0);
    db_release(s);
    if (rc != SQLITE_ROW)
        return -1;
    s = db_stmt(c, Q_SWEEP_LIST, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int(s, 1, limit > 0 ? limit : -1) ||
        sqlite3_bind_int(s, 2, offset > 0 ? offset : 0)) {
        db_release(s);
        return db_err(err, c->db, 0, "bind");
    }
    void *rows = NULL;
    rc = db_read_rows(c, s, 0, "list sweeps", sizeof **out, read_sweep_row, NULL, &rows, n,
                      err);
    *out = rows;
    for (int i = 0; rc == 0 && i < *n; i++)
        rc = sweep_counts(c, &(*out)[i], err);
    return rc;
}

int store_sweep_list(Store *st, int limit, int offset, StoreSweep **out, int *n, int *total,
                     GsErr *err)
{
    *out = NULL;
    *n = 0;
    if (total)
        *total = 0;
    Conn *c = db_read_begin(st, err);
    if (!c)
        return -1;
    int rc = db_read_end(st, c, sweep_list_tx(c, limit, offset, out, n, total, err), err);
    if (rc != 0) {
        store_sweep_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void store_sweep_points_free(StoreSweepPoint *p, int n)
{
    for (int i = 0; p && i < n; i++)
        free(p[i].result_json);
    free(p);
}

static void free_point_rows(void *rows, int n)
{
    store_sweep_points_free(rows, n);
}

static int read_point(sqlite3_stmt *s, void *row, GsErr *err)
{
    StoreSweepPoint *p = row;
    memset(p, 0, sizeof *p);
    p->point = sqlite3_column_int(s, 0);
    p->run = sqlite3_column_int64(s, 1);
    p->status = run_status_parse((const char *)sqlite3_column_text(s, 2));
    p->seconds_saved = sqlite3_column_double(s, 4);
    if (db_col_strdup(s, 3, &p->result_json))
        return db_oom(err, "read a sweep's points");
    return 0;
}

static int sweep_points_tx(Conn *c, int64_t id, StoreSweepPoint **out, int *n, GsErr *err)
{
    StoreSweep sw;
    int rc = sweep_get_tx(c, id, &sw, err);
    store_sweep_free(&sw);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = db_stmt(c, Q_SWEEP_POINTS, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, id)) {
        db_release(s);
        return db_err(err, c->db, 0, "bind");
    }
    void *rows = NULL;
    rc = db_read_rows(c, s, 0, "read a sweep's points", sizeof **out, read_point,
                      free_point_rows, &rows, n, err);
    *out = rows;
    return rc;
}

int store_sweep_points(Store *st, int64_t id, StoreSweepPoint **out, int *n, GsErr *err)
{
    *out = NULL;
    *n = 0;
    Conn *c = db_read_begin(st, err);
    if (!c)
        return -1;
    int rc = db_read_end(st, c, sweep_points_tx(c, id, out, n, err), err);
    if (rc != 0) {
        store_sweep_points_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int read_id(sqlite3_stmt *s, void *row, GsErr *err)
{
    (void)err;
    *(int64_t *)row = sqlite3_column_int64(s, 0);
    return 0;
}

/* The ids of the sweep's runs in status a or b (malloc'd), after checking the sweep exists. */
static int sweep_runs_in(Conn *c, int64_t id, RunStatus a, RunStatus b, int64_t **ids, int *n,
                         GsErr *err)
{
    StoreSweep sw;
    int rc = sweep_get_tx(c, id, &sw, err);
    store_sweep_free(&sw);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = db_stmt(c, Q_SWEEP_RUNS_IN, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, id) || db_bind_text(s, 2, RUN_STATUS_NAMES[a]) ||
        db_bind_text(s, 3, RUN_STATUS_NAMES[b])) {
        db_release(s);
        return db_err(err, c->db, 0, "bind");
    }
    void *rows = NULL;
    rc = db_read_rows(c, s, 0, "list a sweep's runs", sizeof **ids, read_id, NULL, &rows, n,
                      err);
    *ids = rows;
    return rc;
}

/* ---- cancel, delete ---- */

static int sweep_cancel_tx(Conn *w, int64_t id, int64_t **running, int *n_running, GsErr *err)
{
    int64_t *live = NULL;
    int n = 0, k = 0;
    int rc = sweep_runs_in(w, id, RUN_QUEUED, RUN_RUNNING, &live, &n, err);
    if (rc != 0)
        return rc;
    if (n == 0) {
        gs_errf(err, "sweep %" PRId64 " has no run left to cancel: all have ended", id);
        return STORE_CONFLICT;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        RunStatus status;
        rc = db_run_status(w, live[i], &status, err);
        if (rc == 0 && status == RUN_RUNNING) {
            rc = db_exec_id(w, Q_RUN_CANCEL_REQUEST, live[i], "request a cancel", err);
            live[k++] = live[i];
        } else if (rc == 0) {
            rc = db_run_cancel_queued(w, live[i], err);
        }
    }
    if (rc != 0) {
        free(live);
        return rc;
    }
    *running = live;
    *n_running = k;
    return 0;
}

int store_sweep_cancel(Store *st, int64_t id, int64_t **running, int *n_running, GsErr *err)
{
    *running = NULL;
    *n_running = 0;
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    int rc = db_write_end(st, sweep_cancel_tx(w, id, running, n_running, err), err);
    if (rc != 0) {
        free(*running);
        *running = NULL;
        *n_running = 0;
    }
    return rc;
}

static int sweep_delete_tx(Conn *w, int64_t id, int64_t **runs, int *n_runs, GsErr *err)
{
    int64_t *live = NULL;
    int n = 0;
    int rc = sweep_runs_in(w, id, RUN_QUEUED, RUN_RUNNING, &live, &n, err);
    free(live);
    if (rc != 0)
        return rc;
    if (n > 0) {
        gs_errf(err, "sweep %" PRId64 " has %d run%s queued or running: cancel it first", id, n,
                n == 1 ? "" : "s");
        return STORE_CONFLICT;
    }
    rc = sweep_runs_in(w, id, RUN_SUCCEEDED, RUN_FAILED, runs, n_runs, err);
    int64_t *canceled = NULL;
    int n_canceled = 0;
    if (rc == 0)
        rc = sweep_runs_in(w, id, RUN_CANCELED, RUN_CANCELED, &canceled, &n_canceled, err);
    if (rc == 0 && n_canceled > 0) {
        int64_t *all = realloc(*runs, (size_t)(*n_runs + n_canceled) * sizeof *all);
        if (!all) {
            rc = db_oom(err, "delete a sweep");
        } else {
            memcpy(all + *n_runs, canceled, (size_t)n_canceled * sizeof *all);
            *runs = all;
            *n_runs += n_canceled;
        }
    }
    free(canceled);
    /* a run's metrics, events, checkpoints, pseudo-labels and shared-stage uses go with it
     * (ON DELETE CASCADE); the sweep's point rows with the sweep */
    for (int i = 0; rc == 0 && i < *n_runs; i++)
        rc = db_exec_id(w, Q_RUN_DELETE, (*runs)[i], "delete a sweep's run", err);
    if (rc == 0)
        rc = db_exec_id(w, Q_SWEEP_DELETE, id, "delete a sweep", err);
    return rc;
}

int store_sweep_delete(Store *st, int64_t id, int64_t **runs, int *n_runs, GsErr *err)
{
    *runs = NULL;
    *n_runs = 0;
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    int rc = db_write_end(st, sweep_delete_tx(w, id, runs, n_runs, err), err);
    if (rc != 0) {
        free(*runs);
        *runs = NULL;
        *n_runs = 0;
    }
    return rc;
}

int store_run_sweep(Store *st, int64_t run, int64_t *sweep, GsErr *err)
{
    *sweep = 0;
    Conn *c = db_reader_get(st);
    sqlite3_stmt *s = db_stmt(c, Q_RUN_SWEEP, err);
    int rc = -1;
    if (s) {
        rc = sqlite3_bind_int64(s, 1, run) ? db_err(err, c->db, run, "bind")
                                           : db_step(c, s, run, "read a run's sweep", err);
        if (rc == SQLITE_ROW)
            *sweep = sqlite3_column_int64(s, 0);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
        db_release(s);
    }
    db_reader_put(st, c);
    return rc;
}
