/* api_render.c — the run as the API shows it (api_render.h), rendered in one place for
 * GET /v1/runs, GET /v1/runs/{id} and the event stream: the worker's live snapshot laid over
 * the stored stage it is running, the done fraction of the whole run (with steps estimated
 * from the configuration and the dataset's headers for stages that have not started), and the
 * JSON of runs, stages, progress events, metrics and log lines. It answers no request itself
 * beyond api_require_run's 404, and never loads a dataset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_render.h"
#include "gs/config.h"
#include "gs/dataset.h"

/* ---- progress --------------------------------------------------------------------------- */

/* Steps each stage will take, from the run's configuration and its dataset's size, for the
 * stages that have not reported their own count yet (the same formulas as the stages: the
 * autoencoder rounds the last batch up, SimCLR drops it, eval counts one step per embedded
 * node plus one). false when the dataset's size cannot be told. */
static bool estimate_steps(Api *api, const RunConfig *cfg, long out[STAGE_COUNT])
{
    DatasetInfo info;
    GsErr err;
    long n = 0;
    if (dataset_info(cfg->dataset, api->data_root, &info, &err) == 0)
        n = info.train.n;
    if (cfg->subset > 0 && (n == 0 || cfg->subset < n))
        n = cfg->subset;
    if (n <= 0)
        return false;
    long db = cfg->dae.batch > 0 ? cfg->dae.batch : 1;
    long sb = cfg->simclr.batch > 0 ? cfg->simclr.batch : 1;
    out[STAGE_DAE] = (long)cfg->dae.epochs * ((n + db - 1) / db);
    out[STAGE_KMEANS] = 1;
    out[STAGE_SIMCLR] = (long)cfg->simclr.epochs * (n / sb > 0 ? n / sb : 1);
    out[STAGE_EVAL] = 3;
    return true;
}

/* The cached estimate of run id, computing it from config_json (or the stored run when that
 * is NULL) on a miss. false when it cannot be had. */
static bool step_estimate(Api *api, int64_t id, const char *config_json, long out[STAGE_COUNT])
{
    pthread_mutex_lock(&api->est_mu);
    for (int i = 0; i < API_EST_CACHE; i++) {
        if (api->est[i].run == id) {
            memcpy(out, api->est[i].steps, sizeof api->est[i].steps);
            pthread_mutex_unlock(&api->est_mu);
            return true;
        }
    }
    pthread_mutex_unlock(&api->est_mu);

    StoreRun r = {0};
    GsErr err;
    RunConfig cfg;
    bool have = false;
    if (!config_json) {
        if (store_run_get(api->store, id, &r, &err) != 0)
            return false;
        config_json = r.config_json;
    }
    if (config_json && run_config_parse(&cfg, config_json, strlen(config_json), &err) == 0)
        have = estimate_steps(api, &cfg, out);
    store_run_free(&r);
    if (!have)
        return false;
    pthread_mutex_lock(&api->est_mu);
    api->est[api->est_next].run = id;
    memcpy(api->est[api->est_next].steps, out, sizeof api->est[0].steps);
    api->est_next = (api->est_next + 1) % API_EST_CACHE;
    pthread_mutex_unlock(&api->est_mu);
    return true;
}

/* Done steps over all steps of the stages the run has (not skipped): a stage that has
 * reported counts with its own figures, one still pending with the estimate. */
static double run_progress(Api *api, const StoreRun *r, const StoreStage st[STAGE_COUNT])
{
    long est[STAGE_COUNT];
    bool have_est = false, need_est = false;
    double done = 0, total = 0;
    if (r->status == RUN_SUCCEEDED)
        return 1.0;
    for (int s = 0; s < STAGE_COUNT; s++)
        if (st[s].status != SS_SKIPPED && st[s].status != SS_SUCCEEDED && st[s].progress.steps <= 0)
            need_est = true;
    if (need_est)
        have_est = step_estimate(api, r->id, r->config_json, est);
    for (int s = 0; s < STAGE_COUNT; s++) {
        if (st[s].status == SS_SKIPPED)
            continue;
        if (st[s].progress.steps > 0) {
            double steps = (double)st[s].progress.steps;
            double step = st[s].status == SS_SUCCEEDED ? steps : (double)st[s].progress.step;
            done += step < 0 ? 0 : step > steps ? steps : step;
            total += steps;
        } else if (have_est) {
            total += (double)est[s];
            if (st[s].status == SS_SUCCEEDED)
                done += (double)est[s];
        } else {
            /* no figures at all: the stage weighs one step */
            total += 1;
            if (st[s].status == SS_SUCCEEDED)
                done += 1;
        }
    }
    return total > 0 ? done / total : 0;
}

/* ---- the run as a watcher sees it ------------------------------------------------------- */

void api_run_view(Api *api, const StoreRun *r, const StoreStage stored[STAGE_COUNT],
                  RunView *view)
{
    StageProgress live;
    memcpy(view->stages, stored, sizeof view->stages);
    view->running = -1;
    if (r->status == RUN_RUNNING && jobs_live(api->jobs, r->id, &live) && live.stage >= 0 &&
        live.stage < STAGE_COUNT) {
        StoreStage *st = &view->stages[live.stage];
        view->running = live.stage;
        st->status = SS_RUNNING;
        st->progress = live;
        /* the stored seconds follow each epoch; a watcher wants the time counting on. A
         * resumed run's stage also spent time in earlier attempts, which only the stored
         * figure knows, so that one is kept there. */
        if (r->resumes == 0 && st->started_at > 0 && api_wall() - st->started_at > st->seconds)
            st->seconds = api_wall() - st->started_at;
    } else if (r->status == RUN_RUNNING) {
        for (int s = 0; s < STAGE_COUNT && view->running < 0; s++)
            if (view->stages[s].status == SS_RUNNING)
                view->running = s;
    }
    view->progress = run_progress(api, r, view->stages);
}

/* ---- JSON ------------------------------------------------------------------------------- */

static const char *stage_name(int s)
{
    return (unsigned)s < STAGE_COUNT ? STAGE_NAMES[s] : "unknown";
}

/* The figures a stage row and a progress event share, in this order. */
static void add_progress_fields(cJSON *o, const StageProgress *p)
{
    cJSON_AddNumberToObject(o, "epoch", p->epoch);
    cJSON_AddNumberToObject(o, "epochs", p->epochs);
    cJSON_AddNumberToObject(o, "step", (double)p->step);
    cJSON_AddNumberToObject(o, "steps", (double)p->steps);
    api_add_num(o, "loss", p->loss);
    api_add_num(o, "items_per_s", p->items_per_s);
    api_add_num(o, "eta_s", p->eta_s);
}

static cJSON *stage_json(int s, const StoreStage *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", STAGE_NAMES[s]);
    cJSON_AddStringToObject(o, "status", (unsigned)st->status < SS_COUNT
                                             ? STAGE_STATUS_NAMES[st->status] : "pending");
    add_progress_fields(o, &st->progress);
    api_add_num(o, "seconds", st->seconds);
    api_add_time(o, "started_at", st->started_at);
    api_add_time(o, "finished_at", st->finished_at);
    return o;
}

cJSON *api_progress_json(const StageProgress *p, double progress)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "stage", stage_name(p->stage));
    add_progress_fields(o, p);
    api_add_num(o, "progress", progress);
    return o;
}

cJSON *api_run_view_json(const StoreRun *r, const RunView *view, bool with_config)
{
    cJSON *o = cJSON_CreateObject();
    api_add_id(o, "id", r->id);
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "method", r->method);
    cJSON_AddStringToObject(o, "status", (unsigned)r->status < RUN_STATUS_COUNT
                                             ? RUN_STATUS_NAMES[r->status] : "failed");
    api_add_time(o, "created_at", r->created_at);
    api_add_time(o, "started_at", r->started_at);
    api_add_time(o, "finished_at", r->finished_at);
    if (r->error)
        cJSON_AddStringToObject(o, "error", r->error);
    else
        cJSON_AddNullToObject(o, "error");
    cJSON_AddBoolToObject(o, "cancel_requested", r->cancel_requested);
    cJSON_AddNumberToObject(o, "resumes", r->resumes);
    /* the tags text was checked and written by api_run_patch */
    if (r->tags_json && *r->tags_json)
        cJSON_AddRawToObject(o, "tags", r->tags_json);
    else
        cJSON_AddArrayToObject(o, "tags");
    cJSON_AddStringToObject(o, "note", r->note ? r->note : "");
    /* processes, and where they run (written by jobs.c from the ranks' host names) */
    cJSON_AddNumberToObject(o, "processes", r->processes > 0 ? r->processes : 1);
    if (r->hosts_json && *r->hosts_json)
        cJSON_AddRawToObject(o, "hosts", r->hosts_json);
    else
        cJSON_AddNullToObject(o, "hosts");
    api_add_num(o, "progress", view->progress);
    if (view->running >= 0)
        cJSON_AddStringToObject(o, "stage", STAGE_NAMES[view->running]);
    else
        cJSON_AddNullToObject(o, "stage");
    cJSON *arr = cJSON_AddArrayToObject(o, "stages");
    for (int s = 0; s < STAGE_COUNT; s++)
        cJSON_AddItemToArray(arr, stage_json(s, &view->stages[s]));
    /* both texts were written by this daemon (run_result_to_json, run_config_to_json) */
    if (r->result_json && *r->result_json)
        cJSON_AddRawToObject(o, "result", r->result_json);
    else
        cJSON_AddNullToObject(o, "result");
    if (with_config) {
        if (r->config_json && *r->config_json)
            cJSON_AddRawToObject(o, "config", r->config_json);
        else
            cJSON_AddNullToObject(o, "config");
    }
    return o;
}

/* The sweep the run belongs to, and the shared stages it computed or reused: {"id", "stage",
 * "reused", "computed_by", "seconds"} (seconds: what computing it took, so what a reuse saved).
 * A failed read leaves the fields out rather than failing the run's answer. */
static void add_links(Api *api, const StoreRun *r, cJSON *o)
{
    int64_t sweep = 0;
    StoreShared sh[2];
    int n = 0;
    GsErr err;
    if (store_run_sweep(api->store, r->id, &sweep, &err) == 0) {
        if (sweep)
            api_add_id(o, "sweep", sweep);
        else
            cJSON_AddNullToObject(o, "sweep");
    }
    if (store_run_shared(api->store, r->id, sh, &n, &err) != 0)
        return;
    cJSON *arr = cJSON_AddArrayToObject(o, "shared_stages");
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        api_add_id(e, "id", sh[i].id);
        cJSON_AddStringToObject(e, "stage", stage_name(sh[i].stage));
        cJSON_AddBoolToObject(e, "reused", sh[i].reused);
        api_add_id(e, "computed_by", sh[i].run);
        api_add_num(e, "seconds", sh[i].seconds);
        cJSON_AddItemToArray(arr, e);
    }
}

cJSON *api_run_json(Api *api, const StoreRun *r, const StoreStage stored[STAGE_COUNT],
                    bool with_config)
{
    RunView view;
    api_run_view(api, r, stored, &view);
    cJSON *o = api_run_view_json(r, &view, with_config);
    add_links(api, r, o);
    return o;
}

cJSON *api_metric_json(const StoreMetric *m)
{
    cJSON *o = cJSON_CreateObject();
    api_add_id(o, "id", m->id);
    cJSON_AddStringToObject(o, "stage", stage_name(m->stage));
    cJSON_AddNumberToObject(o, "epoch", m->epoch);
    cJSON_AddNumberToObject(o, "step", (double)m->step);
    cJSON_AddStringToObject(o, "name", m->name);
    api_add_num(o, "value", m->value);
    api_add_time(o, "time", m->time);
    return o;
}

cJSON *api_log_json(const StoreEvent *e)
{
    cJSON *o = cJSON_CreateObject();
    api_add_id(o, "id", e->id);
    api_add_time(o, "time", e->time);
    cJSON_AddStringToObject(o, "kind", e->kind);
    cJSON_AddStringToObject(o, "message", e->message ? e->message : "");
    return o;
}

/* ---- reads before a render -------------------------------------------------------------- */

int api_run_load_json(Api *api, int64_t id, bool with_config, cJSON **out, GsErr *err)
{
    StoreRun r = {0};
    StoreStage st[STAGE_COUNT];
    int rc = store_run_get(api->store, id, &r, err);
    if (rc != 0)
        return rc;
    rc = store_stages_get(api->store, id, st, err);
    if (rc == 0)
        *out = api_run_json(api, &r, st, with_config);
    store_run_free(&r);
    return rc;
}

int api_require_run(Api *api, int64_t id, HttpResponse *resp)
{
    StoreRun r = {0};
    GsErr err;
    int rc = store_run_get(api->store, id, &r, &err);
    store_run_free(&r);
    if (rc != 0)
        api_run_lookup_error(resp, rc, id, "reading the run", &err);
    return rc;
}
