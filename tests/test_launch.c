/* test_launch.c — runs of several processes (issue 14, the daemon's side): the relay's
 * frames (a result survives the trip field for field; malformed frames of every kind are
 * refused with a clear error, never a crash; a worker without the run's token is turned
 * away), and gsimclrd launching P = 2 runs through mpirun on loopback: the run succeeds and
 * shows its processes and hosts, its result is the one `mpirun -np 2 gsimclrd --run` gives;
 * kill -9 of rank 1 in the middle of SimCLR is noticed within 30 s and the run resumes from
 * its checkpoint to the undisturbed result; a cancel or the daemon's SIGTERM leaves no
 * process behind; a bad "processes" is a 400 and stores nothing; a run whose processes keep
 * being lost fails after a few resumes. */
#define _DEFAULT_SOURCE /* setenv, usleep, mkdtemp */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../server/service/launch.h"
#include "../server/service/relay.h"
#include "apiclient.h"
#include "daemonproc.h"
#include "fingerprint.h"
#include "harness.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the relay's frames --------------------------------------------------------------- */

typedef struct {
    int progress, metrics, logs, checkpoints, assignments, features;
    long last_step;
    char last_metric[64];
} Rec;

static void r_progress(void *ctx, const StageProgress *p)
{
    Rec *r = ctx;
    r->progress++;
    r->last_step = p->step;
}
static void r_metric(void *ctx, int stage, int epoch, long step, const char *name, double v)
{
    Rec *r = ctx;
    (void)stage, (void)epoch, (void)step, (void)v;
    r->metrics++;
    snprintf(r->last_metric, sizeof r->last_metric, "%s", name);
}
static void r_log(void *ctx, int stage, int epoch, const char *line)
{
    (void)stage, (void)epoch, (void)line;
    ((Rec *)ctx)->logs++;
}
static int r_ckpt(void *ctx, int stage, int epoch, long step, const void *d, size_t n)
{
    (void)stage, (void)epoch, (void)step, (void)d, (void)n;
    ((Rec *)ctx)->checkpoints++;
    return 7;
}
static int r_assign(void *ctx, const int32_t *a, const int32_t *l, int n, int k)
{
    (void)a, (void)l, (void)n, (void)k;
    ((Rec *)ctx)->assignments++;
    return 0;
}
static int r_features(void *ctx, int d, const float *tr, const int32_t *trl, int ntr,
                      const float *te, const int32_t *tel, int nte)
{
    (void)d, (void)tr, (void)trl, (void)ntr, (void)te, (void)tel, (void)nte;
    ((Rec *)ctx)->features++;
    return 0;
}

static Sink rec_sink(Rec *r)
{
    return (Sink){.progress = r_progress, .metric = r_metric, .checkpoint = r_ckpt,
                  .log = r_log, .assignments = r_assign, .features = r_features, .ctx = r};
}

/* The byte buffer under the relay's frames (and the image cache, the events stream, a
 * sweep's CSV): grows across many doublings keeping every byte, writes little-endian,
 * refuses a length that would overflow (oom set, nothing written, later appends ignored),
 * and stays on the caller's memory while it fits. */
TEST(relay_bytebuf_grows_and_refuses_overflow)
{
    ByteBuf b = {0};
    for (uint32_t i = 0; i < 5000; i++)
        bytebuf_put_u32(&b, i * 2654435761u);
    bytebuf_put_u64(&b, 0x0102030405060708ull);
    CHECK(!b.oom && b.len == 5000 * 4 + 8 && b.cap >= b.len);
    int bad = 0;
    for (uint32_t i = 0; i < 5000; i++) {
        uint32_t v = i * 2654435761u, got = (uint32_t)b.p[4 * i] | (uint32_t)b.p[4 * i + 1] << 8 |
                                            (uint32_t)b.p[4 * i + 2] << 16 |
                                            (uint32_t)b.p[4 * i + 3] << 24;
        bad += got != v;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK(b.p[20000] == 8 && b.p[20007] == 1);
    size_t len = b.len;
    bytebuf_put(&b, "x", SIZE_MAX);
    CHECK(b.oom && b.len == len);
    bytebuf_put(&b, "y", 1);
    CHECK(b.len == len);
    bytebuf_free(&b);
    CHECK(b.p == NULL && b.len == 0 && b.cap == 0 && !b.oom);
    uint8_t mine[8];
    ByteBuf m = {.p = mine, .cap = sizeof mine};
    bytebuf_put_u64(&m, 42);
    CHECK(m.p == mine && m.len == 8 && mine[0] == 42 && mine[7] == 0);
}

TEST(relay_result_round_trip)
{
    static int32_t sizes[3] = {5, 0, 7}, assign[12] = {0, 2, 2, 1, 0, 0, 2, 2, 2, 0, 0, 2};
    const char *train_bad[2] = {"a.png: not a PNG", "b.jpg: truncated"};
    const char *test_bad[1] = {"c.png: \"quoted\" \\ name"};
    RunResult r = {.seconds = {1.5, 0.25, 10.125, 3},
                   .dae_loss = 0.0123456789,
                   .inertia = 42.5,
                   .purity = 0.75,
                   .nmi = NAN,
                   .k = 3,
                   .cluster_sizes = sizes,
                   .assign = assign,
                   .n_train = 12,
                   .repeat_batches = 1.25,
                   .simclr_loss = 3.3,
                   .knn_top1 = 0.5,
                   .linear_top1 = 0.625,
                   .linear_top1_head = 0.5625,
                   .linear_weight_decay = 1e-4f,
                   .linear_epochs = 9,
                   .n_finetune = 1,
                   .n_test = 100,
                   .test_split = "held_out",
                   .n_skipped = 3,
                   .skipped = {train_bad, test_bad},
                   .n_skipped_of = {2, 1},
                   .eval_note = "a note"};
    r.finetune[0] = (FinetuneRow){.fraction = 0.1, .labels = 10, .val_images = 2,
                                  .finetuned_top1 = 0.7, .finetuned_val_top1 = 0.6,
                                  .finetuned_epoch = 3, .scratch_top1 = 0.4,
                                  .scratch_val_top1 = 0.3, .scratch_epoch = 4, .seconds = 2};
    RelayBuf b = {0};
    relay_put_result(&b, &r);
    CHECK(!b.oom);
    RelayIn in = {.p = b.p, .len = b.len};
    RunResult back;
    RelayOwned owned;
    GsErr err;
    CHECK(relay_get_result(&in, &back, &owned, &err) == 0);
    char *a = run_result_to_json(&r), *c = run_result_to_json(&back);
    CHECK(a && c && strcmp(a, c) == 0);
    if (a && c && strcmp(a, c) != 0)
        fprintf(stderr, "  sent:     %s\n  received: %s\n", a, c);
    CHECK(back.cluster_sizes && memcmp(back.cluster_sizes, sizes, sizeof sizes) == 0);
    CHECK(back.assign && memcmp(back.assign, assign, sizeof assign) == 0);
    CHECK_INT_EQ(back.linear_epochs, 9);
    free(a);
    free(c);
    run_result_free(&back);
    relay_owned_free(&owned);

    /* every cut of the frame is refused, never read past */
    for (size_t cut = 0; cut < b.len; cut += 1 + cut / 8) {
        RelayIn part = {.p = b.p, .len = cut};
        CHECK_MSG(relay_get_result(&part, &back, &owned, &err) == -1, "cut at %zu accepted", cut);
    }
    relay_buf_free(&b);
}

/* A frame built by hand: fields as the protocol writes them. */
static void put_progress(RelayBuf *b, int stage)
{
    relay_put_u32(b, (uint32_t)stage);
    relay_put_u32(b, 1);
    relay_put_u32(b, 2);
    relay_put_i64(b, 3);
    relay_put_i64(b, 40);
    relay_put_f64(b, 0.5);
    relay_put_f64(b, 100);
    relay_put_f64(b, 9);
}

TEST(relay_bad_frames_end_the_run_with_an_error)
{
    Rec rec = {0};
    Sink sink = rec_sink(&rec);
    RelayDaemon d = {.sink = &sink};
    GsErr err;

    /* good frames reach the sink */
    RelayBuf b = {0};
    put_progress(&b, STAGE_SIMCLR);
    CHECK(relay_apply(&d, RELAY_PROGRESS, b.p, b.len, &err) == 0);
    CHECK_INT_EQ(rec.progress, 1);
    CHECK_INT_EQ(rec.last_step, 3);
    relay_buf_free(&b);
    relay_put_u32(&b, 2);
    relay_put_u32(&b, 1);
    relay_put_i64(&b, 20);
    relay_put_str(&b, "step_loss");
    relay_put_f64(&b, 4.5);
    CHECK(relay_apply(&d, RELAY_METRIC, b.p, b.len, &err) == 0);
    CHECK(strcmp(rec.last_metric, "step_loss") == 0);
    relay_buf_free(&b);
    relay_put_u32(&b, 2);
    relay_put_u32(&b, 1);
    relay_put_i64(&b, -1);
    relay_put_bytes(&b, "abc", 3);
    CHECK(relay_apply(&d, RELAY_CHECKPOINT, b.p, b.len, &err) == 0);
    CHECK(d.have_answer && d.answer == 7); /* the sink's own status goes back */
    relay_buf_free(&b);

    struct {
        const char *what;
        uint32_t type;
        int build;      /* which payload */
        const char *want;
    } bad[] = {
        {"progress cut short", RELAY_PROGRESS, 0, "malformed progress"},
        {"progress with a stage 9", RELAY_PROGRESS, 1, "malformed progress"},
        {"progress with bytes after it", RELAY_PROGRESS, 2, "malformed progress"},
        {"metric name without its NUL", RELAY_METRIC, 3, "malformed metric"},
        {"metric name with a NUL inside", RELAY_METRIC, 4, "malformed metric"},
        {"log line longer than the frame", RELAY_LOG, 5, "malformed log"},
        {"checkpoint longer than the frame", RELAY_CHECKPOINT, 6, "malformed checkpoint"},
        {"checkpoint of a negative length", RELAY_CHECKPOINT, 7, "malformed checkpoint"},
        {"assignments of 2^30 labels in 12 bytes", RELAY_ASSIGNMENTS, 8, "malformed assignments"},
        {"assignments of -1 labels", RELAY_ASSIGNMENTS, 9, "negative count"},
        {"features whose sizes overflow", RELAY_FEATURES, 10, "malformed features"},
        {"hosts: 65 of them", RELAY_HOSTS, 11, "malformed hosts"},
        {"a result that lies about its skipped files", RELAY_RESULT, 12, "malformed result"},
        {"a job frame from rank 0", RELAY_JOB, 13, "may not send a job"},
        {"a hello after the hello", RELAY_HELLO, 13, "may not send a hello"},
        {"an unknown type", 99, 13, "may not send a unknown"},
        {"an error frame without a string", RELAY_ERROR, 13, "malformed error"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        RelayBuf p = {0};
        switch (bad[i].build) {
        case 0:
            put_progress(&p, 1);
            p.len -= 3;
            break;
        case 1:
            put_progress(&p, 9);
            break;
        case 2:
            put_progress(&p, 1);
            relay_put_u32(&p, 0);
            break;
        case 3:
            relay_put_u32(&p, 1), relay_put_u32(&p, 1), relay_put_i64(&p, 1);
            relay_put_u32(&p, 4);
            relay_put_u32(&p, 0x41414141); /* "AAAA", no NUL */
            relay_put_f64(&p, 1);
            break;
        case 4:
            relay_put_u32(&p, 1), relay_put_u32(&p, 1), relay_put_i64(&p, 1);
            relay_put_u32(&p, 4);
            relay_put_u32(&p, 0x00410041);
            relay_put_f64(&p, 1);
            break;
        case 5:
            relay_put_u32(&p, 1), relay_put_u32(&p, 1);
            relay_put_u32(&p, 1000);
            relay_put_str(&p, "short");
            break;
        case 6:
            relay_put_u32(&p, 1), relay_put_u32(&p, 1), relay_put_i64(&p, -1);
            relay_put_i64(&p, 1 << 20);
            relay_put_u32(&p, 0);
            break;
        case 7:
            relay_put_u32(&p, 1), relay_put_u32(&p, 1), relay_put_i64(&p, -1);
            relay_put_i64(&p, -5);
            break;
        case 8:
            relay_put_u32(&p, 1u << 30), relay_put_u32(&p, 8), relay_put_u32(&p, 1);
            break;
        case 9:
            relay_put_u32(&p, 0xffffffffu), relay_put_u32(&p, 8), relay_put_u32(&p, 0);
            break;
        case 10:
            relay_put_u32(&p, 0x7fffffff), relay_put_u32(&p, 0x7fffffff), relay_put_u32(&p, 1);
            relay_put_u32(&p, 0);
            break;
        case 11:
            relay_put_u32(&p, 65);
            for (int h = 0; h < 65; h++)
                relay_put_str(&p, "host");
            break;
        case 12: {
            RunResult r = {.test_split = "test", .n_skipped = 5};
            relay_put_result(&p, &r);
            break;
        }
        default:
            break;
        }
        Rec before = rec;
        memset(&err, 0, sizeof err);
        int rc = relay_apply(&d, bad[i].type, p.p, p.len, &err);
        CHECK_MSG(rc == -1, "%s: accepted", bad[i].what);
        CHECK_MSG(strstr(err.msg, bad[i].want) != NULL, "%s: want \"%s\", got \"%s\"",
                  bad[i].what, bad[i].want, err.msg);
        CHECK_MSG(memcmp(&before, &rec, sizeof rec) == 0, "%s: reached the sink", bad[i].what);
        relay_buf_free(&p);
    }
    CHECK(!d.done);

    /* frames on a socket: an unknown type, a length over its type's limit, a frame cut by
     * the connection closing, a peer that closes at once */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    uint8_t head[8];
    RelayBuf h = {.p = head, .cap = 8};
    uint32_t type;
    uint8_t *payload;
    size_t len;
    relay_put_u32(&h, 77), relay_put_u32(&h, 0);
    CHECK(write(sv[0], head, 8) == 8);
    CHECK_INT_EQ(relay_recv(sv[1], &type, &payload, &len, 1000, &err), -2);
    CHECK(strstr(err.msg, "unknown frame type 77") != NULL);
    h.len = 0;
    relay_put_u32(&h, RELAY_PROGRESS), relay_put_u32(&h, 0xfffffff0u);
    CHECK(write(sv[0], head, 8) == 8);
    CHECK_INT_EQ(relay_recv(sv[1], &type, &payload, &len, 1000, &err), -2);
    CHECK(strstr(err.msg, "over its limit") != NULL);
    h.len = 0;
    relay_put_u32(&h, RELAY_LOG), relay_put_u32(&h, 100);
    CHECK(write(sv[0], head, 8) == 8);
    CHECK(write(sv[0], "abc", 3) == 3);
    close(sv[0]);
    CHECK_INT_EQ(relay_recv(sv[1], &type, &payload, &len, 1000, &err), -1);
    CHECK(strstr(err.msg, "closed inside a frame") != NULL);
    CHECK_INT_EQ(relay_recv(sv[1], &type, &payload, &len, 1000, &err), 1);
    close(sv[1]);

    /* the job frame, whole and cut */
    RelayBuf jb = {0};
    relay_put_job(&jb, &(RelayJob){.config_json = "{}", .data_root = "/d", .cache_dir = "",
                                   .resume = "xyz", .resume_len = 3, .has_resume = true});
    RelayJob job;
    CHECK(relay_get_job(jb.p, jb.len, &job, &err) == 0);
    CHECK(job.has_resume && job.resume_len == 3 && strcmp(job.data_root, "/d") == 0);
    CHECK(relay_get_job(jb.p, jb.len - 1, &job, &err) == -1);
    relay_buf_free(&jb);
}

/* A launcher that is not mpirun: tests/py/fake_launcher.py first speaks with a wrong token
 * (turned away), then with the right one, reads the job and answers with an error frame. */
TEST(relay_wrong_token_is_turned_away)
{
    Rec rec = {0};
    Sink sink = rec_sink(&rec);
    atomic_int cancel = 0;
    sink.cancel = &cancel;
    LaunchConfig lc = {.mpirun = "/usr/bin/python3 tests/py/fake_launcher.py",
                       .train_exe = "/bin/true",
                       .connect_s = 20};
    LaunchResult out;
    GsErr err = {{0}};
    double t0 = now();
    int rc = launch_run(&lc, 0, 2, "{\"processes\": 2}", NULL, NULL, &sink, NULL, 0, NULL,
                        NULL, &out, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "fake launcher: the wrong token was refused; a job frame with "
                              "config {\"processes\": 2}") != NULL,
              "%s", err.msg);
    CHECK(now() - t0 < 20);
    /* rank 0 silent after the job (no heartbeat): a lost process after silence_s */
    lc.mpirun = "/usr/bin/python3 tests/py/fake_launcher.py --silent";
    lc.silence_s = 3;
    t0 = now();
    rc = launch_run(&lc, 0, 2, "{}", NULL, NULL, &sink, NULL, 0, NULL, NULL, &out, &err);
    CHECK_INT_EQ(rc, LAUNCH_LOST);
    CHECK_MSG(strstr(err.msg, "nothing from rank 0 for 3 s") != NULL, "%s", err.msg);
    CHECK_MSG(now() - t0 < 10, "silence noticed after %.1f s", now() - t0);
    /* a launcher that ends without a word: a lost process, told at once */
    lc.mpirun = "/bin/false";
    t0 = now();
    rc = launch_run(&lc, 0, 2, "{}", NULL, NULL, &sink, NULL, 0, NULL, NULL, &out, &err);
    CHECK_INT_EQ(rc, LAUNCH_LOST);
    CHECK_MSG(strstr(err.msg, "before rank 0 connected") != NULL, "%s", err.msg);
    CHECK(now() - t0 < 5);
}

/* ---- gsimclrd with P = 2 -------------------------------------------------------------- */

/* A launcher that always fails: every attempt loses its processes, the run goes back to the
 * queue each time and fails on the fourth loss, saying why. */
TEST(launch_lost_processes_fail_the_run_after_a_few_resumes)
{
    Daemon d = {0};
    CHECK(dproc_mkdir(&d) == 0);
    d.mpirun = "/bin/false";
    if (dproc_start(&d) != 0) {
        CHECK_MSG(0, "the daemon did not start");
        dproc_cleanup(&d);
        return;
    }
    long status = 0;
    int64_t id = dproc_submit(d.port, "{\"processes\": 2, \"subset\": 600, \"kmeans\": {\"k\": 8}}",
                              &status);
    CHECK(id > 0);
    char s[32];
    CHECK(strcmp(dproc_wait_done(d.port, id, 60, s, sizeof s), "failed") == 0);
    cJSON *run = dproc_get_run(d.port, id);
    cJSON *e = cJSON_GetObjectItem(run, "error"), *res = cJSON_GetObjectItem(run, "resumes");
    CHECK_MSG(cJSON_IsString(e) && strstr(e->valuestring, "before rank 0 connected") &&
                  strstr(e->valuestring, "the 4th time: giving up"),
              "error: %s", cJSON_IsString(e) ? e->valuestring : "-");
    CHECK(cJSON_IsNumber(res) && res->valueint == 3);
    cJSON_Delete(run);
    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 20), 0);
    dproc_cleanup(&d);
}

/* Small, with enough SimCLR epochs (a checkpoint after each) to kill a rank in the middle. */
static const char *P2_FORMAT =
    "{\"name\": \"p2\", \"subset\": 1500, \"subset_random\": true, \"test_subset\": 300,"
    " \"threads\": 1, \"processes\": 2,"
    " \"dae\": {\"filters\": [8, 16, 32], \"epochs\": 1, \"batch\": 128},"
    " \"kmeans\": {\"k\": 16, \"n_init\": 1},"
    " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 8, \"head\": [32, 16]},"
    "              \"epochs\": %d, \"batch\": 64, \"checkpoint_every\": 1},"
    " \"eval\": {\"linear\": {\"epochs\": 2}, \"knn_k\": 10}}";

/* The result without its timings, as text. */
static char *result_text(const cJSON *res)
{
    if (!cJSON_IsObject(res))
        return NULL;
    cJSON *c = cJSON_Duplicate(res, true);
    const char *drop[] = {"dae_seconds", "kmeans_seconds", "simclr_seconds", "eval_seconds"};
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        cJSON_DeleteItemFromObject(c, drop[i]);
    cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(c, "finetune"))
        cJSON_DeleteItemFromObject(row, "seconds");
    char *t = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    return t;
}

static char *run_result_text(int port, int64_t id)
{
    cJSON *j = dproc_get_run(port, id);
    char *t = result_text(cJSON_GetObjectItem(j, "result"));
    cJSON_Delete(j);
    return t;
}

static int pid_of_rank(const char *dir, int rank)
{
    char path[256];
    snprintf(path, sizeof path, "%.200s/rank-%d.pid", dir, rank);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

/* A process is there (a zombie counts as gone). */
static bool alive(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *rp = strrchr(buf, ')');
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

/* The launcher's pid from the daemon's log line "launched ... pid N" (the last one). */
static int launcher_pid(const char *log)
{
    FILE *f = fopen(log, "r");
    char line[2048];
    int pid = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "gsimclrd: launched ");
        const char *q = p ? strstr(p, ", pid ") : NULL;
        if (q)
            pid = atoi(q + 6);
    }
    if (f)
        fclose(f);
    return pid;
}

typedef struct {
    int port;
    int epoch;   /* wanted: a simclr checkpoint of at least this epoch */
    bool found;
} CkptWait;

static bool simclr_ckpt_or_end(const cJSON *run, void *arg)
{
    CkptWait *w = arg;
    cJSON *id = cJSON_GetObjectItem(run, "id");
    char path[96];
    snprintf(path, sizeof path, "/v1/runs/%lld/checkpoints", (long long)id->valuedouble);
    cJSON *j = dproc_get_json(w->port, path), *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "checkpoints"))
    {
        cJSON *st = cJSON_GetObjectItem(c, "stage"), *ep = cJSON_GetObjectItem(c, "epoch");
        if (cJSON_IsString(st) && strcmp(st->valuestring, "simclr") == 0 &&
            cJSON_IsNumber(ep) && ep->valueint >= w->epoch)
            w->found = true;
    }
    cJSON_Delete(j);
    return w->found || apic_run_ended(run, NULL);
}

static int resumes_of(int port, int64_t id)
{
    cJSON *j = dproc_get_run(port, id);
    cJSON *r = cJSON_GetObjectItem(j, "resumes");
    int n = cJSON_IsNumber(r) ? r->valueint : -1;
    cJSON_Delete(j);
    return n;
}

/* `mpirun -np 2 bin/gsimclrd --run CONFIG` (the daemon's binary): its result line, parsed. */
static cJSON *mpirun_run(const char *dir, const char *config)
{
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "%s/p2.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(config, f);
    fclose(f);
    const char *bin = getenv("GS_DAEMON") ? getenv("GS_DAEMON") : "bin/gsimclrd";
    snprintf(cmd, sizeof cmd,
             "mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 %s --run %s "
             "2>%s/mpirun.log",
             bin, path, dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char line[1 << 16], last[1 << 16] = "";
    while (fgets(line, sizeof line, p))
        if (line[0] == '{')
            snprintf(last, sizeof last, "%s", line);
    int st = pclose(p);
    if (st != 0)
        fprintf(stderr, "  mpirun --run exited with %d (log in %s/mpirun.log)\n", st, dir);
    return *last ? cJSON_Parse(last) : NULL;
}

TEST(launch_p2_daemon_run_fault_and_cancel)
{
    Daemon d = {0};
    CHECK(dproc_mkdir(&d) == 0);
    char pids[256];
    snprintf(pids, sizeof pids, "%s/pids", d.dir);
    mkdir(pids, 0755);
    setenv("GS_MPI_PID_DIR", pids, 1);
    d.threads = 1;
    if (dproc_start(&d) != 0) {
        CHECK_MSG(0, "the daemon did not start");
        dproc_cleanup(&d);
        return;
    }

    /* bad "processes": 400 naming the field, nothing stored */
    GsErr err;
    char *before = fingerprint_db(d.db, &err);
    const char *bad[] = {"{\"processes\": 0}", "{\"processes\": 65}",
                         "{\"processes\": 3, \"simclr\": {\"batch\": 64}}"};
    for (size_t i = 0; i < 3; i++) {
        ApiResp r;
        CHECK(apic_json(d.port, "POST", "/v1/runs", bad[i], NULL, &r) == 0);
        CHECK_MSG(r.status == 400 && strstr(r.body, "processes"), "%s: %ld %s", bad[i],
                  r.status, r.body);
        apic_free(&r);
    }
    char *after = fingerprint_db(d.db, &err);
    CHECK(before && after && strcmp(before, after) == 0);
    free(before);
    free(after);

    /* an undisturbed P = 2 run */
    char P2_CONFIG[2048];
    snprintf(P2_CONFIG, sizeof P2_CONFIG, P2_FORMAT, 6);
    long status = 0;
    int64_t a = dproc_submit(d.port, P2_CONFIG, &status);
    CHECK(a > 0);
    char s[32];
    CHECK(strcmp(dproc_wait_done(d.port, a, 120, s, sizeof s), "succeeded") == 0);
    cJSON *run = dproc_get_run(d.port, a);
    cJSON *procs = cJSON_GetObjectItem(run, "processes"), *hosts = cJSON_GetObjectItem(run, "hosts");
    CHECK(cJSON_IsNumber(procs) && procs->valueint == 2);
    CHECK(cJSON_IsArray(hosts) && cJSON_GetArraySize(hosts) == 2);
    char host[256] = "";
    gethostname(host, sizeof host);
    cJSON *h0 = cJSON_GetArrayItem(hosts, 0);
    CHECK(cJSON_IsString(h0) && strcmp(h0->valuestring, host) == 0);
    cJSON *res = cJSON_GetObjectItem(run, "result");
    cJSON *top1 = cJSON_GetObjectItem(res, "linear_top1");
    CHECK(cJSON_IsNumber(top1) && top1->valuedouble > 0.3);
    CHECK_INT_EQ(resumes_of(d.port, a), 0);
    cJSON_Delete(run);
    /* gsimclr show says where it ran */
    char cmd[512], out[8192] = "";
    snprintf(cmd, sizeof cmd, "GSIMCLR_SERVER=http://127.0.0.1:%d %s show %lld", d.port,
             getenv("GS_CLI") ? getenv("GS_CLI") : "bin/gsimclr", (long long)a);
    FILE *cli = popen(cmd, "r");
    size_t got = cli ? fread(out, 1, sizeof out - 1, cli) : 0;
    out[got] = 0;
    if (cli)
        pclose(cli);
    char want[600];
    snprintf(want, sizeof want, "2 on %s, %s", host, host);
    CHECK_MSG(strstr(out, "processes") && strstr(out, want), "gsimclr show:\n%s", out);
    char *ra = run_result_text(d.port, a);
    CHECK(ra != NULL);

    /* the same with mpirun -np 2 gsimclrd --run: bit for bit the same (same P) */
    cJSON *one = mpirun_run(d.dir, P2_CONFIG);
    char *ro = result_text(one);
    CHECK_MSG(ro && ra && strcmp(ro, ra) == 0, "daemon %s\n      --run  %s", ra ? ra : "-",
              ro ? ro : "-");
    free(ro);
    cJSON_Delete(one);

    /* kill -9 of rank 1 in the middle of SimCLR */
    int64_t b = dproc_submit(d.port, P2_CONFIG, &status);
    CHECK(b > 0);
    CkptWait w = {d.port, 2, false};
    cJSON_Delete(apic_wait_run(d.port, b, simclr_ckpt_or_end, &w, 120));
    CHECK_MSG(w.found, "no simclr checkpoint of epoch 2");
    int victim = pid_of_rank(pids, 1);
    CHECK(victim > 0 && alive(victim));
    double t0 = now();
    if (victim > 0)
        kill(victim, SIGKILL);
    while (resumes_of(d.port, b) < 1 && now() - t0 < 60)
        usleep(100000);
    double noticed = now() - t0;
    CHECK_MSG(noticed < 30, "the daemon resumed the run %.1f s after the kill", noticed);
    CHECK(strcmp(dproc_wait_done(d.port, b, 120, s, sizeof s), "succeeded") == 0);
    CHECK_INT_EQ(resumes_of(d.port, b), 1);
    char *rb = run_result_text(d.port, b);
    CHECK_MSG(rb && ra && strcmp(rb, ra) == 0, "resumed     %s\n      undisturbed %s",
              rb ? rb : "-", ra ? ra : "-");
    free(rb);
    fprintf(stderr, "  P = 2: the loss of rank 1 noticed and the run resumed in %.1f s\n",
            noticed);

    /* a cancel stops every process */
    char longer[2048];
    snprintf(longer, sizeof longer, P2_FORMAT, 200);
    int64_t c = dproc_submit(d.port, longer, &status);
    CHECK_MSG(c > 0, "submit: %ld", status);
    w = (CkptWait){d.port, 1, false};
    cJSON_Delete(apic_wait_run(d.port, c, simclr_ckpt_or_end, &w, 120));
    CHECK(w.found);
    int procs_of_c[3] = {pid_of_rank(pids, 0), pid_of_rank(pids, 1), launcher_pid(d.log)};
    for (int i = 0; i < 3; i++)
        CHECK_MSG(procs_of_c[i] > 0 && alive(procs_of_c[i]), "process %d not running", i);
    char path[96];
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)c);
    ApiResp r;
    t0 = now();
    CHECK(apic_json(d.port, "POST", path, NULL, NULL, &r) == 0 && r.status / 100 == 2);
    apic_free(&r);
    CHECK(strcmp(dproc_wait_done(d.port, c, 120, s, sizeof s), "canceled") == 0);
    double took = now() - t0;
    CHECK_MSG(took < 35, "the cancel took %.1f s", took);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(!alive(procs_of_c[i]), "%s (pid %d) still runs after the cancel",
                  i < 2 ? "a rank" : "the launcher", procs_of_c[i]);
    fprintf(stderr, "  P = 2: canceled in %.1f s, no process left\n", took);

    /* SIGTERM of the daemon stops every process; the run resumes at the next start */
    int64_t e = dproc_submit(d.port, longer, &status);
    CHECK(e > 0);
    w = (CkptWait){d.port, 1, false};
    cJSON_Delete(apic_wait_run(d.port, e, simclr_ckpt_or_end, &w, 120));
    CHECK(w.found);
    int procs_of_e[3] = {pid_of_rank(pids, 0), pid_of_rank(pids, 1), launcher_pid(d.log)};
    t0 = now();
    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 40), 0);
    fprintf(stderr, "  P = 2: SIGTERM stopped the daemon in %.1f s\n", now() - t0);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(!alive(procs_of_e[i]), "pid %d still runs after the daemon stopped",
                  procs_of_e[i]);
    CHECK(dproc_start(&d) == 0);
    t0 = now();
    while (resumes_of(d.port, e) < 1 && now() - t0 < 60)
        usleep(100000);
    CHECK_INT_EQ(resumes_of(d.port, e), 1);
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)e);
    CHECK(apic_json(d.port, "POST", path, NULL, NULL, &r) == 0 && r.status / 100 == 2);
    apic_free(&r);
    CHECK(strcmp(dproc_wait_done(d.port, e, 120, s, sizeof s), "canceled") == 0);

    free(ra);
    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 40), 0);
    unsetenv("GS_MPI_PID_DIR");
    dproc_cleanup(&d);
}
