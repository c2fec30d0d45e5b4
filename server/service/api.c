/* api.c — the front door of gsimclrd's JSON API (docs/API.md is the contract): the Host and
 * bearer-token checks that run before anything else, the routing table with its 404/405
 * answers, and the helpers every route answers through (JSON bodies, error objects, times).
 * The routes themselves live in api_runs.c, api_clusters.c, api_events.c and api_misc.c.
 * Nothing here blocks: a request is a few store reads and one render. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_internal.h"

/* ---- small helpers -------------------------------------------------------------------- */

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double api_mono(void)
{
    return clock_seconds(CLOCK_MONOTONIC);
}

double api_wall(void)
{
    return clock_seconds(CLOCK_REALTIME);
}

cJSON *api_num(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

void api_add_num(cJSON *obj, const char *name, double v)
{
    cJSON_AddItemToObject(obj, name, api_num(v));
}

void api_add_id(cJSON *obj, const char *name, int64_t id)
{
    cJSON_AddItemToObject(obj, name, cJSON_CreateNumber((double)id));
}

void api_time_text(double t, char out[32])
{
    time_t secs = (time_t)floor(t);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "1970-01-01T00:00:00Z");
}

void api_add_time(cJSON *obj, const char *name, double t)
{
    char buf[32];
    if (!isfinite(t) || t <= 0 || t > 253402300799.0) { /* after 9999-12-31: not a time */
        cJSON_AddNullToObject(obj, name);
        return;
    }
    api_time_text(t, buf);
    cJSON_AddStringToObject(obj, name, buf);
}

static bool parse_uint(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool api_parse_id(const char *s, size_t len, int64_t *out)
{
    return parse_uint(s, len, out) && *out > 0;
}

bool api_query_int(const HttpRequest *rq, HttpResponse *resp, const char *key, long lo,
                   long hi, long def, long *out)
{
    const char *v = http_query(rq, key);
    char *end;
    if (!v) {
        *out = def;
        return true;
    }
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi || v[0] == ' ' || v[0] == '+') {
        api_error(resp, 400, "bad_request", key, "%s: must be an integer in %ld..%ld", key,
                  lo, hi);
        return false;
    }
    *out = x;
    return true;
}

/* ---- answers -------------------------------------------------------------------------- */

void api_reply_body(HttpResponse *resp, int status, const char *content_type, char *body,
                    size_t len)
{
    resp->status = status;
    resp->content_type = content_type;
    resp->body = body;
    resp->body_len = body ? len : 0;
}

/* The last resort when even an error object cannot be built. */
static void reply_oom(HttpResponse *resp)
{
    static const char text[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    char *body = malloc(sizeof text);
    if (body)
        memcpy(body, text, sizeof text);
    api_reply_body(resp, 500, NULL, body, body ? sizeof text - 1 : 0);
}

void api_reply_json(HttpResponse *resp, int status, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        reply_oom(resp);
        return;
    }
    api_reply_body(resp, status, NULL, text, strlen(text));
}

void api_error(HttpResponse *resp, int status, const char *code, const char *field,
               const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a request is answered once: an earlier body (a half-built answer) is dropped */
    free(resp->body);
    resp->body = NULL;
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    if (field)
        cJSON_AddStringToObject(e, "field", field);
    api_reply_json(resp, status, root);
}

void api_store_error(HttpResponse *resp, const char *what, const GsErr *err)
{
    api_error(resp, 500, "internal", NULL, "%s: %s", what, err ? err->msg : "failed");
}

void api_run_lookup_error(HttpResponse *resp, int rc, int64_t id, const char *what,
                          const GsErr *err)
{
    if (rc == STORE_NOT_FOUND)
        api_error(resp, 404, "not_found", NULL, "no run %lld", (long long)id);
    else
        api_store_error(resp, what, err);
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
    pthread_mutex_init(&api->train_mu, NULL);
    pthread_mutex_init(&api->est_mu, NULL);
    pthread_mutex_init(&api->ds_mu, NULL);
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
    api_train_cache_free(api);
    pthread_mutex_destroy(&api->train_mu);
    pthread_mutex_destroy(&api->est_mu);
    pthread_mutex_destroy(&api->ds_mu);
    for (int i = 0; i < api->n_allow_hosts; i++)
        free(api->allow_hosts[i]);
    free(api->allow_hosts);
    free(api->token);
    free(api->data_root);
    free(api->web_dir);
    free(api->examples_dir);
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

static bool is_get(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/* Which requests must carry the token: every one that is not a GET when the daemon has a
 * token, and every GET too when it listens beyond loopback, except /healthz (for probes) and
 * the web page's own files (public code with no data in them; the page asks for the token). */
static bool needs_token(const Api *api, const HttpRequest *rq)
{
    if (!api->token)
        return false;
    if (!is_get(rq->method))
        return true;
    if (!api->token_for_reads)
        return false;
    const char *p = rq->path;
    if (strcmp(p, "/healthz") == 0)
        return false;
    bool api_route = strcmp(p, "/metrics") == 0 || strcmp(p, "/v1") == 0 ||
                     strncmp(p, "/v1/", 4) == 0;
    return api_route;
}

/* ---- routing -------------------------------------------------------------------------- */

static void not_allowed(HttpResponse *resp, const char *method, const char *allow)
{
    api_error(resp, 405, "method_not_allowed", NULL, "%s is not allowed here; allowed: %s",
              method, allow);
    http_response_header(resp, "Allow", allow);
}

/* Client text echoed in a message: at most cap - 4 bytes of printable ASCII, so the answer
 * stays short and valid UTF-8 whatever was sent (a path is percent-decoded: "%ff" is a byte). */
static const char *shown(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++)
        out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (o + 4 >= cap && n > o) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
    return out;
}

static void no_route(HttpResponse *resp, const char *path)
{
    char buf[96];
    api_error(resp, 404, "not_found", NULL, "no route %s",
              shown(buf, sizeof buf, path, strlen(path)));
}

#define MAX_SEGS 6

typedef struct {
    const char *s;
    size_t n;
} Seg;

static bool seg_is(const Seg *g, const char *lit)
{
    return strlen(lit) == g->n && memcmp(g->s, lit, g->n) == 0;
}

/* Splits "a/b/c" into segments; false when there are too many or one is empty. */
static bool split(const char *p, Seg *segs, int *n)
{
    *n = 0;
    while (1) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || *n == MAX_SEGS)
            return false;
        segs[*n].s = p;
        segs[*n].n = len;
        (*n)++;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

static void route_run(Api *api, const HttpRequest *rq, HttpResponse *resp, const Seg *seg,
                      int n)
{
    const char *m = rq->method;
    bool get = is_get(m);
    const char *allow = NULL;
    int64_t id, sub;

    if (n == 2)
        allow = "GET, HEAD, DELETE";
    else if (n == 3 && seg_is(&seg[2], "cancel"))
        allow = "POST";
    else if ((n == 3 && (seg_is(&seg[2], "metrics") || seg_is(&seg[2], "events") ||
                         seg_is(&seg[2], "clusters") || seg_is(&seg[2], "pseudo-labels") ||
                         seg_is(&seg[2], "checkpoints"))) ||
             (n == 4 && seg_is(&seg[2], "checkpoints")) ||
             (n == 5 && seg_is(&seg[2], "clusters") && seg_is(&seg[4], "grid.png")))
        allow = "GET, HEAD";
    if (!allow) {
        no_route(resp, rq->path);
        return;
    }
    bool ok = strcmp(allow, "POST") == 0 ? strcmp(m, "POST") == 0
                                         : get || (n == 2 && strcmp(m, "DELETE") == 0);
    if (!ok) {
        not_allowed(resp, m, allow);
        return;
    }
    /* the route exists and takes this method: now the ids */
    char buf[40];
    if (!api_parse_id(seg[1].s, seg[1].n, &id)) {
        api_error(resp, 404, "not_found", NULL, "no run %s (run ids are positive integers)",
                  shown(buf, sizeof buf, seg[1].s, seg[1].n));
        return;
    }
    if (n == 2) {
        if (get)
            api_run_get(api, id, resp);
        else
            api_run_delete(api, id, resp);
    } else if (n == 3) {
        if (seg_is(&seg[2], "cancel"))
            api_run_cancel(api, id, resp);
        else if (seg_is(&seg[2], "metrics"))
            api_run_metrics(api, id, rq, resp);
        else if (seg_is(&seg[2], "events"))
            api_run_events(api, id, rq, resp);
        else if (seg_is(&seg[2], "clusters"))
            api_run_clusters(api, id, resp);
        else if (seg_is(&seg[2], "pseudo-labels"))
            api_run_pseudo_labels(api, id, rq, resp);
        else
            api_run_checkpoints(api, id, resp);
    } else if (n == 4) {
        if (seg_is(&seg[3], "latest"))
            api_run_checkpoint_get(api, id, 0, resp);
        else if (api_parse_id(seg[3].s, seg[3].n, &sub))
            api_run_checkpoint_get(api, id, sub, resp);
        else
            api_error(resp, 404, "not_found", NULL, "no checkpoint %s of run %lld",
                      shown(buf, sizeof buf, seg[3].s, seg[3].n), (long long)id);
    } else {
        if (parse_uint(seg[3].s, seg[3].n, &sub))
            api_run_grid(api, id, sub, rq, resp);
        else
            api_error(resp, 404, "not_found", NULL, "no cluster %s of run %lld",
                      shown(buf, sizeof buf, seg[3].s, seg[3].n), (long long)id);
    }
}

static void route(Api *api, const HttpRequest *rq, HttpResponse *resp)
{
    const char *m = rq->method, *p = rq->path;
    bool get = is_get(m);
    Seg seg[MAX_SEGS];
    int n;

    if (strcmp(p, "/healthz") == 0 || strcmp(p, "/metrics") == 0) {
        if (!get)
            not_allowed(resp, m, "GET, HEAD");
        else if (p[1] == 'h')
            api_healthz(api, resp);
        else
            api_prometheus(api, resp);
    } else if (strcmp(p, "/v1") != 0 && strncmp(p, "/v1/", 4) != 0) {
        if (!get)
            not_allowed(resp, m, "GET, HEAD");
        else
            api_static(api, rq, resp);
    } else if (strncmp(p, "/v1/", 4) != 0 || !split(p + 4, seg, &n)) {
        no_route(resp, p);
    } else if (seg_is(&seg[0], "runs") && n == 1) {
        if (get)
            api_runs_list(api, rq, resp);
        else if (strcmp(m, "POST") == 0)
            api_runs_post(api, rq, resp);
        else
            not_allowed(resp, m, "GET, HEAD, POST");
    } else if (seg_is(&seg[0], "runs")) {
        route_run(api, rq, resp, seg, n);
    } else if (n == 1 && (seg_is(&seg[0], "datasets") || seg_is(&seg[0], "defaults"))) {
        if (!get)
            not_allowed(resp, m, "GET, HEAD");
        else if (seg_is(&seg[0], "datasets"))
            api_datasets(api, resp);
        else
            api_defaults(api, resp);
    } else {
        no_route(resp, p);
    }
}

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
    if (needs_token(api, rq) && !token_matches(api, rq->authorization)) {
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
    route(api, rq, resp);
}
