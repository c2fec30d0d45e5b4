/* api_reply.c — the answers every route gives through (api_reply.h): error objects, JSON and
 * raw bodies, JSON values, and the parsing of path ids and query integers. It must not know
 * the Api object, the store's contents or any route: handlers above it decide, this writes. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_reply.h"
#include "gs/store.h"

/* ---- answers -------------------------------------------------------------------------- */

void api_reply_body(HttpResponse *resp, int status, const char *content_type, char *body,
                    size_t len)
{
    resp->status = status;
    resp->content_type = content_type;
    resp->body = body;
    resp->body_len = body ? len : 0;
}

/* The last resort when even an error object cannot be built. */
static void reply_oom(HttpResponse *resp)
{
    static const char text[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    char *body = malloc(sizeof text);
    if (body)
        memcpy(body, text, sizeof text);
    api_reply_body(resp, 500, NULL, body, body ? sizeof text - 1 : 0);
}

void api_reply_json(HttpResponse *resp, int status, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        reply_oom(resp);
        return;
    }
    api_reply_body(resp, status, NULL, text, strlen(text));
}

void api_error(HttpResponse *resp, int status, const char *code, const char *field,
               const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a request is answered once: an earlier body (a half-built answer) is dropped */
    free(resp->body);
    resp->body = NULL;
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    if (field)
        cJSON_AddStringToObject(e, "field", field);
    api_reply_json(resp, status, root);
}

void api_store_error(HttpResponse *resp, const char *what, const GsErr *err)
{
    api_error(resp, 500, "internal", NULL, "%s: %s", what, err ? err->msg : "failed");
}

void api_run_lookup_error(HttpResponse *resp, int rc, int64_t id, const char *what,
                          const GsErr *err)
{
    if (rc == STORE_NOT_FOUND)
        api_error(resp, 404, "not_found", NULL, "no run %lld", (long long)id);
    else
        api_store_error(resp, what, err);
}

/* A path is percent-decoded: "%ff" is a byte, so it is shown as "?". */
const char *api_shown(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++)
        out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (o + 4 >= cap && n > o) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
    return out;
}

/* ---- JSON values ---------------------------------------------------------------------- */

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double api_mono(void)
{
    return clock_seconds(CLOCK_MONOTONIC);
}

double api_wall(void)
{
    return clock_seconds(CLOCK_REALTIME);
}

cJSON *api_num(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

void api_add_num(cJSON *obj, const char *name, double v)
{
    cJSON_AddItemToObject(obj, name, api_num(v));
}

void api_add_id(cJSON *obj, const char *name, int64_t id)
{
    cJSON_AddItemToObject(obj, name, cJSON_CreateNumber((double)id));
}

void api_time_text(double t, char out[32])
{
    /* to the millisecond: a fast run's metrics a few ms apart stay apart on a wall-time axis */
    double whole = floor(t);
    double frac = (t - whole) * 1000.0;
    unsigned ms = frac >= 999.0 ? 999u : frac > 0 ? (unsigned)frac : 0u;
    time_t secs = (time_t)whole;
    struct tm tm;
    size_t n;
    if (!gmtime_r(&secs, &tm) || (n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm)) == 0 || n > 26) {
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
        return;
    }
    out[n] = '.';
    out[n + 1] = (char)('0' + ms / 100);
    out[n + 2] = (char)('0' + ms / 10 % 10);
    out[n + 3] = (char)('0' + ms % 10);
    out[n + 4] = 'Z';
    out[n + 5] = '\0';
}

void api_add_time(cJSON *obj, const char *name, double t)
{
    char buf[32];
    if (!isfinite(t) || t <= 0 || t > 253402300799.0) { /* after 9999-12-31: not a time */
        cJSON_AddNullToObject(obj, name);
        return;
    }
    api_time_text(t, buf);
    cJSON_AddStringToObject(obj, name, buf);
}

/* ---- parsing -------------------------------------------------------------------------- */

bool api_parse_uint(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool api_parse_id(const char *s, size_t len, int64_t *out)
{
    return api_parse_uint(s, len, out) && *out > 0;
}

bool api_parse_segment(const char *s, size_t len, int64_t *out)
{
    (void)s;
    *out = (int64_t)len;
    return len > 0;
}

bool api_query_int(const HttpRequest *rq, HttpResponse *resp, const char *key, long lo,
                   long hi, long def, long *out)
{
    const char *v = http_query(rq, key);
    char *end;
    if (!v) {
        *out = def;
        return true;
    }
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi || v[0] == ' ' || v[0] == '+') {
        api_error(resp, 400, "bad_request", key, "%s: must be an integer in %ld..%ld", key,
                  lo, hi);
        return false;
    }
    *out = x;
    return true;
}

bool api_is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    ct += sizeof want - 1;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == 0 || *ct == ';';
}

void api_store_full(HttpResponse *resp)
{
    api_error(resp, 507, "insufficient_storage", NULL,
              "the daemon's store cannot write: database or disk is full; free space on the "
              "disk of its data folder and submit again");
}
