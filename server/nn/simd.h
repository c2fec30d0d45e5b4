/* simd.h — GS_SIMD: compile a hot loop twice, for the x86-64 baseline (SSE2) the build
 * targets and for Haswell's AVX2 + FMA, and pick the copy at load time by what the CPU offers
 * (GCC and clang function multi-versioning). The build stays portable to any x86-64 while
 * loops OpenBLAS does not run (Winograd's transforms) use 8-wide vectors where they exist;
 * direct3x3.c's intrinsic kernels pick theirs at run time instead (they need the target).
 * Results are bit-identical on one CPU type, as with OpenBLAS's own kernels. */
#ifndef GS_SIMD_H
#define GS_SIMD_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GS_SIMD __attribute__((target_clones("avx2", "default")))
#else
#define GS_SIMD
#endif

#endif
