/* store_metrics.c — metrics and log events in the store: the values a run records per epoch
 * or per logged step, and its log. Both are appended while a run trains (synchronous=NORMAL:
 * many small writes), read back after an id (for streams that follow them), and cut back to a
 * checkpoint's position when a run resumes (the pipeline's log lines have a position; the
 * service's own events have none and stay). The SQL of these tables lives here. Names and
 * values are the pipeline's: this file stores them and must not interpret them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define METRIC_COLS "SELECT id, stage, epoch, step, name, value, time FROM metrics " \
                    "WHERE run_id = ?1 AND id > ?4"
#define METRIC_ORDER " ORDER BY id LIMIT ?5"

const char *const STORE_SQL_METRICS[Q_COUNT] = {
    [Q_METRIC_ADD] = "INSERT INTO metrics (run_id, stage, epoch, step, name, value, time) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_METRICS_DELETE_AFTER] = "DELETE FROM metrics WHERE run_id = ?1 AND " DB_AFTER_POS,
    /* ?2 stage, ?3 name, ?4 after id, ?5 limit; one text per filter so each uses its index */
    [Q_METRICS_ALL] = METRIC_COLS METRIC_ORDER,
    [Q_METRICS_STAGE] = METRIC_COLS " AND stage = ?2" METRIC_ORDER,
    [Q_METRICS_NAME] = METRIC_COLS " AND name = ?3" METRIC_ORDER,
    [Q_METRICS_STAGE_NAME] = METRIC_COLS " AND stage = ?2 AND name = ?3" METRIC_ORDER,

    [Q_EVENT_ADD] = "INSERT INTO events (run_id, time, kind, message, stage, epoch, step) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_EVENTS_GET] = "SELECT id, time, kind, message, stage, epoch, step FROM events "
                     "WHERE run_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    [Q_EVENTS_DELETE_AFTER] = "DELETE FROM events WHERE run_id = ?1 AND stage IS NOT NULL AND "
                              DB_AFTER_POS,
};

int store_metric_add(Store *st, int64_t run, int stage, int epoch, long step_, const char *name,
                     double value, double time, GsErr *err)
{
    if (stage < 0 || stage >= STAGE_COUNT)
        return gs_errf(err, "store: run %" PRId64 ": no stage %d", run, stage);
    if (!name || !*name || strlen(name) >= FIELD_SIZE(StoreMetric, name))
        return gs_errf(err, "store: run %" PRId64 ": a metric name has 1 to %zu bytes", run,
                       FIELD_SIZE(StoreMetric, name) - 1);
    Conn *w = db_write_begin(st, false, err);
    if (!w)
        return -1;
    sqlite3_stmt *s = db_stmt(w, Q_METRIC_ADD, err);
    int rc = -1;
    if (s) {
        if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int(s, 2, stage) ||
            sqlite3_bind_int(s, 3, epoch) || sqlite3_bind_int64(s, 4, step_) ||
            db_bind_text(s, 5, name) || db_bind_real(s, 6, value) ||
            sqlite3_bind_double(s, 7, time)) {
            db_release(s);
            rc = db_err(err, w->db, run, "bind");
        } else {
            rc = db_run_to_end(w, s, run, "add a metric", err);
        }
    }
    return db_write_end(st, rc, err);
}

int db_metrics_delete_after(Conn *w, int64_t run, const StorePos *at, GsErr *err)
{
    if (db_exec_after(w, Q_METRICS_DELETE_AFTER, run, at, "delete later metrics", err) != 0)
        return -1;
    return db_exec_after(w, Q_EVENTS_DELETE_AFTER, run, at, "delete later log lines", err);
}

static int read_metric(sqlite3_stmt *s, void *row, GsErr *err)
{
    StoreMetric *m = row;
    (void)err;
    m->id = sqlite3_column_int64(s, 0);
    m->stage = sqlite3_column_int(s, 1);
    m->epoch = sqlite3_column_int(s, 2);
    m->step = (long)sqlite3_column_int64(s, 3);
    db_col_copy(s, 4, m->name, sizeof m->name);
    m->value = db_col_real(s, 5);
    m->time = sqlite3_column_double(s, 6);
    return 0;
}

static int metrics_get_tx(Conn *c, int64_t run, int stage, const char *name, int64_t after_id,
                          int limit, StoreMetric **out, int *n, GsErr *err)
{
    int rc = db_run_exists(c, run, err);
    if (rc != 0)
        return rc;
    int q = Q_METRICS_ALL + (stage >= 0) + 2 * (name != NULL);
    sqlite3_stmt *s = db_stmt(c, q, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int(s, 2, stage) ||
        db_bind_text(s, 3, name) || sqlite3_bind_int64(s, 4, after_id) ||
        sqlite3_bind_int(s, 5, limit > 0 ? limit : -1)) {
        db_release(s);
        return db_err(err, c->db, run, "bind");
    }
    void *rows = NULL;
    rc = db_read_rows(c, s, run, "read metrics", sizeof **out, read_metric, NULL, &rows, n, err);
    *out = rows;
    return rc;
}

int store_metrics_get(Store *st, int64_t run, int stage, const char *name, int64_t after_id,
                      int limit, StoreMetric **out, int *n, GsErr *err)
{
    *out = NULL;
    *n = 0;
    Conn *c = db_read_begin(st, err);
    if (!c)
        return -1;
    int rc = db_read_end(st, c, metrics_get_tx(c, run, stage, name, after_id, limit, out, n, err),
                         err);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int db_event_insert(Conn *w, int64_t run, const StorePos *at, const char *kind,
                    const char *message, double time, int64_t *id, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_EVENT_ADD, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_double(s, 2, time) ||
        db_bind_text(s, 3, kind) || db_bind_text(s, 4, message) ||
        (at ? sqlite3_bind_int(s, 5, at->stage) || sqlite3_bind_int(s, 6, at->epoch) ||
                  sqlite3_bind_int64(s, 7, at->step)
            : sqlite3_bind_null(s, 5) || sqlite3_bind_null(s, 6) || sqlite3_bind_null(s, 7))) {
        db_release(s);
        return db_err(err, w->db, run, "bind");
    }
    int rc = db_run_to_end(w, s, run, "add an event", err);
    if (rc == 0 && id)
        *id = sqlite3_last_insert_rowid(w->db);
    return rc;
}

int store_event_add(Store *st, int64_t run, const StorePos *at, const char *kind,
                    const char *message, double time, int64_t *id, GsErr *err)
{
    if (!kind || !*kind || strlen(kind) >= FIELD_SIZE(StoreEvent, kind))
        return gs_errf(err, "store: run %" PRId64 ": an event kind has 1 to %zu bytes", run,
                       FIELD_SIZE(StoreEvent, kind) - 1);
    if (!message)
        return gs_errf(err, "store: run %" PRId64 ": an event needs a message", run);
    if (at && (at->stage < 0 || at->stage >= STAGE_COUNT))
        return gs_errf(err, "store: run %" PRId64 ": no stage %d", run, at->stage);
    int64_t new_id = 0;
    Conn *w = db_write_begin(st, false, err);
    if (!w)
        return -1;
    int rc = db_write_end(st, db_event_insert(w, run, at, kind, message, time, &new_id, err),
                          err);
    if (rc == 0 && id)
        *id = new_id;
    return rc;
}

void store_events_free(StoreEvent *ev, int n)
{
    for (int i = 0; ev && i < n; i++)
        free(ev[i].message);
    free(ev);
}

static void free_event_rows(void *rows, int n)
{
    store_events_free(rows, n);
}

static int read_event(sqlite3_stmt *s, void *row, GsErr *err)
{
    StoreEvent *e = row;
    e->id = sqlite3_column_int64(s, 0);
    e->time = sqlite3_column_double(s, 1);
    db_col_copy(s, 2, e->kind, sizeof e->kind);
    bool positioned = sqlite3_column_type(s, 4) != SQLITE_NULL;
    e->stage = positioned ? sqlite3_column_int(s, 4) : -1;
    e->epoch = positioned ? sqlite3_column_int(s, 5) : 0;
    e->step = positioned ? (long)sqlite3_column_int64(s, 6) : 0;
    if (db_col_strdup(s, 3, &e->message) != 0 || !e->message)
        return db_oom(err, "read events");
    return 0;
}

static int events_get_tx(Conn *c, int64_t run, int64_t after_id, int limit, StoreEvent **out,
                         int *n, GsErr *err)
{
    int rc = db_run_exists(c, run, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = db_stmt(c, Q_EVENTS_GET, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int64(s, 2, after_id) ||
        sqlite3_bind_int(s, 3, limit > 0 ? limit : -1)) {
        db_release(s);
        return db_err(err, c->db, run, "bind");
    }
    void *rows = NULL;
    rc = db_read_rows(c, s, run, "read events", sizeof **out, read_event, free_event_rows, &rows,
                      n, err);
    *out = rows;
    return rc;
}

int store_events_get(Store *st, int64_t run, int64_t after_id, int limit, StoreEvent **out,
                     int *n, GsErr *err)
{
    *out = NULL;
    *n = 0;
    Conn *c = db_read_begin(st, err);
    if (!c)
        return -1;
    int rc = db_read_end(st, c, events_get_tx(c, run, after_id, limit, out, n, err), err);
    if (rc != 0) {
        store_events_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

