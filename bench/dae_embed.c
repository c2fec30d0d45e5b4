/* dae_embed.c — writes the DAE embeddings of every Fashion-MNIST training image, as the
 * pipeline's kmeans stage sees them, to a GSEM file (magic "GSEM", u32 n, u32 d, then n*d
 * float32, little-endian) for bench-kmeans, so gsimclr's k-means and scikit-learn's cluster
 * the same matrix. Usage: dae_embed OUT.gsem [CONFIG.json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/pipeline.h"

static void on_log(void *ctx, int stage, int epoch, const char *line)
{
    (void)ctx;
    (void)stage;
    (void)epoch;
    fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
    RunConfig cfg;
    Dataset train, test;
    GsErr err;
    float *emb = NULL;
    int dim = 0;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: dae_embed OUT.gsem [CONFIG.json]\n");
        return 2;
    }
    run_config_defaults(&cfg);
    if (argc == 3) {
        if (run_config_load_file(&cfg, argv[2], &err)) {
            fprintf(stderr, "dae_embed: %s\n", err.msg);
            return 1;
        }
    }
    if (dataset_load_named(cfg.dataset, NULL, &train, &test, &err)) {
        fprintf(stderr, "dae_embed: %s\n", err.msg);
        return 1;
    }
    Sink sink = {.log = on_log};
    if (pipeline_dae_embeddings(&cfg, &train, &sink, &emb, &dim, &err)) {
        fprintf(stderr, "dae_embed: %s\n", err.msg);
        return 1;
    }
    FILE *out = fopen(argv[1], "wb");
    uint32_t hdr[2] = {(uint32_t)train.n, (uint32_t)dim};
    int ok = out && fwrite("GSEM", 1, 4, out) == 4 && fwrite(hdr, 4, 2, out) == 2 &&
             fwrite(emb, sizeof(float) * dim, (size_t)train.n, out) == (size_t)train.n;
    if (out && fclose(out))
        ok = 0;
    if (!ok) {
        fprintf(stderr, "dae_embed: cannot write %s\n", argv[1]);
        return 1;
    }
    fprintf(stderr, "dae_embed: wrote %d x %d embeddings to %s\n", train.n, dim, argv[1]);
    free(emb);
    dataset_free(&train);
    dataset_free(&test);
    return 0;
}
