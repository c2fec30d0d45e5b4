/* api_harness.c — the seeded store, data root and Api objects behind the `http` and `api_json`
 * targets (api_harness.h), and the checks every answer must pass: a status in 100..599, at most
 * four headers without line breaks, a body of the length it claims that parses as JSON when
 * it is JSON, an error answer of the documented {"error": {"code", "message"}} shape, a stream
 * that keeps to the buffer it is given, and a refused request (4xx) that changed no run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "api_harness.h"
#include "gs/checkpoint.h"
#include "gs/pipeline.h"
#include "gs/store.h"
#include "gs/zfile.h"

#define RUNNING_RUN 3

static char g_template[160], g_work[160], g_data[160], g_web[4096], g_examples[4096];
static Store *g_store;
static Jobs *g_jobs;
static Api *g_api[FUZZ_API_COUNT];
static bool g_dirty;

static void die(const char *what, const GsErr *err)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, err ? err->msg : "failed");
    abort();
}

/* ---- the data root: one small IDX dataset, "tiny" ----------------------------------------- */

static void write_idx(const char *dir, const char *name, int n, const uint8_t *bytes,
                      int side)
{
    char path[256];
    size_t head = side ? 16 : 8, body = (size_t)n * (side ? (size_t)side * side : 1);
    uint8_t *buf = malloc(head + body);
    if (!buf)
        abort();
    uint32_t words[4] = {side ? 0x803u : 0x801u, (uint32_t)n, (uint32_t)side, (uint32_t)side};
    for (size_t w = 0; w < head / 4; w++)
        for (int b = 0; b < 4; b++)
            buf[4 * w + (size_t)b] = (uint8_t)(words[w] >> (24 - 8 * b));
    memcpy(buf + head, bytes, body);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fuzz_write_file(path, buf, head + body);
    free(buf);
}

static void make_data_root(void)
{
    char dir[200];
    Dataset ds;
    snprintf(g_data, sizeof g_data, "%s/data", fuzz_tmpdir());
    snprintf(dir, sizeof dir, "%s/tiny", g_data);
    if (mkdir(g_data, 0755) != 0 || mkdir(dir, 0755) != 0)
        abort();
    tiny_dataset(&ds);
    uint8_t labels[TINY_N];
    for (int i = 0; i < TINY_N; i++)
        labels[i] = (uint8_t)ds.labels[i];
    write_idx(dir, "train-images-idx3-ubyte", TINY_N, ds.pixels, TINY_SIDE);
    write_idx(dir, "train-labels-idx1-ubyte", TINY_N, labels, 0);
    write_idx(dir, "t10k-images-idx3-ubyte", 8, ds.pixels, TINY_SIDE);
    write_idx(dir, "t10k-labels-idx1-ubyte", 8, labels, 0);
    dataset_free(&ds);
}

/* ---- the seeded store --------------------------------------------------------------------- */

static int64_t insert_run(Store *st, Method method, const char *name)
{
    RunConfig cfg;
    GsErr err = {{0}};
    int64_t id = 0;
    tiny_config(&cfg, method);
    snprintf(cfg.dataset, sizeof cfg.dataset, "tiny");
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    char *json = run_config_to_json(&cfg);
    if (!json || store_run_insert(st, method == METHOD_SIMCLR ? "simclr" : "gsimclr", cfg.name,
                                  json, pipeline_skipped_stages(&cfg), &id, &err) != 0)
        die("seeding a run", &err);
    free(json);
    return id;
}

static void claim(Store *st, int64_t want)
{
    int64_t id;
    GsErr err;
    if (store_run_claim(st, &id, &err) != 0 || id != want)
        die("claiming a seeded run", &err);
}

/* Stage rows, metrics, events, pseudo-labels and a checkpoint, as a worker would store them;
 * all but the last stage finished when `done`. */
static void add_history(Store *st, int64_t run, bool done)
{
    GsErr err;
    int64_t ev;
    int rc = 0;
    for (int s = 0; s < STAGE_COUNT; s++) {
        bool finished = done || s < STAGE_SIMCLR;
        StoreStage g = {
            .progress = {s, 2, 2, finished ? 6 : 4, 6, 0.5 / (s + 1), 100.0 * (s + 1), 1.5},
            .status = finished ? SS_SUCCEEDED : s == STAGE_SIMCLR ? SS_RUNNING : SS_PENDING,
            .seconds = 1.25 * s,
            .started_at = 1700000000.0 + s,
            .finished_at = finished ? 1700000001.0 + s : 0,
        };
        rc |= store_stage_put(st, run, &g, &err);
    }
    for (int e = 1; e <= 2; e++) {
        rc |= store_metric_add(st, run, STAGE_DAE, e, -1, "loss", 0.1 / e, 1700000000.0 + e, &err);
        rc |= store_metric_add(st, run, STAGE_SIMCLR, e, 3L * e, "step_loss", 4.0 / e,
                               1700000010.0 + e, &err);
        rc |= store_metric_add(st, run, STAGE_SIMCLR, e, -1, "loss", 3.5 / e, 1700000020.0 + e,
                               &err);
    }
    rc |= store_metric_add(st, run, STAGE_KMEANS, 1, -1, "inertia", 12.5, 1700000005.0, &err);
    const StorePos dae1 = {STAGE_DAE, 1, STORE_END_OF_EPOCH};
    const StorePos km1 = {STAGE_KMEANS, 1, STORE_END_OF_EPOCH};
    rc |= store_event_add(st, run, &dae1, "log", "dae: epoch 1/2 loss 0.10000", 1700000001.0,
                          &ev, &err);
    rc |= store_event_add(st, run, NULL, "status", "resumed after \"dae\" epoch 1\n<b>",
                          1700000002.0, &ev, &err);
    int32_t assign[TINY_N], labels[TINY_N];
    for (int i = 0; i < TINY_N; i++) {
        assign[i] = (i * 7) % 3;
        labels[i] = i % TINY_CLASSES;
    }
    rc |= store_assignments_put(st, run, &km1, assign, labels, TINY_N, &err);
    CkptWriter w;
    int32_t where[2] = {STAGE_KMEANS, 1};
    ckpt_writer_init(&w);
    if (ckpt_add(&w, "stage", where, sizeof where, &err) || ckpt_finish(&w, &err))
        die("a seeded checkpoint", &err);
    int64_t cid;
    rc |= store_checkpoint_put(st, run, &km1, CKPT_VERSION, zfile_crc32(w.data, w.len - 4),
                               w.data, w.len, 3, NULL, &cid, &err);
    ckpt_writer_free(&w);
    if (rc)
        die("seeding a run's history", &err);
}

/* Runs 1..5: succeeded (gsimclr, with everything), failed (simclr), running (gsimclr, live
 * progress), queued (simclr), canceled (gsimclr). */
static void make_template(void)
{
    Store *st;
    GsErr err;
    snprintf(g_template, sizeof g_template, "%s/template", fuzz_tmpdir());
    if (store_open(&st, g_template, &err) != 0)
        die("opening the template store", &err);
    RunResult res;
    memset(&res, 0, sizeof res);
    res.dae_loss = 0.05;
    res.k = 3;
    res.inertia = 12.5;
    res.purity = 0.5;
    res.nmi = 0.25;
    res.simclr_loss = 2.5;
    res.knn_top1 = 0.4;
    res.linear_top1 = 0.45;
    res.linear_top1_head = 0.42;
    char *result = run_result_to_json(&res);

    int64_t a = insert_run(st, METHOD_GSIMCLR, "succeeded");
    claim(st, a);
    add_history(st, a, true);
    int64_t b = insert_run(st, METHOD_SIMCLR, "failed \"quoted\"");
    claim(st, b);
    int64_t c = insert_run(st, METHOD_GSIMCLR, "running");
    claim(st, c);
    add_history(st, c, false);
    int64_t d = insert_run(st, METHOD_SIMCLR, "queued");
    int64_t e = insert_run(st, METHOD_GSIMCLR, "canceled");
    bool now;
    if (!result || c != RUNNING_RUN || d != 4 ||
        store_run_finish(st, a, RUN_SUCCEEDED, result, NULL, &err) != 0 ||
        store_run_finish(st, b, RUN_FAILED, NULL, "simclr: the loss became nan at epoch 1",
                         &err) != 0 ||
        store_run_request_cancel(st, e, &now, &err) != 0)
        die("seeding the runs' states", &err);
    free(result);
    store_close(st);
}

static void copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    fuzz_write_file(to, buf, (size_t)n);
    free(buf);
}

static void open_work(void)
{
    char from[256], to[256];
    GsErr err;
    snprintf(from, sizeof from, "%s/%s", g_template, STORE_DB_FILE);
    snprintf(to, sizeof to, "%s/%s", g_work, STORE_DB_FILE);
    copy_file(from, to);
    snprintf(to, sizeof to, "%s/%s-wal", g_work, STORE_DB_FILE);
    unlink(to);
    snprintf(to, sizeof to, "%s/%s-shm", g_work, STORE_DB_FILE);
    unlink(to);
    if (store_open(&g_store, g_work, &err) != 0)
        die("opening the work store", &err);
    StageProgress live = {STAGE_SIMCLR, 2, 2, 4, 6, 1.75, 250.0, 3.5};
    g_jobs = fuzz_jobs_create(RUNNING_RUN, &live);
}

/* The Api of a variant, made on first use after each reset (most inputs need one). */
static Api *api_of(int variant)
{
    static const char *const hosts[] = {"gsimclr.test"};
    GsErr err;
    if (g_api[variant])
        return g_api[variant];
    ApiConfig ac = {
        .store = g_store,
        .jobs = g_jobs,
        .token = variant == FUZZ_API_OPEN ? NULL : FUZZ_TOKEN,
        .token_for_reads = variant == FUZZ_API_TOKEN_READS,
        .data_root = g_data,
        .web_dir = g_web,
        .examples_dir = g_examples,
        .max_threads = 2,
        .allow_hosts = hosts,
        .n_allow_hosts = 1,
    };
    if (api_create(&g_api[variant], &ac, &err) != 0)
        die("api_create", &err);
    return g_api[variant];
}

static void close_work(void)
{
    for (int v = 0; v < FUZZ_API_COUNT; v++) {
        api_free(g_api[v]);
        g_api[v] = NULL;
    }
    fuzz_jobs_free(g_jobs);
    store_close(g_store);
    g_store = NULL;
}

void fuzz_api_init(void)
{
    /* web/ and examples/ of the checkout the harness runs from (make fuzz runs it from the
     * repository root); absent folders only make those routes answer 404 */
    const char *root = getenv("GS_FUZZ_ROOT");
    snprintf(g_web, sizeof g_web, "%s/web", root ? root : ".");
    snprintf(g_examples, sizeof g_examples, "%s/examples", root ? root : ".");
    make_data_root();
    make_template();
    snprintf(g_work, sizeof g_work, "%s/work", fuzz_tmpdir());
    if (mkdir(g_work, 0755) != 0)
        abort();
    open_work();
}

void fuzz_api_begin(void)
{
    if (!g_dirty)
        return;
    close_work();
    open_work();
    g_dirty = false;
}

/* ---- one request -------------------------------------------------------------------------- */

static void run_counts(long counts[RUN_STATUS_COUNT])
{
    GsErr err;
    if (store_run_counts(g_store, counts, &err) != 0)
        die("store_run_counts", &err);
}

static void check_body(const HttpRequest *rq, const HttpResponse *resp, int status)
{
    const char *ct = resp->content_type ? resp->content_type : "application/json";
    bool json = strncmp(ct, "application/json", 16) == 0;
    if (resp->body_len > 0 && !resp->body)
        fuzz_fail("%s %s: body_len %zu without a body", rq->method, rq->path, resp->body_len);
    if (!json || !resp->body)
        return;
    cJSON *doc = cJSON_ParseWithLength(resp->body, resp->body_len);
    if (!doc)
        fuzz_fail("%s %s: status %d, its JSON body does not parse:\n%.*s", rq->method,
                  rq->path, status, (int)(resp->body_len < 2000 ? resp->body_len : 2000),
                  resp->body);
    if (status >= 400) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
        if (!cJSON_IsString(code) || !cJSON_IsString(msg) || !*code->valuestring ||
            !*msg->valuestring)
            fuzz_fail("%s %s: status %d without {\"error\": {\"code\", \"message\"}}:\n%.*s",
                      rq->method, rq->path, status, (int)resp->body_len, resp->body);
    }
    cJSON_Delete(doc);
}

int fuzz_api_request(int variant, HttpRequest *rq, FuzzQuery *q)
{
    HttpResponse resp;
    long before[RUN_STATUS_COUNT], after[RUN_STATUS_COUNT];
    bool reads = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    memset(&resp, 0, sizeof resp);
    rq->conn_ = q;
    if (!reads)
        run_counts(before);
    api_handle(api_of(variant), rq, &resp);

    int status = resp.status ? resp.status : 200;
    if (status < 100 || status > 599)
        fuzz_fail("%s %s: status %d", rq->method, rq->path, status);
    if (resp.n_headers < 0 || resp.n_headers > 4)
        fuzz_fail("%s %s: %d headers", rq->method, rq->path, resp.n_headers);
    for (int i = 0; i < resp.n_headers; i++)
        if (!resp.header_name[i] ||
            !memchr(resp.header_value[i], 0, sizeof resp.header_value[i]) ||
            strpbrk(resp.header_value[i], "\r\n"))
            fuzz_fail("%s %s: header %d is malformed", rq->method, rq->path, i);
    check_body(rq, &resp, status);
    if (resp.stream) {
        /* an event stream: what the server would read of it at once, in small pieces */
        char buf[700];
        for (int i = 0; i < 6; i++) {
            ssize_t n = resp.stream(resp.stream_ctx, buf, sizeof buf);
            if (n > (ssize_t)sizeof buf || n < -1)
                fuzz_fail("%s %s: a stream read gave %zd of %zu bytes", rq->method, rq->path,
                          n, sizeof buf);
            if (n <= 0)
                break;
        }
        if (resp.stream_free)
            resp.stream_free(resp.stream_ctx);
    }
    free(resp.body);
    /* A refused request promises to change nothing: checked on the runs' states, and then
     * trusted for the rest, so that only an accepted change costs a fresh store. */
    if (!reads && status >= 400 && status < 500) {
        run_counts(after);
        if (memcmp(before, after, sizeof before) != 0)
            fuzz_fail("%s %s: refused with %d but the runs changed", rq->method, rq->path,
                      status);
    } else if (!reads) {
        g_dirty = true;
    }
    return status;
}
