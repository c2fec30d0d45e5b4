/* shared.h — shared stages as the job workers use them, private to server/service: before a
 * G-SimCLR run starts from nothing it looks up its k-means and autoencoder keys
 * (pipeline_shared_key) in the store and starts from the shared checkpoint it finds
 * (store_shared_reuse); what it has to compute itself it first claims, so that two workers
 * never compute one key at once (the second waits for the first to publish, or to give up);
 * and when its autoencoder or k-means stage ends it publishes the checkpoint
 * (store_shared_publish). A reused stage's result is bit for bit what the run would have
 * computed: resuming from a stage's closing checkpoint is exact (jobs.h), and the key holds
 * everything the stage depends on. Claims live in memory only: after a crash nothing is
 * claimed, and two daemons on one database may compute a key twice (the first to publish
 * wins; nothing is corrupted). It does not run stages or write a run's other rows. */
#ifndef GS_SERVICE_SHARED_H
#define GS_SERVICE_SHARED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/config.h"
#include "gs/err.h"
#include "gs/pipeline.h"
#include "gs/store.h"

typedef struct SharedClaims SharedClaims;

/* What one attempt at a run does with shared stages. Zero it, then shared_run_init. */
typedef struct {
    char *key[2];           /* the run's keys for STAGE_DAE and STAGE_KMEANS (NULL: none) */
    bool claimed[2];        /* this run computes that key and holds its claim */
    int dae_epochs;         /* the autoencoder's last epoch: its checkpoint closes the stage */
    int reused;             /* the stage it started from a shared one (-1: none) */
    int64_t reused_from;    /* the run that computed that stage */
    bool drop_resume_line;  /* the pipeline's "resuming after" line is not this run's news */
    double dae_seconds;     /* what the autoencoder took (computed here or where reused) */
} SharedRun;

int shared_claims_create(SharedClaims **out, GsErr *err);
void shared_claims_free(SharedClaims *c);

/* The keys of cfg (none for SimCLR). 0, or -1 when memory ran out. */
int shared_run_init(SharedRun *sr, const RunConfig *cfg, GsErr *err);
/* Releases every claim the run holds (waking the runs waiting for them) and frees the keys. */
void shared_run_end(SharedClaims *c, SharedRun *sr);

/* A fresh attempt at run (no checkpoint of its own): starts it from the shared k-means, else
 * the shared autoencoder, when the store has them, setting *resume (malloc'd) and *len; then
 * claims what is left to compute, first waiting while another run computes one of those keys
 * (the event says so). 0; 1 when cancel was raised while waiting; -1 with err. */
int shared_run_start(SharedClaims *c, Store *st, int64_t run, SharedRun *sr,
                     const atomic_int *cancel, void **resume, size_t *len, GsErr *err);
/* An attempt that resumes from the run's own checkpoint ckpt (stage, epoch, step): when it
 * closes the autoencoder or k-means, publishes it (a crash may have come between the
 * checkpoint and its publication). */
void shared_run_resumed(SharedClaims *c, Store *st, int64_t run, SharedRun *sr, int64_t ckpt,
                        int stage, int epoch, long step, double stage_seconds);
/* The run stored checkpoint ckpt at (stage, epoch, step), its stage having taken
 * stage_seconds: the end of the autoencoder or k-means is published and its claim released.
 * A failure to publish is reported on stderr and the run goes on (it loses no data). */
void shared_run_checkpoint(SharedClaims *c, Store *st, int64_t run, SharedRun *sr,
                           int stage, int epoch, long step, int64_t ckpt,
                           double stage_seconds);
/* The run reached stage: claims of earlier stages are released (published or not). */
void shared_run_stage(SharedClaims *c, SharedRun *sr, int stage);
/* A log line the pipeline emits at stage: true when the sink should drop it (the resume line
 * of a run that started from a shared stage: its own event says so). */
bool shared_run_drop_log(SharedRun *sr, int stage);
/* The seconds of the stages the run reused are not its own: zeroed in res. */
void shared_run_result(const SharedRun *sr, RunResult *res);

#endif
