/* test_export_api.c — the exports as a user reaches them: the stored embedding sets
 * (embeddings.c: written whole, replaced, read back checked, removed, swept at start-up),
 * then a daemon started in-process on port 0 with two small trained runs (G-SimCLR with the
 * 3-conv encoder, SimCLR with the residual one) whose model.onnx, embeddings and pseudo-label
 * .npy are downloaded through real HTTP and with the CLI, every refusal with its status and
 * message, the set removed with its run; and tests/py/check_exports.py run on the same daemon by Debian's
 * python3 (onnx.checker, a NumPy evaluation of the graph, the PyTorch twin, numpy.load). */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */
#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
#include "gs/embeddings.h"
#include "gs/npy.h"
#include "gs/service.h"
#include "gs/store.h"
#include "harness.h"

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ---- the stored sets ---------------------------------------------------------------------- */

TEST(embeddings_store_write_read_replace_remove)
{
    char dir[64] = "/tmp/gs_emb_XXXXXX", sets[96], path[160];
    GsErr err;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(sets, sizeof sets, "%s/embeddings", dir); /* created by the first write */
    float tr[6] = {1, 2, 3, 4, 5, 6}, te[2] = {-1, -2};
    int32_t ltr[3] = {0, 9, 4};
    CHECK(embeddings_write(sets, 5, 2, tr, ltr, 3, te, NULL, 1, &err) == 0);
    CHECK(embeddings_exist(sets, 5) && !embeddings_exist(sets, 6));

    uint8_t *data;
    size_t len;
    NpyInfo info;
    CHECK(embeddings_read(sets, 5, EMB_TRAIN, false, &data, &len, &err) == 0);
    CHECK(npy_parse(data, len, &info, &err) == 0 && info.type == NPY_F32 && info.ndim == 2 &&
          info.shape[0] == 3 && info.shape[1] == 2);
    CHECK(memcmp(data + info.data_offset, tr, sizeof tr) == 0);
    free(data);
    CHECK(embeddings_read(sets, 5, EMB_TRAIN, true, &data, &len, &err) == 0);
    CHECK(npy_parse(data, len, &info, &err) == 0 && info.type == NPY_I64 && info.ndim == 1 &&
          info.shape[0] == 3);
    int64_t wide[3];
    memcpy(wide, data + info.data_offset, sizeof wide);
    CHECK(wide[0] == 0 && wide[1] == 9 && wide[2] == 4);
    free(data);
    /* the test split has no labels; run 6 has nothing */
    CHECK(embeddings_read(sets, 5, EMB_TEST, true, &data, &len, &err) == STORE_NOT_FOUND);
    CHECK(embeddings_read(sets, 6, EMB_TRAIN, false, &data, &len, &err) == STORE_NOT_FOUND);

    /* eval again (a resumed run): the new set replaces the old one whole, the stale test
     * labels of nothing included */
    int32_t lte[1] = {3};
    CHECK(embeddings_write(sets, 5, 1, te, NULL, 2, tr, lte, 1, &err) == 0);
    CHECK(embeddings_read(sets, 5, EMB_TRAIN, true, &data, &len, &err) == STORE_NOT_FOUND);
    CHECK(embeddings_read(sets, 5, EMB_TEST, true, &data, &len, &err) == 0);
    free(data);
    snprintf(path, sizeof path, "%s/run-5.tmp", sets);
    CHECK(!is_dir(path));

    /* a damaged file is an error, not a download of garbage */
    snprintf(path, sizeof path, "%s/run-5/test.npy", sets);
    CHECK(truncate(path, 130) == 0); /* the header and half a float */
    CHECK(embeddings_read(sets, 5, EMB_TEST, false, &data, &len, &err) == -1);
    CHECK_MSG(strstr(err.msg, "damaged") && strstr(err.msg, "truncated"), "%s", err.msg);
    /* bad arguments change nothing */
    CHECK(embeddings_write(sets, 5, 0, tr, NULL, 3, NULL, NULL, 0, &err) == -1);
    CHECK(embeddings_exist(sets, 5));

    CHECK(embeddings_remove(sets, 5, &err) == 0 && !embeddings_exist(sets, 5));
    CHECK(embeddings_remove(sets, 5, &err) == 0); /* nothing to remove is fine */
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TEST(embeddings_sweep_keeps_only_sets_of_runs_the_store_has)
{
    char dir[64] = "/tmp/gs_emb_XXXXXX", sets[96], path[160];
    GsErr err;
    Store *st = NULL;
    CHECK(mkdtemp(dir) != NULL);
    if (store_open(&st, dir, &err) != 0) {
        CHECK_MSG(0, "store_open: %s", err.msg);
        return;
    }
    int64_t id = 0;
    CHECK(store_run_insert(st, "simclr", "kept", "{}", 0, &id, &err) == 0);
    snprintf(sets, sizeof sets, "%s/embeddings", dir);
    float f[2] = {1, 2};
    CHECK(embeddings_write(sets, id, 1, f, NULL, 2, NULL, NULL, 0, &err) == 0);
    CHECK(embeddings_write(sets, id + 100, 1, f, NULL, 2, NULL, NULL, 0, &err) == 0);
    /* what a crash inside a write leaves: a half-written set of the live run */
    snprintf(path, sizeof path, "%s/run-%lld.tmp", sets, (long long)id);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/run-%lld.tmp/train.npy", sets, (long long)id);
    FILE *fp = fopen(path, "w");
    if (fp)
        fclose(fp);
    /* and something that is not a set: left alone */
    snprintf(path, sizeof path, "%s/notes", sets);
    CHECK(mkdir(path, 0755) == 0);

    CHECK(embeddings_sweep(sets, st, &err) == 0);
    CHECK(embeddings_exist(sets, id));
    CHECK(!embeddings_exist(sets, id + 100));
    snprintf(path, sizeof path, "%s/run-%lld.tmp", sets, (long long)id);
    CHECK(!is_dir(path));
    snprintf(path, sizeof path, "%s/notes", sets);
    CHECK(is_dir(path));
    /* no folder yet: nothing to sweep */
    snprintf(path, sizeof path, "%s/none", dir);
    CHECK(embeddings_sweep(path, st, &err) == 0);
    store_close(st);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- through the daemon ------------------------------------------------------------------ */

#ifdef __SANITIZE_THREAD__
#define N_TRAIN 300
#define N_TEST 100
#else
#define N_TRAIN 600
#define N_TEST 200
#endif

static const char *CONFIG_GSIMCLR =
    "{\"name\": \"export cnn3\", \"method\": \"gsimclr\", \"subset\": %d, \"test_subset\": %d,"
    " \"threads\": 2, \"dae\": {\"filters\": [8, 16, 32], \"epochs\": 1, \"batch\": 128},"
    " \"kmeans\": {\"k\": 16, \"n_init\": 1},"
    " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 8, \"head\": [32, 16]},"
    "              \"epochs\": 1, \"batch\": 64},"
    " \"eval\": {\"linear\": {\"epochs\": 2}, \"knn_k\": 20}}";
static const char *CONFIG_SIMCLR =
    "{\"name\": \"export resnet\", \"method\": \"simclr\", \"subset\": %d, \"test_subset\": %d,"
    " \"threads\": 2,"
    " \"simclr\": {\"encoder\": {\"arch\": \"resnet\", \"width\": 8, \"stages\": 2,"
    "                           \"head\": [32, 16]},"
    "              \"epochs\": 1, \"batch\": 64},"
    " \"eval\": {\"linear\": {\"epochs\": 2}, \"knn_k\": 20}}";
/* queued behind the others, canceled before it trains */
static const char *CONFIG_NEVER =
    "{\"name\": \"never trained\", \"method\": \"simclr\", \"subset\": 600, \"threads\": 2,"
    " \"simclr\": {\"epochs\": 50}}";

static int64_t submit(int port, const char *config)
{
    ApiResp r;
    int64_t id = 0;
    if (apic_json(port, "POST", "/v1/runs", config, NULL, &r) == 0 && r.status == 201) {
        cJSON *j = cJSON_Parse(r.body);
        cJSON *v = cJSON_GetObjectItem(j, "id");
        id = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
        cJSON_Delete(j);
    }
    CHECK_MSG(id > 0, "submit: %ld %s", r.status, r.body);
    apic_free(&r);
    return id;
}

static bool succeeded(int port, int64_t id)
{
    cJSON *run = apic_wait_run(port, id, apic_run_ended, NULL, 120);
    cJSON *s = cJSON_GetObjectItem(run, "status");
    bool ok = cJSON_IsString(s) && strcmp(s->valuestring, "succeeded") == 0;
    CHECK_MSG(ok, "run %lld: %s", (long long)id, cJSON_IsString(s) ? s->valuestring : "?");
    cJSON_Delete(run);
    return ok;
}

/* GET path: its status, and the error message when it is a JSON error. */
static long get_status(int port, const char *path, char *msg, size_t cap)
{
    ApiResp r;
    apic_request(port, "GET", path, NULL, 0, NULL, &r);
    long status = r.status;
    if (msg) {
        msg[0] = 0;
        cJSON *j = cJSON_Parse(r.body);
        cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message");
        if (cJSON_IsString(m))
            snprintf(msg, cap, "%s", m->valuestring);
        cJSON_Delete(j);
    }
    apic_free(&r);
    return status;
}

/* GET path as an .npy: its header, and the body (malloc'd) through *body. */
static bool get_npy(int port, const char *path, NpyInfo *info, ApiResp *r)
{
    GsErr err;
    char hdr[256];
    apic_request(port, "GET", path, NULL, 0, NULL, r);
    CHECK_MSG(r->status == 200, "%s: %ld %s", path, r->status, r->body);
    if (r->status != 200)
        return false;
    CHECK(apic_header(r, "Content-Type", hdr, sizeof hdr) &&
          strcmp(hdr, "application/octet-stream") == 0);
    CHECK(apic_header(r, "Content-Disposition", hdr, sizeof hdr) && strstr(hdr, ".npy\""));
    bool ok = npy_parse((const uint8_t *)r->body, r->len, info, &err) == 0;
    CHECK_MSG(ok, "%s: %s", path, err.msg);
    return ok;
}

/* The client binary (GS_CLI, default bin/gsimclr) saves the same bytes the route serves,
 * and refuses a missing -o before asking anything. */
static void cli_checks(int port, const char *dir, int64_t a)
{
    const char *cli = getenv("GS_CLI") ? getenv("GS_CLI") : "bin/gsimclr";
    static const struct {
        const char *args, *route;
    } cases[] = {
        {"export %lld -o %s", "/v1/runs/%lld/model.onnx"},
        {"export %lld --head -o %s", "/v1/runs/%lld/model.onnx?head=1"},
        {"embeddings %lld --split test -o %s", "/v1/runs/%lld/embeddings?split=test"},
        {"embeddings %lld --labels -o %s", "/v1/runs/%lld/embeddings?split=train&labels=1"},
        {"pseudo-labels %lld --format npy -o %s", "/v1/runs/%lld/pseudo-labels?format=npy"},
    };
    if (access(cli, X_OK) != 0) {
        CHECK_MSG(0, "%s is missing: run `make bin/gsimclr`, or set GS_CLI", cli);
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char file[160], args[256], cmd[600], route[160];
        snprintf(file, sizeof file, "%s/cli%zu.out", dir, i);
        snprintf(args, sizeof args, cases[i].args, (long long)a, file);
        snprintf(cmd, sizeof cmd, "%s --server http://127.0.0.1:%d %s >/dev/null 2>&1", cli,
                 port, args);
        int rc = system(cmd);
        CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "gsimclr %s: exit %d", args,
                  WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
        ApiResp r;
        snprintf(route, sizeof route, cases[i].route, (long long)a);
        apic_request(port, "GET", route, NULL, 0, NULL, &r);
        FILE *f = fopen(file, "rb");
        char *saved = r.len ? malloc(r.len + 1) : NULL;
        size_t got = f && saved ? fread(saved, 1, r.len + 1, f) : 0;
        CHECK_MSG(r.status == 200 && got == r.len && memcmp(saved, r.body, r.len) == 0,
                  "gsimclr %s saved %zu bytes, %s serves %zu", args, got, route, r.len);
        free(saved);
        if (f)
            fclose(f);
        apic_free(&r);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "%s --server http://127.0.0.1:%d export %lld >/dev/null 2>&1",
             cli, port, (long long)a);
    int rc = system(cmd);
    CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "export without -o: exit %d (want 2)",
              WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
    snprintf(cmd, sizeof cmd, "%s --server http://127.0.0.1:%d export 999 -o %s/x.onnx "
             ">/dev/null 2>&1", cli, port, dir);
    rc = system(cmd);
    CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 4, "export of no run: exit %d (want 4)",
              WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
}

/* Runs the Python checker on the daemon's runs; its lines are shown indented. */
static void python_checks(int port, int64_t a, int64_t b)
{
    char cmd[256], line[512];
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("    skipped: /usr/bin/python3 is not installed (scripts/install-deps)\n");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 tests/py/check_exports.py http://127.0.0.1:%d %lld %lld 2>&1",
             port, (long long)a, (long long)b);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p)
        return;
    while (fgets(line, sizeof line, p))
        printf("      %s", line);
    int rc = pclose(p);
    int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (code == 77)
        printf("    skipped: Python's onnx, numpy or torch cannot be imported (see above)\n");
    else
        CHECK_MSG(code == 0, "tests/py/check_exports.py exited %d", code);
}

TEST(exports_through_the_daemon)
{
    char dir[64] = "/tmp/gs_exp_XXXXXX", data_dir[96], path[200], msg[512], cfgtext[1024];
    GsErr err;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(data_dir, sizeof data_dir, "%s/db", dir);
    ServiceConfig sc;
    service_config_defaults(&sc);
    sc.listen = "127.0.0.1:0";
    sc.data_dir = data_dir;
    sc.web_dir = dir;
    sc.examples_dir = "examples";
    Service *svc = NULL;
    if (service_start(&svc, &sc, &err) != 0) {
        CHECK_MSG(0, "service_start: %s", err.msg);
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return;
    }
    int port = service_port(svc);
    snprintf(cfgtext, sizeof cfgtext, CONFIG_GSIMCLR, N_TRAIN, N_TEST);
    int64_t a = submit(port, cfgtext);
    snprintf(cfgtext, sizeof cfgtext, CONFIG_SIMCLR, N_TRAIN, N_TEST);
    int64_t b = submit(port, cfgtext);
    int64_t never = submit(port, CONFIG_NEVER);
    ApiResp r;
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)never);
    apic_json(port, "POST", path, NULL, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    apic_free(&r);
    double t0 = mono_s();
    if (!succeeded(port, a) || !succeeded(port, b))
        goto done;
    printf("    two runs trained in %.1f s\n", mono_s() - t0);

    /* the encoder, with and without the head */
    for (int head = 0; head < 2; head++) {
        char hdr[256];
        snprintf(path, sizeof path, "/v1/runs/%lld/model.onnx%s", (long long)a,
                 head ? "?head=1" : "");
        apic_request(port, "GET", path, NULL, 0, NULL, &r);
        CHECK_MSG(r.status == 200 && r.len > 1000, "%s: %ld", path, r.status);
        CHECK(apic_header(&r, "Content-Disposition", hdr, sizeof hdr));
        snprintf(msg, sizeof msg, "run%lld-encoder%s.onnx", (long long)a, head ? "-head" : "");
        CHECK_MSG(strstr(hdr, msg), "Content-Disposition: %s", hdr);
        /* protobuf: field 1 (ir_version, varint) first */
        CHECK(r.len > 2 && (uint8_t)r.body[0] == 0x08 && r.body[1] == 7);
        apic_free(&r);
    }
    snprintf(path, sizeof path, "/v1/runs/%lld/model.onnx", (long long)a);
    apic_request(port, "HEAD", path, NULL, 0, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    apic_free(&r);

    /* the embeddings: shapes follow the runs, labels are int64 */
    NpyInfo info;
    snprintf(path, sizeof path, "/v1/runs/%lld/embeddings?split=train", (long long)a);
    if (get_npy(port, path, &info, &r))
        CHECK(info.type == NPY_F32 && info.ndim == 2 && info.shape[0] == N_TRAIN &&
              info.shape[1] == 32);
    apic_free(&r);
    snprintf(path, sizeof path, "/v1/runs/%lld/embeddings?split=test&labels=1", (long long)b);
    if (get_npy(port, path, &info, &r))
        CHECK(info.type == NPY_I64 && info.ndim == 1 && info.shape[0] == N_TEST);
    apic_free(&r);
    snprintf(path, sizeof path, "/v1/runs/%lld/embeddings", (long long)b); /* train: default */
    if (get_npy(port, path, &info, &r))
        CHECK(info.ndim == 2 && info.shape[0] == N_TRAIN && info.shape[1] == 16);
    apic_free(&r);
    snprintf(path, sizeof path, "/v1/runs/%lld/pseudo-labels?format=npy", (long long)a);
    if (get_npy(port, path, &info, &r))
        CHECK(info.type == NPY_I64 && info.ndim == 1 && info.shape[0] == N_TRAIN);
    apic_free(&r);

    /* refusals: each with its status and a message that says what is missing */
    struct {
        const char *fmt;
        int64_t id;
        long status;
        const char *says;
    } bad[] = {
        {"/v1/runs/%lld/model.onnx?head=2", a, 400, "head: must be an integer in 0..1"},
        {"/v1/runs/%lld/model.onnx?head=yes", a, 400, "head"},
        {"/v1/runs/%lld/embeddings?split=val", a, 400, "split: must be train or test"},
        {"/v1/runs/%lld/embeddings?labels=2", a, 400, "labels"},
        {"/v1/runs/%lld/pseudo-labels?format=npz", a, 400, "csv, json or npy"},
        {"/v1/runs/%lld/model.onnx", 999, 404, "no run 999"},
        {"/v1/runs/%lld/embeddings", 999, 404, "no run 999"},
        {"/v1/runs/%lld/model.onnx", never, 404, "no trained encoder: it ended before"},
        {"/v1/runs/%lld/embeddings?split=test", never, 404, "(canceled) has no stored embeddings"},
        {"/v1/runs/%lld/pseudo-labels?format=npy", b, 404, "no pseudo-labels"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, bad[i].fmt, (long long)bad[i].id);
        long status = get_status(port, path, msg, sizeof msg);
        CHECK_MSG(status == bad[i].status && strstr(msg, bad[i].says),
                  "GET %s: %ld \"%s\" (want %ld \"%s\")", path, status, msg, bad[i].status,
                  bad[i].says);
    }
    snprintf(path, sizeof path, "/v1/runs/%lld/model.onnx", (long long)a);
    apic_request(port, "POST", path, "{}", 2, NULL, &r);
    CHECK_INT_EQ(r.status, 405);
    apic_free(&r);

    cli_checks(port, dir, a);
    t0 = mono_s();
    python_checks(port, a, b);
    printf("    the Python checks took %.1f s\n", mono_s() - t0);

    /* deleting a run deletes its set */
    char set[200];
    snprintf(set, sizeof set, "%s/embeddings/run-%lld", data_dir, (long long)b);
    CHECK(is_dir(set));
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)b);
    apic_json(port, "DELETE", path, NULL, NULL, &r);
    CHECK_INT_EQ(r.status, 204);
    apic_free(&r);
    CHECK(!is_dir(set));
    snprintf(path, sizeof path, "/v1/runs/%lld/embeddings", (long long)b);
    CHECK_INT_EQ(get_status(port, path, NULL, 0), 404);
done:
    service_stop(svc);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
