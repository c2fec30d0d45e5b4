/* fuzz_http.c — libFuzzer target `http`: the daemon's request path below the socket. Each
 * input is up to eight requests in HTTP/1.1's text form, separated by a line "%%":
 *
 *     [@token | @token-reads]          (first line, optional: the daemon's access, api_harness.h)
 *     METHOD TARGET[ VERSION]
 *     Name: value                      (Host, Authorization, Content-Type, Last-Event-ID, Accept)
 *
 *     body
 *
 * decoded as libmicrohttpd would hand them to http.c: the path percent-decoded without its
 * query, the query split into arguments ('+' is a space, the first of a key wins), header
 * names matched in any case. What http.c refuses itself before the handler (a NUL byte or %00
 * in the URL or a header, two Host headers) is skipped here too, so the handler sees only what
 * it would see in the daemon. Then api_handle runs it over the seeded store (api_harness.c),
 * which checks every answer. http.c's own header-section check walks libmicrohttpd's parse
 * buffer, so it cannot run without a libmicrohttpd connection; tests/test_http.c covers it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "api_harness.h"

#define MAX_REQUESTS 8

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_api_init();
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX in place (and '+' when plus); an incomplete escape stays as it is. */
static void unescape(char *s, bool plus)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int hi, lo;
        if (*r == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = plus && *r == '+' ? ' ' : *r;
        }
    }
    *w = 0;
}

/* One request of the input, [p, end): decoded and run, unless http.c would refuse it. */
static void one_request(int variant, char *p, char *end)
{
    /* the header section ends at the first empty line; the body is the rest */
    char *body = end, *hdr_end = end;
    for (char *s = p; s < end; s++)
        if (*s == '\n' && s + 1 < end && s[1] == '\n') {
            hdr_end = s;
            body = s + 2;
            break;
        }
    size_t body_len = (size_t)(end - body);
    /* a NUL byte anywhere in the header section: http.c answers 400 itself */
    if (memchr(p, 0, (size_t)(hdr_end - p)))
        return;
    *hdr_end = 0;

    char *line_end = strchr(p, '\n');
    if (line_end)
        *line_end = 0;
    char *method = p, *target = strchr(p, ' ');
    if (!target || target == method)
        return;
    *target++ = 0;
    char *version = strrchr(target, ' ');
    if (version && version != target)
        *version = 0;
    if (strstr(target, "%00"))
        return;

    HttpRequest rq;
    FuzzQuery q;
    memset(&rq, 0, sizeof rq);
    memset(&q, 0, sizeof q);
    char *query = strchr(target, '?');
    if (query) {
        *query++ = 0;
        for (char *arg = query; arg && *arg && q.n < FUZZ_MAX_QUERY;) {
            char *next = strchr(arg, '&');
            if (next)
                *next++ = 0;
            char *eq = strchr(arg, '=');
            if (eq)
                *eq++ = 0;
            unescape(arg, true);
            if (eq)
                unescape(eq, true);
            bool seen = false;
            for (int i = 0; i < q.n; i++)
                seen |= strcmp(q.key[i], arg) == 0;
            if (!seen) {
                q.key[q.n] = arg;
                q.value[q.n++] = eq;
            }
            arg = next;
        }
    }
    unescape(target, false);
    rq.method = method;
    rq.path = target;

    int hosts = 0;
    for (char *line = line_end ? line_end + 1 : NULL; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t n = strlen(v);
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
                v[--n] = 0;
            static const struct {
                const char *name;
                size_t offset;
            } known[] = {
                {"Host", offsetof(HttpRequest, host)},
                {"Authorization", offsetof(HttpRequest, authorization)},
                {"Content-Type", offsetof(HttpRequest, content_type)},
                {"Last-Event-ID", offsetof(HttpRequest, last_event_id)},
                {"Accept", offsetof(HttpRequest, accept)},
            };
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
                if (strcasecmp(line, known[k].name) != 0)
                    continue;
                const char **slot = (const char **)((char *)&rq + known[k].offset);
                if (!*slot)
                    *slot = v; /* libmicrohttpd's lookup gives the first */
                hosts += k == 0;
            }
        }
        line = next;
    }
    if (hosts > 1)
        return;

    /* the body as http.c hands it over: a NUL-terminated copy */
    char *copy = malloc(body_len + 1);
    if (!copy)
        return;
    memcpy(copy, body, body_len);
    copy[body_len] = 0;
    rq.body = copy;
    rq.body_len = body_len;
    fuzz_api_request(variant, &rq, &q);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_api_begin();
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    char *p = buf, *end = buf + size;
    int variant = FUZZ_API_OPEN;
    if (size >= 1 && p[0] == '@') {
        char *nl = memchr(p, '\n', size);
        size_t n = nl ? (size_t)(nl - p) : size;
        if (n == 12 && memcmp(p, "@token-reads", 12) == 0)
            variant = FUZZ_API_TOKEN_READS;
        else if (n == 6 && memcmp(p, "@token", 6) == 0)
            variant = FUZZ_API_TOKEN;
        p = nl ? nl + 1 : end;
    }
    for (int r = 0; r < MAX_REQUESTS && p < end; r++) {
        char *sep = NULL;
        for (char *s = p; s + 3 < end; s++)
            if (s[0] == '\n' && s[1] == '%' && s[2] == '%' && s[3] == '\n') {
                sep = s;
                break;
            }
        char *stop = sep ? sep : end;
        one_request(variant, p, stop);
        p = sep ? sep + 4 : end;
    }
    free(buf);
    return 0;
}
