/* bench_step.c — times one SimCLR training step (forward of 2N views, NT-Xent, backward,
 * Adam) of a project network, and the SGEMM speed of this machine, for bench/bench_step.sh,
 * which puts the numbers beside PyTorch's. Prints one line per measurement:
 *   ours NET views_per_s=V step_ms=M gflops=G
 *   sgemm gflops=G
 * Usage: bench_step NET [batch] [steps] [threads] [--profile]   (NET: cnn3 | resnet) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gs/blas.h"
#include "gs/loss.h"
#include "gs/model.h"
#include "gs/optim.h"
#include "gs/rng.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* FLOPs of one view through forward and backward, counted from the layer shapes: each conv or
 * linear costs 2*MACs forward, 2*MACs for the weight gradient, and 2*MACs for the input
 * gradient unless it reads the network input (whose gradient is skipped). */
static double step_flops_per_view(const Net *n)
{
    double total = 0;
    for (int i = 0; i < n->n_nodes; i++) {
        const Node *nd = &n->nodes[i];
        double macs;
        if (nd->kind == NODE_CONV)
            macs = (double)nd->C * nd->H * nd->W * nd->conv.Cin * nd->conv.K * nd->conv.K;
        else if (nd->kind == NODE_LINEAR)
            macs = (double)nd->C * nd->in_features;
        else
            continue;
        int passes = n->nodes[nd->a].kind == NODE_INPUT ? 2 : 3;
        total += 2.0 * macs * passes;
    }
    return total;
}

/* SGEMM of two 1024x1024 matrices split by column halves over the threads, the way the
 * project calls it (single-threaded OpenBLAS inside each OpenMP thread). */
static double sgemm_gflops(int reps)
{
    const int S = 1024;
    float *a = malloc(sizeof(float) * S * S), *b = malloc(sizeof(float) * S * S),
          *c = malloc(sizeof(float) * S * S);
    double best = 0;
    if (!a || !b || !c) {
        fprintf(stderr, "bench_step: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < S * S; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    int T = gs_threads_get();
    double times[16];
    if (reps > 16)
        reps = 16;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++) {
            int c0 = S * t / T, c1 = S * (t + 1) / T;
            gs_sgemm(false, false, S, c1 - c0, S, 1.0f, a, S, b + c0, S, 0.0f, c + c0, S);
        }
        times[r] = now() - t0;
    }
    best = 2.0 * S * S * S / median(times, reps) * 1e-9;
    free(a);
    free(b);
    free(c);
    return best;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "cnn3";
    int N = argc > 2 ? atoi(argv[2]) : 256;
    int steps = argc > 3 ? atoi(argv[3]) : 12;
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    bool profile = argc > 5 && strcmp(argv[5], "--profile") == 0;
    const int warmup = 3;
    EncoderConfig cfg;
    Model m;
    Optimizer opt;
    NtXent nt;
    GsErr err;
    Rng rng;

    if (strcmp(name, "cnn3") == 0)
        cfg = encoder_cnn3();
    else if (strcmp(name, "resnet") == 0)
        cfg = encoder_defaults();
    else if (strncmp(name, "cnn3:", 5) == 0) {
        /* cnn3:W1,W2,W3 — the 3-conv CNN with these stage widths */
        cfg = encoder_cnn3();
        int used = 0;
        if (sscanf(name + 5, "%d,%d,%d%n", &cfg.widths[0], &cfg.widths[1], &cfg.widths[2],
                   &used) != 3 || name[5 + used] != '\0') {
            fprintf(stderr, "bench_step: cnn3:W1,W2,W3 expected, got %s\n", name);
            return 2;
        }
        cfg.n_widths = 3;
    } else {
        fprintf(stderr, "usage: bench_step cnn3|cnn3:W1,W2,W3|resnet [batch] [steps] "
                        "[threads]\n");
        return 2;
    }
    if (N < 2 || steps < 1 || threads < 1) {
        fprintf(stderr, "bench_step: bad batch, steps or threads\n");
        return 2;
    }
    gs_threads_set(threads);
    if (model_build_encoder(&m, &cfg, 2 * N, 1, &err)) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    OptConfig oc = optim_defaults(OPT_ADAM);
    if (optim_init(&opt, &oc, m.net.n_params, &err)) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    int D = (int)net_node_size(&m.net, m.output);
    size_t in_size = net_node_size(&m.net, m.input);
    float *x = malloc(sizeof(float) * in_size * 2 * (size_t)N);
    float *ws = malloc(sizeof(float) * ntxent_ws_floats(N, D));
    double *times = malloc(sizeof(double) * (size_t)steps);
    if (!x || !ws || !times) {
        fprintf(stderr, "bench_step: out of memory\n");
        return 1;
    }
    rng_seed(&rng, 2);
    for (size_t i = 0; i < in_size * 2 * (size_t)N; i++)
        x[i] = rng_uniform(&rng);
    ntxent_bind(&nt, N, D, 0.5f, ws);
    if (profile && net_profile_enable(&m.net)) {
        fprintf(stderr, "bench_step: out of memory\n");
        return 1;
    }

    float loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = now();
        net_zero_grad(&m.net);
        net_forward(&m.net, x, 2 * N, true);
        loss = ntxent_forward(&nt, net_act(&m.net, m.output));
        net_backward_begin(&m.net, 2 * N);
        ntxent_backward(&nt, net_dact(&m.net, m.output), 1.0f);
        net_backward(&m.net, 2 * N);
        optim_step(&opt, m.net.params, m.net.grads, m.net.spans, m.net.n_spans, 1e-3f);
        if (s >= warmup)
            times[s - warmup] = now() - t0;
    }
    double t = median(times, steps);
    double flops = step_flops_per_view(&m.net) * 2 * N;
    printf("ours %s views_per_s=%.1f step_ms=%.2f gflops=%.1f params=%zu loss=%.4f\n", name,
           2 * N / t, t * 1e3, flops / t * 1e-9, m.net.n_params, loss);
    if (profile)
        for (int i = 0; i < m.net.n_nodes; i++)
            printf("  node %2d %-8s %4dx%2dx%2d fwd %7.2f ms bwd %7.2f ms\n", i,
                   net_kind_name(m.net.nodes[i].kind), m.net.nodes[i].C, m.net.nodes[i].H,
                   m.net.nodes[i].W, m.net.prof[2 * i] * 1e3 / (warmup + steps),
                   m.net.prof[2 * i + 1] * 1e3 / (warmup + steps));
    printf("sgemm gflops=%.1f\n", sgemm_gflops(8));
    free(x);
    free(ws);
    free(times);
    optim_free(&opt);
    model_free(&m);
    return 0;
}
