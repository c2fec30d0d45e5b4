/* test_contract.c — black-box tests of what gsimclrd promises machines beyond the JSON routes'
 * bodies: GET /v1/openapi.json serves docs/openapi.json byte for byte, without a token even
 * where every other call needs one; /metrics shows each running run's throughput and the
 * queue's waits with the values they must have, and passes Prometheus' own `promtool check
 * metrics` (when promtool is installed: scripts/install-deps installs it). The whole service
 * runs in-process on port 0 and is driven through real HTTP (apiclient.h). Every answer
 * received here is also checked against the OpenAPI document by tests/openapi/check.mjs when
 * tests/run-all records them. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, popen */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
#include "gs/service.h"
#include "harness.h"

#define CONTRACT_TOKEN "contract-token-0123456789abcdef"
#define OPENAPI_FILE "docs/openapi.json"

typedef struct {
    Service *svc;
    int port;
    char dir[64];
    char db[128], token_file[128];
} Daemon1;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* One worker, a token file, listening on listen ("127.0.0.1:0" or "0.0.0.0:0"). */
static bool daemon1_start(Daemon1 *d, const char *listen)
{
    GsErr err;
    ServiceConfig cfg;
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/gs_contract_XXXXXX");
    if (!mkdtemp(d->dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return false;
    }
    snprintf(d->db, sizeof d->db, "%s/db", d->dir);
    snprintf(d->token_file, sizeof d->token_file, "%s/token", d->dir);
    FILE *f = fopen(d->token_file, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(CONTRACT_TOKEN "\n", f);
        fclose(f);
    }
    service_config_defaults(&cfg);
    cfg.listen = listen;
    cfg.data_dir = d->db;
    cfg.token_file = d->token_file;
    cfg.web_dir = "web";
    cfg.examples_dir = "examples";
    cfg.workers = 1;
    cfg.threads = 2;
    if (service_start(&d->svc, &cfg, &err) != 0) {
        CHECK_MSG(0, "service_start: %s", err.msg);
        nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return false;
    }
    d->port = service_port(d->svc);
    CHECK(d->port > 0);
    return true;
}

static void daemon1_stop(Daemon1 *d)
{
    service_stop(d->svc);
    d->svc = NULL;
    nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_for(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* The whole of a file (NUL-terminated; *len its size), or NULL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = 0;
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

/* ---- GET /v1/openapi.json ----------------------------------------------------------------- */

TEST(contract_openapi_served_as_in_the_repository)
{
    size_t want_len = 0;
    char *want = slurp(OPENAPI_FILE, &want_len);
    CHECK_MSG(want != NULL, "cannot read %s (tests run from the repository's root)", OPENAPI_FILE);
    if (!want)
        return;
    /* beyond loopback every other API call needs the token: the contract never does */
    Daemon1 d;
    if (!daemon1_start(&d, "0.0.0.0:0")) {
        free(want);
        return;
    }
    ApiResp r;
    char ct[128];
    apic_request(d.port, "GET", "/v1/runs", NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 401);
    apic_free(&r);
    apic_request(d.port, "GET", "/v1/openapi.json", NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK(apic_header(&r, "Content-Type", ct, sizeof ct) && strcmp(ct, "application/json") == 0);
    CHECK_MSG(r.len == want_len && memcmp(r.body, want, want_len) == 0,
              "GET /v1/openapi.json (%zu bytes) differs from %s (%zu bytes): rebuild", r.len,
              OPENAPI_FILE, want_len);
    cJSON *doc = cJSON_Parse(r.body);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "openapi");
    CHECK(cJSON_IsString(v) && strncmp(v->valuestring, "3.1.", 4) == 0);
    cJSON_Delete(doc);
    apic_free(&r);
    apic_request(d.port, "HEAD", "/v1/openapi.json", NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ((long)r.len, 0);
    apic_free(&r);
    /* the route takes GET (and HEAD) only */
    const char *json[] = {"Content-Type: application/json",
                          "Authorization: Bearer " CONTRACT_TOKEN, NULL};
    apic_request(d.port, "POST", "/v1/openapi.json", "{}", 2, json, &r);
    CHECK_INT_EQ(r.status, 405);
    CHECK(apic_header(&r, "Allow", ct, sizeof ct) && strstr(ct, "GET") != NULL);
    apic_free(&r);
    daemon1_stop(&d);
    free(want);
}

/* ---- /metrics ------------------------------------------------------------------------------- */

/* GET /metrics: the body (the caller frees it), or NULL and a failed check. */
static char *scrape(int port)
{
    ApiResp r;
    apic_request(port, "GET", "/metrics", NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 200, "/metrics: %ld", r.status);
    char *body = r.status == 200 ? r.body : NULL;
    if (!body)
        free(r.body);
    free(r.headers);
    return body;
}

/* The value of the sample whose name and labels are exactly `series` (as written, e.g.
 * `gsimclr_queue_wait_seconds_count` or `x{run="3",stage="simclr"}`); NaN when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}

/* How many samples of family name (name, name{...}) the text has. */
static int count_samples(const char *text, const char *name)
{
    size_t n = strlen(name);
    int count = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '{'))
            count++;
    return count;
}

/* `promtool check metrics` on text: its exit status, 0 when it found nothing to say; -1 when
 * promtool is not installed (the check is then skipped, and says so once). */
static int promtool_check(const char *text, const char *dir)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        static bool said;
        if (!said)
            printf("    promtool is not installed (scripts/install-deps installs it): "
                   "/metrics not checked by it\n");
        said = true;
        return -1;
    }
    char file[192], cmd[512];
    snprintf(file, sizeof file, "%s/metrics.txt", dir);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (!f)
        return 1;
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", file);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p)
        return 1;
    char line[512];
    while (fgets(line, sizeof line, p))
        printf("    promtool: %s", line);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int64_t submit(int port, const char *config)
{
    ApiResp r;
    apic_json(port, "POST", "/v1/runs", config, CONTRACT_TOKEN, &r);
    CHECK_MSG(r.status == 201, "submit: %ld %.200s", r.status, r.body);
    cJSON *j = r.status == 201 ? cJSON_Parse(r.body) : NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    int64_t out = cJSON_IsNumber(id) ? (int64_t)id->valuedouble : 0;
    cJSON_Delete(j);
    apic_free(&r);
    return out;
}

static void cancel(int port, int64_t id)
{
    char path[64];
    ApiResp r;
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)id);
    apic_json(port, "POST", path, NULL, CONTRACT_TOKEN, &r);
    CHECK_MSG(r.status == 200, "cancel %lld: %ld", (long long)id, r.status);
    apic_free(&r);
}

/* Scrapes until run id shows a throughput (any stage): that value, or NaN after timeout_s. */
static double wait_throughput(int port, int64_t id, double timeout_s, char **last)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "gsimclr_run_images_per_second{run=\"%lld\",stage=\"simclr\"}",
             (long long)id);
    double t0 = mono_now();
    for (;;) {
        char *m = scrape(port);
        double v = m ? sample(m, prefix) : NAN;
        if (isfinite(v) || mono_now() - t0 > timeout_s || !m) {
            free(*last);
            *last = m;
            return v;
        }
        free(m);
        sleep_for(0.1);
    }
}

static bool run_is(int port, int64_t id, const char *status)
{
    char path[64];
    ApiResp r;
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)id);
    apic_request(port, "GET", path, NULL, 0, NULL, &r);
    cJSON *j = r.status == 200 ? cJSON_Parse(r.body) : NULL;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "status");
    bool is = cJSON_IsString(s) && strcmp(s->valuestring, status) == 0;
    cJSON_Delete(j);
    apic_free(&r);
    return is;
}

/* A SimCLR run that trains until canceled: no autoencoder, so it is in simclr within a
 * second; small enough that its epoch's throughput is measured after a few steps. */
#define LONG_RUN                                                                                \
    "{\"name\": \"%s\", \"method\": \"simclr\", \"subset\": 2000, \"test_subset\": 200,"       \
    " \"threads\": 1, \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 8,"            \
    " \"head\": [32, 16]}, \"epochs\": 500, \"batch\": 64, \"knn_every\": 0}}"

/* One worker, two runs: A trains while B waits behind it. /metrics shows A's throughput (and
 * none for the queued B), the oldest queued wait at least as long as B has waited, and, once
 * A is canceled and B started, a histogram of two waits whose sum holds B's; promtool passes
 * it at each point. */
TEST(contract_metrics_throughput_and_queue_wait)
{
    Daemon1 d;
    if (!daemon1_start(&d, "127.0.0.1:0"))
        return;
    char config[512], series[128], *m = NULL;
    snprintf(config, sizeof config, LONG_RUN, "a");
    int64_t a = submit(d.port, config);
    snprintf(config, sizeof config, LONG_RUN, "b");
    int64_t b = submit(d.port, config);
    double b_submitted = mono_now(); /* B was created before this: it waits at least since */
    if (!a || !b) {
        daemon1_stop(&d);
        return;
    }

    double rate = wait_throughput(d.port, a, 60, &m);
    CHECK_MSG(rate > 0, "run %lld's throughput: %g", (long long)a, rate);
    if (m) {
        snprintf(series, sizeof series, "gsimclr_run_images_per_second{run=\"%lld\"", (long long)b);
        CHECK_MSG(strstr(m, series) == NULL, "queued run %lld has a throughput", (long long)b);
        CHECK_INT_EQ(count_samples(m, "gsimclr_run_images_per_second"), 1);
        /* the summed gauge is the one run's */
        CHECK_CLOSE(sample(m, "gsimclr_train_images_per_second"), rate, 1e-3 * rate + 1e-3);
        CHECK(promtool_check(m, d.dir) <= 0);
    }
    free(m);
    m = NULL;

    /* B's wait so far, a lower bound taken before the scrape */
    sleep_for(1.0);
    double waited = mono_now() - b_submitted;
    m = scrape(d.port);
    double oldest = m ? sample(m, "gsimclr_queue_oldest_wait_seconds") : NAN;
    CHECK_MSG(oldest >= waited, "oldest queued wait %g s, but run %lld waited %g s", oldest,
              (long long)b, waited);
    CHECK(oldest < waited + 60);
    /* A's wait went in when it started; B's not yet */
    CHECK_CLOSE(m ? sample(m, "gsimclr_queue_wait_seconds_count") : NAN, 1, 0);
    free(m);
    m = NULL;

    double b_waited = mono_now() - b_submitted; /* it starts once A has ended */
    cancel(d.port, a);
    double rate_b = wait_throughput(d.port, b, 60, &m);
    CHECK_MSG(rate_b > 0, "run %lld's throughput: %g", (long long)b, rate_b);
    CHECK(run_is(d.port, a, "canceled"));
    if (m) {
        snprintf(series, sizeof series, "gsimclr_run_images_per_second{run=\"%lld\"", (long long)a);
        CHECK_MSG(strstr(m, series) == NULL, "ended run %lld has a throughput", (long long)a);
        CHECK_CLOSE(sample(m, "gsimclr_queue_oldest_wait_seconds"), 0, 0);
        double count = sample(m, "gsimclr_queue_wait_seconds_count");
        double sum = sample(m, "gsimclr_queue_wait_seconds_sum");
        CHECK_CLOSE(count, 2, 0);
        CHECK_MSG(sum >= b_waited - 0.001, "waits sum to %g s, run %lld alone waited %g s", sum,
                  (long long)b, b_waited);
        CHECK_CLOSE(sample(m, "gsimclr_queue_wait_seconds_bucket{le=\"+Inf\"}"), 2, 0);
        /* B is in no bucket below its wait; buckets count up */
        static const char *const les[] = {"0.1", "1", "5", "30", "60", "300", "900", "1800",
                                          "3600", "10800", "21600", "86400", "+Inf"};
        double prev = 0;
        for (size_t i = 0; i < sizeof les / sizeof les[0]; i++) {
            snprintf(series, sizeof series, "gsimclr_queue_wait_seconds_bucket{le=\"%s\"}", les[i]);
            double c = sample(m, series);
            CHECK_MSG(c >= prev, "bucket %s: %g after %g", les[i], c, prev);
            double le = strcmp(les[i], "+Inf") == 0 ? INFINITY : strtod(les[i], NULL);
            if (le < b_waited)
                CHECK_MSG(c <= 1, "bucket le=%s counts %g waits, but run %lld waited %g s",
                          les[i], c, (long long)b, b_waited);
            prev = c;
        }
        CHECK(promtool_check(m, d.dir) <= 0);
    }
    free(m);
    daemon1_stop(&d);
}
