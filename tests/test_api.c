/* test_api.c — black-box tests of gsimclrd's HTTP API: the whole service started in-process
 * on port 0 (service_start), driven through real HTTP with libcurl (apiclient.h). A small
 * G-SimCLR run followed from submit to its pseudo-labels, grids, checkpoints and event stream;
 * cancel and delete; some fifty hostile requests that must each get the documented status and
 * code and leave the store byte-for-byte as it was; bearer tokens; eight clients at once; the
 * static page and the small routes. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, symlink */
#include <cjson/cJSON.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../server/service/api_reply.h"
#include "apiclient.h"
#include "fingerprint.h"
#include "gs/config.h"
#include "gs/service.h"
#include "harness.h"

extern const int SCHEMA_MIGRATION_COUNT;   /* the migrations compiled in (schema/) */

#define TOKEN "test-token-0123456789abcdef"

extern const int SCHEMA_MIGRATION_COUNT; /* schema/NNN_*.sql, embedded by scripts/embed-sql */

/* ---- a service in a temporary folder ---------------------------------------------------- */

typedef struct {
    Service *svc;
    int port;
    char dir[64];           /* everything below lives here */
    char db[128], web[128], root[128], token_file[128];
} Svc;

typedef struct {
    bool token;
    bool no_web;            /* web_dir points at a folder that does not exist */
    size_t max_body;        /* 0: the default */
    int workers;            /* 0: 1 */
    const char *listen;     /* NULL: 127.0.0.1:0 */
} SvcOpts;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        CHECK_MSG(0, "cannot write %s", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static bool svc_start(Svc *t, const SvcOpts *o)
{
    GsErr err;
    ServiceConfig cfg;
    char path[256];
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/gs_api_XXXXXX");
    if (!mkdtemp(t->dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return false;
    }
    snprintf(t->db, sizeof t->db, "%s/db", t->dir);
    snprintf(t->web, sizeof t->web, "%s/web", t->dir);
    snprintf(t->root, sizeof t->root, "%s/root", t->dir);
    snprintf(t->token_file, sizeof t->token_file, "%s/token", t->dir);
    if (!o->no_web) {
        mkdir(t->web, 0755);
        snprintf(path, sizeof path, "%s/index.html", t->web);
        write_file(path, "<!doctype html><title>gsimclr test page</title>\n");
        snprintf(path, sizeof path, "%s/app.js", t->web);
        write_file(path, "console.log('gsimclr');\n");
    }
    /* the data root: an empty folder, and a link that leads out of it */
    mkdir(t->root, 0755);
    snprintf(path, sizeof path, "%s/empty", t->root);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/evil", t->root);
    if (symlink("/etc", path) != 0)
        CHECK_MSG(0, "symlink %s failed", path);
    write_file(t->token_file, TOKEN "\n");

    service_config_defaults(&cfg);
    cfg.listen = o->listen ? o->listen : "127.0.0.1:0";
    cfg.data_dir = t->db;
    cfg.data_root = t->root;
    cfg.web_dir = t->web;
    cfg.examples_dir = "examples";
    cfg.token_file = o->token ? t->token_file : NULL;
    cfg.workers = o->workers ? o->workers : 1;
    cfg.threads = 2;
    if (o->max_body)
        cfg.max_body = o->max_body;
    if (service_start(&t->svc, &cfg, &err) != 0) {
        CHECK_MSG(0, "service_start: %s", err.msg);
        nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return false;
    }
    t->port = service_port(t->svc);
    CHECK(t->port > 0);
    return true;
}

static void svc_stop(Svc *t)
{
    service_stop(t->svc);
    t->svc = NULL;
    nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- requests --------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A JSON call whose answer parses; NULL (and a failed check) otherwise. */
static cJSON *call(int port, const char *method, const char *path, const char *body,
                   const char *token, long *status)
{
    ApiResp r;
    apic_json(port, method, path, body, token, &r);
    *status = r.status;
    cJSON *j = r.len ? cJSON_Parse(r.body) : NULL;
    if (r.len && !j)
        CHECK_MSG(0, "%s %s: answer is not JSON: %.200s", method, path, r.body);
    apic_free(&r);
    return j;
}

/* The status of a JSON call whose answer is not looked at. */
static long call_status(int port, const char *method, const char *path, const char *body,
                        const char *token)
{
    long status;
    cJSON_Delete(call(port, method, path, body, token, &status));
    return status;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static const char *err_code(const cJSON *j)
{
    return jstr(cJSON_GetObjectItemCaseSensitive(j, "error"), "code");
}

/* Submits config; the new run's id, or 0 (and a failed check). */
static int64_t submit(int port, const char *config, const char *token)
{
    long status;
    cJSON *j = call(port, "POST", "/v1/runs", config, token, &status);
    int64_t id = (int64_t)jnum(j, "id");
    CHECK_MSG(status == 201 && id > 0, "submit: status %ld", status);
    if (status != 201) {
        char *t = cJSON_PrintUnformatted(j);
        printf("    %s\n", t ? t : "(no body)");
        free(t);
    }
    cJSON_Delete(j);
    return status == 201 ? id : 0;
}

static bool ended_noting_running(const cJSON *run, void *arg)
{
    bool *saw_running = arg;
    const char *s = jstr(run, "status");
    if (saw_running && s && strcmp(s, "running") == 0) {
        double p = jnum(run, "progress");
        CHECK_MSG(p >= 0 && p <= 1, "progress %g", p);
        *saw_running = true;
    }
    return apic_run_ended(run, NULL);
}

/* Waits until the run's status is terminal (or it stalls: see apic_wait_run); the last run
 * object, NULL when the run stalled or could not be read. */
static cJSON *wait_terminal(int port, int64_t id, bool *saw_running)
{
    cJSON *j = apic_wait_run(port, id, ended_noting_running, saw_running, 120);
    CHECK_MSG(j != NULL, "run %lld did not end", (long long)id);
    return j;
}

/* ---- api_lifecycle ---------------------------------------------------------------------- */

/* ThreadSanitizer's build has no OpenMP and runs the training loops about ten times slower:
 * there the runs are smaller and the waits longer, the same checks otherwise. */
#ifdef __SANITIZE_THREAD__
#define RUN_N 500
#define RUN_TEST_N 200
#define RUN_K 16
#define WAIT_SCALE 4.0
#else
#define RUN_N 2000
#define RUN_TEST_N 500
#define RUN_K 32
#define WAIT_SCALE 1.0
#endif

/* The small G-SimCLR run of api_lifecycle (simclr_epochs 2), or a long one to cancel. */
static void small_run(char *buf, size_t cap, const char *name, int simclr_epochs)
{
    snprintf(buf, cap,
             "{\"name\": \"%s\", \"method\": \"gsimclr\", \"dataset\": \"fashion-mnist\","
             " \"subset\": %d, \"test_subset\": %d, \"threads\": 2,"
             " \"dae\": {\"filters\": [8, 16, 32], \"epochs\": 1, \"batch\": 128},"
             " \"kmeans\": {\"k\": %d, \"n_init\": 1},"
             " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 8, \"head\": [32, 16]},"
             "             \"epochs\": %d, \"batch\": 64},"
             " \"eval\": {\"linear\": {\"epochs\": 3}, \"knn_k\": 20}}",
             name, RUN_N, RUN_TEST_N, RUN_K, simclr_epochs);
}

typedef struct {
    int port;
    char path[96];
    const char *until;
    ApiResp r;
} StreamArg;

static void *stream_main(void *arg)
{
    StreamArg *a = arg;
    apic_stream(a->port, a->path, NULL, a->until, 100 * WAIT_SCALE, &a->r);
    return NULL;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

TEST(api_lifecycle)
{
    Svc t;
    SvcOpts o = {0};
    char path[160], hdr[256];
    long status;
    if (!svc_start(&t, &o))
        return;

    ApiResp r;
    char config[1024];
    const char *json_hdr[] = {"Content-Type: application/json; charset=utf-8", NULL};
    small_run(config, sizeof config, "api test", 2);
    apic_request(t.port, "POST", "/v1/runs", config, strlen(config), json_hdr, &r);
    CHECK_INT_EQ(r.status, 201);
    cJSON *j = cJSON_Parse(r.body);
    int64_t id = (int64_t)jnum(j, "id");
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)id);
    CHECK(apic_header(&r, "Location", hdr, sizeof hdr) && strcmp(hdr, path) == 0);
    CHECK(jstr(j, "status") && (strcmp(jstr(j, "status"), "queued") == 0 ||
                                strcmp(jstr(j, "status"), "running") == 0));
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(j, "config")));
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "stages")), 4);
    cJSON_Delete(j);
    apic_free(&r);
    if (id <= 0) {
        svc_stop(&t);
        return;
    }

    /* a second client watches the events from right after the submit */
    StreamArg sa = {.port = t.port, .until = "event: end"};
    snprintf(sa.path, sizeof sa.path, "/v1/runs/%lld/events", (long long)id);
    pthread_t th;
    pthread_create(&th, NULL, stream_main, &sa);

    double t0 = now_s();
    bool saw_running = false;
    j = wait_terminal(t.port, id, &saw_running);
    printf("    run finished in %.1f s\n", now_s() - t0);
    CHECK_MSG(jstr(j, "status") && strcmp(jstr(j, "status"), "succeeded") == 0,
              "status %s, error %s", jstr(j, "status"), jstr(j, "error"));
    CHECK(saw_running);
    CHECK_CLOSE(jnum(j, "progress"), 1.0, 1e-9);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "stage")));
    CHECK(jstr(j, "finished_at") != NULL);
    const cJSON *stages = cJSON_GetObjectItem(j, "stages");
    for (int s = 0; s < 4; s++) {
        const cJSON *st = cJSON_GetArrayItem(stages, s);
        CHECK_MSG(jstr(st, "status") && strcmp(jstr(st, "status"), "succeeded") == 0,
                  "stage %d: %s", s, jstr(st, "status"));
    }
    const cJSON *res = cJSON_GetObjectItem(j, "result");
    CHECK(cJSON_IsObject(res));
    printf("    stages: dae %.1f s, kmeans %.1f s, simclr %.1f s, eval %.1f s; linear top-1 %.3f\n",
           jnum(res, "dae_seconds"), jnum(res, "kmeans_seconds"), jnum(res, "simclr_seconds"),
           jnum(res, "eval_seconds"), jnum(res, "linear_top1"));
    CHECK_INT_EQ((int)jnum(res, "k"), RUN_K);
    CHECK(jnum(res, "linear_top1") > 0.3);
    CHECK(jnum(res, "knn_top1") > 0.3);
    CHECK(jnum(res, "purity") > 0.2);
    CHECK(jnum(res, "simclr_loss") > 0);
    cJSON_Delete(j);

    /* metrics: one loss per epoch */
    snprintf(path, sizeof path, "/v1/runs/%lld/metrics?stage=dae&name=loss", (long long)id);
    j = call(t.port, "GET", path, NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "metrics")), 1);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/v1/runs/%lld/metrics?stage=simclr&name=loss", (long long)id);
    j = call(t.port, "GET", path, NULL, NULL, &status);
    const cJSON *ms = cJSON_GetObjectItem(j, "metrics");
    CHECK_INT_EQ(cJSON_GetArraySize(ms), 2);
    const cJSON *m0 = cJSON_GetArrayItem(ms, 0);
    CHECK(jstr(m0, "stage") && strcmp(jstr(m0, "stage"), "simclr") == 0);
    CHECK_INT_EQ((int)jnum(m0, "step"), -1);
    CHECK(jnum(m0, "value") > 0 && jstr(m0, "time") != NULL);
    int64_t last_id = (int64_t)jnum(j, "last_id");
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/v1/runs/%lld/metrics?after=%lld", (long long)id,
             (long long)last_id);
    CHECK_INT_EQ(call_status(t.port, "GET", path, NULL, NULL), 200);

    /* clusters */
    snprintf(path, sizeof path, "/v1/runs/%lld/clusters", (long long)id);
    j = call(t.port, "GET", path, NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK_INT_EQ((int)jnum(j, "k"), RUN_K);
    CHECK_INT_EQ((int)jnum(j, "n"), RUN_N);
    CHECK(jnum(j, "purity") > 0.2 && jnum(j, "nmi") > 0 && jnum(j, "inertia") > 0);
    const cJSON *cl = cJSON_GetObjectItem(j, "clusters");
    long sum = 0;
    int nonempty = -1;
    for (int c = 0; c < cJSON_GetArraySize(cl); c++) {
        const cJSON *x = cJSON_GetArrayItem(cl, c);
        sum += (long)jnum(x, "size");
        if (jnum(x, "size") > 0 && nonempty < 0)
            nonempty = c;
        if (jnum(x, "size") > 0)
            CHECK(jnum(x, "label") >= 0 && jnum(x, "label_fraction") > 0);
    }
    CHECK_INT_EQ(sum, RUN_N);
    cJSON_Delete(j);

    /* a grid of a cluster's members: a PNG (twice: the second from the cached images) */
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "/v1/runs/%lld/clusters/%d/grid.png?n=20&scale=1",
                 (long long)id, nonempty);
        double g0 = now_s();
        apic_request(t.port, "GET", path, NULL, 0, NULL, &r);
        printf("    grid.png %zu bytes in %.3f s\n", r.len, now_s() - g0);
        CHECK_INT_EQ(r.status, 200);
        CHECK(r.len > 8 && memcmp(r.body, "\x89PNG\r\n\x1a\n", 8) == 0);
        CHECK(apic_header(&r, "Content-Type", hdr, sizeof hdr) && strcmp(hdr, "image/png") == 0);
        apic_free(&r);
    }
    snprintf(path, sizeof path, "/v1/runs/%lld/clusters/%d/grid.png", (long long)id, RUN_K);
    apic_request(t.port, "GET", path, NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 404);
    apic_free(&r);

    /* pseudo-labels */
    snprintf(path, sizeof path, "/v1/runs/%lld/pseudo-labels", (long long)id);
    apic_request(t.port, "GET", path, NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK(strncmp(r.body, "image,cluster\n0,", 16) == 0);
    CHECK_INT_EQ(count_lines(r.body), RUN_N + 1);
    apic_free(&r);
    snprintf(path, sizeof path, "/v1/runs/%lld/pseudo-labels?format=json", (long long)id);
    j = call(t.port, "GET", path, NULL, NULL, &status);
    CHECK_INT_EQ((int)jnum(j, "n"), RUN_N);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "clusters")), RUN_N);
    cJSON_Delete(j);

    /* checkpoints, listed and downloaded */
    snprintf(path, sizeof path, "/v1/runs/%lld/checkpoints", (long long)id);
    j = call(t.port, "GET", path, NULL, NULL, &status);
    const cJSON *cks = cJSON_GetObjectItem(j, "checkpoints");
    CHECK(cJSON_GetArraySize(cks) >= 1);
    const cJSON *ck = cJSON_GetArrayItem(cks, 0);
    int64_t cid = (int64_t)jnum(ck, "id");
    double bytes = jnum(ck, "bytes");
    CHECK(jstr(ck, "crc32") && strlen(jstr(ck, "crc32")) == 8);
    CHECK_INT_EQ((int)jnum(ck, "format_version"), 1);
    /* a run that ended keeps checkpoints of whole epochs: no step inside one */
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(ck, "step")));
    snprintf(path, sizeof path, "/v1/runs/%lld/checkpoints/%lld", (long long)id, (long long)cid);
    cJSON_Delete(j);
    apic_request(t.port, "GET", path, NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ((long)r.len, (long)bytes);
    CHECK(r.len >= 4 && memcmp(r.body, "GSCK", 4) == 0);
    CHECK(apic_header(&r, "Content-Disposition", hdr, sizeof hdr) &&
          strstr(hdr, "attachment; filename=\"run") != NULL);
    apic_free(&r);

    /* the list holds it */
    j = call(t.port, "GET", "/v1/runs?status=succeeded", NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK_INT_EQ((int)jnum(j, "total"), 1);
    CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "runs"), 0),
                              "config") == NULL);
    cJSON_Delete(j);

    /* the stream saw it all */
    pthread_join(th, NULL);
    CHECK_MSG(sa.r.status == 200, "events: status %ld (%s)", sa.r.status, sa.r.curl_error);
    const char *ev = sa.r.body ? sa.r.body : "";
    CHECK(strncmp(ev, "retry: 2000\n", 12) == 0);
    CHECK(strstr(ev, "event: run\n") != NULL);
    CHECK(strstr(ev, "event: progress\n") != NULL);
    CHECK(strstr(ev, "event: log\n") != NULL);
    CHECK(strstr(ev, "event: metric\n") != NULL);
    CHECK(strstr(ev, "event: end\n") != NULL);
    CHECK(strstr(ev, "\nid: ") != NULL);
    apic_free(&sa.r);

    /* a late watcher of an ended run gets the run, its log, and the end at once */
    snprintf(path, sizeof path, "/v1/runs/%lld/events", (long long)id);
    const char *last[] = {"Last-Event-ID: 1", NULL};
    t0 = now_s();
    apic_stream(t.port, path, last, NULL, 10, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK(strstr(r.body, "event: end\n") != NULL);
    CHECK(strstr(r.body, "id: 1\n") == NULL); /* after Last-Event-ID */
    CHECK(now_s() - t0 < 5);
    apic_free(&r);

    svc_stop(&t);
}

/* ---- api_cancel_and_delete -------------------------------------------------------------- */

TEST(api_cancel_and_delete)
{
    Svc t;
    SvcOpts o = {0};
    char path[128];
    long status;
    char config[1024];
    if (!svc_start(&t, &o))
        return;
    /* long enough to be canceled mid-training: a checkpoint after the one dae epoch, then a
     * SimCLR stage of many epochs */
    small_run(config, sizeof config, "long", 500);
    int64_t a = submit(t.port, config, NULL), b = submit(t.port, config, NULL);
    if (!a || !b) {
        svc_stop(&t);
        return;
    }
    /* b waits behind a (one worker): canceled at once */
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)b);
    cJSON *j = call(t.port, "POST", path, NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK(jstr(j, "status") && strcmp(jstr(j, "status"), "canceled") == 0);
    cJSON_Delete(j);
    j = call(t.port, "POST", path, NULL, NULL, &status);
    CHECK_INT_EQ(status, 409);
    CHECK(err_code(j) && strcmp(err_code(j), "conflict") == 0);
    cJSON_Delete(j);

    /* a trains: wait for its first checkpoint */
    snprintf(path, sizeof path, "/v1/runs/%lld/checkpoints", (long long)a);
    double t0 = now_s();
    int n_ck = 0;
    while (n_ck == 0 && now_s() - t0 < 30 * WAIT_SCALE) {
        j = call(t.port, "GET", path, NULL, NULL, &status);
        n_ck = cJSON_GetArraySize(cJSON_GetObjectItem(j, "checkpoints"));
        cJSON_Delete(j);
        if (!n_ck)
            sleep_s(0.1);
    }
    CHECK_MSG(n_ck > 0, "no checkpoint after %.0f s", now_s() - t0);

    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)a);
    j = call(t.port, "DELETE", path, NULL, NULL, &status);
    CHECK_INT_EQ(status, 409);
    CHECK(err_code(j) && strcmp(err_code(j), "conflict") == 0);
    cJSON_Delete(j);
    j = call(t.port, "GET", path, NULL, NULL, &status);
    CHECK(jstr(j, "status") && strcmp(jstr(j, "status"), "running") == 0);
    CHECK(jstr(j, "stage") != NULL);
    cJSON_Delete(j);

    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)a);
    t0 = now_s();
    j = call(t.port, "POST", path, NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "cancel_requested")) ||
          (jstr(j, "status") && strcmp(jstr(j, "status"), "canceled") == 0));
    cJSON_Delete(j);
    j = wait_terminal(t.port, a, NULL);
    double took = now_s() - t0;
    CHECK_MSG(jstr(j, "status") && strcmp(jstr(j, "status"), "canceled") == 0, "status %s",
              jstr(j, "status"));
    CHECK_MSG(took < 3 * WAIT_SCALE, "cancel took %.2f s", took);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/v1/runs/%lld/checkpoints", (long long)a);
    j = call(t.port, "GET", path, NULL, NULL, &status);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "checkpoints")) >= 1);
    {
        /* a cancel keeps a checkpoint of the step it stopped at: step a count, or null at an
         * epoch's end */
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "checkpoints"))
        {
            const cJSON *step = cJSON_GetObjectItem(c, "step");
            CHECK(cJSON_IsNull(step) || (cJSON_IsNumber(step) && step->valuedouble > 0));
        }
    }
    cJSON_Delete(j);

    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)a);
    j = call(t.port, "DELETE", path, NULL, NULL, &status);
    CHECK_INT_EQ(status, 204);
    CHECK(j == NULL);
    cJSON_Delete(j);
    j = call(t.port, "GET", path, NULL, NULL, &status);
    CHECK_INT_EQ(status, 404);
    CHECK(err_code(j) && strcmp(err_code(j), "not_found") == 0);
    cJSON_Delete(j);
    CHECK_INT_EQ(call_status(t.port, "DELETE", path, NULL, NULL), 404);
    snprintf(path, sizeof path, "/v1/runs/%lld/checkpoints", (long long)a);
    CHECK_INT_EQ(call_status(t.port, "GET", path, NULL, NULL), 404);
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)b);
    CHECK_INT_EQ(call_status(t.port, "DELETE", path, NULL, NULL), 204);
    j = call(t.port, "GET", "/v1/runs", NULL, NULL, &status);
    CHECK_INT_EQ((int)jnum(j, "total"), 0);
    cJSON_Delete(j);

    /* a daemon stopping with a run training and a client watching it: the stream closes
     * (without "end": the run goes back to the queue) and the stop does not hang */
    int64_t c = submit(t.port, config, NULL);
    StreamArg sa = {.port = t.port};
    snprintf(sa.path, sizeof sa.path, "/v1/runs/%lld/events", (long long)c);
    pthread_t th;
    pthread_create(&th, NULL, stream_main, &sa);
    sleep_s(1.0);
    t0 = now_s();
    svc_stop(&t);
    pthread_join(th, NULL);
    printf("    stopped with a run and a stream in %.2f s\n", now_s() - t0);
    CHECK(now_s() - t0 < 10 * WAIT_SCALE);
    CHECK_INT_EQ(sa.r.status, 200);
    CHECK(strstr(sa.r.body, "event: run\n") != NULL);
    CHECK(strstr(sa.r.body, "event: end\n") == NULL);
    apic_free(&sa.r);
}

/* ---- api_hostile_requests --------------------------------------------------------------- */

typedef struct {
    const char *what;
    const char *method;
    char path[160];
    const char *ctype;      /* NULL: no Content-Type */
    const char *body;       /* NULL: none */
    size_t body_len;        /* 0: strlen(body) */
    int auth;               /* 0 none, 1 the token, 2 a wrong token */
    const char *host;       /* NULL: curl's own */
    long status;
    const char *code;       /* NULL: not checked (a body the HTTP layer wrote) */
    const char *field;      /* NULL: not checked; "" must be absent */
    const char *allow;      /* expected Allow header, NULL: not checked */
} Case;

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int extra = p[i] < 0x80 ? 0 : (p[i] & 0xe0) == 0xc0 ? 1 : (p[i] & 0xf0) == 0xe0 ? 2
                  : (p[i] & 0xf8) == 0xf0 ? 3 : -1;
        if (extra < 0 || i + (size_t)extra >= n + (extra ? 0 : 1))
            return false;
        for (int k = 1; k <= extra; k++)
            if ((p[i + (size_t)k] & 0xc0) != 0x80)
                return false;
        i += (size_t)extra + 1;
    }
    return true;
}

static void run_case(int port, const Case *c)
{
    const char *h[6];
    char ct[128], host[128];
    int n = 0;
    if (c->ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", c->ctype);
        h[n++] = ct;
    }
    if (c->auth == 1)
        h[n++] = "Authorization: Bearer " TOKEN;
    else if (c->auth == 2)
        h[n++] = "Authorization: Bearer test-token-0123456789abcdeX";
    if (c->host) {
        snprintf(host, sizeof host, "Host: %s", c->host);
        h[n++] = host;
    }
    h[n] = NULL;
    ApiResp r;
    size_t len = c->body ? (c->body_len ? c->body_len : strlen(c->body)) : 0;
    apic_request(port, c->method, c->path, c->body, len, h, &r);
    CHECK_MSG(r.status == c->status, "%s: %s %.60s: status %ld, expected %ld: %.300s", c->what,
              c->method, c->path, r.status, c->status, r.body);
    CHECK_MSG(utf8_valid(r.body, r.len), "%s: the answer is not valid UTF-8", c->what);
    if (c->code || c->field) {
        cJSON *j = cJSON_Parse(r.body);
        const cJSON *e = cJSON_GetObjectItem(j, "error");
        const char *code = jstr(e, "code"), *field = jstr(e, "field");
        CHECK_MSG(jstr(e, "message") != NULL, "%s: no error message: %.200s", c->what, r.body);
        if (c->code)
            CHECK_MSG(code && strcmp(code, c->code) == 0, "%s: code %s, expected %s (%.200s)",
                      c->what, code, c->code, r.body);
        if (c->field && *c->field)
            CHECK_MSG(field && strcmp(field, c->field) == 0, "%s: field %s, expected %s (%s)",
                      c->what, field, c->field, jstr(e, "message"));
        if (c->field && !*c->field)
            CHECK_MSG(!field, "%s: unexpected field %s", c->what, field);
        cJSON_Delete(j);
    }
    if (c->allow) {
        char allow[128];
        CHECK_MSG(apic_header(&r, "Allow", allow, sizeof allow) && strcmp(allow, c->allow) == 0,
                  "%s: Allow header %s", c->what,
                  apic_header(&r, "Allow", allow, sizeof allow) ? allow : "(none)");
    }
    if (c->status == 401) {
        char www[128];
        CHECK_MSG(apic_header(&r, "WWW-Authenticate", www, sizeof www) &&
                      strncmp(www, "Bearer", 6) == 0, "%s: no WWW-Authenticate", c->what);
    }
    apic_free(&r);
}

static char *repeat_text(const char *open, int n, const char *mid, const char *close)
{
    size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
    char *s = malloc(lo * (size_t)n + lm + lc * (size_t)n + 1), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < n; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lc)
        memcpy(p, close, lc);
    *p = 0;
    return s;
}

TEST(api_hostile_requests)
{
    Svc t;
    SvcOpts o = {.token = true, .max_body = 64 << 10};
    long status;
    GsErr err;
    if (!svc_start(&t, &o))
        return;

    /* one run that has ended, so requests about an existing run have something to hit */
    int64_t id =
        submit(t.port, "{\"name\": \"victim\", \"subset\": 500, \"kmeans\": {\"k\": 16}}", TOKEN);
    char cpath[64];
    snprintf(cpath, sizeof cpath, "/v1/runs/%lld/cancel", (long long)id);
    cJSON *j = call(t.port, "POST", cpath, NULL, TOKEN, &status);
    cJSON_Delete(j);
    j = wait_terminal(t.port, id, NULL);
    cJSON_Delete(j);
    sleep_s(0.3); /* its worker's last event lands */

    char *before = fingerprint_db(t.db, &err);
    if (!before) {
        CHECK_MSG(0, "store: %s", err.msg);
        svc_stop(&t);
        return;
    }

    char *deep_obj = repeat_text("{\"a\":", 100, "1", "}");
    char *deep_arr = repeat_text("[", 100, "1", "]");
    char *deep_cfg = repeat_text("{\"simclr\":", 9, "{}", "}");
    size_t big_len = 100 << 10;
    char *big = malloc(big_len);
    if (big) {
        memset(big, ' ', big_len);
        memcpy(big, "{\"name\":\"", 9);
        memcpy(big + big_len - 2, "\"}", 2);
    }
    char evil[256], missing[256];
    snprintf(evil, sizeof evil, "{\"dataset\": \"%s/evil\"}", t.root);
    snprintf(missing, sizeof missing, "{\"dataset\": \"%s/nope\"}", t.root);
    char empty_ds[256];
    snprintf(empty_ds, sizeof empty_ds, "{\"dataset\": \"%s/empty\"}", t.root);
    char up_down[512]; /* leaves the root by "..", comes back into a sibling with the same prefix */
    snprintf(up_down, sizeof up_down, "{\"dataset\": \"%s/../%s-x\"}", t.root,
             strrchr(t.root, '/') ? strrchr(t.root, '/') + 1 : t.root);
    static const char nul_body[] = "{\"name\": \"a\0b\"}";
    static const char bad_utf8[] = "{\"name\": \"\xff\xfe\"}";
    static const char bad_utf8_key[] = "{\"\xc3\x28\": 1}";
    const char *J = "application/json";

    Case cases[] = {
        {"broken JSON", "POST", "/v1/runs", J, "{\"name\": ", 0, 1, NULL, 400, "bad_json", "",
         NULL},
        {"empty body", "POST", "/v1/runs", J, "", 0, 1, NULL, 400, "bad_json", "", NULL},
        {"no body", "POST", "/v1/runs", J, NULL, 0, 1, NULL, 400, "bad_json", "", NULL},
        {"array body", "POST", "/v1/runs", J, "[1, 2]", 0, 1, NULL, 400, "bad_json", "", NULL},
        {"number body", "POST", "/v1/runs", J, "42", 0, 1, NULL, 400, "bad_json", "", NULL},
        {"string body", "POST", "/v1/runs", J, "\"run\"", 0, 1, NULL, 400, "bad_json", "", NULL},
        {"null body", "POST", "/v1/runs", J, "null", 0, 1, NULL, 400, "bad_json", "", NULL},
        {"trailing text", "POST", "/v1/runs", J, "{} {}", 0, 1, NULL, 400, "bad_json", "", NULL},
        {"wrong type", "POST", "/v1/runs", J, "{\"subset\": \"many\"}", 0, 1, NULL, 400,
         "invalid_config", "subset", NULL},
        {"wrong nested type", "POST", "/v1/runs", J, "{\"simclr\": {\"batch\": 1.5}}", 0, 1, NULL,
         400, "invalid_config", "simclr.batch", NULL},
        {"section not an object", "POST", "/v1/runs", J, "{\"dae\": 3}", 0, 1, NULL, 400,
         "invalid_config", "dae", NULL},
        {"unknown field", "POST", "/v1/runs", J, "{\"bogus\": 1}", 0, 1, NULL, 400,
         "invalid_config", "bogus", NULL},
        {"unknown nested field", "POST", "/v1/runs", J, "{\"simclr\": {\"encoder\": {\"x\": 1}}}",
         0, 1, NULL, 400, "invalid_config", "simclr.encoder.x", NULL},
        {"duplicate field", "POST", "/v1/runs", J, "{\"seed\": 1, \"seed\": 2}", 0, 1, NULL, 400,
         "invalid_config", "seed", NULL},
        {"1e400", "POST", "/v1/runs", J, "{\"seed\": 1e400}", 0, 1, NULL, 400, "invalid_config",
         "seed", NULL},
        {"huge integer", "POST", "/v1/runs", J, "{\"subset\": 99999999999999999999}", 0, 1, NULL,
         400, "invalid_config", "subset", NULL},
        {"negative epochs", "POST", "/v1/runs", J, "{\"dae\": {\"epochs\": -1}}", 0, 1, NULL, 400,
         "invalid_config", "dae.epochs", NULL},
        {"bad enum", "POST", "/v1/runs", J, "{\"method\": \"byol\"}", 0, 1, NULL, 400,
         "invalid_config", "method", NULL},
        {"k over subset", "POST", "/v1/runs", J, "{\"subset\": 10, \"kmeans\": {\"k\": 64}}", 0, 1,
         NULL, 400, "invalid_config", "kmeans.k", NULL},
        {"100 nested objects", "POST", "/v1/runs", J, deep_obj, 0, 1, NULL, 400, "invalid_config",
         NULL, NULL},
        {"100 nested arrays", "POST", "/v1/runs", J, deep_arr, 0, 1, NULL, 400, "bad_json", "",
         NULL},
        {"9 nested config objects", "POST", "/v1/runs", J, deep_cfg, 0, 1, NULL, 400,
         "invalid_config", NULL, NULL},
        {"NUL byte", "POST", "/v1/runs", J, nul_body, sizeof nul_body - 1, 1, NULL, 400,
         "bad_json", "", NULL},
        {"\\u0000 escape", "POST", "/v1/runs", J, "{\"name\": \"a\\u0000b\"}", 0, 1, NULL, 400,
         "invalid_config", "name", NULL},
        {"invalid UTF-8 value", "POST", "/v1/runs", J, bad_utf8, 0, 1, NULL, 400,
         "invalid_config", "name", NULL},
        {"invalid UTF-8 key", "POST", "/v1/runs", J, bad_utf8_key, 0, 1, NULL, 400,
         "invalid_config", NULL, NULL},
        {"dataset ../../etc", "POST", "/v1/runs", J, "{\"dataset\": \"../../etc\"}", 0, 1, NULL,
         403, "forbidden", "dataset", NULL},
        {"dataset /etc", "POST", "/v1/runs", J, "{\"dataset\": \"/etc\"}", 0, 1, NULL, 403,
         "forbidden", "dataset", NULL},
        /* outside and missing: still 403, the answer must not tell what exists outside */
        {"dataset ../gs-no-such-folder", "POST", "/v1/runs", J,
         "{\"dataset\": \"../gs-no-such-folder\"}", 0, 1, NULL, 403, "forbidden", "dataset",
         NULL},
        {"dataset /gs-no-such-folder", "POST", "/v1/runs", J,
         "{\"dataset\": \"/gs-no-such-folder/x\"}", 0, 1, NULL, 403, "forbidden", "dataset",
         NULL},
        {"dataset up and back down", "POST", "/v1/runs", J, up_down, 0, 1, NULL, 403,
         "forbidden", "dataset", NULL},
        /* a relative name is taken inside the data root */
        {"dataset empty (relative)", "POST", "/v1/runs", J, "{\"dataset\": \"./empty/\"}", 0,
         1, NULL, 400, "invalid_config", "dataset", NULL},
        {"dataset evil (relative link out)", "POST", "/v1/runs", J, "{\"dataset\": \"evil\"}",
         0, 1, NULL, 403, "forbidden", "dataset", NULL},
        {"dataset link out", "POST", "/v1/runs", J, evil, 0, 1, NULL, 403, "forbidden", "dataset",
         NULL},
        {"dataset missing", "POST", "/v1/runs", J, missing, 0, 1, NULL, 400, "invalid_config",
         "dataset", NULL},
        {"dataset without files", "POST", "/v1/runs", J, empty_ds, 0, 1, NULL, 400,
         "invalid_config", "dataset", NULL},
        {"body over max_body", "POST", "/v1/runs", J, big, big_len, 1, NULL, 413, NULL, NULL,
         NULL},
        {"text/plain", "POST", "/v1/runs", "text/plain", "{}", 0, 1, NULL, 415,
         "unsupported_media_type", "", NULL},
        {"form type", "POST", "/v1/runs", "application/x-www-form-urlencoded", "a=1", 0, 1, NULL,
         415, "unsupported_media_type", "", NULL},
        {"json-ish type", "POST", "/v1/runs", "application/jsonx", "{}", 0, 1, NULL, 415,
         "unsupported_media_type", "", NULL},
        {"no Content-Type", "POST", "/v1/runs", NULL, "{}", 0, 1, NULL, 415,
         "unsupported_media_type", "", NULL},
        {"PUT runs", "PUT", "/v1/runs", J, "{}", 0, 1, NULL, 405, "method_not_allowed", "",
         "GET, HEAD, POST"},
        {"DELETE datasets", "DELETE", "/v1/datasets", NULL, NULL, 0, 1, NULL, 405,
         "method_not_allowed", "", "GET, HEAD"},
        {"GET cancel", "GET", "", NULL, NULL, 0, 0, NULL, 405, "method_not_allowed", "", "POST"},
        {"POST healthz", "POST", "/healthz", NULL, NULL, 0, 1, NULL, 405, "method_not_allowed", "",
         "GET, HEAD"},
        /* the route table: 405 lists every method of the path, the method is checked before
         * the ids, and only a token holder learns whether a route exists */
        {"PUT a run", "PUT", "/v1/runs/424242", NULL, NULL, 0, 1, NULL, 405, "method_not_allowed",
         "", "GET, HEAD, DELETE, PATCH"},
        {"POST metrics", "POST", "/metrics", NULL, NULL, 0, 1, NULL, 405, "method_not_allowed", "",
         "GET, HEAD"},
        {"POST a page", "POST", "/index.html", NULL, NULL, 0, 1, NULL, 405, "method_not_allowed",
         "", "GET, HEAD"},
        {"POST a page without token", "POST", "/index.html", NULL, NULL, 0, 0, NULL, 401,
         "unauthorized", "", NULL},
        {"DELETE latest checkpoint", "DELETE", "/v1/runs/424242/checkpoints/latest", NULL, NULL,
         0, 1, NULL, 405, "method_not_allowed", "", "GET, HEAD"},
        {"GET cancel of id abc", "GET", "/v1/runs/abc/cancel", NULL, NULL, 0, 0, NULL, 405,
         "method_not_allowed", "", "POST"},
        {"POST cancel of id abc", "POST", "/v1/runs/abc/cancel", NULL, NULL, 0, 1, NULL, 404,
         "not_found", "", NULL},
        {"PATCH unknown without token", "PATCH", "/v1/nope", NULL, NULL, 0, 0, NULL, 401,
         "unauthorized", "", NULL},
        {"PATCH unknown", "PATCH", "/v1/nope", NULL, NULL, 0, 1, NULL, 404, "not_found", "", NULL},
        {"GET /v1", "GET", "/v1", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"GET /v1/", "GET", "/v1/", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"empty segment", "GET", "/v1/runs//cancel", NULL, NULL, 0, 0, NULL, 404, "not_found", "",
         NULL},
        {"grid cluster 01", "GET", "/v1/runs/424242/clusters/01/grid.png", NULL, NULL, 0, 0, NULL,
         404, "not_found", "", NULL},
        {"grid.jpg", "GET", "/v1/runs/424242/clusters/0/grid.jpg", NULL, NULL, 0, 0, NULL, 404,
         "not_found", "", NULL},
        {"healthz/", "GET", "/healthz/", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"unknown route", "GET", "/v1/nope", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"unknown run route", "GET", "/v1/runs/1/bogus", NULL, NULL, 0, 0, NULL, 404, "not_found",
         "", NULL},
        {"trailing slash", "GET", "/v1/runs/", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"id abc", "GET", "/v1/runs/abc", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"id -1", "GET", "/v1/runs/-1", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"id 0", "GET", "/v1/runs/0", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"id 007", "GET", "/v1/runs/007", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"id with bytes", "GET", "/v1/runs/%ff%fe%00x", NULL, NULL, 0, 0, NULL, 400,
         "bad_request", "", NULL},   /* %00: refused by the HTTP layer */
        {"id too big", "GET", "/v1/runs/99999999999999999999", NULL, NULL, 0, 0, NULL, 404,
         "not_found", "", NULL},
        {"id not there", "GET", "/v1/runs/9223372036854775807", NULL, NULL, 0, 0, NULL, 404,
         "not_found", "", NULL},
        {"limit -1", "GET", "/v1/runs?limit=-1", NULL, NULL, 0, 0, NULL, 400, "bad_request",
         "limit", NULL},
        {"limit abc", "GET", "/v1/runs?limit=abc", NULL, NULL, 0, 0, NULL, 400, "bad_request",
         "limit", NULL},
        {"limit 501", "GET", "/v1/runs?limit=501", NULL, NULL, 0, 0, NULL, 400, "bad_request",
         "limit", NULL},
        {"offset -5", "GET", "/v1/runs?offset=-5", NULL, NULL, 0, 0, NULL, 400, "bad_request",
         "offset", NULL},
        {"status bogus", "GET", "/v1/runs?status=bogus", NULL, NULL, 0, 0, NULL, 400,
         "bad_request", "status", NULL},
        {"method bogus", "GET", "/v1/runs?method=x", NULL, NULL, 0, 0, NULL, 400, "bad_request",
         "method", NULL},
        {"cancel an ended run", "POST", "", NULL, NULL, 0, 1, NULL, 409, "conflict", "", NULL},
        {"cancel a missing run", "POST", "/v1/runs/424242/cancel", NULL, NULL, 0, 1, NULL, 404,
         "not_found", "", NULL},
        {"metrics stage bogus", "GET", "", NULL, NULL, 0, 0, NULL, 400, "bad_request", "stage",
         NULL},
        {"metrics limit 0", "GET", "", NULL, NULL, 0, 0, NULL, 400, "bad_request", "limit", NULL},
        {"clusters before kmeans", "GET", "", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"grid n=0", "GET", "", NULL, NULL, 0, 0, NULL, 400, "bad_request", "n", NULL},
        {"grid scale 9", "GET", "", NULL, NULL, 0, 0, NULL, 400, "bad_request", "scale", NULL},
        {"grid cluster -1", "GET", "", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"pseudo-labels format xml", "GET", "", NULL, NULL, 0, 0, NULL, 400, "bad_request",
         "format", NULL},
        {"checkpoint abc", "GET", "", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"checkpoint missing", "GET", "", NULL, NULL, 0, 0, NULL, 404, "not_found", "", NULL},
        {"events of a missing run", "GET", "/v1/runs/424242/events", NULL, NULL, 0, 0, NULL, 404,
         "not_found", "", NULL},
        {"POST without token", "POST", "/v1/runs", J, "{}", 0, 0, NULL, 401, "unauthorized", "",
         NULL},
        {"POST wrong token", "POST", "/v1/runs", J, "{}", 0, 2, NULL, 401, "unauthorized", "",
         NULL},
        {"DELETE without token", "DELETE", "", NULL, NULL, 0, 0, NULL, 401, "unauthorized", "",
         NULL},
        {"cancel wrong token", "POST", "", NULL, NULL, 0, 2, NULL, 401, "unauthorized", "", NULL},
        {"wrong Host", "GET", "/v1/runs", NULL, NULL, 0, 0, "evil.example", 403, "forbidden", "",
         NULL},
        {"wrong Host with port", "GET", "/v1/runs", NULL, NULL, 0, 0, "evil.example:8470", 403,
         "forbidden", "", NULL},
        {"Host localhost.evil", "GET", "/healthz", NULL, NULL, 0, 0, "localhost.evil.example", 403,
         "forbidden", "", NULL},
        {"Host with a bad port", "GET", "/healthz", NULL, NULL, 0, 0, "localhost:80x", 403,
         "forbidden", "", NULL},
        {"wrong Host on a POST", "POST", "/v1/runs", J, "{}", 0, 1, "rebind.example", 403,
         "forbidden", "", NULL},
    };
    int n_cases = (int)(sizeof cases / sizeof cases[0]);
    /* the paths that name the victim run */
    for (int i = 0; i < n_cases; i++) {
        Case *c = &cases[i];
        long long v = (long long)id;
        if (strcmp(c->what, "GET cancel") == 0 || strcmp(c->what, "cancel an ended run") == 0 ||
            strcmp(c->what, "cancel wrong token") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/cancel", v);
        else if (strcmp(c->what, "DELETE without token") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld", v);
        else if (strcmp(c->what, "metrics stage bogus") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/metrics?stage=bogus", v);
        else if (strcmp(c->what, "metrics limit 0") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/metrics?limit=0", v);
        else if (strcmp(c->what, "clusters before kmeans") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/clusters", v);
        else if (strcmp(c->what, "grid n=0") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/clusters/0/grid.png?n=0", v);
        else if (strcmp(c->what, "grid scale 9") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/clusters/0/grid.png?scale=9", v);
        else if (strcmp(c->what, "grid cluster -1") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/clusters/-1/grid.png", v);
        else if (strcmp(c->what, "pseudo-labels format xml") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/pseudo-labels?format=xml", v);
        else if (strcmp(c->what, "checkpoint abc") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/checkpoints/abc", v);
        else if (strcmp(c->what, "checkpoint missing") == 0)
            snprintf(c->path, sizeof c->path, "/v1/runs/%lld/checkpoints/424242", v);
    }
    for (int i = 0; i < n_cases; i++)
        run_case(t.port, &cases[i]);
    printf("    %d hostile requests\n", n_cases);
    CHECK(n_cases >= 30);
    free(deep_obj);
    free(deep_arr);
    free(deep_cfg);
    free(big);

    /* still up, and nothing stored changed */
    j = call(t.port, "GET", "/healthz", NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK(jstr(j, "status") && strcmp(jstr(j, "status"), "ok") == 0);
    cJSON_Delete(j);
    char *after = fingerprint_db(t.db, &err);
    CHECK_MSG(after && strcmp(before, after) == 0, "store changed: %s -> %s", before, after);
    free(before);
    free(after);
    svc_stop(&t);
}

/* ---- api_auth --------------------------------------------------------------------------- */

TEST(api_auth)
{
    Svc t;
    SvcOpts o = {.token = true};
    ApiResp r;
    char www[128];
    if (!svc_start(&t, &o))
        return;
    /* on loopback, reads need no token */
    CHECK_INT_EQ(call_status(t.port, "GET", "/v1/runs", NULL, NULL), 200);
    CHECK_INT_EQ(call_status(t.port, "GET", "/v1/defaults", NULL, NULL), 200);
    /* writes do */
    const char *body = "{\"subset\": 500, \"kmeans\": {\"k\": 16}}";
    apic_json(t.port, "POST", "/v1/runs", body, NULL, &r);
    CHECK_INT_EQ(r.status, 401);
    CHECK(apic_header(&r, "WWW-Authenticate", www, sizeof www) && strncmp(www, "Bearer", 6) == 0);
    apic_free(&r);
    apic_json(t.port, "POST", "/v1/runs", body, "wrong-token-0123456789abcdef", &r);
    CHECK_INT_EQ(r.status, 401);
    apic_free(&r);
    apic_json(t.port, "POST", "/v1/runs", body, TOKEN "x", &r);   /* longer */
    CHECK_INT_EQ(r.status, 401);
    apic_free(&r);
    apic_json(t.port, "POST", "/v1/runs", body, "test-token", &r); /* a prefix */
    CHECK_INT_EQ(r.status, 401);
    apic_free(&r);
    const char *basic[] = {"Content-Type: application/json", "Authorization: Basic dTpw", NULL};
    apic_request(t.port, "POST", "/v1/runs", body, strlen(body), basic, &r);
    CHECK_INT_EQ(r.status, 401);
    apic_free(&r);
    int64_t id = submit(t.port, body, TOKEN);
    CHECK(id > 0);
    char path[64];
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)id);
    CHECK_INT_EQ(call_status(t.port, "POST", path, NULL, NULL), 401);
    CHECK_INT_EQ(call_status(t.port, "POST", path, NULL, TOKEN), 200);
    svc_stop(&t);

    /* beyond loopback every API call needs the token, except /healthz and the page itself */
    SvcOpts wide = {.token = true, .listen = "0.0.0.0:0"};
    if (!svc_start(&t, &wide))
        return;
    CHECK_INT_EQ(call_status(t.port, "GET", "/v1/runs", NULL, NULL), 401);
    CHECK_INT_EQ(call_status(t.port, "GET", "/metrics", NULL, NULL), 401);
    CHECK_INT_EQ(call_status(t.port, "GET", "/v1/runs", NULL, TOKEN), 200);
    CHECK_INT_EQ(call_status(t.port, "GET", "/healthz", NULL, NULL), 200);
    apic_request(t.port, "GET", "/", NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    apic_free(&r);
    /* any Host is accepted there (the token guards it) */
    const char *host[] = {"Host: gsimclr.example:8470", "Authorization: Bearer " TOKEN, NULL};
    apic_request(t.port, "GET", "/v1/runs", NULL, 0, host, &r);
    CHECK_INT_EQ(r.status, 200);
    apic_free(&r);
    svc_stop(&t);
}

/* ---- api_concurrent_clients ------------------------------------------------------------- */

#define CLIENTS 8

typedef struct {
    int port;
    int requests, unexpected, server_errors, locked;
    char first_problem[512];
} ClientArg;

static void expect(ClientArg *a, const ApiResp *r, long want, const char *what)
{
    a->requests++;
    if (r->status >= 500)
        a->server_errors++;
    if (strstr(r->body, "locked") || strstr(r->body, "busy"))
        a->locked++;
    if (r->status != want) {
        if (!a->unexpected++)
            snprintf(a->first_problem, sizeof a->first_problem, "%s: %ld (%.100s) %.150s", what,
                     r->status, r->curl_error, r->body);
    }
}

static void *client_main(void *arg)
{
    ClientArg *a = arg;
    static const char tiny[] =
        "{\"name\": \"concurrent\", \"subset\": 300, \"test_subset\": 100,"
        " \"dae\": {\"filters\": [8, 16, 32], \"epochs\": 1, \"batch\": 128},"
        " \"kmeans\": {\"k\": 8, \"n_init\": 1},"
        " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 8}, \"epochs\": 1,"
        "             \"batch\": 64}}";
    double t0 = now_s();
    for (int round = 0; now_s() - t0 < 3.0; round++) {
        ApiResp r;
        char path[96];
        apic_json(a->port, "POST", "/v1/runs", tiny, NULL, &r);
        expect(a, &r, 201, "submit");
        cJSON *j = cJSON_Parse(r.body);
        long long id = (long long)jnum(j, "id");
        cJSON_Delete(j);
        apic_free(&r);
        snprintf(path, sizeof path, "/v1/runs/%lld/cancel", id);
        apic_json(a->port, "POST", path, NULL, NULL, &r);
        /* 409 when the worker finished it first (it is tiny) */
        expect(a, &r, r.status == 409 ? 409 : 200, "cancel");
        apic_free(&r);
        for (int k = 0; k < 5; k++) {
            snprintf(path, sizeof path, "/v1/runs/%lld", id);
            apic_json(a->port, "GET", path, NULL, NULL, &r);
            expect(a, &r, 200, "get");
            apic_free(&r);
            apic_json(a->port, "GET", round % 2 ? "/v1/runs?limit=20" : "/v1/runs?status=canceled",
                      NULL, NULL, &r);
            expect(a, &r, 200, "list");
            apic_free(&r);
        }
        snprintf(path, sizeof path, "/v1/runs/%lld/metrics", id);
        apic_json(a->port, "GET", path, NULL, NULL, &r);
        expect(a, &r, 200, "metrics");
        apic_free(&r);
    }
    return NULL;
}

TEST(api_concurrent_clients)
{
    Svc t;
    SvcOpts o = {0};
    if (!svc_start(&t, &o))
        return;
    pthread_t th[CLIENTS];
    ClientArg args[CLIENTS];
    double t0 = now_s();
    for (int i = 0; i < CLIENTS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].port = t.port;
        pthread_create(&th[i], NULL, client_main, &args[i]);
    }
    int requests = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        requests += args[i].requests;
        CHECK_MSG(args[i].unexpected == 0, "client %d: %d unexpected answers, first: %s", i,
                  args[i].unexpected, args[i].first_problem);
        CHECK_INT_EQ(args[i].server_errors, 0);
        CHECK_INT_EQ(args[i].locked, 0);
    }
    printf("    %d requests from %d clients in %.1f s\n", requests, CLIENTS, now_s() - t0);
    CHECK_INT_EQ(call_status(t.port, "GET", "/healthz", NULL, NULL), 200);
    svc_stop(&t);
}

/* ---- api_static_and_misc ---------------------------------------------------------------- */

/* Times go out to the millisecond (metrics of a fast run a few ms apart stay apart on a
 * wall-time chart), truncated, never rounded up into the next second. */
TEST(api_time_text_millis)
{
    char b[32];
    api_time_text(1795827723.25, b);
    CHECK_MSG(strcmp(b, "2026-11-28T01:02:03.250Z") == 0, "%s", b);
    api_time_text(1795827723.9996, b);
    CHECK_MSG(strcmp(b, "2026-11-28T01:02:03.999Z") == 0, "%s", b);
    api_time_text(1795827723.0, b);
    CHECK_MSG(strcmp(b, "2026-11-28T01:02:03.000Z") == 0, "%s", b);
    api_time_text(1795827723.0015, b);
    CHECK_MSG(strcmp(b, "2026-11-28T01:02:03.001Z") == 0, "%s", b);
}

TEST(api_static_and_misc)
{
    Svc t;
    SvcOpts o = {0};
    ApiResp r;
    long status;
    char hdr[256], path[96];
    if (!svc_start(&t, &o))
        return;

    apic_request(t.port, "GET", "/", NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK(strstr(r.body, "gsimclr test page") != NULL);
    CHECK(apic_header(&r, "Content-Type", hdr, sizeof hdr) && strncmp(hdr, "text/html", 9) == 0);
    apic_free(&r);
    apic_request(t.port, "GET", "/app.js", NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK(apic_header(&r, "Content-Type", hdr, sizeof hdr) &&
          strncmp(hdr, "text/javascript", 15) == 0);
    apic_free(&r);
    static const char *const refused[] = {"/../Makefile", "/%2e%2e/Makefile", "/..%2fMakefile",
                                          "/.%2e/.%2e/etc/passwd", "/nope.html", "/.hidden",
                                          "/web/../../Makefile"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        apic_request(t.port, "GET", refused[i], NULL, 0, NULL, &r);
        CHECK_MSG(r.status == 404, "%s: %ld", refused[i], r.status);
        CHECK_MSG(strstr(r.body, "not_found") != NULL, "%s: %.100s", refused[i], r.body);
        apic_free(&r);
    }

    cJSON *j = call(t.port, "GET", "/healthz", NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK(jstr(j, "status") && strcmp(jstr(j, "status"), "ok") == 0);
    CHECK(jstr(j, "version") != NULL);
    CHECK_INT_EQ((int)jnum(j, "workers"), 1);
    CHECK_INT_EQ((int)jnum(j, "schema_version"), SCHEMA_MIGRATION_COUNT);
    CHECK(jnum(j, "uptime_s") >= 0);
    cJSON_Delete(j);

    apic_request(t.port, "GET", "/metrics", NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK(strstr(r.body, "\ngsimclr_up 1\n") != NULL);
    CHECK(strstr(r.body, "gsimclr_runs{status=\"queued\"} 0\n") != NULL);
    CHECK(strstr(r.body, "# TYPE gsimclr_http_requests_total counter\n") != NULL);
    CHECK(strstr(r.body, "gsimclr_http_requests_total{class=\"2xx\"}") != NULL);
    CHECK(strstr(r.body, "gsimclr_uptime_seconds ") != NULL);
    CHECK(apic_header(&r, "Content-Type", hdr, sizeof hdr) && strstr(hdr, "version=0.0.4"));
    apic_free(&r);

    /* a dataset folder under the data root whose file is a link leading out of it: 403, like
     * a folder outside (issue 11, item 6) */
    char fm[256], link[320], config[400];
    snprintf(fm, sizeof fm, "%s/linked", t.root);
    mkdir(fm, 0755);
    snprintf(link, sizeof link, "%s/train-images-idx3-ubyte.gz", fm);
    CHECK(symlink("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", link) == 0);
    snprintf(config, sizeof config, "{\"dataset\": \"%s\"}", fm);
    apic_json(t.port, "POST", "/v1/runs", config, TOKEN, &r);
    CHECK_INT_EQ(r.status, 403);
    CHECK_MSG(r.body && strstr(r.body, "outside the data root"), "%s", r.body ? r.body : "");
    apic_free(&r);
    unlink(link);
    rmdir(fm);
    /* a dataset folder under the data root holding its own (small, plain) IDX file */
    snprintf(fm, sizeof fm, "%s/fm", t.root);
    mkdir(fm, 0755);
    snprintf(link, sizeof link, "%s/train-images-idx3-ubyte", fm);
    {
        static uint8_t idx[16 + 100 * 28 * 28];
        const uint8_t head[16] = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28};
        memcpy(idx, head, sizeof head);
        FILE *f = fopen(link, "wb");
        CHECK(f && fwrite(idx, 1, sizeof idx, f) == sizeof idx);
        if (f)
            fclose(f);
    }
    snprintf(config, sizeof config,
             "{\"dataset\": \"%s\", \"subset\": 100, \"kmeans\": {\"k\": 16}}", fm);
    int64_t id = submit(t.port, config, NULL);
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)id);
    cJSON *c = call(t.port, "POST", path, NULL, NULL, &status);
    CHECK(status == 200 || status == 409);
    cJSON_Delete(c);

    j = call(t.port, "GET", "/v1/datasets", NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    const cJSON *listed = NULL, *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "datasets"))
        if (jstr(it, "name") && strcmp(jstr(it, "name"), "fm") == 0)
            listed = it;
    const char *lname = jstr(listed, "path");
    CHECK_MSG(lname && strlen(lname) > 8 && strcmp(lname + strlen(lname) - 8, "/root/fm") == 0,
              "listed %s", lname);
    CHECK(jstr(listed, "name") && strcmp(jstr(listed, "name"), "fm") == 0);
    const cJSON *ds = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "datasets"), 0);
    CHECK(jstr(ds, "name") && strcmp(jstr(ds, "name"), "fashion-mnist") == 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(ds, "available")));
    CHECK_INT_EQ((int)jnum(ds, "train"), 60000);
    CHECK_INT_EQ((int)jnum(ds, "test"), 10000);
    CHECK_INT_EQ((int)jnum(ds, "classes"), 10);
    CHECK_INT_EQ((int)jnum(ds, "height"), 28);
    cJSON_Delete(j);

    j = call(t.port, "GET", "/v1/defaults", NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "defaults"));
    RunConfig cfg, def;
    GsErr err;
    CHECK_MSG(text && run_config_parse(&cfg, text, strlen(text), &err) == 0, "%s", err.msg);
    run_config_defaults(&def);
    CHECK(cfg.kmeans.k == def.kmeans.k && cfg.simclr.batch == def.simclr.batch);
    free(text);
    const cJSON *presets = cJSON_GetObjectItem(j, "presets");
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(presets, "quick")));
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(presets, "gsimclr")));
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(presets, "simclr")));
    cJSON_Delete(j);

    /* HEAD answers like GET, without a body */
    apic_request(t.port, "HEAD", "/v1/defaults", NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ((long)r.len, 0);
    apic_free(&r);
    svc_stop(&t);

    /* no web folder: a clear 404, the API still works */
    SvcOpts none = {.no_web = true};
    if (!svc_start(&t, &none))
        return;
    apic_request(t.port, "GET", "/", NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 404);
    CHECK(strstr(r.body, "not installed") != NULL);
    apic_free(&r);
    CHECK_INT_EQ(call_status(t.port, "GET", "/v1/runs", NULL, NULL), 200);
    svc_stop(&t);
}

/* PATCH /v1/runs/{id} sets a run's tags and note (both, or one leaving the other); the run
 * and the list show them; GET /v1/runs?q= finds a run by its name, tags or note; every bad
 * body is a 400 naming the field and changes nothing stored. */
TEST(api_run_tags_and_note)
{
    Svc t;
    SvcOpts o = {.token = true};
    long status;
    GsErr err;
    char path[64], list[128];
    if (!svc_start(&t, &o))
        return;
    int64_t a = submit(t.port, "{\"name\": \"first\", \"subset\": 500, \"kmeans\": {\"k\": 16}}",
                       TOKEN);
    int64_t b = submit(t.port, "{\"name\": \"second_50%\", \"subset\": 500, \"method\": "
                               "\"simclr\"}", TOKEN);
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)a);
    cJSON_Delete(call(t.port, "POST", path, NULL, TOKEN, &status));
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)b);
    cJSON_Delete(call(t.port, "POST", path, NULL, TOKEN, &status));
    cJSON_Delete(wait_terminal(t.port, a, NULL));
    cJSON_Delete(wait_terminal(t.port, b, NULL));
    sleep_s(0.3); /* the worker's last event lands before the store is fingerprinted */

    /* a new run has no tags and an empty note */
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)a);
    cJSON *j = call(t.port, "GET", path, NULL, TOKEN, &status);
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(j, "tags")) &&
          cJSON_GetArraySize(cJSON_GetObjectItem(j, "tags")) == 0);
    CHECK(jstr(j, "note") && strcmp(jstr(j, "note"), "") == 0);
    cJSON_Delete(j);

    j = call(t.port, "PATCH", path,
             "{\"tags\": [\"baseline\", \"Größe\"], \"note\": \"lr too high?\\nrerun\"}", TOKEN,
             &status);
    CHECK_INT_EQ(status, 200);
    char *tags = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "tags"));
    CHECK_MSG(tags && strcmp(tags, "[\"baseline\",\"Größe\"]") == 0, "tags %s", tags);
    free(tags);
    CHECK(jstr(j, "note") && strcmp(jstr(j, "note"), "lr too high?\nrerun") == 0);
    CHECK(jnum(j, "id") == (double)a && jstr(j, "status"));
    cJSON_Delete(j);
    /* only the note: the tags stay; an empty array clears them */
    CHECK_INT_EQ(call_status(t.port, "PATCH", path, "{\"note\": \"checked\"}", TOKEN), 200);
    j = call(t.port, "GET", path, NULL, TOKEN, &status);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "tags")), 2);
    CHECK(jstr(j, "note") && strcmp(jstr(j, "note"), "checked") == 0);
    cJSON_Delete(j);

    /* the list shows them and finds runs by name, tag, note, method and status; LIKE's
     * wildcards in the search are plain characters */
    struct { const char *q; int64_t want; int n; } finds[] = {
        {"BASE", a, 1}, {"checked", a, 1}, {"second", b, 1}, {"50%25", b, 1}, {"5_", 0, 0},
        {"simclr", 0, 2}, {"canceled", 0, 2}, {"nothing%20like%20it", 0, 0},
    };
    for (size_t i = 0; i < sizeof finds / sizeof finds[0]; i++) {
        snprintf(list, sizeof list, "/v1/runs?q=%s", finds[i].q);
        j = call(t.port, "GET", list, NULL, TOKEN, &status);
        const cJSON *runs = cJSON_GetObjectItem(j, "runs");
        CHECK_MSG(status == 200 && cJSON_GetArraySize(runs) == finds[i].n &&
                      jnum(j, "total") == finds[i].n,
                  "q=%s: status %ld, %d runs", finds[i].q, status, cJSON_GetArraySize(runs));
        if (finds[i].want && cJSON_GetArraySize(runs) == 1) {
            const cJSON *r = cJSON_GetArrayItem(runs, 0);
            CHECK_MSG(jnum(r, "id") == (double)finds[i].want, "q=%s", finds[i].q);
            CHECK(cJSON_IsArray(cJSON_GetObjectItem(r, "tags")) && jstr(r, "note"));
        }
        cJSON_Delete(j);
    }
    char longq[300] = "/v1/runs?q=";
    memset(longq + 11, 'x', 201);
    longq[212] = 0;
    CHECK_INT_EQ(call_status(t.port, "GET", longq, NULL, TOKEN), 400);

    /* refusals: each names the field and stores nothing */
    char *before = fingerprint_db(t.db, &err);
    CHECK_MSG(before, "store: %s", err.msg);
    char many[512] = "{\"tags\": [";
    for (int i = 0; i < 17; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"t%d\"", i ? "," : "", i);
    strcat(many, "]}");
    char long_note[4100] = "{\"note\": \"";
    memset(long_note + 10, 'n', 4001);
    strcpy(long_note + 4011, "\"}");
    static const char nul_body[] = "{\"note\": \"a\0b\"}";
    struct { const char *body; size_t len; long status; const char *code, *field; } bad[] = {
        {"", 0, 400, "bad_json", NULL},
        {"[1]", 0, 400, "bad_json", NULL},
        {"{\"note\": ", 0, 400, "bad_json", NULL},
        {nul_body, sizeof nul_body - 1, 400, "bad_json", NULL},
        {"{\"note\": \"a\\u0000b\"}", 0, 400, "bad_json", NULL},
        {"{}", 0, 400, "bad_request", NULL},
        {"{\"name\": \"x\"}", 0, 400, "bad_request", "name"},
        {"{\"tags\": \"a\"}", 0, 400, "bad_request", "tags"},
        {"{\"tags\": [1]}", 0, 400, "bad_request", "tags[0]"},
        {"{\"tags\": [\"a\", \"\"]}", 0, 400, "bad_request", "tags[1]"},
        {"{\"tags\": [\"a,b\"]}", 0, 400, "bad_request", "tags[0]"},
        {"{\"tags\": [\" a\"]}", 0, 400, "bad_request", "tags[0]"},
        {"{\"tags\": [\"a\\tb\"]}", 0, 400, "bad_request", "tags[0]"},
        {"{\"tags\": [\"x\", \"x\"]}", 0, 400, "bad_request", "tags[1]"},
        {"{\"tags\": [\"012345678901234567890123456789012\"]}", 0, 400, "bad_request",
         "tags[0]"},
        {"{\"tags\": [\"\xff\"]}", 0, 400, "bad_request", "tags[0]"},
        {"{\"tags\": [\"\xed\xa0\x80\"]}", 0, 400, "bad_request", "tags[0]"},
        {many, 0, 400, "bad_request", "tags"},
        {"{\"note\": 3}", 0, 400, "bad_request", "note"},
        {"{\"note\": \"bell\\u0007\"}", 0, 400, "bad_request", "note"},
        {"{\"note\": \"\xc0\xaf\"}", 0, 400, "bad_request", "note"},
        {long_note, 0, 400, "bad_request", "note"},
        {"{\"note\": \"a\", \"note\": \"b\"}", 0, 400, "bad_request", "note"},
        {"{\"tags\": [], \"tags\": []}", 0, 400, "bad_request", "tags"},
        {"{\"tags\": [\"ok\"], \"status\": \"succeeded\"}", 0, 400, "bad_request", "status"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *hdr[] = {"Content-Type: application/json",
                             "Authorization: Bearer " TOKEN, NULL};
        ApiResp r;
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].body);
        apic_request(t.port, "PATCH", path, bad[i].body, len, hdr, &r);
        cJSON *e = cJSON_Parse(r.body);
        const cJSON *eo = cJSON_GetObjectItem(e, "error");
        const char *field = jstr(eo, "field");
        CHECK_MSG(r.status == bad[i].status && jstr(eo, "code") &&
                      strcmp(jstr(eo, "code"), bad[i].code) == 0 &&
                      (bad[i].field ? field && strcmp(field, bad[i].field) == 0 : !field),
                  "case %zu (%.40s): %ld %s", i, bad[i].body, r.status, r.body);
        cJSON_Delete(e);
        apic_free(&r);
    }
    /* not JSON, no token, no such run, a run id that does not parse */
    ApiResp r;
    const char *text_hdr[] = {"Content-Type: text/plain", "Authorization: Bearer " TOKEN, NULL};
    apic_request(t.port, "PATCH", path, "{}", 2, text_hdr, &r);
    CHECK_INT_EQ(r.status, 415);
    apic_free(&r);
    CHECK_INT_EQ(call_status(t.port, "PATCH", path, "{\"note\": \"x\"}", NULL), 401);
    CHECK_INT_EQ(call_status(t.port, "PATCH", "/v1/runs/999999", "{\"note\": \"x\"}", TOKEN), 404);
    CHECK_INT_EQ(call_status(t.port, "PATCH", "/v1/runs/x", "{\"note\": \"x\"}", TOKEN), 404);
    /* PATCH is allowed on a run, not on the list */
    apic_json(t.port, "PATCH", "/v1/runs", "{}", TOKEN, &r);
    CHECK_INT_EQ(r.status, 405);
    apic_free(&r);
    char *after = fingerprint_db(t.db, &err);
    CHECK_MSG(before && after && strcmp(before, after) == 0, "a refused PATCH changed the store");
    free(before);
    free(after);
    svc_stop(&t);
}

/* Method supervised through the API: refused without a fraction (400 naming the field,
 * nothing stored), accepted with one; its run skips dae, kmeans and simclr, ends with a
 * fine-tuning row holding only the from-scratch figures, and is what ?method=supervised
 * lists. The recorded answers go through the OpenAPI check like every other. */
TEST(api_supervised_run)
{
    Svc t;
    SvcOpts o = {0};
    long status;
    if (!svc_start(&t, &o))
        return;
    cJSON *j = call(t.port, "POST", "/v1/runs", "{\"method\": \"supervised\"}", NULL, &status);
    CHECK_INT_EQ(status, 400);
    const char *field = jstr(cJSON_GetObjectItemCaseSensitive(j, "error"), "field");
    CHECK_MSG(field && strcmp(field, "eval.finetune.fractions") == 0, "field %s",
              field ? field : "(none)");
    cJSON_Delete(j);
    j = call(t.port, "GET", "/v1/runs", NULL, NULL, &status);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "runs")), 0);
    cJSON_Delete(j);

    int64_t id = submit(t.port,
                        "{\"method\": \"supervised\", \"subset\": 600, \"test_subset\": 200,"
                        " \"threads\": 1, \"simclr\": {\"encoder\": {\"arch\": \"cnn3\","
                        " \"width\": 8, \"head\": [32, 16]}}, \"eval\": {\"linear\": {\"epochs\":"
                        " 2}, \"knn_k\": 10, \"finetune\": {\"fractions\": [0.1], \"epochs\": 2}}}",
                        NULL);
    cJSON *run = id ? wait_terminal(t.port, id, NULL) : NULL;
    const char *s = jstr(run, "status"), *m = jstr(run, "method");
    CHECK_MSG(s && strcmp(s, "succeeded") == 0, "status %s", s ? s : "(none)");
    CHECK_MSG(m && strcmp(m, "supervised") == 0, "method %s", m ? m : "(none)");
    const cJSON *st;
    int skipped = 0;
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(run, "stages"))
    {
        const char *name = jstr(st, "name"), *ss = jstr(st, "status");
        if (name && ss && strcmp(ss, "skipped") == 0)
            skipped |= strcmp(name, "dae") == 0 ? 1 : strcmp(name, "kmeans") == 0 ? 2
                       : strcmp(name, "simclr") == 0 ? 4 : 8;
    }
    CHECK_INT_EQ(skipped, 7);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(run, "result");
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "finetune"), 0);
    CHECK(row && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(row, "finetuned_top1")));
    CHECK(row && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(row, "gain")));
    double sc = jnum(row, "scratch_top1");
    CHECK_MSG(sc > 0 && sc <= 1, "scratch_top1 %g", sc);
    /* a tenth of each class of the 600 images, rounded per class */
    CHECK_MSG(jnum(row, "labels") >= 55 && jnum(row, "labels") <= 65, "labels %g",
              jnum(row, "labels"));
    cJSON_Delete(run);
    j = call(t.port, "GET", "/v1/runs?method=supervised", NULL, NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "runs")), 1);
    cJSON_Delete(j);
    svc_stop(&t);
}
