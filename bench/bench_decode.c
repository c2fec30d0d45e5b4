/* bench_decode.c — the image-folder reader's decoding speed: a folder loaded the way a run
 * loads it (scan, header probes, decode, resize when asked, on T threads; no decoded cache),
 * best of R repeats. Prints "ours_img_per_s=N images=N". bench/bench_decode.sh sets it beside
 * PIL on the same folder. Usage: bench_decode FOLDER THREADS [SIZE] [REPEATS] */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "gs/dataset.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_decode FOLDER THREADS [SIZE] [REPEATS]\n");
        return 2;
    }
    DatasetOptions o;
    dataset_options_defaults(&o);
    o.threads = atoi(argv[2]);
    o.size = argc > 3 ? atoi(argv[3]) : 0;
    int repeats = argc > 4 ? atoi(argv[4]) : 3;
    double best = 1e30;
    int n = 0;
    for (int r = 0; r < repeats; r++) {
        Dataset train, test;
        GsErr err;
        double t0 = bench_now();
        if (dataset_load(argv[1], &o, &train, &test, NULL, &err)) {
            fprintf(stderr, "bench_decode: %s\n", err.msg);
            return 1;
        }
        double t = bench_now() - t0;
        best = t < best ? t : best;
        n = train.n + test.n;
        dataset_free(&train);
        dataset_free(&test);
    }
    printf("ours_img_per_s=%.0f images=%d\n", n / best, n);
    return 0;
}
