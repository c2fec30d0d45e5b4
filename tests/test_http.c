/* test_http.c — the HTTP server through real HTTP with libcurl: requests and query arguments,
 * headers both ways, body limits (Content-Length, chunked, 100-continue), keep-alive, streams
 * woken from another thread, clients leaving streams, stopping with sleeping streams, many
 * concurrent clients, port 0, IPv6, bad input and bad listen addresses. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gs/http.h"
#include "harness.h"

#define MAX_BODY 4096

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* ---- streams the test handler serves ----------------------------------------------------- */

/* A stream fed by the test: the test appends text and wakes the server; `ended` ends it. */
typedef struct {
    pthread_mutex_t mu;
    char buf[4096];
    size_t len, off;
    bool ended;
    atomic_int calls, frees;
} Feed;

static void feed_init(Feed *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
}

static void feed_push(Feed *f, const char *text, bool end)
{
    pthread_mutex_lock(&f->mu);
    size_t n = strlen(text);
    if (f->len + n <= sizeof f->buf) {
        memcpy(f->buf + f->len, text, n);
        f->len += n;
    }
    f->ended = f->ended || end;
    pthread_mutex_unlock(&f->mu);
}

static ssize_t feed_read(void *ctx, char *buf, size_t max)
{
    Feed *f = ctx;
    ssize_t n = 0;
    atomic_fetch_add(&f->calls, 1);
    pthread_mutex_lock(&f->mu);
    if (f->off < f->len) {
        size_t k = f->len - f->off < max ? f->len - f->off : max;
        memcpy(buf, f->buf + f->off, k);
        f->off += k;
        n = (ssize_t)k;
    } else if (f->ended) {
        n = -1;
    }
    pthread_mutex_unlock(&f->mu);
    return n;
}

static void feed_free(void *ctx)
{
    Feed *f = ctx;
    atomic_fetch_add(&f->frees, 1);
}

/* A stream that says hello once and then never has anything again. */
static atomic_int g_idle_sleeps, g_idle_frees;

static ssize_t idle_read(void *ctx, char *buf, size_t max)
{
    int *said = ctx;
    if (!*said && max >= 10) {
        *said = 1;
        memcpy(buf, ": hello\n\n", 9);
        return 9;
    }
    atomic_fetch_add(&g_idle_sleeps, 1);
    return 0;
}

static void idle_free(void *ctx)
{
    free(ctx);
    atomic_fetch_add(&g_idle_frees, 1);
}

/* ---- the test handler -------------------------------------------------------------------- */

static Feed *_Atomic g_feed;   /* the stream /feed serves */

static void test_handler(void *ctx, const HttpRequest *rq, HttpResponse *resp)
{
    (void)ctx;
    if (strncmp(rq->path, "/echo", 5) == 0) {
        const char *a = http_query(rq, "a"), *b = http_query(rq, "b");
        size_t cap = rq->body_len + 1024;
        resp->body = malloc(cap);
        if (!resp->body) {
            resp->status = 500;
            return;
        }
        int n = snprintf(resp->body, cap,
                         "method=%s\npath=%s\na=%s\nb=%s\nct=%s\nhost=%s\nauth=%s\nlei=%s\n"
                         "accept=%s\nlen=%zu\nbody=",
                         rq->method, rq->path, a ? a : "-", b ? b : "-",
                         rq->content_type ? rq->content_type : "-", rq->host ? rq->host : "-",
                         rq->authorization ? rq->authorization : "-",
                         rq->last_event_id ? rq->last_event_id : "-",
                         rq->accept ? rq->accept : "-", rq->body_len);
        memcpy(resp->body + n, rq->body, rq->body_len);
        resp->body_len = (size_t)n + rq->body_len;
        resp->content_type = "text/plain";
    } else if (strcmp(rq->path, "/fast") == 0) {
        resp->body = strdup("{\"ok\":true}");
        resp->body_len = resp->body ? strlen(resp->body) : 0;
    } else if (strcmp(rq->path, "/headers") == 0) {
        resp->status = 201;
        CHECK(http_response_header(resp, "Location", "/v1/runs/7") == 0);
        CHECK(http_response_header(resp, "Allow", "GET, POST") == 0);
        CHECK(http_response_header(resp, "X-Bad", "a\r\nInjected: yes") == -1);
        CHECK(http_response_header(resp, "X-Three", "3") == 0);
        CHECK(http_response_header(resp, "X-Four", "4") == 0);
        CHECK(http_response_header(resp, "X-Five", "5") == -1);
    } else if (strcmp(rq->path, "/status") == 0) {
        const char *code = http_query(rq, "code");
        resp->status = code ? atoi(code) : 200;
    } else if (strcmp(rq->path, "/feed") == 0 && atomic_load(&g_feed)) {
        http_response_header(resp, "Cache-Control", "no-cache");   /* not sent twice */
        resp->stream = feed_read;
        resp->stream_ctx = atomic_load(&g_feed);
        resp->stream_free = feed_free;
    } else if (strcmp(rq->path, "/idle") == 0) {
        int *said = calloc(1, sizeof *said);
        if (!said) {
            resp->status = 500;
            return;
        }
        resp->stream = idle_read;
        resp->stream_ctx = said;
        resp->stream_free = idle_free;
    } else {
        resp->status = 404;
        resp->body = strdup("{\"error\":{\"code\":\"not_found\",\"message\":\"no route\"}}");
        resp->body_len = resp->body ? strlen(resp->body) : 0;
    }
}

static HttpServer *start_server(const char *listen, int threads)
{
    HttpConfig cfg = {.listen = listen, .max_body = MAX_BODY, .threads = threads,
                      .handler = test_handler, .ctx = NULL};
    HttpServer *s = NULL;
    GsErr err = {{0}};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = http_server_start(&s, &cfg, &err);
    CHECK_MSG(rc == 0, "start %s: %s", listen, err.msg);
    return rc == 0 ? s : NULL;
}

/* ---- a small libcurl client -------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
    size_t abort_after;   /* > 0: fail the transfer once this many bytes arrived */
    double first_at, last_at;
} Buf;

static size_t buf_write(char *p, size_t size, size_t nmemb, void *ud)
{
    Buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->data, cap);
        if (!q)
            return 0;
        b->data = q;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    if (!b->first_at)
        b->first_at = now_s();
    b->last_at = now_s();
    if (b->abort_after && b->len >= b->abort_after)
        return 0;
    return n;
}

typedef struct {
    const char *data;
    size_t len, off;
} Upload;

static size_t upload_read(char *p, size_t size, size_t nmemb, void *ud)
{
    Upload *u = ud;
    size_t n = size * nmemb;
    if (n > 1000)
        n = 1000;   /* several chunks */
    if (n > u->len - u->off)
        n = u->len - u->off;
    memcpy(p, u->data + u->off, n);
    u->off += n;
    return n;
}

typedef struct {
    long status;
    Buf body, head;
    CURLcode rc;
    long connects;
} Reply;

static void reply_free(Reply *r)
{
    free(r->body.data);
    free(r->head.data);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const char *method;              /* NULL: GET, or POST when there is a body */
    const char *body;                /* NULL: none */
    size_t body_len;
    bool chunked;
    const char *headers[6];          /* NULL-terminated */
    size_t abort_after;
} Req;

static void do_request(CURL *h, int port, const char *host, const char *path, const Req *rq,
                       Reply *out)
{
    char url[512];
    Upload up = {0};
    struct curl_slist *hl = NULL;
    memset(out, 0, sizeof *out);
    out->body.abort_after = rq ? rq->abort_after : 0;
    snprintf(url, sizeof url, "http://%s:%d%s", host ? host : "127.0.0.1", port, path);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, buf_write);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &out->head);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (rq) {
        for (int i = 0; i < 6 && rq->headers[i]; i++)
            hl = curl_slist_append(hl, rq->headers[i]);
        if (rq->body && rq->chunked) {
            up.data = rq->body;
            up.len = rq->body_len;
            hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, upload_read);
            curl_easy_setopt(h, CURLOPT_READDATA, &up);
        } else if (rq->body) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
        }
        if (rq->method && strcmp(rq->method, "HEAD") == 0)
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else if (rq->method)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    }
    out->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &out->connects);
    curl_slist_free_all(hl);
}

static const char *body_of(const Reply *r)
{
    return r->body.data ? r->body.data : "";
}

static const char *head_of(const Reply *r)
{
    return r->head.data ? r->head.data : "";
}

/* ---- tests ------------------------------------------------------------------------------- */

TEST(http_get_post_echo)
{
    HttpServer *s = start_server("127.0.0.1:0", 2);
    if (!s)
        return;
    int port = http_server_port(s);
    CHECK(port > 0 && port < 65536);
    CHECK(http_server_loopback(s));
    CURL *h = curl_easy_init();
    Reply r;

    Req get = {.headers = {"Authorization: Bearer tok", "Last-Event-ID: 42",
                           "Accept: text/event-stream"}};
    do_request(h, port, NULL, "/echo%20x?a=1%202&b=p+q", &get, &r);
    CHECK_INT_EQ(r.rc, CURLE_OK);
    CHECK_INT_EQ(r.status, 200);
    CHECK_MSG(strstr(body_of(&r), "method=GET\npath=/echo x\na=1 2\nb=p q\nct=-\n"),
              "%s", body_of(&r));
    char host[64];
    snprintf(host, sizeof host, "host=127.0.0.1:%d\n", port);
    CHECK_MSG(strstr(body_of(&r), host), "%s", body_of(&r));
    CHECK(strstr(body_of(&r), "auth=Bearer tok\nlei=42\naccept=text/event-stream\nlen=0\n"));
    CHECK(strstr(head_of(&r), "Content-Type: text/plain"));
    reply_free(&r);

    Req post = {.body = "{\"x\": [1, 2]}", .body_len = 13,
                .headers = {"Content-Type: application/json"}};
    do_request(h, port, NULL, "/echo?a=z", &post, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_MSG(strstr(body_of(&r), "method=POST\npath=/echo\na=z\nb=-\nct=application/json\n"),
              "%s", body_of(&r));
    CHECK(strstr(body_of(&r), "len=13\nbody={\"x\": [1, 2]}"));
    reply_free(&r);

    Req del = {.method = "DELETE"};
    do_request(h, port, NULL, "/echo/runs/3", &del, &r);
    CHECK(strstr(body_of(&r), "method=DELETE\npath=/echo/runs/3\n"));
    reply_free(&r);

    Req head = {.method = "HEAD"};
    do_request(h, port, NULL, "/fast", &head, &r);
    CHECK_INT_EQ(r.rc, CURLE_OK);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(r.body.len, 0);
    reply_free(&r);

    do_request(h, port, NULL, "/nowhere", NULL, &r);
    CHECK_INT_EQ(r.status, 404);
    CHECK(strstr(head_of(&r), "Content-Type: application/json"));
    CHECK(strstr(body_of(&r), "not_found"));
    reply_free(&r);

    /* A body with a NUL inside arrives whole, and NUL-terminated. */
    Req bin = {.body = "ab\0cd", .body_len = 5};
    do_request(h, port, NULL, "/echo", &bin, &r);
    CHECK(strstr(body_of(&r), "len=5\n"));
    CHECK(r.body.len >= 5 && memcmp(r.body.data + r.body.len - 5, "ab\0cd", 5) == 0);
    reply_free(&r);

    curl_easy_cleanup(h);
    http_server_stop(s);
}

TEST(http_extra_headers)
{
    HttpServer *s = start_server("127.0.0.1:0", 1);
    if (!s)
        return;
    CURL *h = curl_easy_init();
    Reply r;
    do_request(h, http_server_port(s), NULL, "/headers", NULL, &r);
    CHECK_INT_EQ(r.status, 201);
    CHECK_MSG(strstr(head_of(&r), "Location: /v1/runs/7\r\n"), "%s", head_of(&r));
    CHECK(strstr(head_of(&r), "Allow: GET, POST\r\n"));
    CHECK(strstr(head_of(&r), "X-Four: 4\r\n"));
    CHECK(!strstr(head_of(&r), "Injected"));
    CHECK(!strstr(head_of(&r), "X-Five"));
    CHECK(strstr(head_of(&r), "Content-Type: application/json\r\n"));
    CHECK(strstr(head_of(&r), "Content-Length: 0\r\n"));
    reply_free(&r);
    curl_easy_cleanup(h);
    http_server_stop(s);
}

/* Bodies of max_body bytes pass and one byte more gets 413, however the body is framed; the
 * connection stays usable after a drained 413. */
TEST(http_body_limit)
{
    HttpServer *s = start_server("127.0.0.1:0", 2);
    if (!s)
        return;
    int port = http_server_port(s);
    size_t big_n = 1 << 20;
    char *big = malloc(big_n);
    CHECK(big != NULL);
    if (!big) {
        http_server_stop(s);
        return;
    }
    for (size_t i = 0; i < big_n; i++)
        big[i] = (char)('a' + i % 26);
    CURL *h = curl_easy_init();
    char want[64];
    snprintf(want, sizeof want, "the body is over %d bytes", MAX_BODY);

    /* Content-Length without 100-continue (drained), with it (answered at once), chunked. */
    const char *expect[3] = {"Expect:", "Expect: 100-continue", "Expect:"};
    for (int mode = 0; mode < 3; mode++) {
        bool chunked = mode == 2;
        Reply r;
        Req ok = {.body = big, .body_len = MAX_BODY, .chunked = chunked,
                  .headers = {expect[mode]}};
        do_request(h, port, NULL, "/echo", &ok, &r);
        CHECK_MSG(r.rc == CURLE_OK, "mode %d: %s", mode, curl_easy_strerror(r.rc));
        CHECK_MSG(r.status == 200, "mode %d: status %ld", mode, r.status);
        CHECK(strstr(body_of(&r), "len=4096\n"));
        CHECK(r.body.len > MAX_BODY &&
              memcmp(r.body.data + r.body.len - MAX_BODY, big, MAX_BODY) == 0);
        reply_free(&r);

        size_t over[2] = {MAX_BODY + 1, big_n};
        for (int k = 0; k < 2; k++) {
            Req no = {.body = big, .body_len = over[k], .chunked = chunked,
                      .headers = {expect[mode]}};
            do_request(h, port, NULL, "/echo", &no, &r);
            CHECK_MSG(r.rc == CURLE_OK, "mode %d, %zu bytes: %s", mode, over[k],
                      curl_easy_strerror(r.rc));
            CHECK_MSG(r.status == 413, "mode %d, %zu bytes: status %ld", mode, over[k],
                      r.status);
            CHECK(strstr(head_of(&r), "Content-Type: application/json"));
            CHECK_MSG(strstr(body_of(&r), "{\"error\":{\"code\":\"payload_too_large\","
                                          "\"message\":\"") &&
                          strstr(body_of(&r), want),
                      "%s", body_of(&r));
            reply_free(&r);

            do_request(h, port, NULL, "/fast", NULL, &r);
            CHECK_INT_EQ(r.status, 200);
            CHECK(strcmp(body_of(&r), "{\"ok\":true}") == 0);
            reply_free(&r);
        }
    }
    HttpStats st;
    http_server_stats(s, &st);
    CHECK_INT_EQ(st.by_class[4], 6);
    curl_easy_cleanup(h);
    free(big);
    http_server_stop(s);
}

TEST(http_keep_alive)
{
    HttpServer *s = start_server("127.0.0.1:0", 2);
    if (!s)
        return;
    CURL *h = curl_easy_init();
    Reply r;
    do_request(h, http_server_port(s), NULL, "/fast", NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(r.connects, 1);
    reply_free(&r);
    for (int i = 0; i < 5; i++) {
        Req post = {.body = "{}", .body_len = 2};
        do_request(h, http_server_port(s), NULL, i % 2 ? "/echo" : "/fast", &post, &r);
        CHECK_INT_EQ(r.status, 200);
        CHECK_MSG(r.connects == 0, "request %d opened a new connection", i);
        reply_free(&r);
    }
    curl_easy_cleanup(h);
    http_server_stop(s);
}

TEST(http_status_counters)
{
    HttpServer *s = start_server("127.0.0.1:0", 1);
    if (!s)
        return;
    CURL *h = curl_easy_init();
    Reply r;
    const char *paths[] = {"/status?code=204", "/status?code=302", "/status?code=404",
                           "/status?code=409", "/status?code=500", "/status?code=99",
                           "/status?code=1000", "/fast"};
    long want[] = {204, 302, 404, 409, 500, 500, 500, 200};
    for (int i = 0; i < 8; i++) {
        do_request(h, http_server_port(s), NULL, paths[i], NULL, &r);
        CHECK_MSG(r.status == want[i], "%s: %ld", paths[i], r.status);
        reply_free(&r);
    }
    HttpStats st;
    http_server_stats(s, &st);
    CHECK_INT_EQ(st.total, 8);
    CHECK_INT_EQ(st.by_class[2], 2);
    CHECK_INT_EQ(st.by_class[3], 1);
    CHECK_INT_EQ(st.by_class[4], 2);
    CHECK_INT_EQ(st.by_class[5], 3);
    curl_easy_cleanup(h);
    http_server_stop(s);
}

/* Three events pushed from another thread, each followed by a wake, then the end: the client
 * gets every byte in order, soon after each push (not at the next one-second tick). */
typedef struct {
    HttpServer *s;
    Feed *feed;
} Producer;

static void *produce(void *arg)
{
    Producer *p = arg;
    char ev[64];
    for (int i = 0; i < 3; i++) {
        sleep_ms(60);
        snprintf(ev, sizeof ev, "event: tick\ndata: {\"n\": %d}\n\n", i);
        feed_push(p->feed, ev, false);
        http_server_wake(p->s);
    }
    sleep_ms(60);
    feed_push(p->feed, "event: end\ndata: {}\n\n", true);
    http_server_wake(p->s);
    return NULL;
}

TEST(http_stream_wake)
{
    HttpServer *s = start_server("127.0.0.1:0", 2);
    if (!s)
        return;
    Feed feed;
    feed_init(&feed);
    feed_push(&feed, "event: run\ndata: {}\n\n", false);
    atomic_store(&g_feed, &feed);
    Producer p = {s, &feed};
    pthread_t th;
    CURL *h = curl_easy_init();
    Reply r;
    double t0 = now_s();
    pthread_create(&th, NULL, produce, &p);
    do_request(h, http_server_port(s), NULL, "/feed", NULL, &r);
    double took = now_s() - t0;
    pthread_join(th, NULL);
    CHECK_INT_EQ(r.rc, CURLE_OK);
    CHECK_INT_EQ(r.status, 200);
    const char *want = "event: run\ndata: {}\n\n"
                       "event: tick\ndata: {\"n\": 0}\n\n"
                       "event: tick\ndata: {\"n\": 1}\n\n"
                       "event: tick\ndata: {\"n\": 2}\n\n"
                       "event: end\ndata: {}\n\n";
    CHECK_MSG(strcmp(body_of(&r), want) == 0, "got: %s", body_of(&r));
    CHECK(strstr(head_of(&r), "Content-Type: text/event-stream\r\n"));
    const char *cc = strstr(head_of(&r), "Cache-Control: no-cache\r\n");
    CHECK(cc && !strstr(cc + 1, "Cache-Control"));
    CHECK(strstr(head_of(&r), "X-Accel-Buffering: no\r\n"));
    CHECK_MSG(took < 0.9, "the stream took %.2f s: wakes were missed", took);
    reply_free(&r);

    /* The connection is reusable after the stream ended. */
    do_request(h, http_server_port(s), NULL, "/fast", NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    reply_free(&r);
    curl_easy_cleanup(h);

    for (int i = 0; i < 200 && atomic_load(&feed.frees) == 0; i++)
        sleep_ms(10);
    CHECK_INT_EQ(atomic_load(&feed.frees), 1);
    http_server_stop(s);
    CHECK_INT_EQ(atomic_load(&feed.frees), 1);
    atomic_store(&g_feed, NULL);
    pthread_mutex_destroy(&feed.mu);
}

/* Ticks alone (no wake) still deliver what a stream has, within about a second. */
TEST(http_stream_tick)
{
    HttpServer *s = start_server("127.0.0.1:0", 1);
    if (!s)
        return;
    Feed feed;
    feed_init(&feed);
    feed_push(&feed, "a\n\n", false);
    atomic_store(&g_feed, &feed);
    CURLM *m = curl_multi_init();
    CURL *h = curl_easy_init();
    Reply r;
    memset(&r, 0, sizeof r);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/feed", http_server_port(s));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
    curl_multi_add_handle(m, h);
    int running = 1;
    bool pushed = false;
    double t0 = now_s(), pushed_at = 0;
    while (running && now_s() - t0 < 10) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 20, NULL);
        if (!pushed && r.body.len >= 3) {
            sleep_ms(50);   /* let the reader find nothing and sleep */
            feed_push(&feed, "b\n\n", true);   /* no wake */
            pushed = true;
            pushed_at = now_s();
        }
    }
    double took = now_s() - pushed_at;
    CHECK(!running);
    CHECK_MSG(strcmp(body_of(&r), "a\n\nb\n\n") == 0, "got: %s", body_of(&r));
    CHECK_MSG(took < 2.5, "the tick took %.2f s", took);
    curl_multi_remove_handle(m, h);
    curl_easy_cleanup(h);
    curl_multi_cleanup(m);
    reply_free(&r);
    http_server_stop(s);
    CHECK_INT_EQ(atomic_load(&feed.frees), 1);
    atomic_store(&g_feed, NULL);
    pthread_mutex_destroy(&feed.mu);
}

/* A client that leaves a sleeping stream: the next write fails and stream_free runs once. */
TEST(http_stream_client_leaves)
{
    HttpServer *s = start_server("127.0.0.1:0", 2);
    if (!s)
        return;
    Feed feed;
    feed_init(&feed);
    feed_push(&feed, "event: hello\ndata: {}\n\n", false);
    atomic_store(&g_feed, &feed);
    CURL *h = curl_easy_init();
    Reply r;
    Req rq = {.abort_after = 1};
    do_request(h, http_server_port(s), NULL, "/feed", &rq, &r);
    CHECK_INT_EQ(r.rc, CURLE_WRITE_ERROR);
    curl_easy_cleanup(h);   /* closes the connection */
    reply_free(&r);
    for (int i = 0; i < 100 && atomic_load(&feed.frees) == 0; i++) {
        feed_push(&feed, ": keep-alive\n\n", false);
        http_server_wake(s);
        sleep_ms(50);
    }
    CHECK_INT_EQ(atomic_load(&feed.frees), 1);
    http_server_stop(s);
    CHECK_INT_EQ(atomic_load(&feed.frees), 1);
    atomic_store(&g_feed, NULL);
    pthread_mutex_destroy(&feed.mu);
}

typedef struct {
    int port;
    Reply r;
} IdleClient;

static void *idle_client(void *arg)
{
    IdleClient *c = arg;
    CURL *h = curl_easy_init();
    do_request(h, c->port, NULL, "/idle", NULL, &c->r);
    curl_easy_cleanup(h);
    return NULL;
}

/* Stopping with streams asleep neither hangs nor leaks, and every stream is freed once. */
TEST(http_stop_with_sleeping_streams)
{
    HttpServer *s = start_server("127.0.0.1:0", 2);
    if (!s)
        return;
    atomic_store(&g_idle_sleeps, 0);
    atomic_store(&g_idle_frees, 0);
    IdleClient cl[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].port = http_server_port(s);
        pthread_create(&th[i], NULL, idle_client, &cl[i]);
    }
    for (int i = 0; i < 500 && atomic_load(&g_idle_sleeps) < 3; i++)
        sleep_ms(10);
    CHECK(atomic_load(&g_idle_sleeps) >= 3);
    sleep_ms(50);
    double t0 = now_s();
    http_server_stop(s);
    double took = now_s() - t0;
    CHECK_MSG(took < 3, "stop took %.2f s", took);
    CHECK_INT_EQ(atomic_load(&g_idle_frees), 3);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT_EQ(cl[i].r.status, 200);
        CHECK(strncmp(body_of(&cl[i].r), ": hello\n\n", 9) == 0);
        reply_free(&cl[i].r);
    }
}

typedef struct {
    int port, ok;
} Hammer;

static void *hammer(void *arg)
{
    Hammer *hm = arg;
    CURL *h = curl_easy_init();
    for (int i = 0; i < 200; i++) {
        Reply r;
        char path[64];
        snprintf(path, sizeof path, i % 10 == 9 ? "/echo?a=%d" : "/fast?i=%d", i);
        do_request(h, hm->port, NULL, path, NULL, &r);
        if (r.rc == CURLE_OK && r.status == 200 &&
            (i % 10 == 9 || strcmp(body_of(&r), "{\"ok\":true}") == 0))
            hm->ok++;
        reply_free(&r);
    }
    curl_easy_cleanup(h);
    return NULL;
}

TEST(http_concurrent_clients)
{
    HttpServer *s = start_server("127.0.0.1:0", 2);
    if (!s)
        return;
    Hammer hm[16];
    pthread_t th[16];
    for (int i = 0; i < 16; i++) {
        hm[i].port = http_server_port(s);
        hm[i].ok = 0;
        pthread_create(&th[i], NULL, hammer, &hm[i]);
    }
    int ok = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        ok += hm[i].ok;
    }
    CHECK_INT_EQ(ok, 16 * 200);
    HttpStats st;
    http_server_stats(s, &st);
    CHECK_INT_EQ(st.total, 16 * 200);
    CHECK_INT_EQ(st.by_class[2], 16 * 200);
    http_server_stop(s);
}

/* Bytes no HTTP client would send: the server answers or hangs up, and keeps serving. */
TEST(http_garbage_input)
{
    HttpServer *s = start_server("127.0.0.1:0", 2);
    if (!s)
        return;
    static char huge[100000];
    memset(huge, 'A', sizeof huge - 1);
    const char *inputs[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "\x01\x02\x03\xff\xfe\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /echo?a=%zz&&=&b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /%00%ff/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        huge,
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_port = htons((uint16_t)http_server_port(s));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t sent = send(fd, inputs[i], strlen(inputs[i]), MSG_NOSIGNAL);
        (void)sent;
        shutdown(fd, SHUT_WR);
        char buf[4096];
        while (recv(fd, buf, sizeof buf, 0) > 0) {
        }
        close(fd);
    }
    CURL *h = curl_easy_init();
    Reply r;
    do_request(h, http_server_port(s), NULL, "/fast", NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    reply_free(&r);
    curl_easy_cleanup(h);
    http_server_stop(s);
}

TEST(http_ipv6)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool have = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    if (!have) {
        printf("    note: no IPv6 loopback here, http_ipv6 skipped\n");
        return;
    }
    HttpServer *s = start_server("[::1]:0", 1);
    if (!s)
        return;
    CHECK(http_server_port(s) > 0);
    CHECK(http_server_loopback(s));
    CURL *h = curl_easy_init();
    Reply r;
    do_request(h, http_server_port(s), "[::1]", "/echo?a=6", NULL, &r);
    CHECK_INT_EQ(r.rc, CURLE_OK);
    CHECK_INT_EQ(r.status, 200);
    CHECK(strstr(body_of(&r), "a=6\n"));
    reply_free(&r);
    curl_easy_cleanup(h);
    http_server_stop(s);
}

TEST(http_listen_addresses)
{
    HttpConfig cfg = {.max_body = MAX_BODY, .threads = 1, .handler = test_handler};
    HttpServer *s = NULL;
    GsErr err;
    const char *bad[] = {"", "nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999",
                         "127.0.0.1:-1", "127.0.0.1:80x", "[::1", "[::1]", "[::1]80",
                         "::1:80", "1.2.3.4.5:80", "[127.0.0.1]:80", "example.com:80",
                         "127.0.0.1:+80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.listen = bad[i];
        err.msg[0] = '\0';
        CHECK_MSG(http_server_start(&s, &cfg, &err) == -1, "accepted \"%s\"", bad[i]);
        CHECK(s == NULL);
        CHECK_MSG(err.msg[0] != '\0', "no message for \"%s\"", bad[i]);
    }
    cfg.listen = NULL;
    CHECK(http_server_start(&s, &cfg, &err) == -1);
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 0;
    CHECK(http_server_start(&s, &cfg, &err) == -1);
    cfg.threads = 1;
    cfg.handler = NULL;
    CHECK(http_server_start(&s, &cfg, &err) == -1);
    cfg.handler = test_handler;

    /* "localhost" is 127.0.0.1; a port in use is a clear error. */
    cfg.listen = "localhost:0";
    CHECK_MSG(http_server_start(&s, &cfg, &err) == 0, "%s", err.msg);
    if (!s)
        return;
    CHECK(http_server_loopback(s));
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", http_server_port(s));
    HttpServer *s2 = NULL;
    cfg.listen = taken;
    err.msg[0] = '\0';
    CHECK(http_server_start(&s2, &cfg, &err) == -1);
    CHECK(s2 == NULL);
    CHECK_MSG(strstr(err.msg, "in use") && strstr(err.msg, taken), "%s", err.msg);
    http_server_stop(s);

    /* A wildcard address is not loopback. */
    cfg.listen = "0.0.0.0:0";
    CHECK_MSG(http_server_start(&s, &cfg, &err) == 0, "%s", err.msg);
    if (s) {
        CHECK(!http_server_loopback(s));
        http_server_stop(s);
    }
}

/* Many streams at once, woken every millisecond from another thread, clients that read to the
 * end and clients that leave early, and a stop with streams still open: every stream the
 * handler made is freed exactly once (ASan and TSan watch the races). */
static atomic_int g_storm_seq, g_storm_made, g_storm_freed;
static atomic_bool g_storm_done;

typedef struct {
    int seen, end;   /* the last number sent; the stream ends at number `end` */
} StormStream;

static ssize_t storm_read(void *ctx, char *buf, size_t max)
{
    StormStream *st = ctx;
    int now = atomic_load(&g_storm_seq);
    if (now >= st->end)
        return -1;
    if (now == st->seen)
        return 0;
    st->seen = now;
    int n = snprintf(buf, max, "data: %d\n\n", now);
    return n > 0 && (size_t)n < max ? n : -1;
}

static void storm_free(void *ctx)
{
    free(ctx);
    atomic_fetch_add(&g_storm_freed, 1);
}

static void storm_handler(void *ctx, const HttpRequest *rq, HttpResponse *resp)
{
    (void)ctx;
    (void)rq;
    StormStream *st = calloc(1, sizeof *st);
    if (!st) {
        resp->status = 500;
        return;
    }
    st->seen = -1;
    st->end = atomic_load(&g_storm_seq) + 20;
    atomic_fetch_add(&g_storm_made, 1);
    resp->stream = storm_read;
    resp->stream_ctx = st;
    resp->stream_free = storm_free;
}

typedef struct {
    int port, id, streams;
} StormClient;

static void *storm_client(void *arg)
{
    StormClient *c = arg;
    CURL *h = curl_easy_init();
    for (int i = 0; !atomic_load(&g_storm_done); i++) {
        Reply r;
        Req rq = {.abort_after = (size_t)((c->id + i) % 4) * 7};   /* 0: read to the end */
        do_request(h, c->port, NULL, "/storm", &rq, &r);
        if (r.status == 200)
            c->streams++;
        reply_free(&r);
        if (r.rc == CURLE_COULDNT_CONNECT)
            sleep_ms(5);
    }
    curl_easy_cleanup(h);
    return NULL;
}

typedef struct {
    HttpServer *s;
    int last;
} StormWaker;

static void *storm_waker(void *arg)
{
    StormWaker *w = arg;
    for (int i = 0; i < w->last; i++) {
        atomic_fetch_add(&g_storm_seq, 1);
        http_server_wake(w->s);
        sleep_ms(1);
    }
    return NULL;
}

TEST(http_stream_storm)
{
    HttpConfig cfg = {.listen = "127.0.0.1:0", .max_body = MAX_BODY, .threads = 2,
                      .handler = storm_handler};
    HttpServer *s = NULL;
    GsErr err;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CHECK_MSG(http_server_start(&s, &cfg, &err) == 0, "%s", err.msg);
    if (!s)
        return;
    atomic_store(&g_storm_seq, 0);
    atomic_store(&g_storm_made, 0);
    atomic_store(&g_storm_freed, 0);
    atomic_store(&g_storm_done, false);
    StormClient cl[8];
    pthread_t th[8], wt;
    for (int i = 0; i < 8; i++) {
        cl[i] = (StormClient){http_server_port(s), i, 0};
        pthread_create(&th[i], NULL, storm_client, &cl[i]);
    }
    StormWaker w = {s, 400};
    pthread_create(&wt, NULL, storm_waker, &w);
    pthread_join(wt, NULL);
    http_server_stop(s);   /* clients are still streaming or connecting */
    CHECK(atomic_load(&g_storm_made) > 8);
    CHECK_INT_EQ(atomic_load(&g_storm_freed), atomic_load(&g_storm_made));
    atomic_store(&g_storm_done, true);
    int streams = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        streams += cl[i].streams;
    }
    CHECK_MSG(streams > 80, "only %d streams", streams);
}
