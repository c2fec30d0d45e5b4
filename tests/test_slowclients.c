/* test_slowclients.c — clients that are slow, many, or send what the parser would cut, over raw
 * sockets (a NUL byte is nothing libcurl would send). The daemon as a separate process
 * (bin/gsimclrd, or $GS_DAEMON) with 2,000 idle and 1,000 slowloris connections open from
 * many addresses of 127.0.0.0/8 (Linux routes all of it to lo) must answer /healthz promptly and
 * shed them all within its header deadline once they stop; the HTTP server in-process must cut
 * requests dribbled slower than their deadlines (headers, body, the next request on a kept-alive
 * connection) but not a stream, keep room for a new client when the connection limit nears,
 * limit connections per address, and answer 400 to a NUL in the Host header, two Host headers
 * and %00 in the URL. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gs/http.h"
#include "harness.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

/* 127.a.b.c for client number i (host byte order): a different address for each of the first
 * 15 million, never 127.0.0.x. */
static uint32_t client_addr(unsigned i)
{
    unsigned a = 1 + (i / 62500) % 250, rest = i % 62500;
    return 0x7f000000u | a << 16 | (rest / 250) << 8 | (1 + rest % 250);
}

/* A TCP connection to 127.0.0.1:port from the address src (host order); -1 on failure. */
static int connect_from(uint32_t src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {3, 0};   /* bounds connect() too */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in me = {.sin_family = AF_INET}, srv = {.sin_family = AF_INET};
    me.sin_addr.s_addr = htonl(src);
    srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0 ||
        connect(fd, (struct sockaddr *)&srv, sizeof srv) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Reads until the server closes or timeout_s passes; returns the bytes read (NUL-terminated in
 * buf), and sets *closed when the server closed. */
static size_t read_until_close(int fd, char *buf, size_t cap, double timeout_s, bool *closed)
{
    size_t len = 0;
    double end = now_s() + timeout_s;
    *closed = false;
    for (;;) {
        double left = end - now_s();
        if (left <= 0)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        char tmp[4096];
        ssize_t k = recv(fd, tmp, sizeof tmp, 0);
        if (k <= 0) {
            *closed = true;
            break;
        }
        size_t take = (size_t)k < cap - 1 - len ? (size_t)k : cap - 1 - len;
        memcpy(buf + len, tmp, take);
        len += take;
    }
    buf[len] = '\0';
    return len;
}

/* Sends one request (len bytes, NULs allowed) from src and reads the answer until the server
 * closes; returns the status, or -1 when nothing came back. */
static int exchange(uint32_t src, int port, const char *req, size_t len, char *resp, size_t cap,
                    double timeout_s)
{
    resp[0] = '\0';
    int fd = connect_from(src, port);
    if (fd < 0)
        return -1;
    bool closed;
    int status = -1;
    if (send_all(fd, req, len) && read_until_close(fd, resp, cap, timeout_s, &closed) > 12 &&
        strncmp(resp, "HTTP/1.", 7) == 0)
        status = atoi(resp + 9);
    close(fd);
    return status;
}

#define LOOPBACK 0x7f000001u
static const char HEALTHZ[] =
    "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/* GET /healthz (or the test server's /fast) on a new connection from 127.0.0.1: its status (-1
 * when not answered within a second), and the seconds from connect to the end of the answer. */
static int probe(int port, const char *path, double *took)
{
    char req[256], resp[4096];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    double t0 = now_s();
    int status = exchange(LOOPBACK, port, req, (size_t)n, resp, sizeof resp, 1.0);
    *took = now_s() - t0;
    return status;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Needs n descriptors beside the ones open; false (with the reason printed) when the hard limit
 * is too low. */
static bool have_fds(unsigned n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n) {
            printf("    skipped: the open-file hard limit %llu is below %u\n",
                   (unsigned long long)rl.rlim_max, n);
            return false;
        }
        rl.rlim_cur = n;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return false;
    }
    return true;
}

/* ---- the attacker ------------------------------------------------------------------------- */

/* Keeps n_idle connections that send nothing and n_slow that send "GET / HTTP/1.1" and then
 * one header line every slow_every seconds, never the end of the headers; a connection the
 * server ends is opened again at once from the next address. The first ones open at ramp_per_s
 * (0: as fast as possible), so that the server's deadlines do not end them all at the same
 * moment. `hold` stops reopening and sending but keeps what is open, to see the server shed
 * it. One thread, one poll over every socket. */
typedef struct {
    int port, n_idle, n_slow;
    double slow_every, ramp_per_s;
    atomic_bool hold, quit;
    atomic_int open;
    atomic_long opened, failed;
    pthread_t th;
} Attack;

static void *attack_main(void *arg)
{
    Attack *a = arg;
    int n = a->n_idle + a->n_slow;
    int *fd = malloc(sizeof *fd * (size_t)n);
    double *next = malloc(sizeof *next * (size_t)n);
    struct pollfd *pf = malloc(sizeof *pf * (size_t)n);
    if (!fd || !next || !pf) {
        free(fd), free(next), free(pf);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        fd[i] = -1;
    unsigned addr = 0;
    int open = 0;
    double t0 = now_s();
    while (!atomic_load(&a->quit)) {
        bool hold = atomic_load(&a->hold);
        double now = now_s();
        for (int i = 0; i < n && !hold; i++) {
            bool slow = i >= a->n_idle;
            if (fd[i] < 0 && addr < (unsigned)n && a->ramp_per_s > 0 &&
                addr >= (now - t0) * a->ramp_per_s)
                continue;   /* still ramping up */
            if (fd[i] < 0) {
                fd[i] = connect_from(client_addr(addr++), a->port);
                if (fd[i] < 0) {
                    atomic_fetch_add(&a->failed, 1);
                    continue;
                }
                open++;
                atomic_fetch_add(&a->opened, 1);
                if (slow)
                    send_all(fd[i], "GET / HTTP/1.1\r\nHost: localhost\r\n", 33);
                next[i] = now + a->slow_every;
            } else if (slow && now >= next[i]) {
                char line[64];
                int k = snprintf(line, sizeof line, "X-Slow-%d: %ld\r\n", i, (long)now);
                send_all(fd[i], line, (size_t)k);
                next[i] += a->slow_every;
            }
        }
        atomic_store(&a->open, open);
        int m = 0;
        for (int i = 0; i < n; i++)
            if (fd[i] >= 0)
                pf[m++] = (struct pollfd){fd[i], POLLIN, 0};
        if (poll(pf, (nfds_t)m, 50) <= 0)
            continue;
        for (int j = 0, i = 0; j < m; j++) {
            if (!pf[j].revents)
                continue;
            while (fd[i] != pf[j].fd)
                i++;
            char buf[512];
            ssize_t k = recv(fd[i], buf, sizeof buf, MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(fd[i]);
                fd[i] = -1;
                open--;
            }
        }
        atomic_store(&a->open, open);
    }
    for (int i = 0; i < n; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    atomic_store(&a->open, 0);
    free(fd), free(next), free(pf);
    return NULL;
}

static void attack_start(Attack *a, int port, int n_idle, int n_slow, double slow_every,
                         double ramp_per_s)
{
    memset(a, 0, sizeof *a);
    a->port = port;
    a->n_idle = n_idle;
    a->n_slow = n_slow;
    a->slow_every = slow_every;
    a->ramp_per_s = ramp_per_s;
    pthread_create(&a->th, NULL, attack_main, a);
}

static void attack_stop(Attack *a)
{
    atomic_store(&a->quit, true);
    pthread_join(a->th, NULL);
}

/* ---- the daemon as a separate process ------------------------------------------------------ */

typedef struct {
    pid_t pid;
    int port;
    char dir[64], log[96];
} Daemon;

static bool daemon_start(Daemon *d, const char *header_timeout)
{
    const char *bin = getenv("GS_DAEMON") ? getenv("GS_DAEMON") : "bin/gsimclrd";
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/gs_slow_XXXXXX");
    if (access(bin, X_OK) != 0 || !mkdtemp(d->dir)) {
        CHECK_MSG(0, "%s is not built (make bin/gsimclrd), or no temporary folder", bin);
        return false;
    }
    char db[96];
    snprintf(db, sizeof db, "%s/db", d->dir);
    snprintf(d->log, sizeof d->log, "%s/daemon.log", d->dir);
    d->pid = fork();
    if (d->pid == 0) {
        if (!freopen(d->log, "w", stderr))
            _exit(127);
        execl(bin, bin, "--listen", "127.0.0.1:0", "--data-dir", db, "--header-timeout",
              header_timeout, (char *)NULL);
        _exit(127);
    }
    for (double t0 = now_s(); d->pid > 0 && now_s() - t0 < 20; sleep_s(0.05)) {
        FILE *f = fopen(d->log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "listening on http://127.0.0.1:");
            if (p)
                d->port = atoi(p + strlen("listening on http://127.0.0.1:"));
        }
        if (f)
            fclose(f);
        if (d->port > 0)
            return true;
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
            d->pid = 0;
    }
    CHECK_MSG(0, "the daemon did not start (see %s)", d->log);
    return false;
}

/* SIGTERM, the exit status (-1: had to be killed), and the folder removed. */
static int daemon_stop(Daemon *d)
{
    int rc = -1, st;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        for (double t0 = now_s(); now_s() - t0 < 20; sleep_s(0.02))
            if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
                rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                break;
            }
        if (rc == -1) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
        }
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "    could not remove %s\n", d->dir);
    return rc;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

#define N_IDLE 2000
#define N_SLOW 1000
#define N_PROBES 50
#define HEADER_TIMEOUT_S 3

/* The target: with 2,000 idle and 1,000 slowloris connections open from many
 * addresses, /healthz answers within 200 ms at p99 over 50 probes; once they stop, the daemon
 * sheds them within its header deadline and serves normally. Also the default per-address
 * limit (64). */
TEST(slow_clients_daemon)
{
    if (!have_fds(N_IDLE + N_SLOW + 512))
        return;
    Daemon d;
    if (!daemon_start(&d, "3"))
        return;
    double took;
    CHECK_INT_EQ(probe(d.port, "/healthz", &took), 200);

    /* 64 connections from one address are let in, the 65th is closed unanswered */
    int held[64], n_held = 0;
    for (int i = 0; i < 64; i++)
        if ((held[n_held] = connect_from(0x7f000002u, d.port)) >= 0)
            n_held++;
    CHECK_INT_EQ(n_held, 64);
    char resp[4096];
    sleep_s(0.2);
    CHECK_INT_EQ(exchange(0x7f000002u, d.port, HEALTHZ, strlen(HEALTHZ), resp, sizeof resp, 2.0),
                 -1);
    CHECK_INT_EQ(exchange(0x7f000003u, d.port, HEALTHZ, strlen(HEALTHZ), resp, sizeof resp, 2.0),
                 200);
    for (int i = 0; i < n_held; i++)
        close(held[i]);

    Attack a;
    attack_start(&a, d.port, N_IDLE, N_SLOW, 1.0, (N_IDLE + N_SLOW) / (HEADER_TIMEOUT_S - 0.5));
    double t0 = now_s();
    while (atomic_load(&a.open) < N_IDLE + N_SLOW && now_s() - t0 < 20)
        sleep_s(0.05);
    double ramp = now_s() - t0;
    CHECK_MSG(atomic_load(&a.open) == N_IDLE + N_SLOW, "only %d of %d attack connections open",
              atomic_load(&a.open), N_IDLE + N_SLOW);
    sleep_s(1.0);

    double lat[N_PROBES], sum_open = 0;
    int ok = 0, probed = 0, min_open = N_IDLE + N_SLOW;
    for (int i = 0; i < N_PROBES; i++) {
        int open = atomic_load(&a.open);
        min_open = open < min_open ? open : min_open;
        sum_open += open;
        probed++;
        if (probe(d.port, "/healthz", &lat[i]) == 200)
            ok++;
        else
            lat[i] = HUGE_VAL;
        if (i + 1 - ok >= 5) {   /* failed already: do not wait for every timeout */
            for (int j = i + 1; j < N_PROBES; j++)
                lat[j] = HUGE_VAL;
            break;
        }
        sleep_s(0.1);
    }
    qsort(lat, N_PROBES, sizeof lat[0], cmp_double);
    double p50 = lat[N_PROBES / 2 - 1], p99 = lat[(99 * N_PROBES + 99) / 100 - 1],
           max = lat[N_PROBES - 1];
    long rss = rss_kib(d.pid);
    printf("    %d idle + %d slowloris (a line every 1 s) from distinct 127/8 addresses, "
           "opened in %.1f s, %ld opened in all; during the probes %.0f open on average, "
           "%d at least\n",
           N_IDLE, N_SLOW, ramp, atomic_load(&a.opened), sum_open / probed, min_open);
    printf("    /healthz x %d: %d ok, p50 %.1f ms, p99 %.1f ms, max %.1f ms; daemon RSS %ld MiB\n",
           N_PROBES, ok, p50 * 1e3, p99 * 1e3, max * 1e3, rss / 1024);
    CHECK_INT_EQ(ok, N_PROBES);
    CHECK_MSG(p99 <= 0.200, "p99 %.1f ms > 200 ms", p99 * 1e3);
    CHECK_MSG(sum_open / probed >= (N_IDLE + N_SLOW) * 0.9,
              "the attack held only %.0f connections on average", sum_open / probed);
    CHECK_MSG(atomic_load(&a.opened) > 2 * (N_IDLE + N_SLOW),
              "the daemon did not end the connections (%ld opened)", atomic_load(&a.opened));

    /* stop: nothing more is sent or opened; every held connection must be shut by the daemon
     * within the header deadline (counted from each connection's start, all before now) */
    atomic_store(&a.hold, true);
    t0 = now_s();
    while (atomic_load(&a.open) > 0 && now_s() - t0 < HEADER_TIMEOUT_S + 5)
        sleep_s(0.02);
    double shed = now_s() - t0;
    int left = atomic_load(&a.open);
    int status = probe(d.port, "/healthz", &took);
    printf("    after they stop: all shed in %.2f s (deadline %d s), then /healthz %d in %.1f ms\n",
           shed, HEADER_TIMEOUT_S, status, took * 1e3);
    CHECK_MSG(left == 0, "%d connections still open %.1f s after the attack stopped", left, shed);
    CHECK_MSG(shed <= HEADER_TIMEOUT_S + 0.3, "shedding took %.2f s", shed);
    CHECK_INT_EQ(status, 200);
    CHECK(took < 0.2);

    /* /metrics tells an operator what happened: connections cut for their deadline */
    static const char METRICS[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
                                  "Connection: close\r\n\r\n";
    static const char CUT[] = "gsimclr_http_connections_cut_total{reason=\"timed_out\"} ";
    char text[16384];
    CHECK_INT_EQ(exchange(LOOPBACK, d.port, METRICS, strlen(METRICS), text, sizeof text, 2.0),
                 200);
    const char *cut = strstr(text, CUT);
    CHECK_MSG(cut && atol(cut + strlen(CUT)) > 0, "/metrics: %s", text);
    CHECK(strstr(text, "\ngsimclr_http_connections ") != NULL);
    attack_stop(&a);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* ---- the HTTP server in-process ----------------------------------------------------------- */

static atomic_int g_streams_freed;

static ssize_t hello_read(void *ctx, char *buf, size_t max)
{
    int *said = ctx;
    if (*said || max < 9)
        return 0;
    *said = 1;
    memcpy(buf, ": hello\n\n", 9);
    return 9;
}

static void hello_free(void *ctx)
{
    free(ctx);
    atomic_fetch_add(&g_streams_freed, 1);
}

/* /fast answers {"ok":true}; /stream says hello and then stays open with nothing to say. */
static void handler(void *ctx, const HttpRequest *rq, HttpResponse *resp)
{
    (void)ctx;
    if (strcmp(rq->path, "/stream") == 0) {
        resp->stream_ctx = calloc(1, sizeof(int));
        if (!resp->stream_ctx) {
            resp->status = 500;
            return;
        }
        resp->stream = hello_read;
        resp->stream_free = hello_free;
        return;
    }
    resp->body = strdup("{\"ok\":true}");
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    resp->status = strcmp(rq->path, "/fast") == 0 ? 200 : 404;
}

static HttpServer *server_start(HttpConfig cfg)
{
    HttpServer *s = NULL;
    GsErr err = {{0}};
    cfg.listen = "127.0.0.1:0";
    cfg.max_body = 4096;
    cfg.threads = 2;
    cfg.handler = handler;
    int rc = http_server_start(&s, &cfg, &err);
    CHECK_MSG(rc == 0, "start: %s", err.msg);
    return rc == 0 ? s : NULL;
}

/* Sends `head` at once, then `drip` one byte every `every` seconds (starting again when it is
 * used up); returns the seconds until the server closed (or -1 after timeout_s). */
static double dribble(int port, const char *head, const char *drip, double every,
                      double timeout_s)
{
    int fd = connect_from(LOOPBACK, port);
    if (fd < 0)
        return -2;
    double t0 = now_s(), closed_at = -1;
    send_all(fd, head, strlen(head));
    for (size_t i = 0; now_s() - t0 < timeout_s; i++) {
        char buf[4096];
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(every * 1000)) > 0) {
            ssize_t k = recv(fd, buf, sizeof buf, 0);
            if (k <= 0) {
                closed_at = now_s() - t0;
                break;
            }
            continue;
        }
        if (!send_all(fd, drip + i % strlen(drip), 1)) {
            closed_at = now_s() - t0;
            break;
        }
    }
    close(fd);
    return closed_at;
}

/* A request dribbled so that every byte comes well within the idle timeout (60 s) is still cut
 * at its deadline: headers counted from the connection's start, the body from the headers, the
 * next request on a kept-alive connection from the previous answer. A stream outlives them. */
TEST(slow_dribbled_requests_cut)
{
    HttpServer *s = server_start((HttpConfig){.header_timeout_s = 1.5, .body_timeout_s = 1.5});
    if (!s)
        return;
    int port = http_server_port(s);

    double t = dribble(port, "GET /fast HTTP/1.1\r\nHost: localhost\r\nX-Dribble: ", "abc", 0.2,
                       6);
    printf("    headers dribbled: cut after %.2f s (deadline 1.5 s)\n", t);
    CHECK_MSG(t >= 1.45 && t <= 1.9, "headers dribbled: closed after %.2f s", t);

    t = dribble(port,
                "POST /fast HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
                "Content-Length: 1000\r\n\r\n",
                "abc", 0.2, 6);
    printf("    body dribbled: cut after %.2f s (deadline 1.5 s)\n", t);
    CHECK_MSG(t >= 1.45 && t <= 1.9, "body dribbled: closed after %.2f s", t);

    /* a first request answered at once, then the next one's headers dribbled */
    t = dribble(port,
                "GET /fast HTTP/1.1\r\nHost: localhost\r\n\r\n"
                "GET /fast HTTP/1.1\r\nHost: localhost\r\nX-Dribble: ",
                "abc", 0.2, 6);
    printf("    next request on a kept-alive connection dribbled: cut after %.2f s\n", t);
    CHECK_MSG(t >= 1.45 && t <= 1.9, "kept-alive dribble: closed after %.2f s", t);

    /* headers in two parts within the deadline are served */
    int fd = connect_from(LOOPBACK, port);
    CHECK(fd >= 0);
    char resp[4096];
    bool closed;
    send_all(fd, "GET /fast HTTP/1.1\r\nHost: local", 31);
    sleep_s(0.8);
    send_all(fd, "host\r\nConnection: close\r\n\r\n", 27);
    read_until_close(fd, resp, sizeof resp, 3, &closed);
    CHECK_MSG(strncmp(resp, "HTTP/1.1 200", 12) == 0, "slow but in time: %.40s", resp);
    close(fd);

    /* a stream has no deadline */
    atomic_store(&g_streams_freed, 0);
    fd = connect_from(LOOPBACK, port);
    send_all(fd, "GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n", 41);
    size_t n = read_until_close(fd, resp, sizeof resp, 2.2, &closed);
    CHECK_MSG(!closed && n > 0 && strstr(resp, ": hello"), "stream: closed %d after %zu bytes",
              closed, n);
    close(fd);

    HttpStats st;
    http_server_stats(s, &st);
    CHECK_INT_EQ(st.timed_out, 3);
    CHECK_INT_EQ(st.evicted, 0);
    http_server_stop(s);
    CHECK_INT_EQ(atomic_load(&g_streams_freed), 1);
}

/* More slow connections than the limit, from as many addresses, and the header deadline far
 * off: the oldest are shut down to make room, and a new client is answered at once. */
TEST(slow_reserve_keeps_room)
{
    if (!have_fds(600))
        return;
    HttpServer *s = server_start((HttpConfig){.max_connections = 64, .header_timeout_s = 60});
    if (!s)
        return;
    int port = http_server_port(s);
    Attack a;
    attack_start(&a, port, 100, 50, 0.5, 0);
    double t0 = now_s();
    while (atomic_load(&a.opened) < 300 && now_s() - t0 < 10)
        sleep_s(0.02);
    double lat[20];
    int ok = 0, retried = 0;
    for (int i = 0; i < 20; i++) {
        /* The attack opens a connection every few microseconds, so a probe can itself be the
         * oldest unfinished request by the time the server polls it, and be shut to make
         * room (seen once in ~10 runs on a loaded machine): a client that retries at once
         * must get in. More than two such retries in 20 probes is a failure. */
        int code = probe(port, "/fast", &lat[i]);
        if (code != 200) {
            retried++;
            code = probe(port, "/fast", &lat[i]);
        }
        if (code == 200)
            ok++;
        else
            lat[i] = HUGE_VAL;
        if (i + 1 - ok >= 3) {   /* failed already: do not wait for every timeout */
            for (int j = i + 1; j < 20; j++)
                lat[j] = HUGE_VAL;
            break;
        }
        sleep_s(0.05);
    }
    attack_stop(&a);
    qsort(lat, 20, sizeof lat[0], cmp_double);
    HttpStats st;
    http_server_stats(s, &st);
    printf("    limit 64, attack of 150 (%ld opened): %d/20 probes ok (%d retried), max %.1f ms; "
           "%lu evicted\n", atomic_load(&a.opened), ok, retried, lat[19] * 1e3, st.evicted);
    CHECK_INT_EQ(ok, 20);
    CHECK_MSG(retried <= 2, "%d probes of 20 needed a second try", retried);
    CHECK_MSG(lat[19] < 1.0, "a probe took %.1f ms", lat[19] * 1e3);
    CHECK(st.evicted > 0);
    CHECK(st.open <= 64);
    http_server_stop(s);
}

/* max_per_ip connections from one address are let in; the next from that address is closed
 * unanswered while another address is served; a slot freed is usable again. */
TEST(slow_per_ip_limit)
{
    HttpServer *s = server_start((HttpConfig){.max_per_ip = 8});
    if (!s)
        return;
    int port = http_server_port(s);
    const uint32_t one = 0x7f000007u, other = 0x7f000008u;
    const char req[] = "GET /fast HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    char resp[4096];
    int held[8];
    for (int i = 0; i < 8; i++) {
        held[i] = connect_from(one, port);
        CHECK(held[i] >= 0);
    }
    sleep_s(0.2);
    CHECK_INT_EQ(exchange(one, port, req, strlen(req), resp, sizeof resp, 2.0), -1);
    CHECK_INT_EQ(exchange(other, port, req, strlen(req), resp, sizeof resp, 2.0), 200);
    close(held[0]);
    int status = -1;
    for (int i = 0; i < 50 && status != 200; i++) {
        sleep_s(0.02);
        status = exchange(one, port, req, strlen(req), resp, sizeof resp, 2.0);
    }
    CHECK_INT_EQ(status, 200);
    for (int i = 1; i < 8; i++)
        close(held[i]);
    http_server_stop(s);
}

/* What libmicrohttpd would cut without a word (a NUL in a header or the URL) or leave to the
 * first of two Host headers is refused with 400 and the JSON error body, before any handler;
 * the same requests without the fault are served. */
TEST(http_refuses_nul_and_two_hosts)
{
    HttpServer *s = server_start((HttpConfig){0});
    if (!s)
        return;
    int port = http_server_port(s);
#define REQ(text) text, sizeof text - 1
    static const struct {
        const char *text;
        size_t len;
        int status;
    } cases[] = {
        {REQ("GET /fast HTTP/1.1\r\nHost: localhost\0.evil\r\nConnection: close\r\n\r\n"), 400},
        {REQ("GET /fast HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\nConnection: close\r\n\r\n"),
         400},
        {REQ("GET /fast HTTP/1.1\r\nhost: localhost\r\nHOST: localhost\r\n"
             "Connection: close\r\n\r\n"), 400},
        {REQ("GET /index.html%00.png HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
         400},
        {REQ("GET /fast?a=%00 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"), 400},
        {REQ("GET /fast\0/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"), 400},
        {REQ("GET /fast HTTP/1.1\r\nHost: localhost\r\nX-A: b\0c\r\nConnection: close\r\n\r\n"),
         400},
        {REQ("GET /fast HTTP/1.1\r\nHost: localhost\r\nX-A: b\r\n c\r\nConnection: close\r\n\r\n"),
         400},
        /* the same without the fault */
        {REQ("GET /fast HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"), 200},
        {REQ("GET /fa%73t?a=%2500 HTTP/1.1\r\nHost:localhost  \r\nX-Empty:\r\n"
             "Connection: close\r\n\r\n"), 200},
        {REQ("GET /fast HTTP/1.1\nHost: localhost\nConnection: close\n\n"), 200},
        {REQ("\r\nGET /fast HTTP/1.0\r\n\r\n"), 200},
    };
#undef REQ
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char resp[4096];
        int status =
            exchange(LOOPBACK, port, cases[i].text, cases[i].len, resp, sizeof resp, 3.0);
        CHECK_MSG(status == cases[i].status, "case %zu (%.*s): status %d, expected %d", i,
                  (int)strcspn(cases[i].text, "\r\n"), cases[i].text, status, cases[i].status);
        if (cases[i].status == 400) {
            const char *body = strstr(resp, "\r\n\r\n");
            CHECK_MSG(body && strstr(body, "{\"error\":{\"code\":\"bad_request\",\"message\":"),
                      "case %zu: not the JSON error: %.300s", i, resp);
            CHECK_MSG(strstr(resp, "Content-Type: application/json"), "case %zu: %.200s", i,
                      resp);
        }
    }
    /* keep-alive: a refused request does not spoil the ones before it */
    static const char two[] = "GET /fast HTTP/1.1\r\nHost: localhost\r\n\r\n"
                              "GET /fast HTTP/1.1\r\nHost: localhost\r\nHost: x\r\n"
                              "Connection: close\r\n\r\n";
    char resp[8192];
    exchange(LOOPBACK, port, two, sizeof two - 1, resp, sizeof resp, 3.0);
    const char *second = strstr(resp + 12, "HTTP/1.1 ");
    CHECK_MSG(strncmp(resp, "HTTP/1.1 200", 12) == 0 && second &&
                  strncmp(second, "HTTP/1.1 400", 12) == 0,
              "pipelined: %.300s", resp);
    http_server_stop(s);
}
