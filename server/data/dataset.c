/* dataset.c — operations on a loaded Dataset: cutting it down to a subset so tests and demos
 * run in seconds, holding out a stratified part of train as a test set, resizing every image,
 * and freeing it. The subset is compacted in place, then the buffers shrink. */
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

static void free_names(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void dataset_free(Dataset *ds)
{
    if (!ds)
        return;
    free(ds->pixels);
    free(ds->labels);
    free_names(ds->class_names, ds->n_classes);
    free_names(ds->skipped, ds->n_skipped);
    memset(ds, 0, sizeof *ds);
}

int dataset_resize(Dataset *ds, int size, ImageFit fit, int threads, GsErr *err)
{
    if (size < 1 || size > 1024)
        return gs_errf(err, "dataset.size: %d outside 1..1024", size);
    if (ds->n == 0 || (ds->h == size && ds->w == size))
        return 0;
    if (ds->c != 1 && ds->c != 3)
        return gs_errf(err, "dataset: cannot resize images of %d channels", ds->c);
    size_t in_img = (size_t)ds->c * ds->h * ds->w, out_img = (size_t)ds->c * size * size;
    uint8_t *out = malloc(out_img * (size_t)ds->n);
    if (!out)
        return gs_errf(err, "dataset: out of memory resizing %d images to %d", ds->n, size);
    int bad = 0;
    threads = threads > 0 ? threads : 1;
#pragma omp parallel num_threads(threads)
    {
        /* image_resize reads interleaved pixels; the set is planar */
        uint8_t *tmp = malloc(in_img);
        int mine = tmp == NULL;
#pragma omp for schedule(static)
        for (int i = 0; i < ds->n; i++) {
            if (mine)
                continue;
            const uint8_t *src = ds->pixels + (size_t)i * in_img;
            size_t plane = (size_t)ds->h * ds->w;
            for (size_t p = 0; p < plane; p++)
                for (int ch = 0; ch < ds->c; ch++)
                    tmp[p * ds->c + ch] = src[ch * plane + p];
            GsErr e;
            if (image_resize(tmp, ds->w, ds->h, ds->c, fit, size, ds->c,
                             out + (size_t)i * out_img, &e))
                mine = 1;
        }
        if (mine) {
#pragma omp atomic write
            bad = 1;
        }
        free(tmp);
    }
    if (bad) {
        free(out);
        return gs_errf(err, "dataset: out of memory resizing images to %d", size);
    }
    free(ds->pixels);
    ds->pixels = out;
    ds->h = ds->w = size;
    return 0;
}

/* A copy of the images of ds where take[i] == want, in order, into out (labels too). */
static int split_copy(const Dataset *ds, const uint8_t *take, int want, int n, Dataset *out,
                      GsErr *err)
{
    size_t img = (size_t)ds->c * ds->h * ds->w;
    memset(out, 0, sizeof *out);
    out->pixels = malloc(img * (size_t)(n ? n : 1));
    out->labels = malloc(sizeof *out->labels * (size_t)(n ? n : 1));
    if (!out->pixels || !out->labels) {
        dataset_free(out);
        return gs_errf(err, "dataset: out of memory holding out a test set");
    }
    int j = 0;
    for (int i = 0; i < ds->n; i++)
        if (take[i] == want) {
            memcpy(out->pixels + (size_t)j * img, ds->pixels + (size_t)i * img, img);
            out->labels[j++] = ds->labels[i];
        }
    out->n = n;
    out->c = ds->c;
    out->h = ds->h;
    out->w = ds->w;
    out->n_classes = ds->n_classes;
    return 0;
}

int dataset_holdout(Dataset *train, Dataset *test, double fraction, uint64_t seed, GsErr *err)
{
    memset(test, 0, sizeof *test);
    if (!train->labels || train->n_classes < 1)
        return gs_errf(err, "dataset.val_fraction: the training set has no labels to hold "
                            "out a stratified test set by");
    if (!(fraction > 0.0 && fraction < 1.0))
        return gs_errf(err, "dataset.val_fraction: %g outside (0, 1)", fraction);
    uint8_t *take = calloc((size_t)train->n, 1);
    int *idx = malloc(sizeof *idx * (size_t)train->n);
    if (!take || !idx) {
        free(take);
        free(idx);
        return gs_errf(err, "dataset: out of memory holding out a test set");
    }
    Rng rng;
    rng_seed(&rng, seed);
    int n_test = 0;
    /* per class: a seeded shuffle of its images (Fisher-Yates), the first ones held out */
    for (int k = 0; k < train->n_classes; k++) {
        int m = 0;
        for (int i = 0; i < train->n; i++)
            if (train->labels[i] == k)
                idx[m++] = i;
        int h = (int)(fraction * m + 0.5);
        if (h == 0 && m >= 2)
            h = 1;
        if (h >= m && m > 0)
            h = m - 1;
        for (int i = m - 1; i > 0; i--) {
            int j = (int)rng_below(&rng, (uint64_t)i + 1);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        for (int i = 0; i < h; i++)
            take[idx[i]] = 1;
        n_test += h;
    }
    free(idx);
    if (n_test == 0 || n_test == train->n) {
        free(take);
        return gs_errf(err, "dataset.val_fraction: %g of %d images leaves no test or no train "
                       "image", fraction, train->n);
    }
    Dataset kept;
    if (split_copy(train, take, 1, n_test, test, err) ||
        split_copy(train, take, 0, train->n - n_test, &kept, err)) {
        dataset_free(test);
        free(take);
        return -1;
    }
    free(take);
    /* the class names, notes and skipped list stay with train */
    free(train->pixels);
    free(train->labels);
    train->pixels = kept.pixels;
    train->labels = kept.labels;
    train->n = kept.n;
    test->held_out = true;
    if (train->class_names) {
        test->class_names = calloc((size_t)train->n_classes, sizeof *test->class_names);
        for (int k = 0; test->class_names && k < train->n_classes; k++)
            if (!(test->class_names[k] = strdup(train->class_names[k]))) {
                dataset_free(test);
                return gs_errf(err, "dataset: out of memory holding out a test set");
            }
    }
    return 0;
}
