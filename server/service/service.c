/* service.c — gsimclrd assembled: the store, the job workers, the API and the HTTP server,
 * started in that order and stopped in the reverse one. The only place that knows how the
 * parts are wired: progress from the workers wakes the HTTP server's sleeping event streams. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gs/api.h"
#include "gs/embeddings.h"
#include "gs/http.h"
#include "gs/jobs.h"
#include "gs/service.h"
#include "gs/store.h"

struct Service {
    Store *store;
    Jobs *jobs;
    Api *api;
    /* set once the server runs; the workers' notify wakes it under wake_mu, so a wake never
     * races the server's stop */
    HttpServer *http;
    pthread_mutex_t wake_mu;
    char *token;
    char web_dir[PATH_MAX], examples_dir[PATH_MAX];
    char embeddings_dir[PATH_MAX];
};

void service_config_defaults(ServiceConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen = "127.0.0.1:8470";
    cfg->data_dir = "./var";
    cfg->max_body = 1 << 20;
    cfg->workers = 1;
    cfg->threads = 2;
    cfg->http_threads = 2;
    cfg->keep_checkpoints = 3;
    cfg->max_connections = 8192;
    cfg->max_connections_per_ip = 64;
    cfg->header_timeout_s = 10;
}

static void wake_streams(void *ctx)
{
    Service *s = ctx;
    pthread_mutex_lock(&s->wake_mu);
    if (s->http)
        http_server_wake(s->http);
    pthread_mutex_unlock(&s->wake_mu);
}

/* The token file's first line, without surrounding white space; it must hold at least 16
 * characters, so a typo'd or empty file does not leave the daemon open. */
static char *read_token(const char *path, GsErr *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        gs_errf(err, "token file %s: %s", path, strerror(errno));
        return NULL;
    }
    char line[1024];
    if (!fgets(line, sizeof line, f))
        line[0] = 0;
    fclose(f);
    size_t a = 0, b = strlen(line);
    while (a < b && isspace((unsigned char)line[a]))
        a++;
    while (b > a && isspace((unsigned char)line[b - 1]))
        b--;
    if (b - a < 16) {
        gs_errf(err, "token file %s: the token must be at least 16 characters", path);
        return NULL;
    }
    char *tok = strndup(line + a, b - a);
    if (!tok)
        gs_errf(err, "token file %s: out of memory", path);
    return tok;
}

/* A folder beside the binary's own folder (bin/../name), or name in the working directory
 * when that does not exist. */
static void beside_binary(const char *name, char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char cand[2 * PATH_MAX], real[PATH_MAX];
            snprintf(cand, sizeof cand, "%s/../%s", exe, name);
            if (realpath(cand, real)) {
                snprintf(out, cap, "%s", real);
                return;
            }
        }
    }
    snprintf(out, cap, "%s", name);
}

/* Loopback when the host part of "host:port" is 127.x.x.x, ::1 or localhost. */
static bool listen_is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]", 5) == 0 ||
           strncmp(listen, "localhost:", 10) == 0;
}

int service_start(Service **out, const ServiceConfig *cfg, GsErr *err)
{
    *out = NULL;
    bool loopback = listen_is_loopback(cfg->listen);
    if (!loopback && !cfg->token_file)
        return gs_errf(err, "listening on %s (beyond loopback) needs --token-file",
                       cfg->listen);
    Service *s = calloc(1, sizeof *s);
    if (!s)
        return gs_errf(err, "out of memory");
    pthread_mutex_init(&s->wake_mu, NULL);
    if (cfg->token_file && !(s->token = read_token(cfg->token_file, err)))
        goto fail;
    if (cfg->web_dir)
        snprintf(s->web_dir, sizeof s->web_dir, "%s", cfg->web_dir);
    else
        beside_binary("web", s->web_dir, sizeof s->web_dir);
    if (cfg->examples_dir)
        snprintf(s->examples_dir, sizeof s->examples_dir, "%s", cfg->examples_dir);
    else
        beside_binary("examples", s->examples_dir, sizeof s->examples_dir);

    if (store_open(&s->store, cfg->data_dir, err))
        goto fail;
    /* the eval stage's features live beside the database; what a crash left half-written,
     * or kept of a deleted run, goes before any worker starts */
    snprintf(s->embeddings_dir, sizeof s->embeddings_dir, "%s/embeddings", cfg->data_dir);
    GsErr swept;
    if (embeddings_sweep(s->embeddings_dir, s->store, &swept))
        fprintf(stderr, "gsimclrd: %s\n", swept.msg);
    JobsConfig jc = {.workers = cfg->workers,
                     .threads = cfg->threads,
                     .data_root = cfg->data_root,
                     .cache_dir = cfg->data_dir,
                     .keep_checkpoints = cfg->keep_checkpoints,
                     .embeddings_dir = s->embeddings_dir,
                     .mpirun = cfg->mpirun,
                     .train_exe = cfg->train_exe,
                     .relay_listen = cfg->relay_listen,
                     .relay_host = cfg->relay_host,
                     .relay_silence_s = cfg->relay_timeout_s,
                     .notify = wake_streams,
                     .notify_ctx = s};
    if (jobs_start(&s->jobs, s->store, &jc, err))
        goto fail;
    ApiConfig ac = {.store = s->store,
                    .jobs = s->jobs,
                    .token = s->token,
                    .token_for_reads = !loopback,
                    .data_root = cfg->data_root,
                    .web_dir = s->web_dir,
                    .examples_dir = s->examples_dir,
                    .embeddings_dir = s->embeddings_dir,
                    .cache_dir = cfg->data_dir,
                    .max_threads = cfg->threads,
                    .allow_hosts = cfg->allow_hosts,
                    .n_allow_hosts = cfg->n_allow_hosts,
                    .any_host = !loopback};
    if (api_create(&s->api, &ac, err))
        goto fail;
    HttpConfig hc = {.listen = cfg->listen,
                     .max_body = cfg->max_body,
                     .threads = cfg->http_threads,
                     .handler = api_handle,
                     .ctx = s->api,
                     .max_connections = (unsigned)cfg->max_connections,
                     .max_per_ip = (unsigned)cfg->max_connections_per_ip,
                     .header_timeout_s = cfg->header_timeout_s,
                     .body_timeout_s = cfg->body_timeout_s};
    HttpServer *http;
    if (http_server_start(&http, &hc, err))
        goto fail;
    api_set_http(s->api, http);
    pthread_mutex_lock(&s->wake_mu);
    s->http = http;
    pthread_mutex_unlock(&s->wake_mu);
    *out = s;
    return 0;
fail:
    service_stop(s);
    return -1;
}

int service_port(const Service *s)
{
    return http_server_port(s->http);
}

void service_stop(Service *s)
{
    if (!s)
        return;
    if (s->api)
        api_shutdown(s->api);
    pthread_mutex_lock(&s->wake_mu);
    HttpServer *http = s->http;
    s->http = NULL;
    pthread_mutex_unlock(&s->wake_mu);
    if (http)
        http_server_stop(http);
    jobs_stop(s->jobs);
    if (s->api)
        api_free(s->api);
    if (s->store)
        store_close(s->store);
    free(s->token);
    pthread_mutex_destroy(&s->wake_mu);
    free(s);
}
