/* trainset_cache.c — the cluster grids' training sets (trainset_cache.h): the last few loaded
 * sets, each with a reference count under one lock, evicted least recently used. A set leaves
 * memory when neither the cache nor any request holds it. Must not: hold the lock while a set
 * loads, or hand out a set that another thread may free. */
#include "gs/trainset_cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/pipeline.h"

/* One loaded set and what it was loaded from. train comes first: a caller's const Dataset *
 * is the set's address (trainset_cache_release relies on it). */
typedef struct {
    Dataset train;
    char dataset[512];
    int subset;
    bool subset_random;
    uint64_t seed;
    int size, fit, skip_bad;  /* the image options of the run's "dataset" */
    float val_fraction;       /* with the seed, which images a held-out test set took */
    int refs;               /* guarded by TrainsetCache.mu */
    unsigned long used;     /* guarded by TrainsetCache.mu: tick of the last use */
} TrainSet;

struct TrainsetCache {
    pthread_mutex_t mu;
    char *data_root;
    int capacity;
    unsigned long tick;
    TrainSet *slot[];       /* (capacity), NULL when free */
};

int trainset_cache_create(TrainsetCache **out, int capacity, const char *data_root, GsErr *err)
{
    *out = NULL;
    if (capacity < 1)
        return gs_errf(err, "trainset cache: capacity %d must be at least 1", capacity);
    TrainsetCache *c = calloc(1, sizeof *c + (size_t)capacity * sizeof c->slot[0]);
    if (!c || (data_root && !(c->data_root = strdup(data_root)))) {
        free(c);
        return gs_errf(err, "trainset cache: out of memory");
    }
    c->capacity = capacity;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

static bool key_matches(const TrainSet *t, const RunConfig *cfg)
{
    return strcmp(t->dataset, cfg->dataset) == 0 && t->subset == cfg->subset &&
           t->subset_random == cfg->subset_random && t->size == cfg->data.size &&
           t->fit == (int)cfg->data.fit && t->skip_bad == (int)cfg->data.skip_bad &&
           t->val_fraction == cfg->data.val_fraction &&
           ((!cfg->subset_random && cfg->data.val_fraction == 0) || t->seed == cfg->seed);
}

static void set_free(TrainSet *t)
{
    if (!t)
        return;
    dataset_free(&t->train);
    free(t);
}

/* Under mu: the cached set cfg names with one more reference taken, or NULL. */
static TrainSet *take(TrainsetCache *c, const RunConfig *cfg)
{
    for (int i = 0; i < c->capacity; i++) {
        TrainSet *t = c->slot[i];
        if (t && key_matches(t, cfg)) {
            t->refs++;
            t->used = ++c->tick;
            return t;
        }
    }
    return NULL;
}

const Dataset *trainset_cache_acquire(TrainsetCache *c, const RunConfig *cfg, GsErr *err)
{
    pthread_mutex_lock(&c->mu);
    TrainSet *cached = take(c, cfg);
    pthread_mutex_unlock(&c->mu);
    if (cached)
        return &cached->train;

    TrainSet *ts = calloc(1, sizeof *ts);
    Dataset test;
    if (!ts) {
        gs_errf(err, "out of memory");
        return NULL;
    }
    if (pipeline_load_data(cfg, c->data_root, NULL, &ts->train, &test, err) != 0) {
        free(ts);
        return NULL;
    }
    dataset_free(&test);
    snprintf(ts->dataset, sizeof ts->dataset, "%s", cfg->dataset);
    ts->subset = cfg->subset;
    ts->subset_random = cfg->subset_random;
    ts->seed = cfg->seed;
    ts->size = cfg->data.size;
    ts->fit = (int)cfg->data.fit;
    ts->skip_bad = cfg->data.skip_bad;
    ts->val_fraction = cfg->data.val_fraction;
    ts->refs = 1;

    TrainSet *evicted = NULL;
    pthread_mutex_lock(&c->mu);
    /* another request may have loaded the same set meanwhile: then share theirs */
    TrainSet *found = take(c, cfg);
    if (!found) {
        int slot = 0;
        for (int i = 0; i < c->capacity; i++) {
            if (!c->slot[i]) {
                slot = i;
                break;
            }
            if (c->slot[i]->used < c->slot[slot]->used)
                slot = i;
        }
        if (c->slot[slot] && --c->slot[slot]->refs == 0)
            evicted = c->slot[slot];
        c->slot[slot] = ts;
        ts->refs++; /* the cache's own reference */
        ts->used = ++c->tick;
    }
    pthread_mutex_unlock(&c->mu);
    set_free(evicted);
    if (found) {
        set_free(ts);
        return &found->train;
    }
    return &ts->train;
}

void trainset_cache_release(TrainsetCache *c, const Dataset *train)
{
    if (!train)
        return;
    TrainSet *t = (TrainSet *)train; /* train is the set's first member */
    pthread_mutex_lock(&c->mu);
    bool last = --t->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last)
        set_free(t);
}

void trainset_cache_free(TrainsetCache *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->capacity; i++) {
        if (c->slot[i] && --c->slot[i]->refs == 0)
            set_free(c->slot[i]);
        c->slot[i] = NULL;
    }
    pthread_mutex_destroy(&c->mu);
    free(c->data_root);
    free(c);
}
