/* test_daemon.c — gsimclrd as a separate process (bin/gsimclrd, or $GS_DAEMON): killed with
 * SIGKILL in the middle of SimCLR and restarted, a run must finish with exactly the result of
 * the same run left alone, its metrics without gap or duplicate; SIGTERM must stop the daemon
 * with exit status 0 and the run must resume at the next start. */
#define _DEFAULT_SOURCE /* mkdtemp, usleep */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
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

typedef struct {
    pid_t pid;
    int port;
    char dir[64];
    char log[128];
} Daemon;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Starts the daemon on a free port over d->dir; the port is read from its log. */
static int daemon_start(Daemon *d)
{
    const char *bin = getenv("GS_DAEMON") ? getenv("GS_DAEMON") : "bin/gsimclrd";
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "  %s is not built (make bin/gsimclrd)\n", bin);
        return -1;
    }
    snprintf(d->log, sizeof d->log, "%s/daemon.log", d->dir);
    FILE *f = fopen(d->log, "a");
    if (!f)
        return -1;
    long start = ftell(f);
    fclose(f);
    char db[96];
    snprintf(db, sizeof db, "%s/db", d->dir);
    d->pid = fork();
    if (d->pid < 0)
        return -1;
    if (d->pid == 0) {
        if (!freopen(d->log, "a", stderr))
            _exit(127);
        execl(bin, bin, "--listen", "127.0.0.1:0", "--data-dir", db, "--workers", "1",
              "--threads", "2", (char *)NULL);
        _exit(127);
    }
    for (double t0 = now(); now() - t0 < 20;) {
        f = fopen(d->log, "r");
        if (f) {
            char line[512];
            fseek(f, start, SEEK_SET);
            while (fgets(line, sizeof line, f)) {
                const char *p = strstr(line, "listening on http://127.0.0.1:");
                if (p) {
                    d->port = atoi(p + strlen("listening on http://127.0.0.1:"));
                    fclose(f);
                    return d->port > 0 ? 0 : -1;
                }
            }
            fclose(f);
        }
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            fprintf(stderr, "  the daemon exited at start (see %s)\n", d->log);
            d->pid = 0;
            return -1;
        }
        usleep(50000);
    }
    return -1;
}

/* Sends sig and waits for the exit; returns the exit status (or 128 + signal). */
static int daemon_signal(Daemon *d, int sig, double timeout_s)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, sig);
    int st = 0;
    for (double t0 = now(); now() - t0 < timeout_s; usleep(20000))
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    d->pid = 0;
    return -2;
}

static cJSON *get_json(int port, const char *path)
{
    ApiResp r;
    cJSON *j = NULL;
    if (apic_json(port, "GET", path, NULL, NULL, &r) == 0 && r.status == 200)
        j = cJSON_Parse(r.body);
    apic_free(&r);
    return j;
}

static int64_t submit(int port)
{
    ApiResp r;
    int64_t id = 0;
    if (apic_json(port, "POST", "/v1/runs", RUN_CONFIG, NULL, &r) == 0 && r.status == 201) {
        cJSON *j = cJSON_Parse(r.body);
        cJSON *v = cJSON_GetObjectItem(j, "id");
        id = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
        cJSON_Delete(j);
    } else {
        fprintf(stderr, "  submit: %ld %s\n", r.status, r.body);
    }
    apic_free(&r);
    return id;
}

/* GET /v1/runs/{id}: the run object, or NULL. */
static cJSON *get_run(int port, int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)id);
    return get_json(port, path);
}

/* A run that shows no sign of life for this long has stalled; a busy machine only slows it. */
#define STALL_S 120.0

/* Waits for a terminal status; returns it ("?" when the run stalled or could not be read). */
static const char *wait_done(int port, int64_t id, char *buf, size_t cap)
{
    cJSON *run = apic_wait_run(port, id, apic_run_ended, NULL, STALL_S);
    cJSON *s = cJSON_GetObjectItem(run, "status");
    snprintf(buf, cap, "%s", cJSON_IsString(s) ? s->valuestring : "?");
    cJSON_Delete(run);
    return buf;
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
    if (d->pid > 0)
        daemon_signal(d, SIGKILL, 5);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", d->dir);
}

/* A fresh folder under /tmp and the daemon started over it; false (a check failed, all
 * cleaned up) when it does not start. */
static bool daemon_setup(Daemon *d)
{
    snprintf(d->dir, sizeof d->dir, "/tmp/gs-daemon-XXXXXX");
    CHECK(mkdtemp(d->dir) != NULL);
    if (daemon_start(d) == 0)
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
    CHECK_INT_EQ(daemon_signal(&d, SIGKILL, 5), 128 + SIGKILL);

    CHECK(daemon_start(&d) == 0);
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
    CHECK_INT_EQ(daemon_signal(&d, SIGTERM, 20), 0);
    CHECK_MSG(now() - t0 < 5, "SIGTERM took %.1f s", now() - t0);

    CHECK(daemon_start(&d) == 0);
    char s[32];
    CHECK(strcmp(wait_done(d.port, x, s, sizeof s), "succeeded") == 0);
    CHECK(result_field(d.port, x, "linear_top1") > 0.3);
    CHECK_INT_EQ(daemon_signal(&d, SIGTERM, 20), 0);
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
    CHECK_INT_EQ(daemon_signal(&d, SIGTERM, 20), 0);
    cleanup(&d);
}
