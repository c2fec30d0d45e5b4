/* service_stubs.c — what the API calls outside itself, for the harnesses that drive api_handle
 * without a socket: http.h's per-request helpers (http.c answers them from a libmicrohttpd
 * connection, which a fuzz input does not have) and jobs.h's queue as a queue no worker
 * serves, so nothing trains while requests are fuzzed. Linked instead of http.c and jobs.c;
 * http_response_header keeps http.h's contract word for word, since handlers rely on it. */
#include <string.h>
#include <strings.h>

#include "api_harness.h"
#include "gs/jobs.h"

/* ---- http.h ------------------------------------------------------------------------------ */

const char *http_query(const HttpRequest *rq, const char *key)
{
    const FuzzQuery *q = rq->conn_;
    for (int i = 0; q && i < q->n; i++)
        if (strcmp(q->key[i], key) == 0)
            return q->value[i];
    return NULL;
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

/* The API reaches these only through api_set_http, which the harness never calls. */
void http_server_wake(HttpServer *s)
{
    (void)s;
}

void http_server_stats(const HttpServer *s, HttpStats *out)
{
    (void)s;
    memset(out, 0, sizeof *out);
}

/* ---- jobs.h ------------------------------------------------------------------------------ */

struct Jobs {
    uint64_t version;
    int64_t running;
    StageProgress live;
};

static Jobs g_jobs;

Jobs *fuzz_jobs_create(int64_t running, const StageProgress *live)
{
    memset(&g_jobs, 0, sizeof g_jobs);
    g_jobs.running = running;
    if (live)
        g_jobs.live = *live;
    return &g_jobs;
}

void fuzz_jobs_free(Jobs *j)
{
    (void)j;
}

void jobs_submitted(Jobs *j)
{
    j->version++;
}

void jobs_cancel(Jobs *j, int64_t id)
{
    if (id == j->running)
        j->version++;
}

bool jobs_live(Jobs *j, int64_t id, StageProgress *p)
{
    if (!j->running || id != j->running)
        return false;
    *p = j->live;
    return true;
}

uint64_t jobs_version(Jobs *j)
{
    return j->version;
}

void jobs_stats(Jobs *j, JobsStats *out)
{
    memset(out, 0, sizeof *out);
    out->busy = j->running != 0;
    out->images_per_s = j->running ? j->live.items_per_s : 0;
}
