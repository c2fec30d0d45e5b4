/* mpi_worker.c — `gsimclrd --mpi-worker HOST:PORT/TOKEN`, each process of a run the daemon
 * launched (launch.h). Rank 0 connects to the daemon's relay, says the token and receives the
 * job, which it broadcasts to every rank; every rank loads the data and runs the pipeline
 * with the group in its sink; rank 0's sink is the relay (the daemon's cancel, or the
 * connection closing, raises its cancel flag, which the pipeline shares with every rank), and
 * rank 0 sends the result or the error last. */
#define _DEFAULT_SOURCE /* gethostname */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"
#include "gs/comm.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/pipeline.h"

enum { TEXT = 600 };

/* Tests find the ranks' processes here: GS_MPI_PID_DIR/rank-N.pid. */
static void write_pid(int rank)
{
    const char *dir = getenv("GS_MPI_PID_DIR");
    char path[4096];
    if (!dir || snprintf(path, sizeof path, "%s/rank-%d.pid", dir, rank) >= (int)sizeof path)
        return;
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
}

/* Every rank's text (TEXT bytes each; empty: nothing to say) to every rank: the first
 * non-empty one into first (with its rank), or false when all are empty. */
static bool gather_text(const Comm *c, const char *mine, char *all, char *first, size_t cap,
                        GsErr *err)
{
    char me[TEXT] = {0};
    snprintf(me, sizeof me, "%s", mine ? mine : "");
    if (comm_gather_all(c, me, TEXT, all, err)) {
        snprintf(first, cap, "%s", err->msg);
        return true;
    }
    for (int r = 0; r < comm_size(c); r++)
        if (all[(size_t)r * TEXT]) {
            if (r == 0)
                snprintf(first, cap, "%.*s", TEXT, all);
            else
                snprintf(first, cap, "rank %d: %.*s", r, TEXT, all + (size_t)r * TEXT);
            return true;
        }
    return false;
}

/* Ends the group at once (a process that cannot go on), or, alone, just returns. */
static void give_up(const Comm *world)
{
    if (world != comm_self())
        comm_mpi_abort(world, 1);
}

int mpi_worker_main(const Comm *world, const char *addr)
{
    GsErr err;
    int rank = comm_rank(world), size = comm_size(world);
    write_pid(rank);
    RelayClient *rc = NULL;
    uint8_t *job = NULL;
    size_t job_len = 0;
    uint64_t n = 0;
    if (rank == 0) {
        if (relay_client_connect(&rc, addr, &job, &job_len, &err))
            fprintf(stderr, "gsimclrd --mpi-worker: %s\n", err.msg);
        else
            n = job_len;
    }
    if (comm_broadcast(world, &n, sizeof n, 0, &err) || n == 0) {
        relay_client_close(rc);
        free(job);
        give_up(world);
        return 1;
    }
    if (rank != 0 && !(job = malloc(n))) {
        fprintf(stderr, "gsimclrd --mpi-worker: rank %d: out of memory\n", rank);
        give_up(world);
        return 1;
    }
    if (comm_broadcast(world, job, n, 0, &err)) {
        fprintf(stderr, "gsimclrd --mpi-worker: rank %d: %s\n", rank, err.msg);
        give_up(world);
        return 1;
    }

    /* the job, the configuration and the data: every rank says whether it has them */
    RelayJob j = {0};
    RunConfig cfg;
    Dataset train = {0}, test = {0};
    bool have_data = false;
    char problem[TEXT] = "";
    if (relay_get_job(job, n, &j, &err) ||
        run_config_parse(&cfg, j.config_json, strlen(j.config_json), &err))
        snprintf(problem, sizeof problem, "%s", err.msg);
    else if (cfg.processes != size)
        snprintf(problem, sizeof problem,
                 "the run asks for %d processes and the launcher started %d", cfg.processes,
                 size);
    else if (pipeline_load_data(&cfg, *j.data_root ? j.data_root : NULL,
                                *j.cache_dir ? j.cache_dir : NULL, &train, &test, &err))
        snprintf(problem, sizeof problem, "%s", err.msg);
    else
        have_data = true;
    char *all = calloc((size_t)size, TEXT);
    char first[2 * TEXT];
    int code = 0;
    if (!all) {
        fprintf(stderr, "gsimclrd --mpi-worker: rank %d: out of memory\n", rank);
        give_up(world);
        return 1;
    }
    if (gather_text(world, problem, all, first, sizeof first, &err)) {
        if (rank == 0)
            relay_client_error(rc, first, &err);
        code = 1;
        goto done;
    }
    /* where each process runs, for the run's page */
    char host[TEXT] = {0};
    gethostname(host, sizeof host - 1);
    if (comm_gather_all(world, host, TEXT, all, &err)) {
        if (rank == 0)
            relay_client_error(rc, err.msg, &err);
        code = 1;
        goto done;
    }
    if (rank == 0) {
        const char *hosts[64];
        for (int r = 0; r < size && r < 64; r++) {
            all[(size_t)r * TEXT + TEXT - 1] = 0;
            hosts[r] = all + (size_t)r * TEXT;
        }
        relay_client_hosts(rc, hosts, size < 64 ? size : 64, &err);
    }

    static atomic_int never;
    Sink sink = rank == 0 ? relay_client_sink(rc) : (Sink){.cancel = &never};
    sink.comm = world;
    RunResult res;
    if (pipeline_run(&cfg, &train, &test, &sink, j.has_resume ? j.resume : NULL,
                     j.resume_len, &res, &err) == 0) {
        if (rank == 0)
            relay_client_result(rc, &res, &err);
        run_result_free(&res);
    } else {
        if (rank == 0)
            relay_client_error(rc, err.msg, &err);
        code = 1;
    }
done:
    free(all);
    if (have_data) {
        dataset_free(&train);
        dataset_free(&test);
    }
    relay_client_close(rc);
    free(job);
    if (world != comm_self())
        comm_mpi_finish(world);
    return code;
}
