/* catalog.c — turns a dataset name or folder into its train and test sets (or, for
 * dataset_info, into what their headers say), confining folders to the data root after
 * resolving links and "..". It only picks files; the readers parse. Loading and dataset_info
 * pick the same files through the same functions, so the facts describe what a run loads. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gs/dataset.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define FASHION_MNIST_CLASSES 10
#define CIFAR10_CLASSES 10
#define CIFAR_TRAIN_BATCHES 5

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir/stem or dir/stem.gz, whichever exists (into out); false when neither does. */
static bool find_idx(const char *dir, const char *stem, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.gz", dir, stem);
    if (exists(out))
        return true;
    snprintf(out, cap, "%s/%s", dir, stem);
    return exists(out);
}

/* The IDX files of a folder; "" for the optional ones that are absent. The test labels are
 * looked for only beside test images. */
typedef struct {
    char train_images[PATH_MAX + 32], train_labels[PATH_MAX + 32];
    char test_images[PATH_MAX + 32], test_labels[PATH_MAX + 32];
} IdxFiles;

static int idx_files(const char *dir, IdxFiles *f, GsErr *err)
{
    memset(f, 0, sizeof *f);
    if (!find_idx(dir, "train-images-idx3-ubyte", f->train_images, sizeof f->train_images))
        return gs_errf(err, "dataset: %s has no train-images-idx3-ubyte[.gz]", dir);
    if (!find_idx(dir, "train-labels-idx1-ubyte", f->train_labels, sizeof f->train_labels))
        f->train_labels[0] = 0;
    if (!find_idx(dir, "t10k-images-idx3-ubyte", f->test_images, sizeof f->test_images))
        f->test_images[0] = 0;
    else if (!find_idx(dir, "t10k-labels-idx1-ubyte", f->test_labels, sizeof f->test_labels))
        f->test_labels[0] = 0;
    return 0;
}

static const char *or_null(const char *path)
{
    return *path ? path : NULL;
}

static int load_idx_dir(const char *dir, Dataset *train, Dataset *test, GsErr *err)
{
    IdxFiles f;
    if (idx_files(dir, &f, err))
        return -1;
    if (idx_load(train, f.train_images, or_null(f.train_labels), err))
        return -1;
    if (*f.test_images && idx_load(test, f.test_images, or_null(f.test_labels), err)) {
        dataset_free(train);
        return -1;
    }
    return 0;
}

static int info_idx_dir(const char *dir, DatasetInfo *info, GsErr *err)
{
    IdxFiles f;
    if (idx_files(dir, &f, err))
        return -1;
    if (idx_info(&info->train, f.train_images, or_null(f.train_labels), err))
        return -1;
    if (*f.test_images && idx_info(&info->test, f.test_images, or_null(f.test_labels), err))
        return -1;
    return 0;
}

/* The CIFAR-10 batches of a folder: the training batches, and the test batch when present. */
typedef struct {
    char train[CIFAR_TRAIN_BATCHES][PATH_MAX + 32], test[PATH_MAX + 32];
    const char *list[CIFAR_TRAIN_BATCHES];
    bool has_test;
} CifarFiles;

static void cifar_files(const char *dir, CifarFiles *f)
{
    for (int i = 0; i < CIFAR_TRAIN_BATCHES; i++) {
        snprintf(f->train[i], sizeof f->train[i], "%s/data_batch_%d.bin", dir, i + 1);
        f->list[i] = f->train[i];
    }
    snprintf(f->test, sizeof f->test, "%s/test_batch.bin", dir);
    f->has_test = exists(f->test);
}

static int load_cifar_dir(const char *dir, Dataset *train, Dataset *test, GsErr *err)
{
    CifarFiles f;
    cifar_files(dir, &f);
    const char *test_list[1] = {f.test};
    if (cifar_load(train, f.list, CIFAR_TRAIN_BATCHES, 0, err))
        return -1;
    if (f.has_test && cifar_load(test, test_list, 1, 0, err)) {
        dataset_free(train);
        return -1;
    }
    return 0;
}

static int info_cifar_dir(const char *dir, DatasetInfo *info, GsErr *err)
{
    CifarFiles f;
    cifar_files(dir, &f);
    const char *test_list[1] = {f.test};
    if (cifar_info(&info->train, f.list, CIFAR_TRAIN_BATCHES, 0, err))
        return -1;
    if (f.has_test && cifar_info(&info->test, test_list, 1, 0, err))
        return -1;
    info->classes = CIFAR10_CLASSES;
    return 0;
}

/* Collapses "." , ".." and repeated slashes of the absolute path `path` in place, textually
 * (nothing is read from the disk); ".." at the top stays at "/". */
static void path_normalize(char *path)
{
    char *out = path, *in = path;
    while (*in) {
        while (*in == '/')
            in++;
        const char *seg = in;
        while (*in && *in != '/')
            in++;
        size_t len = (size_t)(in - seg);
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > path && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        memmove(out, seg, len);
        out += len;
    }
    if (out == path)
        *out++ = '/';
    *out = 0;
}

/* True when `path` is `root` or lies below it (both absolute and normalized). */
static bool path_under(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (n == 1)
        return path[0] == '/';
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == 0);
}

/* The folder a dataset name stands for, resolved (realpath) into real: "fashion-mnist" is
 * the Debian package's folder; anything else is a path. With a data_root, a relative name is
 * taken inside it, and a name that leaves it is refused (*forbidden set) twice: by its text
 * before anything outside is looked at (so the answer never tells whether an outside path
 * exists), and after links are resolved. */
static int dataset_resolve(const char *name, const char *data_root, char real[PATH_MAX],
                           int *forbidden, GsErr *err)
{
    char root[PATH_MAX], want[2 * PATH_MAX + 2];
    *forbidden = 0;
    if (!name || !*name)
        return gs_errf(err, "dataset: empty name");
    if (strcmp(name, "fashion-mnist") == 0) {
        snprintf(real, PATH_MAX, "%s", FASHION_MNIST_DIR);
        return 0;
    }
    if (!data_root) {
        if (!realpath(name, real))
            return gs_errf(err, "dataset: %s: %s", name, strerror(errno));
        return 0;
    }
    if (!realpath(data_root, root))
        return gs_errf(err, "dataset: data root %s: %s", data_root, strerror(errno));
    if (name[0] == '/')
        snprintf(want, sizeof want, "%s", name);
    else
        snprintf(want, sizeof want, "%s/%s", root, name);
    path_normalize(want);
    if (strlen(want) >= PATH_MAX)
        return gs_errf(err, "dataset: %.64s...: path too long", name);
    if (!path_under(want, root)) {
        /* an absolute name may spell the root through a link of its own */
        char lexroot[PATH_MAX + 2];
        snprintf(lexroot, sizeof lexroot, "%s%s", data_root[0] == '/' ? "" : "/", data_root);
        path_normalize(lexroot);
        if (data_root[0] != '/' || !path_under(want, lexroot)) {
            *forbidden = 1;
            return gs_errf(err, "dataset: %s is outside the data root", name);
        }
    }
    if (!realpath(want, real))
        return gs_errf(err, "dataset: %s: %s", name, strerror(errno));
    if (!path_under(real, root)) {
        *forbidden = 1;
        return gs_errf(err, "dataset: %s is outside the data root", name);
    }
    return 0;
}

static bool is_cifar_dir(const char *dir)
{
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/data_batch_1.bin", dir);
    return exists(probe);
}

int dataset_check(const char *name, const char *data_root, int *forbidden, GsErr *err)
{
    char real[PATH_MAX], probe[PATH_MAX + 32];
    int outside = 0;
    if (forbidden)
        *forbidden = 0;
    if (dataset_resolve(name, data_root, real, &outside, err)) {
        if (forbidden)
            *forbidden = outside;
        return -1;
    }
    if (is_cifar_dir(real) || find_idx(real, "train-images-idx3-ubyte", probe, sizeof probe))
        return 0;
    if (strcmp(name, "fashion-mnist") == 0)
        return gs_errf(err, "dataset: fashion-mnist is not installed (install the Debian "
                            "package dataset-fashion-mnist)");
    return gs_errf(err, "dataset: %s has neither train-images-idx3-ubyte[.gz] nor "
                        "data_batch_1.bin", name);
}

int dataset_load_named(const char *name, const char *data_root, Dataset *train, Dataset *test,
                       GsErr *err)
{
    char real[PATH_MAX];
    int forbidden;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (dataset_resolve(name, data_root, real, &forbidden, err))
        return -1;
    if (strcmp(name, "fashion-mnist") == 0) {
        GsErr inner;
        if (load_idx_dir(real, train, test, &inner))
            return gs_errf(err, "dataset: fashion-mnist: %s (install the Debian package "
                                "dataset-fashion-mnist)", inner.msg);
        return 0;
    }
    if (is_cifar_dir(real))
        return load_cifar_dir(real, train, test, err);
    return load_idx_dir(real, train, test, err);
}

int dataset_info(const char *name, const char *data_root, DatasetInfo *info, GsErr *err)
{
    char real[PATH_MAX];
    int forbidden, rc;
    memset(info, 0, sizeof *info);
    if (dataset_resolve(name, data_root, real, &forbidden, err))
        return -1;
    if (strcmp(name, "fashion-mnist") == 0) {
        GsErr inner;
        rc = info_idx_dir(real, info, &inner);
        if (rc)
            gs_errf(err, "dataset: fashion-mnist: %s (install the Debian package "
                         "dataset-fashion-mnist)", inner.msg);
        else
            info->classes = FASHION_MNIST_CLASSES;
    } else if (is_cifar_dir(real)) {
        rc = info_cifar_dir(real, info, err);
    } else {
        rc = info_idx_dir(real, info, err);
    }
    if (rc)
        memset(info, 0, sizeof *info);
    return rc;
}
