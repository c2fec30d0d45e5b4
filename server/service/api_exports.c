/* api_exports.c — what a run produced, in formats other tools read: the trained encoder as
 * ONNX (GET /v1/runs/{id}/model.onnx, built from the run's newest simclr checkpoint by
 * export_onnx.c) and the eval stage's features and labels as NumPy .npy files
 * (GET /v1/runs/{id}/embeddings, stored at eval time by embeddings.c). Nothing here computes
 * features or trains: an export costs a checkpoint read and a serialisation, a download a
 * file read, so no request does unbounded work. A thing not produced (yet) is a 404 whose
 * message says which, as for pseudo-labels and checkpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_handlers.h"
#include "api_reply.h"
#include "gs/checkpoint.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/embeddings.h"
#include "gs/export_onnx.h"

/* The run and its configuration; answers 404/500 and returns false when they cannot be had. */
static bool load_run(Api *api, int64_t id, StoreRun *r, RunConfig *cfg, HttpResponse *resp)
{
    GsErr err;
    int rc = store_run_get(api->store, id, r, &err);
    if (rc != 0) {
        api_run_lookup_error(resp, rc, id, "reading the run", &err);
        return false;
    }
    if (cfg && run_config_parse(cfg, r->config_json, r->config_json ? strlen(r->config_json) : 0,
                                &err) != 0) {
        api_error(resp, 500, "internal", NULL, "the stored configuration of run %lld: %s",
                  (long long)id, err.msg);
        store_run_free(r);
        return false;
    }
    return true;
}

static void attach(HttpResponse *resp, const char *content_type, uint8_t *data, size_t len,
                   const char *filename)
{
    char disp[160];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", filename);
    api_reply_body(resp, 200, content_type, (char *)data, len);
    http_response_header(resp, "Content-Disposition", disp);
}

/* ---- GET /v1/runs/{id}/model.onnx ------------------------------------------------------- */

/* The newest checkpoint of the simclr stage: 0, STORE_NOT_FOUND, or -1 with err. */
static int newest_simclr(Api *api, int64_t id, StoreCheckpoint *meta, void **blob, size_t *len,
                         GsErr *err)
{
    StoreCheckpoint *list = NULL;
    int n = 0, rc = store_checkpoint_list(api->store, id, &list, &n, err);
    if (rc != 0)
        return rc;
    int64_t cid = 0;
    for (int i = 0; i < n && !cid; i++) /* newest first */
        if (list[i].stage == STAGE_SIMCLR)
            cid = list[i].id;
    free(list);
    return cid ? store_checkpoint_get(api->store, id, cid, meta, blob, len, err)
               : STORE_NOT_FOUND;
}

void api_run_model_onnx(Api *api, const ApiCall *call, HttpResponse *resp)
{
    int64_t id = call->run;
    long head;
    StoreRun r = {0};
    RunConfig cfg;
    StoreCheckpoint meta;
    void *blob = NULL;
    size_t blob_len = 0;
    GsErr err;
    if (!api_query_int(call->rq, resp, "head", 0, 1, 0, &head) || !load_run(api, id, &r, &cfg, resp))
        return;
    int rc = newest_simclr(api, id, &meta, &blob, &blob_len, &err);
    if (rc == STORE_NOT_FOUND) {
        if (run_status_terminal(r.status))
            api_error(resp, 404, "not_found", NULL,
                      "run %lld (%s) has no trained encoder: it ended before its simclr stage "
                      "stored a checkpoint", (long long)id, RUN_STATUS_NAMES[r.status]);
        else
            api_error(resp, 404, "not_found", NULL,
                      "run %lld has no trained encoder yet: it is %s, and its simclr stage "
                      "stores one every %d epoch(s)", (long long)id, RUN_STATUS_NAMES[r.status],
                      cfg.simclr.checkpoint_every);
        store_run_free(&r);
        return;
    }
    store_run_free(&r);
    if (rc != 0) {
        api_store_error(resp, "reading the checkpoint", &err);
        return;
    }
    OnnxExportOptions opt = {.head = head != 0, .run_id = id};
    /* checkpoints written before they recorded the input shape: the dataset's headers say */
    CkptReader rd;
    DatasetInfo info;
    if (ckpt_open(&rd, blob, blob_len, &err) == 0 && !ckpt_find(&rd, "net.input", NULL, NULL) &&
        dataset_info(cfg.dataset, api->data_root, &info, &err) == 0) {
        opt.in_c = info.train.c;
        opt.in_h = info.train.h;
        opt.in_w = info.train.w;
    }
    uint8_t *onnx = NULL;
    size_t len = 0;
    rc = export_onnx(&cfg, blob, blob_len, &opt, &onnx, &len, &err);
    free(blob);
    if (rc != 0) {
        api_error(resp, 500, "internal", NULL, "exporting the encoder of run %lld: %s",
                  (long long)id, err.msg);
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "run%lld-encoder%s.onnx", (long long)id, head ? "-head" : "");
    attach(resp, "application/octet-stream", onnx, len, name);
}

/* ---- GET /v1/runs/{id}/embeddings ------------------------------------------------------- */

void api_run_embeddings(Api *api, const ApiCall *call, HttpResponse *resp)
{
    int64_t id = call->run;
    const char *split_name = http_query(call->rq, "split");
    long labels;
    StoreRun r = {0};
    EmbSplit split = EMB_TRAIN;
    GsErr err;
    if (split_name && strcmp(split_name, "test") == 0)
        split = EMB_TEST;
    else if (split_name && strcmp(split_name, "train") != 0) {
        api_error(resp, 400, "bad_request", "split", "split: must be train or test");
        return;
    }
    if (!api_query_int(call->rq, resp, "labels", 0, 1, 0, &labels) ||
        !load_run(api, id, &r, NULL, resp))
        return;
    RunStatus status = r.status;
    store_run_free(&r);
    const char *sname = split == EMB_TRAIN ? "train" : "test";
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = api->embeddings_dir
                 ? embeddings_read(api->embeddings_dir, id, split, labels != 0, &data, &len, &err)
                 : STORE_NOT_FOUND;
    if (rc == STORE_NOT_FOUND) {
        if (api->embeddings_dir && embeddings_exist(api->embeddings_dir, id))
            api_error(resp, 404, "not_found", NULL, "the %s split of run %lld has no %s",
                      sname, (long long)id, labels ? "labels" : "images");
        else if (!run_status_terminal(status))
            api_error(resp, 404, "not_found", NULL,
                      "run %lld has no embeddings yet: they are stored when its eval stage "
                      "runs (it is %s)", (long long)id, RUN_STATUS_NAMES[status]);
        else
            api_error(resp, 404, "not_found", NULL,
                      "run %lld (%s) has no stored embeddings: its eval stage did not run to "
                      "the end, or could not store them (see its events)", (long long)id,
                      RUN_STATUS_NAMES[status]);
        return;
    }
    if (rc != 0) {
        api_error(resp, 500, "internal", NULL, "run %lld: %s", (long long)id, err.msg);
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "run%lld-%s-%s.npy", (long long)id, sname,
             labels ? "labels" : "embeddings");
    attach(resp, "application/octet-stream", data, len, name);
}
