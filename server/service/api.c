/* api.c — the front door of gsimclrd's JSON API (docs/API.md is the contract): the Api
 * object's life, the Host and bearer-token checks that run before anything else, and THE
 * ROUTE TABLE (ROUTES below), from which dispatch, the 404 and 405 answers with their Allow
 * header, and which calls need the token all follow. A new route is one line there plus its
 * handler (api_handlers.h). The handlers live in api_runs.c, api_events.c, api_clusters.c,
 * api_exports.c, api_datasets.c, api_sweeps.c and api_misc.c; nothing here renders a run or
 * touches the store. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_handlers.h"
#include "api_reply.h"

/* ---- the route table ------------------------------------------------------------------ */

/* Who may call a route when the daemon has a token: anyone (PUBLIC: probes and the page's own
 * files, which hold no data), anyone on loopback but only token holders when listening beyond
 * it (READ), or token holders only (WRITE: everything that changes state). */
typedef enum { ACCESS_PUBLIC, ACCESS_READ, ACCESS_WRITE } Access;

typedef struct {
    const char *method;     /* "GET" answers HEAD too */
    /* Segments between slashes: a literal, a parameter of PARAMS ("{run}"), or, last, "*":
     * the rest of the path, whatever it is. */
    const char *pattern;
    ApiHandler *handler;
    Access access;
} Route;

/* A path is matched against every pattern; the methods of the routes it matches make the
 * Allow header of a 405, in this order. A "*" route is the fallback: it takes a path only
 * when no other pattern matches and the path is outside the API's namespace (API_PREFIX). */
static const Route ROUTES[] = {
    {"GET",    "/healthz",                                   api_healthz,            ACCESS_PUBLIC},
    {"GET",    "/metrics",                                   api_prometheus,         ACCESS_READ},
    {"GET",    "/v1/runs",                                   api_runs_list,          ACCESS_READ},
    {"POST",   "/v1/runs",                                   api_runs_post,          ACCESS_WRITE},
    {"GET",    "/v1/runs/{run}",                             api_run_get,            ACCESS_READ},
    {"DELETE", "/v1/runs/{run}",                             api_run_delete,         ACCESS_WRITE},
    {"PATCH",  "/v1/runs/{run}",                             api_run_patch,          ACCESS_WRITE},
    {"POST",   "/v1/runs/{run}/cancel",                      api_run_cancel,         ACCESS_WRITE},
    {"GET",    "/v1/runs/{run}/metrics",                     api_run_metrics,        ACCESS_READ},
    {"GET",    "/v1/runs/{run}/events",                      api_run_events,         ACCESS_READ},
    {"GET",    "/v1/runs/{run}/clusters",                    api_run_clusters,       ACCESS_READ},
    {"GET",    "/v1/runs/{run}/clusters/{cluster}/grid.png", api_run_grid,           ACCESS_READ},
    {"GET",    "/v1/runs/{run}/pseudo-labels",               api_run_pseudo_labels,  ACCESS_READ},
    {"GET",    "/v1/runs/{run}/checkpoints",                 api_run_checkpoints,    ACCESS_READ},
    {"GET",    "/v1/runs/{run}/checkpoints/{checkpoint}",    api_run_checkpoint_get, ACCESS_READ},
    {"GET",    "/v1/runs/{run}/model.onnx",                  api_run_model_onnx,     ACCESS_READ},
    {"GET",    "/v1/runs/{run}/embeddings",                  api_run_embeddings,     ACCESS_READ},
    {"GET",    "/v1/sweeps",                                 api_sweeps_list,        ACCESS_READ},
    {"POST",   "/v1/sweeps",                                 api_sweeps_post,        ACCESS_WRITE},
    {"GET",    "/v1/sweeps/{sweep}",                         api_sweep_get,          ACCESS_READ},
    {"DELETE", "/v1/sweeps/{sweep}",                         api_sweep_delete,       ACCESS_WRITE},
    {"POST",   "/v1/sweeps/{sweep}/cancel",                  api_sweep_cancel,       ACCESS_WRITE},
    {"GET",    "/v1/sweeps/{sweep}/table.csv",               api_sweep_csv,          ACCESS_READ},
    {"GET",    "/v1/datasets",                               api_datasets,           ACCESS_READ},
    {"GET",    "/v1/datasets/{dataset}",                     api_dataset_get,        ACCESS_READ},
    {"GET",    "/v1/datasets/{dataset}/preview.png",         api_dataset_preview,    ACCESS_READ},
    {"GET",    "/v1/defaults",                               api_defaults,           ACCESS_READ},
    {"GET",    "/v1/openapi.json",                           api_openapi,            ACCESS_PUBLIC},
    {"GET",    "/*",                                         api_static,             ACCESS_PUBLIC},
};
#define N_ROUTES (int)(sizeof ROUTES / sizeof ROUTES[0])

/* A set of routes is a bit mask over ROUTES. */
typedef unsigned long long RouteSet;
_Static_assert(sizeof ROUTES / sizeof ROUTES[0] <= 8 * sizeof(RouteSet),
               "more routes than a RouteSet holds");

/* Paths in the API's namespace never fall back to the web page's files: an unknown one is a
 * 404 "no route", so a typo in a client is not answered with a page. */
#define API_PREFIX "/v1"

static bool parse_checkpoint(const char *s, size_t n, int64_t *out)
{
    if (n == 6 && memcmp(s, "latest", 6) == 0) {
        *out = 0;
        return true;
    }
    return api_parse_id(s, n, out);
}

/* The parameters a pattern may name: how a segment is read, and where in ApiCall it goes. A
 * segment that does not parse is a 404 "no <noun> <segment>" (after the method was found
 * allowed), followed by " of <noun> <id>" of the path's first parameter when it is a later
 * one ("no cluster x of run 3"), or by the hint. */
typedef struct {
    const char *name;       /* as written in a pattern */
    bool (*parse)(const char *s, size_t n, int64_t *out);
    size_t offset;          /* of its int64_t in ApiCall */
    const char *noun;
    const char *hint;       /* added to the 404's message, or NULL */
} Param;

static const Param PARAMS[] = {
    {"{run}", api_parse_id, offsetof(ApiCall, run), "run", "(run ids are positive integers)"},
    {"{cluster}", api_parse_uint, offsetof(ApiCall, cluster), "cluster", NULL},
    {"{checkpoint}", parse_checkpoint, offsetof(ApiCall, checkpoint), "checkpoint", NULL},
    {"{dataset}", api_parse_segment, offsetof(ApiCall, dataset), "dataset", NULL},
    {"{sweep}", api_parse_id, offsetof(ApiCall, sweep), "sweep", "(sweep ids are positive integers)"},
};

/* ---- matching ------------------------------------------------------------------------- */

static bool seg_equal(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

static const Param *param_of(const char *seg, size_t n)
{
    for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++)
        if (seg_equal(seg, n, PARAMS[i].name, strlen(PARAMS[i].name)))
            return &PARAMS[i];
    return NULL;
}

static bool is_fallback(const Route *r)
{
    size_t n = strlen(r->pattern);
    return n >= 2 && strcmp(r->pattern + n - 2, "/*") == 0;
}

/* Walks pattern and path (both start with '/') segment by segment: a literal must be equal, a
 * parameter takes any non-empty segment, "*" takes the rest. With call set, each parameter is
 * parsed into it, and one that does not parse is answered 404 in resp (false returned). */
static bool walk(const char *pattern, const char *path, ApiCall *call, HttpResponse *resp)
{
    const char *p = pattern, *q = path;
    const Param *owner = NULL; /* the first parameter: what later ones belong to */
    int64_t owner_id = 0;
    while (*p == '/' && *q == '/') {
        p++;
        q++;
        size_t pn = strcspn(p, "/"), qn = strcspn(q, "/");
        if (pn == 1 && *p == '*')
            return true;
        const Param *param = param_of(p, pn);
        if (!param && !seg_equal(p, pn, q, qn))
            return false;
        if (param && qn == 0)
            return false;
        if (param && call) {
            int64_t v;
            if (!param->parse(q, qn, &v)) {
                char text[40], of[64] = "";
                if (owner)
                    snprintf(of, sizeof of, " of %s %lld", owner->noun, (long long)owner_id);
                api_error(resp, 404, "not_found", NULL, "no %s %s%s%s%s", param->noun,
                          api_shown(text, sizeof text, q, qn), of, param->hint ? " " : "",
                          param->hint ? param->hint : "");
                return false;
            }
            memcpy((char *)call + param->offset, &v, sizeof v);
            if (!owner) {
                owner = param;
                owner_id = v;
            }
        }
        p += pn;
        q += qn;
    }
    return *p == 0 && *q == 0;
}

static bool in_api_namespace(const char *path)
{
    size_t n = strlen(API_PREFIX);
    return strncmp(path, API_PREFIX, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* The routes whose pattern matches path. */
static RouteSet routes_for(const char *path)
{
    RouteSet exact = 0, fallback = 0;
    for (int i = 0; i < N_ROUTES; i++)
        if (walk(ROUTES[i].pattern, path, NULL, NULL))
            *(is_fallback(&ROUTES[i]) ? &fallback : &exact) |= 1ull << i;
    return exact ? exact : in_api_namespace(path) ? 0 : fallback;
}

static bool is_read(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static bool takes(const Route *r, const char *method)
{
    return strcmp(r->method, method) == 0 || (strcmp(r->method, "GET") == 0 && is_read(method));
}

/* The route of set that takes method, or NULL. */
static const Route *route_for_method(RouteSet set, const char *method)
{
    for (int i = 0; i < N_ROUTES; i++)
        if ((set >> i & 1) && takes(&ROUTES[i], method))
            return &ROUTES[i];
    return NULL;
}

static void not_allowed(HttpResponse *resp, const char *method, RouteSet set)
{
    char allow[128] = "";
    size_t len = 0;
    for (int i = 0; i < N_ROUTES; i++) {
        if (!(set >> i & 1))
            continue;
        const char *m = strcmp(ROUTES[i].method, "GET") == 0 ? "GET, HEAD" : ROUTES[i].method;
        len += (size_t)snprintf(allow + len, sizeof allow - len, "%s%s", len ? ", " : "", m);
        if (len >= sizeof allow)
            break; /* more methods on one path than any route has: cut, never overrun */
    }
    api_error(resp, 405, "method_not_allowed", NULL, "%s is not allowed here; allowed: %s",
              method, allow);
    http_response_header(resp, "Allow", allow);
}

static void no_route(HttpResponse *resp, const char *path)
{
    char buf[96];
    api_error(resp, 404, "not_found", NULL, "no route %s",
              api_shown(buf, sizeof buf, path, strlen(path)));
}

/* The table is data a new line can get wrong in ways no compiler sees: an unknown {param}
 * would be matched as literal text, a second route with the same method and pattern would
 * never be reached. api_create refuses such a table, so the daemon and every test fail at
 * start, naming the line. */
static int routes_check(GsErr *err)
{
    for (int i = 0; i < N_ROUTES; i++) {
        const char *pat = ROUTES[i].pattern;
        if (pat[0] != '/')
            return gs_errf(err, "api: route %s %s: a pattern starts with /", ROUTES[i].method,
                           pat);
        for (const char *p = pat + 1;; p++) {
            size_t n = strcspn(p, "/");
            if ((n > 0 && *p == '{' && !param_of(p, n)) || (n == 1 && *p == '*' && p[1]))
                return gs_errf(err, "api: route %s %s: segment %.*s is not a known parameter "
                               "or a final *", ROUTES[i].method, pat, (int)n, p);
            p += n;
            if (!*p)
                break;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(ROUTES[j].method, ROUTES[i].method) == 0 &&
                strcmp(ROUTES[j].pattern, pat) == 0)
                return gs_errf(err, "api: route %s %s is in the table twice", ROUTES[i].method,
                               pat);
    }
    return 0;
}

/* ---- the Api object ------------------------------------------------------------------- */

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

int api_create(Api **out, const ApiConfig *cfg, GsErr *err)
{
    bool oom = false;
    *out = NULL;
    if (!cfg->store || !cfg->jobs)
        return gs_errf(err, "api: a store and a job queue are needed");
    if (routes_check(err) != 0)
        return -1;
    Api *api = calloc(1, sizeof *api);
    if (!api)
        return gs_errf(err, "api: out of memory");
    api->store = cfg->store;
    api->jobs = cfg->jobs;
    api->token = dup_or_null(cfg->token && *cfg->token ? cfg->token : NULL, &oom);
    api->token_len = api->token ? strlen(api->token) : 0;
    api->token_for_reads = cfg->token_for_reads && api->token;
    api->data_root = dup_or_null(cfg->data_root, &oom);
    api->web_dir = dup_or_null(cfg->web_dir, &oom);
    api->examples_dir = dup_or_null(cfg->examples_dir, &oom);
    api->embeddings_dir = dup_or_null(cfg->embeddings_dir, &oom);
    api->cache_dir = dup_or_null(cfg->cache_dir, &oom);
    api->any_host = cfg->any_host;
    api->max_threads = cfg->max_threads;
    if (cfg->n_allow_hosts > 0) {
        api->allow_hosts = calloc((size_t)cfg->n_allow_hosts, sizeof *api->allow_hosts);
        if (!api->allow_hosts)
            oom = true;
        for (int i = 0; api->allow_hosts && i < cfg->n_allow_hosts; i++) {
            api->allow_hosts[i] = dup_or_null(cfg->allow_hosts[i] ? cfg->allow_hosts[i] : "",
                                              &oom);
            api->n_allow_hosts = i + 1;
        }
    }
    api->started = api_mono();
    atomic_init(&api->http, NULL);
    atomic_init(&api->shutting_down, 0);
    pthread_mutex_init(&api->est_mu, NULL);
    if (!oom && trainset_cache_create(&api->train, API_TRAIN_CACHE, cfg->data_root, err) != 0) {
        api_free(api);
        return -1;
    }
    if (oom) {
        api_free(api);
        return gs_errf(err, "api: out of memory");
    }
    *out = api;
    return 0;
}

void api_set_http(Api *api, HttpServer *http)
{
    atomic_store(&api->http, http);
}

void api_shutdown(Api *api)
{
    atomic_store(&api->shutting_down, 1);
    HttpServer *http = atomic_load(&api->http);
    if (http)
        http_server_wake(http);
}

void api_free(Api *api)
{
    if (!api)
        return;
    trainset_cache_free(api->train);
    pthread_mutex_destroy(&api->est_mu);
    for (int i = 0; i < api->n_allow_hosts; i++)
        free(api->allow_hosts[i]);
    free(api->allow_hosts);
    free(api->token);
    free(api->data_root);
    free(api->web_dir);
    free(api->examples_dir);
    free(api->embeddings_dir);
    free(api->cache_dir);
    free(api);
}

/* ---- security ------------------------------------------------------------------------- */

static bool name_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* The Host header names this daemon: a loopback name or an --allow-host name, with or
 * without a port. Anything else may be a DNS-rebinding page in a browser. */
static bool host_allowed(const Api *api, const char *host)
{
    if (api->any_host)
        return true;
    if (!host || !*host)
        return false;
    size_t len = strlen(host), n;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close)
            return false;
        n = (size_t)(close - host) + 1;
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : len;
    }
    if (n < len) {
        /* ":port", 1 to 5 digits */
        size_t digits = len - n - 1;
        if (host[n] != ':' || digits < 1 || digits > 5)
            return false;
        for (size_t i = n + 1; i < len; i++)
            if (host[i] < '0' || host[i] > '9')
                return false;
    }
    if (name_is(host, n, "localhost") || name_is(host, n, "127.0.0.1") ||
        name_is(host, n, "[::1]"))
        return true;
    for (int i = 0; i < api->n_allow_hosts; i++)
        if (name_is(host, n, api->allow_hosts[i]) || strcasecmp(host, api->allow_hosts[i]) == 0)
            return true;
    return false;
}

/* "Bearer TOKEN" against the daemon's token in constant time: the loop always runs over the
 * daemon's token, whatever was sent, and differences accumulate without an early exit, so the
 * time taken says nothing about how much of a guess was right (or how long it was). */
static bool token_matches(const Api *api, const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7;
    while (*given == ' ')
        given++;
    size_t glen = strlen(given);
    while (glen > 0 && (given[glen - 1] == ' ' || given[glen - 1] == '\t'))
        glen--;
    volatile unsigned char diff = glen != api->token_len;
    for (size_t i = 0; i < api->token_len; i++) {
        size_t j = i < glen ? i : 0; /* stays in bounds; a short guess already differs */
        diff |= (unsigned char)(api->token[i] ^ given[j]);
    }
    return diff == 0;
}

/* Whether the call must carry the token, from its route's access. A call no route takes (a
 * 404 or 405 follows) needs it for any method but GET and HEAD, so only a token holder
 * learns which routes exist, and for reads as an API read would. */
static bool needs_token(const Api *api, const char *method, const Route *route)
{
    if (!api->token)
        return false;
    Access access = route ? route->access : is_read(method) ? ACCESS_READ : ACCESS_WRITE;
    return access == ACCESS_WRITE || (access == ACCESS_READ && api->token_for_reads);
}

/* ---- dispatch ------------------------------------------------------------------------- */

void api_handle(void *ctx, const HttpRequest *rq, HttpResponse *resp)
{
    Api *api = ctx;
    if (!rq->method || !rq->path || rq->path[0] != '/') {
        api_error(resp, 400, "bad_request", NULL, "malformed request line");
        return;
    }
    if (!host_allowed(api, rq->host)) {
        api_error(resp, 403, "forbidden", NULL,
                  "the Host header must name this daemon (localhost, 127.0.0.1 or [::1], or a "
                  "host given with --allow-host)");
        return;
    }
    RouteSet matched = routes_for(rq->path);
    const Route *route = route_for_method(matched, rq->method);
    if (needs_token(api, rq->method, route) && !token_matches(api, rq->authorization)) {
        bool sent = rq->authorization != NULL;
        api_error(resp, 401, "unauthorized", NULL, "%s",
                  sent ? "the bearer token is wrong"
                       : "this call needs \"Authorization: Bearer TOKEN\" (the daemon's "
                         "--token-file)");
        http_response_header(resp, "WWW-Authenticate",
                             sent ? "Bearer realm=\"gsimclrd\", error=\"invalid_token\""
                                  : "Bearer realm=\"gsimclrd\"");
        return;
    }
    if (!matched) {
        no_route(resp, rq->path);
        return;
    }
    if (!route) {
        not_allowed(resp, rq->method, matched);
        return;
    }
    /* the route exists and takes this method: now its parameters */
    ApiCall call = {.rq = rq};
    if (!walk(route->pattern, rq->path, &call, resp))
        return;
    route->handler(api, &call, resp);
}
