/* store_ckpt.c — checkpoints in the store: blobs kept with their position (stage, epoch,
 * step), size, format version and CRC-32, and the figures of their stage's row at that point,
 * the newest few per run and stage, each written in one durable transaction with that stage
 * row, so a crash leaves the old or the new one, never half, and never a row that disagrees
 * with the newest checkpoint. A blob is opaque here and must stay so: its caller reads the
 * format version and checksum from it (the pipeline's checkpoint module) and passes them in.
 * The SQL of this table lives here. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crashpoint.h"
#include "store_internal.h"

#define CKPT_COLS "SELECT id, stage, epoch, bytes, format_version, crc32, created_at, step"
enum { CKPT_COL_DATA = 8 };

const char *const STORE_SQL_CKPT[Q_COUNT] = {
    [Q_CKPT_INSERT] = "INSERT INTO checkpoints (run_id, stage, epoch, format_version, crc32, "
                      "bytes, created_at, data, step, row_epoch, row_epochs, row_step, "
                      "row_steps, row_loss, row_items_per_s, row_eta_s, row_seconds, "
                      "row_started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                      "?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    [Q_CKPT_PRUNE] = "DELETE FROM checkpoints WHERE run_id = ?1 AND stage = ?2 AND id NOT IN "
                     "(SELECT id FROM checkpoints WHERE run_id = ?1 AND stage = ?2 "
                     "ORDER BY id DESC LIMIT ?3)",
    [Q_CKPT_LIST] = CKPT_COLS " FROM checkpoints WHERE run_id = ?1 ORDER BY id DESC",
    [Q_CKPT_LATEST] = CKPT_COLS " FROM checkpoints WHERE run_id = ?1 ORDER BY id DESC LIMIT 1",
    [Q_CKPT_LATEST_DATA] = CKPT_COLS ", data FROM checkpoints WHERE run_id = ?1 "
                           "ORDER BY id DESC LIMIT 1",
    [Q_CKPT_GET] = CKPT_COLS " FROM checkpoints WHERE run_id = ?1 AND id = ?2",
    [Q_CKPT_GET_DATA] = CKPT_COLS ", data FROM checkpoints WHERE run_id = ?1 AND id = ?2",
    [Q_CKPT_ROW] = "SELECT stage, epoch, step, row_epoch, row_epochs, row_step, row_steps, "
                   "row_loss, row_items_per_s, row_eta_s, row_seconds, row_started_at "
                   "FROM checkpoints WHERE run_id = ?1 AND id = ?2",
    [Q_CKPT_DELETE_AFTER] = "DELETE FROM checkpoints WHERE run_id = ?1 AND " DB_AFTER_POS,
};

/* Binds the stage row's figures to ?10..?18 of Q_CKPT_INSERT (NULL when there is none). */
static int bind_row(sqlite3_stmt *s, const StoreStage *row)
{
    if (!row) {
        for (int i = 10; i <= 18; i++)
            if (sqlite3_bind_null(s, i))
                return -1;
        return 0;
    }
    const StageProgress *p = &row->progress;
    return sqlite3_bind_int(s, 10, p->epoch) || sqlite3_bind_int(s, 11, p->epochs) ||
           sqlite3_bind_int64(s, 12, p->step) || sqlite3_bind_int64(s, 13, p->steps) ||
           db_bind_real(s, 14, p->loss) || db_bind_real(s, 15, p->items_per_s) ||
           db_bind_real(s, 16, p->eta_s) || db_bind_real(s, 17, row->seconds) ||
           db_bind_time(s, 18, row->started_at);
}

static int checkpoint_put_tx(Conn *w, int64_t run, const StorePos *at, int version,
                             uint32_t crc, const void *blob, size_t len, int keep,
                             const StoreStage *row, int64_t *id, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_CKPT_INSERT, err);
    if (!s)
        return -1;
    if (sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int(s, 2, at->stage) ||
        sqlite3_bind_int(s, 3, at->epoch) || sqlite3_bind_int64(s, 4, version) ||
        sqlite3_bind_int64(s, 5, crc) || sqlite3_bind_int64(s, 6, (sqlite3_int64)len) ||
        sqlite3_bind_double(s, 7, db_now()) ||
        sqlite3_bind_blob64(s, 8, blob, (sqlite3_uint64)len, SQLITE_STATIC) ||
        sqlite3_bind_int64(s, 9, at->step < 0 ? STORE_END_OF_EPOCH : at->step) ||
        bind_row(s, row)) {
        db_release(s);
        return db_err(err, w->db, run, "store a checkpoint");
    }
    int rc = db_run_to_end(w, s, run, "store a checkpoint", err);
    if (rc != 0)
        return rc;
    *id = sqlite3_last_insert_rowid(w->db);
    if (db_exec_run_stage(w, Q_CKPT_PRUNE, run, at->stage, keep, "delete older checkpoints",
                          err) != 0 ||
        (row && db_stage_put(w, run, row, err) != 0))
        return -1;
    crash_point("ckpt-commit");
    return 0;
}

int store_checkpoint_put(Store *st, int64_t run, const StorePos *at, int format_version,
                         uint32_t crc, const void *blob, size_t len, int keep,
                         const StoreStage *row, int64_t *id, GsErr *err)
{
    if (!at || at->stage < 0 || at->stage >= STAGE_COUNT)
        return gs_errf(err, "store: run %" PRId64 ": no stage %d", run, at ? at->stage : -1);
    if (at->epoch < 0 || at->step < STORE_END_OF_EPOCH)
        return gs_errf(err, "store: run %" PRId64 ": no position epoch %d step %ld", run,
                       at->epoch, at->step);
    if (row && row->progress.stage != at->stage)
        return gs_errf(err, "store: run %" PRId64 ": a checkpoint of stage %d with the row of "
                       "stage %d", run, at->stage, row->progress.stage);
    if (keep < 1)
        return gs_errf(err, "store: run %" PRId64 ": keep at least one checkpoint", run);
    if (!blob || len == 0)
        return gs_errf(err, "store: run %" PRId64 ": an empty checkpoint", run);
    int64_t new_id = 0;
    Conn *w = db_write_begin(st, true, err);
    if (!w)
        return -1;
    int rc = checkpoint_put_tx(w, run, at, format_version, crc, blob, len, keep, row, &new_id,
                               err);
    rc = db_write_end(st, rc, err);
    if (rc == 0 && id)
        *id = new_id;
    return rc;
}

int db_checkpoint_newest(Conn *w, int64_t run, int64_t *id, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_CKPT_LATEST, err);
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, run) ? db_err(err, w->db, run, "bind")
                                           : db_step(w, s, run, "find the newest checkpoint", err);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    db_release(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int db_checkpoint_position(Conn *w, int64_t run, int64_t id, StorePos *at, StoreStage *row,
                           bool *has_row, GsErr *err)
{
    sqlite3_stmt *s = db_stmt(w, Q_CKPT_ROW, err);
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, run) || sqlite3_bind_int64(s, 2, id)
                 ? db_err(err, w->db, run, "bind")
                 : db_step(w, s, run, "read a checkpoint's position", err);
    if (rc == SQLITE_DONE) {
        gs_errf(err, "run %" PRId64 " has no checkpoint %" PRId64, run, id);
        rc = STORE_NOT_FOUND;
    } else if (rc == SQLITE_ROW) {
        *at = (StorePos){.stage = sqlite3_column_int(s, 0),
                         .epoch = sqlite3_column_int(s, 1),
                         .step = (long)sqlite3_column_int64(s, 2)};
        *has_row = sqlite3_column_type(s, 3) != SQLITE_NULL;
        memset(row, 0, sizeof *row);
        row->status = SS_RUNNING;
        row->progress = (StageProgress){.stage = at->stage,
                                        .epoch = sqlite3_column_int(s, 3),
                                        .epochs = sqlite3_column_int(s, 4),
                                        .step = (long)sqlite3_column_int64(s, 5),
                                        .steps = (long)sqlite3_column_int64(s, 6),
                                        .loss = db_col_real(s, 7),
                                        .items_per_s = db_col_real(s, 8),
                                        .eta_s = db_col_real(s, 9)};
        row->seconds = db_col_real(s, 10);
        row->started_at = db_col_time(s, 11);
        rc = 0;
    }
    db_release(s);
    return rc;
}

int db_checkpoints_delete_after(Conn *w, int64_t run, const StorePos *at, GsErr *err)
{
    return db_exec_after(w, Q_CKPT_DELETE_AFTER, run, at, "delete later checkpoints", err);
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
    m->step = (long)sqlite3_column_int64(s, 7);
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
            const void *p = sqlite3_column_blob(s, CKPT_COL_DATA);
            size_t n = (size_t)sqlite3_column_bytes(s, CKPT_COL_DATA);
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

