/* fuzz_cifar.c — libFuzzer target `cifar`: the CIFAR-10/100 binary-batch reader
 * (server/data/cifar.c) on one or two files written from the input. Input: a flags byte (bit
 * 0: CIFAR-100 records, bit 1: two files), a little-endian u16 length of the first file when
 * there are two, then the bytes. Beyond "no memory error": a load that succeeds gives labels
 * in range and the record count that cifar_info (its size checks alone) gives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static char g_path[2][128];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (int i = 0; i < 2; i++)
        snprintf(g_path[i], sizeof g_path[i], "%s/batch_%d.bin", fuzz_tmpdir(), i + 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int cifar100 = data[0] & 1, two = (data[0] >> 1) & 1;
    size_t first = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (!two || first > size)
        first = size;
    fuzz_write_file(g_path[0], data, first);
    if (two)
        fuzz_write_file(g_path[1], data + first, size - first);
    const char *paths[2] = {g_path[0], g_path[1]};

    Dataset ds;
    SplitInfo info;
    GsErr err, ierr;
    err.msg[0] = ierr.msg[0] = 0;
    int rc = cifar_load(&ds, paths, 1 + two, cifar100, &err);
    int irc = cifar_info(&info, paths, 1 + two, cifar100, &ierr);
    if (rc != 0) {
        if (!err.msg[0])
            fuzz_fail("cifar_load failed without a message");
        if (ds.pixels || ds.labels || ds.n)
            fuzz_fail("cifar_load failed but left a half-filled Dataset");
        return 0;
    }
    int classes = cifar100 ? 100 : 10;
    if (ds.n < 1 || ds.c != 3 || ds.h != 32 || ds.w != 32 || !ds.pixels || !ds.labels ||
        ds.n_classes < 1 || ds.n_classes > classes)
        fuzz_fail("cifar_load gave n %d c %d h %d w %d classes %d", ds.n, ds.c, ds.h, ds.w,
                  ds.n_classes);
    for (int i = 0; i < ds.n; i++)
        if (ds.labels[i] < 0 || ds.labels[i] >= ds.n_classes)
            fuzz_fail("label %d of record %d outside [0, %d)", ds.labels[i], i, ds.n_classes);
    if (irc != 0 || info.n != ds.n)
        fuzz_fail("cifar_info says %d records (%s), cifar_load read %d", info.n,
                  irc ? ierr.msg : "ok", ds.n);
    dataset_free(&ds);
    return 0;
}
