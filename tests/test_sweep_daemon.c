/* test_sweep_daemon.c — a sweep across daemon restarts (bin/gsimclrd as a child process,
 * daemonproc.h): stopped by SIGTERM in the middle of one run and killed with SIGKILL in the
 * middle of a run that started from a shared k-means, the sweep must go on after each restart
 * with its remaining runs, never rerun a finished one, and end with the results, pseudo-labels
 * and metrics of the same sweep left alone in another daemon. */
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiclient.h"
#include "daemonproc.h"
#include "harness.h"

/* Four runs: seeds 1 and 2 at k 8, then at k 12 (those reuse the autoencoder of their seed);
 * three SimCLR epochs of 25 steps with a checkpoint after each, so there is a middle to stop
 * in. */
static const char *SWEEP =
    "{\"name\": \"restarts\", \"base\": {\"subset\": 800, \"subset_random\": true,"
    " \"test_subset\": 200, \"threads\": 2,"
    " \"dae\": {\"filters\": [4, 8, 8], \"epochs\": 1, \"batch\": 128},"
    " \"kmeans\": {\"n_init\": 1},"
    " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 4, \"head\": [16, 8]},"
    "              \"epochs\": 3, \"batch\": 32, \"checkpoint_every\": 1},"
    " \"eval\": {\"linear\": {\"epochs\": 2}, \"knn_k\": 10}},"
    " \"grid\": {\"kmeans.k\": [8, 12], \"seed\": [1, 2]}}";

#define STALL_S 120.0

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

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int64_t post_sweep(int port)
{
    ApiResp r;
    apic_json(port, "POST", "/v1/sweeps", SWEEP, NULL, &r);
    cJSON *j = cJSON_Parse(r.body);
    int64_t id = r.status == 201 ? (int64_t)jnum(j, "id") : 0;
    CHECK_MSG(id > 0, "POST /v1/sweeps: HTTP %ld %.300s", r.status, r.body);
    cJSON_Delete(j);
    apic_free(&r);
    return id;
}

/* The run of point p of sweep id (0 when it cannot be read). */
static int64_t point_run(int port, int64_t sweep, int p)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/sweeps/%lld", (long long)sweep);
    cJSON *s = dproc_get_json(port, path);
    int64_t run = (int64_t)jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(s, "points_runs"), p),
                                "run");
    cJSON_Delete(s);
    return run > 0 ? run : 0;
}

typedef struct {
    const char *stage;
    long min_step;
} StageWait;

/* done() for apic_wait_run: the run trains stage with at least min_step steps done in it, or
 * has ended. */
static bool in_stage(const cJSON *run, void *arg)
{
    const StageWait *w = arg;
    if (apic_run_ended(run, NULL))
        return true;
    if (!streq(jstr(run, "stage"), w->stage))
        return false;
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(run, "stages"))
        if (streq(jstr(st, "name"), w->stage) && jnum(st, "step") >= (double)w->min_step)
            return true;
    return false;
}

/* The run's metrics as "stage name epoch step value" lines, speeds aside. */
static char *metric_lines(int port, int64_t id)
{
    char path[80];
    snprintf(path, sizeof path, "/v1/runs/%lld/metrics", (long long)id);
    cJSON *j = dproc_get_json(port, path);
    size_t cap = 1 << 18, len = 0;
    char *out = calloc(1, cap);
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "metrics"))
    {
        if (!out || streq(jstr(m, "name"), "images_per_s") || len + 200 > cap)
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s %s %g %g %.17g\n", jstr(m, "stage"),
                                jstr(m, "name"), jnum(m, "epoch"), jnum(m, "step"),
                                jnum(m, "value"));
    }
    cJSON_Delete(j);
    return out;
}

static char *labels_of(int port, int64_t id)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/runs/%lld/pseudo-labels?format=json", (long long)id);
    ApiResp r;
    apic_request(port, "GET", path, NULL, 0, NULL, &r);
    char *b = r.status == 200 ? strdup(r.body) : NULL;
    apic_free(&r);
    return b;
}

/* Run a of one daemon equals run b of another: status, result (timings aside), pseudo-labels,
 * metrics. */
static void check_twin(int pa, int64_t a, int pb, int64_t b, int point)
{
    cJSON *ra = dproc_get_run(pa, a), *rb = dproc_get_run(pb, b);
    CHECK_MSG(streq(jstr(ra, "status"), "succeeded") && streq(jstr(rb, "status"), "succeeded"),
              "point %d: %s / %s", point, jstr(ra, "status"), jstr(rb, "status"));
    const cJSON *f, *res_b = cJSON_GetObjectItem(rb, "result");
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(ra, "result"))
    {
        if (strstr(f->string, "_seconds"))
            continue;
        const cJSON *g = cJSON_GetObjectItem(res_b, f->string);
        /* numbers bit for bit; texts and lists (test_split, skipped) as they are */
        CHECK_MSG(cJSON_IsNumber(f) ? cJSON_IsNumber(g) && g->valuedouble == f->valuedouble
                                    : cJSON_Compare(f, g, true),
                  "point %d: %s differs", point, f->string);
    }
    cJSON_Delete(ra);
    cJSON_Delete(rb);
    char *la = labels_of(pa, a), *lb = labels_of(pb, b);
    CHECK_MSG(la && lb && strcmp(la, lb) == 0, "point %d: pseudo-labels differ", point);
    free(la);
    free(lb);
    char *ma = metric_lines(pa, a), *mb = metric_lines(pb, b);
    CHECK_MSG(ma && mb && strcmp(ma, mb) == 0, "point %d: metrics differ:\n%s---\n%s", point,
              ma, mb);
    free(ma);
    free(mb);
}

/* Waits for every run of the sweep (of n points) to end; false when one stalled. */
static bool sweep_done(int port, int64_t id, int n)
{
    for (int p = 0; p < n; p++) {
        char buf[32];
        dproc_wait_done(port, point_run(port, id, p), STALL_S, buf, sizeof buf);
        if (streq(buf, "?"))
            return false;
    }
    return true;
}

TEST(daemon_sweep_survives_sigterm_and_kill9)
{
    Daemon d = {0}, twin = {0};
    CHECK(dproc_mkdir(&d) == 0 && dproc_mkdir(&twin) == 0);
    if (dproc_start(&d) != 0 || dproc_start(&twin) != 0) {
        CHECK_MSG(0, "the daemons did not start");
        dproc_cleanup(&d);
        dproc_cleanup(&twin);
        return;
    }
    int64_t s = post_sweep(d.port), st = post_sweep(twin.port);
    if (!s || !st)
        goto out;
    int64_t run[4];
    for (int p = 0; p < 4; p++)
        run[p] = point_run(d.port, s, p);

    /* the first run ends; the second is stopped by SIGTERM inside its SimCLR stage */
    char status[32];
    CHECK(streq(dproc_wait_done(d.port, run[0], STALL_S, status, sizeof status), "succeeded"));
    cJSON *first = dproc_get_run(d.port, run[0]);
    StageWait in_simclr = {"simclr", 30};  /* in epoch 2 */
    cJSON_Delete(apic_wait_run(d.port, run[1], in_stage, &in_simclr, STALL_S));
    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 30), 0);

    /* restarted: the second run resumes; the third, which starts from the shared autoencoder
     * of seed 1, is killed inside its SimCLR stage */
    CHECK(dproc_start(&d) == 0);
    StageWait early = {"simclr", 5};
    cJSON_Delete(apic_wait_run(d.port, run[2], in_stage, &early, STALL_S));
    CHECK_INT_EQ(dproc_signal(&d, SIGKILL, 5), 128 + SIGKILL);
    CHECK(dproc_start(&d) == 0);

    CHECK(sweep_done(d.port, s, 4));
    CHECK(sweep_done(twin.port, st, 4));
    char path[64];
    snprintf(path, sizeof path, "/v1/sweeps/%lld", (long long)s);
    cJSON *sw = dproc_get_json(d.port, path);
    CHECK(streq(jstr(sw, "status"), "succeeded"));
    CHECK_INT_EQ((int)jnum(cJSON_GetObjectItem(sw, "counts"), "succeeded"), 4);
    /* two rows (k 8, k 12) of two seeds each */
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(sw, "rows"))
        CHECK_INT_EQ((int)jnum(row, "n"), 2);
    cJSON_Delete(sw);

    /* the finished run was not run again; the two disturbed ones resumed once each */
    cJSON *again = dproc_get_run(d.port, run[0]);
    CHECK(streq(jstr(first, "finished_at"), jstr(again, "finished_at")));
    CHECK_INT_EQ((int)jnum(again, "resumes"), 0);
    cJSON_Delete(first);
    cJSON_Delete(again);
    for (int p = 1; p <= 2; p++) {
        cJSON *r = dproc_get_run(d.port, run[p]);
        CHECK_MSG((int)jnum(r, "resumes") == 1, "point %d resumed %g times", p,
                  jnum(r, "resumes"));
        cJSON_Delete(r);
    }
    cJSON *third = dproc_get_run(d.port, run[2]);
    const cJSON *sh = cJSON_GetArrayItem(cJSON_GetObjectItem(third, "shared_stages"), 0);
    CHECK(streq(jstr(sh, "stage"), "dae") && cJSON_IsTrue(cJSON_GetObjectItem(sh, "reused")));
    cJSON_Delete(third);
    /* and everything equals the sweep left alone */
    for (int p = 0; p < 4; p++)
        check_twin(d.port, run[p], twin.port, point_run(twin.port, st, p), p);
out:
    dproc_signal(&d, SIGTERM, 30);
    dproc_signal(&twin, SIGTERM, 30);
    dproc_cleanup(&d);
    dproc_cleanup(&twin);
}
