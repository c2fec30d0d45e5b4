/* folder.h — private to server/data: image folders (the layout in dataset.h) scanned into a
 * file list, decoded into Datasets, and cached decoded; plus the path confinement catalog.c
 * and the folder scan share. */
#ifndef GS_DATA_FOLDER_H
#define GS_DATA_FOLDER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "gs/dataset.h"

/* True when `path` is `root` or lies below it (both absolute and normalized). */
bool data_path_under(const char *path, const char *root);
/* With a root (resolved): path resolved into real (when real is not NULL) and required to lie
 * under root, else an error naming `shown` and *forbidden = 1. Without a root: nothing. */
int data_confine(const char *path, const char *root, const char *shown, char *real,
                 int *forbidden, GsErr *err);

typedef struct {
    char *rel;          /* inside the dataset folder, e.g. "train/cat/001.jpg" (messages, key) */
    char *path;         /* what is opened: the path, or a link's resolved target */
    bool link;
    int64_t size, mtime_ns;
    int label;          /* class index, -1 unlabelled */
    int split;          /* 0 train, 1 test */
    char *bad;          /* found bad by the scan (an image outside any class folder), or NULL */
} FolderFile;

typedef struct {
    char dir[PATH_MAX];   /* the dataset folder, resolved */
    bool labelled;
    int n_classes;
    char **classes;       /* (n_classes) sorted */
    FolderFile *files;    /* (n_files): the train split in order, then the test split */
    int n_files, n_train, n_test;
    bool has_test;
    int ignored;          /* files that are not images */
} FolderScan;

/* Scans dir (already resolved and confined; root the resolved data root or NULL). A folder
 * without images, an empty class folder, test classes that train lacks, or a link leading
 * out of the root are errors (*forbidden = 1 for the last). */
int folder_scan(const char *dir, const char *root, FolderScan *s, int *forbidden, GsErr *err);
void folder_scan_free(FolderScan *s);
/* A fingerprint of the folder's layout: the mtimes (and sizes) of the folder, its splits and
 * their sub-folders, which change whenever a file or folder is added, removed or renamed in
 * them. Cheap (a stat per folder); 0 when something cannot be read. */
uint64_t folder_stamp(const char *dir);
/* Decodes the scan into train and test as the options say (through the cache). */
int folder_load(const FolderScan *s, const DatasetOptions *o, Dataset *train, Dataset *test,
                GsErr *err);
/* The cache file of a folder at a size and fit, in cache_dir (into out). */
void folder_cache_path(const char *cache_dir, const char *dir, int size, ImageFit fit,
                       char *out, size_t cap);
/* The prefix every cache file name of a folder starts with. */
void folder_cache_prefix(const char *dir, char *out, size_t cap);

/* The cache (imagecache.c): what a decode produced, for every file of the scan. */
typedef struct {
    int c, size;          /* of the decoded images */
    int *w, *h;           /* (n_files) each file's own size, 0 when bad */
    char **bad;           /* (n_files) why a file is bad, or NULL */
    uint8_t *pixels;      /* (n_ok, c, size, size): the good files in scan order */
    int n_ok;
} FolderDecoded;

void folder_decoded_free(FolderDecoded *d, int n_files);
/* 0 and *d filled when path holds a valid cache of exactly this scan and these options;
 * -1 when absent (err->msg "") or damaged or stale (why in err): the caller decodes again. */
int imagecache_read(const char *path, const FolderScan *s, int size, ImageFit fit,
                    long max_pixels, FolderDecoded *d, GsErr *err);
/* Writes the cache atomically (a temporary file renamed over path). */
int imagecache_write(const char *path, const FolderScan *s, int size, ImageFit fit,
                     long max_pixels, const FolderDecoded *d, GsErr *err);

#endif
