/* test_loss.c — the losses: forwards against naive double-precision references written here
 * (explicit loops and log-sum-exp, not the library's code path), finite-difference gradient
 * checks of every backward, NaN propagation, the add-into/scale contract of backward,
 * thread-count independence of NT-Xent, and a check that the gradient checker rejects
 * a plausibly wrong NT-Xent gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "gs/blas.h"
#include "gs/loss.h"
#include "harness.h"

/* ---- references in double ---- */

/* NT-Xent as PyTorch's SimCLR code computes it: F.normalize (norm clamped at 1e-12), logits
 * zn zn^T / tau with the diagonal removed, cross-entropy against the partner, mean over 2N.
 * Optionally returns the probabilities P (2N, 2N) (0 on the diagonal) and the gradient
 * dz (2N, D); with skip_norm_backward the gradient stops at zn and is divided by |z| only
 * (the classic mistake of forgetting the normalisation's Jacobian). */
static double ntxent_ref(const float *z, int N, int D, double tau, double *P, double *dz,
                         int skip_norm_backward)
{
    int R = 2 * N;
    double *zn = malloc(sizeof(double) * (size_t)R * D);  // (2N, D)
    double *nrm = malloc(sizeof(double) * (size_t)R);     // (2N)
    double *S = malloc(sizeof(double) * (size_t)R * R);   // (2N, 2N)
    double *lse = malloc(sizeof(double) * (size_t)R);     // (2N)
    double total = 0;
    if (!zn || !nrm || !S || !lse) {
        free(zn), free(nrm), free(S), free(lse);
        return NAN;
    }
    for (int i = 0; i < R; i++) {
        double ss = 0;
        for (int k = 0; k < D; k++)
            ss += (double)z[i * D + k] * z[i * D + k];
        nrm[i] = sqrt(ss);
        double den = nrm[i] < 1e-12 ? 1e-12 : nrm[i];
        for (int k = 0; k < D; k++)
            zn[i * D + k] = z[i * D + k] / den;
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < R; j++) {
            double d = 0;
            for (int k = 0; k < D; k++)
                d += zn[i * D + k] * zn[j * D + k];
            S[i * R + j] = d / tau;
        }
    for (int i = 0; i < R; i++) {
        int pos = i < N ? i + N : i - N;
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < R; j++)
            if (j != i && S[i * R + j] > mx)
                mx = S[i * R + j];
        for (int j = 0; j < R; j++)
            if (j != i)
                s += exp(S[i * R + j] - mx);
        lse[i] = mx + log(s);
        total += lse[i] - S[i * R + pos];
    }
    if (P || dz) {
        for (int i = 0; i < R; i++)
            for (int j = 0; j < R; j++)
                S[i * R + j] = (j == i) ? 0.0 : exp(S[i * R + j] - lse[i]);
        if (P)
            memcpy(P, S, sizeof(double) * (size_t)R * R);
    }
    if (dz) {
        /* dL/dS_ij = (P_ij - [j = partner(i)]) / 2N; S_ij = zn_i . zn_j / tau */
        for (int i = 0; i < R; i++) {
            int pi = i < N ? i + N : i - N;
            double g[1024]; /* D <= 1024 in these tests */
            for (int k = 0; k < D; k++)
                g[k] = 0;
            for (int j = 0; j < R; j++) {
                int pj = j < N ? j + N : j - N;
                double dij = (S[i * R + j] - (j == pi)) / R;
                double dji = (S[j * R + i] - (i == pj)) / R;
                for (int k = 0; k < D; k++)
                    g[k] += (dij + dji) * zn[j * D + k] / tau;
            }
            double den = nrm[i] < 1e-12 ? 1e-12 : nrm[i];
            double dot = 0;
            for (int k = 0; k < D; k++)
                dot += g[k] * zn[i * D + k];
            for (int k = 0; k < D; k++)
                dz[i * D + k] = skip_norm_backward || nrm[i] < 1e-12
                                    ? g[k] / den
                                    : (g[k] - zn[i * D + k] * dot) / den;
        }
    }
    free(zn), free(nrm), free(S), free(lse);
    return total / R;
}

/* ---- mse ---- */

typedef struct {
    float *pred, *target;
    size_t n;
} MseCtx;

static double mse_loss(void *ctx)
{
    MseCtx *c = ctx;
    return mse_forward(c->pred, c->target, c->n);
}

TEST(loss_mse_forward_and_gradcheck)
{
    enum { n = 37 };
    float pred[n], target[n], dpred[n];
    gc_fill(pred, n, 1, -2.0f, 2.0f);
    gc_fill(target, n, 2, 0.0f, 1.0f);
    double ref = 0;
    for (int i = 0; i < n; i++)
        ref += ((double)pred[i] - target[i]) * ((double)pred[i] - target[i]);
    ref /= n;
    CHECK_CLOSE(mse_forward(pred, target, n), ref, 1e-6);

    memset(dpred, 0, sizeof dpred);
    mse_backward(dpred, pred, target, n, 1.0f);
    for (int i = 0; i < n; i++)
        CHECK_CLOSE(dpred[i], 2.0 * ((double)pred[i] - target[i]) / n, 1e-6);
    MseCtx c = {pred, target, n};
    GcOpts o = gc_defaults();
    o.eps = 1e-2;
    o.rtol = 1e-3;
    o.atol = 1e-4;
    CHECK_INT_EQ(gradcheck("mse", pred, n, dpred, mse_loss, &c, o), 0);

    /* backward adds scale * gradient into what is there */
    float again[n];
    for (int i = 0; i < n; i++)
        again[i] = 1.0f;
    mse_backward(again, pred, target, n, 0.25f);
    for (int i = 0; i < n; i++)
        CHECK_CLOSE(again[i], 1.0 + 0.25 * dpred[i], 1e-6);

    pred[5] = NAN;
    CHECK(isnan(mse_forward(pred, target, n)));
}

/* ---- softmax cross-entropy ---- */

typedef struct {
    float *probs, *logits;
    const int32_t *labels;
    int B, C;
} XentCtx;

static double xent_loss(void *ctx)
{
    XentCtx *c = ctx;
    return xent_forward(c->probs, c->logits, c->labels, c->B, c->C);
}

TEST(loss_xent_forward_reference)
{
    enum { B = 6, C = 5 };
    float logits[B * C], probs[B * C];
    int32_t labels[B] = {0, 4, 2, 2, 1, 3};
    gc_fill(logits, B * C, 3, -4.0f, 4.0f);
    /* a row far beyond exp's float range: stable only with the max subtracted */
    for (int c = 0; c < C; c++)
        logits[2 * C + c] = 1000.0f + (float)c;
    double ref = 0;
    for (int b = 0; b < B; b++) {
        double mx = -INFINITY, s = 0;
        for (int c = 0; c < C; c++)
            mx = fmax(mx, logits[b * C + c]);
        for (int c = 0; c < C; c++)
            s += exp(logits[b * C + c] - mx);
        ref += mx + log(s) - logits[b * C + labels[b]];
    }
    ref /= B;
    float loss = xent_forward(probs, logits, labels, B, C);
    CHECK(isfinite(loss));
    CHECK_CLOSE(loss, ref, 1e-6);
    for (int b = 0; b < B; b++) {
        double mx = -INFINITY, s = 0, rowsum = 0;
        for (int c = 0; c < C; c++)
            mx = fmax(mx, logits[b * C + c]);
        for (int c = 0; c < C; c++)
            s += exp(logits[b * C + c] - mx);
        for (int c = 0; c < C; c++) {
            CHECK_CLOSE(probs[b * C + c], exp(logits[b * C + c] - mx) / s, 1e-6);
            rowsum += probs[b * C + c];
        }
        CHECK_CLOSE(rowsum, 1.0, 1e-6);
    }
}

TEST(loss_xent_gradcheck)
{
    enum { B = 5, C = 7 };
    float logits[B * C], probs[B * C], dlogits[B * C];
    int32_t labels[B] = {6, 0, 3, 3, 1};
    gc_fill(logits, B * C, 4, -3.0f, 3.0f);
    xent_forward(probs, logits, labels, B, C);
    memset(dlogits, 0, sizeof dlogits);
    xent_backward(dlogits, probs, labels, B, C, 1.0f);
    XentCtx c = {probs, logits, labels, B, C};
    GcOpts o = gc_defaults();
    o.eps = 1e-2;
    o.rtol = 5e-3;
    o.atol = 1e-3;
    CHECK_INT_EQ(gradcheck("xent", logits, B * C, dlogits, xent_loss, &c, o), 0);

    /* scale and add-into */
    float acc[B * C];
    for (int i = 0; i < B * C; i++)
        acc[i] = -2.0f;
    xent_forward(probs, logits, labels, B, C);
    xent_backward(acc, probs, labels, B, C, 3.0f);
    for (int i = 0; i < B * C; i++)
        CHECK_CLOSE(acc[i], -2.0 + 3.0 * dlogits[i], 1e-6);
}

TEST(loss_xent_nan)
{
    enum { B = 3, C = 4 };
    float logits[B * C], probs[B * C], d[B * C];
    int32_t labels[B] = {0, 1, 2};
    gc_fill(logits, B * C, 5, -1.0f, 1.0f);
    CHECK(isfinite(xent_forward(probs, logits, labels, B, C)));
    labels[1] = C;
    CHECK(isnan(xent_forward(probs, logits, labels, B, C)));
    memset(d, 0, sizeof d);
    xent_backward(d, probs, labels, B, C, 1.0f);
    CHECK(isnan(d[1 * C + 0]));
    labels[1] = -1;
    CHECK(isnan(xent_forward(probs, logits, labels, B, C)));
    labels[1] = 1;
    for (int i = 0; i < C; i++) {
        /* a NaN anywhere, including the first logit of a row (the max's seed) */
        float keep = logits[i];
        logits[i] = NAN;
        CHECK_MSG(isnan(xent_forward(probs, logits, labels, B, C)), "NaN at logit %d lost", i);
        logits[i] = keep;
    }
}

/* ---- NT-Xent ---- */

typedef struct {
    NtXent nt;
    float *ws;
    float *z;   // (2N, D)
    float *dz;  // (2N, D)
    double *P;  // (2N, 2N) reference
    double *rdz; // (2N, D) reference
} NtCase;

static int nt_open(NtCase *c, int N, int D, float tau, unsigned seed)
{
    size_t R = 2 * (size_t)N;
    memset(c, 0, sizeof *c);
    c->ws = malloc(sizeof(float) * ntxent_ws_floats(N, D));
    c->z = malloc(sizeof(float) * R * D);
    c->dz = calloc(R * D, sizeof(float));
    c->P = malloc(sizeof(double) * R * R);
    c->rdz = malloc(sizeof(double) * R * D);
    if (!c->ws || !c->z || !c->dz || !c->P || !c->rdz)
        return -1;
    ntxent_bind(&c->nt, N, D, tau, c->ws);
    gc_fill(c->z, R * D, seed, -1.0f, 1.0f);
    return 0;
}

static void nt_close(NtCase *c)
{
    free(c->ws), free(c->z), free(c->dz), free(c->P), free(c->rdz);
}

static double nt_loss(void *ctx)
{
    NtCase *c = ctx;
    return ntxent_forward(&c->nt, c->z);
}

TEST(loss_ntxent_forward_reference)
{
    static const struct {
        int N, D;
        float tau;
    } cases[] = {{1, 3, 0.5f}, {2, 4, 0.1f}, {4, 8, 0.5f}, {8, 16, 0.1f},
                 {37, 24, 0.2f}, {100, 50, 0.1f}, {256, 64, 0.5f}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int N = cases[t].N, D = cases[t].D, R = 2 * N;
        NtCase c;
        if (nt_open(&c, N, D, cases[t].tau, 100 + (unsigned)t)) {
            CHECK_MSG(0, "out of memory");
            nt_close(&c);
            return;
        }
        /* rows of very different lengths: the loss must not care */
        for (int k = 0; k < D; k++)
            c.z[k] *= 50.0f;
        double ref = ntxent_ref(c.z, N, D, cases[t].tau, c.P, NULL, 0);
        float loss = ntxent_forward(&c.nt, c.z);
        CHECK_MSG(fabs(loss - ref) <= 1e-5 * fmax(1.0, fabs(ref)),
                  "N=%d D=%d tau=%g: loss %.9g vs reference %.9g", N, D, (double)cases[t].tau,
                  (double)loss, ref);
        double worst = 0;
        for (int i = 0; i < R * R; i++)
            worst = fmax(worst, fabs(c.nt.prob[i] - c.P[i]));
        CHECK_MSG(worst <= 1e-5, "N=%d D=%d: probabilities off by %g", N, D, worst);
        for (int i = 0; i < R; i++)
            CHECK(c.nt.prob[(size_t)i * R + i] == 0.0f);
        nt_close(&c);
    }
}

TEST(loss_ntxent_zero_row_like_f_normalize)
{
    /* F.normalize leaves an all-zero row at zero: every logit of that row is 0 */
    NtCase c;
    int N = 3, D = 5;
    if (nt_open(&c, N, D, 0.5f, 7) == 0) {
        for (int k = 0; k < D; k++)
            c.z[1 * D + k] = 0.0f;
        double ref = ntxent_ref(c.z, N, D, 0.5, NULL, NULL, 0);
        float loss = ntxent_forward(&c.nt, c.z);
        CHECK(isfinite(loss));
        CHECK_CLOSE(loss, ref, 1e-5);
    } else {
        CHECK_MSG(0, "out of memory");
    }
    nt_close(&c);
}

/* Finite differences of the float forward, on entries of size ~1. The step balances the
 * float rounding of the loss (~1e-7 / eps) against truncation (~eps^2 / tau^3): measured over
 * 140 random cases of these sizes, eps = 1e-2 misses 0.2% at tau = 0.1 and eps = 2e-3 drowns
 * in rounding, while eps = 5e-3 passes every case even at rtol 2e-3. */
static GcOpts nt_gc_opts(void)
{
    GcOpts o = gc_defaults();
    o.eps = 5e-3;
    o.rtol = 3e-3;
    o.atol = 6e-4;
    return o;
}

TEST(loss_ntxent_gradcheck)
{
    static const struct {
        int N, D;
        float tau;
    } cases[] = {{1, 4, 0.5f}, {2, 3, 0.1f}, {3, 8, 0.5f}, {4, 6, 0.1f}, {6, 5, 0.2f},
                 {16, 8, 0.1f}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int N = cases[t].N, D = cases[t].D;
        size_t n = 2 * (size_t)N * D;
        NtCase c;
        if (nt_open(&c, N, D, cases[t].tau, 200 + (unsigned)t)) {
            CHECK_MSG(0, "out of memory");
            nt_close(&c);
            return;
        }
        ntxent_forward(&c.nt, c.z);
        ntxent_backward(&c.nt, c.dz, 1.0f);
        char what[64];
        snprintf(what, sizeof what, "ntxent N=%d D=%d tau=%g", N, D, (double)cases[t].tau);
        CHECK_MSG(gradcheck(what, c.z, n, c.dz, nt_loss, &c, nt_gc_opts()) == 0, "%s", what);

        /* and against the reference's analytic gradient, element by element */
        ntxent_ref(c.z, N, D, cases[t].tau, NULL, c.rdz, 0);
        double worst = 0, big = 0;
        for (size_t i = 0; i < n; i++) {
            worst = fmax(worst, fabs(c.dz[i] - c.rdz[i]));
            big = fmax(big, fabs(c.rdz[i]));
        }
        CHECK_MSG(worst <= 1e-4 * fmax(big, 1e-3), "%s: gradient off by %g (max %g)", what,
                  worst, big);
        nt_close(&c);
    }
}

TEST(loss_ntxent_backward_adds_scaled)
{
    int N = 5, D = 7;
    size_t n = 2 * (size_t)N * D;
    NtCase c;
    float *base = malloc(sizeof(float) * n), *acc = malloc(sizeof(float) * n);
    if (!base || !acc || nt_open(&c, N, D, 0.1f, 9)) {
        CHECK_MSG(0, "out of memory");
        free(base), free(acc);
        nt_close(&c);
        return;
    }
    ntxent_forward(&c.nt, c.z);
    ntxent_backward(&c.nt, c.dz, 1.0f);
    gc_fill(base, n, 10, -1.0f, 1.0f);
    memcpy(acc, base, sizeof(float) * n);
    /* a second backward must not depend on the first having run (no state consumed) */
    ntxent_backward(&c.nt, acc, 0.5f);
    for (size_t i = 0; i < n; i++)
        CHECK_CLOSE(acc[i], base[i] + 0.5 * c.dz[i], 1e-6);
    free(base), free(acc);
    nt_close(&c);
}

TEST(loss_ntxent_wrong_gradient_fails)
{
    /* The checker has to be able to say no: with the normalisation's backward left out, or
     * one element 10% off, gradcheck must report failures. */
    int N = 4, D = 6;
    size_t n = 2 * (size_t)N * D;
    NtCase c;
    float *wrong = malloc(sizeof(float) * n);
    if (!wrong || nt_open(&c, N, D, 0.1f, 11)) {
        CHECK_MSG(0, "out of memory");
        free(wrong);
        nt_close(&c);
        return;
    }
    /* rows of unequal length, so skipping the Jacobian of z/|z| is visible */
    for (size_t i = 0; i < n; i++)
        c.z[i] *= 1.0f + (float)(i / D) * 0.3f;
    ntxent_ref(c.z, N, D, 0.1, NULL, c.rdz, 1);
    for (size_t i = 0; i < n; i++)
        wrong[i] = (float)c.rdz[i];
    printf("    (expected failure report follows)\n");
    CHECK(gradcheck("ntxent without normalisation backward", c.z, n, wrong, nt_loss, &c,
                    nt_gc_opts()) > 0);

    ntxent_forward(&c.nt, c.z);
    ntxent_backward(&c.nt, c.dz, 1.0f);
    CHECK_INT_EQ(gradcheck("ntxent correct", c.z, n, c.dz, nt_loss, &c, nt_gc_opts()), 0);
    size_t big = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(c.dz[i]) > fabsf(c.dz[big]))
            big = i;
    memcpy(wrong, c.dz, sizeof(float) * n);
    wrong[big] *= 1.1f;
    printf("    (expected failure report follows)\n");
    CHECK_INT_EQ(gradcheck("ntxent one element x1.1", c.z, n, wrong, nt_loss, &c, nt_gc_opts()),
                 1);
    free(wrong);
    nt_close(&c);
}

TEST(loss_ntxent_nan_propagates)
{
    int N = 4, D = 6;
    NtCase c;
    if (nt_open(&c, N, D, 0.5f, 12)) {
        CHECK_MSG(0, "out of memory");
        nt_close(&c);
        return;
    }
    CHECK(isfinite(ntxent_forward(&c.nt, c.z)));
    int spots[] = {0, 5, 2 * 6 + 3, 2 * N * D - 1};
    for (size_t s = 0; s < sizeof spots / sizeof spots[0]; s++) {
        float keep = c.z[spots[s]];
        c.z[spots[s]] = NAN;
        CHECK_MSG(isnan(ntxent_forward(&c.nt, c.z)), "NaN at z[%d] lost", spots[s]);
        c.z[spots[s]] = INFINITY;
        CHECK_MSG(isnan(ntxent_forward(&c.nt, c.z)), "inf at z[%d] lost", spots[s]);
        c.z[spots[s]] = keep;
    }
    nt_close(&c);
}

TEST(loss_ntxent_aligned_positives_lower)
{
    int N = 32, D = 16;
    NtCase c;
    if (nt_open(&c, N, D, 0.1f, 13)) {
        CHECK_MSG(0, "out of memory");
        nt_close(&c);
        return;
    }
    float random_loss = ntxent_forward(&c.nt, c.z);
    /* second view = first view, scaled (normalisation removes the scale) */
    for (int i = 0; i < N * D; i++)
        c.z[N * D + i] = 3.0f * c.z[i];
    float aligned_loss = ntxent_forward(&c.nt, c.z);
    CHECK_MSG(aligned_loss < random_loss - 1.0f, "aligned %g vs random %g",
              (double)aligned_loss, (double)random_loss);
    CHECK(aligned_loss > 0.0f);
    CHECK_CLOSE(ntxent_ref(c.z, N, D, 0.1, NULL, NULL, 0), aligned_loss, 1e-5);
    nt_close(&c);
}

TEST(loss_ntxent_same_for_any_thread_count)
{
    /* 300 images: 600 rows, not a multiple of the row block */
    int N = 300, D = 20;
    size_t n = 2 * (size_t)N * D;
    NtCase c;
    float *dz1 = calloc(n, sizeof(float));
    int keep = gs_threads_get();
    if (!dz1 || nt_open(&c, N, D, 0.1f, 14)) {
        CHECK_MSG(0, "out of memory");
        free(dz1);
        nt_close(&c);
        return;
    }
    gs_threads_set(1);
    float l1 = ntxent_forward(&c.nt, c.z);
    ntxent_backward(&c.nt, dz1, 1.0f);
    gs_threads_set(3);
    float l3 = ntxent_forward(&c.nt, c.z);
    ntxent_backward(&c.nt, c.dz, 1.0f);
    gs_threads_set(keep);
    CHECK(memcmp(&l1, &l3, sizeof l1) == 0);
    CHECK(memcmp(dz1, c.dz, sizeof(float) * n) == 0);
    free(dz1);
    nt_close(&c);
}

TEST(loss_ntxent_large)
{
    /* the biggest batch the service allows: runs, agrees with the reference on the loss */
    int N = 1024, D = 64;
    NtCase c;
    if (nt_open(&c, N, D, 0.1f, 15)) {
        CHECK_MSG(0, "out of memory");
        nt_close(&c);
        return;
    }
    float loss = ntxent_forward(&c.nt, c.z);
    ntxent_backward(&c.nt, c.dz, 1.0f);
    double ref = ntxent_ref(c.z, N, D, 0.1, NULL, NULL, 0);
    CHECK_CLOSE(loss, ref, 1e-5);
    int finite = 1;
    for (size_t i = 0; i < 2 * (size_t)N * D; i++)
        finite &= isfinite(c.dz[i]);
    CHECK(finite);
    nt_close(&c);
}
