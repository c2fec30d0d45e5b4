/* linear.c — fully connected layer, out (B, O) = inp (B, I) w^T + b, w (O, I) in PyTorch's
 * layout. OpenBLAS runs single-threaded, so the OpenMP threads split the GEMMs by rows of
 * the output they write (batch rows for out and dinp, weight rows for dw); every element is
 * still produced by exactly one GEMM, so results do not depend on the thread count. */
#include <stddef.h>

#include "gs/blas.h"
#include "gs/layers.h"

/* Rows [r0, r1) of n for part t of T. */
static void part(int n, int T, int t, int *r0, int *r1)
{
    *r0 = (int)((long long)n * t / T);
    *r1 = (int)((long long)n * (t + 1) / T);
}

void linear_forward(float *out, const float *inp, const float *w, const float *b, int B,
                    int I, int O)
{
    const int T = gs_threads_get() > 0 ? gs_threads_get() : 1;
#pragma omp parallel for schedule(static) num_threads(T)
    for (int t = 0; t < T; t++) {
        int r0, r1;
        part(B, T, t, &r0, &r1);
        if (r1 <= r0)
            continue;
        float *y = out + (size_t)r0 * O;  // (r1-r0, O)
        gs_sgemm(false, true, r1 - r0, O, I, 1.0f, inp + (size_t)r0 * I, I, w, I, 0.0f, y, O);
        if (b)
            for (int r = 0; r < r1 - r0; r++)
                for (int o = 0; o < O; o++)
                    y[(size_t)r * O + o] += b[o];
    }
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int B, int I, int O)
{
    const int T = gs_threads_get() > 0 ? gs_threads_get() : 1;
#pragma omp parallel for schedule(static) num_threads(T)
    for (int t = 0; t < T; t++) {
        int r0, r1;
        if (dinp) {
            /* dinp rows [r0, r1) += dout rows (r1-r0, O) x w (O, I) */
            part(B, T, t, &r0, &r1);
            if (r1 > r0)
                gs_sgemm(false, false, r1 - r0, I, O, 1.0f, dout + (size_t)r0 * O, O, w, I,
                         1.0f, dinp + (size_t)r0 * I, I);
        }
        /* dw rows [r0, r1) += dout^T (r1-r0, B) x inp (B, I); db for the same outputs */
        part(O, T, t, &r0, &r1);
        if (r1 <= r0)
            continue;
        if (dw)
            gs_sgemm(true, false, r1 - r0, I, B, 1.0f, dout + r0, O, inp, I, 1.0f,
                     dw + (size_t)r0 * I, I);
        if (db)
            for (int o = r0; o < r1; o++) {
                double s = 0.0;
                for (int n = 0; n < B; n++)
                    s += dout[(size_t)n * O + o];
                db[o] += (float)s;
            }
    }
}
