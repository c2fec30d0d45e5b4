/* bench_dist — the SimCLR stage's throughput on a process group (run alone, or under mpirun;
 * bench/bench_dist.sh runs both): the run's default encoder and augmentations, method simclr,
 * BATCH images per step over a Fashion-MNIST subset of BATCH * (STEPS + 1) images, THREADS
 * threads per process. Rank 0 prints one line:
 *   bench-dist-run: processes=P threads=T batch=N steps=S img_per_s=R bytes_per_step=B
 *   comm_ms=M
 * img_per_s over the steps after the first WARMUP; bytes_per_step sent and received by rank 0
 * through collectives, comm_ms its time inside them per step (transfer and waiting).
 * Usage: bench_dist [BATCH [STEPS [THREADS]]]   (defaults 256 30 1) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "gs/comm.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/pipeline.h"

enum { WARMUP = 3 };

typedef struct {
    double t_warm, t_last;
    long warm_step, last_step;
} Clock;

static void on_progress(void *ctx, const StageProgress *p)
{
    Clock *c = ctx;
    if (p->stage != STAGE_SIMCLR)
        return;
    if (p->step == WARMUP) {
        c->t_warm = bench_now();
        c->warm_step = p->step;
    }
    c->t_last = bench_now();
    c->last_step = p->step;
}

int main(int argc, char **argv)
{
    GsErr err;
    const Comm *comm = comm_self();
    if (comm_mpi_launched() && !(comm = comm_mpi_start(&argc, &argv, &err))) {
        fprintf(stderr, "bench_dist: %s\n", err.msg);
        return 1;
    }
    int batch = argc > 1 ? atoi(argv[1]) : 256, steps = argc > 2 ? atoi(argv[2]) : 30,
        threads = argc > 3 ? atoi(argv[3]) : 1;
    if (batch < 2 || steps <= WARMUP || threads < 1) {
        fprintf(stderr, "usage: bench_dist [BATCH [STEPS > %d [THREADS]]]\n", WARMUP);
        return 2;
    }
    RunConfig cfg;
    run_config_defaults(&cfg);
    cfg.method = METHOD_SIMCLR;
    cfg.threads = threads;
    cfg.simclr.batch = batch;
    cfg.simclr.epochs = 1;
    cfg.simclr.knn_every = 0;
    Dataset train, test;
    if (dataset_load_named("fashion-mnist", NULL, &train, &test, &err) ||
        dataset_subset(&train, batch * steps + batch / 2, 7, &err)) {
        fprintf(stderr, "bench_dist: %s\n", err.msg);
        return 1;
    }
    dataset_free(&test);
    Clock clk = {0};
    Sink sink = {.progress = on_progress, .ctx = &clk, .comm = comm};
    RunResult res;
    size_t b0 = comm_bytes(comm);
    double c0 = comm_seconds(comm);
    if (pipeline_run(&cfg, &train, NULL, &sink, NULL, 0, &res, &err)) {
        fprintf(stderr, "bench_dist: %s\n", err.msg);
        return 1;
    }
    run_result_free(&res);
    if (comm_rank(comm) == 0) {
        long timed = clk.last_step - clk.warm_step;
        double rate = timed > 0 ? (double)timed * batch / (clk.t_last - clk.t_warm) : 0;
        printf("bench-dist-run: processes=%d threads=%d batch=%d steps=%ld img_per_s=%.1f "
               "bytes_per_step=%zu comm_ms=%.2f\n",
               comm_size(comm), threads, batch, clk.last_step, rate,
               (comm_bytes(comm) - b0) / (size_t)(clk.last_step ? clk.last_step : 1),
               1e3 * (comm_seconds(comm) - c0) / (double)(clk.last_step ? clk.last_step : 1));
    }
    dataset_free(&train);
    if (comm != comm_self())
        comm_mpi_finish(comm);
    return 0;
}
