/* fuzz_idx.c — libFuzzer target `idx`: the IDX reader (server/data/idx.c) through zfile.c, on
 * files written from the input, plain or gzip. Input: a flags byte (bit 0: gzip the images
 * file, bit 1: gzip the labels file, bit 2: there is a labels file), a little-endian u16 length
 * of the images file's bytes, those bytes, then the labels file's bytes. Unwrapped bytes are
 * written as they are, so mutated gzip streams (headers, trailers, CRCs) are read too.
 * Beyond "no memory error": a load that succeeds gives a consistent Dataset, and idx_info
 * (its header checks alone) accepts the same files with the same shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static char g_images[128], g_labels[128];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(g_images, sizeof g_images, "%s/images", fuzz_tmpdir());
    snprintf(g_labels, sizeof g_labels, "%s/labels", fuzz_tmpdir());
    return 0;
}

static void write_part(const char *path, const uint8_t *p, size_t n, int gz)
{
    if (!gz) {
        fuzz_write_file(path, p, n);
        return;
    }
    size_t zn;
    uint8_t *z = fuzz_gzip(p, n, &zn);
    fuzz_write_file(path, z, zn);
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int flags = data[0];
    size_t n_img = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (n_img > size)
        n_img = size;
    int with_labels = (flags >> 2) & 1;
    write_part(g_images, data, n_img, flags & 1);
    if (with_labels)
        write_part(g_labels, data + n_img, size - n_img, flags & 2);
    const char *labels = with_labels ? g_labels : NULL;

    Dataset ds;
    SplitInfo info;
    GsErr err, ierr;
    err.msg[0] = ierr.msg[0] = 0;
    int rc = idx_load(&ds, g_images, labels, &err);
    int irc = idx_info(&info, g_images, labels, &ierr);
    if (rc != 0) {
        if (!err.msg[0])
            fuzz_fail("idx_load failed without a message");
        if (ds.pixels || ds.labels || ds.n)
            fuzz_fail("idx_load failed but left a half-filled Dataset");
        return 0;
    }
    if (ds.n < 1 || ds.c != 1 || ds.h < 1 || ds.w < 1 || !ds.pixels)
        fuzz_fail("idx_load gave n %d c %d h %d w %d pixels %p", ds.n, ds.c, ds.h, ds.w,
                  (void *)ds.pixels);
    if (with_labels != (ds.labels != NULL))
        fuzz_fail("labels %s but the Dataset has %s", labels ? "given" : "absent",
                  ds.labels ? "some" : "none");
    for (int i = 0; ds.labels && i < ds.n; i++)
        if (ds.labels[i] < 0 || ds.labels[i] >= ds.n_classes)
            fuzz_fail("label %d of image %d outside [0, %d)", ds.labels[i], i, ds.n_classes);
    if (irc != 0)
        fuzz_fail("idx_load accepted what idx_info refuses: %s", ierr.msg);
    if (info.n != ds.n || info.c != ds.c || info.h != ds.h || info.w != ds.w ||
        info.labeled != with_labels)
        fuzz_fail("idx_info says %dx%dx%dx%d, idx_load gave %dx%dx%dx%d", info.n, info.c,
                  info.h, info.w, ds.n, ds.c, ds.h, ds.w);
    /* every pixel is readable (ASan sees an overrun of the announced size) */
    volatile unsigned sum = 0;
    for (size_t i = 0; i < (size_t)ds.n * ds.h * ds.w; i++)
        sum += ds.pixels[i];
    (void)sum;
    dataset_free(&ds);
    return 0;
}
