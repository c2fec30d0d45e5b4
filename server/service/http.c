/* http.c — the HTTP server under gsimclrd, on libmicrohttpd (the only file that includes
 * microhttpd.h). It collects each request's body, hands the whole request to one handler and
 * sends back a finished body or a Server-Sent Events stream. It must not learn about routes,
 * JSON, auth or SQLite: those belong to the handler.
 *
 * Threads. libmicrohttpd runs `threads` internal polling threads (epoll); every access
 * handler, content reader and completion callback of one connection runs on the thread that
 * owns that connection. The server's own lock (HttpServer.mu) guards only the list of live
 * streams, their `sleeping` flags, the wake generation and the stopping flag. It is taken in
 * the content reader (inside libmicrohttpd's response lock), in the reader's free callback,
 * in http_server_wake/stop and in the ticker thread; MHD_suspend_connection and
 * MHD_resume_connection are called under it, so a connection is suspended and resumed
 * exactly in step with its `sleeping` flag and is never resumed twice or after it was freed.
 *
 * Slow clients. libmicrohttpd's idle timeout restarts with every byte, so a client sending one
 * header line every few seconds would hold its connection for ever, and enough of them fill
 * the connection limit. Every connection is therefore tracked (an HttpConn, from the connection
 * notifications) with the phase of its current request: its headers must be in within
 * header_timeout of the connection opening or of the previous answer, its body within
 * body_timeout of the headers; a request being answered (a stream too) has no deadline. The
 * ticker thread shuts down the socket of an overdue connection (shutdown(), never close():
 * libmicrohttpd owns the descriptor; it sees the end of the socket and closes and frees the
 * connection itself), and when a new connection comes near the limit, the oldest unfinished
 * requests are shut down the same way, so that a new client (a /healthz probe) still gets in.
 * HttpServer.conns_mu guards the list of tracked connections, their phases and the counts; it
 * is never held together with mu. A connection is unlinked under conns_mu in the "closed"
 * notification, which libmicrohttpd sends before it closes the descriptor, so a shutdown()
 * under conns_mu never reaches a descriptor that was closed and reused. */
#include "gs/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_DEFAULT_CONNECTIONS 8192u
#define HTTP_DEFAULT_HEADER_TIMEOUT_S 10.0
/* The default body deadline: this much, plus a second for every HTTP_BODY_MIN_RATE bytes of
 * max_body (a client slower than that cannot send the largest body allowed). */
#define HTTP_DEFAULT_BODY_TIMEOUT_S 30.0
#define HTTP_BODY_MIN_RATE 65536.0
/* Idle time (no byte either way) after which libmicrohttpd closes a connection: a stalled
 * body, an answer the client does not read. */
#define HTTP_CONNECTION_TIMEOUT_S 60u
/* Each connection's memory pool (request line, headers, buffers): libmicrohttpd's default,
 * set here because the connection limit is sized with it in mind. */
#define HTTP_CONNECTION_MEMORY (32u * 1024u)
/* File descriptors left for everything else (the database, datasets, pipes, epoll). */
#define HTTP_FD_MARGIN 256u
/* Block size hint for stream responses (a reader may be offered less or more). */
#define HTTP_STREAM_BLOCK 8192
/* The ticker looks for overdue requests at least this often, and asks sleeping streams again
 * every HTTP_TICK_MS even without a wake. */
#define HTTP_REAP_MS 250
#define HTTP_TICK_MS 1000
#define HTTP_LOG_LINES_PER_MINUTE 5

/* The phase of a connection's current request. */
enum {
    CONN_HEADERS,       /* waiting for the request line and headers (also between requests) */
    CONN_BODY,          /* headers in, the body arriving */
    CONN_ANSWERING,     /* handled: answer queued or streaming; no deadline */
};

/* One connection libmicrohttpd accepted: created by the "started" notification, freed by the
 * "closed" one. */
typedef struct HttpConn {
    int fd;
    /* under HttpServer.conns_mu: */
    int phase;
    double since;               /* when the phase began (monotonic seconds) */
    bool cut;                   /* shut down, and out of the list */
    struct HttpConn *prev, *next;
    /* the current request's URL as it arrived; only the connection's thread uses these */
    size_t raw_url_len;
    bool raw_url_seen, raw_url_nul;
} HttpConn;

/* One live stream: created with its response, freed by libmicrohttpd's free callback. */
typedef struct HttpStream {
    HttpServer *server;
    struct MHD_Connection *conn;
    HttpStreamFn fn;
    void *ctx;
    void (*ctx_free)(void *ctx);
    bool sleeping;              /* suspended by the reader, not yet resumed (under server->mu) */
    struct HttpStream *prev, *next;
} HttpStream;

struct HttpServer {
    struct MHD_Daemon *daemon;
    HttpHandler handler;
    void *ctx;
    size_t max_body;
    int port;
    bool loopback;

    pthread_mutex_t mu;
    pthread_cond_t tick_cond;   /* the ticker waits on it; stop signals it */
    HttpStream *streams;        /* every live stream (under mu) */
    unsigned long wake_gen;     /* bumped by every wake (under mu) */
    bool stopping;              /* under mu */
    bool ticker_started;
    pthread_t ticker;

    /* Messages libmicrohttpd logs from the starting thread, for start-up errors. */
    pthread_t start_thread;
    atomic_bool starting;
    char start_log[256];
    atomic_long log_minute;     /* rate limit of libmicrohttpd's messages after start-up */
    atomic_int log_lines;

    atomic_ulong total, by_class[6];

    /* Slow clients (see the top of the file). */
    pthread_mutex_t conns_mu;
    HttpConn *conns_head, *conns_tail;  /* live, not cut; by the start of their phase, oldest
                                         * first (under conns_mu) */
    unsigned long n_conns;              /* in the list (under conns_mu) */
    unsigned max_connections, reserve;
    double header_timeout, body_timeout;
    atomic_ulong timed_out, evicted;
    unsigned long cuts_logged;          /* the ticker's: cuts reported so far */
    double cuts_logged_at;
};

/* ---- per-request state ------------------------------------------------------------------ */

/* A request's body as it arrives. Requests without a body never allocate one: *req_cls then
 * holds one of the two markers below. */
typedef struct {
    char *data;                 /* (cap) bytes, data[len] is kept NUL */
    size_t len, cap;
} Body;

static char g_no_body;          /* marker: nothing uploaded (yet) */
static char g_too_large;        /* marker: over max_body, the rest is drained */
static char g_no_memory;        /* marker: no memory for the body, the rest is drained */

static bool is_marker(const void *p)
{
    return p == &g_no_body || p == &g_too_large || p == &g_no_memory;
}

/* Appends a chunk; returns -1 when the body would pass max_body, -2 when memory runs out
 * (the caller then drains the rest and answers 413 or 500). */
static int body_append(Body *b, const char *data, size_t n, size_t max_body)
{
    if (n > max_body || b->len > max_body - n || b->len + n == SIZE_MAX)
        return -1;
    size_t need = b->len + n + 1, limit = max_body < SIZE_MAX ? max_body + 1 : SIZE_MAX;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need && cap <= SIZE_MAX / 2)
            cap *= 2;
        if (cap < need || cap > limit)
            cap = need > limit ? need : limit;
        char *p = realloc(b->data, cap);
        if (!p)
            return -2;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* ---- responses -------------------------------------------------------------------------- */

static void count_status(HttpServer *s, int status)
{
    int cls = status / 100;
    atomic_fetch_add_explicit(&s->total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->by_class[cls >= 1 && cls <= 5 ? cls : 0], 1,
                              memory_order_relaxed);
}

static enum MHD_Result queue(HttpServer *s, struct MHD_Connection *conn, int status,
                             struct MHD_Response *r)
{
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);   /* the connection holds the only reference now */
    if (ok == MHD_YES)
        count_status(s, status);
    return ok;
}

static enum MHD_Result queue_error(HttpServer *s, struct MHD_Connection *conn, int status,
                                   const char *code, const char *message)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                     message);
    if (n < 0 || (size_t)n >= sizeof buf)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, buf, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return queue(s, conn, status, r);
}

static enum MHD_Result queue_too_large(HttpServer *s, struct MHD_Connection *conn)
{
    char msg[64];
    snprintf(msg, sizeof msg, "the body is over %zu bytes", s->max_body);
    return queue_error(s, conn, 413, "payload_too_large", msg);
}

int http_response_header(HttpResponse *resp, const char *name, const char *value)
{
    size_t n = strlen(value);
    if (resp->n_headers >= 4 || n >= sizeof resp->header_value[0] || strpbrk(value, "\r\n"))
        return -1;
    resp->header_name[resp->n_headers] = name;
    memcpy(resp->header_value[resp->n_headers], value, n + 1);
    resp->n_headers++;
    return 0;
}

static bool has_header(const HttpResponse *resp, const char *name)
{
    for (int i = 0; i < resp->n_headers && i < 4; i++)
        if (resp->header_name[i] && strcasecmp(resp->header_name[i], name) == 0)
            return true;
    return false;
}

static void add_headers(struct MHD_Response *r, const HttpResponse *resp, const char *ctype)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    for (int i = 0; i < resp->n_headers && i < 4; i++)
        if (resp->header_name[i])
            MHD_add_response_header(r, resp->header_name[i], resp->header_value[i]);
}

/* ---- streams ---------------------------------------------------------------------------- */

/* The content reader of a stream. Runs on the connection's thread, one call at a time. When
 * the stream has nothing, the connection is suspended (under mu, so a wake either happened
 * before — then the stream is asked again at once — or finds it sleeping and resumes it). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    HttpStream *st = cls;
    HttpServer *s = st->server;
    (void)pos;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stopping = s->stopping;
        unsigned long gen = s->wake_gen;
        pthread_mutex_unlock(&s->mu);
        if (stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;

        ssize_t n = st->fn(st->ctx, buf, max);
        if (n > 0)
            return (size_t)n <= max ? n : MHD_CONTENT_READER_END_WITH_ERROR;
        if (n < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;

        pthread_mutex_lock(&s->mu);
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (gen != s->wake_gen) {   /* woken while the stream fn ran: ask again */
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        st->sleeping = true;
        MHD_suspend_connection(st->conn);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
}

/* libmicrohttpd is done with the stream's response: the client went, the stream ended or the
 * daemon stops. Runs exactly once per stream. */
static void stream_release(void *cls)
{
    HttpStream *st = cls;
    HttpServer *s = st->server;
    pthread_mutex_lock(&s->mu);
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&s->mu);
    if (st->ctx_free)
        st->ctx_free(st->ctx);
    free(st);
}

static enum MHD_Result queue_stream(HttpServer *s, struct MHD_Connection *conn,
                                    HttpResponse *resp, int status)
{
    HttpStream *st = calloc(1, sizeof *st);
    if (!st) {
        if (resp->stream_free)
            resp->stream_free(resp->stream_ctx);
        return queue_error(s, conn, 500, "internal", "out of memory for a stream");
    }
    st->server = s;
    st->conn = conn;
    st->fn = resp->stream;
    st->ctx = resp->stream_ctx;
    st->ctx_free = resp->stream_free;
    pthread_mutex_lock(&s->mu);
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    pthread_mutex_unlock(&s->mu);

    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, stream_read, st, stream_release);
    if (!r) {
        stream_release(st);
        return MHD_NO;
    }
    add_headers(r, resp, resp->content_type ? resp->content_type : "text/event-stream");
    if (!has_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (!has_header(resp, "X-Accel-Buffering"))
        MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return queue(s, conn, status, r);   /* on failure the free callback runs stream_release */
}

/* Resumes every sleeping stream; the caller holds mu. */
static void wake_locked(HttpServer *s)
{
    s->wake_gen++;
    for (HttpStream *st = s->streams; st; st = st->next)
        if (st->sleeping) {
            st->sleeping = false;
            MHD_resume_connection(st->conn);
        }
}

void http_server_wake(HttpServer *s)
{
    pthread_mutex_lock(&s->mu);
    wake_locked(s);
    pthread_mutex_unlock(&s->mu);
}

/* ---- connections and their deadlines ----------------------------------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void conn_unlink_locked(HttpServer *s, HttpConn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->conns_tail = c->prev;
    c->prev = c->next = NULL;
    s->n_conns--;
}

static void conn_append_locked(HttpServer *s, HttpConn *c)
{
    c->prev = s->conns_tail;
    c->next = NULL;
    if (s->conns_tail)
        s->conns_tail->next = c;
    else
        s->conns_head = c;
    s->conns_tail = c;
    s->n_conns++;
}

/* Ends a connection: its socket is shut down both ways, libmicrohttpd sees the end and closes
 * it. Under conns_mu, so the descriptor is still the connection's own (see the top). */
static void conn_cut_locked(HttpServer *s, HttpConn *c)
{
    shutdown(c->fd, SHUT_RDWR);
    conn_unlink_locked(s, c);
    c->cut = true;
}

/* The connection's current request enters a phase: its clock restarts and it moves to the
 * young end of the list. */
static void conn_enter(HttpServer *s, HttpConn *c, int phase)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->conns_mu);
    if (!c->cut) {
        conn_unlink_locked(s, c);
        c->phase = phase;
        c->since = now_s();
        conn_append_locked(s, c);
    }
    pthread_mutex_unlock(&s->conns_mu);
}

static HttpConn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* libmicrohttpd accepted a connection, or is about to close one. A new connection that brings
 * the count within the reserve of the limit shuts down the oldest unfinished requests (never
 * one being answered), so the limit is never reached and whoever connects next gets in. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    HttpServer *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        HttpConn *c = info ? calloc(1, sizeof *c) : NULL;
        *socket_ctx = c;
        if (!c)
            return;   /* untracked: only libmicrohttpd's own limits apply to it */
        c->fd = info->connect_fd;
        c->phase = CONN_HEADERS;
        c->since = now_s();
        unsigned long evicted = 0;
        pthread_mutex_lock(&s->conns_mu);
        conn_append_locked(s, c);
        for (HttpConn *v = s->conns_head, *next;
             v && s->n_conns > s->max_connections - s->reserve; v = next) {
            next = v->next;
            if (v != c && v->phase != CONN_ANSWERING) {
                conn_cut_locked(s, v);
                evicted++;
            }
        }
        pthread_mutex_unlock(&s->conns_mu);
        if (evicted)
            atomic_fetch_add(&s->evicted, evicted);
        return;
    }
    HttpConn *c = *socket_ctx;
    if (!c)
        return;
    pthread_mutex_lock(&s->conns_mu);
    if (!c->cut)
        conn_unlink_locked(s, c);
    pthread_mutex_unlock(&s->conns_mu);
    free(c);
    *socket_ctx = NULL;
}

/* Shuts down the connections whose headers or body are overdue; returns when the next of the
 * others falls due (monotonic seconds; HUGE_VAL for none). */
static double reap(HttpServer *s)
{
    double now = now_s(), next_due = HUGE_VAL;
    unsigned long cut = 0;
    pthread_mutex_lock(&s->conns_mu);
    for (HttpConn *c = s->conns_head, *next; c; c = next) {
        next = c->next;
        if (c->phase == CONN_ANSWERING)
            continue;
        double due = c->since + (c->phase == CONN_HEADERS ? s->header_timeout : s->body_timeout);
        if (due <= now) {
            conn_cut_locked(s, c);
            cut++;
        } else if (due < next_due) {
            next_due = due;
        }
    }
    pthread_mutex_unlock(&s->conns_mu);
    if (cut)
        atomic_fetch_add(&s->timed_out, cut);

    /* One line when it starts, then at most one a minute while it goes on. */
    unsigned long total = atomic_load(&s->timed_out) + atomic_load(&s->evicted);
    if (total != s->cuts_logged && (s->cuts_logged == 0 || now - s->cuts_logged_at >= 60)) {
        fprintf(stderr,
                "gsimclrd: http: %lu connection(s) cut so far: %lu for a request not in by "
                "its deadline (headers %g s, body %g s), %lu to make room near the limit "
                "of %u\n",
                total, atomic_load(&s->timed_out), s->header_timeout, s->body_timeout,
                atomic_load(&s->evicted), s->max_connections);
        s->cuts_logged = total;
        s->cuts_logged_at = now;
    }
    return next_due;
}

/* Cuts overdue requests when they fall due (looking at least every HTTP_REAP_MS, so a
 * connection that starts meanwhile is seen before its deadline), and asks sleeping streams
 * again every HTTP_TICK_MS, so they can send keep-alives and notice ended runs without anyone
 * calling http_server_wake. */
static void *ticker_main(void *arg)
{
    HttpServer *s = arg;
    double next_tick = now_s() + HTTP_TICK_MS / 1000.0;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        double now = now_s();
        if (now >= next_tick) {
            wake_locked(s);
            next_tick = now + HTTP_TICK_MS / 1000.0;
        }
        pthread_mutex_unlock(&s->mu);
        double until = reap(s);
        pthread_mutex_lock(&s->mu);
        now = now_s();
        if (until > now + HTTP_REAP_MS / 1000.0)
            until = now + HTTP_REAP_MS / 1000.0;
        if (until > next_tick)
            until = next_tick;
        struct timespec at = {(time_t)until, (long)((until - (double)(time_t)until) * 1e9)};
        int rc = 0;
        while (!s->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&s->tick_cond, &s->mu, &at);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the access handler ----------------------------------------------------------------- */

/* The request is over (answered, or the client went): the connection waits for the next
 * request's headers, on the header deadline again. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    conn_enter(cls, conn_of(conn), CONN_HEADERS);
    Body *b = *req_cls;
    if (b && !is_marker(b)) {
        free(b->data);
        free(b);
    }
    *req_cls = NULL;
}

/* The request line is in: note the URL as it arrived, before libmicrohttpd splits off the query
 * and decodes it in place (a %00 would end the decoded path early without a word). */
static void *on_url(void *cls, const char *url, struct MHD_Connection *conn)
{
    (void)cls;
    HttpConn *c = conn_of(conn);
    if (c) {
        c->raw_url_seen = url != NULL;
        c->raw_url_len = url ? strlen(url) : 0;
        c->raw_url_nul = url && strstr(url, "%00");
    }
    return NULL;   /* the access handler's first call still sees *req_cls == NULL */
}

/* The header section as libmicrohttpd 0.9.75 parsed it, in place, in its read buffer: the
 * request line (method, URL, version) and one line per header, each key and value a string
 * pointing into [lo, hi). A NUL byte ends such a string early without an error, so a value can
 * hide bytes from everyone ("Host: localhost\0.evil" reads "localhost"). Walking the strings
 * in order, only line ends may lie between one line's last string and the next line's first;
 * anything more was cut off. A header the parser did not keep in place is a folded line
 * (obs-fold, which RFC 9112 lets a server refuse), refused the same way. */
typedef struct {
    uintptr_t lo, hi, end;      /* end: where the previous line's last string ended, 0: unknown */
    int hosts;
    bool hidden;
} HeaderWalk;

static enum MHD_Result header_walk(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_len, const char *value, size_t value_len)
{
    HeaderWalk *w = cls;
    (void)kind;
    if (key_len == strlen(MHD_HTTP_HEADER_HOST) &&
        strncasecmp(key, MHD_HTTP_HEADER_HOST, key_len) == 0)
        w->hosts++;
    /* a library that keeps the NUL in the value shows it through the length */
    if (value && strlen(value) != value_len)
        w->hidden = true;
    uintptr_t k = (uintptr_t)key, v = (uintptr_t)value;
    if (!value || k < w->lo || v < k + key_len || v + value_len > w->hi) {
        w->hidden = true;
        w->end = 0;
    } else {
        if (w->end && (k < w->end || k - w->end > 2))   /* CR LF at most */
            w->hidden = true;
        w->end = v + value_len;
    }
    return MHD_YES;
}

/* Why the request must be refused with 400 before the handler sees it, or NULL. */
static const char *request_refusal(struct MHD_Connection *conn, const HttpConn *c,
                                   const char *url, const char *method, const char *version)
{
    if (c && c->raw_url_nul)
        return "the URL holds %00 (a NUL byte)";
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    HeaderWalk w = {.lo = (uintptr_t)method};
    w.hi = info ? w.lo + info->header_size : w.lo;
    uintptr_t u = (uintptr_t)url, ver = (uintptr_t)version;
    size_t ver_len = strlen(version);
    if (info && ver >= w.lo && ver + ver_len <= w.hi) {
        /* the version follows the URL after exactly one space (libmicrohttpd takes the last
         * space of the line as the separator) */
        if (c && c->raw_url_seen && u >= w.lo && u + c->raw_url_len + 1 != ver)
            return "the URL holds a NUL byte";
        w.end = ver + ver_len;
    }
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, header_walk, &w);
    if (w.hosts > 1)
        return "the request has more than one Host header";
    if (info && (w.hidden || (w.end && (w.hi < w.end || w.hi - w.end > 4))))
        return "a header holds a NUL byte, or is folded over two lines";
    return NULL;
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

const char *http_query(const HttpRequest *rq, const char *key)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)rq->conn_,
                                       MHD_GET_ARGUMENT_KIND, key);
}

/* Calls the handler with the complete request and queues what it answered. */
static enum MHD_Result dispatch(HttpServer *s, struct MHD_Connection *conn, const char *url,
                                const char *method, const Body *b)
{
    HttpRequest rq = {
        .method = method,
        .path = url,
        .body = b && b->data ? b->data : "",
        .body_len = b ? b->len : 0,
        .content_type = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE),
        .host = header(conn, MHD_HTTP_HEADER_HOST),
        .authorization = header(conn, MHD_HTTP_HEADER_AUTHORIZATION),
        .last_event_id = header(conn, "Last-Event-ID"),
        .accept = header(conn, MHD_HTTP_HEADER_ACCEPT),
        .conn_ = conn,
    };
    HttpResponse resp;
    memset(&resp, 0, sizeof resp);
    s->handler(s->ctx, &rq, &resp);

    int status = resp.status ? resp.status : 200;
    if (status < 100 || status > 599) {
        fprintf(stderr, "gsimclrd: http: the handler answered %s %s with status %d\n", method,
                url, status);
        free(resp.body);
        if (resp.stream && resp.stream_free)
            resp.stream_free(resp.stream_ctx);
        return queue_error(s, conn, 500, "internal", "the handler gave an invalid status");
    }
    if (resp.stream) {
        free(resp.body);
        return queue_stream(s, conn, &resp, status);
    }

    struct MHD_Response *r;
    if (resp.body)
        r = MHD_create_response_from_buffer_with_free_callback(resp.body_len, resp.body, free);
    else
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(resp.body);
        return MHD_NO;
    }
    add_headers(r, &resp, resp.content_type ? resp.content_type : "application/json");
    return queue(s, conn, status, r);
}

/* Called by libmicrohttpd once when the headers are in, once per chunk of body, and once when
 * the body is complete; the answer is queued only on that last call. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **req_cls)
{
    HttpServer *s = cls;

    if (!*req_cls) {
        HttpConn *c = conn_of(conn);
        conn_enter(s, c, CONN_BODY);
        *req_cls = &g_no_body;
        const char *refusal = request_refusal(conn, c, url, method, version);
        if (refusal) {
            conn_enter(s, c, CONN_ANSWERING);
            return queue_error(s, conn, 400, "bad_request", refusal);
        }
        const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == ERANGE || (end != cl && n > s->max_body)) {
                *req_cls = &g_too_large;
                /* A client waiting for "100 Continue" has sent nothing yet: answer now
                 * instead of asking for a body that would only be thrown away. */
                const char *expect = header(conn, MHD_HTTP_HEADER_EXPECT);
                if (expect && strcasecmp(expect, "100-continue") == 0) {
                    conn_enter(s, c, CONN_ANSWERING);
                    return queue_too_large(s, conn);
                }
            }
        }
        return MHD_YES;
    }

    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (*req_cls == &g_too_large || *req_cls == &g_no_memory)
            return MHD_YES;   /* drain */
        Body *b = *req_cls;
        if (*req_cls == &g_no_body) {
            b = calloc(1, sizeof *b);
            if (!b) {
                *req_cls = &g_no_memory;
                return MHD_YES;
            }
            *req_cls = b;
        }
        int rc = body_append(b, upload_data, n, s->max_body);
        if (rc != 0) {
            free(b->data);
            free(b);
            *req_cls = rc == -2 ? &g_no_memory : &g_too_large;
        }
        return MHD_YES;
    }

    conn_enter(s, conn_of(conn), CONN_ANSWERING);
    if (*req_cls == &g_too_large)
        return queue_too_large(s, conn);
    if (*req_cls == &g_no_memory)
        return queue_error(s, conn, 500, "internal", "out of memory for the request body");
    return dispatch(s, conn, url, method, *req_cls == &g_no_body ? NULL : *req_cls);
}

/* ---- start and stop --------------------------------------------------------------------- */

/* libmicrohttpd's messages about a client that went away: it closed or reset the connection
 * while its request was coming in, or while its answer (an event stream a browser tab left,
 * a download stopped) was going out. They happen all day and tell an operator nothing the
 * daemon can act on, so they are dropped; matched by the start of the format string
 * (libmicrohttpd 0.9.75's wording). Every other message is kept, at most
 * HTTP_LOG_LINES_PER_MINUTE a minute: malformed requests, resource limits (connections,
 * threads, accept errors), internal errors. */
static const char *const MHD_CLIENT_GONE[] = {
    "Failed to send ",  /* data, the response headers, body, chunked body or footers */
    "Connection was closed by remote side",
    "Connection socket is closed when reading request",
    "Socket has been disconnected when reading request",
};

static bool mhd_client_gone(const char *fmt)
{
    for (size_t i = 0; i < sizeof MHD_CLIENT_GONE / sizeof MHD_CLIENT_GONE[0]; i++)
        if (strncmp(fmt, MHD_CLIENT_GONE[i], strlen(MHD_CLIENT_GONE[i])) == 0)
            return true;
    return false;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    HttpServer *s = cls;
    if (atomic_load(&s->starting) && pthread_equal(pthread_self(), s->start_thread)) {
        vsnprintf(s->start_log, sizeof s->start_log, fmt, ap);
        size_t n = strlen(s->start_log);
        while (n > 0 && (s->start_log[n - 1] == '\n' || s->start_log[n - 1] == '.'))
            s->start_log[--n] = '\0';
        return;
    }
    if (mhd_client_gone(fmt))
        return;
    /* the rest after start-up are mostly malformed requests: a few lines a minute keep the
     * log readable under abuse */
    long minute = (long)(time(NULL) / 60);
    if (atomic_exchange(&s->log_minute, minute) != minute)
        atomic_store(&s->log_lines, 0);
    int k = atomic_fetch_add(&s->log_lines, 1);
    if (k >= HTTP_LOG_LINES_PER_MINUTE) {
        if (k == HTTP_LOG_LINES_PER_MINUTE)
            fprintf(stderr, "gsimclrd: http: (more libmicrohttpd messages this minute "
                            "dropped)\n");
        return;
    }
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "gsimclrd: http: %s%s", line,
            line[0] && line[strlen(line) - 1] == '\n' ? "" : "\n");
}

typedef struct {
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } u;
    socklen_t len;
} ListenAddr;

/* "127.0.0.1:8470", "[::1]:0", "0.0.0.0:8470", "localhost:8470" (= 127.0.0.1). Numeric
 * addresses only (no name lookup at start-up). */
static int parse_listen(const char *listen, ListenAddr *a, GsErr *err)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *port_s;
    memset(a, 0, sizeof *a);
    if (!listen || !*listen)
        return gs_errf(err, "http: empty listen address");
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof host)
            return gs_errf(err, "http: bad listen address \"%s\" (want [IPv6]:port)", listen);
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        port_s = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || colon == listen || strchr(listen, ':') != colon ||
            (size_t)(colon - listen) >= sizeof host)
            return gs_errf(err, "http: bad listen address \"%s\" (want host:port)", listen);
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port_s = colon + 1;
    }
    char *end;
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || errno || port < 0 || port > 65535 || port_s[0] == '-' ||
        port_s[0] == '+')
        return gs_errf(err, "http: bad port in listen address \"%s\"", listen);

    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (listen[0] != '[' && inet_pton(AF_INET, host, &a->u.v4.sin_addr) == 1) {
        a->u.v4.sin_family = AF_INET;
        a->u.v4.sin_port = htons((uint16_t)port);
        a->len = sizeof a->u.v4;
    } else if (listen[0] == '[' && inet_pton(AF_INET6, host, &a->u.v6.sin6_addr) == 1) {
        a->u.v6.sin6_family = AF_INET6;
        a->u.v6.sin6_port = htons((uint16_t)port);
        a->len = sizeof a->u.v6;
    } else {
        return gs_errf(err, "http: bad host \"%s\" in listen address \"%s\" (want an IPv4 "
                       "address, [IPv6] or localhost)", host, listen);
    }
    return 0;
}

static bool addr_is_loopback(const ListenAddr *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return (ntohl(a->u.v4.sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *v6 = &a->u.v6.sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(v6))
        return true;
    return IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127;
}

/* Why binding failed, found by trying it ourselves (libmicrohttpd keeps no errno). */
static const char *probe_bind(const ListenAddr *a)
{
    int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return strerror(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->u.sa.sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    const char *why = NULL;
    if (bind(fd, &a->u.sa, a->len) != 0 || listen(fd, 1) != 0)
        why = strerror(errno);
    close(fd);
    return why;
}

/* Every connection holds a descriptor: raises the soft open-file limit as far as `want`
 * connections need (the hard limit permitting) and returns how many connections fit. */
static unsigned fit_connections(unsigned want)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)want + HTTP_FD_MARGIN;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur >= need)
        return want;
    struct rlimit raised = {need, rl.rlim_max};
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
        rl.rlim_cur = raised.rlim_cur;
    if (rl.rlim_cur >= need)
        return want;
    unsigned fit = rl.rlim_cur > 2 * HTTP_FD_MARGIN ? (unsigned)(rl.rlim_cur - HTTP_FD_MARGIN)
                                                     : (unsigned)(rl.rlim_cur / 2);
    fprintf(stderr,
            "gsimclrd: http: the open-file limit (%llu, hard %llu) leaves room for %u "
            "connections, not %u; raise it (ulimit -Hn, LimitNOFILE=) to allow more\n",
            (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, fit, want);
    return fit;
}

int http_server_start(HttpServer **out, const HttpConfig *cfg, GsErr *err)
{
    ListenAddr addr;
    *out = NULL;
    if (!cfg || !cfg->handler)
        return gs_errf(err, "http: no handler");
    if (cfg->threads < 1 || cfg->threads > 256)
        return gs_errf(err, "http: threads must be in 1..256 (got %d)", cfg->threads);
    if (cfg->max_connections && (cfg->max_connections < 16 || cfg->max_connections > 1u << 20))
        return gs_errf(err, "http: max_connections must be in 16..%u (got %u)", 1u << 20,
                       cfg->max_connections);
    if (cfg->header_timeout_s < 0 || cfg->body_timeout_s < 0)
        return gs_errf(err, "http: timeouts must not be negative");
    if (parse_listen(cfg->listen, &addr, err) != 0)
        return -1;

    HttpServer *s = calloc(1, sizeof *s);
    if (!s)
        return gs_errf(err, "http: out of memory");
    s->handler = cfg->handler;
    s->ctx = cfg->ctx;
    s->max_body = cfg->max_body;
    s->loopback = addr_is_loopback(&addr);
    s->max_connections =
        fit_connections(cfg->max_connections ? cfg->max_connections : HTTP_DEFAULT_CONNECTIONS);
    s->reserve = s->max_connections / 8;
    s->header_timeout = cfg->header_timeout_s > 0 ? cfg->header_timeout_s
                                                   : HTTP_DEFAULT_HEADER_TIMEOUT_S;
    s->body_timeout = cfg->body_timeout_s > 0
                          ? cfg->body_timeout_s
                          : HTTP_DEFAULT_BODY_TIMEOUT_S + (double)s->max_body / HTTP_BODY_MIN_RATE;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&s->mu, NULL) != 0 || pthread_cond_init(&s->tick_cond, &ca) != 0 ||
        pthread_mutex_init(&s->conns_mu, NULL) != 0) {
        pthread_condattr_destroy(&ca);
        free(s);
        return gs_errf(err, "http: cannot create a lock");
    }
    pthread_condattr_destroy(&ca);

    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (addr.u.sa.sa_family == AF_INET6)
        flags |= IN6_IS_ADDR_UNSPECIFIED(&addr.u.v6.sin6_addr) ? MHD_USE_DUAL_STACK
                                                                : MHD_USE_IPv6;
    /* The logger comes first so that start-up messages reach it. */
    struct MHD_OptionItem opts[12] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, s},
        {MHD_OPTION_SOCK_ADDR, 0, &addr.u.sa},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_url, s},
        {MHD_OPTION_CONNECTION_LIMIT, s->max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONNECTION_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONNECTION_MEMORY, NULL},
    };
    int n_opts = 8;
    if (cfg->max_per_ip)
        opts[n_opts++] =
            (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_per_ip, NULL};
    if (cfg->threads > 1)
        opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL};
    opts[n_opts] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->start_thread = pthread_self();
    atomic_store(&s->starting, true);
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                                 MHD_OPTION_END);
    atomic_store(&s->starting, false);
    if (!s->daemon) {
        const char *why = probe_bind(&addr);
        gs_errf(err, "http: cannot listen on %s: %s", cfg->listen,
                why ? why : s->start_log[0] ? s->start_log : "libmicrohttpd refused to start");
        pthread_cond_destroy(&s->tick_cond);
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->conns_mu);
        free(s);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info && info->port ? info->port : ntohs(addr.u.sa.sa_family == AF_INET6
                                                          ? addr.u.v6.sin6_port
                                                          : addr.u.v4.sin_port);
    if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0) {
        MHD_stop_daemon(s->daemon);
        pthread_cond_destroy(&s->tick_cond);
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->conns_mu);
        free(s);
        return gs_errf(err, "http: cannot start the ticker thread");
    }
    s->ticker_started = true;
    *out = s;
    return 0;
}

int http_server_port(const HttpServer *s)
{
    return s->port;
}

bool http_server_loopback(const HttpServer *s)
{
    return s->loopback;
}

void http_server_stop(HttpServer *s)
{
    if (!s)
        return;
    /* From here on no reader calls its stream fn or suspends; every sleeping stream is
     * resumed, as libmicrohttpd requires before it stops, and then ends. */
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    wake_locked(s);
    pthread_cond_broadcast(&s->tick_cond);
    pthread_mutex_unlock(&s->mu);
    if (s->ticker_started)
        pthread_join(s->ticker, NULL);
    MHD_stop_daemon(s->daemon);   /* every connection gets its "closed" notification */
    pthread_cond_destroy(&s->tick_cond);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->conns_mu);
    free(s);
}

void http_server_stats(const HttpServer *s, HttpStats *out)
{
    HttpServer *m = (HttpServer *)s;   /* atomic loads need a non-const object in C11 */
    out->total = atomic_load_explicit(&m->total, memory_order_relaxed);
    for (int i = 0; i < 6; i++)
        out->by_class[i] = atomic_load_explicit(&m->by_class[i], memory_order_relaxed);
    pthread_mutex_lock(&m->conns_mu);
    out->open = m->n_conns;
    pthread_mutex_unlock(&m->conns_mu);
    out->timed_out = atomic_load(&m->timed_out);
    out->evicted = atomic_load(&m->evicted);
}
