/* catalog.c — turns a dataset name or folder into its train and test sets (or, for
 * dataset_info, dataset_classes and dataset_preview, into what they hold), confining folders
 * to the data root after resolving links and "..", and then every file a dataset reads: an
 * IDX or CIFAR file, or an image of a folder, that is a link leading out of the root is
 * refused like the folder would be (*forbidden). A folder is CIFAR when it has
 * data_batch_1.bin, IDX when it has train-images-idx3-ubyte[.gz], else an image folder
 * (folder.c). It only picks files; the readers parse. Loading and the facts pick the same
 * files through the same functions, so the facts describe what a run loads. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "folder.h"
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

static const char *base_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
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

bool data_path_under(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (n == 1)
        return path[0] == '/';
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == 0);
}

int data_confine(const char *path, const char *root, const char *shown, char *real,
                 int *forbidden, GsErr *err)
{
    char buf[PATH_MAX];
    char *out = real ? real : buf;
    if (!root) {
        if (real)
            snprintf(real, PATH_MAX, "%s", path);
        return 0;
    }
    if (!realpath(path, out))
        return gs_errf(err, "dataset: %s: %s", shown, strerror(errno));
    if (!data_path_under(out, root)) {
        if (forbidden)
            *forbidden = 1;
        return gs_errf(err, "dataset: %s is a link that leads outside the data root", shown);
    }
    return 0;
}

/* A dataset name resolved: its folder, the data root (resolved; "" when none) and its kind. */
typedef enum { KIND_IDX, KIND_CIFAR, KIND_FOLDER } Kind;

typedef struct {
    char real[PATH_MAX];
    char root[PATH_MAX];
    bool builtin;        /* "fashion-mnist": the Debian package's files, outside any root */
    Kind kind;
} Resolved;

static const char *root_of(const Resolved *r)
{
    return r->root[0] && !r->builtin ? r->root : NULL;
}

/* The folder a dataset name stands for, resolved (realpath) into r->real: "fashion-mnist" is
 * the Debian package's folder; anything else is a path. With a data_root, a relative name is
 * taken inside it, and a name that leaves it is refused (*forbidden set) twice: by its text
 * before anything outside is looked at (so the answer never tells whether an outside path
 * exists), and after links are resolved. */
static int dataset_resolve(const char *name, const char *data_root, Resolved *r, int *forbidden,
                           GsErr *err)
{
    char want[2 * PATH_MAX + 2];
    char *root = r->root, *real = r->real;
    memset(r, 0, sizeof *r);
    *forbidden = 0;
    if (!name || !*name)
        return gs_errf(err, "dataset: empty name");
    if (strcmp(name, "fashion-mnist") == 0) {
        snprintf(real, PATH_MAX, "%s", FASHION_MNIST_DIR);
        r->builtin = true;
        r->kind = KIND_IDX;
        return 0;
    }
    if (!data_root) {
        if (!realpath(name, real))
            return gs_errf(err, "dataset: %s: %s", name, strerror(errno));
        goto kind;
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
    if (!data_path_under(want, root)) {
        /* an absolute name may spell the root through a link of its own */
        char lexroot[PATH_MAX + 2];
        snprintf(lexroot, sizeof lexroot, "%s%s", data_root[0] == '/' ? "" : "/", data_root);
        path_normalize(lexroot);
        if (data_root[0] != '/' || !data_path_under(want, lexroot)) {
            *forbidden = 1;
            return gs_errf(err, "dataset: %s is outside the data root", name);
        }
    }
    if (!realpath(want, real))
        return gs_errf(err, "dataset: %s: %s", name, strerror(errno));
    if (!data_path_under(real, root)) {
        *forbidden = 1;
        return gs_errf(err, "dataset: %s is outside the data root", name);
    }
kind:;
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
        return gs_errf(err, "dataset: %s is not a folder", name);
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/data_batch_1.bin", real);
    if (exists(probe))
        r->kind = KIND_CIFAR;
    else if (find_idx(real, "train-images-idx3-ubyte", probe, sizeof probe))
        r->kind = KIND_IDX;
    else
        r->kind = KIND_FOLDER;
    return 0;
}

/* ---- IDX folders ------------------------------------------------------------------------- */

/* The IDX files of a folder; "" for the optional ones that are absent. The test labels are
 * looked for only beside test images. Each must lie inside the root (a link out is refused). */
typedef struct {
    char train_images[PATH_MAX + 32], train_labels[PATH_MAX + 32];
    char test_images[PATH_MAX + 32], test_labels[PATH_MAX + 32];
} IdxFiles;

static int idx_files(const Resolved *r, IdxFiles *f, int *forbidden, GsErr *err)
{
    const char *dir = r->real;
    memset(f, 0, sizeof *f);
    if (!find_idx(dir, "train-images-idx3-ubyte", f->train_images, sizeof f->train_images))
        return gs_errf(err, "dataset: %s has no train-images-idx3-ubyte[.gz]", dir);
    if (!find_idx(dir, "train-labels-idx1-ubyte", f->train_labels, sizeof f->train_labels))
        f->train_labels[0] = 0;
    if (!find_idx(dir, "t10k-images-idx3-ubyte", f->test_images, sizeof f->test_images))
        f->test_images[0] = 0;
    else if (!find_idx(dir, "t10k-labels-idx1-ubyte", f->test_labels, sizeof f->test_labels))
        f->test_labels[0] = 0;
    const char *all[4] = {f->train_images, f->train_labels, f->test_images, f->test_labels};
    for (int i = 0; i < 4; i++)
        if (*all[i] && data_confine(all[i], root_of(r), base_of(all[i]), NULL, forbidden, err))
            return -1;
    return 0;
}

static const char *or_null(const char *path)
{
    return *path ? path : NULL;
}

static int load_idx_dir(const Resolved *r, Dataset *train, Dataset *test, int *forbidden,
                        GsErr *err)
{
    IdxFiles f;
    if (idx_files(r, &f, forbidden, err))
        return -1;
    if (idx_load(train, f.train_images, or_null(f.train_labels), err))
        return -1;
    if (*f.test_images && idx_load(test, f.test_images, or_null(f.test_labels), err)) {
        dataset_free(train);
        return -1;
    }
    return 0;
}

static int info_idx_dir(const Resolved *r, DatasetInfo *info, int *forbidden, GsErr *err)
{
    IdxFiles f;
    if (idx_files(r, &f, forbidden, err))
        return -1;
    if (idx_info(&info->train, f.train_images, or_null(f.train_labels), err))
        return -1;
    if (*f.test_images && idx_info(&info->test, f.test_images, or_null(f.test_labels), err))
        return -1;
    return 0;
}

/* ---- CIFAR folders ----------------------------------------------------------------------- */

/* The CIFAR-10 batches of a folder: the training batches, and the test batch when present. */
typedef struct {
    char train[CIFAR_TRAIN_BATCHES][PATH_MAX + 32], test[PATH_MAX + 32];
    const char *list[CIFAR_TRAIN_BATCHES];
    bool has_test;
} CifarFiles;

static int cifar_files(const Resolved *r, CifarFiles *f, int *forbidden, GsErr *err)
{
    for (int i = 0; i < CIFAR_TRAIN_BATCHES; i++) {
        snprintf(f->train[i], sizeof f->train[i], "%s/data_batch_%d.bin", r->real, i + 1);
        f->list[i] = f->train[i];
        if (exists(f->train[i]) &&
            data_confine(f->train[i], root_of(r), base_of(f->train[i]), NULL, forbidden, err))
            return -1;
    }
    snprintf(f->test, sizeof f->test, "%s/test_batch.bin", r->real);
    f->has_test = exists(f->test);
    if (f->has_test && data_confine(f->test, root_of(r), "test_batch.bin", NULL, forbidden, err))
        return -1;
    return 0;
}

static int load_cifar_dir(const Resolved *r, Dataset *train, Dataset *test, int *forbidden,
                          GsErr *err)
{
    CifarFiles f;
    if (cifar_files(r, &f, forbidden, err))
        return -1;
    const char *test_list[1] = {f.test};
    if (cifar_load(train, f.list, CIFAR_TRAIN_BATCHES, 0, err))
        return -1;
    if (f.has_test && cifar_load(test, test_list, 1, 0, err)) {
        dataset_free(train);
        return -1;
    }
    return 0;
}

static int info_cifar_dir(const Resolved *r, DatasetInfo *info, int *forbidden, GsErr *err)
{
    CifarFiles f;
    if (cifar_files(r, &f, forbidden, err))
        return -1;
    const char *test_list[1] = {f.test};
    if (cifar_info(&info->train, f.list, CIFAR_TRAIN_BATCHES, 0, err))
        return -1;
    if (f.has_test && cifar_info(&info->test, test_list, 1, 0, err))
        return -1;
    info->classes = CIFAR10_CLASSES;
    return 0;
}

/* ---- the public calls -------------------------------------------------------------------- */

void dataset_options_defaults(DatasetOptions *o)
{
    memset(o, 0, sizeof *o);
    o->fit = IMAGE_FIT_CROP;
    o->threads = 1;
    o->max_pixels = IMAGE_MAX_PIXELS;
}

/* A failure to read the Debian package's files says which package to install. */
static int builtin_error(GsErr *err)
{
    GsErr inner = *err;
    return gs_errf(err, "dataset: fashion-mnist: %s (install the Debian package "
                        "dataset-fashion-mnist)", inner.msg);
}

int dataset_check(const char *name, const char *data_root, int *forbidden, GsErr *err)
{
    Resolved r;
    int outside = 0, rc;
    if (forbidden)
        *forbidden = 0;
    if (dataset_resolve(name, data_root, &r, &outside, err)) {
        if (forbidden)
            *forbidden = outside;
        return -1;
    }
    if (r.kind == KIND_CIFAR) {
        CifarFiles f;
        rc = cifar_files(&r, &f, &outside, err);
    } else if (r.kind == KIND_IDX) {
        IdxFiles f;
        rc = idx_files(&r, &f, &outside, err);
        if (rc && r.builtin)
            builtin_error(err);
    } else {
        FolderScan s;
        rc = folder_scan(r.real, root_of(&r), &s, &outside, err);
        folder_scan_free(&s);
    }
    if (forbidden)
        *forbidden = outside;
    return rc;
}

int dataset_load(const char *name, const DatasetOptions *o, Dataset *train, Dataset *test,
                 int *forbidden, GsErr *err)
{
    Resolved r;
    int outside = 0, rc;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (forbidden)
        *forbidden = 0;
    if (dataset_resolve(name, o->data_root, &r, &outside, err)) {
        if (forbidden)
            *forbidden = outside;
        return -1;
    }
    if (r.kind == KIND_CIFAR) {
        rc = load_cifar_dir(&r, train, test, &outside, err);
    } else if (r.kind == KIND_IDX) {
        rc = load_idx_dir(&r, train, test, &outside, err);
        if (rc && r.builtin)
            builtin_error(err);
    } else {
        FolderScan s;
        rc = folder_scan(r.real, root_of(&r), &s, &outside, err);
        if (rc == 0)
            rc = folder_load(&s, o, train, test, err);
        folder_scan_free(&s);
    }
    if (forbidden)
        *forbidden = outside;
    if (rc)
        return -1;
    /* IDX and CIFAR come at their own size; a size asked for resizes them too */
    if (o->size > 0 && (train->h != o->size || train->w != o->size)) {
        if (dataset_resize(train, o->size, o->fit, o->threads, err) ||
            (test->n > 0 && dataset_resize(test, o->size, o->fit, o->threads, err))) {
            dataset_free(train);
            dataset_free(test);
            return -1;
        }
    }
    return 0;
}

int dataset_load_named(const char *name, const char *data_root, Dataset *train, Dataset *test,
                       GsErr *err)
{
    DatasetOptions o;
    dataset_options_defaults(&o);
    o.data_root = data_root;
    return dataset_load(name, &o, train, test, NULL, err);
}

/* Up to FOLDER_INFO_SAMPLE images spread over the train split, probed for their size and
 * channels: enough for a typical size, fast enough for a request. */
#define FOLDER_INFO_SAMPLE 16

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void info_folder(const FolderScan *s, DatasetInfo *info)
{
    int ws[FOLDER_INFO_SAMPLE], hs[FOLDER_INFO_SAMPLE], got = 0, c = 1;
    int step = s->n_train > FOLDER_INFO_SAMPLE ? s->n_train / FOLDER_INFO_SAMPLE : 1;
    for (int i = 0; i < s->n_train && got < FOLDER_INFO_SAMPLE; i += step) {
        const FolderFile *f = &s->files[i];
        FILE *fp = f->bad ? NULL : fopen(f->path, "rb");
        int w, h, ch;
        GsErr e;
        if (fp && image_probe(fp, f->rel, IMAGE_MAX_PIXELS, &w, &h, &ch, &e) == 0) {
            ws[got] = w;
            hs[got] = h;
            got++;
            c = ch == 3 ? 3 : c;
        }
        if (fp)
            fclose(fp);
    }
    qsort(ws, (size_t)got, sizeof *ws, cmp_int);
    qsort(hs, (size_t)got, sizeof *hs, cmp_int);
    SplitInfo *sp[2] = {&info->train, &info->test};
    int n[2] = {s->n_train, s->n_test};
    for (int k = 0; k < 2; k++) {
        sp[k]->n = n[k];
        sp[k]->c = c;
        sp[k]->h = got ? hs[got / 2] : 0;
        sp[k]->w = got ? ws[got / 2] : 0;
        sp[k]->labeled = s->labelled;
    }
    if (!s->has_test)
        memset(&info->test, 0, sizeof info->test);
    info->classes = s->n_classes;
    info->ignored = s->ignored;
}

/* dataset_info of image folders, remembered: a run page asks for it on every render, and a
 * scan lists every file. An entry holds while the folder's stamp (folder_stamp: the mtimes of
 * it and its sub-folders, which any added, removed or renamed file changes) is the same. */
#define INFO_MEMO 8

typedef struct {
    char dir[PATH_MAX];
    char root[PATH_MAX];
    uint64_t stamp;
    DatasetInfo info;
} InfoMemo;

static InfoMemo info_memo[INFO_MEMO];
static int info_memo_next;
static pthread_mutex_t info_memo_mu = PTHREAD_MUTEX_INITIALIZER;

static bool info_memo_get(const Resolved *r, uint64_t stamp, DatasetInfo *info)
{
    bool hit = false;
    pthread_mutex_lock(&info_memo_mu);
    for (int i = 0; i < INFO_MEMO && !hit; i++) {
        const InfoMemo *m = &info_memo[i];
        if (m->stamp == stamp && strcmp(m->dir, r->real) == 0 && strcmp(m->root, r->root) == 0) {
            *info = m->info;
            hit = true;
        }
    }
    pthread_mutex_unlock(&info_memo_mu);
    return hit;
}

static void info_memo_put(const Resolved *r, uint64_t stamp, const DatasetInfo *info)
{
    pthread_mutex_lock(&info_memo_mu);
    InfoMemo *m = &info_memo[info_memo_next];
    info_memo_next = (info_memo_next + 1) % INFO_MEMO;
    snprintf(m->dir, sizeof m->dir, "%s", r->real);
    snprintf(m->root, sizeof m->root, "%s", r->root);
    m->stamp = stamp;
    m->info = *info;
    pthread_mutex_unlock(&info_memo_mu);
}

int dataset_info(const char *name, const char *data_root, DatasetInfo *info, GsErr *err)
{
    Resolved r;
    int forbidden, rc;
    memset(info, 0, sizeof *info);
    if (dataset_resolve(name, data_root, &r, &forbidden, err))
        return -1;
    if (r.kind == KIND_IDX) {
        rc = info_idx_dir(&r, info, &forbidden, err);
        if (rc && r.builtin)
            builtin_error(err);
        else if (r.builtin)
            info->classes = FASHION_MNIST_CLASSES;
        snprintf(info->format, sizeof info->format, "idx");
    } else if (r.kind == KIND_CIFAR) {
        rc = info_cifar_dir(&r, info, &forbidden, err);
        snprintf(info->format, sizeof info->format, "cifar");
    } else {
        uint64_t stamp = folder_stamp(r.real);
        if (stamp && info_memo_get(&r, stamp, info))
            return 0;
        FolderScan s;
        rc = folder_scan(r.real, root_of(&r), &s, &forbidden, err);
        if (rc == 0)
            info_folder(&s, info);
        folder_scan_free(&s);
        snprintf(info->format, sizeof info->format, "folder");
        if (rc == 0 && stamp)
            info_memo_put(&r, stamp, info);
    }
    if (rc)
        memset(info, 0, sizeof *info);
    return rc;
}

void dataset_classes_free(DatasetClasses *c)
{
    if (!c)
        return;
    free(c->classes);
    memset(c, 0, sizeof *c);
}

/* Counts of labels 0..n_classes-1 of a loaded set into classes[].train or .test. */
static void count_labels(const Dataset *ds, ClassCount *classes, int n, int test)
{
    for (int i = 0; ds->labels && i < ds->n; i++)
        if (ds->labels[i] >= 0 && ds->labels[i] < n) {
            ClassCount *cc = &classes[ds->labels[i]];
            if (test)
                cc->test++;
            else
                cc->train++;
        }
}

int dataset_classes(const char *name, const char *data_root, DatasetClasses *out, GsErr *err)
{
    Resolved r;
    int forbidden;
    memset(out, 0, sizeof *out);
    if (dataset_resolve(name, data_root, &r, &forbidden, err))
        return -1;
    if (r.kind == KIND_FOLDER) {
        FolderScan s;
        if (folder_scan(r.real, root_of(&r), &s, &forbidden, err))
            return -1;
        if (s.n_classes > 0 && !(out->classes = calloc((size_t)s.n_classes,
                                                        sizeof *out->classes))) {
            folder_scan_free(&s);
            return gs_errf(err, "dataset: out of memory");
        }
        out->n = s.n_classes;
        for (int k = 0; k < s.n_classes; k++)
            snprintf(out->classes[k].name, sizeof out->classes[k].name, "%s", s.classes[k]);
        for (int i = 0; i < s.n_files; i++)
            if (s.files[i].label >= 0) {
                ClassCount *cc = &out->classes[s.files[i].label];
                if (s.files[i].split)
                    cc->test++;
                else
                    cc->train++;
            }
        folder_scan_free(&s);
        return 0;
    }
    /* IDX and CIFAR keep their labels inside the data: read them */
    Dataset train, test;
    if (dataset_load_named(name, data_root, &train, &test, err))
        return -1;
    int n = train.n_classes > test.n_classes ? train.n_classes : test.n_classes;
    if (n > 0 && !(out->classes = calloc((size_t)n, sizeof *out->classes))) {
        dataset_free(&train);
        dataset_free(&test);
        return gs_errf(err, "dataset: out of memory");
    }
    out->n = n;
    for (int k = 0; k < n; k++)
        snprintf(out->classes[k].name, sizeof out->classes[k].name, "%d", k);
    count_labels(&train, out->classes, n, 0);
    count_labels(&test, out->classes, n, 1);
    dataset_free(&train);
    dataset_free(&test);
    return 0;
}

int dataset_cached_sizes(const char *name, const char *data_root, const char *cache_dir,
                         int *sizes, int cap)
{
    Resolved r;
    int forbidden, n = 0;
    GsErr err;
    if (!cache_dir || dataset_resolve(name, data_root, &r, &forbidden, &err) ||
        r.kind != KIND_FOLDER)
        return 0;
    char prefix[64];
    folder_cache_prefix(r.real, prefix, sizeof prefix);
    size_t plen = strlen(prefix);
    DIR *d = opendir(cache_dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        int size;
        char fit[16];
        if (strncmp(e->d_name, prefix, plen) == 0 &&
            sscanf(e->d_name + plen, "s%d-%15[a-z].gsdc", &size, fit) == 2 &&
            strstr(e->d_name, ".tmp-") == NULL) {
            bool seen = false;
            for (int i = 0; i < n; i++)
                seen |= sizes[i] == size;
            if (!seen)
                sizes[n++] = size;
        }
    }
    closedir(d);
    qsort(sizes, (size_t)n, sizeof *sizes, cmp_int);
    return n;
}

/* The preview of a loaded set: the first per_class images of each class (of all, when
 * unlabelled), grouped by class, resized. */
static int preview_pick(const Dataset *all, int per_class, int size, Dataset *out, GsErr *err)
{
    int n_classes = all->labels ? all->n_classes : 1;
    int *pick = malloc(sizeof *pick * (size_t)(n_classes * per_class + 1));
    if (!pick)
        return gs_errf(err, "dataset: out of memory");
    int n = 0;
    for (int k = 0; k < n_classes; k++) {
        int got = 0;
        for (int i = 0; i < all->n && got < per_class; i++)
            if (!all->labels || all->labels[i] == k) {
                pick[n++] = i;
                got++;
            }
    }
    memset(out, 0, sizeof *out);
    size_t img = (size_t)all->c * (size_t)all->h * (size_t)all->w;
    out->pixels = malloc(img * (size_t)(n ? n : 1));
    out->labels = all->labels ? malloc(sizeof *out->labels * (size_t)(n ? n : 1)) : NULL;
    if (!out->pixels || (all->labels && !out->labels)) {
        free(pick);
        dataset_free(out);
        return gs_errf(err, "dataset: out of memory");
    }
    for (int j = 0; j < n; j++) {
        memcpy(out->pixels + (size_t)j * img, all->pixels + (size_t)pick[j] * img, img);
        if (out->labels)
            out->labels[j] = all->labels[pick[j]];
    }
    free(pick);
    out->n = n;
    out->c = all->c;
    out->h = all->h;
    out->w = all->w;
    out->n_classes = all->labels ? all->n_classes : 0;
    if (all->class_names) {
        out->class_names = calloc((size_t)all->n_classes, sizeof *out->class_names);
        for (int k = 0; out->class_names && k < all->n_classes; k++)
            out->class_names[k] = strdup(all->class_names[k]);
    }
    if (size > 0 && (out->h != size || out->w != size) &&
        dataset_resize(out, size, IMAGE_FIT_CROP, 1, err)) {
        dataset_free(out);
        return -1;
    }
    return 0;
}

int dataset_preview(const char *name, const char *data_root, int per_class, int size,
                    Dataset *out, GsErr *err)
{
    Resolved r;
    int forbidden, rc;
    memset(out, 0, sizeof *out);
    if (per_class < 1 || per_class > 64 || size < 0 || size > 256)
        return gs_errf(err, "preview: per_class %d outside 1..64 or size %d outside 0..256",
                       per_class, size);
    if (dataset_resolve(name, data_root, &r, &forbidden, err))
        return -1;
    if (r.kind != KIND_FOLDER) {
        Dataset train, test;
        if (dataset_load_named(name, data_root, &train, &test, err))
            return -1;
        rc = preview_pick(&train, per_class, size, out, err);
        dataset_free(&train);
        dataset_free(&test);
        return rc;
    }
    /* an image folder: scan it, keep only the first per_class train files of each class, and
     * decode just those, skipping bad ones */
    FolderScan s;
    if (folder_scan(r.real, root_of(&r), &s, &forbidden, err))
        return -1;
    int n_classes = s.labelled ? s.n_classes : 1;
    int *got = calloc((size_t)n_classes, sizeof *got);
    if (!got) {
        folder_scan_free(&s);
        return gs_errf(err, "dataset: out of memory");
    }
    int kept = 0;
    for (int i = 0; i < s.n_train; i++) {
        FolderFile *f = &s.files[i];
        int k = s.labelled ? f->label : 0;
        if (k >= 0 && got[k] < per_class && !f->bad) {
            got[k]++;
            s.files[kept++] = *f;
        } else {
            free(f->rel);
            free(f->path);
            free(f->bad);
        }
    }
    for (int i = s.n_train; i < s.n_files; i++) {
        free(s.files[i].rel);
        free(s.files[i].path);
        free(s.files[i].bad);
    }
    free(got);
    s.n_files = s.n_train = kept;
    s.n_test = 0;
    s.has_test = false;
    DatasetOptions o;
    dataset_options_defaults(&o);
    o.size = size > 0 ? size : 64;
    o.skip_bad = true;
    Dataset all, none;
    rc = folder_load(&s, &o, &all, &none, err);
    folder_scan_free(&s);
    if (rc)
        return -1;
    dataset_free(&none);
    rc = preview_pick(&all, per_class, 0, out, err);
    dataset_free(&all);
    return rc;
}
