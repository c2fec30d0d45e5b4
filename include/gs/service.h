/* service.h — gsimclrd as one object: opens the store, starts the job workers, the API and
 * the HTTP server, and stops them in the right order. main.c parses options into a
 * ServiceConfig; the tests start the same service in-process on port 0. */
#ifndef GS_SERVICE_H
#define GS_SERVICE_H

#include <stddef.h>

#include "gs/err.h"

typedef struct Service Service;

typedef struct {
    const char *listen;         /* default "127.0.0.1:8470" */
    const char *data_dir;       /* the database folder; default "./var" */
    const char *data_root;      /* dataset folders must lie under it; NULL = anywhere */
    const char *token_file;     /* bearer token file; NULL = none (refused beyond loopback) */
    const char *web_dir;        /* default: web/ beside the binary's bin/ folder */
    const char *examples_dir;   /* default: examples/ likewise */
    const char *const *allow_hosts;
    int n_allow_hosts;
    size_t max_body;            /* default 1 MiB */
    int workers;                /* default 1 */
    int threads;                /* per run; default 2 */
    int http_threads;           /* default 2 */
    int keep_checkpoints;       /* per run and stage; default 3 */
    int max_connections;        /* HTTP connections open at once; default 8192 */
    int max_connections_per_ip; /* from one address; default 64, 0 = no limit */
    int header_timeout_s;       /* a request's headers in within this; default 10 */
    int body_timeout_s;         /* its body within this after them; 0 (default): 30 plus 1
                                 * per 64 KiB of max_body */
    /* runs of several processes (jobs.h): NULL / 0 for the defaults */
    const char *mpirun, *train_exe, *relay_listen, *relay_host;
    int relay_timeout_s;
} ServiceConfig;

void service_config_defaults(ServiceConfig *cfg);
int service_start(Service **out, const ServiceConfig *cfg, GsErr *err);
int service_port(const Service *s);
/* Stops taking requests, stops running jobs (they go back to the queue with their last
 * checkpoint, to resume at the next start), closes everything. */
void service_stop(Service *s);

#endif
