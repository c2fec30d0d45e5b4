/* blas.h — the one door to OpenBLAS. Row-major SGEMM with BLAS-shaped arguments, and the
 * thread settings. Only server/nn/blas.c includes cblas.h. */
#ifndef GS_BLAS_H
#define GS_BLAS_H

#include <stdbool.h>

/* C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, all row-major. */
void gs_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* gsimclr parallelises its own loops (OpenMP, over images or rows) and calls SGEMM from
 * inside them, so OpenBLAS itself runs single-threaded; gs_threads_set(T) sets the number of
 * OpenMP threads every parallel loop started from the calling thread uses. */
void gs_threads_set(int n);
int gs_threads_get(void);

#endif
