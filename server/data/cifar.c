/* cifar.c — reader for CIFAR-10/100 binary batches: fixed-size records of label byte(s) and
 * 3072 pixel bytes, already channel-planar (3, 32, 32). Several files are concatenated in the
 * order given. File sizes are checked (a whole number of records) before anything is allocated,
 * and every label is range-checked, so a file of another format is refused with its name.
 * cifar_info is that size check alone. Must not: leave a half-filled Dataset behind, or exit. */
#include "gs/dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)

/* Size in bytes of an open file that must be a regular file. */
static int file_size(FILE *f, const char *path, long long *size, GsErr *err)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        return gs_errf(err, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return gs_errf(err, "%s: not a regular file", path);
    *size = (long long)st.st_size;
    return 0;
}

/* The record count of the files together, from their sizes: each must be a regular file of
 * a whole, non-zero number of records. */
static int count_records(const char *const *paths, int n_paths, size_t rec, const char *set,
                         long long *total, GsErr *err)
{
    *total = 0;
    for (int p = 0; p < n_paths; p++) {
        long long size = 0;
        FILE *f = fopen(paths[p], "rb");
        if (!f)
            return gs_errf(err, "%s: cannot open: %s", paths[p], strerror(errno));
        int rc = file_size(f, paths[p], &size, err);
        fclose(f);
        if (rc < 0)
            return -1;
        if (size == 0 || size % (long long)rec != 0)
            return gs_errf(err, "%s: size %lld is not a whole number of %zu-byte %s records",
                           paths[p], size, rec, set);
        *total += size / (long long)rec;
        if (*total > INT_MAX)
            return gs_errf(err, "%s: more than %d records in all", paths[p], INT_MAX);
    }
    return 0;
}

int cifar_info(SplitInfo *info, const char *const *paths, int n_paths, int cifar100, GsErr *err)
{
    const size_t rec = (cifar100 ? 2 : 1) + CIFAR_PIXELS;
    long long total;
    memset(info, 0, sizeof *info);
    if (!paths || n_paths <= 0)
        return gs_errf(err, "cifar_info: no files given");
    if (count_records(paths, n_paths, rec, cifar100 ? "CIFAR-100" : "CIFAR-10", &total, err) < 0)
        return -1;
    info->n = (int)total;
    info->c = 3;
    info->h = CIFAR_SIDE;
    info->w = CIFAR_SIDE;
    info->labeled = true;
    return 0;
}

int cifar_load(Dataset *ds, const char *const *paths, int n_paths, int cifar100, GsErr *err)
{
    const size_t label_bytes = cifar100 ? 2 : 1, rec = label_bytes + CIFAR_PIXELS;
    const int n_labels = cifar100 ? 100 : 10;
    const char *set = cifar100 ? "CIFAR-100" : "CIFAR-10";
    long long total = 0;
    uint8_t *pixels = NULL;
    int32_t *labels = NULL;
    FILE *f = NULL;

    memset(ds, 0, sizeof *ds);
    if (!paths || n_paths <= 0)
        return gs_errf(err, "cifar_load: no files given");

    /* First pass: sizes only, so the buffers are allocated once and a bad file is found
     * before any big allocation. */
    if (count_records(paths, n_paths, rec, set, &total, err) < 0)
        return -1;

    pixels = malloc((size_t)total * CIFAR_PIXELS);
    labels = malloc((size_t)total * sizeof *labels);
    if (!pixels || !labels) {
        gs_errf(err, "%s: out of memory for %lld images", paths[0], total);
        goto fail;
    }

    long long i = 0;
    int max_label = 0;
    for (int p = 0; p < n_paths; p++) {
        long long size, n_rec;
        f = fopen(paths[p], "rb");
        if (!f) {
            gs_errf(err, "%s: cannot open: %s", paths[p], strerror(errno));
            goto fail;
        }
        if (file_size(f, paths[p], &size, err) < 0)
            goto fail;
        n_rec = size / (long long)rec;
        /* The file may have changed since the first pass; never write past the buffers. */
        if (size % (long long)rec != 0 || n_rec > total - i) {
            gs_errf(err, "%s: changed size while being read (now %lld bytes)", paths[p], size);
            goto fail;
        }
        for (long long r = 0; r < n_rec; r++, i++) {
            unsigned char lab[2];
            if (fread(lab, 1, label_bytes, f) != label_bytes ||
                fread(pixels + (size_t)i * CIFAR_PIXELS, 1, CIFAR_PIXELS, f) != CIFAR_PIXELS) {
                gs_errf(err, "%s: truncated in record %lld of %lld%s%s", paths[p], r, n_rec,
                        ferror(f) ? ": " : "", ferror(f) ? strerror(errno) : "");
                goto fail;
            }
            int fine = lab[label_bytes - 1];
            if (fine >= n_labels) {
                gs_errf(err, "%s: record %lld: label %d out of range (%s has %d classes)",
                        paths[p], r, fine, set, n_labels);
                goto fail;
            }
            if (cifar100 && lab[0] >= 20) {
                gs_errf(err, "%s: record %lld: coarse label %d out of range (CIFAR-100 has 20 "
                        "superclasses)", paths[p], r, lab[0]);
                goto fail;
            }
            labels[i] = fine;
            if (fine > max_label)
                max_label = fine;
        }
        if (fgetc(f) != EOF) {
            gs_errf(err, "%s: grew while being read", paths[p]);
            goto fail;
        }
        fclose(f);
        f = NULL;
    }

    ds->n = (int)total;
    ds->c = 3;
    ds->h = CIFAR_SIDE;
    ds->w = CIFAR_SIDE;
    ds->pixels = pixels;
    ds->labels = labels;
    ds->n_classes = max_label + 1;
    return 0;

fail:
    if (f)
        fclose(f);
    free(pixels);
    free(labels);
    return -1;
}
