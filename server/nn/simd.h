/* simd.h — the two ways server/nn uses vector instructions beyond the x86-64 baseline
 * (SSE2) the build targets, so the build stays portable to any x86-64:
 * - GS_SIMD: compile a plain loop twice, for the baseline and for AVX2, and pick the copy at
 *   load time by the CPU's features (GCC and clang function multi-versioning; by feature,
 *   not CPU model: GCC's "arch=" clones test the model, so AMD CPUs never took an
 *   arch=haswell copy). Used by Winograd's transforms.
 * - GS_HAVE_AVX2_KERNELS, AVX2_FN, FMA: intrinsic kernels compiled for AVX2 + FMA, which
 *   their callers take only where conv3x3_avx2() says the CPU has both (direct3x3.c,
 *   winograd.c's fused F(4x4)).
 * Results are bit-identical on one CPU type, as with OpenBLAS's own kernels. */
#ifndef GS_SIMD_H
#define GS_SIMD_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GS_SIMD __attribute__((target_clones("avx2", "default")))
#else
#define GS_SIMD
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GS_HAVE_AVX2_KERNELS 1
#include <immintrin.h>
/* A kernel's accumulators are named variables: compilers keep an array of them in memory. */
#define AVX2_FN __attribute__((target("avx2,fma")))
#define FMA(acc, a, b) acc = _mm256_fmadd_ps(a, b, acc)
#else
#define GS_HAVE_AVX2_KERNELS 0
#endif

#endif
