/* test_store.c — the SQLite store (store.h) on throwaway databases under /tmp: migrations
 * (idempotent, refusing a newer database), every run state change and its conflicts, stages
 * with NaN, metrics, events, 60,000 pseudo-labels, checkpoints (kept newest N, stored as told
 * by their caller, bad blobs refused on their way in by jobs_checkpoint_put), the fingerprint
 * (fingerprint.h) proving a refused call changed nothing, and 8 threads over two Store
 * handles at once. Every test removes its folder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fingerprint.h"
#include "gs/checkpoint.h"
#include "gs/config.h"
#include "gs/jobs.h"
#include "gs/pipeline.h"
#include "gs/store.h"
#include "harness.h"

extern const int SCHEMA_MIGRATION_COUNT;

/* 60,000 pseudo-labels must be stored well under a second; sanitizers slow every call. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PUT_60K_LIMIT_S 5.0
#else
#define PUT_60K_LIMIT_S 1.0
#endif

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Removes a folder and everything under it (the store's db, -wal and -shm files). */
static void rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            rm_rf(child);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* A fresh folder under /tmp (the caller frees and removes it). */
static char *tmp_dir(void)
{
    char tmpl[] = "/tmp/gs-store-XXXXXX";
    return mkdtemp(tmpl) ? strdup(tmpl) : NULL;
}

static Store *open_store(const char *dir)
{
    Store *st = NULL;
    GsErr err;
    int rc = store_open(&st, dir, &err);
    CHECK_MSG(rc == 0, "store_open %s: %s", dir, err.msg);
    return rc == 0 ? st : NULL;
}

/* A store in a fresh folder under /tmp (*dir, malloc'd), or NULL when either cannot be made.
 * Pair with drop_store. */
static Store *fresh_store(char **dir)
{
    *dir = tmp_dir();
    Store *st = *dir ? open_store(*dir) : NULL;
    if (!st) {
        free(*dir);
        *dir = NULL;
    }
    return st;
}

/* Closes st and removes its folder. */
static void drop_store(Store *st, char *dir)
{
    store_close(st);
    rm_rf(dir);
    free(dir);
}

/* A valid GSCK blob whose bytes depend on seed (free with ckpt_writer_free). */
static int make_ckpt(CkptWriter *w, uint32_t seed, size_t floats)
{
    GsErr err;
    float *v = malloc(floats * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < floats; i++)
        v[i] = (float)(seed * 1000003u + (uint32_t)i) * 1e-3f;
    ckpt_writer_init(w);
    int rc = ckpt_add(w, "weights", v, floats * sizeof *v, &err) != 0 ||
                     ckpt_add(w, "seed", &seed, sizeof seed, &err) != 0 ||
                     ckpt_finish(w, &err) != 0
                 ? -1
                 : 0;
    free(v);
    return rc;
}

/* The fingerprint of the store in folder dir. */
static char *fingerprint(const char *dir)
{
    GsErr err;
    char *f = fingerprint_db(dir, &err);
    CHECK_MSG(f != NULL, "fingerprint_db: %s", err.msg);
    return f;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Whether the fingerprint of the store in dir is still before (a fingerprint() result, freed
 * here): a refused call must change nothing. */
static bool unchanged(const char *dir, char *before)
{
    char *after = fingerprint(dir);
    bool kept = same(before, after);
    free(before);
    free(after);
    return kept;
}

/* A position (store.h), and the end of kmeans, where the pseudo-labels belong. */
#define POS(stage, epoch, step) ((StorePos){(stage), (epoch), (step)})
#define KMEANS_END POS(STAGE_KMEANS, 1, STORE_END_OF_EPOCH)

/* The stages a run of method skips, as the API tells the store: the pipeline's answer for
 * that method. */
static unsigned skipped_for(const char *method)
{
    RunConfig cfg;
    run_config_defaults(&cfg);
    cfg.method = method && strcmp(method, "simclr") == 0 ? METHOD_SIMCLR : METHOD_GSIMCLR;
    return pipeline_skipped_stages(&cfg);
}

/* Inserts a run; 0 on failure (a CHECK has then failed). */
static int64_t add_run(Store *st, const char *method, const char *name)
{
    GsErr err;
    int64_t id = 0;
    int rc = store_run_insert(st, method, name, "{\"seed\": 1}", skipped_for(method), &id,
                              &err);
    CHECK_MSG(rc == 0, "store_run_insert: %s", err.msg);
    return rc == 0 ? id : 0;
}

TEST(store_open_migrates_once)
{
    char *dir = tmp_dir();
    CHECK(dir != NULL);
    if (!dir)
        return;
    char sub[512];
    snprintf(sub, sizeof sub, "%s/a/b/var", dir);   /* mkdir -p */
    Store *st = open_store(sub);
    if (st) {
        CHECK_INT_EQ(store_schema_version(st), SCHEMA_MIGRATION_COUNT);
        CHECK(SCHEMA_MIGRATION_COUNT >= 1);
        int64_t id = add_run(st, "gsimclr", "kept");
        char *f1 = fingerprint(sub);
        store_close(st);

        /* the second open applies nothing: same version, same rows (schema_version included) */
        st = open_store(sub);
        if (st) {
            CHECK_INT_EQ(store_schema_version(st), SCHEMA_MIGRATION_COUNT);
            char *f2 = fingerprint(sub);
            CHECK(same(f1, f2));
            StoreRun r;
            GsErr err;
            CHECK_INT_EQ(store_run_get(st, id, &r, &err), 0);
            CHECK(strcmp(r.name, "kept") == 0);
            store_run_free(&r);
            free(f2);
            store_close(st);
        }
        free(f1);
    }
    rm_rf(dir);
    free(dir);
}

TEST(store_open_errors)
{
    char *dir = tmp_dir();
    CHECK(dir != NULL);
    if (!dir)
        return;
    GsErr err;
    Store *st = (Store *)&err;   /* must come back NULL */
    char path[512];

    /* a folder that cannot be made: its parent is a file (root may write anywhere else) */
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("not a folder\n", f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/file/db", dir);
    err.msg[0] = '\0';
    CHECK_INT_EQ(store_open(&st, path, &err), -1);
    CHECK(st == NULL);
    CHECK_MSG(strstr(err.msg, "file") != NULL, "message: %s", err.msg);
    CHECK_INT_EQ(store_open(&st, "", &err), -1);

    /* a gsimclr.db that is not a database */
    snprintf(path, sizeof path, "%s/junk", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/junk/gsimclr.db", dir);
    f = fopen(path, "w");
    if (f) {
        for (int i = 0; i < 200; i++)
            fputs("this is not an SQLite database. ", f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/junk", dir);
    CHECK_INT_EQ(store_open(&st, path, &err), -1);
    CHECK_MSG(strstr(err.msg, "not a database") != NULL, "message: %s", err.msg);

    /* a database from a newer gsimclrd (made with the sqlite3 shell when it is installed) */
    if (system("command -v sqlite3 >/dev/null 2>&1") == 0) {
        snprintf(path, sizeof path, "%s/newer", dir);
        st = open_store(path);
        store_close(st);
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "sqlite3 '%s/gsimclr.db' 'INSERT INTO schema_version VALUES (%d, 0)'", path,
                 SCHEMA_MIGRATION_COUNT + 7);
        CHECK_INT_EQ(system(cmd), 0);
        st = NULL;
        CHECK_INT_EQ(store_open(&st, path, &err), -1);
        CHECK(st == NULL);
        CHECK_MSG(strstr(err.msg, "newer") != NULL, "message: %s", err.msg);
    } else {
        printf("    (no sqlite3 shell: the newer-database case is not tried)\n");
    }
    rm_rf(dir);
    free(dir);
}

TEST(store_run_insert_get)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    double t0 = (double)time(NULL);
    int64_t g = add_run(st, "gsimclr", "guided"), s = add_run(st, "simclr", NULL);
    CHECK(g > 0 && s > g);

    StoreRun r;
    CHECK_INT_EQ(store_run_get(st, g, &r, &err), 0);
    CHECK_INT_EQ(r.id, g);
    CHECK_INT_EQ(r.status, RUN_QUEUED);
    CHECK(strcmp(r.method, "gsimclr") == 0 && strcmp(r.name, "guided") == 0);
    CHECK(r.config_json && strcmp(r.config_json, "{\"seed\": 1}") == 0);
    CHECK(r.result_json == NULL && r.error == NULL);
    CHECK(r.created_at >= t0 - 1 && r.created_at <= t0 + 5);
    CHECK(r.started_at == 0 && r.finished_at == 0);
    CHECK(!r.cancel_requested && r.resumes == 0);
    store_run_free(&r);
    CHECK(r.config_json == NULL);

    StoreStage sg[4];
    CHECK_INT_EQ(store_stages_get(st, g, sg, &err), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_INT_EQ(sg[i].progress.stage, i);
        CHECK_INT_EQ(sg[i].status, SS_PENDING);
        CHECK(isnan(sg[i].progress.loss) && isnan(sg[i].progress.eta_s));
    }
    CHECK_INT_EQ(store_stages_get(st, s, sg, &err), 0);
    CHECK_INT_EQ(sg[0].status, SS_SKIPPED);
    CHECK_INT_EQ(sg[1].status, SS_SKIPPED);
    CHECK_INT_EQ(sg[2].status, SS_PENDING);
    CHECK_INT_EQ(sg[3].status, SS_PENDING);
    CHECK(store_run_get(st, s, &r, &err) == 0 && r.name[0] == '\0');
    store_run_free(&r);

    CHECK_INT_EQ(store_run_get(st, 999, &r, &err), STORE_NOT_FOUND);
    CHECK(r.config_json == NULL);
    CHECK_INT_EQ(store_stages_get(st, 999, sg, &err), STORE_NOT_FOUND);

    /* refused before anything is written */
    char *before = fingerprint(dir);
    char long_name[200];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    int64_t id = -5;
    CHECK_INT_EQ(store_run_insert(st, "byol", "", "{}", 0, &id, &err), -1);
    CHECK_INT_EQ(store_run_insert(st, NULL, "", "{}", 0, &id, &err), -1);
    CHECK_INT_EQ(store_run_insert(st, "simclr", long_name, "{}", skipped_for("simclr"), &id,
                                  &err), -1);
    CHECK_INT_EQ(store_run_insert(st, "simclr", "", NULL, skipped_for("simclr"), &id, &err), -1);
    CHECK_INT_EQ(store_run_insert(st, "simclr", "", "{}", 1u << STAGE_COUNT, &id, &err), -1);
    CHECK_INT_EQ(id, -5);
    CHECK(unchanged(dir, before));

    CHECK(strcmp(RUN_STATUS_NAMES[RUN_CANCELED], "canceled") == 0);
    CHECK_INT_EQ(run_status_parse("succeeded"), RUN_SUCCEEDED);
    CHECK_INT_EQ(run_status_parse("done"), -1);
    CHECK_INT_EQ(run_status_parse(NULL), -1);
    CHECK(strcmp(STAGE_STATUS_NAMES[SS_SKIPPED], "skipped") == 0);
    drop_store(st, dir);
}

TEST(store_run_list_filters)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t ids[7];
    for (int i = 0; i < 7; i++) {
        char name[16];
        snprintf(name, sizeof name, "run%d", i);
        ids[i] = add_run(st, i % 3 == 0 ? "simclr" : "gsimclr", name);
    }
    /* ids[0] and ids[1] running (claims take the oldest) */
    int64_t c;
    CHECK(store_run_claim(st, &c, &err) == 0 && c == ids[0]);
    CHECK(store_run_claim(st, &c, &err) == 0 && c == ids[1]);

    StoreRun *runs;
    int n, total;
    StoreRunFilter all = {.status = -1};
    CHECK_INT_EQ(store_run_list(st, &all, &runs, &n, &total, &err), 0);
    CHECK_INT_EQ(n, 7);
    CHECK_INT_EQ(total, 7);
    for (int i = 0; i < n; i++) {
        CHECK_INT_EQ(runs[i].id, ids[6 - i]);   /* newest first */
        CHECK(runs[i].config_json == NULL);
    }
    store_run_list_free(runs, n);
    CHECK_INT_EQ(store_run_list(st, NULL, &runs, &n, &total, &err), 0);
    CHECK_INT_EQ(n, 7);
    store_run_list_free(runs, n);

    StoreRunFilter page = {.status = -1, .limit = 3, .offset = 2};
    CHECK_INT_EQ(store_run_list(st, &page, &runs, &n, &total, &err), 0);
    CHECK_INT_EQ(n, 3);
    CHECK_INT_EQ(total, 7);
    CHECK(n == 3 && runs[0].id == ids[4] && runs[2].id == ids[2]);
    store_run_list_free(runs, n);

    StoreRunFilter simclr = {.status = -1, .method = "simclr"};   /* ids 0, 3, 6 */
    CHECK_INT_EQ(store_run_list(st, &simclr, &runs, &n, &total, &err), 0);
    CHECK(n == 3 && total == 3 && runs[0].id == ids[6] && runs[2].id == ids[0]);
    store_run_list_free(runs, n);

    StoreRunFilter running = {.status = RUN_RUNNING, .limit = 1};
    CHECK_INT_EQ(store_run_list(st, &running, &runs, &n, &total, &err), 0);
    CHECK(n == 1 && total == 2 && runs[0].id == ids[1]);
    CHECK(n == 1 && runs[0].status == RUN_RUNNING && runs[0].started_at > 0);
    store_run_list_free(runs, n);

    StoreRunFilter both = {.status = RUN_QUEUED, .method = "simclr"};
    CHECK_INT_EQ(store_run_list(st, &both, &runs, &n, &total, &err), 0);
    CHECK(n == 2 && total == 2 && runs[0].id == ids[6] && runs[1].id == ids[3]);
    store_run_list_free(runs, n);

    StoreRunFilter past = {.status = -1, .limit = 10, .offset = 50};
    CHECK_INT_EQ(store_run_list(st, &past, &runs, &n, &total, &err), 0);
    CHECK(n == 0 && total == 7);
    store_run_list_free(runs, n);

    StoreRunFilter bad = {.status = 42};
    CHECK_INT_EQ(store_run_list(st, &bad, &runs, &n, &total, &err), -1);

    long counts[RUN_STATUS_COUNT];
    CHECK_INT_EQ(store_run_counts(st, counts, &err), 0);
    CHECK_INT_EQ(counts[RUN_QUEUED], 5);
    CHECK_INT_EQ(counts[RUN_RUNNING], 2);
    CHECK_INT_EQ(counts[RUN_SUCCEEDED] + counts[RUN_FAILED] + counts[RUN_CANCELED], 0);

    int64_t *rids;
    CHECK_INT_EQ(store_runs_in_state(st, RUN_RUNNING, &rids, &n, &err), 0);
    CHECK(n == 2 && rids[0] == ids[0] && rids[1] == ids[1]);
    free(rids);
    CHECK_INT_EQ(store_runs_in_state(st, RUN_FAILED, &rids, &n, &err), 0);
    CHECK(n == 0);
    free(rids);
    drop_store(st, dir);
}

TEST(store_run_claim_order)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t c = -1;
    CHECK_INT_EQ(store_run_claim(st, &c, &err), 0);
    CHECK_INT_EQ(c, 0);   /* none queued */
    int64_t a = add_run(st, "gsimclr", "a"), b = add_run(st, "gsimclr", "b"),
            d = add_run(st, "simclr", "d");
    bool now = false;
    CHECK_INT_EQ(store_run_request_cancel(st, a, &now, &err), 0);   /* no longer queued */
    CHECK(now);
    CHECK(store_run_claim(st, &c, &err) == 0 && c == b);
    StoreRun r;
    CHECK_INT_EQ(store_run_get(st, b, &r, &err), 0);
    CHECK_INT_EQ(r.status, RUN_RUNNING);
    double started = r.started_at;
    CHECK(started > 0);
    store_run_free(&r);

    /* a resumed run keeps its first start time */
    CHECK_INT_EQ(store_run_requeue(st, b, &err), 0);
    CHECK(store_run_claim(st, &c, &err) == 0 && c == b);   /* still the oldest queued */
    CHECK_INT_EQ(store_run_get(st, b, &r, &err), 0);
    CHECK(r.status == RUN_RUNNING && r.started_at == started);
    store_run_free(&r);
    CHECK(store_run_claim(st, &c, &err) == 0 && c == d);
    CHECK(store_run_claim(st, &c, &err) == 0 && c == 0);
    drop_store(st, dir);
}

TEST(store_run_cancel)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t q = add_run(st, "simclr", "queued"), r = add_run(st, "gsimclr", "running"), c;
    StoreRun run;
    StoreStage sg[4];
    bool now = false;

    /* queued: canceled at once, pending stages canceled, skipped ones stay */
    CHECK_INT_EQ(store_run_request_cancel(st, q, &now, &err), 0);
    CHECK(now);
    CHECK_INT_EQ(store_run_get(st, q, &run, &err), 0);
    CHECK(run.status == RUN_CANCELED && run.finished_at > 0 && run.cancel_requested);
    store_run_free(&run);
    CHECK_INT_EQ(store_stages_get(st, q, sg, &err), 0);
    CHECK(sg[0].status == SS_SKIPPED && sg[1].status == SS_SKIPPED);
    CHECK(sg[2].status == SS_CANCELED && sg[3].status == SS_CANCELED);

    /* running: only flagged, twice is fine */
    CHECK(store_run_claim(st, &c, &err) == 0 && c == r);
    now = true;
    CHECK_INT_EQ(store_run_request_cancel(st, r, &now, &err), 0);
    CHECK(!now);
    CHECK_INT_EQ(store_run_request_cancel(st, r, &now, &err), 0);
    CHECK_INT_EQ(store_run_get(st, r, &run, &err), 0);
    CHECK(run.status == RUN_RUNNING && run.cancel_requested && run.finished_at == 0);
    store_run_free(&run);

    /* ended or missing: refused, nothing changed */
    char *before = fingerprint(dir);
    CHECK_INT_EQ(store_run_request_cancel(st, q, &now, &err), STORE_CONFLICT);
    CHECK_MSG(strstr(err.msg, "ended") != NULL, "message: %s", err.msg);
    CHECK_INT_EQ(store_run_request_cancel(st, 12345, &now, &err), STORE_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "not found") != NULL, "message: %s", err.msg);
    CHECK(unchanged(dir, before));
    drop_store(st, dir);
}

TEST(store_run_finish_states)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "gsimclr", "ok"), b = add_run(st, "gsimclr", "bad"),
            q = add_run(st, "gsimclr", "waits"), c;
    StoreRun run;
    StoreStage sg[4], g = {.progress = {.stage = 0, .epoch = 3, .epochs = 3, .step = 120,
                                        .steps = 120, .loss = 0.02, .items_per_s = 900,
                                        .eta_s = 0},
                           .status = SS_SUCCEEDED, .seconds = 12.5, .started_at = 1.0e9,
                           .finished_at = 1.0e9 + 12.5};

    /* finishing a queued run is a conflict and changes nothing */
    char *before = fingerprint(dir);
    CHECK_INT_EQ(store_run_finish(st, q, RUN_SUCCEEDED, "{}", NULL, &err), STORE_CONFLICT);
    CHECK_INT_EQ(store_run_finish(st, 999, RUN_FAILED, NULL, "x", &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_run_finish(st, q, RUN_RUNNING, NULL, NULL, &err), -1);
    CHECK(unchanged(dir, before));

    /* succeeded: the running stage succeeds, finished ones stay */
    CHECK(store_run_claim(st, &c, &err) == 0 && c == a);
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);
    g.progress.stage = 1;
    g.status = SS_RUNNING;
    g.finished_at = 0;
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);
    CHECK_INT_EQ(store_run_finish(st, a, RUN_SUCCEEDED, "{\"linear_top1\": 0.86}", NULL, &err), 0);
    CHECK_INT_EQ(store_run_get(st, a, &run, &err), 0);
    CHECK(run.status == RUN_SUCCEEDED && run.finished_at > 0 && run.error == NULL);
    CHECK(run.result_json && strcmp(run.result_json, "{\"linear_top1\": 0.86}") == 0);
    store_run_free(&run);
    CHECK_INT_EQ(store_stages_get(st, a, sg, &err), 0);
    CHECK(sg[0].status == SS_SUCCEEDED && sg[0].finished_at == 1.0e9 + 12.5);
    CHECK(sg[1].status == SS_SUCCEEDED && sg[1].finished_at > 1.0e9 + 13);
    CHECK(sg[2].status == SS_PENDING && sg[3].status == SS_PENDING);
    CHECK_INT_EQ(store_run_finish(st, a, RUN_FAILED, NULL, "again", &err), STORE_CONFLICT);

    /* failed: the running stage and the pending ones fail */
    CHECK(store_run_claim(st, &c, &err) == 0 && c == b);
    g.progress.stage = 0;
    CHECK_INT_EQ(store_stage_put(st, b, &g, &err), 0);
    CHECK_INT_EQ(store_run_finish(st, b, RUN_FAILED, NULL, "dae: loss is NaN", &err), 0);
    CHECK_INT_EQ(store_run_get(st, b, &run, &err), 0);
    CHECK(run.status == RUN_FAILED && run.error && strcmp(run.error, "dae: loss is NaN") == 0);
    CHECK(run.result_json == NULL);
    store_run_free(&run);
    CHECK_INT_EQ(store_stages_get(st, b, sg, &err), 0);
    for (int i = 0; i < 4; i++)
        CHECK_INT_EQ(sg[i].status, SS_FAILED);
    CHECK(sg[0].finished_at > 0 && sg[3].finished_at == 0);   /* only a stage that ran ends */

    /* canceled (the worker honouring cancel_requested) */
    CHECK(store_run_claim(st, &c, &err) == 0 && c == q);
    CHECK_INT_EQ(store_run_request_cancel(st, q, NULL, &err), 0);
    g.progress.stage = 2;
    CHECK_INT_EQ(store_stage_put(st, q, &g, &err), 0);
    CHECK_INT_EQ(store_run_finish(st, q, RUN_CANCELED, NULL, NULL, &err), 0);
    CHECK_INT_EQ(store_stages_get(st, q, sg, &err), 0);
    CHECK(sg[0].status == SS_CANCELED && sg[2].status == SS_CANCELED);
    CHECK_INT_EQ(store_run_get(st, q, &run, &err), 0);
    CHECK(run.status == RUN_CANCELED && run.cancel_requested);
    store_run_free(&run);
    drop_store(st, dir);
}

TEST(store_run_requeue_resumes)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "gsimclr", "crashy"), c;
    CHECK_INT_EQ(store_run_requeue(st, a, &err), STORE_CONFLICT);   /* queued already */
    CHECK_INT_EQ(store_run_requeue(st, 77, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_run_resume(st, a, 0, "status", "running", &err), STORE_CONFLICT);
    CHECK(store_run_claim(st, &c, &err) == 0 && c == a);
    CHECK_INT_EQ(store_run_resume(st, a, 0, "status", "running", &err), 0);
    StoreStage g = {.progress = {.stage = 0, .epoch = 2, .epochs = 2, .step = 80, .steps = 80,
                                 .loss = 0.01, .items_per_s = NAN, .eta_s = 0},
                    .status = SS_SUCCEEDED, .seconds = 3};
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);
    g = (StoreStage){.progress = {.stage = 2, .epoch = 4, .epochs = 10, .step = 1560,
                                  .steps = 3900, .loss = 4.3, .items_per_s = 800, .eta_s = 300},
                     .status = SS_RUNNING, .seconds = 190, .started_at = 1.7e9};
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);
    CHECK_INT_EQ(store_run_request_cancel(st, a, NULL, &err), 0);

    CHECK_INT_EQ(store_run_requeue(st, a, &err), 0);
    StoreRun run;
    CHECK_INT_EQ(store_run_get(st, a, &run, &err), 0);
    /* the resume is counted when the run starts again, not when it is queued */
    CHECK(run.status == RUN_QUEUED && run.resumes == 0 && run.attempts == 1);
    CHECK(run.started_at > 0);
    CHECK(run.cancel_requested);   /* a user's cancel survives the restart */
    store_run_free(&run);
    StoreStage sg[4];
    CHECK_INT_EQ(store_stages_get(st, a, sg, &err), 0);
    CHECK(sg[0].status == SS_SUCCEEDED);
    CHECK(sg[2].status == SS_PENDING && sg[2].progress.epoch == 4 && sg[2].progress.step == 1560);
    CHECK(sg[2].started_at == 1.7e9 && sg[2].progress.loss == 4.3);

    int64_t *ids;
    int n;
    CHECK_INT_EQ(store_runs_in_state(st, RUN_QUEUED, &ids, &n, &err), 0);
    CHECK(n == 1 && ids[0] == a);
    free(ids);
    for (int round = 1; round <= 2; round++) {
        CHECK(store_run_claim(st, &c, &err) == 0 && c == a);
        CHECK_INT_EQ(store_run_resume(st, a, 0, "resume", "again", &err), 0);
        CHECK_INT_EQ(store_run_get(st, a, &run, &err), 0);
        CHECK(run.resumes == round && run.attempts == round + 1);
        store_run_free(&run);
        CHECK_INT_EQ(store_run_requeue(st, a, &err), 0);
    }
    drop_store(st, dir);
}

/* ---- a resume cuts every table back to its checkpoint ---- */

/* The rows a run's training stores, at known positions: metrics of dae epochs 1-2, kmeans
 * and simclr epochs 1-2 (per step every 20 steps, 50 steps an epoch, and per epoch), one log
 * line per epoch, the pseudo-labels at the end of kmeans, and service events among them. */
static void train_rows(Store *st, int64_t run)
{
    GsErr err;
    int32_t assign[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0};
    for (int e = 1; e <= 2; e++) {
        CHECK_INT_EQ(store_metric_add(st, run, 0, e, -1, "loss", e, 1, &err), 0);
        CHECK_INT_EQ(store_event_add(st, run, &POS(0, e, -1), "log", "dae", 1, NULL, &err), 0);
    }
    CHECK_INT_EQ(store_event_add(st, run, NULL, "status", "service", 1, NULL, &err), 0);
    CHECK_INT_EQ(store_metric_add(st, run, 1, 1, -1, "inertia", 3, 1, &err), 0);
    CHECK_INT_EQ(store_assignments_put(st, run, &KMEANS_END, assign, NULL, 10, &err), 0);
    for (int e = 1; e <= 2; e++) {
        for (long s = 20; s <= 50; s += 20)
            CHECK_INT_EQ(store_metric_add(st, run, 2, e, 50L * (e - 1) + s, "step_loss", s, 1,
                                          &err), 0);
        CHECK_INT_EQ(store_metric_add(st, run, 2, e, -1, "loss", e, 1, &err), 0);
        CHECK_INT_EQ(store_event_add(st, run, &POS(2, e, -1), "log", "simclr", 1, NULL, &err), 0);
    }
    CHECK_INT_EQ(store_event_add(st, run, NULL, "resume", "service", 1, NULL, &err), 0);
}

/* The run's metrics as "stage/epoch/step/name" in id order, one per line (malloc'd). */
static char *metric_keys(Store *st, int64_t run)
{
    GsErr err;
    StoreMetric *m = NULL;
    int n = 0;
    CHECK_INT_EQ(store_metrics_get(st, run, -1, NULL, 0, 0, &m, &n, &err), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    for (int i = 0; f && i < n; i++)
        fprintf(f, "%d/%d/%ld/%s\n", m[i].stage, m[i].epoch, m[i].step, m[i].name);
    if (f)
        fclose(f);
    free(m);
    return text;
}

/* The run's events as "kind stage/epoch/step" in id order (malloc'd). */
static char *event_keys(Store *st, int64_t run)
{
    GsErr err;
    StoreEvent *ev = NULL;
    int n = 0;
    CHECK_INT_EQ(store_events_get(st, run, 0, 0, &ev, &n, &err), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    for (int i = 0; f && i < n; i++)
        fprintf(f, "%s %d/%d/%ld\n", ev[i].kind, ev[i].stage, ev[i].epoch, ev[i].step);
    if (f)
        fclose(f);
    store_events_free(ev, n);
    return text;
}

static bool has_assignments(Store *st, int64_t run)
{
    GsErr err;
    int32_t *a = NULL;
    int n = 0;
    int rc = store_assignments_get(st, run, &a, NULL, &n, &err);
    free(a);
    return rc == 0 && n == 10;
}

static int checkpoint_count(Store *st, int64_t run)
{
    GsErr err;
    StoreCheckpoint *list = NULL;
    int n = 0;
    CHECK_INT_EQ(store_checkpoint_list(st, run, &list, &n, &err), 0);
    free(list);
    return n;
}

/* Issue 11 item 2: a stop (SIGTERM) inside simclr epoch 2 stored a checkpoint at step 59;
 * the run went on to step 100 and was killed. The resume keeps what lies at or before step
 * 59 and deletes the rest: step_loss 60, 80 and 100 (twice stored otherwise), the end of
 * epoch 2, and nothing of an earlier epoch or stage, nor the service's events. */
TEST(store_run_resume_inside_an_epoch)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "gsimclr", "sigterm then kill"), other = add_run(st, "gsimclr", "b");
    int64_t c, id;
    CHECK(store_run_claim(st, &c, &err) == 0 && c == a);
    CHECK_INT_EQ(store_run_resume(st, a, 0, "status", "running", &err), 0);
    train_rows(st, a);
    train_rows(st, other);
    CkptWriter w;
    CHECK(make_ckpt(&w, 1, 100) == 0);
    StoreStage row = {.progress = {.stage = 2, .epoch = 2, .epochs = 3, .step = 59, .steps = 150,
                                   .loss = 2.5, .items_per_s = 300, .eta_s = 12},
                      .status = SS_RUNNING, .seconds = 7.5, .started_at = 1.7e9};
    CHECK_INT_EQ(jobs_checkpoint_put(st, a, &POS(2, 2, 59), w.data, w.len, 3, &row, &id, &err),
                 0);
    /* the row went in with the checkpoint; then the run went on and the row moved */
    StoreStage sg[4];
    CHECK_INT_EQ(store_stages_get(st, a, sg, &err), 0);
    CHECK(sg[2].progress.step == 59 && sg[2].seconds == 7.5);
    StoreStage later = row;
    later.progress.step = 100;
    later.progress.epoch = 2;
    later.progress.loss = 9;
    later.seconds = 11;
    CHECK_INT_EQ(store_stage_put(st, a, &later, &err), 0);
    later.progress.stage = 3;
    later.progress.epoch = 1;
    CHECK_INT_EQ(store_stage_put(st, a, &later, &err), 0);
    CHECK_INT_EQ(store_run_requeue(st, a, &err), 0);
    CHECK(store_run_claim(st, &c, &err) == 0 && c == a);

    char *other_before = metric_keys(st, other);
    CHECK_INT_EQ(store_run_resume(st, a, id, "resume", "resuming", &err), 0);
    char *m = metric_keys(st, a), *e = event_keys(st, a);
    const char *want_m = "0/1/-1/loss\n0/2/-1/loss\n1/1/-1/inertia\n"
                         "2/1/20/step_loss\n2/1/40/step_loss\n2/1/-1/loss\n";
    const char *want_e = "status -1/0/0\nlog 0/1/-1\nlog 0/2/-1\nstatus -1/0/0\n"
                         "log 2/1/-1\nresume -1/0/0\nresume -1/0/0\n";
    CHECK_MSG(m && strcmp(m, want_m) == 0, "metrics left:\n%s", m ? m : "?");
    CHECK_MSG(e && strcmp(e, want_e) == 0, "events left:\n%s", e ? e : "?");
    CHECK(has_assignments(st, a));
    CHECK_INT_EQ(checkpoint_count(st, a), 1);
    /* the simclr row is the checkpoint's again, eval's is as if never run */
    CHECK_INT_EQ(store_stages_get(st, a, sg, &err), 0);
    CHECK(sg[2].status == SS_RUNNING && sg[2].progress.step == 59 && sg[2].progress.epoch == 2);
    CHECK(sg[2].progress.epochs == 3 && sg[2].progress.steps == 150);
    CHECK(sg[2].progress.loss == 2.5 && sg[2].progress.items_per_s == 300);
    CHECK(sg[2].progress.eta_s == 12 && sg[2].seconds == 7.5 && sg[2].started_at == 1.7e9);
    CHECK(sg[3].status == SS_PENDING && sg[3].progress.step == 0 && sg[3].progress.epoch == 0);
    CHECK(isnan(sg[3].progress.loss) && isnan(sg[3].seconds) && sg[3].started_at == 0);
    StoreRun r;
    CHECK_INT_EQ(store_run_get(st, a, &r, &err), 0);
    CHECK(r.resumes == 1 && r.attempts == 2);
    store_run_free(&r);
    /* another run's rows are its own */
    char *other_after = metric_keys(st, other);
    CHECK(same(other_before, other_after));
    free(other_before);
    free(other_after);
    free(m);
    free(e);
    ckpt_writer_free(&w);
    drop_store(st, dir);
}

/* Issue 11 item 1: killed before its first checkpoint, a run starts again from position
 * zero: everything its first attempt stored goes (metrics, log lines, pseudo-labels, stage
 * figures); the service's events stay; a skipped stage stays skipped. */
TEST(store_run_resume_from_the_start)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "simclr", "no checkpoint yet"), c;
    CHECK(store_run_claim(st, &c, &err) == 0 && c == a);
    CHECK_INT_EQ(store_run_resume(st, a, 0, "status", "running", &err), 0);
    train_rows(st, a);
    StoreStage g = {.progress = {.stage = 2, .epoch = 1, .epochs = 3, .step = 30, .steps = 150,
                                 .loss = 3, .items_per_s = 1, .eta_s = 1},
                    .status = SS_RUNNING, .seconds = 2, .started_at = 1.7e9};
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);
    CHECK_INT_EQ(store_run_requeue(st, a, &err), 0);
    CHECK(store_run_claim(st, &c, &err) == 0 && c == a);
    CHECK_INT_EQ(store_run_resume(st, a, 0, "resume", "from the start", &err), 0);
    char *m = metric_keys(st, a), *e = event_keys(st, a);
    CHECK_MSG(m && strcmp(m, "") == 0, "metrics left:\n%s", m ? m : "?");
    CHECK_MSG(e && strcmp(e, "status -1/0/0\nstatus -1/0/0\nresume -1/0/0\nresume -1/0/0\n") == 0,
              "events left:\n%s", e ? e : "?");
    CHECK(!has_assignments(st, a));
    StoreStage sg[4];
    CHECK_INT_EQ(store_stages_get(st, a, sg, &err), 0);
    CHECK(sg[0].status == SS_SKIPPED && sg[1].status == SS_SKIPPED);
    CHECK(sg[2].status == SS_PENDING && sg[2].progress.step == 0 && sg[2].started_at == 0);
    CHECK(sg[3].status == SS_PENDING);
    free(m);
    free(e);
    drop_store(st, dir);
}

/* A resume from the autoencoder's epoch 1 drops its epoch 2, k-means and the pseudo-labels
 * (the end of kmeans is after it), and a later checkpoint, were there one. A checkpoint stored
 * before rows were kept with checkpoints (no row figures) leaves its stage's row as it is,
 * running. A resume from anything but the newest checkpoint, or of a run that is not
 * running, is refused and changes nothing. */
TEST(store_run_resume_before_the_pseudo_labels)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "gsimclr", "dae"), c, first, second;
    CHECK(store_run_claim(st, &c, &err) == 0 && c == a);
    CHECK_INT_EQ(store_run_resume(st, a, 0, "status", "running", &err), 0);
    CkptWriter w;
    CHECK(make_ckpt(&w, 2, 100) == 0);
    CHECK_INT_EQ(jobs_checkpoint_put(st, a, &POS(0, 1, -1), w.data, w.len, 3, NULL, &first, &err),
                 0);
    train_rows(st, a);
    StoreStage g = {.progress = {.stage = 0, .epoch = 2, .epochs = 2, .step = 40, .steps = 40,
                                 .loss = 0.5, .items_per_s = 1, .eta_s = 0},
                    .status = SS_SUCCEEDED, .seconds = 2, .started_at = 1.7e9, .finished_at = 1.8e9};
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);
    g.progress.stage = 1;
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);

    /* refused: not the newest, not a checkpoint of this run, a run not running */
    char *before = fingerprint(dir);
    CHECK_INT_EQ(store_run_resume(st, a, 0, "resume", "x", &err), STORE_CONFLICT);
    CHECK_INT_EQ(store_run_resume(st, a, first + 100, "resume", "x", &err), STORE_CONFLICT);
    CHECK_INT_EQ(store_run_resume(st, a, first, "", "x", &err), -1);
    CHECK_INT_EQ(store_run_resume(st, a, first, "resume", NULL, &err), -1);
    CHECK_INT_EQ(store_run_resume(st, 4242, 0, "resume", "x", &err), STORE_NOT_FOUND);
    CHECK(unchanged(dir, before));

    /* a checkpoint after the newest one cannot be, but one at a later position with a lower
     * id would go too: simulate with two, the newest the earlier position */
    CHECK_INT_EQ(jobs_checkpoint_put(st, a, &POS(2, 1, -1), w.data, w.len, 3, NULL, NULL, &err),
                 0);
    CHECK_INT_EQ(jobs_checkpoint_put(st, a, &POS(0, 1, -1), w.data, w.len, 3, NULL, &second,
                                     &err), 0);
    CHECK_INT_EQ(store_run_resume(st, a, second, "resume", "from dae 1", &err), 0);
    char *m = metric_keys(st, a);
    CHECK_MSG(m && strcmp(m, "0/1/-1/loss\n") == 0, "metrics left:\n%s", m ? m : "?");
    CHECK(!has_assignments(st, a));
    CHECK_INT_EQ(checkpoint_count(st, a), 2);   /* dae epoch 1, twice; simclr's went */
    StoreStage sg[4];
    CHECK_INT_EQ(store_stages_get(st, a, sg, &err), 0);
    /* no figures were kept with that checkpoint: the row keeps its own, running again */
    CHECK(sg[0].status == SS_RUNNING && sg[0].progress.step == 40 && sg[0].finished_at == 0);
    CHECK(sg[1].status == SS_PENDING && sg[1].progress.epoch == 0);
    free(m);
    ckpt_writer_free(&w);
    drop_store(st, dir);
}

/* Gives run everything a run can own. */
static void fill_run(Store *st, int64_t run)
{
    GsErr err;
    CkptWriter w;
    int32_t assign[100], labels[100];
    for (int i = 0; i < 100; i++) {
        assign[i] = i % 7;
        labels[i] = i % 10;
    }
    CHECK_INT_EQ(store_metric_add(st, run, 2, 1, -1, "loss", 4.2, 1.0, &err), 0);
    CHECK_INT_EQ(store_event_add(st, run, &KMEANS_END, "log", "hello", 1.0, NULL, &err), 0);
    CHECK_INT_EQ(store_assignments_put(st, run, &KMEANS_END, assign, labels, 100, &err), 0);
    CHECK(make_ckpt(&w, 3, 1000) == 0);
    CHECK_INT_EQ(jobs_checkpoint_put(st, run, &POS(2, 1, -1), w.data, w.len, 3, NULL, NULL,
                                     &err), 0);
    ckpt_writer_free(&w);
}

TEST(store_run_delete_cascade)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t keep = add_run(st, "gsimclr", "keep"), c;
    CHECK(store_run_claim(st, &c, &err) == 0 && c == keep);
    fill_run(st, keep);
    char *before = fingerprint(dir);

    int64_t gone = add_run(st, "gsimclr", "gone");
    CHECK(store_run_claim(st, &c, &err) == 0 && c == gone);
    fill_run(st, gone);
    char *mid = fingerprint(dir);
    CHECK(!same(before, mid));
    CHECK_INT_EQ(store_run_delete(st, gone, &err), STORE_CONFLICT);   /* running */
    CHECK_MSG(strstr(err.msg, "running") != NULL, "message: %s", err.msg);
    CHECK(unchanged(dir, mid));
    CHECK_INT_EQ(store_run_finish(st, gone, RUN_SUCCEEDED, "{}", NULL, &err), 0);
    CHECK_INT_EQ(store_run_delete(st, gone, &err), 0);
    CHECK_INT_EQ(store_run_delete(st, gone, &err), STORE_NOT_FOUND);

    /* not a row of it is left: the database is as before it was made */
    CHECK(unchanged(dir, before));
    StoreRun r;
    StoreStage sg[4];
    StoreMetric *m;
    StoreEvent *ev;
    StoreCheckpoint *cl;
    int32_t *a, *l;
    int n;
    CHECK_INT_EQ(store_run_get(st, gone, &r, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_stages_get(st, gone, sg, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_metrics_get(st, gone, -1, NULL, 0, 0, &m, &n, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_events_get(st, gone, 0, 0, &ev, &n, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_assignments_get(st, gone, &a, &l, &n, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_checkpoint_list(st, gone, &cl, &n, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_checkpoint_latest(st, gone, NULL, NULL, NULL, &err), STORE_NOT_FOUND);
    /* the other run keeps all it had */
    CHECK_INT_EQ(store_assignments_get(st, keep, &a, &l, &n, &err), 0);
    CHECK(n == 100 && l != NULL);
    free(a);
    free(l);
    drop_store(st, dir);
}

TEST(store_stages_nan)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "gsimclr", "s");
    StoreStage g = {.progress = {.stage = 2, .epoch = 3, .epochs = 100, .step = 5000000000L,
                                 .steps = 9000000000L, .loss = NAN, .items_per_s = 812.25,
                                 .eta_s = NAN},
                    .status = SS_RUNNING, .seconds = -0.0, .started_at = 1764288000.125,
                    .finished_at = 0};
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);
    StoreStage sg[4];
    CHECK_INT_EQ(store_stages_get(st, a, sg, &err), 0);
    CHECK_INT_EQ(sg[2].status, SS_RUNNING);
    CHECK(sg[2].progress.epoch == 3 && sg[2].progress.epochs == 100);
    CHECK(sg[2].progress.step == 5000000000L && sg[2].progress.steps == 9000000000L);
    CHECK(isnan(sg[2].progress.loss) && isnan(sg[2].progress.eta_s));
    CHECK(sg[2].progress.items_per_s == 812.25 && sg[2].seconds == 0.0);
    CHECK(sg[2].started_at == 1764288000.125 && sg[2].finished_at == 0);
    CHECK(sg[1].status == SS_PENDING && isnan(sg[1].progress.loss));

    g.progress.loss = 4.125;
    g.progress.eta_s = 30;
    g.status = SS_SUCCEEDED;
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);
    CHECK_INT_EQ(store_stages_get(st, a, sg, &err), 0);
    CHECK(sg[2].progress.loss == 4.125 && sg[2].progress.eta_s == 30);
    CHECK(sg[2].status == SS_SUCCEEDED);

    char *before = fingerprint(dir);
    g.progress.stage = 4;
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), -1);
    g.progress.stage = 1;
    g.status = (StageStatus)17;
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), -1);
    g.status = SS_RUNNING;
    CHECK_INT_EQ(store_stage_put(st, 555, &g, &err), STORE_NOT_FOUND);
    CHECK(unchanged(dir, before));
    drop_store(st, dir);
}

TEST(store_metrics)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "gsimclr", "m"), b = add_run(st, "gsimclr", "other");
    /* dae epochs 1-2, kmeans, simclr epochs 1-3 with a step value each */
    CHECK_INT_EQ(store_metric_add(st, a, 0, 1, -1, "loss", 0.5, 10, &err), 0);
    CHECK_INT_EQ(store_metric_add(st, a, 0, 2, -1, "loss", 0.25, 11, &err), 0);
    CHECK_INT_EQ(store_metric_add(st, a, 1, 1, -1, "inertia", 1.5e5, 12, &err), 0);
    CHECK_INT_EQ(store_metric_add(st, b, 2, 1, -1, "loss", 9, 12, &err), 0);
    for (int e = 1; e <= 3; e++) {
        CHECK_INT_EQ(store_metric_add(st, a, 2, e, 100L * e, "step_loss", 5.0 - e, 20 + e, &err), 0);
        CHECK_INT_EQ(store_metric_add(st, a, 2, e, -1, "loss", 4.5 - e, 20 + e, &err), 0);
    }
    CHECK_INT_EQ(store_metric_add(st, a, 3, 1, -1, "knn_top1", NAN, 30, &err), 0);

    StoreMetric *m;
    int n;
    CHECK_INT_EQ(store_metrics_get(st, a, -1, NULL, 0, 0, &m, &n, &err), 0);
    CHECK_INT_EQ(n, 10);
    for (int i = 1; i < n; i++)
        CHECK(m[i].id > m[i - 1].id);
    CHECK(n == 10 && m[0].stage == 0 && m[0].epoch == 1 && m[0].step == -1);
    CHECK(n == 10 && strcmp(m[0].name, "loss") == 0 && m[0].value == 0.5 && m[0].time == 10);
    CHECK(n == 10 && m[3].step == 100 && strcmp(m[3].name, "step_loss") == 0);
    CHECK(n == 10 && isnan(m[9].value) && strcmp(m[9].name, "knn_top1") == 0);
    int64_t third = n == 10 ? m[2].id : 0;
    free(m);

    CHECK_INT_EQ(store_metrics_get(st, a, 2, NULL, 0, 0, &m, &n, &err), 0);
    CHECK_INT_EQ(n, 6);
    free(m);
    CHECK_INT_EQ(store_metrics_get(st, a, -1, "loss", 0, 0, &m, &n, &err), 0);
    CHECK_INT_EQ(n, 5);
    free(m);
    CHECK_INT_EQ(store_metrics_get(st, a, 2, "loss", 0, 2, &m, &n, &err), 0);
    CHECK(n == 2 && m[0].epoch == 1 && m[1].epoch == 2 && m[1].value == 2.5);
    free(m);
    CHECK_INT_EQ(store_metrics_get(st, a, -1, NULL, third, 3, &m, &n, &err), 0);
    CHECK(n == 3 && m[0].id > third && m[0].stage == 2);
    free(m);
    CHECK_INT_EQ(store_metrics_get(st, a, 0, "nope", 0, 0, &m, &n, &err), 0);
    CHECK(n == 0);
    free(m);
    CHECK_INT_EQ(store_metrics_get(st, 4242, -1, NULL, 0, 0, &m, &n, &err), STORE_NOT_FOUND);

    char *before = fingerprint(dir);
    CHECK_INT_EQ(store_metric_add(st, 4242, 2, 1, -1, "loss", 1, 1, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_metric_add(st, a, 9, 1, -1, "loss", 1, 1, &err), -1);
    CHECK_INT_EQ(store_metric_add(st, a, 2, 1, -1, "a_metric_name_far_longer_than_forty_seven_bytes_x",
                                  1, 1, &err), -1);
    CHECK_INT_EQ(store_metric_add(st, a, 2, 1, -1, NULL, 1, 1, &err), -1);
    CHECK(unchanged(dir, before));
    drop_store(st, dir);
}

TEST(store_events)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "gsimclr", "e"), ids[5];
    const char *kinds[5] = {"status", "log", "log", "resume", "log"};
    for (int i = 0; i < 5; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "message %d: \"quoted\" 'and' %%s", i);
        /* the log lines have a position, the service's events none */
        StorePos at = POS(2, i, 20L * i);
        CHECK_INT_EQ(store_event_add(st, a, strcmp(kinds[i], "log") == 0 ? &at : NULL, kinds[i],
                                     msg, 100 + i, &ids[i], &err), 0);
        CHECK(i == 0 || ids[i] > ids[i - 1]);
    }
    StoreEvent *ev;
    int n;
    CHECK_INT_EQ(store_events_get(st, a, 0, 0, &ev, &n, &err), 0);
    CHECK_INT_EQ(n, 5);
    CHECK(n == 5 && ev[0].id == ids[0] && strcmp(ev[0].kind, "status") == 0 && ev[0].time == 100);
    CHECK(n == 5 && strcmp(ev[4].message, "message 4: \"quoted\" 'and' %s") == 0);
    CHECK(n == 5 && ev[0].stage == -1 && ev[3].stage == -1);
    CHECK(n == 5 && ev[1].stage == 2 && ev[1].epoch == 1 && ev[1].step == 20);
    CHECK(n == 5 && ev[4].stage == 2 && ev[4].epoch == 4 && ev[4].step == 80);
    store_events_free(ev, n);
    CHECK_INT_EQ(store_events_get(st, a, ids[1], 2, &ev, &n, &err), 0);
    CHECK(n == 2 && ev[0].id == ids[2] && ev[1].id == ids[3] && strcmp(ev[1].kind, "resume") == 0);
    store_events_free(ev, n);
    CHECK_INT_EQ(store_events_get(st, a, ids[4], 0, &ev, &n, &err), 0);
    CHECK(n == 0);
    store_events_free(ev, n);
    CHECK_INT_EQ(store_events_get(st, 999, 0, 0, &ev, &n, &err), STORE_NOT_FOUND);

    char *before = fingerprint(dir);
    int64_t id = -3;
    CHECK_INT_EQ(store_event_add(st, 999, NULL, "log", "x", 1, &id, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_event_add(st, a, NULL, "a_kind_too_long_here", "x", 1, &id, &err), -1);
    CHECK_INT_EQ(store_event_add(st, a, NULL, "log", NULL, 1, &id, &err), -1);
    CHECK_INT_EQ(store_event_add(st, a, &POS(4, 1, -1), "log", "x", 1, &id, &err), -1);
    CHECK_INT_EQ(id, -3);
    CHECK(unchanged(dir, before));
    drop_store(st, dir);
}

TEST(store_assignments_60k)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    enum { N = 60000 };
    int32_t *assign = malloc(N * sizeof *assign), *labels = malloc(N * sizeof *labels);
    CHECK(assign && labels);
    if (!assign || !labels) {
        free(assign);
        free(labels);
        drop_store(st, dir);
        return;
    }
    for (int i = 0; i < N; i++) {
        assign[i] = (int32_t)((i * 2654435761u) % 256);
        labels[i] = i % 10;
    }
    int64_t a = add_run(st, "gsimclr", "labels");
    int32_t *ga, *gl;
    int n;
    CHECK_INT_EQ(store_assignments_get(st, a, &ga, &gl, &n, &err), STORE_NOT_FOUND);

    double t0 = mono_s();
    CHECK_MSG(store_assignments_put(st, a, &KMEANS_END, assign, labels, N, &err) == 0, "%s",
              err.msg);
    double t1 = mono_s();
    CHECK_MSG(store_assignments_get(st, a, &ga, &gl, &n, &err) == 0, "%s", err.msg);
    double t2 = mono_s();
    printf("    60,000 pseudo-labels: put %.1f ms, get %.1f ms\n", 1e3 * (t1 - t0),
           1e3 * (t2 - t1));
    CHECK_MSG(t1 - t0 < PUT_60K_LIMIT_S, "put took %.3f s", t1 - t0);
    CHECK_INT_EQ(n, N);
    CHECK(n == N && gl != NULL && memcmp(ga, assign, N * sizeof *ga) == 0);
    CHECK(n == N && gl != NULL && memcmp(gl, labels, N * sizeof *gl) == 0);
    free(ga);
    free(gl);

    /* replaced, now without labels; and labels may be left out of the get */
    for (int i = 0; i < 100; i++)
        assign[i] = 99 - i;
    CHECK_INT_EQ(store_assignments_put(st, a, &KMEANS_END, assign, NULL, 100, &err), 0);
    CHECK_INT_EQ(store_assignments_get(st, a, &ga, &gl, &n, &err), 0);
    CHECK(n == 100 && gl == NULL && ga[0] == 99 && ga[99] == 0);
    free(ga);
    CHECK_INT_EQ(store_assignments_get(st, a, &ga, NULL, &n, &err), 0);
    CHECK(n == 100);
    free(ga);

    char *before = fingerprint(dir);
    CHECK_INT_EQ(store_assignments_put(st, 31337, &KMEANS_END, assign, labels, 100, &err),
                 STORE_NOT_FOUND);
    CHECK_INT_EQ(store_assignments_put(st, a, &KMEANS_END, NULL, NULL, 5, &err), -1);
    CHECK_INT_EQ(store_assignments_put(st, a, &KMEANS_END, assign, NULL, -1, &err), -1);
    CHECK_INT_EQ(store_assignments_put(st, a, NULL, assign, NULL, 100, &err), -1);
    CHECK_INT_EQ(store_assignments_put(st, a, &POS(5, 1, -1), assign, NULL, 100, &err), -1);
    CHECK(unchanged(dir, before));
    free(assign);
    free(labels);
    drop_store(st, dir);
}

TEST(store_checkpoints)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "gsimclr", "ck"), b = add_run(st, "gsimclr", "other");
    StoreCheckpoint meta, *list;
    void *blob;
    size_t len;
    int n;
    CHECK_INT_EQ(store_checkpoint_latest(st, a, &meta, &blob, &len, &err), STORE_NOT_FOUND);
    CHECK(blob == NULL);
    CHECK_INT_EQ(store_checkpoint_list(st, a, &list, &n, &err), 0);
    CHECK(n == 0);
    free(list);

    /* simclr epochs 1..5 with keep 3, dae epochs 1..2 before them, one for run b */
    int64_t ids[8] = {0};
    uint32_t crcs[8] = {0};
    size_t lens[8] = {0};
    CkptWriter w[8];
    for (int i = 0; i < 8; i++) {
        int stage = i < 2 ? 0 : 2, epoch = i < 2 ? i + 1 : i - 1;
        CHECK(make_ckpt(&w[i], (uint32_t)i, 1000 + 5000 * (size_t)i) == 0);
        lens[i] = w[i].len;
        const uint8_t *t = w[i].data + w[i].len - 4;
        crcs[i] = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
        int64_t run = i == 7 ? b : a;
        CHECK_MSG(jobs_checkpoint_put(st, run, &POS(stage, epoch, -1), w[i].data, w[i].len, 3,
                                      NULL, &ids[i], &err) == 0, "%s", err.msg);
    }
    CHECK_INT_EQ(store_checkpoint_list(st, a, &list, &n, &err), 0);
    /* newest first: simclr epochs 5, 4, 3 (1 and 2 dropped), then dae 2, 1 */
    CHECK_INT_EQ(n, 5);
    if (n == 5) {
        int want[5] = {6, 5, 4, 1, 0};
        for (int k = 0; k < 5; k++) {
            int i = want[k];
            CHECK_INT_EQ(list[k].id, ids[i]);
            CHECK_INT_EQ(list[k].stage, i < 2 ? 0 : 2);
            CHECK_INT_EQ(list[k].epoch, i < 2 ? i + 1 : i - 1);
            CHECK_INT_EQ(list[k].bytes, lens[i]);
            CHECK_INT_EQ(list[k].crc32, crcs[i]);
            CHECK_INT_EQ(list[k].format_version, CKPT_VERSION);
            CHECK_INT_EQ(list[k].step, STORE_END_OF_EPOCH);
            CHECK(list[k].created_at > 0);
        }
    }
    free(list);

    CHECK_INT_EQ(store_checkpoint_latest(st, a, &meta, &blob, &len, &err), 0);
    CHECK(meta.id == ids[6] && meta.epoch == 5 && len == lens[6]);
    CHECK(blob && len == w[6].len && memcmp(blob, w[6].data, len) == 0);
    free(blob);
    CHECK_INT_EQ(store_checkpoint_latest(st, a, &meta, NULL, NULL, &err), 0);
    CHECK(meta.id == ids[6]);
    CHECK_INT_EQ(store_checkpoint_get(st, a, ids[1], &meta, &blob, &len, &err), 0);
    CHECK(meta.stage == 0 && meta.epoch == 2 && len == w[1].len && memcmp(blob, w[1].data, len) == 0);
    free(blob);
    CHECK_INT_EQ(store_checkpoint_get(st, a, ids[2], &meta, &blob, &len, &err), STORE_NOT_FOUND);
    CHECK(blob == NULL);
    CHECK_INT_EQ(store_checkpoint_get(st, b, ids[6], &meta, &blob, &len, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_checkpoint_get(st, a, ids[7], NULL, NULL, NULL, &err), STORE_NOT_FOUND);
    CHECK_INT_EQ(store_checkpoint_latest(st, b, &meta, NULL, NULL, &err), 0);
    CHECK(meta.id == ids[7]);

    /* refused: a flipped byte, a cut, garbage, a missing run, keep 0, no such stage or epoch,
     * another stage's row — nothing changes */
    const StorePos E9 = POS(2, 9, -1);
    char *before = fingerprint(dir);
    uint8_t *bad = malloc(w[3].len);
    if (bad) {
        memcpy(bad, w[3].data, w[3].len);
        bad[40] ^= 0x10;
        CHECK_INT_EQ(jobs_checkpoint_put(st, a, &E9, bad, w[3].len, 3, NULL, NULL, &err), -1);
        CHECK_MSG(strstr(err.msg, "checkpoint") != NULL, "message: %s", err.msg);
        CHECK_INT_EQ(jobs_checkpoint_put(st, a, &E9, w[3].data, w[3].len - 1, 3, NULL, NULL,
                                         &err), -1);
        memset(bad, 'x', 64);
        CHECK_INT_EQ(jobs_checkpoint_put(st, a, &E9, bad, 64, 3, NULL, NULL, &err), -1);
        free(bad);
    }
    CHECK_INT_EQ(jobs_checkpoint_put(st, a, &E9, NULL, 0, 3, NULL, NULL, &err), -1);
    CHECK_INT_EQ(jobs_checkpoint_put(st, 999, &E9, w[3].data, w[3].len, 3, NULL, NULL, &err),
                 STORE_NOT_FOUND);
    CHECK_INT_EQ(jobs_checkpoint_put(st, a, &E9, w[3].data, w[3].len, 0, NULL, NULL, &err), -1);
    CHECK_INT_EQ(jobs_checkpoint_put(st, a, &POS(7, 9, -1), w[3].data, w[3].len, 3, NULL, NULL,
                                     &err), -1);
    CHECK_INT_EQ(jobs_checkpoint_put(st, a, &POS(2, -1, -1), w[3].data, w[3].len, 3, NULL, NULL,
                                     &err), -1);
    /* a stage row of another stage than the checkpoint's */
    StoreStage other = {.progress = {.stage = 1, .loss = NAN, .items_per_s = NAN,
                                     .eta_s = NAN},
                        .status = SS_RUNNING, .seconds = NAN};
    CHECK_INT_EQ(jobs_checkpoint_put(st, a, &E9, w[3].data, w[3].len, 3, &other, NULL, &err),
                 -1);
    CHECK(unchanged(dir, before));
    for (int i = 0; i < 8; i++)
        ckpt_writer_free(&w[i]);
    drop_store(st, dir);
}

/* The store keeps a checkpoint as its caller describes it (format version, CRC-32) and
 * never reads the blob itself. */
TEST(store_checkpoint_opaque)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t a = add_run(st, "gsimclr", "opaque"), id = 0;
    static const char blob[] = "not a GSCK checkpoint at all";
    CHECK_MSG(store_checkpoint_put(st, a, &POS(2, 4, 37), 7, 0xdeadbeefu, blob, sizeof blob, 3,
                                   NULL, &id, &err) == 0, "%s", err.msg);
    StoreCheckpoint meta;
    void *back = NULL;
    size_t len = 0;
    CHECK_INT_EQ(store_checkpoint_latest(st, a, &meta, &back, &len, &err), 0);
    CHECK(meta.id == id && meta.stage == 2 && meta.epoch == 4 && meta.bytes == sizeof blob);
    CHECK_INT_EQ(meta.step, 37);
    CHECK(meta.format_version == 7 && meta.crc32 == 0xdeadbeefu);
    CHECK(back && len == sizeof blob && memcmp(back, blob, len) == 0);
    free(back);

    /* an empty one is refused, and changes nothing */
    char *before = fingerprint(dir);
    CHECK_INT_EQ(store_checkpoint_put(st, a, &POS(2, 5, -1), 1, 0, NULL, 0, 3, NULL, NULL, &err),
                 -1);
    CHECK_INT_EQ(store_checkpoint_put(st, a, &POS(2, 5, -1), 1, 0, blob, 0, 3, NULL, NULL, &err),
                 -1);
    CHECK_INT_EQ(store_checkpoint_put(st, a, NULL, 1, 0, blob, sizeof blob, 3, NULL, NULL, &err),
                 -1);
    CHECK(unchanged(dir, before));
    drop_store(st, dir);
}

TEST(store_fingerprint_tracks_writes)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    char *f0 = fingerprint(dir), *f0b = fingerprint(dir);
    CHECK(f0 && strlen(f0) == 16);
    CHECK(same(f0, f0b));   /* reading changes nothing */
    int64_t a = add_run(st, "gsimclr", "f");
    char *f1 = fingerprint(dir);
    CHECK(!same(f0, f1));
    StoreStage g = {.progress = {.stage = 3, .loss = NAN, .items_per_s = NAN, .eta_s = NAN},
                    .status = SS_PENDING, .seconds = NAN};
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);   /* the same values again */
    char *f2 = fingerprint(dir);
    CHECK(same(f1, f2));
    g.progress.epochs = 1;
    CHECK_INT_EQ(store_stage_put(st, a, &g, &err), 0);
    char *f3 = fingerprint(dir);
    CHECK(!same(f2, f3));
    CHECK_INT_EQ(store_metric_add(st, a, 3, 1, -1, "knn_top1", NAN, 1, &err), 0);
    char *f4 = fingerprint(dir);
    CHECK(!same(f3, f4));
    int64_t c;
    CHECK(store_run_claim(st, &c, &err) == 0 && c == a);
    char *f5 = fingerprint(dir);
    CHECK(!same(f4, f5));
    free(f4);
    CHECK_INT_EQ(store_run_resume(st, a, 0, "status", "running", &err), 0);
    f4 = fingerprint(dir);
    CHECK(!same(f4, f5));   /* the metric row is gone, an event is there */
    free(f0);
    free(f0b);
    free(f1);
    free(f2);
    free(f3);
    free(f4);
    free(f5);
    drop_store(st, dir);
}

/* ---- a full disk ---- */

/* A file at path taking all the free room of dir's file system (posix_fallocate). */
static int fill_disk(const char *dir, const char *path)
{
    struct statvfs fs;
    if (statvfs(dir, &fs) != 0)
        return -1;
    off_t room = (off_t)fs.f_bavail * (off_t)fs.f_frsize;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    /* the last pages may not fit beside the file's own blocks: take what fits */
    int rc = room > 0 ? posix_fallocate(fd, 0, room) : 0;
    while (rc == ENOSPC && room > 4096) {
        room -= 4096;
        rc = posix_fallocate(fd, 0, room);
    }
    close(fd);
    return rc == 0 ? 0 : -1;
}

static bool reserve_present(const char *dir)
{
    char path[600];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, STORE_RESERVE_FILE);
    return stat(path, &sb) == 0 && sb.st_blocks * 512 >= STORE_RESERVE_BYTES;
}

/* On a 4 MB tmpfs (root only): a write that finds the disk full fails with SQLite's "database
 * or disk is full", marks the store full and gives its reserve back, so that the small
 * writes recording the failure still succeed; store_writable stays false while there is no
 * room and turns true, the reserve made again, once there is. */
TEST(store_full_disk_gives_its_reserve_and_recovers)
{
    if (geteuid() != 0) {
        printf("    skipped: mounting a small tmpfs needs root\n");
        return;
    }
    char *dir = tmp_dir();
    CHECK(dir != NULL);
    if (!dir)
        return;
    if (mount("tmpfs", dir, "tmpfs", 0, "size=4m") != 0) {
        printf("    skipped: mount -t tmpfs on %s: %s\n", dir, strerror(errno));
        rm_rf(dir);
        free(dir);
        return;
    }
    Store *st = open_store(dir);
    char filler[600];
    snprintf(filler, sizeof filler, "%s/filler", dir);
    enum { N = 60000 };
    int32_t *assign = calloc(N, sizeof *assign);
    if (st && assign) {
        GsErr err;
        int64_t a = add_run(st, "gsimclr", "full");
        CHECK(reserve_present(dir));
        CHECK(store_writable(st));
        CHECK(fill_disk(dir, filler) == 0);
        int rc = store_assignments_put(st, a, &KMEANS_END, assign, NULL, N, &err);
        CHECK_INT_EQ(rc, -1);
        CHECK_MSG(strstr(err.msg, "database or disk is full") != NULL, "message: %s", err.msg);
        CHECK(!reserve_present(dir));
        CHECK(!store_writable(st));
        /* the room the reserve gave back takes what a failure writes */
        CHECK_INT_EQ(store_run_finish(st, a, RUN_FAILED, NULL, err.msg, &err), STORE_CONFLICT);
        int64_t c = 0;
        rc = store_run_claim(st, &c, &err);
        CHECK_MSG(rc == 0 && c == a, "claim: %d %lld %s", rc, (long long)c, err.msg);
        CHECK_MSG(store_run_finish(st, a, RUN_FAILED, NULL, "disk full", &err) == 0, "%s",
                  err.msg);
        CHECK(!store_writable(st));   /* still no room beside the reserve */
        CHECK(unlink(filler) == 0);
        CHECK(store_writable(st));
        CHECK(reserve_present(dir));
        CHECK_MSG(store_assignments_put(st, a, &KMEANS_END, assign, NULL, N, &err) == 0, "%s",
                  err.msg);
        StoreRun r;
        CHECK_INT_EQ(store_run_get(st, a, &r, &err), 0);
        CHECK(r.status == RUN_FAILED && r.error && strcmp(r.error, "disk full") == 0);
        store_run_free(&r);
    }
    free(assign);
    store_close(st);
    if (umount2(dir, MNT_DETACH) != 0)
        printf("    umount %s: %s\n", dir, strerror(errno));
    rm_rf(dir);
    free(dir);
}

/* ---- concurrency ---- */

/* What the readers of one Store handle show of every run (its row, stages, counts of metrics,
 * events and checkpoints) as text (malloc'd; NULL when a read failed, after a CHECK): two
 * handles on one database must show the same. */
static char *handle_view(Store *st)
{
    GsErr err;
    StoreRun *runs = NULL;
    int n = 0, total = 0;
    StoreRunFilter all = {.status = -1};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int rc = f ? store_run_list(st, &all, &runs, &n, &total, &err) : -1;
    CHECK_MSG(rc == 0, "handle_view: %s", f ? err.msg : "out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        const StoreRun *r = &runs[i];
        fprintf(f, "run %lld %s %s %s %d %d %s %s\n", (long long)r->id,
                RUN_STATUS_NAMES[r->status], r->method, r->name, r->resumes,
                (int)r->cancel_requested, r->result_json ? r->result_json : "-",
                r->error ? r->error : "-");
        StoreStage sg[STAGE_COUNT];
        StoreMetric *m = NULL;
        StoreEvent *ev = NULL;
        StoreCheckpoint *ck = NULL;
        int nm = 0, ne = 0, nc = 0;
        rc = store_stages_get(st, r->id, sg, &err);
        for (int s = 0; rc == 0 && s < STAGE_COUNT; s++)
            fprintf(f, " stage %d %s %d %ld %.17g\n", s, STAGE_STATUS_NAMES[sg[s].status],
                    sg[s].progress.epoch, sg[s].progress.step, sg[s].seconds);
        if (rc == 0)
            rc = store_metrics_get(st, r->id, -1, NULL, 0, 0, &m, &nm, &err);
        if (rc == 0)
            rc = store_events_get(st, r->id, 0, 0, &ev, &ne, &err);
        if (rc == 0)
            rc = store_checkpoint_list(st, r->id, &ck, &nc, &err);
        fprintf(f, " %d metrics, %d events, %d checkpoints\n", nm, ne, nc);
        free(m);
        store_events_free(ev, ne);
        free(ck);
        CHECK_MSG(rc == 0, "handle_view: run %lld: %s", (long long)r->id, err.msg);
    }
    store_run_list_free(runs, n);
    if (f)
        fclose(f);
    if (rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

enum { WORKERS = 8, MAX_CLAIMS = 1 << 14 };

typedef struct {
    Store *st;
    const char *dir;        /* the store's folder, for its fingerprint */
    int index;
    double until;           /* monotonic seconds */
    long ops, errors;
    char first_error[1024];
    int64_t *claimed;       /* (MAX_CLAIMS) runs this worker claimed */
    int n_claimed;
    int64_t last_run;       /* the last run it inserted (and left in place) */
    int64_t inserted;
} Worker;

static void worker_error(Worker *w, int rc, const char *what, const GsErr *err)
{
    if (w->errors++ == 0)
        snprintf(w->first_error, sizeof w->first_error, "%s -> %d: %s", what, rc, err->msg);
}

#define W_CALL(w, call, ok)                                                 \
    do {                                                                    \
        int rc_ = (call);                                                   \
        (w)->ops++;                                                         \
        if (!(ok))                                                          \
            worker_error((w), rc_, #call, &err);                            \
    } while (0)

/* One thread's mix: insert and fill its own runs, claim and finish whatever is oldest (its
 * own or another's), cancel and delete its own, and read all the while. */
static void *worker_main(void *arg)
{
    Worker *w = arg;
    GsErr err;
    CkptWriter cw;
    int have_ckpt = make_ckpt(&cw, (uint32_t)w->index, 256) == 0;
    for (long it = 0; mono_s() < w->until; it++) {
        int64_t id = 0, claimed = 0;
        char name[32];
        snprintf(name, sizeof name, "w%d-%ld", w->index, it);
        const char *method = it % 2 ? "simclr" : "gsimclr";
        W_CALL(w, store_run_insert(w->st, method, name, "{}", skipped_for(method), &id, &err),
               rc_ == 0);
        if (id == 0)
            continue;
        w->inserted++;
        StoreStage g = {.progress = {.stage = 2, .epoch = 1, .epochs = 5, .step = it,
                                     .steps = 100, .loss = it % 3 ? 1.0 / (double)(it + 1) : NAN,
                                     .items_per_s = 500, .eta_s = NAN},
                        .status = SS_RUNNING, .seconds = 1};
        W_CALL(w, store_stage_put(w->st, id, &g, &err), rc_ == 0);
        W_CALL(w, store_metric_add(w->st, id, 2, 1, it, "step_loss", 0.5, 1, &err), rc_ == 0);
        W_CALL(w, store_event_add(w->st, id, &POS(2, 1, -1), "log", "working", 1, NULL, &err),
               rc_ == 0);

        StoreRun r;
        StoreStage sg[4];
        W_CALL(w, store_run_get(w->st, id, &r, &err), rc_ == 0 && r.id == id);
        store_run_free(&r);
        W_CALL(w, store_stages_get(w->st, id, sg, &err), rc_ == 0);
        StoreRun *runs;
        int n, total;
        StoreRunFilter f = {.status = -1, .limit = 10};
        W_CALL(w, store_run_list(w->st, &f, &runs, &n, &total, &err), rc_ == 0 && n <= 10);
        store_run_list_free(runs, n);
        StoreMetric *m;
        W_CALL(w, store_metrics_get(w->st, id, -1, NULL, 0, 100, &m, &n, &err), rc_ == 0 && n == 1);
        free(m);

        W_CALL(w, store_run_claim(w->st, &claimed, &err), rc_ == 0);
        if (claimed) {
            if (w->n_claimed < MAX_CLAIMS)
                w->claimed[w->n_claimed++] = claimed;
            if (have_ckpt && it % 8 == 0)
                W_CALL(w, jobs_checkpoint_put(w->st, claimed, &POS(2, 1, -1), cw.data, cw.len,
                                              2, NULL, NULL, &err), rc_ == 0);
            W_CALL(w, store_run_finish(w->st, claimed, it % 5 ? RUN_SUCCEEDED : RUN_FAILED,
                                       "{}", it % 5 ? NULL : "boom", &err), rc_ == 0);
        }
        /* its own run: queued, running (claimed by someone) or ended */
        bool now;
        if (it % 3 == 0)
            W_CALL(w, store_run_request_cancel(w->st, id, &now, &err),
                   rc_ == 0 || rc_ == STORE_CONFLICT);
        if (it % 4 == 1)
            W_CALL(w, store_run_delete(w->st, id, &err), rc_ == 0 || rc_ == STORE_CONFLICT);
        else
            w->last_run = id;
        if (it % 64 == 0) {
            char *fp = fingerprint_db(w->dir, &err);
            W_CALL(w, fp ? 0 : -1, fp != NULL);
            free(fp);
        }
    }
    if (have_ckpt)
        ckpt_writer_free(&cw);
    return NULL;
}

TEST(store_concurrency)
{
    char *dir = tmp_dir();
    Store *st = dir ? open_store(dir) : NULL;
    Store *st2 = st ? open_store(dir) : NULL;   /* a second handle: another process's view */
    if (!st2) {
        store_close(st);
        if (dir)
            rm_rf(dir);
        free(dir);
        return;
    }
    Worker w[WORKERS];
    pthread_t th[WORKERS];
    double until = mono_s() + 1.0;
    memset(w, 0, sizeof w);
    for (int i = 0; i < WORKERS; i++) {
        w[i].st = i < 6 ? st : st2;
        w[i].dir = dir;
        w[i].index = i;
        w[i].until = until;
        w[i].claimed = malloc(MAX_CLAIMS * sizeof *w[i].claimed);
        CHECK(w[i].claimed != NULL);
    }
    int started = 0;
    for (int i = 0; i < WORKERS; i++) {
        if (!w[i].claimed || pthread_create(&th[i], NULL, worker_main, &w[i]) != 0)
            break;
        started++;
    }
    CHECK_INT_EQ(started, WORKERS);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);

    long ops = 0, claims = 0;
    for (int i = 0; i < started; i++) {
        CHECK_MSG(w[i].errors == 0, "worker %d: %ld errors, first: %s", i, w[i].errors,
                  w[i].first_error);
        ops += w[i].ops;
        claims += w[i].n_claimed;
    }
    printf("    %d threads, 2 handles: %ld store calls in 1 s, %ld claims\n", started, ops, claims);
    CHECK(ops > 100);

    /* no run was claimed twice: claim is atomic across threads and handles */
    int64_t *all = malloc((size_t)(claims ? claims : 1) * sizeof *all);
    if (all) {
        long k = 0;
        for (int i = 0; i < started; i++)
            for (int j = 0; j < w[i].n_claimed; j++)
                all[k++] = w[i].claimed[j];
        for (long i = 0; i < k; i++)
            for (long j = i + 1; j < k; j++)
                CHECK_MSG(all[i] != all[j], "run %lld claimed twice", (long long)all[i]);
        free(all);
    }

    /* both handles, and a third opened now, see the same committed data */
    GsErr err;
    Store *st3 = open_store(dir);
    if (st3) {
        long c1[RUN_STATUS_COUNT], c3[RUN_STATUS_COUNT];
        CHECK_INT_EQ(store_run_counts(st, c1, &err), 0);
        CHECK_INT_EQ(store_run_counts(st3, c3, &err), 0);
        for (int i = 0; i < RUN_STATUS_COUNT; i++)
            CHECK_INT_EQ(c1[i], c3[i]);
        for (int i = 0; i < started; i++) {
            StoreRun r;
            if (w[i].last_run == 0)
                continue;
            CHECK_MSG(store_run_get(st3, w[i].last_run, &r, &err) == 0, "%s", err.msg);
            store_run_free(&r);
        }
        char *fa = handle_view(st), *fb = handle_view(st2), *fc = handle_view(st3);
        CHECK(same(fa, fb) && same(fa, fc));
        free(fa);
        free(fb);
        free(fc);
        store_close(st3);
    }
    for (int i = 0; i < WORKERS; i++)
        free(w[i].claimed);
    store_close(st2);
    drop_store(st, dir);
}

/* GET /v1/runs/{id} is a run_get and a stages_get: how many pairs a second from one thread. */
TEST(store_read_rate)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    GsErr err;
    int64_t id = 0;
    for (int i = 0; i < 50; i++)
        id = add_run(st, "gsimclr", "rate");
    long pairs = 0, errors = 0;
    double t0 = mono_s(), t = t0;
    while (t - t0 < 0.5) {
        for (int i = 0; i < 100; i++) {
            StoreRun r;
            StoreStage sg[4];
            errors += store_run_get(st, id, &r, &err) != 0;
            store_run_free(&r);
            errors += store_stages_get(st, id, sg, &err) != 0;
            pairs++;
        }
        t = mono_s();
    }
    CHECK_INT_EQ(errors, 0);
    printf("    run_get + stages_get: %.0f pairs/s on one thread\n", (double)pairs / (t - t0));
    drop_store(st, dir);
}

typedef struct {
    Store *st;
    int64_t run;
    int rounds;
    int failed;
    double seconds;         /* wall time of the writes (read after the join) */
    atomic_int busy;        /* 1 while the writes go on */
} LongWriter;

static void *long_writer_main(void *arg)
{
    LongWriter *lw = arg;
    enum { N = 60000 };
    int32_t *assign = calloc(N, sizeof *assign);
    GsErr err;
    double t0 = mono_s();
    for (int r = 0; assign && r < lw->rounds; r++)
        lw->failed += store_assignments_put(lw->st, lw->run, &KMEANS_END, assign, NULL, N,
                                            &err) != 0;
    lw->seconds = mono_s() - t0;
    lw->failed += assign == NULL;
    free(assign);
    atomic_store(&lw->busy, 0);
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* WAL: while one thread keeps the writer busy with long transactions, reads go on at full
 * speed. A read that waited for the writer would finish only between two writes, so there
 * would be about as many reads as writes, each taking about as long as a write. */
TEST(store_reads_do_not_wait_for_writer)
{
    char *dir;
    Store *st = fresh_store(&dir);
    if (!st)
        return;
    enum { MAX_READS = 1 << 20 };
    GsErr err;
    double *lat = malloc(MAX_READS * sizeof *lat);
    int64_t id = add_run(st, "gsimclr", "read while writing");
    LongWriter lw = {.st = st, .run = id, .rounds = 2};
    atomic_init(&lw.busy, 1);
    pthread_t th;
    bool started = lat && pthread_create(&th, NULL, long_writer_main, &lw) == 0;
    CHECK(started);
    if (!started) {
        free(lat);
        drop_store(st, dir);
        return;
    }
    long reads = 0, errors = 0;
    while (atomic_load(&lw.busy) && reads < MAX_READS) {
        StoreRun r;
        StoreStage sg[4];
        double a = mono_s();
        errors += store_run_get(st, id, &r, &err) != 0;
        errors += store_stages_get(st, id, sg, &err) != 0;
        lat[reads++] = mono_s() - a;
        store_run_free(&r);
    }
    pthread_join(th, NULL);
    CHECK_INT_EQ(lw.failed, 0);
    CHECK_INT_EQ(errors, 0);
    qsort(lat, (size_t)reads, sizeof *lat, by_value);
    double per_write = lw.seconds / lw.rounds, median = reads ? lat[reads / 2] : 0;
    printf("    %ld reads during %d writes of 60,000 rows (%.0f ms each): median %.3f ms, "
           "slowest %.1f ms\n", reads, lw.rounds, 1e3 * per_write, 1e3 * median,
           reads ? 1e3 * lat[reads - 1] : 0.0);
    CHECK_MSG(reads > 100L * lw.rounds, "only %ld reads", reads);
    CHECK_MSG(median < per_write / 20, "median read %.2f ms", 1e3 * median);
    free(lat);
    drop_store(st, dir);
}
