/* api_runs.c — the run routes: POST /v1/runs (validated config, dataset confined to the data
 * root, nothing stored on any 4xx, 507 while the store's disk is full), list (with a search),
 * one run, its tags and note (PATCH), cancel, delete, metrics and checkpoints.
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
    int rc = store_run_insert(api->store, run_config_method_name(cfg.method),
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

/* The longest search text (?q=): longer than any name, tag or note worth finding by. */
#define RUN_SEARCH_MAX 200

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
    if (method && !run_config_method_known(method)) {
        api_error(resp, 400, "bad_request", "method",
                  "method: must be gsimclr, simclr or supervised");
        return;
    }
    f.method = method;
    f.search = http_query(rq, "q");
    if (f.search && strlen(f.search) > RUN_SEARCH_MAX) {
        api_error(resp, 400, "bad_request", "q", "q: at most %d bytes", RUN_SEARCH_MAX);
        return;
    }
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

/* ---- PATCH /v1/runs/{id}: tags and note --------------------------------------------------- */

#define TAGS_MAX 16
#define TAG_MAX_BYTES 32
#define NOTE_MAX_BYTES 4000

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF) without control
 * characters other than those allowed: cJSON passes bytes through, and text that is not
 * UTF-8 would make every later answer holding it invalid JSON. */
static bool text_ok(const unsigned char *s, bool newlines)
{
    while (*s) {
        unsigned c = *s;
        int more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (more < 0 || (more == 1 && c < 0xc2) || c > 0xf4)
            return false;
        if (more == 0 && (c < 0x20 || c == 0x7f) && !(newlines && (c == '\n' || c == '\t')))
            return false;
        unsigned cp = more ? c & (0x3f >> more) : c;
        for (int i = 1; i <= more; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        s += 1 + more;
    }
    return true;
}

/* The tags of a PATCH body as the canonical JSON text to store (malloc'd), or NULL with a 400
 * answered in resp. */
static char *tags_checked(const cJSON *tags, HttpResponse *resp)
{
    const cJSON *t;
    int n = 0;
    if (!cJSON_IsArray(tags)) {
        api_error(resp, 400, "bad_request", "tags", "tags: must be an array of strings");
        return NULL;
    }
    cJSON_ArrayForEach(t, tags)
    {
        const char *v = cJSON_IsString(t) ? t->valuestring : NULL;
        size_t len = v ? strlen(v) : 0;
        char field[24];
        snprintf(field, sizeof field, "tags[%d]", n);
        if (++n > TAGS_MAX) {
            api_error(resp, 400, "bad_request", "tags", "tags: at most %d tags", TAGS_MAX);
            return NULL;
        }
        if (!v || len == 0 || len > TAG_MAX_BYTES || !text_ok((const unsigned char *)v, false) ||
            strchr(v, ',') || v[0] == ' ' || v[len - 1] == ' ') {
            api_error(resp, 400, "bad_request", field,
                      "%s: a tag is a string of 1..%d bytes of UTF-8 text without commas, "
                      "control characters or spaces at its ends",
                      field, TAG_MAX_BYTES);
            return NULL;
        }
        for (const cJSON *u = tags->child; u != t; u = u->next)
            if (strcmp(u->valuestring, v) == 0) {
                char shown[48];
                api_error(resp, 400, "bad_request", field, "%s: \"%s\" is there twice", field,
                          api_shown(shown, sizeof shown, v, len));
                return NULL;
            }
    }
    char *text = cJSON_PrintUnformatted(tags);
    if (!text)
        api_error(resp, 500, "internal", NULL, "out of memory writing the tags");
    return text;
}

void api_run_patch(Api *api, const ApiCall *call, HttpResponse *resp)
{
    const HttpRequest *rq = call->rq;
    cJSON *body = NULL;
    char *tags_json = NULL;
    const char *note = NULL;
    const cJSON *it;
    GsErr err;

    if (!api_is_json_type(rq->content_type)) {
        api_error(resp, 415, "unsupported_media_type", NULL,
                  "the body must be JSON sent as Content-Type: application/json");
        return;
    }
    /* cJSON keeps strings as C strings: a NUL, raw or escaped, would silently cut one */
    bool nul = rq->body_len == 0 || memchr(rq->body, 0, rq->body_len) != NULL;
    for (size_t i = 0; !nul && i + 6 <= rq->body_len; i++)
        nul = memcmp(rq->body + i, "\\u0000", 6) == 0;
    if (!nul)
        body = cJSON_ParseWithLength(rq->body, rq->body_len);
    if (!cJSON_IsObject(body)) {
        api_error(resp, 400, "bad_json", NULL,
                  nul && rq->body_len ? "body: must not hold a NUL character"
                                      : "body: must be a JSON object such as "
                                        "{\"tags\": [\"baseline\"], \"note\": \"...\"}");
        goto done;
    }
    if (!body->child) {
        api_error(resp, 400, "bad_request", NULL, "body: give tags, note or both");
        goto done;
    }
    cJSON_ArrayForEach(it, body)
    {
        char shown[48];
        const char *key = it->string ? it->string : "";
        if (strcmp(key, "tags") == 0) {
            if (tags_json) {
                api_error(resp, 400, "bad_request", "tags", "tags: given twice");
                goto done;
            }
            if (!(tags_json = tags_checked(it, resp)))
                goto done;
        } else if (strcmp(key, "note") == 0) {
            if (note) {
                api_error(resp, 400, "bad_request", "note", "note: given twice");
                goto done;
            }
            note = cJSON_IsString(it) ? it->valuestring : NULL;
            if (!note || strlen(note) > NOTE_MAX_BYTES ||
                !text_ok((const unsigned char *)note, true)) {
                api_error(resp, 400, "bad_request", "note",
                          "note: must be a string of at most %d bytes of UTF-8 text (no control "
                          "characters but line ends and tabs)",
                          NOTE_MAX_BYTES);
                goto done;
            }
        } else {
            api_error(resp, 400, "bad_request", api_shown(shown, sizeof shown, key, strlen(key)),
                      "%s: unknown field; a run's tags and note can be changed, nothing else",
                      shown);
            goto done;
        }
    }
    int rc = store_run_annotate(api->store, call->run, tags_json, note, &err);
    if (rc != 0)
        api_run_lookup_error(resp, rc, call->run, "annotating the run", &err);
    else
        reply_run(api, call->run, 200, resp);
done:
    cJSON_free(tags_json);
    cJSON_Delete(body);
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

/* After a store read of a run's rows: answers its failure, or 404 when it found nothing
 * because the run does not exist, and returns true; false when the rows are to be sent. */
static bool rows_refused(Api *api, HttpResponse *resp, int rc, int n, int64_t id,
                         const char *what, const GsErr *err)
{
    if (rc != 0) {
        api_run_lookup_error(resp, rc, id, what, err);
        return true;
    }
    return n == 0 && api_require_run(api, id, resp) != 0;
}

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
    if (rows_refused(api, resp, rc, n, id, "reading metrics", &err)) {
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
    if (rows_refused(api, resp, rc, n, id, "listing checkpoints", &err)) {
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
