/* store_ckpt.c — checkpoints in the store: blobs kept with their stage, epoch, size, format
 * version and CRC-32, the newest few per run and stage, each written in one durable
 * transaction so a crash leaves the old or the new one, never half. A blob is opaque here and
 * must stay so: its caller reads the format version and checksum from it (the pipeline's
 * checkpoint module) and passes them in. The SQL of this table lives here. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define CKPT_COLS "SELECT id, stage, epoch, bytes, format_version, crc32, created_at"

const char *const STORE_SQL_CKPT[Q_COUNT] = {
    [Q_CKPT_INSERT] = "INSERT INTO checkpoints (run_id, stage, epoch, format_version, crc32, "
                      "bytes, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_CKPT_PRUNE] = "DELETE FROM checkpoints WHERE run_id = ?1 AND stage = ?2 AND id NOT IN "
                     "(SELECT id FROM checkpoints WHERE run_id = ?1 AND stage = ?2 "
                     "ORDER BY id DESC LIMIT ?3)",
    [Q_CKPT_LIST] = CKPT_COLS " FROM checkpoints WHERE run_id = ?1 ORDER BY id DESC",
    [Q_CKPT_LATEST] = CKPT_COLS " FROM checkpoints WHERE run_id = ?1 ORDER BY id DESC LIMIT 1",
    [Q_CKPT_LATEST_DATA] = CKPT_COLS ", data FROM checkpoints WHERE run_id = ?1 "
                           "ORDER BY id DESC LIMIT 1",
    [Q_CKPT_GET] = CKPT_COLS " FROM checkpoints WHERE run_id = ?1 AND id = ?2",
    [Q_CKPT_GET_DATA] = CKPT_COLS ", data FROM checkpoints WHERE run_id = ?1 AND id = ?2",
};

static int checkpoint_put_tx(Conn *w, int64_t run, int stage, int epoch, int version,
                             uint32_t crc, const void *blob, size_t len, int keep, int64_t *id,
                             GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_CKPT_INSERT, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int(s, 2, stage) ||
        sqlite3_bind_int(s, 3, epoch) || sqlite3_bind_int64(s, 4, version) ||
        sqlite3_bind_int64(s, 5, crc) || sqlite3_bind_int64(s, 6, (sqlite3_int64)len) ||
        sqlite3_bind_double(s, 7, db_now()) ||
        sqlite3_bind_blob64(s, 8, blob, (sqlite3_uint64)len, SQLITE_STATIC)) {
        db_release(s);
        return db_err(err, w->db, run, "store a checkpoint");
    }
    int rc = db_run_to_end(w, s, run, "store a checkpoint", err);
    if (rc != 0)
        return rc;
    *id = sqlite3_last_insert_rowid(w->db);
    return db_exec_run_stage(w, Q_CKPT_PRUNE, run, stage, keep, "delete older checkpoints", err);
}

int store_checkpoint_put(Store *st, int64_t run, int stage, int epoch, int format_version,
                         uint32_t crc, const void *blob, size_t len, int keep, int64_t *id,
                         GsErr *err)
{
    if (stage < 0 || stage >= STAGE_COUNT)
        return gs_errf(err, "store: run %" PRId64 ": no stage %d", run, stage);
    if (keep < 1)
        return gs_errf(err, "store: run %" PRId64 ": keep at least one checkpoint", run);
    if (!blob || len == 0)
        return gs_errf(err, "store: run %" PRId64 ": an empty checkpoint", run);
    int64_t new_id = 0;
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    int rc = checkpoint_put_tx(w, run, stage, epoch, format_version, crc, blob, len, keep,
                               &new_id, err);
    rc = db_write_end(st, rc, err);
    if (rc == 0 && id)
        *id = new_id;
    return rc;
}

/* A row of CKPT_COLS (a RowReader). */
static int read_ckpt_meta(sqlite3_stmt *s, void *row, GsErr *err)
{
    StoreCheckpoint *m = row;
    (void)err;
    m->id = sqlite3_column_int64(s, 0);
    m->stage = sqlite3_column_int(s, 1);
    m->epoch = sqlite3_column_int(s, 2);
    m->bytes = (size_t)sqlite3_column_int64(s, 3);
    m->format_version = sqlite3_column_int(s, 4);
    m->crc32 = (uint32_t)sqlite3_column_int64(s, 5);
    m->created_at = sqlite3_column_double(s, 6);
    return 0;
}

/* One checkpoint row by query q (?1 run, and ?2 id unless q picks the newest): its metadata
 * and, when blob is not NULL, a malloc'd copy of its bytes. */
static int checkpoint_read(Conn *c, int q, int64_t run, int64_t id, StoreCheckpoint *meta,
                           void **blob, size_t *len, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(c, q, err);
    if (!s)
        return -1;
    bool by_id = sqlite3_bind_parameter_count(s) >= 2;   /* the "latest" queries have no ?2 */
    int rc = sqlite3_bind_int64(s, 1, run) || (by_id && sqlite3_bind_int64(s, 2, id))
                 ? db_err(err, c->db, run, "bind")
                 : db_step(c, s, run, "read a checkpoint", err);
    if (rc == SQLITE_DONE) {
        if (by_id)
            gs_errf(err, "run %" PRId64 " has no checkpoint %" PRId64, run, id);
        else
            gs_errf(err, "run %" PRId64 " has no checkpoint", run);
        rc = STORE_NOT_FOUND;
    } else if (rc == SQLITE_ROW) {
        StoreCheckpoint m;
        read_ckpt_meta(s, &m, NULL);
        rc = 0;
        if (blob) {
            const void *p = sqlite3_column_blob(s, 7);
            size_t n = (size_t)sqlite3_column_bytes(s, 7);
            void *copy = malloc(n ? n : 1);
            if (!copy || (n && !p)) {
                free(copy);
                rc = db_oom(err, "read a checkpoint");
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
    return rc;
}

/* checkpoint_read on a reader, with the outputs cleared first. */
static int checkpoint_fetch(Store *st, int q, int64_t run, int64_t id, StoreCheckpoint *meta,
                            void **blob, size_t *len, GsErr *err)
{
    if (blob)
        *blob = NULL;
    if (len)
        *len = 0;
    Conn *c = db_reader_get(st);
    int rc = checkpoint_read(c, q, run, id, meta, blob, len, err);
    db_reader_put(st, c);
    return rc;
}

int store_checkpoint_latest(Store *st, int64_t run, StoreCheckpoint *meta, void **blob,
                            size_t *len, GsErr *err)
{
    return checkpoint_fetch(st, blob ? Q_CKPT_LATEST_DATA : Q_CKPT_LATEST, run, 0, meta, blob,
                            len, err);
}

int store_checkpoint_get(Store *st, int64_t run, int64_t id, StoreCheckpoint *meta, void **blob,
                         size_t *len, GsErr *err)
{
    return checkpoint_fetch(st, blob ? Q_CKPT_GET_DATA : Q_CKPT_GET, run, id, meta, blob, len,
                            err);
}

static int checkpoint_list_tx(Conn *c, int64_t run, StoreCheckpoint **out, int *n, GsErr *err)
{
    int rc = db_run_exists(c, run, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = db_stmt(c, Q_CKPT_LIST, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, run)) {
        db_release(s);
        return db_err(err, c->db, run, "bind");
    }
    void *rows = NULL;
    rc = db_read_rows(c, s, run, "list checkpoints", sizeof **out, read_ckpt_meta, NULL, &rows,
                      n, err);
    *out = rows;
    return rc;
}

int store_checkpoint_list(Store *st, int64_t run, StoreCheckpoint **out, int *n, GsErr *err)
{
    *out = NULL;
    *n = 0;
    Conn *c = db_read_begin(st, err);
    if (!c)
        return -1;
    int rc = db_read_end(st, c, checkpoint_list_tx(c, run, out, n, err), err);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

