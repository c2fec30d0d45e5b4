/* folder.c — image-folder datasets (layout and order rules in dataset.h): the scan that turns
 * a folder into an ordered file list with classes, sizes and mtimes, checking every entry
 * that is a link against the data root; and the load that decodes the list on the run's
 * threads (header probes first, so the set's channels and size are known before the pixel
 * buffer is allocated once), or takes it from the decoded cache (imagecache.c). A bad file
 * either fails the load with its name (the first bad one in the set's order) or, when the
 * options say skip, is left out and listed in the Dataset. Must not: open a file the scan
 * did not list, or follow a link the scan did not check. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "folder.h"

/* ---- scanning ------------------------------------------------------------------------- */

static uint64_t fnv1a_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
            strcasecmp(dot, ".jpeg") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strs(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* The names in dir, hidden ones left out, sorted (byte order). */
static int list_dir(const char *dir, const char *shown, char ***out, int *n_out, GsErr *err)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d)
        return gs_errf(err, "%s: cannot list: %s", shown, strerror(errno));
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            int ncap = cap ? 2 * cap : 64;
            char **nv = realloc(v, sizeof *nv * (size_t)ncap);
            if (!nv)
                goto oom;
            v = nv;
            cap = ncap;
        }
        if (!(v[n] = strdup(e->d_name)))
            goto oom;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    *n_out = n;
    return 0;
oom:
    closedir(d);
    free_strs(v, n);
    return gs_errf(err, "%s: out of memory listing it", shown);
}

/* One entry of a listed folder: lstat, and for a link its target confined to the root and
 * stat'ed. *target is the link's resolved path (malloc'd) or NULL. A dangling link is not
 * an error here: *st comes back zeroed (type 0) and the caller reports it. */
static int entry_stat(const char *path, const char *shown, const char *root, struct stat *st,
                      char **target, int *forbidden, GsErr *err)
{
    *target = NULL;
    if (lstat(path, st) != 0)
        return gs_errf(err, "%s: cannot stat: %s", shown, strerror(errno));
    if (!S_ISLNK(st->st_mode))
        return 0;
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        memset(st, 0, sizeof *st);
        return 0;
    }
    if (data_confine(real, root, shown, NULL, forbidden, err))
        return gs_errf(err, "dataset: %s is a link that leads outside the data root", shown);
    if (stat(real, st) != 0) {
        memset(st, 0, sizeof *st);
        return 0;
    }
    if (!(*target = strdup(real)))
        return gs_errf(err, "%s: out of memory", shown);
    return 0;
}

typedef struct {
    FolderFile *v;
    int n, cap;
} FileList;

static int file_add(FileList *l, const char *rel, const char *path, bool link,
                    const struct stat *st, int label, int split, const char *bad, GsErr *err)
{
    if (l->n == l->cap) {
        int ncap = l->cap ? 2 * l->cap : 256;
        FolderFile *nv = realloc(l->v, sizeof *nv * (size_t)ncap);
        if (!nv)
            return gs_errf(err, "%s: out of memory", rel);
        l->v = nv;
        l->cap = ncap;
    }
    FolderFile *f = &l->v[l->n];
    memset(f, 0, sizeof *f);
    f->rel = strdup(rel);
    f->path = strdup(path);
    f->bad = bad ? strdup(bad) : NULL;
    if (!f->rel || !f->path || (bad && !f->bad)) {
        free(f->rel);
        free(f->path);
        free(f->bad);
        return gs_errf(err, "%s: out of memory", rel);
    }
    f->link = link;
    f->size = (int64_t)st->st_size;
    f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    f->label = label;
    f->split = split;
    l->n++;
    return 0;
}

static void file_free(FolderFile *f)
{
    free(f->rel);
    free(f->path);
    free(f->bad);
}

/* Adds the image files of folder `dir` (shown as rel_dir) with this label; *n_images counts
 * them and *ignored the rest. */
static int scan_images(FileList *l, const char *dir, const char *rel_dir, const char *root,
                       int label, int split, const char *bad, int *n_images, int *ignored,
                       int *forbidden, GsErr *err)
{
    char **names;
    int n;
    *n_images = 0;
    if (list_dir(dir, rel_dir, &names, &n, err))
        return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char path[PATH_MAX + 256], rel[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(rel, sizeof rel, "%s%s%s", rel_dir, *rel_dir ? "/" : "", names[i]);
        if (!is_image_name(names[i])) {
            struct stat ls;
            /* class folders are listed too, but they are not ignored files */
            if (stat(path, &ls) != 0 || !S_ISDIR(ls.st_mode))
                (*ignored)++;
            continue;
        }
        struct stat st;
        char *target;
        if (entry_stat(path, rel, root, &st, &target, forbidden, err)) {
            rc = -1;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            (*ignored)++;
        } else {
            const char *why = bad;
            if (!S_ISREG(st.st_mode))
                why = target || st.st_mode == 0 ? "a link that leads nowhere readable"
                                                : "not a regular file";
            rc = file_add(l, rel, target ? target : path, target != NULL, &st, label, split,
                          why, err);
            (*n_images)++;
        }
        free(target);
    }
    free_strs(names, n);
    return rc;
}

/* The sub-folders of dir (links to folders included, confined), sorted. */
static int scan_subdirs(const char *dir, const char *rel_dir, const char *root, char ***out,
                        char ***paths, int *n_out, int *forbidden, GsErr *err)
{
    char **names;
    int n, k = 0;
    *out = *paths = NULL;
    *n_out = 0;
    if (list_dir(dir, rel_dir, &names, &n, err))
        return -1;
    char **sub = calloc((size_t)n + 1, sizeof *sub), **sp = calloc((size_t)n + 1, sizeof *sp);
    if (!sub || !sp) {
        free(sub);
        free(sp);
        free_strs(names, n);
        return gs_errf(err, "%s: out of memory", rel_dir);
    }
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 256], rel[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(rel, sizeof rel, "%s%s%s", rel_dir, *rel_dir ? "/" : "", names[i]);
        struct stat st;
        char *target;
        if (entry_stat(path, rel, root, &st, &target, forbidden, err)) {
            free_strs(sub, k);
            free_strs(sp, k);
            free_strs(names, n);
            return -1;
        }
        if (S_ISDIR(st.st_mode)) {
            sub[k] = names[i];
            sp[k] = target ? target : strdup(path);
            names[i] = NULL;
            if (!sp[k]) {
                free(sub[k]);
                free_strs(sub, k);
                free_strs(sp, k);
                free_strs(names, n);
                return gs_errf(err, "%s: out of memory", rel_dir);
            }
            k++;
        } else {
            free(target);
        }
    }
    free_strs(names, n);
    *out = sub;
    *paths = sp;
    *n_out = k;
    return 0;
}

static const char *base_name(const char *rel)
{
    const char *s = strrchr(rel, '/');
    return s ? s + 1 : rel;
}

/* The order rule of dataset.h: by file name, then by class. */
static int cmp_file(const void *a, const void *b)
{
    const FolderFile *x = a, *y = b;
    int c = strcmp(base_name(x->rel), base_name(y->rel));
    if (c)
        return c;
    return (x->label > y->label) - (x->label < y->label);
}

static int find_class(const FolderScan *s, const char *name)
{
    for (int i = 0; i < s->n_classes; i++)
        if (strcmp(s->classes[i], name) == 0)
            return i;
    return -1;
}

/* One split: the folder sdir shown as rel. The train split (split 0) sets the classes; the
 * test split must agree with them. */
static int scan_split(FolderScan *s, FileList *l, const char *sdir, const char *rel,
                      const char *root, int split, int *forbidden, GsErr *err)
{
    char **sub, **sub_paths;
    int n_sub, n_images, first = l->n, rc = 0;
    const char *shown = *rel ? rel : (strrchr(sdir, '/') ? strrchr(sdir, '/') + 1 : sdir);
    if (scan_subdirs(sdir, rel, root, &sub, &sub_paths, &n_sub, forbidden, err))
        return -1;
    bool labelled = n_sub > 0;
    if (split == 0) {
        s->labelled = labelled;
        if (labelled) {
            s->classes = sub;
            s->n_classes = n_sub;
            sub = NULL;
        }
    } else if (labelled != s->labelled) {
        rc = gs_errf(err, "dataset: %s %s class folders but train %s", shown,
                     labelled ? "has" : "has no", labelled ? "has none" : "has them");
        goto done;
    }
    /* images directly in a labelled split belong to no class: bad files */
    if (scan_images(l, sdir, rel, root, -1, split,
                    labelled ? "an image outside the class folders" : NULL, &n_images,
                    &s->ignored, forbidden, err)) {
        rc = -1;
        goto done;
    }
    for (int k = 0; k < n_sub && labelled; k++) {
        const char *cname = split == 0 ? s->classes[k] : sub[k];
        int label = find_class(s, cname);
        char crel[PATH_MAX + 256];
        snprintf(crel, sizeof crel, "%s%s%s", rel, *rel ? "/" : "", cname);
        if (label < 0) {
            rc = gs_errf(err, "dataset: %s is a class that train does not have", crel);
            goto done;
        }
        int n_class;
        if (scan_images(l, sub_paths[k], crel, root, label, split, NULL, &n_class, &s->ignored,
                        forbidden, err)) {
            rc = -1;
            goto done;
        }
        if (n_class == 0) {
            rc = gs_errf(err, "dataset: empty class folder %s: no .png, .jpg or .jpeg images",
                         crel);
            goto done;
        }
    }
    if (l->n == first) {
        rc = gs_errf(err, "dataset: %s has no images (.png, .jpg, .jpeg)%s", shown,
                     labelled ? " in its class folders"
                     : *rel   ? " and no class folders"
                              : " and no class folders (nor train-images-idx3-ubyte[.gz] or "
                                "data_batch_1.bin)");
        goto done;
    }
    qsort(l->v + first, (size_t)(l->n - first), sizeof *l->v, cmp_file);
done:
    free_strs(sub, n_sub);
    free_strs(sub_paths, n_sub);
    return rc;
}

int folder_scan(const char *dir, const char *root, FolderScan *s, int *forbidden, GsErr *err)
{
    FileList l = {0};
    memset(s, 0, sizeof *s);
    *forbidden = 0;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    char train[PATH_MAX + 16], test[PATH_MAX + 16];
    struct stat st;
    char *target = NULL;
    int rc = -1;
    snprintf(train, sizeof train, "%s/train", dir);
    snprintf(test, sizeof test, "%s/test", dir);
    bool split_layout = false;
    if (lstat(train, &st) == 0) {
        if (entry_stat(train, "train", root, &st, &target, forbidden, err))
            goto fail;
        split_layout = S_ISDIR(st.st_mode);
        if (target)
            snprintf(train, sizeof train, "%s", target);
        free(target);
        target = NULL;
    }
    if (!split_layout) {
        if (scan_split(s, &l, dir, "", root, 0, forbidden, err))
            goto fail;
        s->n_train = l.n;
    } else {
        if (scan_split(s, &l, train, "train", root, 0, forbidden, err))
            goto fail;
        s->n_train = l.n;
        if (lstat(test, &st) == 0) {
            if (entry_stat(test, "test", root, &st, &target, forbidden, err))
                goto fail;
            if (S_ISDIR(st.st_mode)) {
                if (target)
                    snprintf(test, sizeof test, "%s", target);
                s->has_test = true;
                if (scan_split(s, &l, test, "test", root, 1, forbidden, err))
                    goto fail;
            }
            free(target);
            target = NULL;
        }
    }
    s->files = l.v;
    s->n_files = l.n;
    s->n_test = l.n - s->n_train;
    return 0;
fail:
    free(target);
    for (int i = 0; i < l.n; i++)
        file_free(&l.v[i]);
    free(l.v);
    free_strs(s->classes, s->n_classes);
    memset(s, 0, sizeof *s);
    return rc;
}

void folder_scan_free(FolderScan *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_files; i++)
        file_free(&s->files[i]);
    free(s->files);
    free_strs(s->classes, s->n_classes);
    memset(s, 0, sizeof *s);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0x100000001b3ULL;
}

/* dir's own stamp mixed with those of its sub-folders (one level). */
static uint64_t stamp_level(const char *dir, uint64_t h, int depth)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return mix(h, 1);
    h = mix(h, (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec);
    h = mix(h, (uint64_t)st.st_ino);
    if (depth == 0 || !S_ISDIR(st.st_mode))
        return h;
    DIR *d = opendir(dir);
    if (!d)
        return mix(h, 2);
    struct dirent *e;
    char path[PATH_MAX + 256];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || is_image_name(e->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            h = stamp_level(path, mix(h, fnv1a_str(e->d_name)), depth - 1);
    }
    closedir(d);
    return h;
}

uint64_t folder_stamp(const char *dir)
{
    /* the folder, train/ and test/ or the class folders, and the class folders of those */
    return stamp_level(dir, 0x5eed, 2);
}

/* ---- cache names -------------------------------------------------------------------------- */

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void folder_cache_prefix(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap, "images-%016llx-", (unsigned long long)fnv1a(dir, 0xcbf29ce484222325ULL));
}

void folder_cache_path(const char *cache_dir, const char *dir, int size, ImageFit fit,
                       char *out, size_t cap)
{
    char prefix[64];
    folder_cache_prefix(dir, prefix, sizeof prefix);
    snprintf(out, cap, "%s/%ss%d-%s.gsdc", cache_dir, prefix, size,
             fit == IMAGE_FIT_CROP ? "crop" : "stretch");
}

/* ---- decoding ----------------------------------------------------------------------------- */

/* What bad_message gives when even the message cannot be allocated: never freed. */
static char OOM_MSG[] = "out of memory";

void folder_decoded_free(FolderDecoded *d, int n_files)
{
    if (!d)
        return;
    for (int i = 0; d->bad && i < n_files; i++)
        if (d->bad[i] != OOM_MSG)
            free(d->bad[i]);
    free(d->bad);
    free(d->w);
    free(d->h);
    free(d->pixels);
    memset(d, 0, sizeof *d);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *bad_message(const char *msg)
{
    char *m = strdup(msg);
    return m ? m : OOM_MSG;
}

/* Probes, then decodes every file of the scan. Fail mode stops at the first bad file. */
static int folder_decode(const FolderScan *s, const DatasetOptions *o, FolderDecoded *d,
                         GsErr *err)
{
    int n = s->n_files, threads = o->threads > 0 ? o->threads : 1;
    memset(d, 0, sizeof *d);
    d->w = calloc((size_t)n, sizeof *d->w);
    d->h = calloc((size_t)n, sizeof *d->h);
    d->bad = calloc((size_t)n, sizeof *d->bad);
    int *ch = calloc((size_t)n, sizeof *ch);
    long *pos = calloc((size_t)n, sizeof *pos);
    if (!d->w || !d->h || !d->bad || !ch || !pos) {
        free(ch);
        free(pos);
        return gs_errf(err, "dataset: out of memory for %d files", n);
    }
    /* headers: each file's size and channels */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
    for (int i = 0; i < n; i++) {
        const FolderFile *f = &s->files[i];
        GsErr e;
        if (f->bad) {
            snprintf(e.msg, sizeof e.msg, "%s: %s", f->rel, f->bad);
            d->bad[i] = bad_message(e.msg);
            continue;
        }
        int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        FILE *fp = fd >= 0 ? fdopen(fd, "rb") : NULL;
        if (!fp) {
            snprintf(e.msg, sizeof e.msg, "%s: cannot open: %s", f->rel, strerror(errno));
            if (fd >= 0)
                close(fd);
            d->bad[i] = bad_message(e.msg);
            continue;
        }
        if (image_probe(fp, f->rel, o->max_pixels, &d->w[i], &d->h[i], &ch[i], &e))
            d->bad[i] = bad_message(e.msg);
        fclose(fp);
    }
    int first_bad = -1, c = 1, size = o->size, n_ok = 0;
    for (int i = 0; i < n; i++) {
        if (d->bad[i]) {
            if (first_bad < 0)
                first_bad = i;
            d->w[i] = d->h[i] = 0;
            continue;
        }
        if (ch[i] == 3)
            c = 3;
        pos[i] = n_ok++;
    }
    int rc = -1;
    if (first_bad >= 0 && !o->skip_bad) {
        gs_errf(err, "%s", d->bad[first_bad]);
        goto done;
    }
    if (n_ok == 0) {
        gs_errf(err, "dataset: none of its %d image files could be read (the first: %s)", n,
                d->bad[0]);
        goto done;
    }
    if (size == 0) {
        int w0 = 0, h0 = 0, at = -1;
        for (int i = 0; i < n; i++) {
            if (d->bad[i])
                continue;
            if (at < 0) {
                w0 = d->w[i], h0 = d->h[i], at = i;
            } else if (d->w[i] != w0 || d->h[i] != h0) {
                gs_errf(err, "dataset.size: the images differ in size (%s is %dx%d, %s is %dx%d): "
                        "set dataset.size to the square side to resize them to",
                        s->files[at].rel, w0, h0, s->files[i].rel, d->w[i], d->h[i]);
                goto done;
            }
        }
        if (w0 != h0) {
            gs_errf(err, "dataset.size: the images are %dx%d, not square: set dataset.size to "
                    "the square side to resize them to", w0, h0);
            goto done;
        }
        size = w0;
    }
    if (size > 1024) {
        gs_errf(err, "dataset.size: %d is above 1024", size);
        goto done;
    }
    size_t img = (size_t)c * (size_t)size * (size_t)size;
    d->pixels = malloc(img * (size_t)n_ok);
    if (!d->pixels) {
        gs_errf(err, "dataset: out of memory for %d images of %dx%dx%d", n_ok, c, size, size);
        goto done;
    }
    int stop = 0;
#pragma omp parallel num_threads(threads)
    {
        ImageBuf buf = {0};
#pragma omp for schedule(dynamic, 4)
        for (int i = 0; i < n; i++) {
            int halt;
#pragma omp atomic read
            halt = stop;
            if (d->bad[i] || halt)
                continue;
            GsErr e;
            const FolderFile *f = &s->files[i];
            if (image_decode_path(f->path, f->rel, 1, o->max_pixels, size, &buf, &e) ||
                image_resize(buf.px, buf.w, buf.h, buf.c, o->fit, size, c,
                             d->pixels + (size_t)pos[i] * img, &e)) {
                d->bad[i] = bad_message(e.msg);
                if (!o->skip_bad) {
#pragma omp atomic write
                    stop = 1;
                }
            }
        }
        image_buf_free(&buf);
    }
    /* files that failed only now: in fail mode the first of them in order, else close the
     * holes they left */
    n_ok = 0;
    for (int i = 0; i < n; i++) {
        if (d->bad[i]) {
            if (!o->skip_bad) {
                gs_errf(err, "%s", d->bad[i]);
                goto done;
            }
            d->w[i] = d->h[i] = 0;
            continue;
        }
        if (pos[i] != n_ok)
            memmove(d->pixels + (size_t)n_ok * img, d->pixels + (size_t)pos[i] * img, img);
        n_ok++;
    }
    if (n_ok == 0) {
        gs_errf(err, "dataset: none of its %d image files could be decoded (the first: %s)", n,
                d->bad[0]);
        goto done;
    }
    d->n_ok = n_ok;
    d->c = c;
    d->size = size;
    rc = 0;
done:
    free(ch);
    free(pos);
    return rc;
}

/* One split of the decoded set as a Dataset: its good images (pixels taken from `from`), its
 * labels and class names, and its bad files as the skipped list. */
static int make_split(const FolderScan *s, const FolderDecoded *d, int split, const uint8_t *from,
                      Dataset *ds, GsErr *err)
{
    int lo = split == 0 ? 0 : s->n_train, hi = split == 0 ? s->n_train : s->n_files;
    int n = 0, n_bad = 0;
    for (int i = lo; i < hi; i++)
        d->bad[i] ? n_bad++ : n++;
    memset(ds, 0, sizeof *ds);
    size_t img = (size_t)d->c * (size_t)d->size * (size_t)d->size;
    ds->n = n;
    ds->c = d->c;
    ds->h = ds->w = d->size;
    ds->pixels = malloc(img * (size_t)(n ? n : 1));
    if (s->labelled) {
        ds->labels = malloc(sizeof *ds->labels * (size_t)(n ? n : 1));
        ds->class_names = calloc((size_t)s->n_classes, sizeof *ds->class_names);
        ds->n_classes = s->n_classes;
    }
    if (n_bad)
        ds->skipped = calloc((size_t)n_bad, sizeof *ds->skipped);
    if (!ds->pixels || (s->labelled && (!ds->labels || !ds->class_names)) ||
        (n_bad && !ds->skipped))
        goto oom;
    if (n)
        memcpy(ds->pixels, from, img * (size_t)n);
    for (int k = 0; s->labelled && k < s->n_classes; k++)
        if (!(ds->class_names[k] = strdup(s->classes[k])))
            goto oom;
    int j = 0;
    for (int i = lo; i < hi; i++) {
        if (d->bad[i]) {
            if (!(ds->skipped[ds->n_skipped] = strdup(d->bad[i])))
                goto oom;
            ds->n_skipped++;
        } else if (ds->labels) {
            ds->labels[j++] = s->files[i].label;
        }
    }
    return 0;
oom:
    dataset_free(ds);
    return gs_errf(err, "dataset: out of memory for the %s split", split ? "test" : "train");
}

int folder_load(const FolderScan *s, const DatasetOptions *o, Dataset *train, Dataset *test,
                GsErr *err)
{
    FolderDecoded d = {0};
    char cpath[PATH_MAX + 128] = "", why[600] = "";
    bool cached = false;
    double t0 = now_s();
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (o->cache_dir) {
        GsErr e;
        folder_cache_path(o->cache_dir, s->dir, o->size, o->fit, cpath, sizeof cpath);
        if (imagecache_read(cpath, s, o->size, o->fit, o->max_pixels, &d, &e) == 0)
            cached = true;
        else
            snprintf(why, sizeof why, "%s", e.msg);
    }
    if (!cached && folder_decode(s, o, &d, err)) {
        folder_decoded_free(&d, s->n_files);
        return -1;
    }
    if (cached && !o->skip_bad) {
        for (int i = 0; i < s->n_files; i++)
            if (d.bad[i]) {
                gs_errf(err, "%s", d.bad[i]);
                folder_decoded_free(&d, s->n_files);
                return -1;
            }
    }
    int n_train_ok = 0;
    for (int i = 0; i < s->n_train; i++)
        n_train_ok += d.bad[i] == NULL;
    size_t img = (size_t)d.c * (size_t)d.size * (size_t)d.size;
    if (n_train_ok == 0) {
        gs_errf(err, "dataset: no train image could be read");
        folder_decoded_free(&d, s->n_files);
        return -1;
    }
    if (make_split(s, &d, 0, d.pixels, train, err) ||
        (s->has_test && make_split(s, &d, 1, d.pixels + img * (size_t)n_train_ok, test, err))) {
        dataset_free(train);
        folder_decoded_free(&d, s->n_files);
        return -1;
    }
    double secs = now_s() - t0;
    if (cached) {
        snprintf(train->note, sizeof train->note,
                 "read %d images from the decoded cache in %.2f s", d.n_ok, secs);
    } else {
        GsErr e;
        int wrote = o->cache_dir &&
                    imagecache_write(cpath, s, o->size, o->fit, o->max_pixels, &d, &e) == 0;
        char note[1024];
        snprintf(note, sizeof note,
                 "decoded %d of %d image files in %.2f s on %d threads (%s%.80s%s%.80s)",
                 d.n_ok, s->n_files, secs, o->threads > 0 ? o->threads : 1,
                 !o->cache_dir ? "no cache"
                 : wrote       ? "cache written"
                               : "cache not written: ",
                 !o->cache_dir || wrote ? "" : e.msg, why[0] ? "; the old cache " : "", why);
        size_t n = strnlen(note, sizeof train->note - 1);
        memcpy(train->note, note, n);
        train->note[n] = 0;
    }
    folder_decoded_free(&d, s->n_files);
    return 0;
}
