/* apiclient.c — libcurl under the API tests (see apiclient.h). The only test file that
 * includes curl.h. With GS_API_RECORD set to a file name, every exchange that got an answer
 * is appended to that file as one JSON line (method, path, status, headers, body), for
 * tests/openapi/check.mjs to check against docs/openapi.json after the suite. */
#define _DEFAULT_SOURCE /* usleep */
#include "apiclient.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* ---- the record of exchanges (GS_API_RECORD) ------------------------------------------ */

/* Bodies of these types are kept whole (the checker parses them); of any other type (PNG,
 * .npy, checkpoints: megabytes that no schema describes) only the first bytes. */
#define RECORD_HEAD_BYTES 64

static pthread_mutex_t g_record_mu = PTHREAD_MUTEX_INITIALIZER;

static bool record_whole(const ApiResp *r)
{
    static const char *const types[] = {"application/json", "text/"};
    char ct[128];
    if (!apic_header(r, "Content-Type", ct, sizeof ct))
        return true; /* no type: the checker says so; the bytes help to see why */
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strncasecmp(ct, types[i], strlen(types[i])) == 0)
            return true;
    return false;
}

/* s (n bytes) as a JSON string: bytes outside printable ASCII as \u00XX, so any path or
 * header a hostile test sent stays one valid line. */
static void put_json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void put_base64(FILE *f, const unsigned char *p, size_t n)
{
    static const char ab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc('"', f);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        fputc(ab[v >> 18 & 63], f);
        fputc(ab[v >> 12 & 63], f);
        fputc(i + 1 < n ? ab[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? ab[v & 63] : '=', f);
    }
    fputc('"', f);
}

/* Appends one exchange to $GS_API_RECORD. complete: the body is the whole answer (not a
 * stream stopped on purpose or by a timeout). */
static void record(const char *method, const char *path, const ApiResp *r, bool complete)
{
    const char *file = getenv("GS_API_RECORD");
    if (!file || !*file || r->status <= 0)
        return;
    bool whole = record_whole(r);
    size_t kept = whole || r->len < RECORD_HEAD_BYTES ? r->len : RECORD_HEAD_BYTES;
    pthread_mutex_lock(&g_record_mu);
    FILE *f = fopen(file, "a");
    if (f) {
        fprintf(f, "{\"method\":");
        put_json_string(f, method, strlen(method));
        fprintf(f, ",\"path\":");
        put_json_string(f, path, strlen(path));
        fprintf(f, ",\"status\":%ld,\"headers\":", r->status);
        put_json_string(f, r->headers, strlen(r->headers));
        fprintf(f, ",\"length\":%zu,\"complete\":%s,\"body\":", r->len,
                complete && kept == r->len ? "true" : "false");
        put_base64(f, (const unsigned char *)r->body, kept);
        fprintf(f, "}\n");
        if (fclose(f) != 0)
            fprintf(stderr, "  apiclient: cannot write %s\n", file);
    } else {
        fprintf(stderr, "  apiclient: cannot open %s\n", file);
    }
    pthread_mutex_unlock(&g_record_mu);
}

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
    const char *until;  /* stop once this appears in buf */
    bool seen;
} Sink;

static size_t sink_add(Sink *s, const char *data, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) {
            s->oom = true;
            return 0;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = 0;
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    Sink *s = ctx;
    size_t n = size * nmemb;
    if (sink_add(s, data, n) != n)
        return 0;
    if (s->until && strstr(s->buf, s->until)) {
        s->seen = true;
        return 0; /* enough: abort the transfer */
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    Sink *s = ctx;
    size_t n = size * nmemb;
    return sink_add(s, data, n);
}

static int perform(int port, const char *method, const char *path, const void *body,
                   size_t body_len, const char *const *headers, const char *until,
                   double timeout_s, ApiResp *out)
{
    char url[4096];
    Sink b = {0}, h = {0};
    struct curl_slist *list = NULL;
    memset(out, 0, sizeof *out);
    pthread_once(&g_once, global_init);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(out->curl_error, sizeof out->curl_error, "curl_easy_init failed");
        out->body = calloc(1, 1);
        out->curl_code = -1;
        return -1;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    b.until = until;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, out->curl_error);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        /* curl's defaults would add "Expect: 100-continue" and a form content type */
        list = curl_slist_append(list, "Expect:");
        list = curl_slist_append(list, "Content-Type:");
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        list = curl_slist_append(list, "Content-Type:");
    }
    for (int i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    if (list)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    out->body = b.buf ? b.buf : calloc(1, 1);
    out->len = b.len;
    out->headers = h.buf ? h.buf : calloc(1, 1);
    record(method, path, out, rc == CURLE_OK && !(until && b.seen));
    /* a write callback that stopped on purpose, or a stream that timed out after its text */
    if (until && b.seen)
        rc = CURLE_OK;
    out->curl_code = (int)rc;
    if (rc != CURLE_OK && !out->curl_error[0])
        snprintf(out->curl_error, sizeof out->curl_error, "%s", curl_easy_strerror(rc));
    return rc == CURLE_OK && out->status > 0 ? 0 : -1;
}

int apic_request(int port, const char *method, const char *path, const void *body,
                 size_t body_len, const char *const *headers, ApiResp *out)
{
    return perform(port, method, path, body, body_len, headers, NULL, 60, out);
}

int apic_json(int port, const char *method, const char *path, const char *body,
              const char *token, ApiResp *out)
{
    char auth[512];
    const char *headers[3];
    int n = 0;
    if (body)
        headers[n++] = "Content-Type: application/json";
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers[n++] = auth;
    }
    headers[n] = NULL;
    return apic_request(port, method, path, body, body ? strlen(body) : 0, headers, out);
}

int apic_stream(int port, const char *path, const char *const *headers, const char *until,
                double timeout_s, ApiResp *out)
{
    return perform(port, "GET", path, NULL, 0, headers, until, timeout_s, out);
}

const char *apic_header(const ApiResp *r, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > n && line[n] == ':' && strncasecmp(line, name, n) == 0) {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t vlen = (size_t)(line + len - v);
            while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            if (vlen >= cap)
                vlen = cap - 1;
            memcpy(buf, v, vlen);
            buf[vlen] = 0;
            return buf;
        }
        line = eol ? eol + 1 : line + len;
    }
    return NULL;
}

void apic_free(ApiResp *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

/* Whatever the machine's load, no test run takes this long. */
#define WAIT_CAP_S 1800.0

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* What moves while a run is alive: status, progress, each stage's status, epoch and step
 * (not its timings, which move by themselves). */
static void run_signature(const cJSON *run, char *buf, size_t cap)
{
    const cJSON *st, *v;
    size_t len = 0;
    buf[0] = 0;
#define SIG_ADD(...)                                                                    \
    do {                                                                                \
        int k_ = snprintf(buf + len, cap - len, __VA_ARGS__);                           \
        if (k_ > 0)                                                                     \
            len = (size_t)k_ < cap - len ? len + (size_t)k_ : cap - 1;                  \
    } while (0)
    v = cJSON_GetObjectItemCaseSensitive(run, "status");
    SIG_ADD("%s", cJSON_IsString(v) ? v->valuestring : "?");
    v = cJSON_GetObjectItemCaseSensitive(run, "progress");
    SIG_ADD(" %.9g", cJSON_IsNumber(v) ? v->valuedouble : -1.0);
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(run, "stages"))
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(st, "status");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(st, "epoch");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, "step");
        SIG_ADD(" %s:%.17g:%.17g", cJSON_IsString(s) ? s->valuestring : "?",
                cJSON_IsNumber(e) ? e->valuedouble : -1.0,
                cJSON_IsNumber(p) ? p->valuedouble : -1.0);
    }
#undef SIG_ADD
}

bool apic_run_ended(const cJSON *run, void *arg)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(run, "status");
    (void)arg;
    return cJSON_IsString(s) &&
           (strcmp(s->valuestring, "succeeded") == 0 || strcmp(s->valuestring, "failed") == 0 ||
            strcmp(s->valuestring, "canceled") == 0);
}

cJSON *apic_wait_run(int port, int64_t id, bool (*done)(const cJSON *run, void *arg),
                     void *arg, double stall_s)
{
    char path[64], sig[1024] = "", prev[1024] = "";
    double start = mono_s(), alive = start;
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)id);
    for (;;) {
        ApiResp r;
        cJSON *run = NULL;
        if (apic_json(port, "GET", path, NULL, NULL, &r) == 0 && r.status == 200)
            run = cJSON_Parse(r.body);
        if (!cJSON_IsObject(run)) {
            fprintf(stderr, "  wait on run %lld: GET %s answered %ld\n", (long long)id, path,
                    r.status);
            apic_free(&r);
            cJSON_Delete(run);
            return NULL;
        }
        apic_free(&r);
        if (done(run, arg))
            return run;
        run_signature(run, sig, sizeof sig);
        cJSON_Delete(run);
        if (mono_s() - start > WAIT_CAP_S) {
            fprintf(stderr, "  wait on run %lld: not done after %.0f s (%s)\n", (long long)id,
                    WAIT_CAP_S, sig);
            return NULL;
        }
        /* a queued run waits for others: alive as long as they are */
        if (strcmp(sig, prev) != 0 || strncmp(sig, "queued ", 7) == 0) {
            memcpy(prev, sig, sizeof prev);
            alive = mono_s();
        } else if (mono_s() - alive > stall_s) {
            fprintf(stderr, "  wait on run %lld: no progress for %.0f s (%s)\n", (long long)id,
                    stall_s, sig);
            return NULL;
        }
        usleep(50000);
    }
}
