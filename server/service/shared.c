/* shared.c — shared.h: the claims (in memory, under one lock and condition) and the steps of
 * a run's attempt that look up, reuse, claim and publish shared stages. */
#include "shared.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Keys being computed now: two per worker at most (64 workers). */
#define MAX_CLAIMS 128

typedef struct {
    const char *key;        /* the claiming run's SharedRun owns the text */
    int64_t run;
} Claim;

struct SharedClaims {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    Claim claims[MAX_CLAIMS];
    int n;
};

int shared_claims_create(SharedClaims **out, GsErr *err)
{
    SharedClaims *c = calloc(1, sizeof *c);
    if (!c)
        return gs_errf(err, "shared stages: out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    *out = c;
    return 0;
}

void shared_claims_free(SharedClaims *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* The run claiming key, 0 when none. Under c->mu. */
static int64_t claimed_by(const SharedClaims *c, const char *key)
{
    for (int i = 0; key && i < c->n; i++)
        if (strcmp(c->claims[i].key, key) == 0)
            return c->claims[i].run;
    return 0;
}

static void release(SharedClaims *c, SharedRun *sr, int s)
{
    if (!sr->claimed[s])
        return;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n; i++)
        if (c->claims[i].key == sr->key[s]) {
            c->claims[i] = c->claims[--c->n];
            break;
        }
    sr->claimed[s] = false;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int shared_run_init(SharedRun *sr, const RunConfig *cfg, GsErr *err)
{
    memset(sr, 0, sizeof *sr);
    sr->reused = -1;
    sr->dae_epochs = cfg->dae.epochs;
    if (cfg->method != METHOD_GSIMCLR)
        return 0;
    for (int s = STAGE_DAE; s <= STAGE_KMEANS; s++)
        if (!(sr->key[s] = pipeline_shared_key(cfg, s))) {
            free(sr->key[STAGE_DAE]);
            sr->key[STAGE_DAE] = NULL;
            return gs_errf(err, "shared stages: out of memory for the keys");
        }
    return 0;
}

void shared_run_end(SharedClaims *c, SharedRun *sr)
{
    for (int s = STAGE_DAE; s <= STAGE_KMEANS; s++) {
        release(c, sr, s);
        free(sr->key[s]);
        sr->key[s] = NULL;
    }
}

static void add_event(Store *st, int64_t run, const char *msg)
{
    GsErr err;
    int64_t id;
    if (store_event_add(st, run, NULL, "status", msg, (double)time(NULL), &id, &err))
        fprintf(stderr, "gsimclrd: run %" PRId64 ": event: %s\n", run, err.msg);
}

/* Starts from shared stage m (blob, len): recorded in the store, the run's rows of the
 * stages it closes copied in. 0, STORE_NOT_FOUND when it went meanwhile, or -1. */
static int reuse(Store *st, int64_t run, SharedRun *sr, const StoreShared *m, GsErr *err)
{
    char msg[300];
    snprintf(msg, sizeof msg, "reusing the %s computed by run %" PRId64 " (shared stage %" PRId64
             ", %.1f s of work saved): the result is the same bit for bit",
             m->stage == STAGE_KMEANS ? "autoencoder and k-means" : "autoencoder", m->run, m->id,
             m->seconds);
    int rc = store_shared_reuse(st, run, m->id, msg, err);
    if (rc != 0)
        return rc;
    sr->reused = m->stage;
    sr->reused_from = m->run;
    sr->drop_resume_line = true;
    if (m->stage == STAGE_DAE)
        sr->dae_seconds = m->seconds;
    return 0;
}

int shared_run_start(SharedClaims *c, Store *st, int64_t run, SharedRun *sr,
                     const atomic_int *cancel, void **resume, size_t *len, GsErr *err)
{
    if (!sr->key[STAGE_DAE])
        return 0;
    int64_t told = -1; /* the run last named as the one waited for */
    for (;;) {
        StoreShared m;
        void *blob = NULL;
        size_t n = 0;
        /* the k-means holds the autoencoder's result too: it saves the most */
        for (int s = STAGE_KMEANS; s >= STAGE_DAE; s--) {
            int rc = store_shared_get(st, sr->key[s], &m, &blob, &n, err);
            if (rc == STORE_NOT_FOUND)
                continue;
            if (rc != 0)
                return -1;
            break;
        }
        pthread_mutex_lock(&c->mu);
        /* what is left to compute, and who computes any of it now */
        int first = blob ? m.stage + 1 : STAGE_DAE;
        int64_t other = 0;
        for (int s = first; s <= STAGE_KMEANS && !other; s++)
            other = claimed_by(c, sr->key[s]);
        if (!other) {
            for (int s = first; s <= STAGE_KMEANS; s++) {
                if (c->n == MAX_CLAIMS)
                    break;  /* more claims than workers can hold: compute unclaimed */
                c->claims[c->n++] = (Claim){sr->key[s], run};
                sr->claimed[s] = true;
            }
            pthread_mutex_unlock(&c->mu);
            if (!blob)
                return 0;
            int rc = reuse(st, run, sr, &m, err);
            if (rc == STORE_NOT_FOUND) {
                /* its last user was deleted between the two reads: look again */
                free(blob);
                for (int s = STAGE_DAE; s <= STAGE_KMEANS; s++)
                    release(c, sr, s);
                continue;
            }
            if (rc != 0) {
                free(blob);
                return -1;
            }
            *resume = blob;
            *len = n;
            return 0;
        }
        free(blob);
        if (atomic_load(cancel)) {
            pthread_mutex_unlock(&c->mu);
            return 1;
        }
        bool tell = other != told;
        told = other;
        if (tell) {
            pthread_mutex_unlock(&c->mu);
            char msg[200];
            snprintf(msg, sizeof msg, "waiting for run %" PRId64 ", which is computing the "
                     "same %s, to reuse it", other,
                     first == STAGE_KMEANS ? "k-means" : "autoencoder");
            add_event(st, run, msg);
            pthread_mutex_lock(&c->mu);
        }
        /* a release broadcasts; the timeout only bounds how late a cancel is seen */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        other = 0;
        for (int s = first; s <= STAGE_KMEANS && !other; s++)
            other = claimed_by(c, sr->key[s]);
        if (other)
            pthread_cond_timedwait(&c->cv, &c->mu, &until);
        pthread_mutex_unlock(&c->mu);
    }
}

static void publish(SharedClaims *c, Store *st, int64_t run, SharedRun *sr, int s, int64_t ckpt,
                    double seconds)
{
    GsErr err;
    if (sr->key[s] && store_shared_publish(st, run, ckpt, sr->key[s], s, seconds, &err) != 0)
        fprintf(stderr, "gsimclrd: run %" PRId64 ": sharing its %s: %s\n", run, STAGE_NAMES[s],
                err.msg);
    release(c, sr, s);
}

/* Whether (stage, epoch, step) closes a stage that can be shared. */
static bool closes(const SharedRun *sr, int stage, int epoch, long step)
{
    return step < 0 && ((stage == STAGE_DAE && epoch == sr->dae_epochs) || stage == STAGE_KMEANS);
}

void shared_run_resumed(SharedClaims *c, Store *st, int64_t run, SharedRun *sr, int64_t ckpt,
                        int stage, int epoch, long step, double stage_seconds)
{
    if (stage == STAGE_DAE && sr->dae_epochs > 0 && epoch == sr->dae_epochs)
        sr->dae_seconds = stage_seconds;
    if (closes(sr, stage, epoch, step))
        shared_run_checkpoint(c, st, run, sr, stage, epoch, step, ckpt, stage_seconds);
}

void shared_run_checkpoint(SharedClaims *c, Store *st, int64_t run, SharedRun *sr, int stage,
                           int epoch, long step, int64_t ckpt, double stage_seconds)
{
    if (!sr->key[STAGE_DAE] || !closes(sr, stage, epoch, step))
        return;
    if (stage == STAGE_DAE) {
        sr->dae_seconds = stage_seconds;
        publish(c, st, run, sr, STAGE_DAE, ckpt, stage_seconds);
    } else {
        /* the k-means checkpoint holds the autoencoder's work too */
        publish(c, st, run, sr, STAGE_KMEANS, ckpt, sr->dae_seconds + stage_seconds);
    }
}

void shared_run_stage(SharedClaims *c, SharedRun *sr, int stage)
{
    for (int s = STAGE_DAE; s <= STAGE_KMEANS && s < stage; s++)
        release(c, sr, s);
}

bool shared_run_drop_log(SharedRun *sr, int stage)
{
    if (!sr->drop_resume_line || stage != sr->reused)
        return false;
    sr->drop_resume_line = false;
    return true;
}

void shared_run_result(const SharedRun *sr, RunResult *res)
{
    for (int s = STAGE_DAE; s <= sr->reused; s++)
        res->seconds[s] = 0;
}
