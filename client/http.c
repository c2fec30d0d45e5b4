/* http.c — libcurl under the client (see http.h); the only file of the product that includes
 * curl.h. One easy handle per call: the client makes few calls, and a fresh handle carries no
 * state from one to the next. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gs/version.h"
#include "http.h"

enum { SINK_OK, SINK_TOO_LARGE, SINK_OOM, SINK_WRITE, SINK_STOPPED };

typedef struct {
    CURL *h;
    CliResponse *resp;
    FILE *out;          /* download: a 2xx body goes here */
    CliChunkFn fn;      /* stream: a 2xx body goes here */
    void *ctx;
    size_t cap;         /* the most bytes kept in resp->body */
    size_t body_cap;    /* allocated size of resp->body */
    int fail;
} Sink;

int cli_http_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

const char *cli_http_version(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    return v && v->version ? v->version : LIBCURL_VERSION;
}

void cli_http_cleanup(void)
{
    curl_global_cleanup();
}

void cli_response_free(CliResponse *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

char *cli_url_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *copy;
    if (!e)
        return NULL;
    copy = strdup(e);
    curl_free(e);
    return copy;
}

/* Appends to resp->body, keeping it NUL-terminated. */
static int keep(Sink *s, const char *data, size_t n)
{
    CliResponse *r = s->resp;
    if (n > s->cap || r->len > s->cap - n) {
        s->fail = SINK_TOO_LARGE;
        return -1;
    }
    if (r->len + n + 1 > s->body_cap) {
        size_t c = s->body_cap ? s->body_cap : 4096;
        char *nb;
        while (c < r->len + n + 1)
            c *= 2;
        nb = realloc(r->body, c);
        if (!nb) {
            s->fail = SINK_OOM;
            return -1;
        }
        r->body = nb;
        s->body_cap = c;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    Sink *s = userp;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300 && s->out) {
        if (fwrite(data, 1, n, s->out) != n) {
            s->fail = SINK_WRITE;
            return 0;
        }
        s->resp->received += n;
        return n;
    }
    if (code >= 200 && code < 300 && s->fn) {
        s->resp->received += n;
        if (s->fn(s->ctx, data, n)) {
            s->fail = SINK_STOPPED;
            return 0;
        }
        return n;
    }
    return keep(s, data, n) == 0 ? n : 0;
}

/* Whether url names this machine, where a proxy from the environment can only be wrong. */
static bool is_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool lo = false;
    if (!u)
        return false;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
        lo = strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
             strcmp(host, "[::1]") == 0;
    }
    curl_free(host);
    curl_url_cleanup(u);
    return lo;
}

static int classify(CURLcode rc)
{
    switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return CLI_USAGE;
    case CURLE_OUT_OF_MEMORY:
        return CLI_RUN_FAILED;
    default:
        return CLI_UNREACHABLE;
    }
}

typedef enum { MODE_MEMORY, MODE_DOWNLOAD, MODE_STREAM } Mode;

static int perform(const Cli *cli, const char *method, const char *path, const char *body,
                   const char *last_event_id, Mode mode, Sink *sink)
{
    CliResponse *r = sink->resp;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = NULL, *hdr = NULL;
    struct curl_slist *headers = NULL, *tmp;
    CURLcode rc;
    int ret;
    size_t ulen;

    memset(r, 0, sizeof *r);
    ulen = strlen(cli->server) + strlen(path) + 1;
    url = malloc(ulen);
    sink->h = curl_easy_init();
    if (!url || !sink->h) {
        snprintf(r->error, sizeof r->error, "out of memory");
        ret = CLI_RUN_FAILED;
        goto done;
    }
    snprintf(url, ulen, "%s%s", cli->server, path);

#define ADD_HEADER(text)                                                  \
    do {                                                                  \
        tmp = curl_slist_append(headers, (text));                         \
        if (!tmp) {                                                       \
            snprintf(r->error, sizeof r->error, "out of memory");        \
            ret = CLI_RUN_FAILED;                                         \
            goto done;                                                    \
        }                                                                 \
        headers = tmp;                                                    \
    } while (0)

    ADD_HEADER(mode == MODE_STREAM ? "Accept: text/event-stream" : "Accept: */*");
    ADD_HEADER("Expect:");
    if (cli->token) {
        size_t n = strlen(cli->token) + 32;
        hdr = malloc(n);
        if (!hdr) {
            snprintf(r->error, sizeof r->error, "out of memory");
            ret = CLI_RUN_FAILED;
            goto done;
        }
        snprintf(hdr, n, "Authorization: Bearer %s", cli->token);
        ADD_HEADER(hdr);
    }
    if (last_event_id && *last_event_id) {
        char line[200];
        snprintf(line, sizeof line, "Last-Event-ID: %s", last_event_id);
        ADD_HEADER(line);
    }
    if (body)
        ADD_HEADER("Content-Type: application/json");
    else if (strcmp(method, "POST") == 0)
        ADD_HEADER("Content-Type:"); /* no form content type for an empty POST */
#undef ADD_HEADER

    curl_easy_setopt(sink->h, CURLOPT_URL, url);
    curl_easy_setopt(sink->h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(sink->h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(sink->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(sink->h, CURLOPT_USERAGENT, "gsimclr/" GS_VERSION);
    curl_easy_setopt(sink->h, CURLOPT_CONNECTTIMEOUT, CLI_HTTP_CONNECT_S);
    curl_easy_setopt(sink->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(sink->h, CURLOPT_WRITEDATA, sink);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(sink->h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (is_loopback(url))
        curl_easy_setopt(sink->h, CURLOPT_PROXY, "");
    if (mode == MODE_MEMORY) {
        curl_easy_setopt(sink->h, CURLOPT_TIMEOUT, CLI_HTTP_TIMEOUT_S);
    } else {
        curl_easy_setopt(sink->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(sink->h, CURLOPT_LOW_SPEED_TIME,
                         mode == MODE_STREAM ? CLI_STREAM_IDLE_S : 30L);
    }
    if (mode == MODE_STREAM) { /* a proxy or the system must not hold events back */
        curl_easy_setopt(sink->h, CURLOPT_TCP_KEEPALIVE, 1L);
    }
    /* a body goes as POST's does; another method (PATCH) keeps its name over it */
    if (strcmp(method, "POST") == 0 || body) {
        curl_easy_setopt(sink->h, CURLOPT_POST, 1L);
        curl_easy_setopt(sink->h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(sink->h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    }
    if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
        curl_easy_setopt(sink->h, CURLOPT_CUSTOMREQUEST, method);

    rc = curl_easy_perform(sink->h);
    curl_easy_getinfo(sink->h, CURLINFO_RESPONSE_CODE, &r->status);
    {
        char *ctype = NULL;
        if (curl_easy_getinfo(sink->h, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype)
            snprintf(r->content_type, sizeof r->content_type, "%s", ctype);
    }
    if (rc == CURLE_OK) {
        ret = CLI_OK;
    } else if (rc == CURLE_WRITE_ERROR && sink->fail == SINK_STOPPED) {
        r->stopped = true;
        ret = CLI_OK;
    } else if (rc == CURLE_WRITE_ERROR && sink->fail == SINK_TOO_LARGE) {
        snprintf(r->error, sizeof r->error, "the answer from %s is larger than %zu bytes",
                 cli->server, sink->cap);
        ret = CLI_REFUSED;
    } else if (rc == CURLE_WRITE_ERROR && sink->fail == SINK_OOM) {
        snprintf(r->error, sizeof r->error, "out of memory reading the answer");
        ret = CLI_RUN_FAILED;
    } else if (rc == CURLE_WRITE_ERROR && sink->fail == SINK_WRITE) {
        snprintf(r->error, sizeof r->error, "cannot write the downloaded data");
        ret = CLI_RUN_FAILED;
    } else {
        ret = classify(rc);
        if (ret == CLI_USAGE)
            snprintf(r->error, sizeof r->error, "bad server URL '%s': %s", cli->server,
                     errbuf[0] ? errbuf : curl_easy_strerror(rc));
        else if (r->status && mode == MODE_STREAM)
            snprintf(r->error, sizeof r->error, "the event stream from %s broke off: %s",
                     cli->server, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        else
            snprintf(r->error, sizeof r->error, "cannot reach %s: %s", cli->server,
                     errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
done:
    if (ret != CLI_OK)
        cli_response_free(r);
    if (sink->h)
        curl_easy_cleanup(sink->h);
    curl_slist_free_all(headers);
    free(hdr);
    free(url);
    return ret;
}

int cli_http_request(const Cli *cli, const char *method, const char *path, const char *body,
                     CliResponse *resp)
{
    Sink s = {.resp = resp, .cap = CLI_HTTP_MAX_BODY};
    return perform(cli, method, path, body, NULL, MODE_MEMORY, &s);
}

int cli_http_download(const Cli *cli, const char *path, FILE *out, CliResponse *resp)
{
    Sink s = {.resp = resp, .out = out, .cap = CLI_HTTP_MAX_ERROR};
    return perform(cli, "GET", path, NULL, NULL, MODE_DOWNLOAD, &s);
}

int cli_http_stream(const Cli *cli, const char *path, const char *last_event_id,
                    CliChunkFn fn, void *ctx, CliResponse *resp)
{
    Sink s = {.resp = resp, .fn = fn, .ctx = ctx, .cap = CLI_HTTP_MAX_ERROR};
    return perform(cli, "GET", path, NULL, last_event_id, MODE_STREAM, &s);
}
