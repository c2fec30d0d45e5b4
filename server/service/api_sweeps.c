/* api_sweeps.c — the sweep routes: POST /v1/sweeps (the whole grid validated before anything
 * is stored: a 400 names the key and value, and the store is left as it was), the list, one
 * sweep with its table over seeds and paired differences (sweep.c), the table as CSV, and
 * cancel and delete of all of a sweep's runs at once (409 while runs are live, as for a run).
 * Its runs are ordinary runs: the queue, the run routes and the event streams serve them. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_handlers.h"
#include "api_render.h"
#include "gs/embeddings.h"
#include "sweep.h"

static void sweep_lookup_error(HttpResponse *resp, int rc, int64_t id, const char *what,
                               const GsErr *err)
{
    if (rc == STORE_NOT_FOUND)
        api_error(resp, 404, "not_found", NULL, "no sweep %lld", (long long)id);
    else
        api_store_error(resp, what, err);
}

/* The sweep object, with its table when with_table; NULL after answering an error. */
static cJSON *load_sweep(Api *api, int64_t id, bool with_table, HttpResponse *resp)
{
    StoreSweep sw;
    StoreSweepPoint *pts = NULL;
    int n = 0;
    GsErr err;
    int rc = store_sweep_get(api->store, id, &sw, &err);
    if (rc == 0 && with_table)
        rc = store_sweep_points(api->store, id, &pts, &n, &err);
    if (rc != 0) {
        store_sweep_free(&sw);
        sweep_lookup_error(resp, rc, id, "reading the sweep", &err);
        return NULL;
    }
    cJSON *o = sweep_json(&sw, pts, n, with_table, &err);
    if (o)
        api_add_time(o, "created_at", sw.created_at);
    store_sweep_points_free(pts, n);
    store_sweep_free(&sw);
    if (!o)
        api_error(resp, 500, "internal", NULL, "rendering sweep %lld: %s", (long long)id,
                  err.msg);
    return o;
}

void api_sweeps_post(Api *api, const ApiCall *call, HttpResponse *resp)
{
    const HttpRequest *rq = call->rq;
    SweepPlan plan;
    SweepError where;
    GsErr err;

    if (!api_is_json_type(rq->content_type)) {
        api_error(resp, 415, "unsupported_media_type", NULL,
                  "the body must be a sweep sent as Content-Type: application/json");
        return;
    }
    if (sweep_plan(rq->body, rq->body_len, api->data_root, api->max_threads, &plan, &where,
                   &err) != 0) {
        if (where.forbidden)
            api_error(resp, 403, "forbidden", where.field, "%s", err.msg);
        else if (where.bad_json)
            api_error(resp, 400, "bad_json", NULL, "%s", err.msg);
        else
            api_error(resp, 400, "invalid_sweep", where.field[0] ? where.field : NULL, "%s",
                      err.msg);
        return;
    }
    if (!store_writable(api->store)) {
        sweep_plan_free(&plan);
        api_store_full(resp);
        return;
    }
    int64_t id = 0;
    int rc = store_sweep_insert(api->store, plan.name, plan.metric, plan.spec_json, plan.runs,
                                plan.n_runs, plan.run_of, plan.n_points, &id, NULL, &err);
    sweep_plan_free(&plan);
    if (rc != 0) {
        if (!store_writable(api->store))
            api_store_full(resp);
        else
            api_store_error(resp, "storing the sweep", &err);
        return;
    }
    jobs_submitted(api->jobs);
    cJSON *o = load_sweep(api, id, true, resp);
    if (!o)
        return;
    api_reply_json(resp, 201, o);
    if (resp->status == 201) {
        char loc[64];
        snprintf(loc, sizeof loc, "/v1/sweeps/%lld", (long long)id);
        http_response_header(resp, "Location", loc);
    }
}

void api_sweeps_list(Api *api, const ApiCall *call, HttpResponse *resp)
{
    long limit, offset;
    GsErr err;
    if (!api_query_int(call->rq, resp, "limit", 1, 500, 50, &limit) ||
        !api_query_int(call->rq, resp, "offset", 0, INT_MAX, 0, &offset))
        return;
    StoreSweep *sw = NULL;
    int n = 0, total = 0;
    if (store_sweep_list(api->store, (int)limit, (int)offset, &sw, &n, &total, &err) != 0) {
        api_store_error(resp, "listing sweeps", &err);
        return;
    }
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "sweeps");
    for (int i = 0; i < n; i++) {
        cJSON *o = sweep_json(&sw[i], NULL, 0, false, &err);
        if (o) {
            api_add_time(o, "created_at", sw[i].created_at);
            cJSON_AddItemToArray(arr, o);
        }
    }
    store_sweep_list_free(sw, n);
    cJSON_AddNumberToObject(root, "total", total);
    cJSON_AddNumberToObject(root, "limit", (double)limit);
    cJSON_AddNumberToObject(root, "offset", (double)offset);
    api_reply_json(resp, 200, root);
}

void api_sweep_get(Api *api, const ApiCall *call, HttpResponse *resp)
{
    cJSON *o = load_sweep(api, call->sweep, true, resp);
    if (o)
        api_reply_json(resp, 200, o);
}

void api_sweep_csv(Api *api, const ApiCall *call, HttpResponse *resp)
{
    cJSON *o = load_sweep(api, call->sweep, true, resp);
    if (!o)
        return;
    char *csv = sweep_table_csv(o);
    cJSON_Delete(o);
    if (!csv) {
        api_error(resp, 500, "internal", NULL, "out of memory writing the table");
        return;
    }
    char disp[80];
    snprintf(disp, sizeof disp, "attachment; filename=\"sweep%lld.csv\"", (long long)call->sweep);
    api_reply_body(resp, 200, "text/csv; charset=utf-8", csv, strlen(csv));
    http_response_header(resp, "Content-Disposition", disp);
}

static void wake_streams(Api *api)
{
    HttpServer *http = atomic_load(&api->http);
    if (http)
        http_server_wake(http);
}

void api_sweep_cancel(Api *api, const ApiCall *call, HttpResponse *resp)
{
    int64_t *running = NULL;
    int n = 0;
    GsErr err;
    int rc = store_sweep_cancel(api->store, call->sweep, &running, &n, &err);
    if (rc == STORE_CONFLICT) {
        api_error(resp, 409, "conflict", NULL, "%s", err.msg);
        return;
    }
    if (rc != 0) {
        sweep_lookup_error(resp, rc, call->sweep, "canceling the sweep", &err);
        return;
    }
    for (int i = 0; i < n; i++)
        jobs_cancel(api->jobs, running[i]);
    free(running);
    wake_streams(api);
    cJSON *o = load_sweep(api, call->sweep, true, resp);
    if (o)
        api_reply_json(resp, 200, o);
}

void api_sweep_delete(Api *api, const ApiCall *call, HttpResponse *resp)
{
    int64_t *runs = NULL;
    int n = 0;
    GsErr err;
    int rc = store_sweep_delete(api->store, call->sweep, &runs, &n, &err);
    if (rc == STORE_CONFLICT) {
        api_error(resp, 409, "conflict", NULL, "%s", err.msg);
        return;
    }
    if (rc != 0) {
        sweep_lookup_error(resp, rc, call->sweep, "deleting the sweep", &err);
        return;
    }
    /* the runs' stored features go with them, as when a run is deleted */
    for (int i = 0; api->embeddings_dir && i < n; i++)
        if (embeddings_remove(api->embeddings_dir, runs[i], &err))
            fprintf(stderr, "gsimclrd: %s\n", err.msg);
    free(runs);
    wake_streams(api);
    api_reply_body(resp, 204, NULL, NULL, 0);
}
