/* store_assign.c — the pseudo-labels in the store: the cluster of every training image of a
 * run (and its true label when known, a diagnostic for cluster summaries), replaced as a
 * whole in one durable transaction and read back as arrays. A set has one position in the
 * run (assignment_sets), so a resume from an earlier checkpoint deletes it. A run that reused
 * a shared k-means stage has no set of its own and reads the shared one (store_shared.c).
 * The SQL of these tables lives here. It must never leave a run with part of a set: a failed put keeps the old
 * one. */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

#include "store_internal.h"

const char *const STORE_SQL_ASSIGN[Q_COUNT] = {
    [Q_ASSIGN_DELETE] = "DELETE FROM assignments WHERE run_id = ?1",
    [Q_ASSIGN_INSERT] = "INSERT INTO assignments (run_id, image, cluster, label) "
                        "VALUES (?1, ?2, ?3, ?4)",
    [Q_ASSIGN_COUNT] = "SELECT count(*), count(label), coalesce(min(image), 0), "
                       "coalesce(max(image), -1) FROM assignments WHERE run_id = ?1",
    [Q_ASSIGN_GET] = "SELECT image, cluster, label FROM assignments "
                     "WHERE run_id = ?1 ORDER BY image",
    [Q_ASSIGN_SET_PUT] = "INSERT OR REPLACE INTO assignment_sets (run_id, stage, epoch, step) "
                         "VALUES (?1, ?2, ?3, ?4)",
    [Q_ASSIGN_DELETE_AFTER] = "DELETE FROM assignments WHERE run_id = ?1 AND EXISTS "
                              "(SELECT 1 FROM assignment_sets WHERE run_id = ?1 AND "
                              DB_AFTER_POS ")",
    [Q_ASSIGN_SET_DELETE_AFTER] = "DELETE FROM assignment_sets WHERE run_id = ?1 AND "
                                  DB_AFTER_POS,
};

int db_assignments_delete_after(Conn *w, int64_t run, const StorePos *at, GsErr *err)
{
    if (db_exec_after(w, Q_ASSIGN_DELETE_AFTER, run, at, "delete later pseudo-labels", err) != 0)
        return -1;
    return db_exec_after(w, Q_ASSIGN_SET_DELETE_AFTER, run, at, "delete later pseudo-labels",
                         err);
}

static int assignments_put_tx(Conn *w, int64_t run, const StorePos *at, const int32_t *assign,
                              const int32_t *labels, int n, GsErr *err)
{
    int rc = db_run_exists(w, run, err);
    if (rc != 0)
        return rc;
    if (db_exec_id(w, Q_ASSIGN_DELETE, run, "delete old pseudo-labels", err) != 0)
        return -1;
    sqlite3_stmt *s = db_stmt(w, Q_ASSIGN_SET_PUT, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int(s, 2, at->stage) ||
        sqlite3_bind_int(s, 3, at->epoch) || sqlite3_bind_int64(s, 4, at->step)) {
        db_release(s);
        return db_err(err, w->db, run, "bind");
    }
    if (db_run_to_end(w, s, run, "store the pseudo-labels' position", err) != 0)
        return -1;
    s = db_stmt(w, Q_ASSIGN_INSERT, err);
    if (!s)
        return -1;
    /* one prepared INSERT for every row; only what changes is bound again */
    if (sqlite3_bind_int64(s, 1, run)) {
        db_release(s);
        return db_err(err, w->db, run, "bind");
    }
    for (int i = 0; i < n; i++) {
        if (sqlite3_bind_int(s, 2, i) || sqlite3_bind_int(s, 3, assign[i]) ||
            (labels ? sqlite3_bind_int(s, 4, labels[i]) : sqlite3_bind_null(s, 4))) {
            db_release(s);
            return db_err(err, w->db, run, "bind");
        }
        rc = db_step(w, s, run, "store a pseudo-label", err);
        if (rc != SQLITE_DONE) {
            db_release(s);
            return -1;
        }
        sqlite3_reset(s);
    }
    db_release(s);
    return 0;
}

int store_assignments_put(Store *st, int64_t run, const StorePos *at, const int32_t *assign,
                          const int32_t *labels, int n, GsErr *err)
{
    if (n < 0 || (n > 0 && !assign))
        return gs_errf(err, "store: run %" PRId64 ": pseudo-labels: bad array (n = %d)", run, n);
    if (!at || at->stage < 0 || at->stage >= STAGE_COUNT)
        return gs_errf(err, "store: run %" PRId64 ": pseudo-labels need a position in a stage",
                       run);
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    return db_write_end(st, assignments_put_tx(w, run, at, assign, labels, n, err), err);
}

/* The set of query q_count / q_get with ?1 = key: a run's own set (key the run), or a shared
 * k-means stage's (key its id), which a run that reused that stage reads instead. */
static int assignments_read(Conn *c, int q_count, int q_get, int64_t key, int64_t run,
                            int32_t **assign, int32_t **labels, int *n, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(c, q_count, err);
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, key) ? db_err(err, c->db, run, "bind")
                                           : db_step(c, s, run, "count pseudo-labels", err);
    int64_t count = 0, n_labels = 0, lo = 0, hi = -1;
    if (rc == SQLITE_ROW) {
        count = sqlite3_column_int64(s, 0);
        n_labels = sqlite3_column_int64(s, 1);
        lo = sqlite3_column_int64(s, 2);
        hi = sqlite3_column_int64(s, 3);
    }
    db_release(s);
    if (rc != SQLITE_ROW)
        return -1;
    if (count == 0) {
        gs_errf(err, "run %" PRId64 " has no pseudo-labels", run);
        return STORE_NOT_FOUND;
    }
    /* image is part of the primary key, so 0..count-1 means every image exactly once */
    if (lo != 0 || hi != count - 1 || count > INT_MAX)
        return gs_errf(err, "store: run %" PRId64 ": pseudo-labels do not cover images 0..%" PRId64,
                       run, count - 1);

    int32_t *a = malloc((size_t)count * sizeof *a);
    int32_t *l = n_labels > 0 ? malloc((size_t)count * sizeof *l) : NULL;
    if (!a || (n_labels > 0 && !l)) {
        free(a);
        free(l);
        return db_oom(err, "read pseudo-labels");
    }
    s = db_stmt(c, q_get, err);
    rc = !s ? -1 : sqlite3_bind_int64(s, 1, key) ? db_err(err, c->db, run, "bind") : 0;
    int64_t k = 0;
    while (rc == 0 && (rc = db_step(c, s, run, "read pseudo-labels", err)) == SQLITE_ROW) {
        if (k >= count || sqlite3_column_int64(s, 0) != k) {
            rc = gs_errf(err, "store: run %" PRId64 ": pseudo-labels changed while read", run);
            break;
        }
        a[k] = sqlite3_column_int(s, 1);
        if (l)  /* a missing label among others (never written so) reads as -1 */
            l[k] = sqlite3_column_type(s, 2) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 2);
        k++;
        rc = 0;
    }
    db_release(s);
    if (rc != SQLITE_DONE || k != count) {
        if (rc == SQLITE_DONE)
            gs_errf(err, "store: run %" PRId64 ": pseudo-labels changed while read", run);
        free(a);
        free(l);
        return -1;
    }
    *assign = a;
    if (labels)
        *labels = l;
    else
        free(l);
    *n = (int)count;
    return 0;
}

static int assignments_get_tx(Conn *c, int64_t run, int32_t **assign, int32_t **labels, int *n,
                              GsErr *err)
{
    int rc = assignments_read(c, Q_ASSIGN_COUNT, Q_ASSIGN_GET, run, run, assign, labels, n, err);
    if (rc != STORE_NOT_FOUND)
        return rc;
    int64_t shared;
    if (db_shared_kmeans_of(c, run, &shared, err) != 0)
        return -1;
    if (!shared)
        return STORE_NOT_FOUND; /* err already says the run has none */
    return assignments_read(c, Q_SHARED_ASSIGN_COUNT, Q_SHARED_ASSIGN_GET, shared, run, assign,
                            labels, n, err);
}

int store_assignments_get(Store *st, int64_t run, int32_t **assign, int32_t **labels, int *n,
                          GsErr *err)
{
    *assign = NULL;
    if (labels)
        *labels = NULL;
    *n = 0;
    Conn *c = db_read_begin(st, err);
    if (!c)
        return -1;
    int rc = db_read_end(st, c, assignments_get_tx(c, run, assign, labels, n, err), err);
    if (rc != 0 && *assign) {   /* only a failed commit of the read gets here with arrays */
        free(*assign);
        *assign = NULL;
        if (labels) {
            free(*labels);
            *labels = NULL;
        }
        *n = 0;
    }
    return rc;
}

