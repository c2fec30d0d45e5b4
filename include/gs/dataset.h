/* dataset.h — image datasets in memory as uint8 pixels (N, C, H, W) plus optional labels,
 * read from IDX files (MNIST family, gzip or plain, through zfile.h) or CIFAR-10/100 binary
 * batches; and what a dataset holds (counts, shape, classes) told without loading it. A bad
 * file (absent, wrong magic, truncated, inconsistent dimensions, labels that do not match the
 * images) gives an error naming the file and the problem, never a crash. */
#ifndef GS_DATASET_H
#define GS_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/err.h"

typedef struct {
    int n, c, h, w;
    uint8_t *pixels;   /* (n, c, h, w) */
    int32_t *labels;   /* (n), or NULL when the set has no labels */
    int n_classes;     /* 1 + the largest label, 0 without labels */
} Dataset;

/* One split as its headers (IDX) or file sizes (CIFAR) describe it: what a load would give,
 * or fail on at the header; no pixel or label is read. */
typedef struct {
    int n, c, h, w;
    bool labeled;
} SplitInfo;

/* A dataset's facts without loading it (dataset_info). */
typedef struct {
    SplitInfo train;
    SplitInfo test;    /* n == 0: the dataset has no test split */
    /* Size of the label space when the name or the format fixes it (Fashion-MNIST and
     * CIFAR-10: 10); 0 when only reading every label would tell (an IDX folder). */
    int classes;
} DatasetInfo;

/* IDX images (magic 0x00000803, u8, dims n, h, w) and, when labels_path is not NULL, IDX
 * labels (magic 0x00000801, count equal to n). Either file may be gzip-compressed. */
int idx_load(Dataset *ds, const char *images_path, const char *labels_path, GsErr *err);
/* idx_load's header checks only: the images header (and the labels header, whose count must
 * match) read and validated, the data behind them not read. */
int idx_info(SplitInfo *info, const char *images_path, const char *labels_path, GsErr *err);

/* CIFAR binary batches: records of <label byte(s)><3072 pixel bytes>, 1 label byte for
 * CIFAR-10 (fine_labels = 0) and 2 (coarse, fine) for CIFAR-100, using the fine label. */
int cifar_load(Dataset *ds, const char *const *paths, int n_paths, int cifar100, GsErr *err);
/* cifar_load's size checks only: the record count from the file sizes, nothing read. */
int cifar_info(SplitInfo *info, const char *const *paths, int n_paths, int cifar100, GsErr *err);

/* Keeps the first n images, or a seeded random n (without replacement, original order
 * kept) when seed != 0. */
int dataset_subset(Dataset *ds, int n, uint64_t seed, GsErr *err);

void dataset_free(Dataset *ds);

/* The train and test sets of a dataset named "fashion-mnist" (the Debian package's files), or
 * of a folder holding the IDX files (train-images-idx3-ubyte[.gz] and friends) or the CIFAR-10
 * binary batches (data_batch_1..5.bin, test_batch.bin). When data_root is not NULL a relative
 * folder is taken inside it, and a folder must lie in it as written and after realpath;
 * nothing outside is opened or even looked up. */
int dataset_load_named(const char *name, const char *data_root, Dataset *train, Dataset *test,
                       GsErr *err);
/* What dataset_load_named would find, without loading anything: 0 when the name resolves (as
 * it would there) to a folder holding a training set; -1 with err otherwise, and *forbidden
 * (when not NULL) set to 1 when the folder lies outside data_root. */
int dataset_check(const char *name, const char *data_root, int *forbidden, GsErr *err);
/* What dataset_load_named would load, from the same files, told by their headers and sizes
 * (idx_info, cifar_info): split sizes, image shape, classes. Fast enough for a request
 * handler. On error *info is all zero. */
int dataset_info(const char *name, const char *data_root, DatasetInfo *info, GsErr *err);

#endif
