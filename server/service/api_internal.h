/* api_internal.h — what the api_*.c files share: the Api object, the JSON and error helpers
 * every route answers through, and the run renderer. Private to server/service/api*.c; the
 * rest of the daemon sees only api.h. */
#ifndef GS_API_INTERNAL_H
#define GS_API_INTERNAL_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gs/api.h"
#include "gs/dataset.h"
#include "gs/pipeline.h"

#ifndef GS_VERSION
#define GS_VERSION "0.4.0"
#endif

/* A training set loaded for cluster grids, shared by reference count: the cache holds one
 * reference, each request using it another; the last to let go frees it. */
typedef struct {
    char dataset[512];
    int subset;
    bool subset_random;
    uint64_t seed;
    Dataset train;
    int refs;               /* guarded by Api.train_mu */
    unsigned long used;     /* guarded by Api.train_mu: tick of the last use, for eviction */
} TrainSet;

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
    char **allow_hosts;
    int n_allow_hosts;
    bool any_host;
    int max_threads;
    double started;                 /* monotonic seconds at api_create */
    HttpServer *_Atomic http;
    atomic_int shutting_down;

    pthread_mutex_t train_mu;
    TrainSet *train[API_TRAIN_CACHE];
    unsigned long train_tick;

    pthread_mutex_t est_mu;
    StepEstimate est[API_EST_CACHE];
    int est_next;

    /* Fashion-MNIST's figures for /v1/datasets, read once. */
    pthread_mutex_t ds_mu;
    bool ds_known;
    bool ds_available;
    int ds_train, ds_test, ds_c, ds_h, ds_w, ds_classes;
    char ds_error[sizeof ((GsErr *)0)->msg];
};

/* ---- responses (api.c) ---- */

/* Every error answer: {"error": {"code", "message", "field"?}}. field may be NULL. */
void api_error(HttpResponse *resp, int status, const char *code, const char *field,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Prints root (taken, deleted) as the body with the given status; 500 when printing fails. */
void api_reply_json(HttpResponse *resp, int status, cJSON *root);
/* A store call failed: 500 internal, naming what was being done. */
void api_store_error(HttpResponse *resp, const char *what, const GsErr *err);
/* Body taken (malloc'd) with a static content type. */
void api_reply_body(HttpResponse *resp, int status, const char *content_type, char *body,
                    size_t len);

/* ---- JSON values ---- */

/* A number, or null when it is not finite. */
cJSON *api_num(double v);
void api_add_num(cJSON *obj, const char *name, double v);
/* "YYYY-MM-DDTHH:MM:SSZ" of unix seconds t; null when t is not a positive finite time. */
void api_add_time(cJSON *obj, const char *name, double t);
void api_time_text(double t, char out[32]);
/* An int64 in a double is exact up to 2^53, more than any id the store will hand out. */
void api_add_id(cJSON *obj, const char *name, int64_t id);
double api_mono(void);
double api_wall(void);

/* ---- parsing ---- */

/* A path id: a positive decimal integer without sign or leading zero that fits int64. */
bool api_parse_id(const char *s, size_t len, int64_t *out);
/* A query argument that must be an integer in lo..hi; absent gives def. false (and a 400
 * answered) when present and not such an integer. */
bool api_query_int(const HttpRequest *rq, HttpResponse *resp, const char *key, long lo,
                   long hi, long def, long *out);

/* ---- runs (api_runs.c) ---- */

/* The run object of docs/API.md; live progress from the jobs overlaid on the running stage. */
cJSON *api_run_json(Api *api, const StoreRun *r, const StoreStage st[STAGE_COUNT],
                    bool with_config);
/* Reads run id and its stages and renders it; 0, STORE_NOT_FOUND, or -1 with err. */
int api_run_load_json(Api *api, int64_t id, bool with_config, cJSON **out, RunStatus *status,
                      GsErr *err);
/* Answers 404 for a missing run or 500 for a store failure after rc from the store. */
void api_run_lookup_error(HttpResponse *resp, int rc, int64_t id, const char *what,
                          const GsErr *err);
/* 0 when run id exists, else answers 404 (or 500) and returns non-zero. */
int api_require_run(Api *api, int64_t id, HttpResponse *resp);

void api_runs_post(Api *api, const HttpRequest *rq, HttpResponse *resp);
void api_runs_list(Api *api, const HttpRequest *rq, HttpResponse *resp);
void api_run_get(Api *api, int64_t id, HttpResponse *resp);
void api_run_cancel(Api *api, int64_t id, HttpResponse *resp);
void api_run_delete(Api *api, int64_t id, HttpResponse *resp);
void api_run_metrics(Api *api, int64_t id, const HttpRequest *rq, HttpResponse *resp);
void api_run_checkpoints(Api *api, int64_t id, HttpResponse *resp);
void api_run_checkpoint_get(Api *api, int64_t id, int64_t cid, HttpResponse *resp);
/* One metric as in GET /v1/runs/{id}/metrics (and the event stream). */
cJSON *api_metric_json(const StoreMetric *m);

/* ---- clusters (api_clusters.c) ---- */
void api_run_clusters(Api *api, int64_t id, HttpResponse *resp);
void api_run_grid(Api *api, int64_t id, int64_t cluster, const HttpRequest *rq,
                  HttpResponse *resp);
void api_run_pseudo_labels(Api *api, int64_t id, const HttpRequest *rq, HttpResponse *resp);
void api_train_cache_free(Api *api);

/* ---- events (api_events.c) ---- */
void api_run_events(Api *api, int64_t id, const HttpRequest *rq, HttpResponse *resp);

/* ---- the rest (api_misc.c) ---- */
void api_datasets(Api *api, HttpResponse *resp);
void api_defaults(Api *api, HttpResponse *resp);
void api_healthz(Api *api, HttpResponse *resp);
void api_prometheus(Api *api, HttpResponse *resp);
void api_static(Api *api, const HttpRequest *rq, HttpResponse *resp);
/* Fashion-MNIST's training set size when known (read once), else 0; never loads it. */
int api_fashion_train_size(Api *api);

#endif
