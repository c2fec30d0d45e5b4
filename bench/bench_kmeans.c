/* bench_kmeans.c — times kmeans_fit on a GSEM matrix (magic "GSEM", u32 n, u32 d, n*d
 * little-endian float32) for bench/bench_kmeans.sh, which puts the numbers beside
 * scikit-learn's. Only the fit is timed, not the file read. Prints one line:
 *   ours k=K seconds=S inertia=I n_iter=N best_init=B
 * Usage: bench_kmeans FILE K [n_init=4] [max_iter=100] [threads=2] [seed=0] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "gs/blas.h"
#include "gs/kmeans.h"

static float *read_gsem(const char *path, int *n, int *d)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[12];
    if (!f || fread(h, 1, 12, f) != 12 || memcmp(h, "GSEM", 4) != 0) {
        fprintf(stderr, "%s: not a GSEM file\n", path);
        if (f)
            fclose(f);
        return NULL;
    }
    uint32_t un = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
    uint32_t ud = (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
    if (un == 0 || ud == 0 || un > (1u << 30) / ud) {
        fprintf(stderr, "%s: bad shape %u x %u\n", path, un, ud);
        fclose(f);
        return NULL;
    }
    size_t count = (size_t)un * ud;
    float *x = malloc(count * sizeof *x);
    if (!x || fread(x, sizeof *x, count, f) != count) {
        fprintf(stderr, "%s: truncated (want %u x %u floats)\n", path, un, ud);
        free(x);
        fclose(f);
        return NULL;
    }
    fclose(f); /* the file is little-endian, like every machine this runs on */
    *n = (int)un;
    *d = (int)ud;
    return x;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FILE K [n_init] [max_iter] [threads] [seed]\n", argv[0]);
        return 2;
    }
    int n, d;
    float *x = read_gsem(argv[1], &n, &d);
    if (!x)
        return 1;
    KmeansConfig cfg = kmeans_defaults();
    cfg.k = atoi(argv[2]);
    cfg.n_init = argc > 3 ? atoi(argv[3]) : 4;
    cfg.max_iter = argc > 4 ? atoi(argv[4]) : 100;
    gs_threads_set(argc > 5 ? atoi(argv[5]) : 2);
    cfg.seed = argc > 6 ? strtoull(argv[6], NULL, 10) : 0;
    KmeansResult res;
    GsErr err;
    double t0 = bench_now();
    if (kmeans_fit(&res, x, n, d, &cfg, NULL, &err)) {
        fprintf(stderr, "bench_kmeans: %s\n", err.msg);
        free(x);
        return 1;
    }
    double t = bench_now() - t0;
    printf("ours k=%d seconds=%.4f inertia=%.6e n_iter=%d best_init=%d\n", cfg.k, t, res.inertia,
           res.n_iter, res.best_init);
    kmeans_result_free(&res);
    free(x);
    return 0;
}
