/* api_misc.c — the routes around the runs: the datasets this daemon can read, the default
 * configuration and its presets, /healthz, Prometheus /metrics, and the web page's static
 * files (confined to the web folder after resolving links; nothing else on disk is served). */
#define _DEFAULT_SOURCE /* realpath, DT_* */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api_handlers.h"
#include "api_reply.h"
#include "gs/version.h"
#include "gs/config.h"

#define STATIC_MAX_BYTES (32L << 20)
#define PRESET_MAX_BYTES (1L << 20)
#define DATA_ROOT_MAX_ENTRIES 100

/* ---- GET /v1/datasets ------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folders directly under the data root that hold a dataset, by their path (what a run's
 * "dataset" field takes). Listed without figures, as docs/API.md has them; dataset_info could
 * tell them now, but that would be a change of the API. */
static void add_root_folders(Api *api, cJSON *arr)
{
    char root[PATH_MAX];
    char *names[DATA_ROOT_MAX_ENTRIES];
    int n = 0;
    if (!api->data_root || !realpath(api->data_root, root))
        return;
    DIR *d = opendir(root);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && n < DATA_ROOT_MAX_ENTRIES) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX + 256];
        int forbidden;
        GsErr err;
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        if (dataset_check(path, api->data_root, &forbidden, &err) == 0 && (names[n] = strdup(path)))
            n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", names[i]);
        cJSON_AddTrueToObject(o, "available");
        cJSON_AddItemToArray(arr, o);
        free(names[i]);
    }
}

void api_datasets(Api *api, const ApiCall *call, HttpResponse *resp)
{
    DatasetInfo info;
    GsErr err;
    (void)call;
    /* headers only: the named dataset's figures never need its images */
    bool available = dataset_info("fashion-mnist", NULL, &info, &err) == 0;
    cJSON *root = cJSON_CreateObject();
    if (api->data_root)
        cJSON_AddStringToObject(root, "data_root", api->data_root);
    else
        cJSON_AddNullToObject(root, "data_root");
    cJSON *arr = cJSON_AddArrayToObject(root, "datasets");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "fashion-mnist");
    cJSON_AddBoolToObject(o, "available", available);
    if (available) {
        cJSON_AddNumberToObject(o, "train", info.train.n);
        cJSON_AddNumberToObject(o, "test", info.test.n);
        cJSON_AddNumberToObject(o, "channels", info.train.c);
        cJSON_AddNumberToObject(o, "height", info.train.h);
        cJSON_AddNumberToObject(o, "width", info.train.w);
        cJSON_AddNumberToObject(o, "classes", info.classes);
    } else {
        cJSON_AddStringToObject(o, "error", err.msg);
    }
    cJSON_AddItemToArray(arr, o);
    add_root_folders(api, arr);
    api_reply_json(resp, 200, root);
}

/* ---- GET /v1/defaults ------------------------------------------------------------------- */

/* A whole small file, NUL-terminated (malloc'd), or NULL. */
static char *read_small_file(const char *path, long max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc((size_t)max + 1);
    size_t n = buf ? fread(buf, 1, (size_t)max + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > (size_t)max;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

void api_defaults(Api *api, const ApiCall *call, HttpResponse *resp)
{
    (void)call;
    static const char *const presets[] = {"gsimclr", "simclr", "quick"};
    RunConfig cfg;
    run_config_defaults(&cfg);
    char *text = run_config_to_json(&cfg);
    cJSON *defaults = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!defaults) {
        api_error(resp, 500, "internal", NULL, "out of memory writing the defaults");
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "defaults", defaults);
    cJSON *po = cJSON_AddObjectToObject(root, "presets");
    for (size_t i = 0; api->examples_dir && i < sizeof presets / sizeof presets[0]; i++) {
        char path[PATH_MAX];
        size_t len;
        snprintf(path, sizeof path, "%s/%s.json", api->examples_dir, presets[i]);
        char *body = read_small_file(path, PRESET_MAX_BYTES, &len);
        cJSON *p = body ? cJSON_ParseWithLength(body, len) : NULL;
        free(body);
        /* only presets the daemon would accept: a broken example is left out, not served */
        if (p && cJSON_IsObject(p)) {
            char *again = cJSON_PrintUnformatted(p);
            RunConfig check;
            GsErr err;
            bool ok = again && run_config_parse(&check, again, strlen(again), &err) == 0;
            free(again);
            if (ok) {
                cJSON_AddItemToObject(po, presets[i], p);
                p = NULL;
            }
        }
        cJSON_Delete(p);
    }
    api_reply_json(resp, 200, root);
}

/* ---- GET /healthz ----------------------------------------------------------------------- */

void api_healthz(Api *api, const ApiCall *call, HttpResponse *resp)
{
    (void)call;
    long counts[RUN_STATUS_COUNT];
    JobsStats js;
    GsErr err;
    if (store_run_counts(api->store, counts, &err) != 0) {
        api_store_error(resp, "counting runs", &err);
        return;
    }
    jobs_stats(api->jobs, &js);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddStringToObject(o, "version", GS_VERSION);
    cJSON_AddNumberToObject(o, "uptime_s", (double)(long)((api_mono() - api->started) * 10) / 10);
    cJSON_AddNumberToObject(o, "schema_version", store_schema_version(api->store));
    cJSON_AddNumberToObject(o, "workers", js.workers);
    cJSON_AddNumberToObject(o, "busy_workers", js.busy);
    cJSON_AddNumberToObject(o, "threads_per_run", api->max_threads);
    cJSON_AddNumberToObject(o, "queued", (double)counts[RUN_QUEUED]);
    cJSON_AddNumberToObject(o, "running", (double)counts[RUN_RUNNING]);
    api_reply_json(resp, 200, o);
}

/* ---- GET /metrics (Prometheus text format 0.0.4) ---------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} Text;

static void text_printf(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(Text *t, const char *fmt, ...)
{
    va_list ap;
    if (!t->buf)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= t->cap - t->len) {
        size_t cap = (t->cap + (size_t)n) * 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            free(t->buf);
            t->buf = NULL;
            return;
        }
        t->buf = b;
        t->cap = cap;
        va_start(ap, fmt);
        vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
    }
    t->len += (size_t)n;
}

static void metric_head(Text *t, const char *name, const char *type, const char *help)
{
    text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void api_prometheus(Api *api, const ApiCall *call, HttpResponse *resp)
{
    (void)call;
    long counts[RUN_STATUS_COUNT];
    JobsStats js;
    HttpStats hs = {0};
    GsErr err;
    if (store_run_counts(api->store, counts, &err) != 0) {
        api_store_error(resp, "counting runs", &err);
        return;
    }
    jobs_stats(api->jobs, &js);
    HttpServer *http = atomic_load(&api->http);
    if (http)
        http_server_stats(http, &hs);

    Text t = {malloc(4096), 0, 4096};
    metric_head(&t, "gsimclr_up", "gauge", "1 while gsimclrd answers.");
    text_printf(&t, "gsimclr_up 1\n");
    metric_head(&t, "gsimclr_runs", "gauge", "Runs in the store by status.");
    for (int s = 0; s < RUN_STATUS_COUNT; s++)
        text_printf(&t, "gsimclr_runs{status=\"%s\"} %ld\n", RUN_STATUS_NAMES[s], counts[s]);
    metric_head(&t, "gsimclr_workers", "gauge", "Job workers (runs trained at once).");
    text_printf(&t, "gsimclr_workers %d\n", js.workers);
    metric_head(&t, "gsimclr_workers_busy", "gauge", "Workers training a run now.");
    text_printf(&t, "gsimclr_workers_busy %d\n", js.busy);
    metric_head(&t, "gsimclr_train_images_per_second", "gauge",
                "Training throughput summed over the running runs.");
    text_printf(&t, "gsimclr_train_images_per_second %.6g\n", js.images_per_s);
    metric_head(&t, "gsimclr_train_steps_total", "counter",
                "Training steps done since the daemon started, all runs.");
    text_printf(&t, "gsimclr_train_steps_total %lu\n", js.steps_total);
    metric_head(&t, "gsimclr_http_requests_total", "counter",
                "HTTP requests answered, by status class.");
    for (int c = 2; c <= 5; c++)
        text_printf(&t, "gsimclr_http_requests_total{class=\"%dxx\"} %lu\n", c, hs.by_class[c]);
    metric_head(&t, "gsimclr_http_connections", "gauge", "HTTP connections open now.");
    text_printf(&t, "gsimclr_http_connections %lu\n", hs.open);
    metric_head(&t, "gsimclr_http_connections_cut_total", "counter",
                "Connections cut: a request not in by its deadline (timed_out), or the oldest "
                "unfinished ones near the connection limit (evicted).");
    text_printf(&t, "gsimclr_http_connections_cut_total{reason=\"timed_out\"} %lu\n",
                hs.timed_out);
    text_printf(&t, "gsimclr_http_connections_cut_total{reason=\"evicted\"} %lu\n", hs.evicted);
    metric_head(&t, "gsimclr_uptime_seconds", "gauge", "Seconds since the daemon started.");
    text_printf(&t, "gsimclr_uptime_seconds %.3f\n", api_mono() - api->started);
    if (!t.buf) {
        api_error(resp, 500, "internal", NULL, "out of memory");
        return;
    }
    api_reply_body(resp, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len);
}

/* ---- static files ----------------------------------------------------------------------- */

static const char *content_type_of(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* No segment may be "..", "." or hidden (".git"), and no backslash: checked on the decoded
 * path before anything touches the disk; realpath below catches links that lead out. */
static bool path_is_clean(const char *p)
{
    if (strchr(p, '\\'))
        return false;
    for (const char *s = p; *s;) {
        if (*s == '/') {
            s++;
            continue;
        }
        if (*s == '.')
            return false;
        const char *slash = strchr(s, '/');
        s = slash ? slash : s + strlen(s);
    }
    return true;
}

void api_static(Api *api, const ApiCall *call, HttpResponse *resp)
{
    const HttpRequest *rq = call->rq;
    char root[PATH_MAX], want[PATH_MAX], real[PATH_MAX];
    const char *p = rq->path;
    struct stat st;
    if (!api->web_dir || !realpath(api->web_dir, root)) {
        api_error(resp, 404, "not_found", NULL,
                  "the web page is not installed here (web folder %s: missing)",
                  api->web_dir ? api->web_dir : "(none)");
        return;
    }
    size_t plen = strlen(p), rlen = strlen(root);
    const char *index = p[plen - 1] == '/' ? "index.html" : "";
    if (!path_is_clean(p) || rlen + plen + strlen(index) >= sizeof want) {
        api_error(resp, 404, "not_found", NULL, "no such file");
        return;
    }
    memcpy(want, root, rlen);
    memcpy(want + rlen, p, plen);
    strcpy(want + rlen + plen, index);
    if (!realpath(want, real) || strncmp(real, root, rlen) != 0 ||
        (real[rlen] != '/' && !(rlen == 1 && root[0] == '/')) || stat(real, &st) != 0 ||
        !S_ISREG(st.st_mode)) {
        api_error(resp, 404, "not_found", NULL, "no such file");
        return;
    }
    if (st.st_size > STATIC_MAX_BYTES) {
        api_error(resp, 404, "not_found", NULL, "file too large to serve");
        return;
    }
    size_t len = 0;
    char *body = read_small_file(real, STATIC_MAX_BYTES, &len);
    if (!body) {
        api_error(resp, 500, "internal", NULL, "reading %s: %s", p, strerror(errno));
        return;
    }
    api_reply_body(resp, 200, content_type_of(real), body, len);
}
