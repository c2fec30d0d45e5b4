/* test_sweeps.c — sweeps and shared stages through the daemon's HTTP API, the service started
 * in-process on port 0: a sweep refused for every kind of bad key, value and grid with the
 * documented status, code and field and the store left byte for byte as it was; a small sweep
 * end to end (its table checked against the statistics of its runs' own results, the paired
 * differences, the CSV, the runs it shares between points, its pseudo-labels and clusters);
 * a run that reused a shared autoencoder or k-means equal bit for bit to its twin computed
 * alone in another daemon, what deleting the run that computed a shared stage does, and when
 * the stage goes; two workers wanting one key at once; cancel and delete of a whole sweep. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, symlink */
#include <cjson/cJSON.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
#include "fingerprint.h"
#include "gs/service.h"
#include "gs/stats.h"
#include "harness.h"
#include "../server/service/sweep.h"

/* ---- a service in a temporary folder ----------------------------------------------------- */

typedef struct {
    Service *svc;
    int port;
    char dir[64], db[128], root[128];
} Svc;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static bool svc_start(Svc *t, int workers)
{
    GsErr err;
    ServiceConfig cfg;
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/gs_sweep_XXXXXX");
    if (!mkdtemp(t->dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return false;
    }
    snprintf(t->db, sizeof t->db, "%s/db", t->dir);
    snprintf(t->root, sizeof t->root, "%s/root", t->dir);
    mkdir(t->root, 0755);
    char path[256];
    snprintf(path, sizeof path, "%s/evil", t->root);
    if (symlink("/etc", path) != 0)
        CHECK_MSG(0, "symlink %s failed", path);
    service_config_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.data_dir = t->db;
    cfg.data_root = t->root;
    cfg.web_dir = t->dir;
    cfg.workers = workers;
    cfg.threads = 1;
    if (service_start(&t->svc, &cfg, &err) != 0) {
        CHECK_MSG(0, "service_start: %s", err.msg);
        nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return false;
    }
    t->port = service_port(t->svc);
    return true;
}

static void svc_stop(Svc *t)
{
    service_stop(t->svc);
    t->svc = NULL;
    nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- requests ------------------------------------------------------------------------------ */

static cJSON *call(int port, const char *method, const char *path, const char *body,
                   long *status)
{
    ApiResp r;
    apic_json(port, method, path, body, NULL, &r);
    *status = r.status;
    cJSON *j = r.len ? cJSON_Parse(r.body) : NULL;
    apic_free(&r);
    return j;
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

/* Item i of an array as a number. */
static double jat(const cJSON *a, int i)
{
    const cJSON *it = cJSON_GetArrayItem(a, i);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* A base configuration small enough for a run to take a second or two: 400 images, a tiny
 * autoencoder and encoder, one SimCLR epoch. */
#define TINY_BASE                                                                          \
    "{\"subset\": 400, \"subset_random\": true, \"test_subset\": 200, \"threads\": 1,"     \
    " \"dae\": {\"filters\": [4, 8, 8], \"epochs\": 1, \"batch\": 64},"                    \
    " \"kmeans\": {\"k\": 8, \"n_init\": 1},"                                              \
    " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 4, \"head\": [16, 8]},"    \
    "              \"epochs\": 1, \"batch\": 32},"                                          \
    " \"eval\": {\"linear\": {\"epochs\": 2}, \"knn_k\": 10}}"

static bool sweep_ended(const cJSON *s)
{
    const cJSON *c = jget(s, "counts");
    return jnum(c, "queued") == 0 && jnum(c, "running") == 0;
}

/* Polls the sweep until none of its runs is queued or running; the last sweep object, NULL
 * when it made no progress for a minute. */
static cJSON *wait_sweep(int port, int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/sweeps/%lld", (long long)id);
    double last_change = 0, last_progress = -1;
    for (int i = 0; i < 20000; i++) {
        long status;
        cJSON *s = call(port, "GET", path, NULL, &status);
        if (status != 200) {
            cJSON_Delete(s);
            return NULL;
        }
        if (sweep_ended(s))
            return s;
        double p = jnum(s, "progress") + jnum(jget(s, "counts"), "running") * 1e-3;
        cJSON_Delete(s);
        if (p != last_progress) {
            last_progress = p;
            last_change = i;
        } else if (i - last_change > 600) {
            CHECK_MSG(0, "sweep %lld made no progress for a minute", (long long)id);
            return NULL;
        }
        sleep_ms(100);
    }
    return NULL;
}

static int64_t post_sweep(int port, const char *body)
{
    long status;
    cJSON *j = call(port, "POST", "/v1/sweeps", body, &status);
    int64_t id = (int64_t)jnum(j, "id");
    CHECK_MSG(status == 201 && id > 0, "POST /v1/sweeps: %ld", status);
    if (status != 201) {
        char *t = cJSON_PrintUnformatted(j);
        printf("    %s\n", t ? t : "(no body)");
        free(t);
    }
    cJSON_Delete(j);
    return status == 201 ? id : 0;
}

/* ---- validation ----------------------------------------------------------------------------- */

typedef struct {
    const char *body;
    long status;
    const char *code, *field, *message; /* field NULL: none expected; message: a part of it */
} Bad;

/* Every committed sweep (examples/sweep-*.json: BENCHMARKS.md names them as the way to
 * reproduce its tables) plans whole, with the points it promises. */
TEST(sweep_committed_examples_plan)
{
    static const struct {
        const char *path;
        int points;
    } files[] = {{"examples/sweep-quick.json", 6},
                 {"examples/sweep-gsimclr-vs-simclr.json", 10},
                 {"examples/sweep-k-vs-batch.json", 24}};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        FILE *f = fopen(files[i].path, "rb");
        CHECK_MSG(f != NULL, "%s: cannot open", files[i].path);
        if (!f)
            continue;
        char body[8192];
        size_t n = fread(body, 1, sizeof body, f);
        fclose(f);
        CHECK_MSG(n < sizeof body, "%s: larger than the test reads", files[i].path);
        SweepPlan plan;
        SweepError where;
        memset(&where, 0, sizeof where);
        GsErr err = {{0}};
        int rc = sweep_plan(body, n, NULL, 0, &plan, &where, &err);
        CHECK_MSG(rc == 0, "%s: %s (field %s)", files[i].path, err.msg, where.field);
        if (rc != 0)
            continue;
        CHECK_MSG(plan.n_points == files[i].points, "%s: %d points", files[i].path,
                  plan.n_points);
        sweep_plan_free(&plan);
    }
}

/* A fine-tuning figure as a sweep's metric (NAME@FRACTION): planned only when every run
 * fine-tunes on that fraction, and read from the fraction's row of each result's list. */
TEST(sweep_metric_finetuning)
{
    const char *body = "{\"base\": {\"eval\": {\"finetune\": {\"fractions\": [0.01, 0.1]}}},"
                       " \"grid\": {\"method\": [\"gsimclr\", \"simclr\"], \"seed\": [1, 2]},"
                       " \"metric\": \"finetune_gain@0.01\"}";
    SweepPlan plan;
    SweepError where;
    GsErr err = {{0}};
    memset(&where, 0, sizeof where);
    int rc = sweep_plan(body, strlen(body), NULL, 0, &plan, &where, &err);
    CHECK_MSG(rc == 0, "%s (field %s)", err.msg, where.field);
    if (rc != 0)
        return;
    CHECK_INT_EQ(plan.n_points, 4);
    /* points in grid order: (gsimclr, 1), (gsimclr, 2), (simclr, 1), (simclr, 2); each its
     * own run; the 0.01 row's gain is what the table must average, the 0.1 row a decoy */
    static const double gain[4] = {0.020, 0.030, -0.010, 0.004};
    StoreSweepPoint pts[4];
    char *results[4];
    for (int p = 0; p < 4; p++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"linear_top1\": 0.88, \"finetune\": [{\"fraction\": 0.1, \"gain\": 0.5, "
                 "\"finetuned_top1\": 0.9, \"scratch_top1\": 0.4}, {\"fraction\": 0.01, "
                 "\"gain\": %.3f, \"finetuned_top1\": %.3f, \"scratch_top1\": 0.7}]}",
                 gain[p], 0.7 + gain[p]);
        results[p] = strdup(text);
        pts[p] = (StoreSweepPoint){.point = p, .run = plan.run_of[p] + 1,
                                   .status = RUN_SUCCEEDED, .result_json = results[p]};
    }
    StoreSweep sw = {.id = 1, .runs = 4, .spec_json = plan.spec_json};
    snprintf(sw.name, sizeof sw.name, "ft");
    snprintf(sw.metric, sizeof sw.metric, "%s", "finetune_gain@0.01");
    cJSON *j = sweep_json(&sw, pts, 4, true, &err);
    CHECK_MSG(j != NULL, "%s", err.msg);
    CHECK(streq(jstr(j, "unit"), "fraction"));
    const cJSON *row;
    int rows = 0;
    cJSON_ArrayForEach(row, jget(j, "rows"))
    {
        const char *label = jstr(row, "label");
        double want = label && strstr(label, "simclr") && !strstr(label, "gsimclr")
                          ? (gain[2] + gain[3]) / 2
                          : (gain[0] + gain[1]) / 2;
        double got = jnum(row, "mean");
        CHECK_MSG(fabs(got - want) < 1e-9, "row %s: mean %g, want %g", label, got, want);
        CHECK_INT_EQ((int)jnum(row, "n"), 2);
        rows++;
    }
    CHECK_INT_EQ(rows, 2);
    cJSON_Delete(j);
    for (int p = 0; p < 4; p++)
        free(results[p]);
    sweep_plan_free(&plan);
}

TEST(sweep_refused_whole_and_nothing_stored)
{
    Svc t;
    if (!svc_start(&t, 1))
        return;
    GsErr err;
    char *before = fingerprint_db(t.db, &err);
    CHECK_MSG(before != NULL, "%s", err.msg);
    static const Bad cases[] = {
        /* a key that is no field */
        {"{\"base\": {}, \"grid\": {\"simclr.bach\": [64]}}", 400, "invalid_sweep",
         "grid.simclr.bach", "simclr.bach: unknown field"},
        /* a bad value, named with its place in the list */
        {"{\"grid\": {\"simclr.batch\": [64, 1]}}", 400, "invalid_sweep", "grid.simclr.batch",
         "grid.simclr.batch[1]: simclr.batch: must be an integer in 2..4096, got 1"},
        {"{\"grid\": {\"method\": [\"gsimclr\", \"byol\"]}}", 400, "invalid_sweep",
         "grid.method", "must be one of gsimclr, simclr, supervised, got \"byol\""},
        /* a path through something that is not an object */
        {"{\"base\": {\"seed\": 3}, \"grid\": {\"seed.x\": [1]}}", 400, "invalid_sweep",
         "grid.seed.x", "grid.seed.x: seed is not an object in the configuration"},
        {"{\"grid\": {\"seed.x\": [1]}}", 400, "invalid_sweep", "grid.seed.x",
         "grid.seed.x[0]: seed: must be an integer"},
        {"{\"grid\": {\"simclr..batch\": [1]}}", 400, "invalid_sweep", "grid.simclr..batch",
         "dotted path"},
        /* empty grids and lists */
        {"{\"grid\": {}}", 400, "invalid_sweep", "grid", "1..16 keys"},
        {"{\"grid\": []}", 400, "invalid_sweep", "grid", "1..16 grids"},
        {"{\"grid\": {\"seed\": []}}", 400, "invalid_sweep", "grid.seed", "1..64 values"},
        {"{\"grid\": {\"seed\": 3}}", 400, "invalid_sweep", "grid.seed", "1..64 values"},
        {"{\"base\": {}}", 400, "invalid_sweep", "grid", "missing"},
        /* too large: 5 x 64 points */
        {"{\"grid\": {\"seed\": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,"
         "23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,"
         "51,52,53,54,55,56,57,58,59,60,61,62,63], \"kmeans.k\": [2, 3, 4, 5, 6]}}",
         400, "invalid_sweep", "grid", "more than 256 points"},
        {"{\"grid\": {\"seed\": [1, 2, 1]}}", 400, "invalid_sweep", "grid.seed",
         "grid.seed[2]: 1 is given twice"},
        {"{\"grid\": {\"name\": [\"a\"]}}", 400, "invalid_sweep", "grid.name", "names its runs"},
        {"{\"grid\": [{\"seed\": [1]}, {\"kmeans.k\": [8]}]}", 400, "invalid_sweep",
         "grid.kmeans.k", "not a key of grid[0]"},
        /* the base, the metric, the top level */
        {"{\"base\": {\"seed\": \"x\"}, \"grid\": {\"kmeans.k\": [8]}}", 400, "invalid_sweep",
         "base.seed", "base.seed: must be an integer"},
        {"{\"base\": {\"name\": \"x\"}, \"grid\": {\"seed\": [1]}}", 400, "invalid_sweep",
         "base.name", "named after the sweep"},
        {"{\"base\": [], \"grid\": {\"seed\": [1]}}", 400, "invalid_sweep", "base",
         "must be a run configuration"},
        {"{\"grid\": {\"seed\": [1]}, \"metric\": \"accuracy\"}", 400, "invalid_sweep", "metric",
         "must be one of linear_top1"},
        {"{\"grid\": {\"seed\": [1]}, \"seeds\": 3}", 400, "invalid_sweep", "seeds",
         "unknown field"},
        /* a fine-tuning metric: its fraction fine-tuned (and from scratch) in every run */
        {"{\"grid\": {\"seed\": [1]}, \"metric\": \"finetuned_top1@0.01\"}", 400,
         "invalid_sweep", "metric", "needs eval.finetune.fractions to hold 0.01"},
        {"{\"base\": {\"eval\": {\"finetune\": {\"fractions\": [0.01]}}}, \"grid\": "
         "{\"eval.finetune.fractions\": [[0.01], [0.1]]}, \"metric\": \"scratch_top1@0.01\"}",
         400, "invalid_sweep", "metric", "grid point 1"},
        {"{\"base\": {\"eval\": {\"finetune\": {\"fractions\": [0.01], \"from_scratch\": "
         "false}}}, \"grid\": {\"seed\": [1]}, \"metric\": \"finetune_gain@0.01\"}", 400,
         "invalid_sweep", "metric", "needs eval.finetune.from_scratch"},
        {"{\"base\": {\"eval\": {\"finetune\": {\"fractions\": [0.01]}}}, \"grid\": "
         "{\"seed\": [1]}, \"metric\": \"finetuned_top1@1.5\"}", 400, "invalid_sweep",
         "metric", "finetuned_top1@F"},
        {"{\"grid\": {\"seed\": [1]}, \"metric\": \"finetuned_top1@0.01x\"}", 400,
         "invalid_sweep", "metric", "must be one of"},
        {"{\"name\": \"a\\u0001b\", \"grid\": {\"seed\": [1]}}", 400, "invalid_sweep", "name",
         "control characters"},
        /* a combination refused as POST /v1/runs refuses it, naming the point */
        {"{\"base\": {\"subset\": 100}, \"grid\": {\"kmeans.k\": [8, 200]}}", 400,
         "invalid_sweep", "grid.kmeans.k", "grid point 1 (kmeans.k=200): kmeans.k: 200 "
         "clusters for a subset of 100"},
        {"{\"base\": {\"kmeans\": {\"k\": 300}}, \"grid\": {\"subset\": [1000, 200]}}", 400,
         "invalid_sweep", "grid", "grid point 1 (subset=200): kmeans.k: 300 clusters"},
        {"{\"grid\": {\"dataset\": [\"fashion-mnist\", \"evil\"]}}", 403, "forbidden",
         "grid.dataset", "grid point 1 (dataset=evil)"},
        {"{\"grid\": {\"dataset\": [\"no-such-set\"]}}", 400, "invalid_sweep", "grid.dataset",
         "dataset"},
        /* not a sweep at all */
        {"[1, 2]", 400, "bad_json", NULL, "must be a JSON object"},
        {"{\"grid\": ", 400, "bad_json", NULL, "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const Bad *c = &cases[i];
        long status;
        cJSON *j = call(t.port, "POST", "/v1/sweeps", c->body, &status);
        const cJSON *e = jget(j, "error");
        CHECK_MSG(status == c->status, "case %zu: status %ld, want %ld", i, status, c->status);
        CHECK_MSG(streq(jstr(e, "code"), c->code), "case %zu: code %s", i, jstr(e, "code"));
        if (c->field)
            CHECK_MSG(streq(jstr(e, "field"), c->field), "case %zu: field %s, want %s", i,
                      jstr(e, "field"), c->field);
        else
            CHECK_MSG(!jget(e, "field"), "case %zu: field %s", i, jstr(e, "field"));
        CHECK_MSG(jstr(e, "message") && strstr(jstr(e, "message"), c->message),
                  "case %zu: message \"%s\" lacks \"%s\"", i, jstr(e, "message"), c->message);
        cJSON_Delete(j);
    }
    /* the wrong content type, and unknown sweeps */
    ApiResp r;
    apic_request(t.port, "POST", "/v1/sweeps", "{}", 2, NULL, &r);
    CHECK_INT_EQ(r.status, 415);
    apic_free(&r);
    long status;
    cJSON *j = call(t.port, "GET", "/v1/sweeps/99", NULL, &status);
    CHECK_INT_EQ(status, 404);
    CHECK(streq(jstr(jget(j, "error"), "message"), "no sweep 99"));
    cJSON_Delete(j);
    j = call(t.port, "GET", "/v1/sweeps/x1", NULL, &status);
    CHECK_INT_EQ(status, 404);
    CHECK(jstr(jget(j, "error"), "message") &&
          strstr(jstr(jget(j, "error"), "message"), "sweep ids are positive integers"));
    cJSON_Delete(j);
    cJSON_Delete(call(t.port, "POST", "/v1/sweeps/99/cancel", NULL, &status));
    CHECK_INT_EQ(status, 404);
    cJSON_Delete(call(t.port, "DELETE", "/v1/sweeps/99", NULL, &status));
    CHECK_INT_EQ(status, 404);

    char *after = fingerprint_db(t.db, &err);
    CHECK_MSG(before && after && strcmp(before, after) == 0, "the store changed: %s -> %s",
              before, after);
    free(before);
    free(after);
    svc_stop(&t);
}

/* ---- a small sweep end to end ----------------------------------------------------------- */

/* run id -> its result's field, from GET /v1/runs/{id}. */
static double run_result(int port, int64_t id, const char *field)
{
    char path[64];
    long status;
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)id);
    cJSON *j = call(port, "GET", path, NULL, &status);
    double v = jnum(jget(j, "result"), field);
    cJSON_Delete(j);
    return v;
}

static const cJSON *find_row(const cJSON *s, const char *label)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, jget(s, "rows")) if (streq(jstr(r, "label"), label)) return r;
    return NULL;
}

TEST(sweep_small_end_to_end)
{
    Svc t;
    if (!svc_start(&t, 2))
        return;
    const char *body = "{\"name\": \"e2e\", \"base\": " TINY_BASE ","
                       " \"grid\": {\"method\": [\"gsimclr\", \"simclr\"], \"kmeans.k\": [8, 16],"
                       " \"seed\": [1, 2, 3, 4, 5]}}";
    long status;
    cJSON *s = call(t.port, "POST", "/v1/sweeps", body, &status);
    CHECK_INT_EQ(status, 201);
    int64_t id = (int64_t)jnum(s, "id");
    /* 20 points, but SimCLR ignores k: its points share 5 runs */
    CHECK_INT_EQ((int)jnum(s, "points"), 20);
    CHECK_INT_EQ((int)jnum(s, "runs"), 15);
    cJSON_Delete(s);
    if (id <= 0) {
        svc_stop(&t);
        return;
    }
    s = wait_sweep(t.port, id);
    if (!s) {
        svc_stop(&t);
        return;
    }
    CHECK(streq(jstr(s, "status"), "succeeded"));
    CHECK_INT_EQ((int)jnum(jget(s, "counts"), "succeeded"), 15);
    CHECK_CLOSE(jnum(s, "progress"), 1.0, 0);
    CHECK_INT_EQ(cJSON_GetArraySize(jget(s, "rows")), 4);

    /* each row's statistics are those of its runs' own results */
    const cJSON *pt;
    const char *labels[] = {"method=gsimclr kmeans.k=8", "method=gsimclr kmeans.k=16",
                            "method=simclr kmeans.k=8", "method=simclr kmeans.k=16"};
    double vals[4][5];
    for (int r = 0; r < 4; r++) {
        const cJSON *row = find_row(s, labels[r]);
        CHECK_MSG(row != NULL, "no row %s", labels[r]);
        int n = 0;
        cJSON_ArrayForEach(pt, jget(s, "points_runs"))
        {
            char want[80];
            snprintf(want, sizeof want, "%s seed=%d", labels[r], n + 1);
            if (n < 5 && streq(jstr(pt, "label"), want))
                vals[r][n++] = run_result(t.port, (int64_t)jnum(pt, "run"), "linear_top1");
        }
        CHECK_INT_EQ(n, 5);
        StatsInterval ti = stats_t_interval(vals[r], 5, 0.95);
        CHECK_INT_EQ((int)jnum(row, "n"), 5);
        CHECK_CLOSE(jnum(row, "mean"), ti.mean, 1e-12);
        CHECK_CLOSE(jnum(row, "sd"), ti.sd, 1e-12);
        CHECK_CLOSE(jat(jget(row, "ci95"), 0), ti.lo, 1e-12);
        CHECK_CLOSE(jat(jget(row, "ci95"), 1), ti.hi, 1e-12);
        /* five seeds: a bootstrap interval, around the mean */
        const cJSON *b = jget(row, "bootstrap95");
        CHECK(cJSON_GetArraySize(b) == 2);
        CHECK(jat(b, 0) <= ti.mean && jat(b, 1) >= ti.mean);
        CHECK(cJSON_IsNumber(jget(jget(row, "figures"), "knn_top1")));
        CHECK(cJSON_IsNumber(jget(jget(row, "figures"), "purity")) == (r < 2));
    }
    /* SimCLR's two rows are the same runs */
    for (int k = 0; k < 5; k++)
        CHECK(vals[2][k] == vals[3][k]);

    /* pairs differing in one key: method at each k, k for G-SimCLR; not k for SimCLR (one set
     * of runs) */
    int n_pairs = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, jget(s, "pairs"))
    {
        n_pairs++;
        const char *param = jstr(p, "param");
        CHECK(!(streq(param, "kmeans.k") && streq(jstr(p, "where"), "method=simclr")));
        if (streq(param, "method") && streq(jstr(p, "where"), "kmeans.k=16")) {
            StatsPaired sp = stats_paired_t(vals[1], vals[3], 5, 0.95);
            CHECK(streq(jstr(p, "a"), "gsimclr") && streq(jstr(p, "b"), "simclr"));
            CHECK_INT_EQ((int)jnum(p, "n"), 5);
            CHECK_CLOSE(jnum(p, "mean"), sp.mean, 1e-12);
            if (isfinite(sp.p))
                CHECK_CLOSE(jnum(p, "p"), sp.p, 1e-12);
            CHECK(streq(jstr(p, "test"), "paired t-test, two-sided"));
        }
    }
    CHECK_INT_EQ(n_pairs, 3);

    /* the k = 16 runs reused the autoencoder of the k = 8 runs of their seed */
    CHECK_INT_EQ((int)jnum(jget(s, "shared"), "runs_reused"), 5);
    CHECK(jnum(jget(s, "shared"), "seconds_saved") > 0);

    /* the CSV: a header and a line per row */
    ApiResp r;
    char path[96];
    snprintf(path, sizeof path, "/v1/sweeps/%lld/table.csv", (long long)id);
    apic_request(t.port, "GET", path, NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    char hdr[128];
    CHECK(apic_header(&r, "Content-Type", hdr, sizeof hdr) && strstr(hdr, "text/csv"));
    static const char head[] = "method,kmeans.k,n,mean,sd,ci95_lo,ci95_hi,bootstrap95_lo,";
    CHECK_MSG(strncmp(r.body, head, sizeof head - 1) == 0, "CSV: %.200s", r.body);
    int lines = 0;
    for (const char *c = r.body; *c; c++)
        lines += *c == '\n';
    CHECK_INT_EQ(lines, 5);
    CHECK(strstr(r.body, "\ngsimclr,16,5,") != NULL);
    apic_free(&r);

    /* a reused run is a whole run: its sweep, its shared stages, its stages, metrics,
     * pseudo-labels and clusters */
    int64_t reused = 0, computed = 0;
    cJSON_ArrayForEach(pt, jget(s, "points_runs"))
    {
        if (streq(jstr(pt, "label"), "method=gsimclr kmeans.k=16 seed=2"))
            reused = (int64_t)jnum(pt, "run");
        if (streq(jstr(pt, "label"), "method=gsimclr kmeans.k=8 seed=2"))
            computed = (int64_t)jnum(pt, "run");
    }
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)reused);
    cJSON *run = call(t.port, "GET", path, NULL, &status);
    CHECK_INT_EQ((int64_t)jnum(run, "sweep"), id);
    const cJSON *sh = jget(run, "shared_stages");
    CHECK_INT_EQ(cJSON_GetArraySize(sh), 2);
    CHECK(streq(jstr(cJSON_GetArrayItem(sh, 0), "stage"), "dae") &&
          cJSON_IsTrue(jget(cJSON_GetArrayItem(sh, 0), "reused")) &&
          (int64_t)jnum(cJSON_GetArrayItem(sh, 0), "computed_by") == computed);
    CHECK(streq(jstr(cJSON_GetArrayItem(sh, 1), "stage"), "kmeans") &&
          cJSON_IsFalse(jget(cJSON_GetArrayItem(sh, 1), "reused")));
    const cJSON *dae = cJSON_GetArrayItem(jget(run, "stages"), 0);
    CHECK(streq(jstr(dae, "status"), "succeeded") && jnum(dae, "seconds") == 0 &&
          jnum(dae, "epoch") == 1);
    CHECK(jnum(jget(run, "result"), "dae_seconds") == 0);
    cJSON_Delete(run);
    snprintf(path, sizeof path, "/v1/runs/%lld/metrics?stage=dae&name=loss", (long long)reused);
    cJSON *m = call(t.port, "GET", path, NULL, &status);
    CHECK_INT_EQ(cJSON_GetArraySize(jget(m, "metrics")), 1);
    cJSON_Delete(m);
    snprintf(path, sizeof path, "/v1/runs/%lld/clusters", (long long)reused);
    cJSON *cl = call(t.port, "GET", path, NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK_INT_EQ((int)jnum(cl, "k"), 16);
    cJSON_Delete(cl);

    /* the list, and the run list's sweep tag */
    cJSON *list = call(t.port, "GET", "/v1/sweeps", NULL, &status);
    CHECK_INT_EQ(status, 200);
    CHECK_INT_EQ((int)jnum(list, "total"), 1);
    const cJSON *first = cJSON_GetArrayItem(jget(list, "sweeps"), 0);
    CHECK(streq(jstr(first, "name"), "e2e") && streq(jstr(first, "status"), "succeeded") &&
          !jget(first, "rows"));
    cJSON_Delete(list);
    cJSON_Delete(s);
    svc_stop(&t);
}

/* ---- shared stages: bit for bit ------------------------------------------------------------ */

/* A tiny run config with the given seed, k, SimCLR epochs and name. */
static void tiny_run(char *buf, size_t cap, int seed, int k, int epochs, const char *name)
{
    snprintf(buf, cap,
             "{\"name\": \"%s\", \"seed\": %d, \"subset\": 400, \"subset_random\": true,"
             " \"test_subset\": 200, \"threads\": 1,"
             " \"dae\": {\"filters\": [4, 8, 8], \"epochs\": 2, \"batch\": 64},"
             " \"kmeans\": {\"k\": %d, \"n_init\": 2},"
             " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 4, \"head\": [16, 8]},"
             "              \"epochs\": %d, \"batch\": 32},"
             " \"eval\": {\"linear\": {\"epochs\": 2}, \"knn_k\": 10}}",
             name, seed, k, epochs);
}

static int64_t submit_run(int port, const char *config)
{
    long status;
    cJSON *j = call(port, "POST", "/v1/runs", config, &status);
    int64_t id = (int64_t)jnum(j, "id");
    CHECK_MSG(status == 201, "POST /v1/runs: %ld", status);
    cJSON_Delete(j);
    return id;
}

static cJSON *wait_run(int port, int64_t id)
{
    cJSON *j = apic_wait_run(port, id, apic_run_ended, NULL, 120);
    CHECK_MSG(j && streq(jstr(j, "status"), "succeeded"), "run %lld: %s (%s)", (long long)id,
              j ? jstr(j, "status") : "stalled", j ? jstr(j, "error") : "");
    return j;
}

/* The result fields of a and b equal bit for bit, the wall times aside. */
static void check_same_result(const cJSON *a, const cJSON *b, const char *what)
{
    const cJSON *ra = jget(a, "result"), *rb = jget(b, "result"), *f;
    int n = 0;
    cJSON_ArrayForEach(f, ra)
    {
        if (strstr(f->string, "_seconds"))
            continue;
        const cJSON *g = jget(rb, f->string);
        /* numbers bit for bit; texts and lists (test_split, skipped) as they are */
        bool same = cJSON_IsNumber(f) ? cJSON_IsNumber(g) && g->valuedouble == f->valuedouble
                                      : cJSON_Compare(f, g, true);
        CHECK_MSG(same, "%s: result %s differs: %.17g vs %.17g", what, f->string, f->valuedouble,
                  g ? g->valuedouble : NAN);
        n++;
    }
    CHECK_MSG(n >= 10, "%s: only %d result fields", what, n);
}

/* GET path's body (the caller frees it). */
static char *get_body(int port, const char *path)
{
    ApiResp r;
    apic_request(port, "GET", path, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 200, "GET %s: %ld", path, r.status);
    char *b = r.status == 200 ? strdup(r.body) : NULL;
    apic_free(&r);
    return b;
}

static void check_same_labels(int pa, int64_t a, int pb, int64_t b, const char *what)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/runs/%lld/pseudo-labels?format=json", (long long)a);
    char *la = get_body(pa, path);
    snprintf(path, sizeof path, "/v1/runs/%lld/pseudo-labels?format=json", (long long)b);
    char *lb = get_body(pb, path);
    CHECK_MSG(la && lb && strcmp(la, lb) == 0, "%s: the pseudo-labels differ", what);
    free(la);
    free(lb);
}

/* The metrics of stages simclr and eval as "stage name epoch step value" lines. */
static char *training_metrics(int port, int64_t id)
{
    char path[96];
    long status;
    snprintf(path, sizeof path, "/v1/runs/%lld/metrics", (long long)id);
    cJSON *j = call(port, "GET", path, NULL, &status);
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    const cJSON *m;
    cJSON_ArrayForEach(m, jget(j, "metrics"))
    {
        const char *stage = jstr(m, "stage"), *name = jstr(m, "name");
        if (!out || streq(name, "images_per_s") || streq(stage, "dae") || len + 200 > cap)
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s %s %g %g %.17g\n", stage, name,
                                jnum(m, "epoch"), jnum(m, "step"), jnum(m, "value"));
    }
    cJSON_Delete(j);
    return out;
}

static long count_rows(const char *db_dir, const char *sql)
{
    char path[256];
    snprintf(path, sizeof path, "%s/gsimclr.db", db_dir);
    sqlite3 *db = NULL;
    long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return n;
}

TEST(sweep_shared_stage_equals_its_twin_bit_for_bit)
{
    Svc a, b;
    if (!svc_start(&a, 1))
        return;
    if (!svc_start(&b, 1)) {
        svc_stop(&a);
        return;
    }
    char cfg[1024];
    /* in daemon a: run 1 computes the autoencoder and k-means of seed 7, k 8; run 2 (two
     * SimCLR epochs) reuses both; run 3 (k 12) reuses the autoencoder only */
    tiny_run(cfg, sizeof cfg, 7, 8, 1, "computes");
    int64_t a1 = submit_run(a.port, cfg);
    tiny_run(cfg, sizeof cfg, 7, 8, 2, "reuses k-means");
    int64_t a2 = submit_run(a.port, cfg);
    int64_t b2 = submit_run(b.port, cfg); /* its twin, alone */
    tiny_run(cfg, sizeof cfg, 7, 12, 1, "reuses the autoencoder");
    int64_t a3 = submit_run(a.port, cfg);
    int64_t b3 = submit_run(b.port, cfg);
    cJSON *r1 = wait_run(a.port, a1), *r2 = wait_run(a.port, a2), *r3 = wait_run(a.port, a3);
    cJSON *t2 = wait_run(b.port, b2), *t3 = wait_run(b.port, b3);
    if (!r1 || !r2 || !r3 || !t2 || !t3)
        goto out;

    /* who computed what */
    const cJSON *s2 = jget(r2, "shared_stages"), *s3 = jget(r3, "shared_stages");
    CHECK_INT_EQ(cJSON_GetArraySize(s2), 1);
    CHECK(streq(jstr(cJSON_GetArrayItem(s2, 0), "stage"), "kmeans") &&
          cJSON_IsTrue(jget(cJSON_GetArrayItem(s2, 0), "reused")) &&
          (int64_t)jnum(cJSON_GetArrayItem(s2, 0), "computed_by") == a1);
    CHECK_INT_EQ(cJSON_GetArraySize(s3), 2);
    CHECK(cJSON_IsTrue(jget(cJSON_GetArrayItem(s3, 0), "reused")) &&
          cJSON_IsFalse(jget(cJSON_GetArrayItem(s3, 1), "reused")));
    /* in daemon b the twins computed their own (b2 first: b3 then reused b2's autoencoder) */
    const cJSON *st2 = jget(t2, "shared_stages");
    CHECK(cJSON_GetArraySize(st2) == 2 && cJSON_IsFalse(jget(cJSON_GetArrayItem(st2, 1), "reused")));

    check_same_result(r2, t2, "k-means reused");
    check_same_result(r3, t3, "autoencoder reused");
    check_same_labels(a.port, a2, b.port, b2, "k-means reused");
    check_same_labels(a.port, a3, b.port, b3, "autoencoder reused");
    char *m2 = training_metrics(a.port, a2), *n2 = training_metrics(b.port, b2);
    CHECK_MSG(m2 && n2 && strcmp(m2, n2) == 0, "the reused run's metrics differ:\n%s---\n%s",
              m2, n2);
    free(m2);
    free(n2);
    /* the reused stages' figures are the computing run's, none of their time */
    CHECK(jnum(jget(r2, "result"), "dae_seconds") == 0 &&
          jnum(jget(r2, "result"), "kmeans_seconds") == 0);
    CHECK(jnum(jget(r3, "result"), "kmeans_seconds") > 0);

    /* another seed is another autoencoder: nothing to reuse */
    tiny_run(cfg, sizeof cfg, 8, 8, 1, "another seed");
    int64_t a5 = submit_run(a.port, cfg);
    cJSON *r5 = wait_run(a.port, a5);
    const cJSON *s5 = jget(r5, "shared_stages");
    CHECK_MSG(cJSON_GetArraySize(s5) == 2 && cJSON_IsFalse(jget(cJSON_GetArrayItem(s5, 0), "reused")) &&
                  cJSON_IsFalse(jget(cJSON_GetArrayItem(s5, 1), "reused")),
              "seed 8 reused a stage of seed 7");
    cJSON_Delete(r5);
    char path5[64];
    long status5;
    snprintf(path5, sizeof path5, "/v1/runs/%lld", (long long)a5);
    cJSON_Delete(call(a.port, "DELETE", path5, NULL, &status5));

    /* stored once: the reused run has no checkpoint of the stages it reused */
    char path[96];
    long status;
    snprintf(path, sizeof path, "/v1/runs/%lld/checkpoints", (long long)a2);
    cJSON *ck = call(a.port, "GET", path, NULL, &status);
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(ck, "checkpoints"))
        CHECK(streq(jstr(c, "stage"), "simclr"));
    cJSON_Delete(ck);
    CHECK_INT_EQ(count_rows(a.db, "SELECT count(*) FROM shared_stages"), 3);
    CHECK_INT_EQ(count_rows(a.db, "SELECT count(DISTINCT shared_id) FROM shared_assignments"), 2);

    /* deleting the run that computed them keeps them while others use them */
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)a1);
    cJSON_Delete(call(a.port, "DELETE", path, NULL, &status));
    CHECK_INT_EQ(status, 204);
    check_same_labels(a.port, a2, b.port, b2, "k-means reused, its computing run deleted");
    CHECK_INT_EQ(count_rows(a.db, "SELECT count(*) FROM shared_stages"), 3);
    /* and a later run reuses them still */
    tiny_run(cfg, sizeof cfg, 7, 8, 2, "reuses after the delete");
    int64_t a4 = submit_run(a.port, cfg);
    cJSON *r4 = wait_run(a.port, a4);
    if (r4) {
        check_same_result(r4, t2, "k-means reused after its computing run was deleted");
        CHECK((int64_t)jnum(cJSON_GetArrayItem(jget(r4, "shared_stages"), 0), "computed_by") == a1);
    }
    cJSON_Delete(r4);
    /* each shared stage goes with its last user */
    int64_t ids[] = {a2, a3, a4};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/v1/runs/%lld", (long long)ids[i]);
        cJSON_Delete(call(a.port, "DELETE", path, NULL, &status));
        CHECK_INT_EQ(status, 204);
    }
    CHECK_INT_EQ(count_rows(a.db, "SELECT count(*) FROM shared_stages"), 0);
    CHECK_INT_EQ(count_rows(a.db, "SELECT count(*) FROM shared_assignments"), 0);
out:
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(r3);
    cJSON_Delete(t2);
    cJSON_Delete(t3);
    svc_stop(&a);
    svc_stop(&b);
}

TEST(sweep_two_workers_wanting_one_key_compute_it_once)
{
    Svc t;
    if (!svc_start(&t, 2))
        return;
    char cfg[1024];
    tiny_run(cfg, sizeof cfg, 11, 8, 1, "first");
    int64_t x = submit_run(t.port, cfg);
    tiny_run(cfg, sizeof cfg, 11, 8, 2, "second");
    int64_t y = submit_run(t.port, cfg);
    cJSON *rx = wait_run(t.port, x), *ry = wait_run(t.port, y);
    if (rx && ry) {
        /* one of the two computed both stages, the other reused the k-means */
        const cJSON *sx = jget(rx, "shared_stages"), *sy = jget(ry, "shared_stages");
        int computed = (cJSON_GetArraySize(sx) == 2) + (cJSON_GetArraySize(sy) == 2);
        int reused = (cJSON_GetArraySize(sx) == 1 &&
                      cJSON_IsTrue(jget(cJSON_GetArrayItem(sx, 0), "reused"))) +
                     (cJSON_GetArraySize(sy) == 1 &&
                      cJSON_IsTrue(jget(cJSON_GetArrayItem(sy, 0), "reused")));
        CHECK_INT_EQ(computed, 1);
        CHECK_INT_EQ(reused, 1);
        CHECK_INT_EQ(count_rows(t.db, "SELECT count(*) FROM shared_stages"), 2);
        /* the one that reused waited for the other, and said so (which of the two claims the
         * key first is up to the workers) */
        int64_t waiter = cJSON_GetArraySize(sx) == 1 ? x : y;
        char path[96];
        snprintf(path, sizeof path, "/v1/runs/%lld/events", (long long)waiter);
        ApiResp r;
        apic_stream(t.port, path, NULL, "event: end", 20, &r);
        CHECK_MSG(strstr(r.body, "waiting for run") && strstr(r.body, "reusing the autoencoder "
                                                                     "and k-means"),
                  "events of the run that reused: %.20000s", r.body);
        apic_free(&r);
    }
    cJSON_Delete(rx);
    cJSON_Delete(ry);
    svc_stop(&t);
}

/* ---- cancel and delete ---------------------------------------------------------------------- */

TEST(sweep_cancel_and_delete)
{
    Svc t;
    if (!svc_start(&t, 1))
        return;
    /* long enough runs that the sweep is still going when it is canceled */
    const char *body =
        "{\"name\": \"to cancel\", \"base\": {\"subset\": 2000, \"test_subset\": 200,"
        " \"threads\": 1, \"method\": \"simclr\","
        " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 8, \"head\": [16, 8]},"
        " \"epochs\": 50, \"batch\": 32}}, \"grid\": {\"seed\": [1, 2, 3]}}";
    int64_t id = post_sweep(t.port, body);
    if (!id) {
        svc_stop(&t);
        return;
    }
    char path[96];
    long status;
    snprintf(path, sizeof path, "/v1/sweeps/%lld", (long long)id);
    /* wait for its first run to train */
    for (int i = 0; i < 600; i++) {
        cJSON *s = call(t.port, "GET", path, NULL, &status);
        int running = (int)jnum(jget(s, "counts"), "running");
        cJSON_Delete(s);
        if (running > 0)
            break;
        sleep_ms(50);
    }
    /* live runs: the sweep cannot be deleted */
    cJSON *j = call(t.port, "DELETE", path, NULL, &status);
    CHECK_INT_EQ(status, 409);
    CHECK(streq(jstr(jget(j, "error"), "code"), "conflict") &&
          strstr(jstr(jget(j, "error"), "message"), "cancel it first"));
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/v1/sweeps/%lld/cancel", (long long)id);
    j = call(t.port, "POST", path, NULL, &status);
    CHECK_INT_EQ(status, 200);
    /* the queued ones at once; the running one within a step */
    CHECK_INT_EQ((int)jnum(jget(j, "counts"), "canceled"), 2);
    cJSON_Delete(j);
    cJSON *s = wait_sweep(t.port, id);
    CHECK(s && streq(jstr(s, "status"), "canceled") &&
          (int)jnum(jget(s, "counts"), "canceled") == 3);
    int64_t run = s ? (int64_t)jnum(cJSON_GetArrayItem(jget(s, "points_runs"), 0), "run") : 0;
    cJSON_Delete(s);
    j = call(t.port, "POST", path, NULL, &status);
    CHECK_INT_EQ(status, 409); /* nothing left to cancel */
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/v1/sweeps/%lld", (long long)id);
    cJSON_Delete(call(t.port, "DELETE", path, NULL, &status));
    CHECK_INT_EQ(status, 204);
    cJSON_Delete(call(t.port, "GET", path, NULL, &status));
    CHECK_INT_EQ(status, 404);
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)run);
    cJSON_Delete(call(t.port, "GET", path, NULL, &status));
    CHECK_INT_EQ(status, 404); /* its runs went with it */
    CHECK_INT_EQ(count_rows(t.db, "SELECT count(*) FROM runs"), 0);
    CHECK_INT_EQ(count_rows(t.db, "SELECT count(*) FROM sweep_runs"), 0);
    svc_stop(&t);
}
