/* dataset.c — operations on a loaded Dataset: cutting it down to a subset so tests and demos
 * run in seconds, and freeing it. The subset is compacted in place, then the buffers shrink. */
#include "gs/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "gs/rng.h"

int dataset_subset(Dataset *ds, int n, uint64_t seed, GsErr *err)
{
    if (!ds->pixels || ds->n <= 0 || ds->c <= 0 || ds->h <= 0 || ds->w <= 0)
        return gs_errf(err, "subset: the dataset is empty");
    if (n <= 0 || n > ds->n)
        return gs_errf(err, "subset: n = %d outside 1..%d (the dataset's size)", n, ds->n);
    if (seed != 0) {
        /* Selection sampling (Knuth's Algorithm S): image i is kept with probability
         * (still needed) / (still left), which gives a uniform n-subset, already in the
         * original order, with each kept image moved only towards the front. */
        size_t img = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
        Rng rng;
        rng_seed(&rng, seed);
        int kept = 0;
        for (int i = 0; i < ds->n && kept < n; i++) {
            if (rng_below(&rng, (uint64_t)(ds->n - i)) >= (uint64_t)(n - kept))
                continue;
            if (kept != i) {
                memcpy(ds->pixels + (size_t)kept * img, ds->pixels + (size_t)i * img, img);
                if (ds->labels)
                    ds->labels[kept] = ds->labels[i];
            }
            kept++;
        }
    }
    /* n_classes stays as it was: the label space does not shrink with the sample, so a train
     * and a test subset of one dataset keep agreeing on it.
     * A shrinking realloc that fails leaves the old, larger block, which is still valid. */
    if (n < ds->n) {
        size_t img = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
        uint8_t *p = realloc(ds->pixels, (size_t)n * img);
        if (p)
            ds->pixels = p;
        if (ds->labels) {
            int32_t *l = realloc(ds->labels, (size_t)n * sizeof *l);
            if (l)
                ds->labels = l;
        }
    }
    ds->n = n;
    return 0;
}

void dataset_free(Dataset *ds)
{
    if (!ds)
        return;
    free(ds->pixels);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}
