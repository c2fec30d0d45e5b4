/* store.h — everything gsimclrd keeps, in one SQLite database (WAL mode, busy_timeout):
 * runs, their stages, metrics, log events, pseudo-label assignments and checkpoints; sweeps
 * (grids of runs); shared stages (an autoencoder or k-means stored once for every run with
 * the same content key).
 * The schema comes from the numbered migrations in schema/ (compiled in), applied at open
 * under a schema_version table. Thread-safe: writes go through one writer connection, one at
 * a time, each in its own transaction (BEGIN IMMEDIATE), so a crash leaves either the old or
 * the new state; reads use a small pool of reader connections and never wait for a writer.
 * Only the store's files (server/service/store*.c) include sqlite3.h. The store keeps what it
 * is told: it never reads a checkpoint or decides what a method runs; its caller says. Every
 * call returns 0 on success, STORE_NOT_FOUND when the run (or checkpoint) does not exist,
 * STORE_CONFLICT for an illegal state change, or -1 with err set for anything else.
 *
 * Positions. Every row a run's training stores (metrics, log lines, checkpoints with the
 * stage row figures they carry, pseudo-labels) belongs to a position in the run, and
 * store_run_resume deletes, in the transaction that starts an attempt, everything after the
 * checkpoint it resumes from: nothing is lost and nothing stored twice across a stop or a
 * crash, whenever it happens.
 *
 * A full disk. A write that fails for want of space marks the store full and deletes a
 * reserve file (STORE_RESERVE_FILE, kept beside the database), so that the few small writes
 * that record why a run failed still find room; store_writable says when it can write again. */
#ifndef GS_STORE_H
#define GS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/err.h"
#include "gs/pipeline.h"

enum { STORE_NOT_FOUND = 1, STORE_CONFLICT = 2 };

/* The database file store_open keeps in its folder. */
#define STORE_DB_FILE "gsimclr.db"

/* A file of STORE_RESERVE_BYTES kept beside the database and given back to the disk when a
 * write fails for want of space. */
#define STORE_RESERVE_FILE "gsimclr.reserve"
#define STORE_RESERVE_BYTES (1L << 20)
/* The free space, besides the reserve, that makes a full store writable again. */
#define STORE_MIN_FREE_BYTES (1L << 20)

typedef struct Store Store;

/* Where in a run a stored row belongs, in the run's order: by stage, then epoch (1-based),
 * then step. step counts the steps done in the stage (a per-step metric, a checkpoint
 * written inside an epoch), or is STORE_END_OF_EPOCH: the end of the epoch, after every step
 * of it (a per-epoch metric, a log line, a checkpoint closing the epoch). */
typedef struct {
    int stage, epoch;
    long step;
} StorePos;
#define STORE_END_OF_EPOCH (-1L)

/* Run states as stored: "queued", "running", "succeeded", "failed", "canceled". */
typedef enum { RUN_QUEUED, RUN_RUNNING, RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELED, RUN_STATUS_COUNT } RunStatus;
extern const char *const RUN_STATUS_NAMES[RUN_STATUS_COUNT];
/* -1 when name is not a status */
int run_status_parse(const char *name);
static inline bool run_status_terminal(RunStatus s) { return s >= RUN_SUCCEEDED; }

typedef struct {
    int64_t id;
    RunStatus status;
    char method[16];        /* "gsimclr" | "simclr" */
    char name[128];
    char *config_json;      /* the full configuration (malloc'd) */
    char *result_json;      /* run_result_to_json's object once succeeded, else NULL */
    char *error;            /* why it failed, else NULL */
    double created_at, started_at, finished_at; /* unix seconds; 0 = not yet */
    bool cancel_requested;
    int resumes;            /* times it started again (from its newest checkpoint, or from the
                             * start when it had none) after a stop or crash */
    int attempts;           /* times a worker started it (store_run_resume) */
    char *tags_json;        /* what people tagged it with: a JSON array text, "[]" for none
                             * (malloc'd; opaque here, checked by the caller) */
    char *note;             /* their note on it, "" for none (malloc'd) */
    int processes;          /* its configuration's "processes" (1 for runs before it existed) */
    char *hosts_json;       /* the host of each process, in rank order, as a JSON array text
                             * once a multi-process run started; NULL otherwise (malloc'd) */
} StoreRun;

/* Stage states: "pending", "running", "succeeded", "failed", "canceled", "skipped". */
typedef enum { SS_PENDING, SS_RUNNING, SS_SUCCEEDED, SS_FAILED, SS_CANCELED, SS_SKIPPED, SS_COUNT } StageStatus;
extern const char *const STAGE_STATUS_NAMES[SS_COUNT];

/* A stage's row: the pipeline's progress figures as last stored (progress.stage is its
 * STAGE_*), and what the service adds. Doubles that are NaN are stored as NULL and read back
 * as NaN. */
typedef struct {
    StageProgress progress;
    StageStatus status;
    double seconds;                 /* time spent in the stage, over every attempt */
    double started_at, finished_at;
} StoreStage;

typedef struct {
    int64_t id;
    int stage, epoch;
    long step;              /* -1 for a per-epoch value */
    char name[48];
    double value, time;
} StoreMetric;

typedef struct {
    int64_t id;
    double time;
    char kind[16];          /* "log", "status", "resume", ... */
    char *message;          /* malloc'd */
    /* a log line's position; stage -1 for the service's own events, which have none */
    int stage, epoch;
    long step;
} StoreEvent;

typedef struct {
    int64_t id;
    int stage, epoch;
    long step;              /* the position: STORE_END_OF_EPOCH, or steps done in the stage */
    size_t bytes;
    int format_version;
    uint32_t crc32;
    double created_at;
} StoreCheckpoint;

typedef struct {
    int status;             /* RunStatus, or -1 for any */
    const char *method;     /* NULL for any */
    const char *search;     /* NULL or "" for any, else text found (ASCII case ignored) in
                             * the name, method, status, tags or note */
    int limit, offset;      /* newest first */
} StoreRunFilter;

/* Opens (creating) dir/STORE_DB_FILE, creating dir if needed, and migrates it. */
int store_open(Store **out, const char *dir, GsErr *err);
void store_close(Store *st);
/* The schema version after migration (the highest schema/NNN_*.sql applied). */
int store_schema_version(Store *st);

/* A new queued run; its stage rows start "pending", or "skipped" for each stage s whose bit
 * (1u << s) is set in skipped (what pipeline_skipped_stages says of its configuration). */
int store_run_insert(Store *st, const char *method, const char *name, const char *config_json,
                     unsigned skipped, int64_t *id, GsErr *err);
int store_run_get(Store *st, int64_t id, StoreRun *out, GsErr *err);
void store_run_free(StoreRun *r);
/* Newest first; runs (n of them, malloc'd array, free each with store_run_free then the
 * array) and total = how many match the filter without limit/offset. config_json is left
 * NULL in list results. */
int store_run_list(Store *st, const StoreRunFilter *f, StoreRun **runs, int *n, int *total,
                   GsErr *err);
void store_run_list_free(StoreRun *runs, int n);
/* Claims the oldest queued run: running, started_at set (kept when already set). *id = 0 when
 * none is queued. */
int store_run_claim(Store *st, int64_t *id, GsErr *err);
/* Cancel: a queued run becomes canceled at once (*now_canceled = true); a running one gets
 * cancel_requested (the worker ends it). STORE_CONFLICT when terminal. */
int store_run_request_cancel(Store *st, int64_t id, bool *now_canceled, GsErr *err);
/* The worker's end of a run: to is succeeded (with result_json), failed (with error) or
 * canceled; finished_at set; running stages take the matching status. */
int store_run_finish(Store *st, int64_t id, RunStatus to, const char *result_json,
                     const char *error, GsErr *err);
/* Back to queued after a shutdown or crash (keeps started_at; the stages running become
 * pending). The next store_run_resume counts the resume. */
int store_run_requeue(Store *st, int64_t id, GsErr *err);
/* Starts an attempt at run id (running: its worker claimed it) from its checkpoint `from` (the
 * id store_checkpoint_latest gave), or from the start when from is 0, in one durable
 * transaction: deletes every metric, log line, pseudo-label set and checkpoint positioned
 * after that checkpoint (all of them from the start), sets the checkpoint stage's row to the
 * figures stored with the checkpoint (status running), sets the rows of later stages back to
 * pending with no figures (skipped ones stay), counts a resume when the run was started
 * before (attempts > 0), and adds the service event (kind, message). STORE_CONFLICT when the
 * run is not running or `from` is not its newest checkpoint. */
int store_run_resume(Store *st, int64_t id, int64_t from, const char *kind, const char *message,
                     GsErr *err);
/* Ids of runs in state running (for recovery at start-up); malloc'd. */
int store_runs_in_state(Store *st, RunStatus s, int64_t **ids, int *n, GsErr *err);
/* Sets a run's tags (a JSON array text) and note; NULL keeps that one as it is. Any run
 * state. */
/* Records the hosts of run id's processes (a JSON array text, as the caller wrote it). 0,
 * STORE_NOT_FOUND or -1. */
int store_run_set_hosts(Store *st, int64_t id, const char *hosts_json, GsErr *err);
int store_run_annotate(Store *st, int64_t id, const char *tags_json, const char *note,
                       GsErr *err);
/* Deletes a terminal run and everything it owns. STORE_CONFLICT when not terminal. */
int store_run_delete(Store *st, int64_t id, GsErr *err);
/* Count of runs per status (for /metrics and /healthz). */
int store_run_counts(Store *st, long counts[RUN_STATUS_COUNT], GsErr *err);

int store_stage_put(Store *st, int64_t run, const StoreStage *s, GsErr *err);
/* All the run's stages in order. */
int store_stages_get(Store *st, int64_t run, StoreStage out[STAGE_COUNT], GsErr *err);

/* A metric at position (stage, epoch, step): step is STORE_END_OF_EPOCH for a per-epoch
 * value. */
int store_metric_add(Store *st, int64_t run, int stage, int epoch, long step, const char *name,
                     double value, double time, GsErr *err);
/* Metrics with id > after_id, in id order, at most limit (<= 0: no limit); stage -1 and
 * name NULL match all. */
int store_metrics_get(Store *st, int64_t run, int stage, const char *name, int64_t after_id,
                      int limit, StoreMetric **out, int *n, GsErr *err);

/* An event: a log line of the pipeline at position at, or a service event (at NULL). */
int store_event_add(Store *st, int64_t run, const StorePos *at, const char *kind,
                    const char *message, double time, int64_t *id, GsErr *err);
int store_events_get(Store *st, int64_t run, int64_t after_id, int limit, StoreEvent **out,
                     int *n, GsErr *err);
void store_events_free(StoreEvent *ev, int n);

/* Replaces the run's pseudo-labels, produced at position at: image i gets cluster
 * assign[i]; labels (n) are the true labels when known (NULL otherwise), kept as a diagnostic
 * for cluster summaries. */
int store_assignments_put(Store *st, int64_t run, const StorePos *at, const int32_t *assign,
                          const int32_t *labels, int n, GsErr *err);
/* assign and labels (n each, malloc'd; labels NULL when none were stored). STORE_NOT_FOUND
 * when the run has none. */
int store_assignments_get(Store *st, int64_t run, int32_t **assign, int32_t **labels, int *n,
                          GsErr *err);

/* Stores a checkpoint blob (len > 0 bytes, opaque here) at position at, with the format
 * version and CRC-32 its caller read from it, and keeps only the newest `keep` of that run and
 * stage. row, when not NULL, is its stage's row at that point (row->progress.stage ==
 * at->stage): the row is stored too and kept with the checkpoint, for store_run_resume. All
 * in one durable transaction. */
int store_checkpoint_put(Store *st, int64_t run, const StorePos *at, int format_version,
                         uint32_t crc, const void *blob, size_t len, int keep,
                         const StoreStage *row, int64_t *id, GsErr *err);
/* The newest checkpoint of the run (any stage); STORE_NOT_FOUND when none. */
int store_checkpoint_latest(Store *st, int64_t run, StoreCheckpoint *meta, void **blob,
                            size_t *len, GsErr *err);
int store_checkpoint_list(Store *st, int64_t run, StoreCheckpoint **out, int *n, GsErr *err);
int store_checkpoint_get(Store *st, int64_t run, int64_t id, StoreCheckpoint *meta, void **blob,
                         size_t *len, GsErr *err);

/* ---- sweeps (store_sweeps.c) ----
 * A sweep is a row (name, metric, its specification as opaque JSON text) and the runs of its
 * grid: one per point, except that points whose runs would be the same share one run. The
 * runs are ordinary runs; a run belongs to at most one sweep. */

/* A run a sweep creates: as store_run_insert takes it. */
typedef struct {
    const char *method, *name, *config_json;
    unsigned skipped;
} StoreNewRun;

typedef struct {
    int64_t id;
    char name[128];
    char metric[48];
    char *spec_json;        /* malloc'd (NULL in list results) */
    double created_at;
    long counts[RUN_STATUS_COUNT]; /* its runs by status (a run shared by points once) */
    int runs;               /* how many runs it has */
} StoreSweep;

/* One point of a sweep with its run (run 0 and status -1 when the run was deleted on its
 * own). result_json is malloc'd (NULL until the run succeeded). seconds_saved: what the
 * shared stages the run reused had cost to compute. */
typedef struct {
    int point;
    int64_t run;
    int status;             /* RunStatus, or -1 */
    char *result_json;
    double seconds_saved;
} StoreSweepPoint;

/* The sweep and its n_runs runs, and the n_points points, point i run by runs[run_of[i]], in
 * one durable transaction. *id the sweep's id; run_ids (n_runs, may be NULL) the runs'. */
int store_sweep_insert(Store *st, const char *name, const char *metric, const char *spec_json,
                       const StoreNewRun *runs, int n_runs, const int *run_of, int n_points,
                       int64_t *id, int64_t *run_ids, GsErr *err);
/* STORE_NOT_FOUND when there is no sweep id. Free with store_sweep_free. */
int store_sweep_get(Store *st, int64_t id, StoreSweep *out, GsErr *err);
void store_sweep_free(StoreSweep *s);
/* Newest first; total = how many sweeps there are. */
int store_sweep_list(Store *st, int limit, int offset, StoreSweep **out, int *n, int *total,
                     GsErr *err);
void store_sweep_list_free(StoreSweep *s, int n);
/* Every point that has a row, in point order (*out malloc'd; free with
 * store_sweep_points_free). STORE_NOT_FOUND when there is no sweep id. */
int store_sweep_points(Store *st, int64_t id, StoreSweepPoint **out, int *n, GsErr *err);
void store_sweep_points_free(StoreSweepPoint *p, int n);
/* Cancels every run of the sweep that has not ended, in one transaction: queued ones at once,
 * running ones by their cancel_requested (their ids into *running, malloc'd, for the caller
 * to signal the workers). STORE_CONFLICT when none was left to cancel. */
int store_sweep_cancel(Store *st, int64_t id, int64_t **running, int *n_running, GsErr *err);
/* Deletes the sweep and all its runs (with everything they own) in one transaction; their
 * ids into *runs (malloc'd). STORE_CONFLICT while one of them is queued or running. */
int store_sweep_delete(Store *st, int64_t id, int64_t **runs, int *n_runs, GsErr *err);
/* The sweep run belongs to into *sweep (0 when none). */
int store_run_sweep(Store *st, int64_t run, int64_t *sweep, GsErr *err);

/* ---- shared stages (store_shared.c) ----
 * The checkpoint closing a run's autoencoder or k-means stage, kept once under a content key
 * its caller makes (pipeline_shared_key), with the k-means stage's pseudo-labels, for later
 * runs with the same key to start from. A shared stage lives while a run uses it (computed
 * or reused it) and goes with its last user. */
typedef struct {
    int64_t id;
    int stage;              /* STAGE_DAE or STAGE_KMEANS: the stage its checkpoint closes */
    int64_t run;            /* the run that computed it (it may have been deleted since) */
    double seconds;         /* what computing it took */
    bool reused;            /* store_run_shared: whether this run reused it (else computed) */
} StoreShared;

/* The shared stage of key (and a malloc'd copy of its checkpoint when blob is not NULL);
 * STORE_NOT_FOUND when there is none. */
int store_shared_get(Store *st, const char *key, StoreShared *meta, void **blob, size_t *len,
                     GsErr *err);
/* Checkpoint ckpt of run (the end of its stage `stage`, which took `seconds`) becomes the
 * shared stage of key, with the run's pseudo-labels when stage is STAGE_KMEANS, and the run
 * its first user, in one transaction. Nothing changes when key is already shared (another
 * run got there first). */
int store_shared_publish(Store *st, int64_t run, int64_t ckpt, const char *key, int stage,
                         double seconds, GsErr *err);
/* Run `run` (running, in the attempt store_run_resume started from nothing) starts from
 * shared stage `shared`: recorded as a user, and given, from a run that has them, the rows
 * of the stages the shared one closes: their stage rows (succeeded, no seconds of its own),
 * metrics and log lines; then the service event (kind "status", message). One transaction.
 * STORE_NOT_FOUND when the shared stage is gone. */
int store_shared_reuse(Store *st, int64_t run, int64_t shared, const char *message,
                       GsErr *err);
/* The shared stages run uses, at most two (out, *n). */
int store_run_shared(Store *st, int64_t run, StoreShared out[2], int *n, GsErr *err);

/* Whether the store can write: true unless a write failed for want of space and the disk has
 * not had room since for the reserve and STORE_MIN_FREE_BYTES beside it (checked now, with a
 * statvfs and, when there is room, a fallocate that makes the reserve again; only while the
 * store is marked full). */
bool store_writable(Store *st);

#endif
