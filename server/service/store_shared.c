/* store_shared.c — shared stages in the store: the checkpoint that closes a run's autoencoder
 * or k-means stage kept once under a content key, with the k-means pseudo-labels, and the
 * runs that use each (the one that computed it and those that reused it). A run that reuses
 * one is given, in the same transaction, the stage rows, metrics and log lines of the stages
 * it skips, copied from another user, so every route that reads a run's stages works for it
 * unchanged; the pseudo-labels are not copied but read from the shared set
 * (store_assign.c). A shared stage goes with its last user (a trigger of
 * schema/004_sweeps.sql). The key and the blob are opaque here: what a key means and whether
 * a run may reuse is the caller's to decide. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define SHARED_COLS "SELECT id, stage, run_id, seconds"

const char *const STORE_SQL_SHARED[Q_COUNT] = {
    [Q_SHARED_GET] = SHARED_COLS " FROM shared_stages WHERE key = ?1",
    [Q_SHARED_GET_DATA] = SHARED_COLS ", data FROM shared_stages WHERE key = ?1",
    [Q_SHARED_PUBLISH] = "INSERT INTO shared_stages (key, stage, run_id, seconds, "
                         "format_version, crc32, bytes, created_at, data) "
                         "SELECT ?1, stage, run_id, ?3, format_version, crc32, bytes, ?4, data "
                         "FROM checkpoints WHERE id = ?5 AND run_id = ?6 AND stage = ?2 "
                         "ON CONFLICT (key) DO NOTHING",
    [Q_SHARED_PUBLISH_ASSIGN] = "INSERT INTO shared_assignments (shared_id, image, cluster, "
                                "label) SELECT ?1, image, cluster, label FROM assignments "
                                "WHERE run_id = ?2",
    [Q_SHARED_USE] = "INSERT OR REPLACE INTO shared_uses (run_id, shared_id, reused, "
                     "created_at) VALUES (?1, ?2, ?3, ?4)",
    /* another user whose rows of stages <= ?3 are there (not reset by a restart), the run
     * that computed it first */
    [Q_SHARED_SOURCE] = "SELECT u.run_id FROM shared_uses u WHERE u.shared_id = ?1 AND "
                        "u.run_id <> ?2 AND NOT EXISTS (SELECT 1 FROM stages g WHERE "
                        "g.run_id = u.run_id AND g.stage <= ?3 AND g.status = 'pending') "
                        "ORDER BY u.reused, u.created_at LIMIT 1",
    [Q_SHARED_COPY_METRICS] = "INSERT INTO metrics (run_id, stage, epoch, step, name, value, "
                              "time) SELECT ?1, stage, epoch, step, name, value, time "
                              "FROM metrics WHERE run_id = ?2 AND stage <= ?3 ORDER BY id",
    [Q_SHARED_COPY_EVENTS] = "INSERT INTO events (run_id, time, kind, message, stage, epoch, "
                             "step) SELECT ?1, time, kind, message, stage, epoch, step "
                             "FROM events WHERE run_id = ?2 AND stage IS NOT NULL AND "
                             "stage <= ?3 ORDER BY id",
    /* the figures of the source's rows; the time is this run's (it spent none) */
    [Q_SHARED_COPY_STAGES] = "UPDATE stages SET status = 'succeeded', epoch = g.epoch, "
                             "epochs = g.epochs, step = g.step, steps = g.steps, loss = g.loss, "
                             "items_per_s = g.items_per_s, eta_s = 0, seconds = 0, "
                             "started_at = ?4, finished_at = ?4 FROM (SELECT stage, epoch, "
                             "epochs, step, steps, loss, items_per_s FROM stages "
                             "WHERE run_id = ?2) AS g "
                             "WHERE stages.run_id = ?1 AND stages.stage = g.stage AND "
                             "g.stage <= ?3",
    [Q_SHARED_STAGE] = "SELECT stage FROM shared_stages WHERE id = ?1",
    [Q_SHARED_OF_RUN] = "SELECT s.id, s.stage, s.run_id, s.seconds, u.reused "
                        "FROM shared_uses u JOIN shared_stages s ON s.id = u.shared_id "
                        "WHERE u.run_id = ?1 ORDER BY s.stage LIMIT 2",
    [Q_SHARED_RUN_KMEANS] = "SELECT s.id FROM shared_uses u JOIN shared_stages s "
                            "ON s.id = u.shared_id WHERE u.run_id = ?1 AND u.reused = 1 AND "
                            "s.stage = 1",
    [Q_SHARED_ASSIGN_COUNT] = "SELECT count(*), count(label), coalesce(min(image), 0), "
                              "coalesce(max(image), -1) FROM shared_assignments "
                              "WHERE shared_id = ?1",
    [Q_SHARED_ASSIGN_GET] = "SELECT image, cluster, label FROM shared_assignments "
                            "WHERE shared_id = ?1 ORDER BY image",
};

static void read_meta(sqlite3_stmt *s, StoreShared *m)
{
    m->id = sqlite3_column_int64(s, 0);
    m->stage = sqlite3_column_int(s, 1);
    m->run = sqlite3_column_int64(s, 2);
    m->seconds = sqlite3_column_double(s, 3);
    m->reused = false;
}

int store_shared_get(Store *st, const char *key, StoreShared *meta, void **blob, size_t *len,
                     GsErr *err)
{
    if (blob)
        *blob = NULL;
    if (len)
        *len = 0;
    if (!key || !*key)
        return gs_errf(err, "store: a shared stage needs its key");
    Conn *c = db_reader_get(st);
    sqlite3_stmt *s = db_stmt(c, blob ? Q_SHARED_GET_DATA : Q_SHARED_GET, err);
    int rc = -1;
    if (s) {
        rc = db_bind_text(s, 1, key) ? db_err(err, c->db, 0, "bind")
                                     : db_step(c, s, 0, "read a shared stage", err);
        if (rc == SQLITE_DONE) {
            gs_errf(err, "no shared stage has this key");
            rc = STORE_NOT_FOUND;
        } else if (rc == SQLITE_ROW) {
            StoreShared m;
            read_meta(s, &m);
            rc = 0;
            if (blob) {
                const void *p = sqlite3_column_blob(s, 4);
                size_t n = (size_t)sqlite3_column_bytes(s, 4);
                void *copy = malloc(n ? n : 1);
                if (!copy || (n && !p)) {
                    free(copy);
                    rc = db_oom(err, "read a shared stage");
                } else {
                    memcpy(copy, p, n);
                    *blob = copy;
                    if (len)
                        *len = n;
                }
            }
            if (rc == 0 && meta)
                *meta = m;
        }
        db_release(s);
    }
    db_reader_put(st, c);
    return rc;
}

/* The id of the shared stage of key into *id (0 when there is none), on connection c. */
static int shared_id_of(Conn *c, const char *key, int64_t *id, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(c, Q_SHARED_GET, err);
    if (!s)
        return -1;
    int rc = db_bind_text(s, 1, key) ? db_err(err, c->db, 0, "bind")
                                     : db_step(c, s, 0, "read a shared stage", err);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    db_release(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Runs q with ?1 = a, ?2 = b, ?3 = c to its end. */
static int exec3(Conn *w, int q, int64_t a, int64_t b, int64_t c, int64_t run, const char *what,
                 GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, q, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, a) || sqlite3_bind_int64(s, 2, b) ||
        (sqlite3_bind_parameter_count(s) >= 3 && sqlite3_bind_int64(s, 3, c))) {
        db_release(s);
        return db_err(err, w->db, run, "bind");
    }
    return db_run_to_end(w, s, run, what, err);
}

static int use_put(Conn *w, int64_t run, int64_t shared, bool reused, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_SHARED_USE, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int64(s, 2, shared) ||
        sqlite3_bind_int(s, 3, reused) || sqlite3_bind_double(s, 4, db_now())) {
        db_release(s);
        return db_err(err, w->db, run, "bind");
    }
    return db_run_to_end(w, s, run, "record a shared stage's use", err);
}

static int publish_tx(Conn *w, int64_t run, int64_t ckpt, const char *key, int stage,
                      double seconds, GsErr *err)
{
    int64_t existing;
    if (shared_id_of(w, key, &existing, err) != 0)
        return -1;
    if (existing)
        return 0;   /* another run published it first: this one keeps its own rows */
    sqlite3_stmt *s = db_stmt(w, Q_SHARED_PUBLISH, err);
    if (!s)
        return -1;
    if (db_bind_text(s, 1, key) || sqlite3_bind_int(s, 2, stage) ||
        sqlite3_bind_double(s, 3, seconds) || sqlite3_bind_double(s, 4, db_now()) ||
        sqlite3_bind_int64(s, 5, ckpt) || sqlite3_bind_int64(s, 6, run)) {
        db_release(s);
        return db_err(err, w->db, run, "bind");
    }
    if (db_run_to_end(w, s, run, "publish a shared stage", err) != 0)
        return -1;
    if (sqlite3_changes(w->db) != 1) {
        gs_errf(err, "run %" PRId64 " has no checkpoint %" PRId64 " of stage %d to share", run,
                ckpt, stage);
        return STORE_NOT_FOUND;
    }
    int64_t id = sqlite3_last_insert_rowid(w->db);
    if (stage == STAGE_KMEANS &&
        exec3(w, Q_SHARED_PUBLISH_ASSIGN, id, run, 0, run, "share the pseudo-labels", err) != 0)
        return -1;
    return use_put(w, run, id, false, err);
}

int store_shared_publish(Store *st, int64_t run, int64_t ckpt, const char *key, int stage,
                         double seconds, GsErr *err)
{
    if (!key || !*key)
        return gs_errf(err, "store: a shared stage needs its key");
    if (stage != STAGE_DAE && stage != STAGE_KMEANS)
        return gs_errf(err, "store: stage %d cannot be shared", stage);
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    return db_write_end(st, publish_tx(w, run, ckpt, key, stage, seconds, err), err);
}

static int reuse_tx(Conn *w, int64_t run, int64_t shared, const char *message, GsErr *err)
{
    int rc = db_run_exists(w, run, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = db_stmt(w, Q_SHARED_STAGE, err);
    if (!s)
        return -1;
    rc = sqlite3_bind_int64(s, 1, shared) ? db_err(err, w->db, run, "bind")
                                          : db_step(w, s, run, "read a shared stage", err);
    int stage = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    db_release(s);
    if (rc == SQLITE_DONE) {
        gs_errf(err, "shared stage %" PRId64 " is gone", shared);
        return STORE_NOT_FOUND;
    }
    if (rc != SQLITE_ROW)
        return -1;
    if (use_put(w, run, shared, true, err) != 0)
        return -1;

    double now = db_now();
    s = db_stmt(w, Q_SHARED_SOURCE, err);
    if (!s)
        return -1;
    int64_t source = 0;
    rc = sqlite3_bind_int64(s, 1, shared) || sqlite3_bind_int64(s, 2, run) ||
                 sqlite3_bind_int(s, 3, stage)
             ? db_err(err, w->db, run, "bind")
             : db_step(w, s, run, "find a shared stage's rows", err);
    if (rc == SQLITE_ROW)
        source = sqlite3_column_int64(s, 0);
    db_release(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    if (source) {
        if (exec3(w, Q_SHARED_COPY_METRICS, run, source, stage, run, "copy metrics", err) ||
            exec3(w, Q_SHARED_COPY_EVENTS, run, source, stage, run, "copy log lines", err))
            return -1;
        s = db_stmt(w, Q_SHARED_COPY_STAGES, err);
        if (!s)
            return -1;
        if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int64(s, 2, source) ||
            sqlite3_bind_int(s, 3, stage) || sqlite3_bind_double(s, 4, now)) {
            db_release(s);
            return db_err(err, w->db, run, "bind");
        }
        if (db_run_to_end(w, s, run, "copy stage rows", err) != 0)
            return -1;
    }
    /* without a source (never while the stage has a complete user) the rows stay as they
     * are; the stages themselves are marked done */
    for (int g = 0; g <= stage; g++) {
        StoreStage row = {.progress = {.stage = g, .loss = NAN, .items_per_s = NAN},
                          .status = SS_SUCCEEDED, .seconds = 0, .started_at = now,
                          .finished_at = now};
        if (!source && db_stage_put(w, run, &row, err) != 0)
            return -1;
    }
    return db_event_insert(w, run, NULL, "status", message, now, NULL, err);
}

int store_shared_reuse(Store *st, int64_t run, int64_t shared, const char *message,
                       GsErr *err)
{
    if (!message)
        return gs_errf(err, "store: run %" PRId64 ": a reuse needs its message", run);
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    return db_write_end(st, reuse_tx(w, run, shared, message, err), err);
}

int store_run_shared(Store *st, int64_t run, StoreShared out[2], int *n, GsErr *err)
{
    *n = 0;
    Conn *c = db_reader_get(st);
    sqlite3_stmt *s = db_stmt(c, Q_SHARED_OF_RUN, err);
    int rc = -1;
    if (s) {
        rc = sqlite3_bind_int64(s, 1, run) ? db_err(err, c->db, run, "bind") : 0;
        while (rc == 0 && (rc = db_step(c, s, run, "read the run's shared stages", err)) ==
                              SQLITE_ROW) {
            if (*n < 2) {
                read_meta(s, &out[*n]);
                out[*n].reused = sqlite3_column_int(s, 4) != 0;
                (*n)++;
            }
            rc = 0;
        }
        rc = rc == SQLITE_DONE ? 0 : -1;
        db_release(s);
    }
    db_reader_put(st, c);
    return rc;
}

int db_shared_kmeans_of(Conn *c, int64_t run, int64_t *shared, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(c, Q_SHARED_RUN_KMEANS, err);
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, run) ? db_err(err, c->db, run, "bind")
                                           : db_step(c, s, run, "read the run's k-means", err);
    *shared = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    db_release(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}
