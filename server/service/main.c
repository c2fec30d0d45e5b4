/* main.c — gsimclrd's entry point. `--run CONFIG.json` runs one job in the foreground
 * without HTTP: it loads the dataset, runs the pipeline, prints progress on stderr and ends
 * with one JSON line of results on stdout. Otherwise it parses the service options, starts
 * the service (service.c) and waits for SIGINT/SIGTERM to stop it cleanly. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gs/checkpoint.h"
#include "gs/comm.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/pipeline.h"
#include "gs/service.h"
#include "relay.h"

static atomic_int g_cancel;

static void on_signal(int sig)
{
    (void)sig;
    g_cancel = 1;
}

typedef struct {
    const char *ckpt_path; /* where checkpoints go, or NULL */
    const char *features_path; /* where eval's features go, or NULL */
    double last_print;
    int last_stage, last_epoch;
    bool tty;
} RunCtx;

static void on_progress(void *ctx, const StageProgress *p)
{
    RunCtx *c = ctx;
    /* a terminal gets one line redrawn in place; a pipe gets a line per epoch */
    if (!c->tty && p->stage == c->last_stage && p->epoch == c->last_epoch)
        return;
    c->last_stage = p->stage;
    c->last_epoch = p->epoch;
    fprintf(stderr, "%s%-6s epoch %d/%d step %ld/%ld loss %.4f %.0f img/s eta %.0fs%s",
            c->tty ? "\r" : "", STAGE_NAMES[p->stage], p->epoch, p->epochs, p->step, p->steps,
            p->loss, p->items_per_s, isfinite(p->eta_s) ? p->eta_s : 0.0, c->tty ? "" : "\n");
}

static void on_log(void *ctx, int stage, int epoch, const char *line)
{
    RunCtx *c = ctx;
    (void)stage;
    (void)epoch;
    fprintf(stderr, "%s%s\n", c->tty ? "\r\033[K" : "", line);
}

static int on_checkpoint(void *ctx, int stage, int epoch, long step, const void *data,
                         size_t len)
{
    RunCtx *c = ctx;
    GsErr err;
    (void)stage;
    (void)epoch;
    (void)step;
    if (!c->ckpt_path)
        return 0;
    if (ckpt_write_file(c->ckpt_path, data, len, &err)) {
        fprintf(stderr, "gsimclrd: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* --features FILE: the eval stage's backbone features, for outside references
 * (bench/probe-ref): "GSFEATS1", int32 d, n_train, n_test, then float32 train (n_train x d),
 * int32 train labels, float32 test (n_test x d), int32 test labels, in host byte order.
 * Written to FILE.tmp and renamed, so FILE is whole or absent. */
static int on_features(void *ctx, int d, const float *train, const int32_t *train_labels,
                       int n_train, const float *test, const int32_t *test_labels, int n_test)
{
    RunCtx *c = ctx;
    char tmp[4096];
    if (!c->features_path)
        return 0;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", c->features_path) >= (int)sizeof tmp) {
        fprintf(stderr, "gsimclrd: --features path too long\n");
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "gsimclrd: %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    const int32_t head[3] = {d, n_train, n_test};
    bool ok = fwrite("GSFEATS1", 1, 8, f) == 8 && fwrite(head, sizeof head, 1, f) == 1 &&
              fwrite(train, sizeof *train * d, (size_t)n_train, f) == (size_t)n_train &&
              fwrite(train_labels, sizeof *train_labels, (size_t)n_train, f) == (size_t)n_train &&
              fwrite(test, sizeof *test * d, (size_t)n_test, f) == (size_t)n_test &&
              fwrite(test_labels, sizeof *test_labels, (size_t)n_test, f) == (size_t)n_test;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, c->features_path) != 0) {
        fprintf(stderr, "gsimclrd: writing %s: %s\n", c->features_path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: gsimclrd [OPTIONS]              the HTTP service (docs/API.md)\n"
            "       gsimclrd --mpi-worker ADDR     one process of a run the daemon launched\n"
            "       gsimclrd --run CONFIG.json [--checkpoint FILE [--resume]] [--features FILE]\n"
            "                [--data-root DIR]\n"
            "       gsimclrd --status\n"
            "service options:\n"
            "  --listen HOST:PORT    address to serve (default 127.0.0.1:8470; port 0 = any)\n"
            "  --data-dir DIR        the database folder (default ./var)\n"
            "  --data-root DIR       dataset folders are relative to DIR and must lie in it\n"
            "  --token-file FILE     bearer token for mutating calls (and for every call when\n"
            "                        listening beyond loopback, where it is required)\n"
            "  --allow-host NAME     accept this Host header too (repeatable, up to 8)\n"
            "  --max-body BYTES      largest request body (default 1048576)\n"
            "  --workers N           runs trained at once (default 1)\n"
            "  --threads T           threads per run (default 2); keep N x T <= cores\n"
            "  --http-threads N      HTTP polling threads (default 2)\n"
            "  --max-connections N   HTTP connections open at once (default 8192; fewer when\n"
            "                        the open-file limit is lower)\n"
            "  --max-connections-per-ip N  from one client address (default 64; 0 = no\n"
            "                        limit, e.g. behind a proxy on the same host)\n"
            "  --header-timeout S    a request's headers must be in within S seconds of the\n"
            "                        connection opening or of the previous answer (default 10)\n"
            "  --body-timeout S      its body within S seconds after them (default 30 plus 1\n"
            "                        per 64 KiB of --max-body)\n"
            "  --keep-checkpoints N  newest checkpoints kept per run and stage (default 3)\n"
            "  --web-dir DIR         the web page's folder (default: web/ beside bin/)\n"
            "runs of several processes (config \"processes\" > 1; README: several machines):\n"
            "  --mpirun \"WORDS\"      the launcher, split on blanks, run as WORDS -np P EXE\n"
            "                        --mpi-worker ADDR (default: mpirun on this host only,\n"
            "                        over loopback, --bind-to none; --allow-run-as-root as\n"
            "                        root, --oversubscribe when P > cores)\n"
            "  --train-exe PATH      the executable every process runs (default: this one;\n"
            "                        the same path on every host)\n"
            "  --relay-listen HOST[:PORT]  where the daemon listens for rank 0 (default\n"
            "                        127.0.0.1, any port; a PORT is used plus the worker's\n"
            "                        index 0..N-1)\n"
            "  --relay-host NAME     the name rank 0 reaches it by (default: the listen host,\n"
            "                        or this host's name when that is 0.0.0.0)\n"
            "  --relay-timeout S     silence of rank 0 (no heartbeat) that ends the attempt\n"
            "                        as a lost process (default 60)\n"
            "one job in the foreground (no HTTP):\n"
            "  --run CONFIG.json     run one job; last stdout line: the results as JSON\n"
            "  --checkpoint FILE     store each checkpoint in FILE (atomically replaced)\n"
            "  --resume              continue from FILE (given with --checkpoint) if it exists\n"
            "  --features FILE       write the backbone features eval reads (bench/probe-ref)\n"
            "SIGINT/SIGTERM: stop taking requests, stop running jobs at their next step (they\n"
            "resume from their newest checkpoint at the next start) and exit 0.\n");
    return 2;
}

/* An integer option within lo..hi (lo >= 0), or -1. */
static long parse_count(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (errno || end == s || *end || v < lo || v > hi) ? -1 : v;
}

static int serve(const ServiceConfig *cfg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* every thread started from here on inherits the mask; only sigwait below sees them */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    Service *svc;
    GsErr err;
    if (service_start(&svc, cfg, &err)) {
        fprintf(stderr, "gsimclrd: %s\n", err.msg);
        return 1;
    }
    const char *colon = strrchr(cfg->listen, ':');
    int host_len = colon ? (int)(colon - cfg->listen) : (int)strlen(cfg->listen);
    fprintf(stderr, "gsimclrd: listening on http://%.*s:%d\n", host_len, cfg->listen,
            service_port(svc));
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "gsimclrd: %s: stopping (running jobs resume at the next start)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    service_stop(svc);
    fprintf(stderr, "gsimclrd: stopped\n");
    return 0;
}

/* Under mpirun (comm a group of P > 1) every process runs this with the same arguments:
 * each loads the data and reads the resume file itself; only rank 0 prints and writes
 * files (the pipeline calls the sink on rank 0 only). */
static int run_job(const Comm *comm, const char *config_path, const char *ckpt_path,
                   bool resume, const char *features_path, const char *data_root,
                   const char *cache_dir)
{
    const bool talk = comm_rank(comm) == 0;
    RunConfig cfg;
    GsErr err;
    Dataset train, test;
    RunResult res;
    size_t resume_len = 0;
    uint8_t *resume_buf = NULL;
    int rc = 1;

    /* a failure before the pipeline is this process's own: it says so with its rank (and
     * mpirun ends the others when it exits) */
    if (run_config_load_file(&cfg, config_path, &err) ||
        pipeline_load_data(&cfg, data_root, cache_dir, &train, &test, &err)) {
        fprintf(stderr, "gsimclrd: %s\n", err.msg);
        if (comm_size(comm) > 1)
            comm_mpi_abort(comm, 1); /* the others would wait for it forever */
        return 1;
    }
    if (resume && ckpt_path && access(ckpt_path, F_OK) == 0 &&
        ckpt_read_file(ckpt_path, &resume_buf, &resume_len, &err)) {
        fprintf(stderr, "gsimclrd: %s\n", err.msg);
        if (comm_size(comm) > 1)
            comm_mpi_abort(comm, 1);
        goto done;
    }
    RunCtx ctx = {.ckpt_path = ckpt_path,
                  .features_path = features_path,
                  .last_stage = -1,
                  .tty = isatty(2)};
    Sink sink = {.progress = on_progress,
                 .checkpoint = on_checkpoint,
                 .features = on_features,
                 .log = on_log,
                 .ctx = &ctx,
                 .cancel = &g_cancel,
                 .comm = comm};
    if (talk && comm_size(comm) > 1)
        fprintf(stderr, "gsimclrd: %s on %s: %d train, %d test images, %d processes x %d "
                "threads\n", run_config_method_name(cfg.method), cfg.dataset, train.n, test.n,
                comm_size(comm), cfg.threads);
    else if (talk)
        fprintf(stderr, "gsimclrd: %s on %s: %d train, %d test images, %d threads\n",
                run_config_method_name(cfg.method), cfg.dataset, train.n, test.n,
                cfg.threads);
    if (pipeline_run(&cfg, &train, &test, &sink, resume_buf, resume_len, &res, &err)) {
        /* every process of a group returns the same status: rank 0 says it */
        if (talk)
            fprintf(stderr, "%sgsimclrd: failed: %s\n", ctx.tty ? "\n" : "", err.msg);
        goto done;
    }
    char *out = run_result_to_json(&res);
    if (ctx.tty && talk)
        fputc('\n', stderr);
    if (out && talk)
        printf("%s\n", out);
    free(out);
    run_result_free(&res);
    rc = out ? 0 : 1;
done:
    free(resume_buf);
    dataset_free(&train);
    dataset_free(&test);
    return rc;
}

int main(int argc, char **argv)
{
    /* started by mpirun: MPI first, before anything reads argv (it may add its own) */
    const Comm *comm = comm_self();
    if (comm_mpi_launched()) {
        GsErr merr;
        if (!(comm = comm_mpi_start(&argc, &argv, &merr))) {
            fprintf(stderr, "gsimclrd: %s\n", merr.msg);
            return 1;
        }
    }
    const char *config = NULL, *ckpt = NULL, *features = NULL, *data_root = NULL;
    const char *hosts[8];
    bool resume = false, data_dir_given = false;
    ServiceConfig sc;
    service_config_defaults(&sc);
    sc.allow_hosts = hosts;
    /* one process of a multi-process run, started by the daemon's launcher under mpirun
     * (alone, without mpirun, a group of one) */
    if (argc == 3 && strcmp(argv[1], "--mpi-worker") == 0)
        return mpi_worker_main(comm, argv[2]);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        if (strcmp(a, "--status") == 0) {
            printf("gsimclrd: built: nn core, dataset readers, augmentations, the pipeline\n"
                   "          stages (dae, kmeans, simclr, eval), the HTTP service (SQLite\n"
                   "          store, job queue, API, event streams).\n");
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if (strcmp(a, "--resume") == 0) {
            resume = true;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--run") == 0)
            config = v;
        else if (strcmp(a, "--checkpoint") == 0)
            ckpt = v;
        else if (strcmp(a, "--features") == 0)
            features = v;
        else if (strcmp(a, "--data-root") == 0)
            data_root = sc.data_root = v;
        else if (strcmp(a, "--listen") == 0)
            sc.listen = v;
        else if (strcmp(a, "--data-dir") == 0)
            sc.data_dir = v, data_dir_given = true;
        else if (strcmp(a, "--token-file") == 0)
            sc.token_file = v;
        else if (strcmp(a, "--web-dir") == 0)
            sc.web_dir = v;
        else if (strcmp(a, "--mpirun") == 0)
            sc.mpirun = v;
        else if (strcmp(a, "--train-exe") == 0)
            sc.train_exe = v;
        else if (strcmp(a, "--relay-listen") == 0)
            sc.relay_listen = v;
        else if (strcmp(a, "--relay-host") == 0)
            sc.relay_host = v;
        else if (strcmp(a, "--relay-timeout") == 0 && (n = parse_count(v, 5, 86400)) > 0)
            sc.relay_timeout_s = (int)n;
        else if (strcmp(a, "--allow-host") == 0 && sc.n_allow_hosts < 8)
            hosts[sc.n_allow_hosts++] = v;
        else if (strcmp(a, "--max-body") == 0 && (n = parse_count(v, 1024, 1L << 30)) > 0)
            sc.max_body = (size_t)n;
        else if (strcmp(a, "--workers") == 0 && (n = parse_count(v, 1, 64)) > 0)
            sc.workers = (int)n;
        else if (strcmp(a, "--threads") == 0 && (n = parse_count(v, 1, 64)) > 0)
            sc.threads = (int)n;
        else if (strcmp(a, "--http-threads") == 0 && (n = parse_count(v, 1, 64)) > 0)
            sc.http_threads = (int)n;
        else if (strcmp(a, "--keep-checkpoints") == 0 && (n = parse_count(v, 1, 100)) > 0)
            sc.keep_checkpoints = (int)n;
        else if (strcmp(a, "--max-connections") == 0 && (n = parse_count(v, 16, 1L << 20)) > 0)
            sc.max_connections = (int)n;
        else if (strcmp(a, "--max-connections-per-ip") == 0 &&
                 (n = parse_count(v, 0, 1L << 20)) >= 0)
            sc.max_connections_per_ip = (int)n;
        else if (strcmp(a, "--header-timeout") == 0 && (n = parse_count(v, 1, 3600)) > 0)
            sc.header_timeout_s = (int)n;
        else if (strcmp(a, "--body-timeout") == 0 && (n = parse_count(v, 1, 86400)) > 0)
            sc.body_timeout_s = (int)n;
        else {
            fprintf(stderr, "gsimclrd: bad option or value: %s %s\n", a, v);
            return usage();
        }
    }
    if (!config)
        return serve(&sc);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* a --run keeps its decoded image-folder cache only where --data-dir says */
    int rc = run_job(comm, config, ckpt, resume, features, data_root,
                     data_dir_given ? sc.data_dir : NULL);
    if (comm != comm_self())
        comm_mpi_finish(comm);
    return rc;
}
