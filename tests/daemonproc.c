/* daemonproc.c — gsimclrd as a child process (daemonproc.h): fork and exec with its folder,
 * its port read back from its log, signals and waits, and the shared API calls. */
#define _DEFAULT_SOURCE /* mkdtemp, usleep */
#include "daemonproc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int dproc_mkdir(Daemon *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/gs-daemon-XXXXXX");
    return mkdtemp(d->dir) ? 0 : -1;
}

/* The exit of a waitpid status: exit status, or 128 + signal. */
static int exit_code(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int dproc_start(Daemon *d)
{
    const char *bin = getenv("GS_DAEMON") ? getenv("GS_DAEMON") : "bin/gsimclrd";
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "  %s is not built (make bin/gsimclrd)\n", bin);
        return -1;
    }
    if (!d->db[0])
        snprintf(d->db, sizeof d->db, "%s/db", d->dir);
    snprintf(d->log, sizeof d->log, "%s/daemon.log", d->dir);
    FILE *f = fopen(d->log, "a");
    if (!f)
        return -1;
    long start = ftell(f);
    fclose(f);
    char threads[16];
    snprintf(threads, sizeof threads, "%d", d->threads > 0 ? d->threads : 2);
    d->port = 0;
    d->pid = fork();
    if (d->pid < 0) {
        d->pid = 0;
        return -1;
    }
    if (d->pid == 0) {
        if (!freopen(d->log, "a", stderr))
            _exit(127);
        if (d->crash_at)
            setenv("GSIMCLRD_CRASH_AT", d->crash_at, 1);
        else
            unsetenv("GSIMCLRD_CRASH_AT");
        if (d->mpirun)
            execl(bin, bin, "--listen", "127.0.0.1:0", "--data-dir", d->db, "--workers", "1",
                  "--threads", threads, "--mpirun", d->mpirun, (char *)NULL);
        else
            execl(bin, bin, "--listen", "127.0.0.1:0", "--data-dir", d->db, "--workers", "1",
                  "--threads", threads, (char *)NULL);
        _exit(127);
    }
    for (double t0 = mono(); mono() - t0 < 20;) {
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
            d->pid = 0;
            d->status = exit_code(st);
            return 1;
        }
        usleep(20000);
    }
    dproc_signal(d, SIGKILL, 5);
    return -1;
}

int dproc_wait_exit(Daemon *d, double timeout_s)
{
    if (d->pid <= 0)
        return -1;
    int st = 0;
    for (double t0 = mono(); mono() - t0 < timeout_s; usleep(5000))
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            return d->status = exit_code(st);
        }
    return -2;
}

int dproc_signal(Daemon *d, int sig, double timeout_s)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, sig);
    int rc = dproc_wait_exit(d, timeout_s);
    if (rc != -2)
        return rc;
    int st;
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    d->pid = 0;
    d->status = exit_code(st);
    return -2;
}

void dproc_cleanup(Daemon *d)
{
    if (d->pid > 0)
        dproc_signal(d, SIGKILL, 5);
    if (!d->dir[0])
        return;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", d->dir);
}

cJSON *dproc_get_json(int port, const char *path)
{
    ApiResp r;
    cJSON *j = NULL;
    if (apic_json(port, "GET", path, NULL, NULL, &r) == 0 && r.status == 200)
        j = cJSON_Parse(r.body);
    apic_free(&r);
    return j;
}

int64_t dproc_submit(int port, const char *config, long *status)
{
    ApiResp r;
    int64_t id = 0;
    int rc = apic_json(port, "POST", "/v1/runs", config, NULL, &r);
    if (status)
        *status = rc == 0 ? r.status : 0;
    if (rc == 0 && r.status == 201) {
        cJSON *j = cJSON_Parse(r.body);
        cJSON *v = cJSON_GetObjectItem(j, "id");
        id = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
        cJSON_Delete(j);
    }
    apic_free(&r);
    return id;
}

cJSON *dproc_get_run(int port, int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)id);
    return dproc_get_json(port, path);
}

const char *dproc_wait_done(int port, int64_t id, double stall_s, char *buf, size_t cap)
{
    cJSON *run = apic_wait_run(port, id, apic_run_ended, NULL, stall_s);
    cJSON *s = cJSON_GetObjectItem(run, "status");
    snprintf(buf, cap, "%s", cJSON_IsString(s) ? s->valuestring : "?");
    cJSON_Delete(run);
    return buf;
}
