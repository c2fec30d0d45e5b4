/* trainset_cache.h — the training sets the daemon's cluster grids draw from, loaded as a run
 * loads them (pipeline_load_data, so image i is the i-th pseudo-label) and the last few kept,
 * shared by reference count: a page asks for many clusters of one run in a row, and a load
 * reads and decodes the whole dataset. Safe from any thread. It knows nothing of HTTP. */
#ifndef GS_TRAINSET_CACHE_H
#define GS_TRAINSET_CACHE_H

#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/err.h"

typedef struct TrainsetCache TrainsetCache;

/* A cache of the last `capacity` sets; data_root confines dataset folders as for runs
 * (copied; NULL = none). */
int trainset_cache_create(TrainsetCache **out, int capacity, const char *data_root, GsErr *err);
/* The training set cfg names, loaded on a miss (outside the cache's lock, so other requests
 * go on meanwhile). Read-only for the caller until trainset_cache_release; NULL with err
 * when it cannot be loaded. */
const Dataset *trainset_cache_acquire(TrainsetCache *c, const RunConfig *cfg, GsErr *err);
void trainset_cache_release(TrainsetCache *c, const Dataset *train);
/* Frees the cache and its sets. Call it once no request runs (the HTTP server stopped):
 * a set released after this would touch the freed cache. */
void trainset_cache_free(TrainsetCache *c);

#endif
