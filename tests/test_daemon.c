/* test_daemon.c — gsimclrd as a separate process (bin/gsimclrd, or $GS_DAEMON): killed with
 * SIGKILL in the middle of SimCLR and restarted, a run must finish with exactly the result of
 * the same run left alone, its metrics without gap or duplicate; SIGTERM must stop the daemon
 * with exit status 0 and the run must resume at the next start; on a full disk (a small
 * tmpfs, root only) a run fails with the reason, submissions get 507, and once there is room
 * again everything works and nothing was lost. */
#define _DEFAULT_SOURCE /* mkdtemp, usleep */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
#include "daemonproc.h"
#include "fingerprint.h"
#include "harness.h"

/* A small run with several SimCLR epochs, a checkpoint after each. */
static const char *RUN_CONFIG =
    "{\"name\": \"crash test\", \"subset\": 2000, \"subset_random\": true, \"test_subset\": 500,"
    " \"threads\": 2,"
    " \"dae\": {\"filters\": [8, 16, 32], \"epochs\": 1, \"batch\": 128},"
    " \"kmeans\": {\"k\": 32, \"n_init\": 1},"
    " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 8, \"head\": [32, 16]},"
    "              \"epochs\": 5, \"batch\": 64, \"checkpoint_every\": 1},"
    " \"eval\": {\"linear\": {\"epochs\": 3}, \"knn_k\": 20}}";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static cJSON *get_json(int port, const char *path)
{
    return dproc_get_json(port, path);
}

static int64_t submit(int port)
{
    long status = 0;
    int64_t id = dproc_submit(port, RUN_CONFIG, &status);
    if (id <= 0)
        fprintf(stderr, "  submit: HTTP %ld\n", status);
    return id;
}

static cJSON *get_run(int port, int64_t id)
{
    return dproc_get_run(port, id);
}

/* A run that shows no sign of life for this long has stalled; a busy machine only slows it. */
#define STALL_S 120.0

/* Waits for a terminal status; returns it ("?" when the run stalled or could not be read). */
static const char *wait_done(int port, int64_t id, char *buf, size_t cap)
{
    return dproc_wait_done(port, id, STALL_S, buf, cap);
}

/* True once the run has a checkpoint of the simclr stage at epoch >= epoch. */
static bool has_simclr_checkpoint(int port, int64_t id, int epoch)
{
    char path[80];
    snprintf(path, sizeof path, "/v1/runs/%lld/checkpoints", (long long)id);
    cJSON *j = get_json(port, path);
    bool found = false;
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "checkpoints"))
    {
        cJSON *st = cJSON_GetObjectItem(c, "stage"), *ep = cJSON_GetObjectItem(c, "epoch");
        if (cJSON_IsString(st) && strcmp(st->valuestring, "simclr") == 0 &&
            cJSON_IsNumber(ep) && ep->valueint >= epoch)
            found = true;
    }
    cJSON_Delete(j);
    return found;
}

typedef struct {
    int port, epoch;
    bool found;
} CheckpointWait;

static bool checkpoint_or_end(const cJSON *run, void *arg)
{
    CheckpointWait *w = arg;
    cJSON *id = cJSON_GetObjectItem(run, "id");
    w->found = cJSON_IsNumber(id) && has_simclr_checkpoint(w->port, (int64_t)id->valuedouble,
                                                           w->epoch);
    return w->found || apic_run_ended(run, NULL);
}

/* Waits until the run has a simclr checkpoint at epoch >= epoch; false when the run ended
 * without one or stalled. */
static bool wait_simclr_checkpoint(int port, int64_t id, int epoch)
{
    CheckpointWait w = {port, epoch, false};
    cJSON_Delete(apic_wait_run(port, id, checkpoint_or_end, &w, STALL_S));
    return w.found;
}

/* The run's metrics as "stage name epoch step value" lines (values printed exactly). */
static char *metric_lines(int port, int64_t id)
{
    char path[80];
    snprintf(path, sizeof path, "/v1/runs/%lld/metrics", (long long)id);
    cJSON *j = get_json(port, path);
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    if (!out) {
        cJSON_Delete(j);
        return NULL;
    }
    out[0] = 0;
    cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "metrics"))
    {
        const char *name = cJSON_GetObjectItem(m, "name")->valuestring;
        if (strcmp(name, "images_per_s") == 0) /* a speed, not a result */
            continue;
        cJSON *v = cJSON_GetObjectItem(m, "value");
        if (len + 200 > cap)
            break;
        len += (size_t)snprintf(out + len, cap - len, "%s %s %d %d %.17g\n",
                                cJSON_GetObjectItem(m, "stage")->valuestring, name,
                                cJSON_GetObjectItem(m, "epoch")->valueint,
                                cJSON_GetObjectItem(m, "step")->valueint,
                                cJSON_IsNumber(v) ? v->valuedouble : -1.0);
    }
    cJSON_Delete(j);
    return out;
}

static double result_field(int port, int64_t id, const char *name)
{
    cJSON *j = get_run(port, id);
    cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "result"), name);
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    cJSON_Delete(j);
    return x;
}

static void cleanup(Daemon *d)
{
    dproc_cleanup(d);
}

/* A fresh folder under /tmp and the daemon started over it; false (a check failed, all
 * cleaned up) when it does not start. */
static bool daemon_setup(Daemon *d)
{
    CHECK(dproc_mkdir(d) == 0);
    if (dproc_start(d) == 0)
        return true;
    CHECK_MSG(0, "the daemon did not start");
    cleanup(d);
    return false;
}

TEST(daemon_kill9_during_simclr_resumes_identically)
{
    Daemon d = {0};
    if (!daemon_setup(&d))
        return;
    /* x will be killed mid-SimCLR; y, the same run, trains after it undisturbed */
    int64_t x = submit(d.port), y = submit(d.port);
    CHECK(x > 0 && y > 0);
    CHECK_MSG(wait_simclr_checkpoint(d.port, x, 2), "no simclr checkpoint of epoch 2");
    CHECK_INT_EQ(dproc_signal(&d, SIGKILL, 5), 128 + SIGKILL);

    CHECK(dproc_start(&d) == 0);
    char sx[32], sy[32];
    CHECK(strcmp(wait_done(d.port, x, sx, sizeof sx), "succeeded") == 0);
    CHECK(strcmp(wait_done(d.port, y, sy, sizeof sy), "succeeded") == 0);

    cJSON *j = get_run(d.port, x);
    cJSON *res = cJSON_GetObjectItem(j, "resumes");
    CHECK_MSG(cJSON_IsNumber(res) && res->valueint == 1, "resumes should be 1");
    cJSON_Delete(j);

    const char *fields[] = {"linear_top1", "knn_top1", "simclr_loss", "inertia", "purity",
                            "dae_loss"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        double a = result_field(d.port, x, fields[i]), b = result_field(d.port, y, fields[i]);
        CHECK_MSG(a == b, "%s: resumed %.17g, undisturbed %.17g", fields[i], a, b);
    }
    /* every metric once, in order, with the undisturbed run's exact values */
    char *mx = metric_lines(d.port, x), *my = metric_lines(d.port, y);
    CHECK(mx && my && strlen(mx) > 100);
    if (mx && my && strcmp(mx, my) != 0) {
        CHECK_MSG(0, "metrics differ");
        fprintf(stderr, "--- resumed:\n%s--- undisturbed:\n%s", mx, my);
    }
    free(mx);
    free(my);
    cleanup(&d);
}

TEST(daemon_sigterm_exits_0_and_the_run_resumes)
{
    Daemon d = {0};
    if (!daemon_setup(&d))
        return;
    int64_t x = submit(d.port);
    CHECK(x > 0);
    CHECK(wait_simclr_checkpoint(d.port, x, 1));
    double t0 = now();
    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 20), 0);
    CHECK_MSG(now() - t0 < 5, "SIGTERM took %.1f s", now() - t0);

    CHECK(dproc_start(&d) == 0);
    char s[32];
    CHECK(strcmp(wait_done(d.port, x, s, sizeof s), "succeeded") == 0);
    CHECK(result_field(d.port, x, "linear_top1") > 0.3);
    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 20), 0);
    cleanup(&d);
}

/* The README's curl examples, exactly as written (from its "## HTTP API" section), against a
 * daemon whose run 1 has succeeded: each must get the status the README promises. */
TEST(daemon_readme_curl_examples_work)
{
    FILE *f = fopen("README.md", "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char cmds[32][512];
    int n = 0;
    char line[1024];
    bool section = false, block = false;
    while (fgets(line, sizeof line, f) && n < 32) {
        if (strncmp(line, "## ", 3) == 0)
            section = strncmp(line, "## HTTP API", 11) == 0;
        else if (section && strncmp(line, "```", 3) == 0)
            block = !block;
        else if (section && block && strncmp(line, "curl ", 5) == 0) {
            char *hash = strstr(line, "  #"); /* the trailing comment */
            if (hash)
                *hash = 0;
            line[strcspn(line, "\n")] = 0;
            snprintf(cmds[n++], sizeof cmds[0], "%.500s", line);
        }
    }
    fclose(f);
    CHECK_MSG(n >= 16, "found %d curl examples in README.md", n);

    Daemon d = {0};
    if (!daemon_setup(&d))
        return;
    int64_t id = submit(d.port);
    char st[32];
    CHECK(id == 1);
    CHECK(strcmp(wait_done(d.port, id, st, sizeof st), "succeeded") == 0);

    /* run where the README says: examples/ must be there, the downloads land in the folder */
    char cwd[512], link[160];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(link, sizeof link, "%s/examples", d.dir);
    char target[600];
    snprintf(target, sizeof target, "%s/examples", cwd);
    CHECK(symlink(target, link) == 0);
    for (int i = 0; i < n; i++) {
        char sh[1400];
        snprintf(sh, sizeof sh, "cd %s && S=http://127.0.0.1:%d && %.511s -w '\\n%%{http_code}'",
                 d.dir, d.port, cmds[i]);
        FILE *p = popen(sh, "r");
        CHECK(p != NULL);
        if (!p)
            continue;
        char out[256] = "", last[256] = "";
        while (fgets(out, sizeof out, p))
            if (out[0] != '\n')
                snprintf(last, sizeof last, "%s", out);
        int rc = pclose(p);
        int status = atoi(last);
        bool cancel = strstr(cmds[i], "/cancel") != NULL;
        bool ok = rc == 0 && ((status >= 200 && status < 300) || (cancel && status == 409));
        CHECK_MSG(ok, "README example `%s`: exit %d, HTTP %d", cmds[i], rc, status);
    }
    char png[160];
    snprintf(png, sizeof png, "%s/cluster0.png", d.dir);
    f = fopen(png, "rb");
    unsigned char sig[8] = {0};
    CHECK(f && fread(sig, 1, 8, f) == 8 && memcmp(sig, "\x89PNG", 4) == 0);
    if (f)
        fclose(f);
    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 20), 0);
    cleanup(&d);
}

/* ---- a full disk ---- */

/* A small G-SimCLR run on one thread: a few hundred kB of checkpoints and rows. */
static const char *SMALL_CONFIG =
    "{\"name\": \"disk\", \"subset\": 600, \"subset_random\": true, \"test_subset\": 300,"
    " \"threads\": 1, \"dae\": {\"filters\": [8, 16, 32], \"epochs\": 2, \"batch\": 32},"
    " \"kmeans\": {\"k\": 48, \"n_init\": 1},"
    " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 8, \"head\": [32, 16]},"
    "              \"epochs\": 3, \"batch\": 12, \"checkpoint_every\": 1},"
    " \"eval\": {\"linear\": {\"epochs\": 3}, \"knn_k\": 20}}";

static long long free_bytes(const char *dir)
{
    struct statvfs fs;
    return statvfs(dir, &fs) == 0 ? (long long)fs.f_bavail * (long long)fs.f_frsize : -1;
}

/* A file at path that leaves about `leave` bytes free on its file system. */
static int fill_disk(const char *dir, const char *path, long long leave)
{
    long long room = free_bytes(dir) - leave;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    int rc = room > 0 ? posix_fallocate(fd, 0, (off_t)room) : 0;
    close(fd);
    return rc == 0 ? 0 : -1;
}

/* The run's status and error, and its stored result and metric count, as one line (to see
 * that nothing of it changed). */
static char *run_digest(int port, int64_t id)
{
    cJSON *run = get_run(port, id);
    char path[80];
    snprintf(path, sizeof path, "/v1/runs/%lld/metrics", (long long)id);
    cJSON *m = get_json(port, path);
    char *result = cJSON_PrintUnformatted(cJSON_GetObjectItem(run, "result"));
    cJSON *st = cJSON_GetObjectItem(run, "status"), *er = cJSON_GetObjectItem(run, "error");
    char *out = malloc(4096);
    if (out)
        snprintf(out, 4096, "%s | %s | %s | %d metrics", cJSON_IsString(st) ? st->valuestring : "?",
                 cJSON_IsString(er) ? er->valuestring : "-", result ? result : "?",
                 cJSON_GetArraySize(cJSON_GetObjectItem(m, "metrics")));
    free(result);
    cJSON_Delete(run);
    cJSON_Delete(m);
    return out;
}

/* PRAGMA integrity_check of the store in folder dir: "ok" or what it found (into buf). */
static const char *integrity(const char *dir, char *buf, size_t cap)
{
    char path[300];
    snprintf(path, sizeof path, "%s/gsimclr.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    snprintf(buf, cap, "cannot read the database of %s", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return buf;
}

/* Issue 11 item 5. The store lives on an 8 MB tmpfs; run A succeeds with room to spare. The
 * daemon restarts with the disk filled to its last 96 kB; run B is accepted (nothing has
 * failed yet), fills the disk and fails with the reason; a submission is then refused with
 * 507 and changes nothing; once the filler is gone a run succeeds again; after a restart
 * every run reads as before and the database passes its integrity check. Root only (mount). */
TEST(daemon_disk_full_fails_the_run_and_refuses_runs)
{
    if (geteuid() != 0) {
        printf("    skipped: mounting a small tmpfs needs root\n");
        return;
    }
    Daemon d;
    CHECK(dproc_mkdir(&d) == 0);
    snprintf(d.db, sizeof d.db, "%s/db", d.dir);
    mkdir(d.db, 0755);
    if (mount("tmpfs", d.db, "tmpfs", 0, "size=8m") != 0) {
        printf("    skipped: mount -t tmpfs on %s: %s\n", d.db, strerror(errno));
        cleanup(&d);
        return;
    }
    char filler[256], st[32], why[256];
    snprintf(filler, sizeof filler, "%s/filler", d.db);
    d.threads = 1;
    CHECK(dproc_start(&d) == 0);
    int64_t a = dproc_submit(d.port, SMALL_CONFIG, NULL);
    CHECK(a > 0 && strcmp(wait_done(d.port, a, st, sizeof st), "succeeded") == 0);
    char *a_before = run_digest(d.port, a);

    /* restarted on a full disk: the WAL starts empty, so the run's writes need new room */
    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 30), 0);
    CHECK(fill_disk(d.db, filler, 96 << 10) == 0);
    CHECK(dproc_start(&d) == 0);
    long http = 0;
    int64_t b = dproc_submit(d.port, SMALL_CONFIG, &http);
    CHECK_MSG(b > 0, "the submission before the disk is found full: HTTP %ld", http);
    CHECK(strcmp(wait_done(d.port, b, st, sizeof st), "failed") == 0);
    cJSON *run = get_run(d.port, b);
    cJSON *error = cJSON_GetObjectItem(run, "error");
    CHECK_MSG(cJSON_IsString(error) && strstr(error->valuestring, "database or disk is full"),
              "the run's error: %s", cJSON_IsString(error) ? error->valuestring : "none");
    if (cJSON_IsString(error))
        printf("    the run's error: %s\n", error->valuestring);
    cJSON_Delete(run);

    GsErr err;
    char *fp = fingerprint_db(d.db, &err);
    ApiResp r;
    CHECK(apic_json(d.port, "POST", "/v1/runs", SMALL_CONFIG, NULL, &r) == 0);
    CHECK_MSG(r.status == 507 && strstr(r.body, "\"insufficient_storage\"") &&
                  strstr(r.body, "disk is full"),
              "a submission on the full disk: %ld %s", r.status, r.body);
    apic_free(&r);
    char *fp2 = fingerprint_db(d.db, &err);
    CHECK_MSG(fp && fp2 && strcmp(fp, fp2) == 0, "the refused submission changed the store");
    free(fp);
    free(fp2);

    /* room again */
    CHECK(unlink(filler) == 0);
    int64_t c = dproc_submit(d.port, SMALL_CONFIG, &http);
    CHECK_MSG(c > 0, "a submission once there is room: HTTP %ld", http);
    CHECK(c > 0 && strcmp(wait_done(d.port, c, st, sizeof st), "succeeded") == 0);
    char *b_before = run_digest(d.port, b), *c_before = run_digest(d.port, c);

    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 30), 0);
    CHECK(dproc_start(&d) == 0);
    char *a_after = run_digest(d.port, a), *b_after = run_digest(d.port, b);
    char *c_after = run_digest(d.port, c);
    CHECK_MSG(a_before && a_after && strcmp(a_before, a_after) == 0, "run A: %s / %s", a_before,
              a_after);
    CHECK(b_before && b_after && strcmp(b_before, b_after) == 0);
    CHECK(c_before && c_after && strcmp(c_before, c_after) == 0);
    CHECK_INT_EQ(dproc_signal(&d, SIGTERM, 30), 0);
    CHECK_MSG(strcmp(integrity(d.db, why, sizeof why), "ok") == 0, "integrity_check: %s", why);
    free(a_before);
    free(a_after);
    free(b_before);
    free(b_after);
    free(c_before);
    free(c_after);
    if (umount2(d.db, MNT_DETACH) != 0)
        printf("    umount %s: %s\n", d.db, strerror(errno));
    cleanup(&d);
}
