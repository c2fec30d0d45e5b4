/* http.h — the HTTP server under gsimclrd, on libmicrohttpd (only http.c includes
 * microhttpd.h). It owns sockets, threads and HTTP framing: it collects a request's body (up to
 * max_body; beyond that it answers 413 itself and drains the rest), hands the whole request to
 * one handler function, and sends what the handler put in the response — a complete body, or a
 * stream (Server-Sent Events) fed by a callback that may say "nothing yet": the connection is
 * then suspended until http_server_wake() or the next one-second tick, so no thread waits
 * on an idle stream. It also keeps slow and numerous clients from locking others out: a
 * request's headers, then its body, must arrive within deadlines, connections are limited per
 * address, and the oldest unfinished requests make room when the connection limit nears. It
 * refuses (400) what its parser would silently cut: a NUL byte in the URL or a header, two Host
 * headers. It knows nothing of routes, JSON, auth or SQLite. */
#ifndef GS_HTTP_H
#define GS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "gs/err.h"

typedef struct HttpServer HttpServer;

typedef struct {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* "/v1/runs/3", percent-decoded, without the query */
    const char *body;           /* NUL-terminated copy of the body (may be ""), body_len bytes */
    size_t body_len;
    const char *content_type;   /* headers, NULL when absent */
    const char *host;
    const char *authorization;
    const char *last_event_id;
    const char *accept;
    void *conn_;                /* private: for http_query */
} HttpRequest;

/* The value of a query argument (percent-decoded), NULL when absent. */
const char *http_query(const HttpRequest *rq, const char *key);

/* A stream's reader: fill at most max bytes of buf. Returns the bytes written (> 0), 0 when
 * nothing is ready yet (the connection sleeps until a wake or a tick, then asks again), or -1
 * to end the stream. Called from the server's threads, one call at a time per stream. */
typedef ssize_t (*HttpStreamFn)(void *ctx, char *buf, size_t max);

typedef struct {
    int status;                 /* 200 when left 0 */
    const char *content_type;   /* static string; "application/json" when NULL
                                 * ("text/event-stream" for a stream) */
    char *body;                 /* malloc'd, taken by the server (may be NULL: empty body) */
    size_t body_len;
    /* Up to 4 extra headers ("Location", "Allow", "WWW-Authenticate", "Content-Disposition",
     * ...); names static, values copied by the server. */
    const char *header_name[4];
    char header_value[4][256];
    int n_headers;
    /* A stream instead of a body: the server calls stream(stream_ctx, ...) until it returns
     * -1 or the client goes, then stream_free(stream_ctx). */
    HttpStreamFn stream;
    void *stream_ctx;
    void (*stream_free)(void *ctx);
} HttpResponse;

/* Sets a response header (name must be a static string); returns -1 when full, or when the
 * value is over 255 bytes or holds a line break. */
int http_response_header(HttpResponse *resp, const char *name, const char *value);

typedef void (*HttpHandler)(void *ctx, const HttpRequest *rq, HttpResponse *resp);

typedef struct {
    const char *listen;         /* "127.0.0.1:8470", "[::1]:0", "0.0.0.0:8470"; port 0 = any */
    size_t max_body;            /* bytes; larger bodies get 413 */
    int threads;                /* internal polling threads (epoll where available); >= 1 */
    HttpHandler handler;
    void *ctx;
    /* Slow and numerous clients; 0 picks the default of each. */
    unsigned max_connections;   /* open at once; default 8192, fewer when the open-file limit
                                 * cannot be raised enough (a line on stderr says so) */
    unsigned max_per_ip;        /* open at once from one address; 0 = no limit */
    double header_timeout_s;    /* a request's headers must be in within this many seconds of
                                 * the connection opening or of the previous answer on it;
                                 * default 10 */
    double body_timeout_s;      /* its body within this many seconds of the headers; default
                                 * 30 plus 1 per 64 KiB of max_body */
} HttpConfig;

int http_server_start(HttpServer **out, const HttpConfig *cfg, GsErr *err);
/* The port actually bound (useful with port 0). */
int http_server_port(const HttpServer *s);
/* True when bound to a loopback address. */
bool http_server_loopback(const HttpServer *s);
/* Resumes every sleeping stream so its reader is asked again. Safe from any thread. */
void http_server_wake(HttpServer *s);
/* Stops accepting, ends every stream (their readers are not called again), waits for the
 * threads and frees everything. */
void http_server_stop(HttpServer *s);

/* Request counters by status class, for /metrics: total, and per 2xx/3xx/4xx/5xx; the
 * connections open now, and those cut since the start: for a request not in by its deadline
 * (timed_out), or to make room near the connection limit (evicted). */
typedef struct {
    unsigned long total, by_class[6];
    unsigned long open, timed_out, evicted;
} HttpStats;
void http_server_stats(const HttpServer *s, HttpStats *out);

#endif
