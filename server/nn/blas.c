/* blas.c — the only file that talks to OpenBLAS (cblas.h) and OpenMP's thread count.
 * OpenBLAS is pinned to one thread: the project's loops already split work across the
 * OpenMP threads and call SGEMM from inside them, and two thread pools spinning against each
 * other on two cores would halve the speed of both. */
#include "gs/blas.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Per calling thread, like OpenMP's own thread-count setting: each worker of the daemon sets
 * the count for the loops it starts. */
static _Thread_local int g_threads = 1;

void gs_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

void gs_threads_set(int n)
{
    if (n < 1)
        n = 1;
    g_threads = n;
    openblas_set_num_threads(1);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int gs_threads_get(void)
{
    return g_threads;
}
