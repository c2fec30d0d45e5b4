/* api_handlers.h — the route handlers that api.c's route table points at, all of one shape:
 * the request as its route matched it in, the answer out. A handler checks its own query and
 * body, reads and writes through the store and the jobs, and answers through api_render.h and
 * api_reply.h; it never calls another handler or api.c. */
#ifndef GS_API_HANDLERS_H
#define GS_API_HANDLERS_H

#include <stdint.h>

#include "api_internal.h"

/* A request as its route matched it: the request and the path's parameters (a route's
 * pattern names which ones it sets; the others stay 0). */
typedef struct {
    const HttpRequest *rq;
    int64_t run;            /* {run}: a positive run id */
    int64_t cluster;        /* {cluster}: 0 or more */
    int64_t checkpoint;     /* {checkpoint}: a positive checkpoint id, 0 for "latest" */
    int64_t dataset;        /* {dataset}: the length of the name segment; its text is the
                             * path's (api_datasets.c reads and checks it) */
    int64_t sweep;          /* {sweep}: a positive sweep id */
} ApiCall;

typedef void ApiHandler(Api *api, const ApiCall *call, HttpResponse *resp);

/* ---- runs (api_runs.c) ---- */
void api_runs_post(Api *api, const ApiCall *call, HttpResponse *resp);
void api_runs_list(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_get(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_cancel(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_delete(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_patch(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_metrics(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_checkpoints(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_checkpoint_get(Api *api, const ApiCall *call, HttpResponse *resp);

/* ---- events (api_events.c) ---- */
void api_run_events(Api *api, const ApiCall *call, HttpResponse *resp);

/* ---- clusters (api_clusters.c) ---- */
void api_run_clusters(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_grid(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_pseudo_labels(Api *api, const ApiCall *call, HttpResponse *resp);

/* ---- exports (api_exports.c) ---- */
void api_run_model_onnx(Api *api, const ApiCall *call, HttpResponse *resp);
void api_run_embeddings(Api *api, const ApiCall *call, HttpResponse *resp);

/* ---- sweeps (api_sweeps.c) ---- */
void api_sweeps_post(Api *api, const ApiCall *call, HttpResponse *resp);
void api_sweeps_list(Api *api, const ApiCall *call, HttpResponse *resp);
void api_sweep_get(Api *api, const ApiCall *call, HttpResponse *resp);
void api_sweep_csv(Api *api, const ApiCall *call, HttpResponse *resp);
void api_sweep_cancel(Api *api, const ApiCall *call, HttpResponse *resp);
void api_sweep_delete(Api *api, const ApiCall *call, HttpResponse *resp);

/* ---- datasets (api_datasets.c) ---- */
void api_datasets(Api *api, const ApiCall *call, HttpResponse *resp);
void api_dataset_get(Api *api, const ApiCall *call, HttpResponse *resp);
void api_dataset_preview(Api *api, const ApiCall *call, HttpResponse *resp);

/* ---- the rest (api_misc.c) ---- */
void api_defaults(Api *api, const ApiCall *call, HttpResponse *resp);
void api_healthz(Api *api, const ApiCall *call, HttpResponse *resp);
void api_prometheus(Api *api, const ApiCall *call, HttpResponse *resp);
void api_openapi(Api *api, const ApiCall *call, HttpResponse *resp);
void api_static(Api *api, const ApiCall *call, HttpResponse *resp);

#endif
