/* knn.c — the weighted kNN classifier of frozen features (cosine similarity, InstDisc-style
 * votes exp(sim / T)): the eval stage's second measure and SimCLR's optional monitor.
 * It reads test labels only to score; its result does not depend on the thread count (each
 * test row is decided by one thread). It allocates once per call and returns errors rather
 * than exiting. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "eval_common.h"
#include "gs/blas.h"
#include "gs/eval.h"

/* kNN similarity tiles: KNN_BLOCK test rows x KNN_TILE training rows per GEMM (2 MB, which
 * stays in L2). OpenBLAS repacks the training tile on every call, so fewer than a few hundred
 * test rows per GEMM make the packing a large share of the time (BENCHMARKS.md). */
#define KNN_BLOCK 256
#define KNN_TILE 2048

/* Heap order for the k nearest: a is worse than b when less similar, or equally similar with
 * a larger index (so ties go to the earlier training row). */
static bool nb_worse(float sa, int32_t ia, float sb, int32_t ib)
{
    return sa < sb || (sa == sb && ia > ib);
}

static void nb_swap(float *hs, int32_t *hi, int a, int b)
{
    float ts = hs[a];
    int32_t ti = hi[a];
    hs[a] = hs[b];
    hi[a] = hi[b];
    hs[b] = ts;
    hi[b] = ti;
}

static void heap_sift_down(float *hs, int32_t *hi, int k, int p)
{
    for (;;) {
        int c = 2 * p + 1;
        if (c >= k)
            return;
        if (c + 1 < k && nb_worse(hs[c + 1], hi[c + 1], hs[c], hi[c]))
            c++;
        if (!nb_worse(hs[c], hi[c], hs[p], hi[p]))
            return;
        nb_swap(hs, hi, c, p);
        p = c;
    }
}

static void heap_sift_up(float *hs, int32_t *hi, int c)
{
    while (c > 0) {
        int p = (c - 1) / 2;
        if (!nb_worse(hs[c], hi[c], hs[p], hi[p]))
            return;
        nb_swap(hs, hi, c, p);
        c = p;
    }
}

/* Feeds similarities sims (n) of training rows j0 .. j0+n-1 into one test row's heap of the
 * k nearest so far (hs/hi, *cnt entries, the worst at the root). A bounded min-heap rather
 * than a sort: once it is full nearly every candidate is rejected by one comparison.
 * Rows arrive in increasing index order, so an equal similarity always loses to the heap. */
static void topk_feed(float *hs, int32_t *hi, int *cnt, int k, const float *sims, int n,
                      int32_t j0)
{
    int j = 0;
    for (; j < n && *cnt < k; j++) {
        hs[*cnt] = sims[j];
        hi[*cnt] = j0 + j;
        heap_sift_up(hs, hi, (*cnt)++);
    }
    float worst = hs[0];
    for (; j < n; j++) {
        if (sims[j] > worst) {
            hs[0] = sims[j];
            hi[0] = j0 + j;
            heap_sift_down(hs, hi, k, 0);
            worst = hs[0];
        }
    }
}

/* out rows = x rows / ||x|| (a zero row stays zero and is similar to nothing) */
static void l2_normalise(float *out, const float *x, int n, int d)
{
#pragma omp parallel for schedule(static) num_threads(gs_threads_get()) \
    if ((size_t)n * d >= EVAL_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d; // (d)
        float *o = out + (size_t)i * d;     // (d)
        double s = 0.0;
        for (int j = 0; j < d; j++)
            s += (double)r[j] * r[j];
        double inv = s > 0.0 ? 1.0 / sqrt(s) : 0.0;
        for (int j = 0; j < d; j++)
            o[j] = (float)(r[j] * inv);
    }
}

int knn_accuracy(const float *xtr, const int32_t *ytr, int ntr, const float *xte,
                 const int32_t *yte, int nte, int d, int n_classes, int k, float temp,
                 double *top1, GsErr *err)
{
    if (!top1)
        return gs_errf(err, "knn: NULL result");
    if (k < 1)
        return gs_errf(err, "knn: k must be >= 1, got %d", k);
    if (!(temp > 0.0f && isfinite(temp)))
        return gs_errf(err, "knn: temperature must be finite and > 0, got %g", (double)temp);
    if (eval_check_features("knn", xtr, ytr, ntr, xte, yte, nte, d, n_classes, 1, err))
        return -1;
    if (k > ntr)
        k = ntr;
    const int BT = nte < KNN_BLOCK ? nte : KNN_BLOCK;
    const int NC = ntr < KNN_TILE ? ntr : KNN_TILE;
    const int nblocks = (nte + BT - 1) / BT;
    const int T = gs_threads_get() > 0 ? gs_threads_get() : 1;
    const int P = T < nblocks ? T : nblocks; // parts, each on one thread
    const size_t per = (size_t)BT * NC; // similarity tile floats per part
    const size_t hk = (size_t)BT * k;   // heap entries per part
    float *xn = malloc((size_t)ntr * d * sizeof *xn);                // (ntr, d)
    float *tn = malloc((size_t)nte * d * sizeof *tn);                // (nte, d)
    float *sims = malloc((size_t)P * per * sizeof *sims);            // (P, BT, NC)
    float *hs = malloc((size_t)P * hk * sizeof *hs);                 // (P, BT, k)
    int32_t *hi = malloc((size_t)P * hk * sizeof *hi);               // (P, BT, k)
    int *cnt = malloc((size_t)P * BT * sizeof *cnt);                 // (P, BT)
    double *votes = malloc((size_t)P * n_classes * sizeof *votes);   // (P, C)
    int rc = 0;
    if (!xn || !tn || !sims || !hs || !hi || !cnt || !votes) {
        rc = gs_errf(err, "knn: out of memory for %d x %d training features", ntr, d);
        goto done;
    }
    l2_normalise(xn, xtr, ntr, d);
    l2_normalise(tn, xte, nte, d);

    long correct = 0;
    /* Part t takes blocks t, t+P, ...; every test row is decided by one thread alone, so the
     * count does not depend on the thread count. Training rows come in tiles of NC so the
     * similarities stay in cache between the GEMM that writes them and the heaps that read
     * them; 256 test rows per GEMM keep OpenBLAS's packing of the tile a small cost. */
#pragma omp parallel for schedule(static, 1) num_threads(P) reduction(+ : correct)
    for (int t = 0; t < P; t++) {
        float *S = sims + (size_t)t * per;         // (BT, NC)
        float *ths = hs + (size_t)t * hk;          // (BT, k)
        int32_t *thi = hi + (size_t)t * hk;        // (BT, k)
        int *tc = cnt + (size_t)t * BT;            // (BT)
        double *v = votes + (size_t)t * n_classes; // (C)
        for (int blk = t; blk < nblocks; blk += P) {
            int r0 = blk * BT, m = nte - r0 < BT ? nte - r0 : BT;
            for (int i = 0; i < m; i++)
                tc[i] = 0;
            for (int c0 = 0; c0 < ntr; c0 += NC) {
                int nc = ntr - c0 < NC ? ntr - c0 : NC;
                gs_sgemm(false, true, m, nc, d, 1.0f, tn + (size_t)r0 * d, d,
                         xn + (size_t)c0 * d, d, 0.0f, S, nc);
                for (int i = 0; i < m; i++)
                    topk_feed(ths + (size_t)i * k, thi + (size_t)i * k, &tc[i], k,
                              S + (size_t)i * nc, nc, c0);
            }
            for (int i = 0; i < m; i++) {
                const float *rs = ths + (size_t)i * k;   // (k)
                const int32_t *ri = thi + (size_t)i * k; // (k)
                /* exp((s - max) / T) has the same argmax as exp(s / T) and cannot overflow */
                float smax = rs[0];
                for (int j = 1; j < k; j++)
                    if (rs[j] > smax)
                        smax = rs[j];
                for (int c = 0; c < n_classes; c++)
                    v[c] = 0.0;
                for (int j = 0; j < k; j++)
                    v[ytr[ri[j]]] += exp(((double)rs[j] - smax) / temp);
                int best = 0;
                for (int c = 1; c < n_classes; c++)
                    if (v[c] > v[best])
                        best = c;
                correct += best == yte[r0 + i];
            }
        }
    }
    *top1 = (double)correct / nte;
done:
    free(xn);
    free(tn);
    free(sims);
    free(hs);
    free(hi);
    free(cnt);
    free(votes);
    return rc;
}
