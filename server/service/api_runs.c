/* api_runs.c — the run routes: POST /v1/runs (validated config, dataset confined to the data
 * root, nothing stored on any 4xx, 507 while the store's disk is full), list, one run, cancel, delete, metrics and checkpoints.
 * GET /v1/runs/{id} is the hot path (the page and the CLI poll it while a run trains): two
 * prepared reads, a lock-protected peek at the worker, and one render (api_render.c), with
 * the stored config and result embedded as raw JSON text, unparsed. Rendering lives in
 * api_render.c and answering in api_reply.c; this file decides what to read and write. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_handlers.h"
#include "api_render.h"
#include "gs/config.h"
#include "gs/embeddings.h"

static void reply_run(Api *api, int64_t id, int status, HttpResponse *resp)
{
    GsErr err;
    cJSON *o = NULL;
    int rc = api_run_load_json(api, id, true, &o, &err);
    if (rc != 0) {
        api_run_lookup_error(resp, rc, id, "reading the run", &err);
        return;
    }
    api_reply_json(resp, status, o);
}

/* ---- POST /v1/runs ---------------------------------------------------------------------- */

/* run_config_parse names the field as "path: message"; "body" is the whole document. */
static void config_error(HttpResponse *resp, const GsErr *err)
{
    const char *sep = strstr(err->msg, ": ");
    char field[256];
    size_t n = sep ? (size_t)(sep - err->msg) : 0;
    if (!sep || n == 0 || n >= sizeof field) {
        api_error(resp, 400, "invalid_config", NULL, "%s", err->msg);
        return;
    }
    memcpy(field, err->msg, n);
    field[n] = 0;
    /* the whole body, or inside an array at its top: not a JSON object at all */
    if (strcmp(field, "body") == 0 || field[0] == '[')
        api_error(resp, 400, "bad_json", NULL, "%s", err->msg);
    else
        api_error(resp, 400, "invalid_config", field, "%s", err->msg);
}

void api_runs_post(Api *api, const ApiCall *call, HttpResponse *resp)
{
    const HttpRequest *rq = call->rq;
    RunConfig cfg;
    GsErr err;
    int forbidden = 0;
    int64_t id;

    if (!api_is_json_type(rq->content_type)) {
        api_error(resp, 415, "unsupported_media_type", NULL,
                  "the body must be a run configuration sent as Content-Type: "
                  "application/json");
        return;
    }
    if (run_config_parse(&cfg, rq->body, rq->body_len, &err) != 0) {
        config_error(resp, &err);
        return;
    }
    if (dataset_check(cfg.dataset, api->data_root, &forbidden, &err) != 0) {
        if (forbidden)
            api_error(resp, 403, "forbidden", "dataset", "%s", err.msg);
        else
            api_error(resp, 400, "invalid_config", "dataset", "%s", err.msg);
        return;
    }
    /* the checks that need the data's size, where the config alone tells it */
    if (cfg.method == METHOD_GSIMCLR && cfg.subset > 0 && cfg.kmeans.k > cfg.subset) {
        api_error(resp, 400, "invalid_config", "kmeans.k",
                  "kmeans.k: %d clusters for a subset of %d training images", cfg.kmeans.k,
                  cfg.subset);
        return;
    }
    if (api->max_threads > 0 && cfg.threads > api->max_threads)
        cfg.threads = api->max_threads;
    /* a full disk: refused before anything is written, rather than a run that would fail */
    if (!store_writable(api->store)) {
        api_store_full(resp);
        return;
    }
    char *json = run_config_to_json(&cfg);
    if (!json) {
        api_error(resp, 500, "internal", NULL, "out of memory writing the configuration");
        return;
    }
    int rc = store_run_insert(api->store, cfg.method == METHOD_SIMCLR ? "simclr" : "gsimclr",
                              cfg.name, json, pipeline_skipped_stages(&cfg), &id, &err);
    free(json);
    if (rc != 0) {
        if (!store_writable(api->store))    /* it was this write that found the disk full */
            api_store_full(resp);
        else
            api_store_error(resp, "storing the run", &err);
        return;
    }
    jobs_submitted(api->jobs);
    reply_run(api, id, 201, resp);
    if (resp->status == 201) {
        char loc[64];
        snprintf(loc, sizeof loc, "/v1/runs/%lld", (long long)id);
        http_response_header(resp, "Location", loc);
    }
}

/* ---- GET /v1/runs ----------------------------------------------------------------------- */

void api_runs_list(Api *api, const ApiCall *call, HttpResponse *resp)
{
    const HttpRequest *rq = call->rq;
    StoreRunFilter f = {.status = -1};
    long limit, offset;
    const char *status = http_query(rq, "status"), *method = http_query(rq, "method");
    GsErr err;

    if (status && (f.status = run_status_parse(status)) < 0) {
        api_error(resp, 400, "bad_request", "status",
                  "status: must be one of queued, running, succeeded, failed, canceled");
        return;
    }
    if (method && strcmp(method, "gsimclr") != 0 && strcmp(method, "simclr") != 0) {
        api_error(resp, 400, "bad_request", "method", "method: must be gsimclr or simclr");
        return;
    }
    f.method = method;
    if (!api_query_int(rq, resp, "limit", 1, 500, 50, &limit) ||
        !api_query_int(rq, resp, "offset", 0, INT_MAX, 0, &offset))
        return;
    f.limit = (int)limit;
    f.offset = (int)offset;

    StoreRun *runs = NULL;
    int n = 0, total = 0;
    if (store_run_list(api->store, &f, &runs, &n, &total, &err) != 0) {
        api_store_error(resp, "listing runs", &err);
        return;
    }
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "runs");
    for (int i = 0; i < n; i++) {
        StoreStage st[STAGE_COUNT];
        int rc = store_stages_get(api->store, runs[i].id, st, &err);
        if (rc == STORE_NOT_FOUND)
            continue; /* deleted between the two reads */
        if (rc != 0) {
            store_run_list_free(runs, n);
            cJSON_Delete(root);
            api_store_error(resp, "reading stages", &err);
            return;
        }
        cJSON_AddItemToArray(arr, api_run_json(api, &runs[i], st, false));
    }
    store_run_list_free(runs, n);
    cJSON_AddNumberToObject(root, "total", total);
    cJSON_AddNumberToObject(root, "limit", (double)limit);
    cJSON_AddNumberToObject(root, "offset", (double)offset);
    api_reply_json(resp, 200, root);
}

/* ---- one run ---------------------------------------------------------------------------- */

void api_run_get(Api *api, const ApiCall *call, HttpResponse *resp)
{
    reply_run(api, call->run, 200, resp);
}

static void wake_streams(Api *api)
{
    HttpServer *http = atomic_load(&api->http);
    if (http)
        http_server_wake(http);
}

void api_run_cancel(Api *api, const ApiCall *call, HttpResponse *resp)
{
    int64_t id = call->run;
    GsErr err;
    bool now_canceled = false;
    int rc = store_run_request_cancel(api->store, id, &now_canceled, &err);
    if (rc == STORE_CONFLICT) {
        api_error(resp, 409, "conflict", NULL, "run %lld has already ended", (long long)id);
        return;
    }
    if (rc != 0) {
        api_run_lookup_error(resp, rc, id, "canceling the run", &err);
        return;
    }
    if (!now_canceled)
        jobs_cancel(api->jobs, id);
    wake_streams(api);
    reply_run(api, id, 200, resp);
}

void api_run_delete(Api *api, const ApiCall *call, HttpResponse *resp)
{
    int64_t id = call->run;
    GsErr err;
    int rc = store_run_delete(api->store, id, &err);
    if (rc == STORE_CONFLICT) {
        api_error(resp, 409, "conflict", NULL,
                  "run %lld has not ended; cancel it first (only succeeded, failed or "
                  "canceled runs can be deleted)", (long long)id);
        return;
    }
    if (rc != 0) {
        api_run_lookup_error(resp, rc, id, "deleting the run", &err);
        return;
    }
    /* its stored features go with it (a crash here leaves them to the next start's sweep) */
    if (api->embeddings_dir && embeddings_remove(api->embeddings_dir, id, &err))
        fprintf(stderr, "gsimclrd: %s\n", err.msg);
    wake_streams(api); /* its event streams end */
    api_reply_body(resp, 204, NULL, NULL, 0);
}

/* ---- metrics ---------------------------------------------------------------------------- */

void api_run_metrics(Api *api, const ApiCall *call, HttpResponse *resp)
{
    const HttpRequest *rq = call->rq;
    int64_t id = call->run;
    const char *stage_name = http_query(rq, "stage"), *name = http_query(rq, "name");
    int stage = -1;
    long after, limit;
    GsErr err;

    if (stage_name) {
        for (int s = 0; s < STAGE_COUNT; s++)
            if (strcmp(stage_name, STAGE_NAMES[s]) == 0)
                stage = s;
        if (stage < 0) {
            api_error(resp, 400, "bad_request", "stage",
                      "stage: must be one of dae, kmeans, simclr, eval");
            return;
        }
    }
    if (name && (!*name || strlen(name) >= sizeof ((StoreMetric *)0)->name)) {
        api_error(resp, 400, "bad_request", "name", "name: must be 1..%zu characters",
                  sizeof ((StoreMetric *)0)->name - 1);
        return;
    }
    if (!api_query_int(rq, resp, "after", 0, LONG_MAX, 0, &after) ||
        !api_query_int(rq, resp, "limit", 1, 100000, 10000, &limit))
        return;

    StoreMetric *m = NULL;
    int n = 0;
    int rc = store_metrics_get(api->store, id, stage, name, (int64_t)after, (int)limit, &m, &n,
                               &err);
    if (rc != 0) {
        api_run_lookup_error(resp, rc, id, "reading metrics", &err);
        return;
    }
    if (n == 0 && api_require_run(api, id, resp) != 0) {
        free(m);
        return;
    }
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "metrics");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, api_metric_json(&m[i]));
    api_add_id(root, "last_id", n > 0 ? m[n - 1].id : (int64_t)after);
    free(m);
    api_reply_json(resp, 200, root);
}

/* ---- checkpoints ------------------------------------------------------------------------ */

static int by_id_desc(const void *a, const void *b)
{
    int64_t x = ((const StoreCheckpoint *)a)->id, y = ((const StoreCheckpoint *)b)->id;
    return x < y ? 1 : x > y ? -1 : 0;
}

void api_run_checkpoints(Api *api, const ApiCall *call, HttpResponse *resp)
{
    int64_t id = call->run;
    StoreCheckpoint *c = NULL;
    int n = 0;
    GsErr err;
    int rc = store_checkpoint_list(api->store, id, &c, &n, &err);
    if (rc != 0) {
        api_run_lookup_error(resp, rc, id, "listing checkpoints", &err);
        return;
    }
    if (n == 0 && api_require_run(api, id, resp) != 0) {
        free(c);
        return;
    }
    if (n > 1)
        qsort(c, (size_t)n, sizeof *c, by_id_desc);
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "checkpoints");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        char crc[16];
        snprintf(crc, sizeof crc, "%08x", (unsigned)c[i].crc32);
        api_add_id(o, "id", c[i].id);
        cJSON_AddStringToObject(o, "stage", (unsigned)c[i].stage < STAGE_COUNT
                                                ? STAGE_NAMES[c[i].stage] : "unknown");
        cJSON_AddNumberToObject(o, "epoch", c[i].epoch);
        /* null for the end of the epoch, else the steps done in the stage (a mid-epoch
         * checkpoint of a cancel or shutdown) */
        if (c[i].step == STORE_END_OF_EPOCH)
            cJSON_AddNullToObject(o, "step");
        else
            cJSON_AddNumberToObject(o, "step", (double)c[i].step);
        cJSON_AddNumberToObject(o, "bytes", (double)c[i].bytes);
        cJSON_AddNumberToObject(o, "format_version", c[i].format_version);
        cJSON_AddStringToObject(o, "crc32", crc);
        api_add_time(o, "created_at", c[i].created_at);
        cJSON_AddItemToArray(arr, o);
    }
    free(c);
    api_reply_json(resp, 200, root);
}

void api_run_checkpoint_get(Api *api, const ApiCall *call, HttpResponse *resp)
{
    int64_t id = call->run, cid = call->checkpoint;
    StoreCheckpoint meta;
    void *blob = NULL;
    size_t len = 0;
    GsErr err;
    /* cid 0: the newest (GET /v1/runs/{id}/checkpoints/latest) */
    int rc = cid ? store_checkpoint_get(api->store, id, cid, &meta, &blob, &len, &err)
                 : store_checkpoint_latest(api->store, id, &meta, &blob, &len, &err);
    if (rc == STORE_NOT_FOUND && !cid) {
        api_error(resp, 404, "not_found", NULL, "run %lld has no checkpoint (yet)",
                  (long long)id);
        return;
    }
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, 404, "not_found", NULL, "no checkpoint %lld of run %lld",
                  (long long)cid, (long long)id);
        return;
    }
    if (rc != 0) {
        api_store_error(resp, "reading the checkpoint", &err);
        return;
    }
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"run%lld-%s-e%d.gsck\"", (long long)id,
             (unsigned)meta.stage < STAGE_COUNT ? STAGE_NAMES[meta.stage] : "stage", meta.epoch);
    api_reply_body(resp, 200, "application/octet-stream", blob, len);
    http_response_header(resp, "Content-Disposition", disp);
}
