/* api_render.h — what the API says about a run, in one place: the run object of docs/API.md
 * (GET /v1/runs, /v1/runs/{id} and the event stream all render it here), its stages, a live
 * progress event, a metric, a log line; and the reads that precede a render. Handlers call it;
 * it calls only api_reply.h, the store and the jobs' live snapshot. */
#ifndef GS_API_RENDER_H
#define GS_API_RENDER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "api_internal.h"
#include "api_reply.h"

/* A run as a watcher sees it now: its stored stages with the worker's live progress laid over
 * the running one, which stage runs, and how much of the whole run is done. */
typedef struct {
    StoreStage stages[STAGE_COUNT];
    int running;            /* STAGE_* running now, -1 when none */
    double progress;        /* done fraction, 0..1 */
} RunView;

void api_run_view(Api *api, const StoreRun *r, const StoreStage stored[STAGE_COUNT],
                  RunView *view);
/* The run object; config embedded when with_config. */
cJSON *api_run_view_json(const StoreRun *r, const RunView *view, bool with_config);
/* api_run_view then api_run_view_json. */
cJSON *api_run_json(Api *api, const StoreRun *r, const StoreStage stored[STAGE_COUNT],
                    bool with_config);
/* A live progress event: the stage's figures and the run's done fraction. */
cJSON *api_progress_json(const StageProgress *p, double progress);
/* One metric as in GET /v1/runs/{id}/metrics and the event stream. */
cJSON *api_metric_json(const StoreMetric *m);
/* One log line of the event stream. */
cJSON *api_log_json(const StoreEvent *e);

/* Reads run id and its stages and renders it: 0, STORE_NOT_FOUND, or -1 with err. */
int api_run_load_json(Api *api, int64_t id, bool with_config, cJSON **out, GsErr *err);
/* 0 when run id exists, else answers 404 (or 500) and returns non-zero. */
int api_require_run(Api *api, int64_t id, HttpResponse *resp);

#endif
