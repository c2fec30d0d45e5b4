/* api_clusters.c — what k-means made of a run's training set: cluster sizes with their
 * majority true label (a diagnostic; training never sees labels), PNG grids of a cluster's
 * members, and the pseudo-labels themselves as CSV, JSON or NumPy .npy. Grids need the training images,
 * which come from the train-set cache (trainset_cache.c: loaded as the run loads them, so
 * image i is the i-th pseudo-label). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_handlers.h"
#include "api_reply.h"
#include "gs/config.h"
#include "gs/imagegrid.h"
#include "gs/npy.h"

/* ---- shared reads ----------------------------------------------------------------------- */

/* The run's configuration; answers 404/500 and returns false when it cannot be had. */
static bool load_config(Api *api, int64_t id, RunConfig *cfg, HttpResponse *resp)
{
    StoreRun r = {0};
    GsErr err;
    int rc = store_run_get(api->store, id, &r, &err);
    if (rc != 0) {
        api_run_lookup_error(resp, rc, id, "reading the run", &err);
        return false;
    }
    rc = run_config_parse(cfg, r.config_json, r.config_json ? strlen(r.config_json) : 0, &err);
    store_run_free(&r);
    if (rc != 0) {
        api_error(resp, 500, "internal", NULL, "the stored configuration of run %lld: %s",
                  (long long)id, err.msg);
        return false;
    }
    return true;
}

/* The run's pseudo-labels (assign, labels owned by the caller); answers and returns false
 * when there are none yet. */
static bool load_assignments(Api *api, int64_t id, int32_t **assign, int32_t **labels, int *n,
                             HttpResponse *resp)
{
    GsErr err;
    *assign = *labels = NULL;
    *n = 0;
    int rc = store_assignments_get(api->store, id, assign, labels, n, &err);
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, 404, "not_found", NULL,
                  "run %lld has no pseudo-labels (yet): kmeans has not run, or the method is "
                  "simclr", (long long)id);
        return false;
    }
    if (rc != 0) {
        api_store_error(resp, "reading the pseudo-labels", &err);
        return false;
    }
    return true;
}

/* k: the configured count, or more if the stored labels say so. -1 for a negative label. */
static int cluster_count(const int32_t *assign, int n, int k_cfg)
{
    int k = k_cfg > 0 ? k_cfg : 0;
    for (int i = 0; i < n; i++) {
        if (assign[i] < 0)
            return -1;
        if (assign[i] >= k)
            k = assign[i] + 1;
    }
    return k;
}

/* ---- GET /v1/runs/{id}/clusters --------------------------------------------------------- */

void api_run_clusters(Api *api, const ApiCall *call, HttpResponse *resp)
{
    int64_t id = call->run;
    RunConfig cfg;
    int32_t *assign, *labels;
    int n;
    GsErr err;
    if (!load_config(api, id, &cfg, resp) || !load_assignments(api, id, &assign, &labels, &n, resp))
        return;
    int k = cluster_count(assign, n, cfg.kmeans.k);
    int n_cls = 0;
    if (labels)
        for (int i = 0; i < n; i++)
            if (labels[i] >= n_cls && labels[i] < 1000)
                n_cls = labels[i] + 1;
    long *size = k > 0 ? calloc((size_t)k, sizeof *size) : NULL;
    long *votes = k > 0 && n_cls > 0 ? calloc((size_t)k * (size_t)n_cls, sizeof *votes) : NULL;
    if (k < 0 || (k > 0 && !size) || (k > 0 && n_cls > 0 && !votes)) {
        free(size);
        free(votes);
        free(assign);
        free(labels);
        if (k < 0)
            api_error(resp, 500, "internal", NULL, "run %lld: a stored pseudo-label is negative",
                      (long long)id);
        else
            api_error(resp, 500, "internal", NULL, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        size[assign[i]]++;
        if (votes && labels[i] >= 0 && labels[i] < n_cls)
            votes[(size_t)assign[i] * (size_t)n_cls + (size_t)labels[i]]++;
    }

    /* the k-means figures as the stage recorded them (its last value of each) */
    double inertia = NAN, purity = NAN, nmi = NAN;
    StoreMetric *m = NULL;
    int nm = 0;
    if (store_metrics_get(api->store, id, STAGE_KMEANS, NULL, 0, 0, &m, &nm, &err) == 0) {
        for (int i = 0; i < nm; i++) {
            if (strcmp(m[i].name, "inertia") == 0)
                inertia = m[i].value;
            else if (strcmp(m[i].name, "purity") == 0)
                purity = m[i].value;
            else if (strcmp(m[i].name, "nmi") == 0)
                nmi = m[i].value;
        }
    }
    free(m);

    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "k", k);
    cJSON_AddNumberToObject(root, "n", n);
    api_add_num(root, "inertia", inertia);
    api_add_num(root, "purity", purity);
    api_add_num(root, "nmi", nmi);
    cJSON *arr = cJSON_AddArrayToObject(root, "clusters");
    for (int c = 0; c < k; c++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", c);
        cJSON_AddNumberToObject(o, "size", (double)size[c]);
        int best = -1;
        long best_votes = 0;
        for (int l = 0; votes && l < n_cls; l++) {
            long v = votes[(size_t)c * (size_t)n_cls + (size_t)l];
            if (v > best_votes) {
                best_votes = v;
                best = l;
            }
        }
        if (best >= 0) {
            cJSON_AddNumberToObject(o, "label", best);
            cJSON_AddNumberToObject(o, "label_fraction", (double)best_votes / (double)size[c]);
        } else {
            cJSON_AddNullToObject(o, "label");
            cJSON_AddNullToObject(o, "label_fraction");
        }
        cJSON_AddItemToArray(arr, o);
    }
    free(size);
    free(votes);
    free(assign);
    free(labels);
    api_reply_json(resp, 200, root);
}

/* ---- GET /v1/runs/{id}/clusters/{c}/grid.png -------------------------------------------- */

#define GRID_MAX_IMAGES 256
#define GRID_COLS 16

void api_run_grid(Api *api, const ApiCall *call, HttpResponse *resp)
{
    const HttpRequest *rq = call->rq;
    int64_t id = call->run, cluster = call->cluster;
    long want, scale;
    RunConfig cfg;
    int32_t *assign, *labels;
    int n;
    GsErr err;
    if (!api_query_int(rq, resp, "n", 1, GRID_MAX_IMAGES, 64, &want) ||
        !api_query_int(rq, resp, "scale", 1, 8, 2, &scale))
        return;
    if (!load_config(api, id, &cfg, resp) || !load_assignments(api, id, &assign, &labels, &n, resp))
        return;
    free(labels);
    int k = cluster_count(assign, n, cfg.kmeans.k);
    if (cluster >= k) {
        free(assign);
        api_error(resp, 404, "not_found", NULL, "no cluster %lld of run %lld (k = %d)",
                  (long long)cluster, (long long)id, k);
        return;
    }
    int32_t idx[GRID_MAX_IMAGES];
    int count = 0;
    for (int i = 0; i < n && count < want; i++)
        if (assign[i] == cluster)
            idx[count++] = i;
    free(assign);
    if (count == 0) {
        api_error(resp, 404, "not_found", NULL, "cluster %lld of run %lld is empty",
                  (long long)cluster, (long long)id);
        return;
    }

    const Dataset *train = trainset_cache_acquire(api->train, &cfg, &err);
    if (!train) {
        api_error(resp, 500, "internal", NULL, "loading the training images of run %lld: %s",
                  (long long)id, err.msg);
        return;
    }
    if (train->n != n) {
        api_error(resp, 500, "internal", NULL,
                  "run %lld: the training set now has %d images but the pseudo-labels %d "
                  "(the dataset changed on disk)", (long long)id, train->n, n);
        trainset_cache_release(api->train, train);
        return;
    }
    uint8_t *png = NULL;
    size_t png_len = 0;
    int rc = image_grid_png(train->pixels, train->n, train->c, train->h, train->w, idx, count,
                            count < GRID_COLS ? count : GRID_COLS, (int)scale, &png, &png_len,
                            &err);
    trainset_cache_release(api->train, train);
    if (rc != 0) {
        api_error(resp, 500, "internal", NULL, "drawing the grid: %s", err.msg);
        return;
    }
    api_reply_body(resp, 200, "image/png", (char *)png, png_len);
}

/* ---- GET /v1/runs/{id}/pseudo-labels ---------------------------------------------------- */

/* format=npy: the clusters as a NumPy int64 vector, image i's at index i (assign taken). */
static void pseudo_labels_npy(HttpResponse *resp, int64_t id, int32_t *assign, int n)
{
    int64_t *wide = malloc(sizeof *wide * (size_t)(n > 0 ? n : 1)), shape[1] = {n};
    uint8_t *out = NULL;
    size_t len = 0;
    GsErr err;
    for (int i = 0; wide && i < n; i++)
        wide[i] = assign[i];
    free(assign);
    if (!wide || npy_encode(NPY_I64, shape, 1, wide, &out, &len, &err)) {
        free(wide);
        api_error(resp, 500, "internal", NULL, "out of memory");
        return;
    }
    free(wide);
    char disp[96];
    snprintf(disp, sizeof disp, "attachment; filename=\"run%lld-pseudo-labels.npy\"",
             (long long)id);
    api_reply_body(resp, 200, "application/octet-stream", (char *)out, len);
    http_response_header(resp, "Content-Disposition", disp);
}

void api_run_pseudo_labels(Api *api, const ApiCall *call, HttpResponse *resp)
{
    const HttpRequest *rq = call->rq;
    int64_t id = call->run;
    const char *format = http_query(rq, "format");
    bool json = format && strcmp(format, "json") == 0;
    bool npy = format && strcmp(format, "npy") == 0;
    int32_t *assign, *labels;
    int n;
    if (format && !json && !npy && strcmp(format, "csv") != 0) {
        api_error(resp, 400, "bad_request", "format", "format: must be csv, json or npy");
        return;
    }
    if (!load_assignments(api, id, &assign, &labels, &n, resp))
        return;
    free(labels);
    if (npy) {
        pseudo_labels_npy(resp, id, assign, n);
        return;
    }
    /* each row is at most "2147483647,-2147483648\n" */
    size_t cap = 64 + (size_t)n * 24, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        free(assign);
        api_error(resp, 500, "internal", NULL, "out of memory");
        return;
    }
    if (json) {
        len += (size_t)snprintf(buf, cap, "{\"n\":%d,\"clusters\":[", n);
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", (int)assign[i]);
        len += (size_t)snprintf(buf + len, cap - len, "]}");
    } else {
        len += (size_t)snprintf(buf, cap, "image,cluster\n");
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%d,%d\n", i, (int)assign[i]);
    }
    free(assign);
    if (json) {
        api_reply_body(resp, 200, NULL, buf, len);
    } else {
        char disp[96];
        snprintf(disp, sizeof disp, "attachment; filename=\"run%lld-pseudo-labels.csv\"",
                 (long long)id);
        api_reply_body(resp, 200, "text/csv; charset=utf-8", buf, len);
        http_response_header(resp, "Content-Disposition", disp);
    }
}
