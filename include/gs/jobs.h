/* jobs.h — the job queue and its workers. Queued runs live in the store, so the queue
 * survives restarts; `workers` threads each claim the oldest queued run, load its dataset,
 * start it from its newest stored checkpoint when it has one (from the start otherwise), and
 * run the pipeline with a sink that writes stages, metrics, events, pseudo-labels and
 * checkpoints to the store. Exactly once: each row the sink writes has the position the
 * pipeline reported it at, a checkpoint commits with its stage row, and the start of every
 * attempt deletes, in one transaction (store_run_resume), what an earlier attempt stored
 * after that checkpoint, so a run stopped or killed at any moment ends with the rows of an
 * undisturbed run, none missing, none twice. A write that fails stops the run (failed, with
 * the store's reason, e.g. "database or disk is full"): a metric lost would be a gap. While
 * the store is full (store_writable), workers claim no run. A run's state is owned by its
 * worker; others read a snapshot of its live progress under one lock. Cancel is cooperative:
 * the flag is checked every training step, and a SimCLR stage stopped inside an epoch first
 * stores a checkpoint of that step. Shutdown stops running jobs the same way and puts them
 * back in the queue, to resume from that checkpoint at the next start.
 *
 * Shared stages (server/service/shared.h): a G-SimCLR run that starts from nothing first
 * looks up its k-means and autoencoder in the store by content key and, when one is there,
 * starts from that stage's closing checkpoint as a resume would (bit for bit the same
 * result); what it computes itself it claims, so that a second worker wanting the same key
 * waits for it rather than computing it twice, and publishes when the stage ends. */
#ifndef GS_JOBS_H
#define GS_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "gs/err.h"
#include "gs/pipeline.h"
#include "gs/store.h"

typedef struct Jobs Jobs;

typedef struct {
    int workers;            /* runs trained at once (>= 1) */
    int threads;            /* the most threads one run may use (its config's threads is
                             * clamped to this when submitted) */
    const char *data_root;  /* dataset folders must lie under it (NULL: anywhere) */
    const char *cache_dir;  /* decoded image-folder caches are kept here (NULL: none) */
    int keep_checkpoints;   /* newest checkpoints kept per run and stage (>= 1) */
    const char *embeddings_dir; /* where eval's features are kept (embeddings.h); NULL: not */
    /* Runs of several processes (config "processes" > 1, launch.h): the launcher's words
     * (NULL: mpirun on this host only), the executable each process runs with --mpi-worker
     * (NULL: this one), where the relay listens ("HOST" or "HOST:PORT", the port plus the
     * worker's index; NULL: 127.0.0.1, any port) and the name the processes reach it by
     * (NULL: the listen host); seconds of silence from rank 0 that count as a lost process
     * (0: 60) and of waiting after a cancel before the processes are killed (0: 30). */
    const char *mpirun, *train_exe, *relay_listen, *relay_host;
    int relay_silence_s, cancel_wait_s;
    /* Called (from a worker) whenever something a watcher may want changed: progress,
     * a status, an event. May be NULL. Must not block. */
    void (*notify)(void *ctx);
    void *notify_ctx;
} JobsConfig;

/* Recovers the store first — runs left "running" by a crash go back to the queue to resume
 * from their last checkpoint — then starts the workers. */
int jobs_start(Jobs **out, Store *st, const JobsConfig *cfg, GsErr *err);
/* A run was queued: wake a free worker. */
void jobs_submitted(Jobs *j);
/* Sets the cancel flag of run id when a worker here is running it (call after
 * store_run_request_cancel). */
void jobs_cancel(Jobs *j, int64_t id);
/* The live progress of run id when a worker here is running it: true and *p filled. */
bool jobs_live(Jobs *j, int64_t id, StageProgress *p);
/* Increases on every change jobs_live or the store could show (for event streams). */
uint64_t jobs_version(Jobs *j);

enum { JOBS_MAX_WORKERS = 64 };
/* A multi-process run that loses a process this many times (kill -9 of a rank, a host gone)
 * fails; before that each loss puts it back in the queue to resume from its newest
 * checkpoint. */
enum { JOBS_MAX_LOSSES = 4 };

/* The upper bounds, in seconds, of the queue-wait histogram's buckets (Prometheus' `le`), in
 * increasing order; one more bucket (+Inf) holds the rest. From a second to a day: a run waits
 * for no one on an idle daemon and for days behind a long sweep. */
enum { JOBS_WAIT_BUCKETS = 12 };
/* In the header (each user has its copy) so the API's harnesses, which link no jobs.c,
 * render /metrics with the same buckets. */
static const double JOBS_WAIT_BOUNDS[JOBS_WAIT_BUCKETS] = {0.1, 1,    5,    30,   60,    300,
                                                           900, 1800, 3600, 10800, 21600, 86400};

typedef struct {
    int workers, busy;          /* workers, and how many are running a run */
    double images_per_s;        /* sum over running runs of their current throughput */
    unsigned long steps_total;  /* training steps done since start, all runs */
    /* each running run whose stage reported progress: its current throughput (images, or
     * points for kmeans, per second over the current epoch; NaN before it is known) */
    struct {
        int64_t run;
        int stage;              /* STAGE_* */
        double items_per_s;
    } running[JOBS_MAX_WORKERS];
    int n_running;
    /* the seconds each run waited from its submission to its first start, for the runs this
     * daemon started since it started: cumulative bucket counts (bucket i: waits <=
     * JOBS_WAIT_BOUNDS[i]; the last, all), their sum and count */
    unsigned long wait_buckets[JOBS_WAIT_BUCKETS + 1];
    double wait_sum;
    unsigned long wait_count;
} JobsStats;
void jobs_stats(Jobs *j, JobsStats *out);

/* Stores a checkpoint the pipeline handed over at position at, as every run's sink does:
 * checked first (magic, version, checksum, sections; a bad one is refused with -1), then kept
 * with the format version and CRC-32 it carries, the newest `keep` per run and stage, and
 * with its stage's row (row, may be NULL) in the same transaction. The store itself never
 * reads a checkpoint. Returns what store_checkpoint_put returns. */
int jobs_checkpoint_put(Store *st, int64_t run, const StorePos *at, const void *blob,
                        size_t len, int keep, const StoreStage *row, int64_t *id, GsErr *err);

/* Shutdown: running jobs stop at their next step and go back to "queued" (their newest
 * checkpoint kept), workers are joined, everything freed. */
void jobs_stop(Jobs *j);

#endif
