/* bench_conv.c — every 3x3 convolution of the default SimCLR encoder and autoencoder (the run
 * configuration's defaults, at their default batch: 2 views per image for SimCLR), timed with
 * each algorithm conv.c has (im2col + SGEMM, Winograd F(2x2, 3x3) and F(4x4, 3x3), direct),
 * forward and backward (the input's gradient skipped for a first layer, as the network does),
 * and the one the automatic choice takes as the network runs the layer (ALGO "auto+upF" when
 * it reads its input upsampled by F: a folded upsample). The figures behind conv.c's
 * pick_algo. Prints one line per layer, algorithm and pass:
 *   conv NET LAYER CinxHxW->Cout ALGO fwd|bwd ms=M
 * Usage: bench_conv [threads] [reps] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "gs/blas.h"
#include "gs/config.h"
#include "gs/layers.h"
#include "gs/model.h"

static float *fill(size_t n, unsigned seed)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (!p) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    srand(seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

/* The median of reps timings of one pass. */
static double time_pass(const ConvShape *s, int B, bool forward, bool first, int reps,
                        float *out, float *inp, float *w, float *b, float *dinp, float *dw,
                        float *ws)
{
    double t[32];
    if (reps > 32)
        reps = 32;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = bench_now();
        if (forward)
            conv2d_forward(s, B, out, inp, w, b, ws);
        else
            conv2d_backward(s, B, first ? NULL : dinp, dw, NULL, out, inp, w, ws);
        if (r > 0) /* the first call warms the caches */
            t[r - 1] = bench_now() - t0;
    }
    return bench_median(t, reps) * 1e3;
}

static void bench_net(const char *name, const Net *net, int B, int reps)
{
    static const ConvAlgo algos[] = {CONV_IM2COL, CONV_WINOGRAD, CONV_WINOGRAD4, CONV_DIRECT,
                                     CONV_AUTO};
    static const char *const names[] = {"im2col", "winograd2", "winograd4", "direct", "auto"};
    int layer = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        const Node *nd = &net->nodes[i];
        if (nd->kind != NODE_CONV)
            continue;
        /* the algorithms compared on the plain convolution; "auto" as the network runs it,
         * which may read its input upsampled (a folded upsample: "auto+up2") */
        ConvShape plain = nd->conv;
        plain.up = 1;
        const ConvShape *s = &plain;
        bool first = net->nodes[nd->a].kind == NODE_INPUT;
        size_t n_in = (size_t)B * s->Cin * s->H * s->W;
        size_t n_out = (size_t)B * s->Cout * s->Ho * s->Wo;
        size_t n_w = (size_t)s->Cout * s->Cin * s->K * s->K;
        float *inp = fill(n_in, 1), *w = fill(n_w, 2), *b = fill((size_t)s->Cout, 3),
              *out = fill(n_out, 4), *dinp = fill(n_in, 5), *dw = fill(n_w, 6);
        for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
            const ConvShape *sa = algos[a] == CONV_AUTO ? &nd->conv : s;
            conv2d_set_algo(algos[a]); /* before sizing: the ws is the algorithm's */
            float *ws = fill(conv2d_ws_floats(sa, B), 7);
            char up[16] = "";
            if (sa->up > 1)
                snprintf(up, sizeof up, "+up%d", sa->up);
            for (int pass = 0; pass < 2; pass++)
                printf("conv %s %d %dx%dx%d->%d %s%s %s ms=%.2f\n", name, layer, s->Cin, s->H,
                       s->W, s->Cout, names[a], up, pass == 0 ? "fwd" : "bwd",
                       time_pass(sa, B, pass == 0, first, reps, out, inp, w, b, dinp, dw, ws));
            free(ws);
        }
        conv2d_set_algo(CONV_AUTO);
        free(inp);
        free(w);
        free(b);
        free(out);
        free(dinp);
        free(dw);
        layer++;
    }
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    RunConfig rc;
    Model enc, dae;
    GsErr err;
    if (threads < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_conv [threads] [reps]\n");
        return 2;
    }
    gs_threads_set(threads);
    run_config_defaults(&rc);
    if (model_build_encoder(&enc, &rc.simclr.encoder, 2 * rc.simclr.batch, 1, &err) ||
        model_build_dae(&dae, &rc.dae.net, rc.dae.batch, 1, &err)) {
        fprintf(stderr, "bench_conv: %s\n", err.msg);
        return 1;
    }
    bench_net("simclr", &enc.net, 2 * rc.simclr.batch, reps);
    bench_net("dae", &dae.net, rc.dae.batch, reps);
    model_free(&enc);
    model_free(&dae);
    return 0;
}
