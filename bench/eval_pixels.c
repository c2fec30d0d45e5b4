/* eval_pixels.c — the reference the README's results table sets beside the trained encoders:
 * the same linear evaluation (and kNN) on raw pixels in [0, 1], with the run config's eval
 * settings, on the same images a run of that config trains and evaluates on (its dataset,
 * size, held-out test set and subsets, through pipeline_load_data). Prints one JSON line.
 * Usage: eval_pixels [CONFIG.json [DATA_ROOT]] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gs/augment.h"
#include "gs/blas.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/eval.h"
#include "gs/pipeline.h"

static float *to_float(const Dataset *ds)
{
    size_t n = (size_t)ds->n * ds->c * ds->h * ds->w;
    float *x = malloc(sizeof(float) * n);
    if (x)
        augment_to_float(x, ds->pixels, n);
    return x;
}

int main(int argc, char **argv)
{
    RunConfig cfg;
    Dataset train, test;
    GsErr err;
    LinearEvalResult le;
    double knn = NAN;

    run_config_defaults(&cfg);
    if (argc >= 2) {
        if (run_config_load_file(&cfg, argv[1], &err)) {
            fprintf(stderr, "eval_pixels: %s\n", err.msg);
            return 1;
        }
    }
    gs_threads_set(cfg.threads);
    if (pipeline_load_data(&cfg, argc >= 3 ? argv[2] : NULL, NULL, &train, &test, &err)) {
        fprintf(stderr, "eval_pixels: %s\n", err.msg);
        return 1;
    }
    int d = train.c * train.h * train.w;
    float *xtr = to_float(&train), *xte = to_float(&test);
    LinearEvalConfig lc = cfg.eval.linear;
    lc.seed = cfg.seed;
    if (!xtr || !xte ||
        linear_eval(xtr, train.labels, train.n, xte, test.labels, test.n, d, train.n_classes,
                    &lc, NULL, &le, &err) ||
        knn_accuracy(xtr, train.labels, train.n, xte, test.labels, test.n, d, train.n_classes,
                     cfg.eval.knn_k, cfg.eval.knn_temperature, &knn, &err)) {
        fprintf(stderr, "eval_pixels: %s\n", xtr && xte ? err.msg : "out of memory");
        return 1;
    }
    printf("{\"features\":\"raw pixels\",\"dim\":%d,\"linear_top1\":%.4f,\"linear_val_top1\":%.4f,"
           "\"linear_weight_decay\":%g,\"knn_top1\":%.4f}\n",
           d, le.test_top1, le.val_top1, (double)le.weight_decay, knn);
    free(xtr);
    free(xte);
    dataset_free(&train);
    dataset_free(&test);
    return 0;
}
