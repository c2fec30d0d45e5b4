/* dataset.h — image datasets in memory as uint8 pixels (N, C, H, W) plus optional labels,
 * read from IDX files (MNIST family, gzip or plain, through zfile.h), CIFAR-10/100 binary
 * batches, or folders of PNG/JPEG images (image.h) in torchvision's ImageFolder layout; and
 * what a dataset holds (counts, shape, classes) told without loading it. A bad file (absent,
 * wrong magic, truncated, inconsistent dimensions, labels that do not match the images, an
 * image that does not decode) gives an error naming the file and the problem, never a crash.
 *
 * An image folder D is either D/train (and optionally D/test) or, without D/train, D itself
 * as the only (train) split. A split holding sub-folders is labelled: each sub-folder is a
 * class, classes sorted by name (byte order) and numbered from 0; test classes must be train
 * classes. A split without sub-folders is unlabelled: its images are those directly in it.
 * Images are the files named *.png, *.jpg, *.jpeg (any case; the format itself is told by the
 * bytes); hidden files and other names are ignored. The ORDER of a split's images is by file
 * name (byte order) across all its classes, ties broken by class: so files named by their
 * index (00000.png, 00001.png, ...) keep that order whatever folder they sit in. Every file
 * read, links included, must resolve inside the data root. */
#ifndef GS_DATASET_H
#define GS_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/err.h"
#include "gs/image.h"

typedef struct {
    int n, c, h, w;
    uint8_t *pixels;   /* (n, c, h, w) */
    int32_t *labels;   /* (n), or NULL when the set has no labels */
    int n_classes;     /* 1 + the largest label (image folders: the class folders), 0
                        * without labels */
    char **class_names; /* (n_classes) image folders' class names, else NULL */
    /* What the run should be told about how the set was made: bad files skipped under
     * on_bad_file "skip" ("path: reason" each), a held-out test set, how it was read. */
    int n_skipped;
    char **skipped;    /* (n_skipped) */
    bool held_out;     /* a test set carved out of train by dataset_holdout */
    char note[256];    /* e.g. "decoded 600 images (2 threads), cache written"; may be "" */
} Dataset;

/* How a dataset is loaded: where folders may lie, where decoded image folders are cached,
 * the square side images are resized to, and what a bad image file does. */
typedef struct {
    const char *data_root;  /* folders must lie in it (as must every file read); NULL: anywhere */
    const char *cache_dir;  /* decoded image-folder caches are kept here; NULL: none */
    int size;               /* square side; 0 = as the files are (image folders: all images
                             * must then share one square size) */
    ImageFit fit;           /* non-square images: centre crop or stretch */
    bool skip_bad;          /* image folders: skip bad files (reported) instead of failing */
    int threads;            /* decoding threads */
    long max_pixels;        /* an image declaring more is refused (IMAGE_MAX_PIXELS) */
} DatasetOptions;

void dataset_options_defaults(DatasetOptions *o);

/* One split as its headers (IDX) or file sizes (CIFAR) describe it: what a load would give,
 * or fail on at the header; no pixel or label is read. */
typedef struct {
    int n, c, h, w;
    bool labeled;
} SplitInfo;

/* A dataset's facts without loading it (dataset_info). */
typedef struct {
    SplitInfo train;   /* image folders: h, w the median size of a sample of the images,
                        * c 3 when one of them is colour */
    SplitInfo test;    /* n == 0: the dataset has no test split */
    /* Size of the label space when the name or the format fixes it (Fashion-MNIST and
     * CIFAR-10: 10; image folders: the class folders); 0 when only reading every label would
     * tell (an IDX folder). */
    int classes;
    char format[8];    /* "idx", "cifar" or "folder" */
    int ignored;       /* image folders: files that are not images (not counted above) */
} DatasetInfo;

/* Classes of a dataset with their image counts per split. */
typedef struct {
    char name[128];    /* image folders: the folder's name; IDX, CIFAR: the label number */
    int train, test;
} ClassCount;

typedef struct {
    int n;
    ClassCount *classes; /* (n) */
} DatasetClasses;

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

/* Resizes every image to size x size (image_resize with fit), in place. */
int dataset_resize(Dataset *ds, int size, ImageFit fit, int threads, GsErr *err);

/* Moves a stratified, seeded fraction of train (round(fraction * count) of each class, at
 * least one of a class with two or more) into *test (held_out set); both keep their order.
 * train must be labelled. */
int dataset_holdout(Dataset *train, Dataset *test, double fraction, uint64_t seed, GsErr *err);

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
/* dataset_load_named with options: image folders too (decoded on o->threads threads, or read
 * from the decoded cache in o->cache_dir when it matches the folder's files, sizes, mtimes
 * and the size), and any set resized to o->size. *forbidden (when not NULL) is set to 1
 * when the folder, or a file it holds, lies outside the data root. */
int dataset_load(const char *name, const DatasetOptions *o, Dataset *train, Dataset *test,
                 int *forbidden, GsErr *err);
/* What dataset_load_named would find, without loading anything: 0 when the name resolves (as
 * it would there) to a folder holding a training set; -1 with err otherwise, and *forbidden
 * (when not NULL) set to 1 when the folder lies outside data_root. */
int dataset_check(const char *name, const char *data_root, int *forbidden, GsErr *err);
/* What dataset_load_named would load, from the same files, told by their headers and sizes
 * (idx_info, cifar_info): split sizes, image shape, classes. Fast enough for a request
 * handler. On error *info is all zero. */
int dataset_info(const char *name, const char *data_root, DatasetInfo *info, GsErr *err);
/* The classes and their counts (image folders: from the folder listing; IDX and CIFAR: by
 * reading the labels). Unlabelled sets give n = 0. Free with dataset_classes_free. */
int dataset_classes(const char *name, const char *data_root, DatasetClasses *out, GsErr *err);
void dataset_classes_free(DatasetClasses *c);
/* The sizes (dataset.size; 0 = native) at which cache_dir holds a decoded cache of the image
 * folder `name`, up to cap of them into sizes; their count. A listed cache is still checked
 * against the folder when a run reads it. 0 for other formats or on any error. */
int dataset_cached_sizes(const char *name, const char *data_root, const char *cache_dir,
                         int *sizes, int cap);
/* A few images per class for a preview: the first per_class (in the split's order) of each
 * train class, or of the whole set when unlabelled, resized to size x size (centre crop),
 * grouped by class with labels and class names set (image folders decode only these files;
 * a bad one is left out). */
int dataset_preview(const char *name, const char *data_root, int per_class, int size,
                    Dataset *out, GsErr *err);

#endif
