/* bench_step.c — times one training step of a project network, and this machine's peaks, for
 * bench/bench_step.sh, which puts the numbers beside PyTorch's. A SimCLR step is the forward
 * of 2N views, NT-Xent, the backward and Adam; the autoencoder's step is the forward of N noisy
 * images, the mean squared error against the clean ones, the backward and Adam. Prints:
 *   ours NET views_per_s=V step_ms=M gflops=G params=P loss=L torch=SPEC batch=B tau=T
 *   peak fma_gflops=F sgemm_gflops=S isa=I
 * (for the autoencoder, views_per_s counts images). torch=SPEC tells bench_step.py which
 * twin to build: cnn3:W1,W2,W3:H1,H2 | resnet | dae:F1,F2,F3.
 * Usage: bench_step NET [batch] [steps] [threads] [--profile]
 *   NET: default (the run's default encoder, batch and temperature: run_config_defaults) |
 *        dae (the run's default autoencoder and batch) | cnn3 | cnn3:W1,W2,W3 | resnet
 *   batch 0 (or absent) means the network's own default.
 * GS_CONV=im2col|winograd|winograd4|direct in the environment computes every 3x3 same
 * convolution with that algorithm (conv2d_set_algo). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#include "bench_util.h"
#include "gs/blas.h"
#include "gs/config.h"
#include "gs/layers.h"
#include "gs/loss.h"
#include "gs/model.h"
#include "gs/optim.h"
#include "gs/rng.h"

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "bench_step: out of memory\n");
        exit(1);
    }
    return p;
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
    float *a = xmalloc(sizeof(float) * S * S), *b = xmalloc(sizeof(float) * S * S),
          *c = xmalloc(sizeof(float) * S * S);
    for (int i = 0; i < S * S; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    int T = gs_threads_get();
    double times[16];
    if (reps > 16)
        reps = 16;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++) {
            int c0 = S * t / T, c1 = S * (t + 1) / T;
            gs_sgemm(false, false, S, c1 - c0, S, 1.0f, a, S, b + c0, S, 0.0f, c + c0, S);
        }
        times[r] = bench_now() - t0;
    }
    double g = 2.0 * S * S * S / bench_median(times, reps) * 1e-9;
    free(a);
    free(b);
    free(c);
    return g;
}

/* The machine's single-precision FMA peak: every thread runs 12 independent chains of vector
 * FMAs (enough to cover the latency of two FMA units) for `iters` rounds. The widest vectors
 * the CPU offers are used (AVX-512 when present, else AVX2 + FMA); 0 when neither. */
#define FMA_CHAINS 12
#ifdef HAVE_X86
__attribute__((target("avx2,fma"))) static float fma_chains_256(long iters)
{
    __m256 acc[FMA_CHAINS], m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < FMA_CHAINS; k++)
        acc[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < FMA_CHAINS; k++)
            acc[k] = _mm256_fmadd_ps(acc[k], m, a);
    __m256 s = acc[0];
    for (int k = 1; k < FMA_CHAINS; k++)
        s = _mm256_add_ps(s, acc[k]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx512f"))) static float fma_chains_512(long iters)
{
    __m512 acc[FMA_CHAINS], m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < FMA_CHAINS; k++)
        acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < FMA_CHAINS; k++)
            acc[k] = _mm512_fmadd_ps(acc[k], m, a);
    __m512 s = acc[0];
    for (int k = 1; k < FMA_CHAINS; k++)
        s = _mm512_add_ps(s, acc[k]);
    return _mm512_reduce_add_ps(s);
}
#endif

static double fma_peak_gflops(const char **isa)
{
    *isa = "none";
#ifdef HAVE_X86
    __builtin_cpu_init();
    int lanes = __builtin_cpu_supports("avx512f") ? 16
                : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8 : 0;
    if (!lanes)
        return 0;
    *isa = lanes == 16 ? "avx512" : "avx2";
    const long iters = 20000000;
    int T = gs_threads_get();
    double times[5];
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
#pragma omp parallel for schedule(static) reduction(+ : sink)
        for (int t = 0; t < T; t++)
            sink += lanes == 16 ? fma_chains_512(iters) : fma_chains_256(iters);
        times[r] = bench_now() - t0;
    }
    (void)sink;
    return 2.0 * lanes * FMA_CHAINS * (double)iters * T / bench_median(times, 5) * 1e-9;
#else
    return 0;
#endif
}

typedef struct {
    bool dae;           /* the autoencoder's step instead of SimCLR's */
    EncoderConfig enc;
    DaeConfig dc;
    int batch;          /* default batch */
    float tau;
    char spec[96];      /* the PyTorch twin */
} Bench;

static int encoder_spec(char *out, size_t len, const EncoderConfig *e)
{
    if (e->arch == ARCH_RESNET)
        return snprintf(out, len, "resnet") >= (int)len ? -1 : 0;
    if (e->stages != 3 || e->n_head != 2)
        return -1;
    return snprintf(out, len, "cnn3:%d,%d,%d:%d,%d", encoder_stage_width(e, 0),
                    encoder_stage_width(e, 1), encoder_stage_width(e, 2), e->head[0],
                    e->head[1]) >= (int)len ? -1 : 0;
}

static int parse_net(const char *name, Bench *b)
{
    RunConfig rc;
    run_config_defaults(&rc);
    memset(b, 0, sizeof *b);
    b->batch = 256;
    b->tau = 0.5f;
    if (strcmp(name, "default") == 0) {
        b->enc = rc.simclr.encoder;
        b->batch = rc.simclr.batch;
        b->tau = rc.simclr.tau;
    } else if (strcmp(name, "dae") == 0) {
        b->dae = true;
        b->dc = rc.dae.net;
        b->batch = rc.dae.batch;
        if (b->dc.n_filters != 3)
            return -1;
        snprintf(b->spec, sizeof b->spec, "dae:%d,%d,%d", b->dc.filters[0], b->dc.filters[1],
                 b->dc.filters[2]);
        return 0;
    } else if (strcmp(name, "cnn3") == 0) {
        b->enc = encoder_cnn3();
    } else if (strcmp(name, "resnet") == 0) {
        b->enc = encoder_defaults();
    } else if (strncmp(name, "cnn3:", 5) == 0) {
        /* cnn3:W1,W2,W3 — the 3-conv CNN with these stage widths */
        b->enc = encoder_cnn3();
        int used = 0;
        if (sscanf(name + 5, "%d,%d,%d%n", &b->enc.widths[0], &b->enc.widths[1],
                   &b->enc.widths[2], &used) != 3 || name[5 + used] != '\0')
            return -1;
        b->enc.n_widths = 3;
    } else {
        return -1;
    }
    return encoder_spec(b->spec, sizeof b->spec, &b->enc);
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "default";
    int N = argc > 2 ? atoi(argv[2]) : 0;
    int steps = argc > 3 ? atoi(argv[3]) : 12;
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    bool profile = argc > 5 && strcmp(argv[5], "--profile") == 0;
    const int warmup = 3;
    Bench bn;
    Model m;
    Optimizer opt;
    NtXent nt;
    GsErr err;
    Rng rng;

    if (parse_net(name, &bn)) {
        fprintf(stderr, "usage: bench_step default|dae|cnn3|cnn3:W1,W2,W3|resnet [batch] "
                        "[steps] [threads] [--profile]\n");
        return 2;
    }
    if (N == 0)
        N = bn.batch;
    if (N < 2 || steps < 1 || threads < 1) {
        fprintf(stderr, "bench_step: bad batch, steps or threads\n");
        return 2;
    }
    gs_threads_set(threads);
    const char *algo = getenv("GS_CONV");
    if (algo) /* one algorithm for every 3x3 same convolution, to compare them */
        conv2d_set_algo(strcmp(algo, "im2col") == 0     ? CONV_IM2COL
                        : strcmp(algo, "winograd") == 0 ? CONV_WINOGRAD
                        : strcmp(algo, "winograd4") == 0 ? CONV_WINOGRAD4
                        : strcmp(algo, "direct") == 0   ? CONV_DIRECT
                                                        : CONV_AUTO);
    int views = bn.dae ? N : 2 * N; /* images through the network per step */
    if (bn.dae ? model_build_dae(&m, &bn.dc, views, 1, &err)
               : model_build_encoder(&m, &bn.enc, views, 1, &err)) {
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
    float *x = xmalloc(sizeof(float) * in_size * (size_t)views);
    float *target = bn.dae ? xmalloc(sizeof(float) * in_size * (size_t)views) : NULL;
    float *ws = bn.dae ? NULL : xmalloc(sizeof(float) * ntxent_ws_floats(N, D));
    double *times = xmalloc(sizeof(double) * (size_t)steps);
    rng_seed(&rng, 2);
    for (size_t i = 0; i < in_size * (size_t)views; i++) {
        x[i] = rng_uniform(&rng);
        if (target)
            target[i] = x[i];
    }
    if (!bn.dae)
        ntxent_bind(&nt, N, D, bn.tau, ws);
    if (profile && net_profile_enable(&m.net)) {
        fprintf(stderr, "bench_step: out of memory\n");
        return 1;
    }

    float loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = bench_now();
        net_zero_grad(&m.net);
        net_forward(&m.net, x, views, true);
        float *out = net_act(&m.net, m.output);
        loss = bn.dae ? mse_forward(out, target, in_size * (size_t)views)
                      : ntxent_forward(&nt, out);
        net_backward_begin(&m.net, views);
        if (bn.dae)
            mse_backward(net_dact(&m.net, m.output), out, target, in_size * (size_t)views,
                         1.0f);
        else
            ntxent_backward(&nt, net_dact(&m.net, m.output), 1.0f);
        net_backward(&m.net, views);
        optim_step(&opt, m.net.params, m.net.grads, m.net.spans, m.net.n_spans, 1e-3f);
        if (s >= warmup)
            times[s - warmup] = bench_now() - t0;
    }
    double t = bench_median(times, steps);
    double flops = step_flops_per_view(&m.net) * views;
    printf("ours %s views_per_s=%.1f step_ms=%.2f gflops=%.1f params=%zu loss=%.4f torch=%s "
           "batch=%d tau=%g\n",
           name, views / t, t * 1e3, flops / t * 1e-9, m.net.n_params, loss, bn.spec, N,
           (double)bn.tau);
    if (profile)
        for (int i = 0; i < m.net.n_nodes; i++)
            printf("  node %2d %-8s %4dx%2dx%2d fwd %7.2f ms bwd %7.2f ms\n", i,
                   net_kind_name(m.net.nodes[i].kind), m.net.nodes[i].C, m.net.nodes[i].H,
                   m.net.nodes[i].W, m.net.prof[2 * i] * 1e3 / (warmup + steps),
                   m.net.prof[2 * i + 1] * 1e3 / (warmup + steps));
    const char *isa;
    double peak = fma_peak_gflops(&isa);
    printf("peak fma_gflops=%.1f sgemm_gflops=%.1f isa=%s\n", peak, sgemm_gflops(8), isa);
    free(x);
    free(target);
    free(ws);
    free(times);
    optim_free(&opt);
    model_free(&m);
    return 0;
}
