/* test_layers.c — the layers of include/gs/layers.h: finite-difference checks of every
 * gradient each layer produces (loss = <out, r> for a fixed random r, so the analytic
 * gradient is backward with dout = r), conv against a direct convolution loop at several
 * thread counts, batchnorm's running statistics, the "backward adds" contract, and one test
 * showing the checker does flag wrong gradients. Sizes are small so the suite stays fast. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "gs/blas.h"
#include "gs/layers.h"
#include "harness.h"

/* Tests may die on out-of-memory: there is nothing sensible to test without the buffer. */
static float *fbuf(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "test_layers: out of memory\n");
        abort();
    }
    return p;
}

/* Moves values away from a kink at zero by at least `gap`, so +-eps never crosses it. */
static void away_from_zero(float *x, size_t n, float gap)
{
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) < gap)
            x[i] = x[i] < 0 ? -2 * gap : 2 * gap;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

/* max |a - b| over max(1, max |b|). */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double top = 1.0;
    for (size_t i = 0; i < n; i++)
        top = fmax(top, fabs((double)b[i]));
    return max_abs_diff(a, b, n) / top;
}

/* ------------------------------------------------------------------ conv2d */

typedef struct {
    ConvShape s;
    int B;
    float *inp;  // (B, Cin, H, W)
    float *w;    // (Cout, Cin*K*K)
    float *b;    // (Cout) or NULL
    float *out;  // (B, Cout, Ho, Wo)
    float *r;    // (B, Cout, Ho, Wo)
    float *ws;
    size_t n_in, n_w, n_out;
} ConvCtx;

static double conv_loss(void *p)
{
    ConvCtx *c = p;
    conv2d_forward(&c->s, c->B, c->out, c->inp, c->w, c->b, c->ws);
    return gc_dot(c->out, c->r, c->n_out);
}

static int conv_setup(ConvCtx *c, int B, int Cin, int H, int W, int Cout, int K, int stride,
                      int pad, int bias, unsigned seed)
{
    memset(c, 0, sizeof *c);
    if (conv2d_shape(&c->s, Cin, H, W, Cout, K, stride, pad) != 0)
        return -1;
    c->B = B;
    c->n_in = (size_t)B * Cin * H * W;
    c->n_w = (size_t)Cout * Cin * K * K;
    c->n_out = (size_t)B * Cout * c->s.Ho * c->s.Wo;
    c->inp = fbuf(c->n_in);
    c->w = fbuf(c->n_w);
    c->b = bias ? fbuf((size_t)Cout) : NULL;
    c->out = fbuf(c->n_out);
    c->r = fbuf(c->n_out);
    c->ws = fbuf(conv2d_ws_floats(&c->s, B));
    gc_fill(c->inp, c->n_in, seed, -1, 1);
    gc_fill(c->w, c->n_w, seed + 1, -0.5f, 0.5f);
    if (bias)
        gc_fill(c->b, (size_t)Cout, seed + 2, -0.5f, 0.5f);
    gc_fill(c->r, c->n_out, seed + 3, -1, 1);
    return 0;
}

static void conv_free(ConvCtx *c)
{
    free(c->inp);
    free(c->w);
    free(c->b);
    free(c->out);
    free(c->r);
    free(c->ws);
}

/* Convolution by the definition itself, in double: out (B, Cout, Ho, Wo) set, and the
 * gradients of sum(out * dout), dinp (B, Cin, H, W) and dw (Cout, Cin*K*K), set too. */
static void conv_naive(const ConvShape *s, int B, float *out, const float *inp, const float *w,
                       const float *b, const float *dout, float *dinp, float *dw)
{
    const size_t n_in = (size_t)B * s->Cin * s->H * s->W;
    const size_t n_w = (size_t)s->Cout * s->Cin * s->K * s->K;
    double *gi = calloc(n_in, sizeof *gi), *gw = calloc(n_w, sizeof *gw);
    if (!gi || !gw) {
        free(gi);
        free(gw);
        CHECK_MSG(0, "out of memory");
        return;
    }
    for (int n = 0; n < B; n++)
        for (int co = 0; co < s->Cout; co++)
            for (int oy = 0; oy < s->Ho; oy++)
                for (int ox = 0; ox < s->Wo; ox++) {
                    const size_t o = (((size_t)n * s->Cout + co) * s->Ho + oy) * s->Wo + ox;
                    const double g = dout[o];
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < s->Cin; ci++)
                        for (int ki = 0; ki < s->K; ki++)
                            for (int kj = 0; kj < s->K; kj++) {
                                int iy = oy * s->stride - s->pad + ki;
                                int ix = ox * s->stride - s->pad + kj;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W)
                                    continue;
                                size_t i = (((size_t)n * s->Cin + ci) * s->H + iy) * s->W + ix;
                                size_t k = ((size_t)co * s->Cin + ci) * s->K * s->K +
                                           (size_t)ki * s->K + kj;
                                acc += (double)inp[i] * w[k];
                                gi[i] += g * w[k];
                                gw[k] += g * inp[i];
                            }
                    out[o] = (float)acc;
                }
    for (size_t i = 0; i < n_in; i++)
        dinp[i] = (float)gi[i];
    for (size_t k = 0; k < n_w; k++)
        dw[k] = (float)gw[k];
    free(gi);
    free(gw);
}

/* Checks d<out,r>/d{inp, w, b} of one conv geometry; returns the number of bad elements. */
static int conv_gradcheck(int B, int Cin, int H, int W, int Cout, int K, int stride, int pad,
                          size_t max_checks)
{
    ConvCtx c;
    int bad = 0;
    if (conv_setup(&c, B, Cin, H, W, Cout, K, stride, pad, 1, 100u + (unsigned)(K * 7 + pad)))
        return 1;
    float *dinp = fbuf(c.n_in), *dw = fbuf(c.n_w), *db = fbuf((size_t)Cout);
    conv_loss(&c);
    conv2d_backward(&c.s, B, dinp, dw, db, c.r, c.inp, c.w, c.ws);
    GcOpts o = gc_defaults();
    o.max_checks = max_checks;
    bad += gradcheck("conv dinp", c.inp, c.n_in, dinp, conv_loss, &c, o);
    bad += gradcheck("conv dw", c.w, c.n_w, dw, conv_loss, &c, o);
    bad += gradcheck("conv db", c.b, (size_t)Cout, db, conv_loss, &c, o);
    if (bad)
        printf("    conv case B=%d Cin=%d H=%d W=%d Cout=%d K=%d stride=%d pad=%d\n", B, Cin, H,
               W, Cout, K, stride, pad);
    free(dinp);
    free(dw);
    free(db);
    conv_free(&c);
    return bad;
}

TEST(layer_conv_gradcheck_k3_pad1)
{
    /* B odd and above the thread count, H != W, Cin > 1 */
    CHECK_INT_EQ(conv_gradcheck(5, 3, 5, 7, 4, 3, 1, 1, 0), 0);
}

TEST(layer_conv_gradcheck_k3_stride2)
{
    CHECK_INT_EQ(conv_gradcheck(3, 2, 7, 6, 3, 3, 2, 0, 0), 0);
    CHECK_INT_EQ(conv_gradcheck(3, 2, 6, 9, 3, 3, 2, 1, 0), 0);
}

TEST(layer_conv_gradcheck_k1)
{
    CHECK_INT_EQ(conv_gradcheck(3, 3, 4, 5, 2, 1, 1, 0, 0), 0);  /* pointwise path */
    CHECK_INT_EQ(conv_gradcheck(3, 3, 5, 4, 2, 1, 2, 0, 0), 0);  /* K=1 through im2col */
    CHECK_INT_EQ(conv_gradcheck(2, 2, 3, 4, 3, 1, 1, 1, 0), 0);  /* K=1 padded */
}

TEST(layer_conv_gradcheck_small_batch)
{
    /* fewer images than threads: one thread has nothing to do */
    CHECK_INT_EQ(conv_gradcheck(1, 2, 6, 5, 3, 3, 1, 1, 0), 0);
    CHECK_INT_EQ(conv_gradcheck(1, 2, 6, 5, 3, 3, 2, 1, 0), 0);
}

TEST(layer_conv_gradcheck_tiny_planes)
{
    /* planes no bigger than the kernel's reach, as at an autoencoder's bottleneck */
    CHECK_INT_EQ(conv_gradcheck(3, 2, 1, 1, 2, 3, 1, 1, 0), 0);
    CHECK_INT_EQ(conv_gradcheck(3, 2, 2, 1, 2, 3, 1, 1, 0), 0);
    CHECK_INT_EQ(conv_gradcheck(2, 2, 1, 3, 2, 5, 1, 2, 0), 0);
    CHECK_INT_EQ(conv_gradcheck(2, 1, 2, 2, 2, 5, 1, 2, 0), 0);
}

TEST(layer_conv_gradcheck_many_chunks)
{
    /* 40x40 planes make the chunk a few images, so a thread runs several GEMM chunks and a
     * short last one */
    CHECK_INT_EQ(conv_gradcheck(11, 1, 40, 40, 2, 3, 1, 1, 400), 0);
}

/* Forward and backward against the definition, and backward at 2 and 3 threads against 1. */
static void conv_vs_naive(int B, int Cin, int H, int W, int Cout, int K, int stride, int pad,
                          int bias)
{
    int keep = gs_threads_get();
    ConvCtx c;
    if (conv_setup(&c, B, Cin, H, W, Cout, K, stride, pad, bias, 7u)) {
        CHECK_MSG(0, "bad geometry");
        return;
    }
    float *ref = fbuf(c.n_out), *dinp_ref = fbuf(c.n_in), *dw_ref = fbuf(c.n_w);
    conv_naive(&c.s, B, ref, c.inp, c.w, c.b, c.r, dinp_ref, dw_ref);
    float *dinp1 = NULL, *dw1 = NULL;
    for (int T = 1; T <= 3; T++) {
        gs_threads_set(T);
        float *ws = fbuf(conv2d_ws_floats(&c.s, B));
        float *dinp = fbuf(c.n_in), *dw = fbuf(c.n_w);
        conv2d_forward(&c.s, B, c.out, c.inp, c.w, c.b, ws);
        double d = max_abs_diff(c.out, ref, c.n_out);
        CHECK_MSG(d < 1e-4, "conv vs naive B=%d Cin=%d %dx%d Cout=%d K=%d s=%d p=%d T=%d: %g", B,
                  Cin, H, W, Cout, K, stride, pad, T, d);
        conv2d_backward(&c.s, B, dinp, dw, NULL, c.r, c.inp, c.w, ws);
        if (T == 1) {
            double dd = rel_diff(dinp, dinp_ref, c.n_in), dwd = rel_diff(dw, dw_ref, c.n_w);
            CHECK_MSG(dd < 1e-5 && dwd < 1e-5,
                      "backward vs naive B=%d Cin=%d %dx%d Cout=%d K=%d: dinp off by %g, dw by "
                      "%g of the largest (algorithm %d)",
                      B, Cin, H, W, Cout, K, dd, dwd, (int)conv2d_algo());
            dinp1 = dinp;
            dw1 = dw;
        } else {
            /* dinp is per image, so the split changes it by rounding at most: the GEMMs are
             * as wide as a chunk of images, which follows the split, and OpenBLAS may round
             * another width differently (seen: 2e-7 of the largest; with F(4x4, 3x3)
             * Winograd by SGEMM, whose transforms amplify rounding, 1.6e-6, and 4.1e-6 with
             * 33 channels in and 67 out); dw sums partials */
            double dd = rel_diff(dinp, dinp1, c.n_in), dwd = rel_diff(dw, dw1, c.n_w);
            const double dd_max = conv2d_algo() == CONV_WINOGRAD4 ? 1e-5 : 4e-6;
            CHECK_MSG(dd < dd_max && dwd < 2e-5,
                      "at %d threads dinp off by %g, dw by %g of the largest (algorithm %d, "
                      "B=%d Cin=%d %dx%d Cout=%d)",
                      T, dd, dwd, (int)conv2d_algo(), B, Cin, H, W, Cout);
            free(dinp);
            free(dw);
        }
        free(ws);
    }
    gs_threads_set(keep);
    free(dinp_ref);
    free(dw_ref);
    free(dinp1);
    free(dw1);
    free(ref);
    conv_free(&c);
}

TEST(layer_conv_forward_matches_naive)
{
    conv_vs_naive(5, 3, 5, 7, 4, 3, 1, 1, 1);
    conv_vs_naive(4, 2, 9, 8, 3, 3, 2, 1, 1);
    conv_vs_naive(3, 2, 7, 6, 5, 3, 2, 0, 0);
    conv_vs_naive(3, 4, 6, 5, 3, 1, 1, 0, 1);
    conv_vs_naive(2, 2, 7, 7, 3, 5, 1, 2, 1);
    conv_vs_naive(1, 3, 6, 6, 2, 3, 1, 1, 1);
    conv_vs_naive(13, 1, 40, 36, 3, 3, 1, 1, 1);
    conv_vs_naive(3, 2, 1, 1, 3, 3, 1, 1, 1);
    conv_vs_naive(3, 2, 2, 1, 3, 3, 1, 1, 1);
    conv_vs_naive(2, 2, 1, 3, 2, 5, 1, 2, 1);
    conv_vs_naive(2, 2, 3, 2, 2, 7, 1, 3, 0);
}

TEST(layer_conv_shape)
{
    ConvShape s;
    CHECK_INT_EQ(conv2d_shape(&s, 3, 28, 28, 32, 3, 1, 1), 0);
    CHECK_INT_EQ(s.Ho, 28);
    CHECK_INT_EQ(s.Wo, 28);
    CHECK_INT_EQ(conv2d_shape(&s, 3, 7, 6, 4, 3, 2, 0), 0);
    CHECK_INT_EQ(s.Ho, 3);
    CHECK_INT_EQ(s.Wo, 2);
    CHECK(conv2d_shape(&s, 3, 2, 2, 4, 5, 1, 0) == -1);
    CHECK(conv2d_shape(&s, 3, 2, 2, 4, 3, 0, 0) == -1);
}

TEST(layer_conv_deterministic)
{
    ConvCtx c;
    if (conv_setup(&c, 9, 3, 12, 10, 4, 3, 1, 1, 1, 11u))
        return;
    float *dw1 = fbuf(c.n_w), *dw2 = fbuf(c.n_w), *out1 = fbuf(c.n_out);
    conv2d_forward(&c.s, c.B, out1, c.inp, c.w, c.b, c.ws);
    conv2d_backward(&c.s, c.B, NULL, dw1, NULL, c.r, c.inp, c.w, c.ws);
    conv2d_forward(&c.s, c.B, c.out, c.inp, c.w, c.b, c.ws);
    conv2d_backward(&c.s, c.B, NULL, dw2, NULL, c.r, c.inp, c.w, c.ws);
    CHECK(memcmp(out1, c.out, c.n_out * sizeof(float)) == 0);
    CHECK(memcmp(dw1, dw2, c.n_w * sizeof(float)) == 0);
    free(dw1);
    free(dw2);
    free(out1);
    conv_free(&c);
}

/* g2 must be exactly 2 * g1 up to rounding of the second add */
static int doubled(const float *g1, const float *g2, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(g2[i] - 2.0f * g1[i]) <= 1e-5f * (1.0f + fabsf(g1[i]))))
            return 0;
    return 1;
}

/* Backward adds into what is there, and gives the same weight gradient when the input's is
 * not wanted (a network's first layer); returns the number of failed checks. */
static int conv_accumulates(int B, int Cin, int H, int W, int Cout)
{
    ConvCtx c;
    int bad = 0;
    if (conv_setup(&c, B, Cin, H, W, Cout, 3, 1, 1, 1, 97u))
        return 1;
    float *dx1 = fbuf(c.n_in), *dx2 = fbuf(c.n_in), *dw1 = fbuf(c.n_w), *dw2 = fbuf(c.n_w),
          *dw3 = fbuf(c.n_w);
    conv2d_backward(&c.s, B, dx1, dw1, NULL, c.r, c.inp, c.w, c.ws);
    conv2d_backward(&c.s, B, dx2, dw2, NULL, c.r, c.inp, c.w, c.ws);
    conv2d_backward(&c.s, B, dx2, dw2, NULL, c.r, c.inp, c.w, c.ws);
    conv2d_backward(&c.s, B, NULL, dw3, NULL, c.r, c.inp, c.w, c.ws);
    bad += !doubled(dx1, dx2, c.n_in);
    bad += !doubled(dw1, dw2, c.n_w);
    bad += memcmp(dw1, dw3, c.n_w * sizeof(float)) != 0;
    free(dx1);
    free(dx2);
    free(dw1);
    free(dw2);
    free(dw3);
    conv_free(&c);
    return bad;
}

/* Every algorithm of 3x3 same convolutions (im2col, Winograd, direct; conv2d_set_algo),
 * forced on shapes the automatic choice would not give it, and the automatic choice: the
 * forward against the direct loop at 1-3 threads, every gradient by finite differences,
 * backward adding. Planes odd and even down to 1x1, channels on both sides of the automatic
 * choice's bound of 8, planes large enough for several chunks per thread. */
TEST(layer_conv_every_algorithm)
{
    /* the direct convolution and F(4x4) twice: their AVX2 kernels (where the CPU has them:
     * F(4x4)'s fused products) and their portable loops (F(4x4) by SGEMM) */
    static const ConvAlgo algos[] = {CONV_IM2COL,    CONV_WINOGRAD, CONV_WINOGRAD4,
                                     CONV_WINOGRAD4, CONV_DIRECT,   CONV_DIRECT,
                                     CONV_AUTO,      CONV_AUTO};
    static const char *const names[] = {"im2col",       "winograd 2x2",     "winograd 4x4",
                                        "winograd 4x4 (portable)", "direct", "direct (portable)",
                                        "auto",         "auto (portable)"};
    for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
        conv2d_set_algo(algos[a]);
        conv2d_allow_avx2(strstr(names[a], "portable") == NULL);
        CHECK(conv2d_algo() == algos[a]);
        conv_vs_naive(5, 3, 5, 7, 4, 3, 1, 1, 1);   /* odd planes, few channels */
        conv_vs_naive(3, 9, 8, 6, 10, 3, 1, 1, 1);  /* even planes, 8+ channels */
        conv_vs_naive(3, 9, 7, 5, 8, 3, 1, 1, 0);   /* odd planes, 8+ channels */
        conv_vs_naive(2, 1, 6, 6, 9, 3, 1, 1, 0);   /* one input channel */
        conv_vs_naive(2, 9, 7, 7, 1, 3, 1, 1, 1);   /* one output channel */
        conv_vs_naive(3, 8, 1, 1, 8, 3, 1, 1, 1);   /* 1x1 plane */
        conv_vs_naive(3, 2, 2, 1, 3, 3, 1, 1, 1);
        conv_vs_naive(7, 8, 40, 36, 9, 3, 1, 1, 1); /* several chunks per thread */
        conv_vs_naive(19, 9, 7, 7, 6, 3, 1, 1, 1);  /* the direct kernels' groups of 8 7x7
                                                     * images: full and partial ones */
        /* the automatic choice's F(4x4) shapes (32+ channels both ways, small planes) and
         * the fused kernels' edges: channels not a multiple of their blocks of 4 on either
         * side, 67 and 35 output channels past a super-block of 64, columns (images x
         * tiles) past a block of 24 and a partial last block */
        conv_vs_naive(7, 33, 7, 7, 67, 3, 1, 1, 1);
        conv_vs_naive(5, 35, 6, 5, 32, 3, 1, 1, 0);
        conv_vs_naive(3, 32, 14, 14, 35, 3, 1, 1, 1);
        int bad = conv_gradcheck(5, 3, 5, 7, 4, 3, 1, 1, 0) +
                  conv_gradcheck(3, 9, 6, 4, 10, 3, 1, 1, 300) +
                  conv_gradcheck(3, 8, 5, 3, 9, 3, 1, 1, 300) +
                  conv_gradcheck(2, 8, 1, 1, 8, 3, 1, 1, 0) +
                  conv_gradcheck(2, 1, 5, 6, 8, 3, 1, 1, 0) +
                  conv_gradcheck(2, 9, 5, 4, 1, 3, 1, 1, 0);
        CHECK_MSG(bad == 0, "algorithm %s: %d gradient elements off", names[a], bad);
        int acc = conv_accumulates(3, 2, 5, 6, 3) + conv_accumulates(3, 9, 6, 6, 10) +
                  conv_accumulates(3, 9, 7, 5, 10);
        CHECK_MSG(acc == 0, "algorithm %s: %d accumulation checks failed", names[a], acc);
    }
    conv2d_set_algo(CONV_AUTO);
    conv2d_allow_avx2(true);
}

/* The automatic choice takes F(4x4) for the default encoder's 48x7x7 -> 256 layer where the
 * AVX2 kernels run and im2col where they do not; the workspace sized under one must serve
 * the other (a test turns them off or on after a network sized its ws): sized with them
 * off (im2col's is the smaller), run both ways, against the definition. */
TEST(layer_conv_auto_workspace_serves_both_choices)
{
    ConvShape s;
    CHECK(conv2d_shape(&s, 48, 7, 7, 256, 3, 1, 1) == 0);
    const int B = 5;
    conv2d_set_algo(CONV_IM2COL);
    const size_t n_im2col = conv2d_ws_floats(&s, B);
    conv2d_set_algo(CONV_WINOGRAD4);
    const size_t n_wino = conv2d_ws_floats(&s, B);
    conv2d_set_algo(CONV_AUTO);
    conv2d_allow_avx2(false);
    const size_t n_auto = conv2d_ws_floats(&s, B);
    conv2d_allow_avx2(true);
    CHECK_MSG(n_auto >= n_im2col && n_auto >= n_wino,
              "auto ws %zu floats, im2col needs %zu, F(4x4) %zu", n_auto, n_im2col, n_wino);
    const size_t n_in = (size_t)B * 48 * 49, n_out = (size_t)B * 256 * 49, n_w = 256 * 48 * 9;
    float *x = fbuf(n_in), *w = fbuf(n_w), *b = fbuf(256), *r = fbuf(n_out), *out = fbuf(n_out);
    float *ref = fbuf(n_out), *dx_ref = fbuf(n_in), *dw_ref = fbuf(n_w), *dx = fbuf(n_in);
    float *dw = fbuf(n_w), *ws = fbuf(n_auto);
    gc_fill(x, n_in, 41u, -1, 1);
    gc_fill(w, n_w, 42u, -0.2f, 0.2f);
    gc_fill(b, 256, 43u, -0.5f, 0.5f);
    gc_fill(r, n_out, 44u, -1, 1);
    conv_naive(&s, B, ref, x, w, b, r, dx_ref, dw_ref);
    for (int avx2 = 1; avx2 >= 0; avx2--) {
        conv2d_allow_avx2(avx2);
        memset(dx, 0, sizeof(float) * n_in);
        memset(dw, 0, sizeof(float) * n_w);
        conv2d_forward(&s, B, out, x, w, b, ws);
        conv2d_backward(&s, B, dx, dw, NULL, r, x, w, ws);
        double d = max_abs_diff(out, ref, n_out), dd = rel_diff(dx, dx_ref, n_in);
        double dwd = rel_diff(dw, dw_ref, n_w);
        CHECK_MSG(d < 1e-4 && dd < 1e-5 && dwd < 1e-5,
                  "48x7x7->256 (%s): out off by %g, dinp by %g, dw by %g",
                  avx2 ? "avx2" : "portable", d, dd, dwd);
    }
    conv2d_allow_avx2(true);
    free(x);
    free(w);
    free(b);
    free(r);
    free(out);
    free(ref);
    free(dx_ref);
    free(dw_ref);
    free(dx);
    free(dw);
    free(ws);
}

/* A conv reading its input upsampled (conv2d_reads_upsampled) against upsample_forward then
 * the definition, and its input's gradient against the definition's then upsample_backward:
 * forward, input and weight gradients, by the AVX2 and the portable kernels. */
static void conv_up_vs_naive(int B, int Cin, int h, int w, int Cout, int up)
{
    ConvShape s;
    CHECK(conv2d_shape(&s, Cin, h * up, w * up, Cout, 3, 1, 1) == 0);
    const size_t n_small = (size_t)B * Cin * h * w, n_big = n_small * up * up;
    const size_t n_out = (size_t)B * Cout * h * up * w * up, n_w = (size_t)Cout * Cin * 9;
    float *x = fbuf(n_small), *xb = fbuf(n_big), *wt = fbuf(n_w), *b = fbuf((size_t)Cout);
    float *r = fbuf(n_out), *ref = fbuf(n_out), *dxb = fbuf(n_big), *dx_ref = fbuf(n_small);
    float *dw_ref = fbuf(n_w), *out = fbuf(n_out);
    gc_fill(x, n_small, 31u, -1, 1);
    gc_fill(wt, n_w, 32u, -0.5f, 0.5f);
    gc_fill(b, (size_t)Cout, 33u, -0.5f, 0.5f);
    gc_fill(r, n_out, 34u, -1, 1);
    upsample_forward(xb, x, B, Cin, h, w, up);
    conv_naive(&s, B, ref, xb, wt, b, r, dxb, dw_ref);
    upsample_backward(dx_ref, dxb, B, Cin, h, w, up);
    ConvShape su = s;
    CHECK(conv2d_reads_upsampled(&su, up) && su.up == up);
    for (int avx2 = 1; avx2 >= 0; avx2--) {
        conv2d_allow_avx2(avx2);
        float *ws = fbuf(conv2d_ws_floats(&su, B)), *dx = fbuf(n_small), *dw = fbuf(n_w);
        conv2d_forward(&su, B, out, x, wt, b, ws);
        conv2d_backward(&su, B, dx, dw, NULL, r, x, wt, ws);
        double d = max_abs_diff(out, ref, n_out), dd = rel_diff(dx, dx_ref, n_small);
        double dwd = rel_diff(dw, dw_ref, n_w);
        CHECK_MSG(d < 1e-4 && dd < 1e-5 && dwd < 1e-5,
                  "upsampled x%d input B=%d Cin=%d %dx%d Cout=%d (%s): out off by %g, dinp by "
                  "%g, dw by %g",
                  up, B, Cin, h, w, Cout, avx2 ? "avx2" : "portable", d, dd, dwd);
        free(ws);
        free(dx);
        free(dw);
    }
    conv2d_allow_avx2(true);
    free(x);
    free(xb);
    free(wt);
    free(b);
    free(r);
    free(ref);
    free(dxb);
    free(dx_ref);
    free(dw_ref);
    free(out);
}

TEST(layer_conv_reads_upsampled_input)
{
    conv_up_vs_naive(5, 3, 3, 5, 6, 2);
    conv_up_vs_naive(11, 9, 7, 7, 4, 2); /* 14x14: groups of 4 images, full and partial */
    conv_up_vs_naive(3, 16, 14, 14, 16, 2); /* as the autoencoder's last upsampled layer */
    /* by phases: last blocks of 1 both ways (5 channels: the forward's and the weights'
     * 1-channel kernels, the input gradient's over 4 phases of 8 planes), one image per group
     * (a 34-wide row), one channel in and out */
    conv_up_vs_naive(3, 5, 4, 6, 5, 2);
    conv_up_vs_naive(3, 1, 5, 33, 1, 2);
    conv_up_vs_naive(2, 6, 3, 3, 2, 2);
    conv_up_vs_naive(3, 2, 2, 3, 1, 3);  /* factor 3, one output channel */
    conv_up_vs_naive(2, 5, 3, 4, 6, 3);  /* factor 3, blocks of 4 and 2 */
    /* refused where the algorithm taken cannot: im2col forced, a plane the factor does not
     * divide, a factor of 1, or many output channels (im2col's by the automatic choice) */
    ConvShape s;
    CHECK(conv2d_shape(&s, 4, 14, 14, 8, 3, 1, 1) == 0);
    conv2d_set_algo(CONV_IM2COL);
    CHECK(!conv2d_reads_upsampled(&s, 2) && s.up == 1);
    conv2d_set_algo(CONV_AUTO);
    CHECK(!conv2d_reads_upsampled(&s, 3) && !conv2d_reads_upsampled(&s, 1) && s.up == 1);
    CHECK(conv2d_shape(&s, 64, 14, 14, 128, 3, 1, 1) == 0);
    CHECK(!conv2d_reads_upsampled(&s, 2) && s.up == 1);
    CHECK(conv2d_shape(&s, 64, 14, 14, 16, 3, 1, 1) == 0);
    CHECK(conv2d_reads_upsampled(&s, 2) && s.up == 2);
}

/* -------------------------------------------------------------- batchnorm */

typedef struct {
    int B, C, S;
    bool relu; /* the fused batch-norm + ReLU */
    float *inp, *gamma, *beta, *out, *r;
    float *mean, *rstd, *rm, *rv;
} BnCtx;

static double bn_loss(void *p)
{
    BnCtx *c = p;
    if (c->relu)
        batchnorm_relu_forward_train(c->out, c->mean, c->rstd, c->rm, c->rv, c->inp, c->gamma,
                                     c->beta, c->B, c->C, c->S, 1e-5f, 0.1f);
    else
        batchnorm_forward_train(c->out, c->mean, c->rstd, c->rm, c->rv, c->inp, c->gamma,
                                c->beta, c->B, c->C, c->S, 1e-5f, 0.1f);
    return gc_dot(c->out, c->r, (size_t)c->B * c->C * c->S);
}

static int bn_gradcheck_mode(int B, int C, int S, bool relu)
{
    BnCtx c = {.B = B, .C = C, .S = S, .relu = relu};
    size_t n = (size_t)B * C * S;
    int bad = 0;
    c.inp = fbuf(n);
    c.out = fbuf(n);
    c.r = fbuf(n);
    c.gamma = fbuf((size_t)C);
    c.beta = fbuf((size_t)C);
    c.mean = fbuf((size_t)C);
    c.rstd = fbuf((size_t)C);
    c.rm = fbuf((size_t)C);
    c.rv = fbuf((size_t)C);
    gc_fill(c.inp, n, 21, -2, 2);
    gc_fill(c.r, n, 22, -1, 1);
    gc_fill(c.gamma, (size_t)C, 23, 0.5f, 1.5f);
    gc_fill(c.beta, (size_t)C, 24, -0.5f, 0.5f);
    float *dinp = fbuf(n), *dg = fbuf((size_t)C), *dbeta = fbuf((size_t)C);
    bn_loss(&c);
    if (relu)
        batchnorm_relu_backward(dinp, dg, dbeta, c.r, c.inp, c.mean, c.rstd, c.gamma, c.beta, B,
                                C, S);
    else
        batchnorm_backward(dinp, dg, dbeta, c.r, c.inp, c.mean, c.rstd, c.gamma, B, C, S);
    GcOpts o = gc_defaults();
    o.eps = 1e-3;
    /* With the ReLU, an output within eps of 0 is a kink where the quotient means nothing:
     * skip those (there are few) and check the rest. */
    size_t kinked = 0;
    double amax = 0;
    for (size_t i = 0; i < n; i++)
        amax = fabs(dinp[i]) > amax ? fabs(dinp[i]) : amax;
    o.skip_kinks = relu;
    o.kinked = &kinked;
    o.abs_floor = relu ? 2e-3 * amax : 0;
    bad += gradcheck("bn dinp", c.inp, n, dinp, bn_loss, &c, o);
    bad += gradcheck("bn dgamma", c.gamma, (size_t)C, dg, bn_loss, &c, o);
    bad += gradcheck("bn dbeta", c.beta, (size_t)C, dbeta, bn_loss, &c, o);
    if (kinked * 20 > n)
        bad += (int)kinked;
    float *arr[] = {c.inp, c.out, c.r, c.gamma, c.beta, c.mean, c.rstd, c.rm, c.rv,
                    dinp,  dg,    dbeta};
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
        free(arr[i]);
    return bad;
}

static int bn_gradcheck(int B, int C, int S)
{
    return bn_gradcheck_mode(B, C, S, false);
}

TEST(layer_bn_relu_gradcheck)
{
    CHECK_INT_EQ(bn_gradcheck_mode(3, 2, 5, true), 0);
    CHECK_INT_EQ(bn_gradcheck_mode(2, 3, 45, true), 0); /* more than one 32-value block */
    CHECK_INT_EQ(bn_gradcheck_mode(7, 3, 1, true), 0);
}

/* The fused backward recomputes the ReLU's mask from the input: where forward's normalised
 * value is exactly 0 (its output 0, the ReLU closed) backward must see it closed too. Half
 * the values sit exactly there: x in {0, 1}, gamma 1, beta = (mean - 0) * rstd. */
TEST(layer_bn_relu_mask_at_zero)
{
    enum { B = 2, C = 1, S = 4, N = B * C * S };
    float x[N] = {0, 1, 0, 1, 1, 0, 0, 1}, y[N], dy[N], g[N], d1[N] = {0}, d2[N] = {0};
    float gamma[C] = {1.0f}, beta[C] = {0.0f}, m[C], rs[C], rm[C] = {0}, rv[C] = {1};
    float dg1[C] = {0}, db1[C] = {0}, dg2[C] = {0}, db2[C] = {0};
    batchnorm_relu_forward_train(y, m, rs, rm, rv, x, gamma, beta, B, C, S, 1e-5f, 0.1f);
    beta[0] = -((0.0f - m[0]) * rs[0]);
    batchnorm_relu_forward_train(y, m, rs, rm, rv, x, gamma, beta, B, C, S, 1e-5f, 0.1f);
    int closed = 0;
    for (int i = 0; i < N; i++) {
        dy[i] = 1.0f + 0.25f * (float)i;
        g[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        closed += x[i] == 0.0f && y[i] == 0.0f;
    }
    CHECK_INT_EQ(closed, 4);
    batchnorm_backward(d1, dg1, db1, g, x, m, rs, gamma, B, C, S);
    batchnorm_relu_backward(d2, dg2, db2, dy, x, m, rs, gamma, beta, B, C, S);
    for (int i = 0; i < N; i++)
        CHECK_CLOSE(d2[i], d1[i], 1e-6);
    CHECK_CLOSE(dg2[0], dg1[0], 1e-6);
    CHECK_CLOSE(db2[0], db1[0], 1e-6);
}

TEST(layer_bn_relu_matches_bn_then_relu)
{
    enum { B = 4, C = 3, S = 37 };
    size_t n = (size_t)B * C * S;
    float *x = fbuf(n), *y1 = fbuf(n), *y2 = fbuf(n), *dy = fbuf(n), *d1 = fbuf(n),
          *d2 = fbuf(n), *dr = fbuf(n);
    float g[C] = {1.2f, 0.7f, 1.0f}, be[C] = {0.1f, -0.3f, 0.0f}, m[C], rs[C], rm[C] = {0},
          rv[C] = {1, 1, 1}, dg1[C] = {0}, db1[C] = {0}, dg2[C] = {0}, db2[C] = {0};
    gc_fill(x, n, 31, -2, 2);
    gc_fill(dy, n, 32, -1, 1);
    batchnorm_forward_train(y1, m, rs, rm, rv, x, g, be, B, C, S, 1e-5f, 0.1f);
    relu_backward(dr, dy, y1, n); /* needs the ReLU's output: take it from y1 */
    relu_forward(y1, y1, n);
    batchnorm_backward(d1, dg1, db1, dr, x, m, rs, g, B, C, S);
    batchnorm_relu_forward_train(y2, m, rs, rm, rv, x, g, be, B, C, S, 1e-5f, 0.1f);
    batchnorm_relu_backward(d2, dg2, db2, dy, x, m, rs, g, be, B, C, S);
    for (size_t i = 0; i < n; i++) {
        CHECK_CLOSE(y2[i], y1[i], 1e-6);
        CHECK_CLOSE(d2[i], d1[i], 1e-5);
    }
    for (int c = 0; c < C; c++) {
        CHECK_CLOSE(dg2[c], dg1[c], 1e-5);
        CHECK_CLOSE(db2[c], db1[c], 1e-5);
    }
    free(x);
    free(y1);
    free(y2);
    free(dy);
    free(d1);
    free(d2);
    free(dr);
}

TEST(layer_bn_gradcheck_conv_maps)
{
    CHECK_INT_EQ(bn_gradcheck(3, 2, 5), 0);
    CHECK_INT_EQ(bn_gradcheck(2, 3, 12), 0);  /* S over the 8-lane unroll, with a tail */
}

TEST(layer_bn_gradcheck_dense)
{
    CHECK_INT_EQ(bn_gradcheck(6, 3, 1), 0);
    CHECK_INT_EQ(bn_gradcheck(11, 2, 1), 0);
}

TEST(layer_bn_train_stats_and_running_update)
{
    const int B = 4, C = 3, S = 10;
    const float eps = 1e-5f, mom = 0.1f;
    size_t n = (size_t)B * C * S;
    float *x = fbuf(n), *y = fbuf(n), *g = fbuf(C), *be = fbuf(C);
    float mean[3], rstd[3], rm[3] = {0.5f, -1.0f, 2.0f}, rv[3] = {1.0f, 0.5f, 3.0f};
    float rm0[3], rv0[3];
    memcpy(rm0, rm, sizeof rm);
    memcpy(rv0, rv, sizeof rv);
    gc_fill(x, n, 31, -1, 3);
    gc_fill(g, C, 32, 0.5f, 1.5f);
    gc_fill(be, C, 33, -1, 1);
    batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, be, B, C, S, eps, mom);
    for (int c = 0; c < C; c++) {
        double s = 0, sq = 0, ys = 0, ysq = 0;
        int m = B * S;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < S; i++)
                s += x[((size_t)b * C + c) * S + i];
        double mu = s / m;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < S; i++) {
                double d = x[((size_t)b * C + c) * S + i] - mu;
                sq += d * d;
                double yn = (y[((size_t)b * C + c) * S + i] - be[c]) / g[c];
                ys += yn;
                ysq += yn * yn;
            }
        double var = sq / m;
        CHECK_CLOSE(mean[c], mu, 1e-6);
        CHECK_CLOSE(rstd[c], 1.0 / sqrt(var + eps), 1e-5);
        CHECK_CLOSE(rm[c], (1 - mom) * rm0[c] + mom * mu, 1e-6);
        CHECK_CLOSE(rv[c], (1 - mom) * rv0[c] + mom * sq / (m - 1), 1e-6);
        /* the normalised output has zero mean and (biased) unit variance */
        CHECK_CLOSE(ys / m, 0.0, 1e-5);
        CHECK_CLOSE(ysq / m, var / (var + eps), 1e-4);
    }
    free(x);
    free(y);
    free(g);
    free(be);
}

/* Statistics stay accurate when the mean is far from zero relative to the spread. */
TEST(layer_bn_large_offset)
{
    const int B = 8, C = 2, S = 50;
    size_t n = (size_t)B * C * S;
    float *x = fbuf(n), *y = fbuf(n);
    float g[2] = {1, 1}, be[2] = {0, 0}, mean[2], rstd[2], rm[2] = {0, 0}, rv[2] = {1, 1};
    gc_fill(x, n, 35, -1, 1);
    for (size_t i = 0; i < n; i++)
        x[i] += 1000.0f;
    batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, be, B, C, S, 1e-5f, 0.1f);
    for (int c = 0; c < C; c++) {
        double s = 0, sq = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < S; i++)
                s += x[((size_t)b * C + c) * S + i];
        double mu = s / (B * S);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < S; i++) {
                double d = x[((size_t)b * C + c) * S + i] - mu;
                sq += d * d;
            }
        CHECK_CLOSE(mean[c], mu, 1e-6);
        CHECK_CLOSE(rstd[c], 1.0 / sqrt(sq / (B * S) + 1e-5), 1e-5);
    }
    free(x);
    free(y);
}

TEST(layer_bn_infer_uses_running_stats)
{
    const int B = 3, C = 2, S = 4;
    const float eps = 1e-3f;
    size_t n = (size_t)B * C * S;
    float *x = fbuf(n), *y = fbuf(n);
    float g[2] = {1.5f, 0.5f}, be[2] = {0.25f, -1.0f}, rm[2] = {0.3f, -2.0f}, rv[2] = {4.0f, 0.25f};
    gc_fill(x, n, 41, -3, 3);
    batchnorm_forward_infer(y, x, g, be, rm, rv, B, C, S, eps);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < S; i++) {
                size_t k = ((size_t)b * C + c) * S + i;
                double want = (x[k] - rm[c]) / sqrt(rv[c] + eps) * g[c] + be[c];
                CHECK_CLOSE(y[k], want, 1e-5);
            }
    free(x);
    free(y);
}

/* ------------------------------------------------------------ element-wise */

typedef struct {
    int kind;  /* 0 relu, 1 sigmoid, 2 add */
    size_t n;
    float *a, *b, *out, *r;
} EwCtx;

static double ew_loss(void *p)
{
    EwCtx *c = p;
    if (c->kind == 0)
        relu_forward(c->out, c->a, c->n);
    else if (c->kind == 1)
        sigmoid_forward(c->out, c->a, c->n);
    else
        add_forward(c->out, c->a, c->b, c->n);
    return gc_dot(c->out, c->r, c->n);
}

static void ew_setup(EwCtx *c, int kind, size_t n)
{
    c->kind = kind;
    c->n = n;
    c->a = fbuf(n);
    c->b = fbuf(n);
    c->out = fbuf(n);
    c->r = fbuf(n);
    gc_fill(c->a, n, 51, -3, 3);
    gc_fill(c->b, n, 52, -3, 3);
    gc_fill(c->r, n, 53, -1, 1);
    if (kind == 0)
        away_from_zero(c->a, n, 0.05f);
}

static void ew_free(EwCtx *c)
{
    free(c->a);
    free(c->b);
    free(c->out);
    free(c->r);
}

TEST(layer_relu_gradcheck)
{
    EwCtx c;
    ew_setup(&c, 0, 257);
    float *d = fbuf(c.n);
    ew_loss(&c);
    relu_backward(d, c.r, c.out, c.n);
    CHECK_INT_EQ(gradcheck("relu", c.a, c.n, d, ew_loss, &c, gc_defaults()), 0);
    free(d);
    ew_free(&c);
}

TEST(layer_sigmoid_gradcheck)
{
    EwCtx c;
    ew_setup(&c, 1, 257);
    float *d = fbuf(c.n);
    ew_loss(&c);
    sigmoid_backward(d, c.r, c.out, c.n);
    GcOpts o = gc_defaults();
    o.eps = 1e-3;
    CHECK_INT_EQ(gradcheck("sigmoid", c.a, c.n, d, ew_loss, &c, o), 0);
    /* saturates without overflow or NaN */
    float big[2] = {-100.0f, 100.0f}, s[2];
    sigmoid_forward(s, big, 2);
    CHECK(s[0] >= 0.0f && s[0] < 1e-30f);
    CHECK(s[1] == 1.0f);
    free(d);
    ew_free(&c);
}

TEST(layer_add_gradcheck)
{
    EwCtx c;
    ew_setup(&c, 2, 100);
    float *da = fbuf(c.n), *db = fbuf(c.n);
    ew_loss(&c);
    add_backward(da, db, c.r, c.n);
    CHECK_INT_EQ(gradcheck("add da", c.a, c.n, da, ew_loss, &c, gc_defaults()), 0);
    CHECK_INT_EQ(gradcheck("add db", c.b, c.n, db, ew_loss, &c, gc_defaults()), 0);
    free(da);
    free(db);
    ew_free(&c);
}

/* Large enough for the elementwise ops to take their threaded path. */
TEST(layer_elementwise_large)
{
    size_t n = 100003;
    float *x = fbuf(n), *y = fbuf(n), *d = fbuf(n), *g = fbuf(n);
    gc_fill(x, n, 61, -2, 2);
    gc_fill(g, n, 62, -1, 1);
    relu_forward(y, x, n);
    relu_backward(d, g, y, n);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = x[i] > 0 ? x[i] : 0.0f;
        float dwant = x[i] > 0 ? g[i] : 0.0f;
        bad += y[i] != want || d[i] != dwant;
    }
    CHECK_INT_EQ(bad, 0);
    sigmoid_forward(y, x, n);
    bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !(fabs(y[i] - 1.0 / (1.0 + exp(-(double)x[i]))) < 1e-6);
    CHECK_INT_EQ(bad, 0);
    free(x);
    free(y);
    free(d);
    free(g);
}

/* ---------------------------------------------------------------- pooling */

typedef struct {
    int kind;  /* 0 maxpool, 1 upsample, 2 gap */
    int B, C, H, W, K, stride, f;
    size_t n_in, n_out;
    float *inp, *out, *r;
    int32_t *idx;
} PoolCtx;

static double pool_loss(void *p)
{
    PoolCtx *c = p;
    if (c->kind == 0)
        maxpool_forward(c->out, c->idx, c->inp, c->B, c->C, c->H, c->W, c->K, c->stride);
    else if (c->kind == 1)
        upsample_forward(c->out, c->inp, c->B, c->C, c->H, c->W, c->f);
    else
        gap_forward(c->out, c->inp, c->B, c->C, c->H * c->W);
    return gc_dot(c->out, c->r, c->n_out);
}

static void pool_setup(PoolCtx *c, int kind, int B, int C, int H, int W, int K, int stride,
                       int f)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->B = B;
    c->C = C;
    c->H = H;
    c->W = W;
    c->K = K;
    c->stride = stride;
    c->f = f;
    c->n_in = (size_t)B * C * H * W;
    if (kind == 0)
        c->n_out = (size_t)B * C * ((H - K) / stride + 1) * ((W - K) / stride + 1);
    else if (kind == 1)
        c->n_out = c->n_in * f * f;
    else
        c->n_out = (size_t)B * C;
    c->inp = fbuf(c->n_in);
    c->out = fbuf(c->n_out);
    c->r = fbuf(c->n_out);
    c->idx = calloc(c->n_out, sizeof *c->idx);
    if (!c->idx)
        abort();
    gc_fill(c->r, c->n_out, 71, -1, 1);
    if (kind == 0) {
        /* distinct values 0.1 apart in shuffled order: +-eps never changes a window's max */
        for (size_t i = 0; i < c->n_in; i++)
            c->inp[i] = 0.1f * (float)i;
        uint32_t s = 12345;
        for (size_t i = c->n_in - 1; i > 0; i--) {
            s = s * 1664525u + 1013904223u;
            size_t j = (s >> 8) % (i + 1);
            float t = c->inp[i];
            c->inp[i] = c->inp[j];
            c->inp[j] = t;
        }
    } else {
        gc_fill(c->inp, c->n_in, 72, -1, 1);
    }
}

static void pool_backward(PoolCtx *c, float *dinp)
{
    if (c->kind == 0)
        maxpool_backward(dinp, c->r, c->idx, c->B, c->C, c->H, c->W, c->K, c->stride);
    else if (c->kind == 1)
        upsample_backward(dinp, c->r, c->B, c->C, c->H, c->W, c->f);
    else
        gap_backward(dinp, c->r, c->B, c->C, c->H * c->W);
}

static int pool_gradcheck(int kind, int B, int C, int H, int W, int K, int stride, int f)
{
    PoolCtx c;
    pool_setup(&c, kind, B, C, H, W, K, stride, f);
    float *d = fbuf(c.n_in);
    pool_loss(&c);
    pool_backward(&c, d);
    static const char *names[] = {"maxpool", "upsample", "gap"};
    int bad = gradcheck(names[kind], c.inp, c.n_in, d, pool_loss, &c, gc_defaults());
    free(d);
    free(c.inp);
    free(c.out);
    free(c.r);
    free(c.idx);
    return bad;
}

TEST(layer_maxpool_gradcheck)
{
    CHECK_INT_EQ(pool_gradcheck(0, 3, 2, 6, 8, 2, 2, 0), 0);
    CHECK_INT_EQ(pool_gradcheck(0, 2, 2, 7, 5, 3, 2, 0), 0);  /* overlapping, odd sizes */
    CHECK_INT_EQ(pool_gradcheck(0, 2, 3, 7, 5, 2, 2, 0), 0);  /* 2x2 fast path, odd sizes */
}

TEST(layer_maxpool_forward_values)
{
    /* one 4x4 plane, 2x2 windows: idx is the flat index y*W+x within the plane */
    float x[16] = {1, 5, 2, 0, 3, 4, 8, 1, 0, 0, 1, 1, 9, 2, 1, 7};
    float y[4];
    int32_t idx[4];
    maxpool_forward(y, idx, x, 1, 1, 4, 4, 2, 2);
    CHECK(y[0] == 5 && y[1] == 8 && y[2] == 9 && y[3] == 7);
    CHECK(idx[0] == 1 && idx[1] == 6 && idx[2] == 12 && idx[3] == 15);
    x[5] = NAN;
    maxpool_forward(y, idx, x, 1, 1, 4, 4, 2, 2);
    CHECK(isnan(y[0]));
}

TEST(layer_upsample_gradcheck)
{
    CHECK_INT_EQ(pool_gradcheck(1, 2, 3, 3, 4, 0, 0, 2), 0);
    CHECK_INT_EQ(pool_gradcheck(1, 1, 2, 2, 3, 0, 0, 3), 0);
}

TEST(layer_gap_gradcheck)
{
    CHECK_INT_EQ(pool_gradcheck(2, 3, 4, 3, 5, 0, 0, 0), 0);
}

/* ----------------------------------------------------------------- linear */

typedef struct {
    int B, I, O;
    float *inp, *w, *b, *out, *r;
} LinCtx;

static double lin_loss(void *p)
{
    LinCtx *c = p;
    linear_forward(c->out, c->inp, c->w, c->b, c->B, c->I, c->O);
    return gc_dot(c->out, c->r, (size_t)c->B * c->O);
}

TEST(layer_linear_gradcheck)
{
    LinCtx c = {.B = 5, .I = 7, .O = 3};
    c.inp = fbuf((size_t)c.B * c.I);
    c.w = fbuf((size_t)c.O * c.I);
    c.b = fbuf((size_t)c.O);
    c.out = fbuf((size_t)c.B * c.O);
    c.r = fbuf((size_t)c.B * c.O);
    gc_fill(c.inp, (size_t)c.B * c.I, 81, -1, 1);
    gc_fill(c.w, (size_t)c.O * c.I, 82, -1, 1);
    gc_fill(c.b, (size_t)c.O, 83, -1, 1);
    gc_fill(c.r, (size_t)c.B * c.O, 84, -1, 1);
    float *dinp = fbuf((size_t)c.B * c.I), *dw = fbuf((size_t)c.O * c.I), *db = fbuf(c.O);
    lin_loss(&c);
    /* forward against the definition */
    for (int n = 0; n < c.B; n++)
        for (int o = 0; o < c.O; o++) {
            double s = c.b[o];
            for (int i = 0; i < c.I; i++)
                s += (double)c.inp[n * c.I + i] * c.w[o * c.I + i];
            CHECK_CLOSE(c.out[n * c.O + o], s, 1e-5);
        }
    linear_backward(dinp, dw, db, c.r, c.inp, c.w, c.B, c.I, c.O);
    GcOpts o = gc_defaults();
    CHECK_INT_EQ(gradcheck("linear dinp", c.inp, (size_t)c.B * c.I, dinp, lin_loss, &c, o), 0);
    CHECK_INT_EQ(gradcheck("linear dw", c.w, (size_t)c.O * c.I, dw, lin_loss, &c, o), 0);
    CHECK_INT_EQ(gradcheck("linear db", c.b, (size_t)c.O, db, lin_loss, &c, o), 0);
    float *arr[] = {c.inp, c.w, c.b, c.out, c.r, dinp, dw, db};
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
        free(arr[i]);
}

/* ------------------------------------------------------ backward accumulates */


TEST(layer_backward_accumulates)
{
    {
        ConvCtx c;
        if (conv_setup(&c, 3, 2, 5, 6, 3, 3, 1, 1, 1, 91u) == 0) {
            float *dx[2], *dw[2], *db[2];
            conv_loss(&c);
            for (int k = 0; k < 2; k++) {
                dx[k] = fbuf(c.n_in);
                dw[k] = fbuf(c.n_w);
                db[k] = fbuf(3);
            }
            conv2d_backward(&c.s, c.B, dx[0], dw[0], db[0], c.r, c.inp, c.w, c.ws);
            conv2d_backward(&c.s, c.B, dx[1], dw[1], db[1], c.r, c.inp, c.w, c.ws);
            conv2d_backward(&c.s, c.B, dx[1], dw[1], db[1], c.r, c.inp, c.w, c.ws);
            CHECK(doubled(dx[0], dx[1], c.n_in));
            CHECK(doubled(dw[0], dw[1], c.n_w));
            CHECK(doubled(db[0], db[1], 3));
            for (int k = 0; k < 2; k++) {
                free(dx[k]);
                free(dw[k]);
                free(db[k]);
            }
        }
        conv_free(&c);
    }
    {
        /* pointwise conv has its own backward path */
        ConvCtx c;
        if (conv_setup(&c, 3, 2, 4, 3, 3, 1, 1, 0, 1, 92u) == 0) {
            float *dx1 = fbuf(c.n_in), *dx2 = fbuf(c.n_in), *dw1 = fbuf(c.n_w),
                  *dw2 = fbuf(c.n_w);
            conv2d_backward(&c.s, c.B, dx1, dw1, NULL, c.r, c.inp, c.w, c.ws);
            conv2d_backward(&c.s, c.B, dx2, dw2, NULL, c.r, c.inp, c.w, c.ws);
            conv2d_backward(&c.s, c.B, dx2, dw2, NULL, c.r, c.inp, c.w, c.ws);
            CHECK(doubled(dx1, dx2, c.n_in));
            CHECK(doubled(dw1, dw2, c.n_w));
            free(dx1);
            free(dx2);
            free(dw1);
            free(dw2);
        }
        conv_free(&c);
    }
    {
        const int B = 4, C = 3, S = 6;
        size_t n = (size_t)B * C * S;
        float *x = fbuf(n), *y = fbuf(n), *dy = fbuf(n), *g = fbuf(C), *be = fbuf(C);
        float mean[3], rstd[3], rm[3] = {0}, rv[3] = {1, 1, 1};
        gc_fill(x, n, 93, -1, 2);
        gc_fill(dy, n, 94, -1, 1);
        gc_fill(g, C, 95, 0.5f, 1.5f);
        batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, be, B, C, S, 1e-5f, 0.1f);
        float *dx1 = fbuf(n), *dx2 = fbuf(n), dg1[3] = {0}, dg2[3] = {0}, dbe1[3] = {0},
              dbe2[3] = {0};
        batchnorm_backward(dx1, dg1, dbe1, dy, x, mean, rstd, g, B, C, S);
        batchnorm_backward(dx2, dg2, dbe2, dy, x, mean, rstd, g, B, C, S);
        batchnorm_backward(dx2, dg2, dbe2, dy, x, mean, rstd, g, B, C, S);
        CHECK(doubled(dx1, dx2, n));
        CHECK(doubled(dg1, dg2, 3));
        CHECK(doubled(dbe1, dbe2, 3));
        float *arr[] = {x, y, dy, g, be, dx1, dx2};
        for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
            free(arr[i]);
    }
    {
        const int B = 3, I = 4, O = 5;
        float x[12], w[20], dy[15], out[15];
        float dx1[12] = {0}, dx2[12] = {0}, dw1[20] = {0}, dw2[20] = {0}, db1[5] = {0},
              db2[5] = {0};
        gc_fill(x, 12, 96, -1, 1);
        gc_fill(w, 20, 97, -1, 1);
        gc_fill(dy, 15, 98, -1, 1);
        linear_forward(out, x, w, NULL, B, I, O);
        linear_backward(dx1, dw1, db1, dy, x, w, B, I, O);
        linear_backward(dx2, dw2, db2, dy, x, w, B, I, O);
        linear_backward(dx2, dw2, db2, dy, x, w, B, I, O);
        CHECK(doubled(dx1, dx2, 12));
        CHECK(doubled(dw1, dw2, 20));
        CHECK(doubled(db1, db2, 5));
    }
    {
        /* element-wise and pooling layers */
        const int B = 2, C = 2, H = 4, W = 4;
        size_t n = (size_t)B * C * H * W, no = n / 4;
        float *x = fbuf(n), *y = fbuf(n), *g = fbuf(4 * n), *d1 = fbuf(n), *d2 = fbuf(n),
              *d3 = fbuf(n), *pooled = fbuf(no);
        int32_t idx[16];
        gc_fill(x, n, 99, -1, 1);
        gc_fill(g, 4 * n, 100, -1, 1);
        relu_forward(y, x, n);
        relu_backward(d1, g, y, n);
        relu_backward(d2, g, y, n);
        relu_backward(d2, g, y, n);
        CHECK(doubled(d1, d2, n));
        memset(d1, 0, n * sizeof *d1);
        memset(d2, 0, n * sizeof *d2);
        sigmoid_forward(y, x, n);
        sigmoid_backward(d1, g, y, n);
        sigmoid_backward(d2, g, y, n);
        sigmoid_backward(d2, g, y, n);
        CHECK(doubled(d1, d2, n));
        memset(d1, 0, n * sizeof *d1);
        memset(d2, 0, n * sizeof *d2);
        add_backward(d1, d3, g, n);
        add_backward(d2, d3, g, n);
        add_backward(d2, d3, g, n);
        CHECK(doubled(d1, d2, n));
        CHECK(doubled(d1, d3, n) == 0);  /* d3 got three adds, not two */
        memset(d1, 0, n * sizeof *d1);
        memset(d2, 0, n * sizeof *d2);
        maxpool_forward(pooled, idx, x, B, C, H, W, 2, 2);
        maxpool_backward(d1, g, idx, B, C, H, W, 2, 2);
        maxpool_backward(d2, g, idx, B, C, H, W, 2, 2);
        maxpool_backward(d2, g, idx, B, C, H, W, 2, 2);
        CHECK(doubled(d1, d2, n));
        memset(d1, 0, n * sizeof *d1);
        memset(d2, 0, n * sizeof *d2);
        upsample_backward(d1, g, B, C, H, W, 2);
        upsample_backward(d2, g, B, C, H, W, 2);
        upsample_backward(d2, g, B, C, H, W, 2);
        CHECK(doubled(d1, d2, n));
        memset(d1, 0, n * sizeof *d1);
        memset(d2, 0, n * sizeof *d2);
        gap_backward(d1, g, B, C, H * W);
        gap_backward(d2, g, B, C, H * W);
        gap_backward(d2, g, B, C, H * W);
        CHECK(doubled(d1, d2, n));
        float *arr[] = {x, y, g, d1, d2, d3, pooled};
        for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
            free(arr[i]);
    }
}

/* ----------------------------------------------- the checker catches errors */

TEST(layer_gradcheck_catches_errors)
{
    EwCtx c;
    ew_setup(&c, 0, 64);
    float *good = fbuf(c.n), *bad = fbuf(c.n);
    ew_loss(&c);
    relu_backward(good, c.r, c.out, c.n);
    CHECK_INT_EQ(gradcheck("relu (correct)", c.a, c.n, good, ew_loss, &c, gc_defaults()), 0);

    /* one element 10% off: pick the largest so it is well above the absolute floor */
    size_t k = 0;
    for (size_t i = 1; i < c.n; i++)
        if (fabsf(good[i]) > fabsf(good[k]))
            k = i;
    memcpy(bad, good, c.n * sizeof *bad);
    bad[k] *= 1.1f;
    printf("    (two failures expected below)\n");
    CHECK(gradcheck("relu (one element x1.1)", c.a, c.n, bad, ew_loss, &c, gc_defaults()) > 0);

    /* a dropped term: the mask read one element off */
    for (size_t i = 0; i < c.n; i++)
        bad[i] = c.out[(i + 1) % c.n] > 0.0f ? c.r[i] : 0.0f;
    CHECK(gradcheck("relu (mask off by one)", c.a, c.n, bad, ew_loss, &c, gc_defaults()) > 0);

    free(good);
    free(bad);
    ew_free(&c);

    /* and on a conv weight gradient */
    ConvCtx cc;
    if (conv_setup(&cc, 2, 2, 5, 5, 2, 3, 1, 1, 0, 101u) == 0) {
        float *dw = fbuf(cc.n_w);
        conv_loss(&cc);
        conv2d_backward(&cc.s, cc.B, NULL, dw, NULL, cc.r, cc.inp, cc.w, cc.ws);
        k = 0;
        for (size_t i = 1; i < cc.n_w; i++)
            if (fabsf(dw[i]) > fabsf(dw[k]))
                k = i;
        dw[k] *= 1.1f;
        printf("    (one failure expected below)\n");
        CHECK(gradcheck("conv dw (x1.1)", cc.w, cc.n_w, dw, conv_loss, &cc, gc_defaults()) > 0);
        free(dw);
    }
    conv_free(&cc);
}
