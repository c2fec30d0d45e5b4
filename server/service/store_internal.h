/* store_internal.h — what the store's own files (server/service/store*.c) share: a
 * connection and its statement cache, the slot of every cached statement, and the helpers
 * that run SQL, bind and read values, and take the writer or a reader. It includes sqlite3.h,
 * so nothing but a store file may include it; everyone else sees store.h only.
 *
 * Each file owns the SQL text of its statements (the STORE_SQL_* tables below, indexed by the
 * Q_* slots); store.c looks a text up the first time a connection prepares it. Private
 * functions are named db_* so that they never meet a public store_* name. */
#ifndef GS_STORE_INTERNAL_H
#define GS_STORE_INTERNAL_H

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "gs/store.h"

#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)

/* Every statement the store caches, grouped by the file that holds its SQL text. */
enum {
    /* store.c: transactions and migrations */
    Q_BEGIN, Q_BEGIN_IMMEDIATE, Q_COMMIT, Q_ROLLBACK,
    Q_VERSION_GET, Q_VERSION_ADD,
    /* store_runs.c: a run's tags and note (schema/003_run_notes.sql) */
    Q_RUN_ANNOTATE,
    /* store_runs.c: a run's processes and their hosts (schema/005_processes.sql) */
    Q_RUN_HOSTS,
    /* store_runs.c: runs and their stages */
    Q_RUN_INSERT, Q_STAGE_INSERT, Q_RUN_GET, Q_RUN_STATUS, Q_RUN_COUNT, Q_RUN_LIST,
    Q_RUN_CLAIM, Q_RUN_CANCEL_QUEUED, Q_STAGES_CANCEL, Q_RUN_CANCEL_REQUEST,
    Q_RUN_FINISH, Q_STAGES_FINISH, Q_RUN_REQUEUE, Q_STAGES_REQUEUE,
    Q_RUNS_IN_STATE, Q_RUN_DELETE, Q_RUN_COUNTS, Q_RUN_ATTEMPT,
    Q_STAGE_PUT, Q_STAGES_GET, Q_STAGE_RUNNING, Q_STAGES_RESET_AFTER,
    /* store_metrics.c: metrics and events */
    Q_METRIC_ADD, Q_METRICS_DELETE_AFTER,
    Q_METRICS_ALL, Q_METRICS_STAGE, Q_METRICS_NAME, Q_METRICS_STAGE_NAME, /* in this order */
    Q_EVENT_ADD, Q_EVENTS_GET, Q_EVENTS_DELETE_AFTER,
    /* store_assign.c: pseudo-label assignments */
    Q_ASSIGN_DELETE, Q_ASSIGN_INSERT, Q_ASSIGN_COUNT, Q_ASSIGN_GET,
    Q_ASSIGN_SET_PUT, Q_ASSIGN_DELETE_AFTER, Q_ASSIGN_SET_DELETE_AFTER,
    /* store_ckpt.c: checkpoints */
    Q_CKPT_INSERT, Q_CKPT_PRUNE, Q_CKPT_LIST,
    Q_CKPT_LATEST, Q_CKPT_LATEST_DATA, Q_CKPT_GET, Q_CKPT_GET_DATA,
    Q_CKPT_ROW, Q_CKPT_DELETE_AFTER,
    /* store_sweeps.c: sweeps and their points */
    Q_SWEEP_INSERT, Q_SWEEP_POINT_INSERT, Q_SWEEP_GET, Q_SWEEP_COUNT, Q_SWEEP_LIST,
    Q_SWEEP_STATUS_COUNTS, Q_SWEEP_POINTS, Q_SWEEP_RUNS_IN, Q_SWEEP_DELETE, Q_RUN_SWEEP,
    /* store_shared.c: shared stages */
    Q_SHARED_GET, Q_SHARED_GET_DATA, Q_SHARED_PUBLISH, Q_SHARED_PUBLISH_ASSIGN, Q_SHARED_USE,
    Q_SHARED_STAGE, Q_SHARED_SOURCE, Q_SHARED_COPY_METRICS, Q_SHARED_COPY_EVENTS, Q_SHARED_COPY_STAGES,
    Q_SHARED_OF_RUN, Q_SHARED_RUN_KMEANS, Q_SHARED_ASSIGN_COUNT, Q_SHARED_ASSIGN_GET,
    Q_COUNT
};

/* The SQL texts of each file's statements (NULL for the slots of other files). */
extern const char *const STORE_SQL_RUNS[Q_COUNT];
extern const char *const STORE_SQL_METRICS[Q_COUNT];
extern const char *const STORE_SQL_ASSIGN[Q_COUNT];
extern const char *const STORE_SQL_CKPT[Q_COUNT];
extern const char *const STORE_SQL_SWEEPS[Q_COUNT];
extern const char *const STORE_SQL_SHARED[Q_COUNT];

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *stmt[Q_COUNT];    /* prepared on first use, finalized at close */
    int sync_full;                  /* writer: synchronous is FULL now (else NORMAL) */
    bool disk_full;                 /* a statement failed for want of space (db_step) */
} Conn;

/* ---- positions (store.h: StorePos) ---- */

/* The SQL condition "this row's (stage, epoch, step) comes after the position bound to ?2,
 * ?3 and ?4" (?4 from db_bind_after: a step of -1, the end of an epoch, is after every
 * step of it). The columns must be named stage, epoch and step. */
#define DB_AFTER_POS                                                                        \
    "(stage > ?2 OR (stage = ?2 AND (epoch > ?3 OR (epoch = ?3 AND "                        \
    "(CASE WHEN step < 0 THEN 9223372036854775807 ELSE step END) > ?4))))"

/* The position before everything a run stores: what a run resumes from when it has no
 * checkpoint. */
#define DB_START ((StorePos){.stage = -1, .epoch = 0, .step = 0})

/* Runs statement q with ?1 = run and ?2..?4 = the position at (as DB_AFTER_POS reads it) to
 * its end. */
int db_exec_after(Conn *c, int q, int64_t run, const StorePos *at, const char *what,
                  GsErr *err);

/* ---- errors: each sets err and returns what the public call returns ---- */

/* "store: [run N: ]what: sqlite's message" and -1. Must be called before anything else runs
 * on the connection (a ROLLBACK would replace the message). */
int db_err(GsErr *err, sqlite3 *db, int64_t run, const char *what);
/* "run N not found" and STORE_NOT_FOUND. */
int db_not_found(GsErr *err, int64_t run);
/* "store: what: out of memory" and -1. */
int db_oom(GsErr *err, const char *what);

/* ---- statements ---- */

/* The cached statement q of c, prepared now if this is its first use; NULL with err set. */
sqlite3_stmt *db_stmt(Conn *c, int q, GsErr *err);
/* One sqlite3_step: SQLITE_ROW or SQLITE_DONE, or -1 with err naming what failed. */
int db_step(Conn *c, sqlite3_stmt *s, int64_t run, const char *what, GsErr *err);
/* Runs a statement that returns no rows to its end and releases it: 0 or -1. An insert that
 * names a run that does not exist (its foreign key) gives STORE_NOT_FOUND. */
int db_run_to_end(Conn *c, sqlite3_stmt *s, int64_t run, const char *what, GsErr *err);
/* Runs statement q with ?1 = id (and nothing else to bind) to its end. */
int db_exec_id(Conn *c, int q, int64_t id, const char *what, GsErr *err);
/* Runs statement q with ?1 = run, ?2 = stage and, when it has a ?3, ?3 = v (and nothing
 * else to bind) to its end. */
int db_exec_run_stage(Conn *c, int q, int64_t run, int stage, int v, const char *what,
                      GsErr *err);

/* Fills one element of a db_read_rows array from the current row; when it fails it sets err
 * and leaves nothing of the element to free. */
typedef int (*RowReader)(sqlite3_stmt *s, void *row, GsErr *err);
/* Steps s to its end, filling one elem-byte element a row with read_row, and releases s: 0
 * with the malloc'd array in *rows (NULL when there are none) and its length in *n, or -1
 * with err set and the rows read so far freed by free_rows (by free when it is NULL). */
int db_read_rows(Conn *c, sqlite3_stmt *s, int64_t run, const char *what, size_t elem,
                 RowReader read_row, void (*free_rows)(void *rows, int n), void **rows, int *n,
                 GsErr *err);

/* A malloc'd copy of a text column (*out NULL for SQL NULL); -1 when memory ran out. */
int db_col_strdup(sqlite3_stmt *s, int i, char **out);
/* A text column into a fixed buffer; the writers refuse values that would not fit. */
void db_col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap);

/* ---- the writer and the readers ---- */

/* Takes the writer and opens BEGIN IMMEDIATE; durable commits with synchronous=FULL. NULL
 * (lock released) on failure. Pair with db_write_end. */
Conn *db_write_begin(Store *st, bool durable, GsErr *err);
/* Commits when rc is 0, else rolls back; releases the writer; returns rc, or -1 when the
 * commit failed. */
int db_write_end(Store *st, int rc, GsErr *err);
/* A reader connection, waiting only while all of them are busy with other reads. */
Conn *db_reader_get(Store *st);
void db_reader_put(Store *st, Conn *c);
/* Takes a reader and opens a read transaction on it, so reads made of several statements
 * see one snapshot. NULL (the reader handed back) on failure. Pair with db_read_end. */
Conn *db_read_begin(Store *st, GsErr *err);
/* Ends the read transaction (a failed read rolls back) and hands the reader back; returns
 * rc, or -1 when the commit failed. */
int db_read_end(Store *st, Conn *c, int rc, GsErr *err);

/* ---- runs (store_runs.c), which every other table hangs from ---- */

/* The status of run id into *status: 0, STORE_NOT_FOUND or -1. */
int db_run_status(Conn *c, int64_t id, RunStatus *status, GsErr *err);
/* 0 when run id exists, else STORE_NOT_FOUND or -1. */
int db_run_exists(Conn *c, int64_t id, GsErr *err);
/* Inserts a queued run and its stage rows on the writer's transaction (store_run_insert's
 * work; arguments checked by the caller). */
int db_run_insert(Conn *w, const char *method, const char *name, const char *config_json,
                  unsigned skipped, int64_t *id, GsErr *err);
/* Checks a new run's fields as store_run_insert does: 0, or -1 with err set. */
int db_run_check(const char *method, const char *name, const char *config_json,
                 unsigned skipped, GsErr *err);
/* A queued run canceled now, with its pending stages (store_run_request_cancel's work). */
int db_run_cancel_queued(Conn *w, int64_t id, GsErr *err);
/* The shared stage of stage STAGE_KMEANS run reused into *shared (0 when none). */
int db_shared_kmeans_of(Conn *c, int64_t run, int64_t *shared, GsErr *err);
/* Stores a stage row (the UPDATE behind store_stage_put) on the writer's transaction. */
int db_stage_put(Conn *w, int64_t run, const StoreStage *g, GsErr *err);

/* ---- what a resume deletes, each on the writer's open transaction ---- */

/* Adds an event (at NULL: a service event, without position) on the writer's transaction;
 * its id into *id when id is not NULL (store_metrics.c). */
int db_event_insert(Conn *w, int64_t run, const StorePos *at, const char *kind,
                    const char *message, double time, int64_t *id, GsErr *err);
/* Metrics and the pipeline's log lines after at (store_metrics.c). */
int db_metrics_delete_after(Conn *w, int64_t run, const StorePos *at, GsErr *err);
/* The pseudo-labels, when their set is positioned after at (store_assign.c). */
int db_assignments_delete_after(Conn *w, int64_t run, const StorePos *at, GsErr *err);
/* Checkpoint `id` of the run: its position, and its stage's row when it was stored with one
 * (*has_row). STORE_NOT_FOUND when the run has no such checkpoint (store_ckpt.c). */
int db_checkpoint_position(Conn *w, int64_t run, int64_t id, StorePos *at, StoreStage *row,
                           bool *has_row, GsErr *err);
/* The id of the run's newest checkpoint, 0 when it has none. */
int db_checkpoint_newest(Conn *w, int64_t run, int64_t *id, GsErr *err);
/* Checkpoints positioned after at. */
int db_checkpoints_delete_after(Conn *w, int64_t run, const StorePos *at, GsErr *err);

/* ---- values: NaN doubles are stored as NULL, and 0 ("not yet") times too ---- */

static inline double db_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Ends a use of a cached statement: ready to run again, and no binding left pointing at the
 * caller's memory. */
static inline void db_release(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

static inline int db_bind_text(sqlite3_stmt *s, int i, const char *text)
{
    return text ? sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static inline int db_bind_real(sqlite3_stmt *s, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, v);
}

static inline int db_bind_time(sqlite3_stmt *s, int i, double t)
{
    return t == 0.0 ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, t);
}

static inline double db_col_real(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static inline double db_col_time(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? 0.0 : sqlite3_column_double(s, i);
}

#endif
