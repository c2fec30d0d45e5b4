/* api_internal.h — the Api object that every api*.c file shares: configuration, the store and
 * job queue it answers from, the HTTP server for waking streams, the cluster grids' training
 * sets, and the run renderer's step estimates. Private to server/service/api*.c; the rest of
 * the daemon sees only api.h. Which file may call which follows the headers: api.c (the route
 * table) -> api_handlers.h -> api_render.h -> api_reply.h. */
#ifndef GS_API_INTERNAL_H
#define GS_API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gs/api.h"
#include "gs/pipeline.h"
#include "gs/trainset_cache.h"


#define API_TRAIN_CACHE 2
#define API_EST_CACHE 256

/* Estimated steps of each stage of one run, for "progress" while later stages are pending. */
typedef struct {
    int64_t run;
    long steps[STAGE_COUNT];
} StepEstimate;

struct Api {
    Store *store;
    Jobs *jobs;
    char *token;            /* NULL: none */
    size_t token_len;
    bool token_for_reads;
    char *data_root, *web_dir, *examples_dir;
    char *embeddings_dir;           /* NULL: runs keep no features */
    char **allow_hosts;
    int n_allow_hosts;
    bool any_host;
    int max_threads;
    double started;                 /* monotonic seconds at api_create */
    HttpServer *_Atomic http;
    atomic_int shutting_down;

    TrainsetCache *train;           /* the cluster grids' images */

    /* api_render.c's cache of step estimates, by run */
    pthread_mutex_t est_mu;
    StepEstimate est[API_EST_CACHE];
    int est_next;
};

#endif
