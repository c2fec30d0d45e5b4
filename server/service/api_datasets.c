/* api_datasets.c — the datasets this daemon can read, as the API shows them: GET /v1/datasets
 * (Fashion-MNIST and every folder directly under the data root, with its figures),
 * GET /v1/datasets/{dataset} (the same plus its classes with their counts per split and the
 * bad files the listing finds) and GET /v1/datasets/{dataset}/preview.png (a grid of the
 * first images of each class, one row per class, drawn by imagegrid.h).
 *
 * A name is one folder directly under the data root (or "fashion-mnist"); it is confined
 * there as a run's dataset is (catalog.c: after links, 403 outside). It reads datasets and
 * never writes anything: not the data, not the decoded caches, not the store. What it finds
 * is remembered by the dataset's stamp (dataset_stamp), so a folder of many thousand images
 * is not listed again by every GET, only after it changed. */
#define _DEFAULT_SOURCE /* realpath, DT_* */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api_handlers.h"
#include "api_reply.h"
#include "gs/dataset.h"
#include "gs/imagegrid.h"

#define BUILTIN_NAME "fashion-mnist"
#define LIST_MAX_ENTRIES 256
#define NAME_MAX_BYTES 255
#define CACHED_SIZES_MAX 16
#define PREVIEW_PER_CLASS 8
#define PREVIEW_PER_CLASS_MAX 16
#define PREVIEW_MAX_ROWS 16
#define PREVIEW_UNLABELLED_ROWS 4
/* Small images are drawn scaled up to at least this side (pixels), big ones at their size. */
#define PREVIEW_MIN_CELL 48
#define PREVIEW_MAX_SCALE 4
#define PREVIEW_SIDE 64

/* ---- what is remembered, by stamp ------------------------------------------------------- */

/* A few answers' parts (JSON text, PNG bytes) by key ("kind\nroot\nname") and stamp. The
 * slots are reused round robin; a stale entry is simply never hit again. Shared by every Api
 * of the process (the key holds the data root), so it lives as long as the process. */
#define MEMO_SLOTS 64
#define MEMO_MAX_BYTES (4L << 20)

typedef struct {
    char *key;
    uint64_t stamp;
    char *blob;
    size_t len;
} Memo;

static Memo memo[MEMO_SLOTS];
static int memo_next;
static pthread_mutex_t memo_mu = PTHREAD_MUTEX_INITIALIZER;

static void memo_key(char *out, size_t cap, const char *kind, const Api *api, const char *name)
{
    snprintf(out, cap, "%s\n%s\n%s", kind, api->data_root ? api->data_root : "", name);
}

/* A malloc'd copy of the remembered blob (NUL-terminated beyond len), or NULL. */
static char *memo_get(const char *key, uint64_t stamp, size_t *len)
{
    char *copy = NULL;
    if (!stamp)
        return NULL;
    pthread_mutex_lock(&memo_mu);
    for (int i = 0; i < MEMO_SLOTS; i++) {
        const Memo *m = &memo[i];
        if (m->key && m->stamp == stamp && strcmp(m->key, key) == 0) {
            if ((copy = malloc(m->len + 1))) {
                memcpy(copy, m->blob, m->len);
                copy[m->len] = 0;
                *len = m->len;
            }
            break;
        }
    }
    pthread_mutex_unlock(&memo_mu);
    return copy;
}

/* Remembers a copy of blob; out of memory or too big, it is simply not remembered. */
static void memo_put(const char *key, uint64_t stamp, const char *blob, size_t len)
{
    if (!stamp || len > MEMO_MAX_BYTES)
        return;
    char *k = strdup(key), *b = malloc(len ? len : 1);
    if (!k || !b) {
        free(k);
        free(b);
        return;
    }
    memcpy(b, blob, len);
    pthread_mutex_lock(&memo_mu);
    Memo *m = NULL;
    for (int i = 0; i < MEMO_SLOTS && !m; i++)
        if (memo[i].key && strcmp(memo[i].key, key) == 0)
            m = &memo[i]; /* the same key's older stamp: replaced in place */
    if (!m) {
        m = &memo[memo_next];
        memo_next = (memo_next + 1) % MEMO_SLOTS;
    }
    free(m->key);
    free(m->blob);
    *m = (Memo){.key = k, .stamp = stamp, .blob = b, .len = len};
    pthread_mutex_unlock(&memo_mu);
}

static cJSON *memo_get_json(const char *key, uint64_t stamp)
{
    size_t len;
    char *text = memo_get(key, stamp, &len);
    cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    return j;
}

static void memo_put_json(const char *key, uint64_t stamp, const cJSON *j)
{
    char *text = stamp ? cJSON_PrintUnformatted(j) : NULL;
    if (text)
        memo_put(key, stamp, text, strlen(text));
    free(text);
}

/* ---- one dataset's entry ---------------------------------------------------------------- */

static bool is_builtin(const char *name)
{
    return strcmp(name, BUILTIN_NAME) == 0;
}

/* The data root a name is resolved against: none for the built-in set (the Debian package's
 * files, outside any root). */
static const char *root_for(const Api *api, const char *name)
{
    return is_builtin(name) ? NULL : api->data_root;
}

static const char *kind_of(const char *format)
{
    return *format ? format : "unknown";
}

/* The figures of a dataset as the list shows them, without the decoded caches (those change
 * as runs go, not with the stamp). */
static cJSON *entry_figures(const Api *api, const char *name)
{
    DatasetInfo info;
    GsErr err;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", name);
    char path[PATH_MAX + NAME_MAX_BYTES + 2] = "";
    char root[PATH_MAX];
    if (!is_builtin(name) && api->data_root && realpath(api->data_root, root))
        snprintf(path, sizeof path, "%s/%s", root, name);
    if (*path)
        cJSON_AddStringToObject(o, "path", path);
    else
        cJSON_AddNullToObject(o, "path");
    cJSON_AddBoolToObject(o, "builtin", is_builtin(name));
    if (dataset_info(name, root_for(api, name), &info, &err) != 0) {
        int forbidden = 0;
        GsErr why;
        /* why it is not a dataset, and whether because it leads outside the root */
        (void)dataset_check(name, root_for(api, name), &forbidden, &why);
        cJSON_AddFalseToObject(o, "available");
        cJSON_AddStringToObject(o, "error", err.msg);
        if (forbidden)
            cJSON_AddTrueToObject(o, "forbidden");
        return o;
    }
    cJSON_AddStringToObject(o, "kind", kind_of(info.format));
    cJSON_AddTrueToObject(o, "available");
    cJSON_AddNumberToObject(o, "train", info.train.n);
    cJSON_AddNumberToObject(o, "test", info.test.n);
    cJSON_AddBoolToObject(o, "labelled", info.train.labeled);
    cJSON_AddNumberToObject(o, "classes", info.classes);
    cJSON_AddNumberToObject(o, "channels", info.train.c);
    cJSON_AddNumberToObject(o, "height", info.train.h);
    cJSON_AddNumberToObject(o, "width", info.train.w);
    if (strcmp(info.format, "folder") == 0)
        cJSON_AddNumberToObject(o, "ignored", info.ignored);
    return o;
}

/* A dataset's entry: its figures (remembered by stamp) and the sizes its decoded cache holds.
 * NULL only when out of memory. */
static cJSON *dataset_entry(const Api *api, const char *name)
{
    char key[2 * PATH_MAX];
    memo_key(key, sizeof key, "entry", api, name);
    uint64_t stamp = dataset_stamp(name, root_for(api, name));
    cJSON *o = memo_get_json(key, stamp);
    if (!o) {
        o = entry_figures(api, name);
        if (o)
            memo_put_json(key, stamp, o);
    }
    if (!o)
        return NULL;
    const cJSON *kind = cJSON_GetObjectItem(o, "kind");
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "folder") == 0) {
        int sizes[CACHED_SIZES_MAX];
        int n = dataset_cached_sizes(name, root_for(api, name), api->cache_dir, sizes,
                                     CACHED_SIZES_MAX);
        cJSON_AddItemToObject(o, "cached", cJSON_CreateIntArray(sizes, n));
    }
    return o;
}

/* ---- GET /v1/datasets ------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folders directly under the data root (links too: they are confined like any dataset),
 * by name, at most cap of them; *more set when there were more. */
static int root_folders(const Api *api, char **names, int cap, bool *more)
{
    char root[PATH_MAX];
    int n = 0;
    *more = false;
    if (!api->data_root || !realpath(api->data_root, root))
        return 0;
    DIR *d = opendir(root);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || is_builtin(e->d_name) || strlen(e->d_name) > NAME_MAX_BYTES)
            continue;
        char path[PATH_MAX + 256];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        if (lstat(path, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)))
            continue;
        if (n == cap) {
            *more = true;
            break;
        }
        if ((names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    return n;
}

void api_datasets(Api *api, const ApiCall *call, HttpResponse *resp)
{
    (void)call;
    char *names[LIST_MAX_ENTRIES];
    bool more;
    cJSON *root = cJSON_CreateObject();
    if (api->data_root)
        cJSON_AddStringToObject(root, "data_root", api->data_root);
    else
        cJSON_AddNullToObject(root, "data_root");
    cJSON *arr = cJSON_AddArrayToObject(root, "datasets");
    cJSON_AddItemToArray(arr, dataset_entry(api, BUILTIN_NAME));
    int n = root_folders(api, names, LIST_MAX_ENTRIES, &more);
    for (int i = 0; i < n; i++) {
        cJSON_AddItemToArray(arr, dataset_entry(api, names[i]));
        free(names[i]);
    }
    cJSON_AddBoolToObject(root, "truncated", more);
    api_reply_json(resp, 200, root);
}

/* ---- the {dataset} of a path ------------------------------------------------------------ */

/* The path's third segment (/v1/datasets/NAME/...) into out, checked: a name is one folder
 * name directly under the data root. Answers 400 (a name that cannot be one: a leading dot,
 * which ".." and "." have, a control character or backslash, too long) or 404 (nothing of that
 * name, or no data root) and returns false. A name that leads out of the root passes here;
 * the dataset's figures say so and the caller answers 403. */
static bool dataset_name(const Api *api, const ApiCall *call, HttpResponse *resp,
                         char out[NAME_MAX_BYTES + 1])
{
    const char *p = call->rq->path;
    for (int skip = 0; skip < 2 && p; skip++)
        p = strchr(p + 1, '/');
    size_t n = p ? strcspn(p + 1, "/") : 0;
    char shown[80];
    if (!p || n == 0) {
        api_error(resp, 404, "not_found", NULL, "no dataset named");
        return false;
    }
    p++;
    api_shown(shown, sizeof shown, p, n);
    bool bad = p[0] == '.' || n > NAME_MAX_BYTES;
    for (size_t i = 0; i < n && !bad; i++)
        bad = (unsigned char)p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\';
    if (bad) {
        api_error(resp, 400, "bad_request", "name",
                  "dataset name \"%s\": a name is a folder directly under the data root (no "
                  "leading dot, no control character or backslash, at most %d bytes)",
                  shown, NAME_MAX_BYTES);
        return false;
    }
    memcpy(out, p, n);
    out[n] = 0;
    if (is_builtin(out))
        return true;
    char root[PATH_MAX], path[PATH_MAX + NAME_MAX_BYTES + 2];
    struct stat st;
    if (!api->data_root || !realpath(api->data_root, root)) {
        api_error(resp, 404, "not_found", NULL, "no dataset %s (the daemon has no --data-root; "
                  "only %s is known)", shown, BUILTIN_NAME);
        return false;
    }
    snprintf(path, sizeof path, "%s/%s", root, out);
    if (lstat(path, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode))) {
        api_error(resp, 404, "not_found", NULL, "no dataset %s: no folder of that name under "
                  "the data root", shown);
        return false;
    }
    return true;
}

/* The entry of the path's dataset, or NULL with the answer given: 403 when it leads outside
 * the data root, 404 when it is not a dataset and `usable` is asked for. */
static cJSON *path_entry(const Api *api, const ApiCall *call, HttpResponse *resp, bool usable,
                         char name[NAME_MAX_BYTES + 1])
{
    if (!dataset_name(api, call, resp, name))
        return NULL;
    cJSON *o = dataset_entry(api, name);
    if (!o) {
        api_error(resp, 500, "internal", NULL, "out of memory");
        return NULL;
    }
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(o, "error"));
    if (cJSON_IsTrue(cJSON_GetObjectItem(o, "forbidden"))) {
        api_error(resp, 403, "forbidden", "name", "%s", why ? why : "outside the data root");
        cJSON_Delete(o);
        return NULL;
    }
    if (usable && !cJSON_IsTrue(cJSON_GetObjectItem(o, "available"))) {
        api_error(resp, 404, "not_found", NULL, "%s", why ? why : "not a dataset");
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- GET /v1/datasets/{dataset} --------------------------------------------------------- */

/* Fashion-MNIST's labels are numbers in its files; people know them by these names. */
static const char *const FASHION_MNIST_CLASSES[] = {"T-shirt/top", "Trouser", "Pullover",
                                                    "Dress", "Coat", "Sandal", "Shirt",
                                                    "Sneaker", "Bag", "Ankle boot"};
#define N_FASHION_MNIST_CLASSES (int)(sizeof FASHION_MNIST_CLASSES / sizeof FASHION_MNIST_CLASSES[0])

/* The classes part of the details: class names, counts per split, bad and ignored files. */
static cJSON *classes_json(const Api *api, const char *name, GsErr *err)
{
    DatasetClasses dc;
    if (dataset_classes(name, root_for(api, name), &dc, err) != 0)
        return NULL;
    for (int k = 0; is_builtin(name) && k < dc.n && k < N_FASHION_MNIST_CLASSES; k++)
        snprintf(dc.classes[k].name, sizeof dc.classes[k].name, "%s", FASHION_MNIST_CLASSES[k]);
    cJSON *o = cJSON_CreateObject();
    cJSON *names = cJSON_AddArrayToObject(o, "class_names");
    cJSON *counts = cJSON_AddArrayToObject(o, "class_counts");
    for (int k = 0; k < dc.n; k++) {
        cJSON_AddItemToArray(names, cJSON_CreateString(dc.classes[k].name));
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", dc.classes[k].name);
        cJSON_AddNumberToObject(c, "train", dc.classes[k].train);
        cJSON_AddNumberToObject(c, "test", dc.classes[k].test);
        cJSON_AddItemToArray(counts, c);
    }
    cJSON *bad = cJSON_AddArrayToObject(o, "bad_files");
    for (int i = 0; i < dc.n_bad; i++)
        cJSON_AddItemToArray(bad, cJSON_CreateString(dc.bad[i]));
    dataset_classes_free(&dc);
    return o;
}

void api_dataset_get(Api *api, const ApiCall *call, HttpResponse *resp)
{
    char name[NAME_MAX_BYTES + 1];
    cJSON *o = path_entry(api, call, resp, false, name);
    if (!o)
        return;
    if (cJSON_IsTrue(cJSON_GetObjectItem(o, "available"))) {
        char key[2 * PATH_MAX];
        GsErr err;
        memo_key(key, sizeof key, "classes", api, name);
        uint64_t stamp = dataset_stamp(name, root_for(api, name));
        cJSON *cls = memo_get_json(key, stamp);
        if (!cls && (cls = classes_json(api, name, &err)))
            memo_put_json(key, stamp, cls);
        if (!cls) {
            /* the figures were read, the labels were not (a damaged label file) */
            cJSON_ReplaceItemInObject(o, "available", cJSON_CreateFalse());
            cJSON_AddStringToObject(o, "error", err.msg);
        }
        for (cJSON *it = cls ? cls->child : NULL; it;) {
            cJSON *next = it->next;
            cJSON_AddItemToObject(o, it->string, cJSON_DetachItemViaPointer(cls, it));
            it = next;
        }
        cJSON_Delete(cls);
    }
    api_reply_json(resp, 200, o);
}

/* ---- GET /v1/datasets/{dataset}/preview.png --------------------------------------------- */

/* The grid of a preview set (grouped by class, dataset_preview): one row of per_class cells
 * per class (at most PREVIEW_MAX_ROWS), a class with fewer images padded with white cells;
 * unlabelled, rows of per_class. */
static int preview_png(Dataset *ds, int per_class, uint8_t **png, size_t *len, GsErr *err)
{
    size_t img = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
    int rows = ds->labels ? (ds->n_classes < PREVIEW_MAX_ROWS ? ds->n_classes : PREVIEW_MAX_ROWS)
                          : (ds->n + per_class - 1) / per_class;
    if (rows < 1 || ds->n < 1)
        return gs_errf(err, "no image to show");
    /* one white image after the set, for the empty cells */
    uint8_t *pixels = malloc(img * (size_t)(ds->n + 1));
    int32_t *index = malloc(sizeof *index * (size_t)(rows * per_class));
    if (!pixels || !index) {
        free(pixels);
        free(index);
        return gs_errf(err, "out of memory");
    }
    memcpy(pixels, ds->pixels, img * (size_t)ds->n);
    memset(pixels + img * (size_t)ds->n, IMAGE_GRID_GAP, img);
    int cells = 0;
    if (ds->labels) {
        for (int k = 0; k < rows; k++) {
            int got = 0;
            for (int i = 0; i < ds->n && got < per_class; i++)
                if (ds->labels[i] == k) {
                    index[cells++] = i;
                    got++;
                }
            for (; got < per_class; got++)
                index[cells++] = ds->n;
        }
    } else {
        for (int i = 0; i < ds->n; i++)
            index[cells++] = i;
    }
    int scale = (PREVIEW_MIN_CELL + ds->h - 1) / ds->h;
    scale = scale < 1 ? 1 : scale > PREVIEW_MAX_SCALE ? PREVIEW_MAX_SCALE : scale;
    int rc = image_grid_png(pixels, ds->n + 1, ds->c, ds->h, ds->w, index, cells, per_class,
                            scale, png, len, err);
    free(pixels);
    free(index);
    return rc;
}

void api_dataset_preview(Api *api, const ApiCall *call, HttpResponse *resp)
{
    char name[NAME_MAX_BYTES + 1];
    long per_class;
    if (!api_query_int(call->rq, resp, "per_class", 1, PREVIEW_PER_CLASS_MAX, PREVIEW_PER_CLASS,
                       &per_class))
        return;
    cJSON *o = path_entry(api, call, resp, true, name);
    if (!o)
        return;
    bool labelled = cJSON_IsTrue(cJSON_GetObjectItem(o, "labelled"));
    bool folder = strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")), "folder") == 0;
    /* an image folder's images are drawn at their typical side, at most PREVIEW_SIDE; the
     * other kinds at theirs */
    int side = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "height"));
    side = !folder ? 0 : side < 1 || side > PREVIEW_SIDE ? PREVIEW_SIDE : side;
    cJSON_Delete(o);

    char key[2 * PATH_MAX], kind[32];
    snprintf(kind, sizeof kind, "preview-%ld", per_class);
    memo_key(key, sizeof key, kind, api, name);
    uint64_t stamp = dataset_stamp(name, root_for(api, name));
    size_t len;
    char *png = memo_get(key, stamp, &len);
    if (png) {
        api_reply_body(resp, 200, "image/png", png, len);
        return;
    }
    Dataset ds;
    GsErr err;
    int want = labelled ? (int)per_class : (int)per_class * PREVIEW_UNLABELLED_ROWS;
    if (dataset_preview(name, root_for(api, name), want, side, &ds, &err) != 0) {
        api_error(resp, 500, "internal", NULL, "preview of %s: %s", name, err.msg);
        return;
    }
    if (ds.n == 0) {
        dataset_free(&ds);
        api_error(resp, 404, "not_found", NULL, "preview of %s: no image decodes", name);
        return;
    }
    uint8_t *bytes = NULL;
    int rc = preview_png(&ds, (int)per_class, &bytes, &len, &err);
    dataset_free(&ds);
    if (rc != 0) {
        api_error(resp, 500, "internal", NULL, "preview of %s: %s", name, err.msg);
        return;
    }
    memo_put(key, stamp, (const char *)bytes, len);
    api_reply_body(resp, 200, "image/png", (char *)bytes, len);
}
