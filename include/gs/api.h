/* api.h — the routes of gsimclrd's JSON API (docs/API.md is the contract): it checks the Host
 * header and the bearer token, parses and validates bodies (cJSON, run_config_parse), reads and
 * writes the store, asks the job queue for live progress and cancels, renders JSON, CSV, PNG
 * grids (libpng), Server-Sent Events and Prometheus text, hands out ONNX and .npy exports, and
 * serves web/. It knows nothing of sockets (http.h does that) or SQL (store.h does that). */
#ifndef GS_API_H
#define GS_API_H

#include <stdbool.h>
#include <stddef.h>

#include "gs/err.h"
#include "gs/http.h"
#include "gs/jobs.h"
#include "gs/store.h"

typedef struct Api Api;

typedef struct {
    Store *store;
    Jobs *jobs;
    const char *token;          /* bearer token; NULL = none required */
    bool token_for_reads;       /* listening beyond loopback: every call needs the token */
    const char *data_root;      /* NULL = datasets anywhere */
    const char *web_dir;        /* folder served at / */
    const char *examples_dir;   /* presets for GET /v1/defaults (NULL: none) */
    const char *embeddings_dir; /* the runs' stored features (embeddings.h); NULL: none */
    int max_threads;            /* a submitted run's threads is clamped to this */
    const char *const *allow_hosts; /* extra Host names accepted (besides loopback names) */
    int n_allow_hosts;
    bool any_host;              /* accept any Host (listening beyond loopback with a token) */
} ApiConfig;

int api_create(Api **out, const ApiConfig *cfg, GsErr *err);
/* The http server, once started (for /metrics counters and waking streams). */
void api_set_http(Api *api, HttpServer *http);
/* The HttpHandler: ctx is the Api. */
void api_handle(void *ctx, const HttpRequest *rq, HttpResponse *resp);
/* Ends every event stream at its next read (shutdown). */
void api_shutdown(Api *api);
void api_free(Api *api);

#endif
