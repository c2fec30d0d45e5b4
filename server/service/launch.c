/* launch.c — a P-process run started through the launcher and followed through the relay
 * (launch.h). Everything here waits with a bound: the worker thread polls the relay socket,
 * the launcher's exit and the run's cancel flag every POLL_MS. */
#define _GNU_SOURCE /* close_range, getrandom */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"

enum { POLL_MS = 200, MAX_WORDS = 96 };

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void launch_default_mpirun(int p, char *buf, size_t cap)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    /* this host only: Open MPI's own traffic and the ranks' TCP (when shared memory is not
     * used) on loopback; not bound, since each process runs its own threads */
    snprintf(buf, cap, "mpirun --host localhost:%d --bind-to none --mca btl_tcp_if_include lo "
             "--mca oob_tcp_if_include lo%s%s", p, geteuid() == 0 ? " --allow-run-as-root" : "",
             cores > 0 && p > cores ? " --oversubscribe" : "");
}

void launch_result_free(LaunchResult *r)
{
    run_result_free(&r->res);
    relay_owned_free(&r->owned);
}

/* The words of s split on blanks into words (pointing into buf). Count, or -1. */
static int split_words(const char *s, char *buf, size_t cap, char **words, int max)
{
    if (snprintf(buf, cap, "%s", s) >= (int)cap)
        return -1;
    int n = 0;
    for (char *q = strtok(buf, " \t\n"); q; q = strtok(NULL, " \t\n")) {
        if (n == max)
            return -1;
        words[n++] = q;
    }
    return n;
}

/* The program file a word names: as is with a slash, else the first executable on PATH. */
static int resolve(const char *word, char *out, size_t cap)
{
    if (strchr(word, '/'))
        return snprintf(out, cap, "%s", word) < (int)cap && access(out, X_OK) == 0 ? 0 : -1;
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
        if (snprintf(out, cap, "%s/%s", *d ? d : ".", word) < (int)cap && access(out, X_OK) == 0)
            return 0;
    return -1;
}

/* The listening socket of the relay: host[:port] (port + slot when given). */
static int listen_relay(const LaunchConfig *lc, int slot, char *host, size_t hcap, int *port,
                        GsErr *err)
{
    const char *spec = lc->relay_listen ? lc->relay_listen : "127.0.0.1";
    char h[256] = "", p[16] = "0";
    const char *colon = strrchr(spec, ':');
    bool v6 = spec[0] == '[';
    if (v6) {
        const char *close_b = strchr(spec, ']');
        if (!close_b || (size_t)(close_b - spec - 1) >= sizeof h)
            return gs_errf(err, "relay: bad listen address %s", spec);
        memcpy(h, spec + 1, (size_t)(close_b - spec - 1));
        if (close_b[1] == ':')
            snprintf(p, sizeof p, "%s", close_b + 2);
    } else if (colon) {
        if ((size_t)(colon - spec) >= sizeof h)
            return gs_errf(err, "relay: bad listen address %s", spec);
        memcpy(h, spec, (size_t)(colon - spec));
        snprintf(p, sizeof p, "%s", colon + 1);
    } else {
        snprintf(h, sizeof h, "%s", spec);
    }
    int base = atoi(p);
    if (base < 0 || base > 65535 || (base > 0 && base + slot > 65535))
        return gs_errf(err, "relay: bad port in %s", spec);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", base > 0 ? base + slot : 0);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    int rc = getaddrinfo(*h ? h : NULL, port_s, &hints, &ai);
    if (rc)
        return gs_errf(err, "relay: %s: %s", spec, gai_strerror(rc));
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        int one = 1;
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fd >= 0 && (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 4) != 0)) {
            gs_errf(err, "relay: listen on %s port %s: %s", *h ? h : "*", port_s,
                    strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(host, hcap, "%s", h);
    return fd;
}

/* The launcher's process group: asked to end (SIGTERM: mpirun takes its ranks down), then
 * killed when still there after a few seconds. *reaped: the launcher itself was waited for. */
static void end_group(pid_t pid, bool *reaped, int *status)
{
    if (!*reaped) {
        kill(-pid, SIGTERM);
        kill(pid, SIGTERM);
        for (int i = 0; i < 50 && !*reaped; i++) {
            if (waitpid(pid, status, WNOHANG) == pid)
                *reaped = true;
            else
                usleep(100000);
        }
    }
    /* stragglers of the group (ranks mpirun did not take with it) */
    kill(-pid, SIGKILL);
    if (!*reaped) {
        waitpid(pid, status, 0);
        *reaped = true;
    }
}

static pid_t spawn(char **argv, const char *exe)
{
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        /* the daemon's sockets and database stay with the daemon */
#ifdef SYS_close_range
        syscall(SYS_close_range, 3, ~0U, 0);
#else
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
#endif
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the daemon's threads block SIGTERM */
        signal(SIGPIPE, SIG_DFL);
        execv(exe, argv);
        _exit(127);
    }
    if (pid > 0)
        setpgid(pid, pid);
    return pid;
}

static const char *exit_text(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, cap, "ended");
    return buf;
}

/* Waits for rank 0's hello on lfd: the first connection that names the token. 0 with *cfd;
 * LAUNCH_LOST when the launcher ended first or the bound passed; -1 canceled. */
static int await_rank0(int lfd, const char *token, pid_t pid, bool *reaped, int *status,
                       const atomic_int *cancel, int connect_s, int *cfd, GsErr *err)
{
    double deadline = mono_s() + connect_s;
    char how[64];
    for (;;) {
        if (cancel && atomic_load(cancel))
            return gs_errf(err, "canceled");
        if (waitpid(pid, status, WNOHANG) == pid) {
            *reaped = true;
            return gs_errf(err, "the launcher %s before rank 0 connected (ranks on other "
                           "hosts reach the daemon only with --relay-listen and --relay-host)",
                           exit_text(*status, how, sizeof how)),
                   LAUNCH_LOST;
        }
        if (mono_s() > deadline) {
            gs_errf(err, "rank 0 did not connect within %d s", connect_s);
            return LAUNCH_LOST;
        }
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        if (poll(&pfd, 1, POLL_MS) <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        uint32_t type;
        uint8_t *p;
        size_t len;
        GsErr why;
        int rc = relay_recv(fd, &type, &p, &len, 5000, &why);
        bool ok = false;
        if (rc == 0 && type == RELAY_HELLO) {
            RelayIn in = {.p = p, .len = len};
            uint32_t version = relay_get_u32(&in);
            const char *t = relay_get_str(&in);
            ok = !in.bad && version == RELAY_VERSION && t && strcmp(t, token) == 0;
        }
        free(p);
        if (ok) {
            *cfd = fd;
            return 0;
        }
        /* not our rank 0: it learns nothing, and the wait goes on */
        fprintf(stderr, "gsimclrd: relay: refused a connection without the run's token\n");
        close(fd);
    }
}

int launch_run(const LaunchConfig *lc, int slot, int processes, const char *config_json,
               const char *data_root, const char *cache_dir, const Sink *sink,
               const void *resume, size_t resume_len,
               void (*hosts)(void *ctx, const char *const *hosts, int n), void *hosts_ctx,
               LaunchResult *out, GsErr *err)
{
    memset(out, 0, sizeof *out);
    int silence_s = lc->silence_s > 0 ? lc->silence_s : 60;
    int connect_s = lc->connect_s > 0 ? lc->connect_s : 120;
    int cancel_wait_s = lc->cancel_wait_s > 0 ? lc->cancel_wait_s : 30;

    /* the command */
    char exe[4096], prog[4096], words_buf[8192], addr[512], np[16], host[256];
    char launcher[1024];
    char *argv[MAX_WORDS + 8];
    if (lc->train_exe)
        snprintf(exe, sizeof exe, "%s", lc->train_exe);
    else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return gs_errf(err, "launch: cannot find this executable: %s", strerror(errno));
        exe[n] = 0;
    }
    if (lc->mpirun)
        snprintf(launcher, sizeof launcher, "%s", lc->mpirun);
    else
        launch_default_mpirun(processes, launcher, sizeof launcher);
    int nw = split_words(launcher, words_buf, sizeof words_buf, argv, MAX_WORDS);
    if (nw < 1)
        return gs_errf(err, "launch: the launcher \"%s\" has no words (or too many)", launcher);
    if (resolve(argv[0], prog, sizeof prog))
        return gs_errf(err, "launch: the launcher %s is not an executable (on PATH)", argv[0]);

    int port = 0;
    int lfd = listen_relay(lc, slot, host, sizeof host, &port, err);
    if (lfd < 0)
        return -1;
    uint8_t raw[RELAY_TOKEN_CHARS / 2];
    char token[RELAY_TOKEN_CHARS + 1];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        close(lfd);
        return gs_errf(err, "launch: no random bytes for the token: %s", strerror(errno));
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    const char *reach = lc->relay_host;
    char name[256];
    if (!reach) {
        if (!*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
            gethostname(name, sizeof name);
            name[sizeof name - 1] = 0;
            reach = name;
        } else {
            reach = host;
        }
    }
    snprintf(addr, sizeof addr, strchr(reach, ':') ? "[%s]:%d/%s" : "%s:%d/%s", reach, port,
             token);
    snprintf(np, sizeof np, "%d", processes);
    argv[nw++] = "-np";
    argv[nw++] = np;
    argv[nw++] = exe;
    argv[nw++] = "--mpi-worker";
    argv[nw++] = addr;
    argv[nw] = NULL;

    pid_t pid = spawn(argv, prog);
    if (pid < 0) {
        close(lfd);
        return gs_errf(err, "launch: fork: %s", strerror(errno));
    }
    fprintf(stderr, "gsimclrd: launched %s -np %d %s --mpi-worker %s:%d/(token), pid %d\n",
            launcher, processes, exe, reach, port, (int)pid);
    bool reaped = false;
    int status = 0, cfd = -1, rc;
    char how[64];
    rc = await_rank0(lfd, token, pid, &reaped, &status, sink->cancel, connect_s, &cfd, err);
    close(lfd); /* one rank 0 per token */
    if (rc) {
        end_group(pid, &reaped, &status);
        return rc;
    }
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    RelayBuf job = {0};
    relay_put_job(&job, &(RelayJob){.config_json = config_json,
                                    .data_root = data_root,
                                    .cache_dir = cache_dir,
                                    .resume = resume,
                                    .resume_len = resume_len,
                                    .has_resume = resume != NULL});
    rc = job.oom ? gs_errf(err, "launch: out of memory for the job")
                 : relay_send(cfd, RELAY_JOB, job.p, job.len, err);
    relay_buf_free(&job);
    if (rc) {
        rc = LAUNCH_LOST;
        goto out;
    }

    RelayDaemon d = {.sink = sink, .hosts = hosts, .hosts_ctx = hosts_ctx};
    double last = mono_s(), cancel_at = 0;
    rc = 1; /* still running */
    while (rc == 1) {
        if (!reaped && waitpid(pid, &status, WNOHANG) == pid)
            reaped = true;
        if (cancel_at == 0 && sink->cancel && atomic_load(sink->cancel)) {
            cancel_at = mono_s();
            GsErr e;
            relay_send(cfd, RELAY_CANCEL, NULL, 0, &e);
        }
        if (cancel_at > 0 && mono_s() - cancel_at > cancel_wait_s) {
            rc = gs_errf(err, "canceled (the processes did not stop within %d s: killed)",
                         cancel_wait_s);
            break;
        }
        struct pollfd pfd = {.fd = cfd, .events = POLLIN};
        int pr = poll(&pfd, 1, POLL_MS);
        if (pr <= 0) {
            if (reaped) {
                /* the launcher is gone and nothing more is in the socket */
                rc = LAUNCH_LOST;
                gs_errf(err, "a process of the run was lost: the launcher %s without a result",
                        exit_text(status, how, sizeof how));
            } else if (mono_s() - last > silence_s) {
                rc = LAUNCH_LOST;
                gs_errf(err, "a process of the run was lost: nothing from rank 0 for %d s",
                        silence_s);
            }
            continue;
        }
        uint32_t type;
        uint8_t *p;
        size_t len;
        int r = relay_recv(cfd, &type, &p, &len, 30000, err);
        if (r == 1 || r == -1) {
            rc = LAUNCH_LOST;
            if (r == 1)
                gs_errf(err, "a process of the run was lost: rank 0's connection closed "
                        "without a result");
            else {
                GsErr why = *err;
                gs_errf(err, "a process of the run was lost: %s", why.msg);
            }
            continue;
        }
        if (r < 0) {
            rc = -1;
            continue;
        }
        last = mono_s();
        r = relay_apply(&d, type, p, len, err);
        free(p);
        if (r) {
            rc = -1;
            continue;
        }
        if (d.have_answer) {
            uint8_t a[4];
            RelayBuf ab = {.p = a, .cap = 4};
            relay_put_u32(&ab, (uint32_t)d.answer);
            GsErr e;
            relay_send(cfd, RELAY_ANSWER, a, 4, &e);
        }
        if (d.done) {
            if (d.ok) {
                out->res = d.res;
                out->owned = d.owned;
                rc = 0;
            } else {
                rc = gs_errf(err, "%s", d.error);
            }
        }
    }
    if (rc == 0 || rc == -1) {
        /* the ranks end by themselves after their last frame: give them a moment */
        for (int i = 0; i < 100 && !reaped; i++) {
            if (waitpid(pid, &status, WNOHANG) == pid)
                reaped = true;
            else
                usleep(100000);
        }
    }
out:
    close(cfd);
    end_group(pid, &reaped, &status);
    return rc;
}
