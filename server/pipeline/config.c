/* config.c — a run's configuration: the defaults, a strict JSON reader (cJSON) and the writer
 * that prints every field back. Every client body passes through here first, so nothing in it
 * is trusted: no byte past len is read, no number is converted before it is range-checked, the
 * caller's RunConfig is written only once the whole body has validated, and every error names
 * the field by its JSON path. This file must not know about HTTP, SQLite or files on disk:
 * dataset paths are resolved by the caller, and checks that need the data (k versus the number
 * of training images, knn_k versus the training set) happen when the data is loaded. */
#include "gs/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Our deepest field is five levels down (eval.finetune.augment.crop_scale[i]); 8 leaves room for
 * sane mistakes while refusing the deeply nested bodies that exhaust a recursive parser. */
#define CONFIG_MAX_DEPTH 8
#define PATH_MAX_LEN 256
/* JSON numbers are doubles: every integer up to 2^53 is exact, one above may not be. */
#define SEED_MAX 9007199254740992.0

void run_config_defaults(RunConfig *cfg)
{
    /* Zeroed first so padding and unused array slots are the same in every RunConfig. */
    memset(cfg, 0, sizeof *cfg);
    cfg->method = METHOD_GSIMCLR;              /* the method this service exists for */
    cfg->name[0] = '\0';                       /* optional, for people */
    snprintf(cfg->dataset, sizeof cfg->dataset, "%s", "fashion-mnist"); /* always installed */
    cfg->data.size = 0;                        /* the files' own size: no resampling */
    cfg->data.fit = IMAGE_FIT_CROP;            /* keeps the aspect, as torchvision's
                                                * Resize + CenterCrop do */
    cfg->data.val_fraction = 0.1f;             /* without a test split, evaluate on a held-out
                                                * tenth rather than not at all */
    cfg->data.skip_bad = false;                /* a bad file is a mistake to see first */
    cfg->subset = 0;                           /* whole training set */
    cfg->subset_random = false;                /* first N: the same images on every run */
    cfg->test_subset = 0;                      /* whole test set: accuracies comparable */
    cfg->seed = 1;                             /* fixed, so a run is reproducible by default */
    cfg->threads = 2;                          /* the cores of the machine kind we target */
    cfg->processes = 1;                        /* one process; more through the daemon's
                                                * launcher (mpirun), issue 14 */

    cfg->dae.net = dae_defaults();             /* the paper's 32/64/128 filters, halved: */
    cfg->dae.net.filters[0] = 16;              /* the autoencoder only feeds k-means, so its */
    cfg->dae.net.filters[1] = 32;              /* share of a 30-minute budget must stay small */
    cfg->dae.net.filters[2] = 64;              /* (speeds in BENCHMARKS.md) */
    cfg->dae.epochs = 5;                       /* the loss flattens by then */
    cfg->dae.batch = 256;                      /* same batch as SimCLR: one memory budget */
    cfg->dae.lr = 1e-3f;                       /* Adam's usual rate, as in the paper's Keras code */
    cfg->dae.noise = 0.1f;                     /* paper 0.01 on CIFAR barely perturbs 8-bit
                                                * 28x28 images; 0.1 makes denoising a task */

    cfg->kmeans.k = 512;                       /* the paper ties k to the batch (64); k = 512
                                                * measured best at batch 256 (BENCHMARKS.md):
                                                * k < batch forces a repeat in every batch; at
                                                * batch 64 no batch repeats a cluster */
    cfg->kmeans.n_init = 4;                    /* a few k-means++ restarts; keep lowest inertia */
    cfg->kmeans.max_iter = 100;                /* Lloyd converges well before on 60k points */
    cfg->kmeans.tol = 1e-4f;                   /* scikit-learn's relative tolerance */

    cfg->simclr.encoder = encoder_cnn3();      /* 3-conv CNN, head 128-64: several times
                                                * faster than the residual encoder, and more
                                                * epochs within the 30-minute budget won
                                                * (BENCHMARKS.md) */
    cfg->simclr.encoder.n_widths = 3;          /* 24/48/384 instead of 32/64/128: a 384-d */
    cfg->simclr.encoder.widths[0] = 24;        /* feature for the linear probe; with the */
    cfg->simclr.encoder.widths[1] = 48;        /* last stage by Winograd F(4x4), 384 beat */
    cfg->simclr.encoder.widths[2] = 384;       /* 256 at equal time (BENCHMARKS.md) */
    cfg->simclr.epochs = 28;                   /* the whole pipeline within the 30-minute
                                                * budget on 2 cores (BENCHMARKS.md) */
    cfg->simclr.batch = 64;                    /* the paper's batch; in short runs batch 64 and
                                                * 128 beat 256 on validation (BENCHMARKS.md),
                                                * at the same images/s on 2 cores */
    cfg->simclr.optimizer = OPT_ADAM;          /* robust at small batches; LARS pays off at 4096 */
    cfg->simclr.lr = 3e-3f;                    /* measured better than 1e-3 and level with 5e-3
                                                * (BENCHMARKS.md) */
    cfg->simclr.weight_decay = 1e-6f;          /* SimCLR's small-batch setting */
    cfg->simclr.momentum = 0.9f;               /* used by sgd and lars only */
    cfg->simclr.warmup_epochs = 1.0f;          /* avoids early collapse with a cold BN */
    cfg->simclr.tau = 0.2f;                    /* between SimCLR's CIFAR 0.5 and the paper's
                                                * 0.1; measured with the crops below */
    cfg->simclr.aug = augment_defaults();      /* SimCLR's small-image augmentations, */
    cfg->simclr.aug.crop_scale_min = 0.5f;     /* with crops of 50-100 % of the area: 28x28
                                                * images lose the object below that (better for
                                                * G-SimCLR, BENCHMARKS.md) */
    cfg->simclr.knn_every = 4;                 /* accuracy over time for people watching; a
                                                * pass over the data costs a few % of the
                                                * stage at every 4th epoch (BENCHMARKS.md) */
    cfg->simclr.checkpoint_every = 1;          /* at most one epoch lost on a crash */

    cfg->eval.linear = linear_eval_defaults(); /* chosen in linear_probe.c (BENCHMARKS.md) */
    cfg->eval.knn_k = 200;                     /* InstDisc / SimCLR kNN monitor */
    cfg->eval.knn_temperature = 0.1f;          /* InstDisc's vote temperature */
    cfg->eval.finetune = finetune_defaults();  /* off (no fractions): fine-tuning and its
                                                * from-scratch reference take minutes that
                                                * the default run's budget does not have;
                                                * [0.01, 0.1] is SimCLR's (BENCHMARKS.md) */
}

/* ---- paths and messages ---------------------------------------------------------------- */

/* A key or string from the body, made safe to print: at most 48 bytes, printable ASCII only,
 * so an error message stays short and is valid UTF-8 whatever the client sent. */
static void text_sanitize(char *out, size_t cap, const char *in, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        if (i == 48) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)in[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[o] = '\0';
}

static const char *path_join(char out[PATH_MAX_LEN], const char *prefix, const char *name)
{
    char safe[64];
    text_sanitize(safe, sizeof safe, name, strlen(name));
    snprintf(out, PATH_MAX_LEN, "%s%s%s", prefix, prefix[0] ? "." : "", safe);
    return out;
}

/* What the client sent instead, for messages: "got a string", "got 3.5". */
static const char *json_describe(const cJSON *it, char buf[48])
{
    if (cJSON_IsNumber(it))
        snprintf(buf, 48, "got %.9g", it->valuedouble);
    else if (cJSON_IsString(it))
        snprintf(buf, 48, "got a string");
    else if (cJSON_IsBool(it))
        snprintf(buf, 48, "got %s", cJSON_IsTrue(it) ? "true" : "false");
    else if (cJSON_IsNull(it))
        snprintf(buf, 48, "got null");
    else if (cJSON_IsArray(it))
        snprintf(buf, 48, "got an array");
    else if (cJSON_IsObject(it))
        snprintf(buf, 48, "got an object");
    else
        snprintf(buf, 48, "got something else");
    return buf;
}

/* ---- raw-text scan ------------------------------------------------------------------- */

/* cJSON stores strings as C strings, so "a\u0000b" would silently become "a", and it
 * recurses once per nesting level. Both are caught here on the raw bytes, before cJSON runs;
 * this keeps just enough state (the current key or index per level) to name the field. */
typedef struct {
    bool is_obj;
    bool expect_key;
    long index;
    char key[64];
} ScanLevel;

static void scan_path(char out[PATH_MAX_LEN], const ScanLevel *lv, int depth)
{
    size_t o = 0;
    out[0] = '\0';
    for (int d = 0; d < depth && o < PATH_MAX_LEN; d++) {
        int n;
        if (lv[d].is_obj)
            n = snprintf(out + o, PATH_MAX_LEN - o, "%s%s", o ? "." : "", lv[d].key);
        else
            n = snprintf(out + o, PATH_MAX_LEN - o, "[%ld]", lv[d].index);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    if (o >= PATH_MAX_LEN)
        out[PATH_MAX_LEN - 1] = '\0';
    if (!out[0])
        snprintf(out, PATH_MAX_LEN, "body");
}

static int config_scan(const char *json, size_t len, GsErr *err)
{
    ScanLevel lv[CONFIG_MAX_DEPTH];
    int depth = 0;
    bool in_string = false, in_key = false;
    char raw_key[64];
    size_t key_len = 0;
    char path[PATH_MAX_LEN];

    for (size_t i = 0; i < len; i++) {
        char c = json[i];
        if (c == '\0')
            return gs_errf(err, "body: NUL byte at offset %zu", i);
        if (in_string) {
            if (c == '\\') {
                if (i + 5 < len && json[i + 1] == 'u' && memcmp(json + i + 2, "0000", 4) == 0) {
                    if (in_key && depth > 0) {
                        text_sanitize(lv[depth - 1].key, sizeof lv[depth - 1].key, raw_key,
                                      key_len);
                    }
                    scan_path(path, lv, depth);
                    return gs_errf(err, "%s: strings must not contain \\u0000 (NUL)", path);
                }
                if (in_key && key_len < sizeof raw_key && i + 1 < len)
                    raw_key[key_len++] = json[i + 1];
                i++; /* the escaped character cannot end the string */
                continue;
            }
            if (c == '"') {
                in_string = false;
                if (in_key)
                    text_sanitize(lv[depth - 1].key, sizeof lv[depth - 1].key, raw_key, key_len);
                in_key = false;
                continue;
            }
            if (in_key && key_len < sizeof raw_key)
                raw_key[key_len++] = c;
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            in_key = depth > 0 && lv[depth - 1].is_obj && lv[depth - 1].expect_key;
            key_len = 0;
            break;
        case '{':
        case '[':
            if (depth == CONFIG_MAX_DEPTH) {
                scan_path(path, lv, depth);
                return gs_errf(err, "%s: JSON nested deeper than %d levels (offset %zu)", path,
                               CONFIG_MAX_DEPTH, i);
            }
            lv[depth].is_obj = c == '{';
            lv[depth].expect_key = true;
            lv[depth].index = 0;
            lv[depth].key[0] = '\0';
            depth++;
            break;
        case '}':
        case ']':
            if (depth > 0)
                depth--;
            break;
        case ':':
            if (depth > 0 && lv[depth - 1].is_obj)
                lv[depth - 1].expect_key = false;
            break;
        case ',':
            if (depth > 0) {
                if (lv[depth - 1].is_obj)
                    lv[depth - 1].expect_key = true;
                else
                    lv[depth - 1].index++;
            }
            break;
        default:
            break;
        }
    }
    return 0;
}

/* ---- typed field readers ------------------------------------------------------------- */

/* Keys are matched case-sensitively (cJSON_GetObjectItem is not): "Seed" is a mistake. */
static const cJSON *obj_get(const cJSON *obj, const char *name)
{
    for (const cJSON *it = obj->child; it; it = it->next)
        if (it->string && strcmp(it->string, name) == 0)
            return it;
    return NULL;
}

/* Every key must be one of names (at most 32), each at most once: a duplicate is almost
 * always a pasted-over edit, and silently taking one of the two would hide it. */
static int obj_check_keys(const cJSON *obj, const char *prefix, const char *const *names,
                          int n, GsErr *err)
{
    char path[PATH_MAX_LEN];
    uint32_t seen = 0;
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *key = it->string ? it->string : "";
        int j = 0;
        while (j < n && strcmp(names[j], key) != 0)
            j++;
        if (j == n)
            return gs_errf(err, "%s: unknown field", path_join(path, prefix, key));
        if (seen & (UINT32_C(1) << j))
            return gs_errf(err, "%s: duplicate field", path_join(path, prefix, key));
        seen |= UINT32_C(1) << j;
    }
    return 0;
}

/* Returns the member as an object, NULL when absent; -1 via *bad when present but not one. */
static const cJSON *get_object(const cJSON *obj, const char *prefix, const char *name,
                               int *bad, GsErr *err)
{
    char path[PATH_MAX_LEN], got[48];
    const cJSON *it = obj_get(obj, name);
    *bad = 0;
    if (it && !cJSON_IsObject(it)) {
        *bad = gs_errf(err, "%s: must be an object, %s", path_join(path, prefix, name),
                       json_describe(it, got));
        return NULL;
    }
    return it;
}

/* The shared integer check: a finite, integral number in lo..hi, tested on the double before
 * any conversion so 1e300 is an error and never undefined behaviour. */
static int int_value(const cJSON *it, const char *path, double lo, double hi, double *out,
                     GsErr *err)
{
    char got[48];
    double v = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    if (!cJSON_IsNumber(it) || !isfinite(v) || v != floor(v) || v < lo || v > hi)
        return gs_errf(err, "%s: must be an integer in %.0f..%.0f, %s", path, lo, hi,
                       json_describe(it, got));
    *out = v;
    return 0;
}

static int get_int(const cJSON *obj, const char *prefix, const char *name, int lo, int hi,
                   int *out, GsErr *err)
{
    char path[PATH_MAX_LEN];
    const cJSON *it = obj_get(obj, name);
    double v = 0.0;
    if (!it)
        return 0;
    if (int_value(it, path_join(path, prefix, name), lo, hi, &v, err) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

typedef struct {
    double lo, hi;
    bool lo_open, hi_open;
} Range;

static const Range PROB = {0.0, 1.0, false, false};

static bool range_has(Range r, double v)
{
    return isfinite(v) && (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < r.hi : v <= r.hi);
}

/* A number in r, checked again after rounding to float so that, e.g., 1e-60 for an open
 * (0, 10] range is refused rather than stored as 0. */
static int float_value(const cJSON *it, const char *path, Range r, float *out, GsErr *err)
{
    char got[48];
    if (cJSON_IsNumber(it) && range_has(r, it->valuedouble) &&
        range_has(r, (double)(float)it->valuedouble)) {
        *out = (float)it->valuedouble;
        return 0;
    }
    return gs_errf(err, "%s: must be a number in %c%g, %g%c, %s", path, r.lo_open ? '(' : '[',
                   r.lo, r.hi, r.hi_open ? ')' : ']', json_describe(it, got));
}

static int get_float(const cJSON *obj, const char *prefix, const char *name, Range r,
                     float *out, GsErr *err)
{
    char path[PATH_MAX_LEN];
    const cJSON *it = obj_get(obj, name);
    if (!it)
        return 0;
    return float_value(it, path_join(path, prefix, name), r, out, err);
}

static int get_bool(const cJSON *obj, const char *prefix, const char *name, bool *out,
                    GsErr *err)
{
    char path[PATH_MAX_LEN], got[48];
    const cJSON *it = obj_get(obj, name);
    if (!it)
        return 0;
    if (!cJSON_IsBool(it))
        return gs_errf(err, "%s: must be true or false, %s", path_join(path, prefix, name),
                       json_describe(it, got));
    *out = cJSON_IsTrue(it);
    return 0;
}

/* One of names (n of them, joined for the message); the index goes to *out. */
static int get_enum(const cJSON *obj, const char *prefix, const char *name,
                    const char *const *names, int n, int *out, GsErr *err)
{
    char path[PATH_MAX_LEN], list[128] = "", got[80];
    const cJSON *it = obj_get(obj, name);
    if (!it)
        return 0;
    if (cJSON_IsString(it)) {
        for (int j = 0; j < n; j++) {
            if (strcmp(it->valuestring, names[j]) == 0) {
                *out = j;
                return 0;
            }
        }
    }
    for (int j = 0; j < n; j++) {
        size_t o = strlen(list);
        snprintf(list + o, sizeof list - o, "%s%s", j ? ", " : "", names[j]);
    }
    if (cJSON_IsString(it)) {
        char safe[64];
        text_sanitize(safe, sizeof safe, it->valuestring, strlen(it->valuestring));
        snprintf(got, sizeof got, "got \"%s\"", safe);
    } else {
        json_describe(it, got);
    }
    return gs_errf(err, "%s: must be one of %s, %s", path_join(path, prefix, name), list, got);
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. cJSON passes raw bytes
 * through, and a name that is not UTF-8 would make every later JSON answer invalid. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* A string of at most cap-1 bytes, UTF-8, without control characters (names are shown in
 * the web page, datasets are paths); non_empty when "" makes no sense. */
static int get_string(const cJSON *obj, const char *prefix, const char *name, char *out,
                      size_t cap, bool non_empty, GsErr *err)
{
    char path[PATH_MAX_LEN], got[48];
    const cJSON *it = obj_get(obj, name);
    if (!it)
        return 0;
    path_join(path, prefix, name);
    if (!cJSON_IsString(it))
        return gs_errf(err, "%s: must be a string, %s", path, json_describe(it, got));
    const char *s = it->valuestring;
    size_t n = strlen(s);
    if (n >= cap)
        return gs_errf(err, "%s: must be at most %zu bytes, got %zu", path, cap - 1, n);
    if (non_empty && n == 0)
        return gs_errf(err, "%s: must not be empty", path);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return gs_errf(err, "%s: must not contain control characters", path);
    if (!utf8_valid((const unsigned char *)s, n))
        return gs_errf(err, "%s: must be valid UTF-8", path);
    memcpy(out, s, n + 1);
    return 0;
}

/* An array of min_n..max_n integers, each in lo..hi. */
static int get_int_array(const cJSON *obj, const char *prefix, const char *name, int min_n,
                         int max_n, int lo, int hi, int *out, int *n_out, GsErr *err)
{
    char path[PATH_MAX_LEN], elem[PATH_MAX_LEN + 24], got[48];
    const cJSON *it = obj_get(obj, name);
    int vals[32], n = 0;
    if (!it)
        return 0;
    path_join(path, prefix, name);
    if (!cJSON_IsArray(it))
        return gs_errf(err, "%s: must be an array of %d..%d integers in %d..%d, %s", path,
                       min_n, max_n, lo, hi, json_describe(it, got));
    for (const cJSON *e = it->child; e; e = e->next, n++) {
        double v = 0.0;
        if (n >= max_n || n >= 32)
            return gs_errf(err, "%s: must have %d..%d values, got more", path, min_n, max_n);
        snprintf(elem, sizeof elem, "%s[%d]", path, n);
        if (int_value(e, elem, lo, hi, &v, err) != 0)
            return -1;
        vals[n] = (int)v;
    }
    if (n < min_n)
        return gs_errf(err, "%s: must have %d..%d values, got %d", path, min_n, max_n, n);
    memcpy(out, vals, (size_t)n * sizeof *out);
    *n_out = n;
    return 0;
}

/* An array of min_n..max_n numbers, each in r. */
static int get_float_array(const cJSON *obj, const char *prefix, const char *name, int min_n,
                           int max_n, Range r, float *out, int *n_out, GsErr *err)
{
    char path[PATH_MAX_LEN], elem[PATH_MAX_LEN + 24], got[48];
    const cJSON *it = obj_get(obj, name);
    float vals[32];
    int n = 0;
    if (!it)
        return 0;
    path_join(path, prefix, name);
    if (!cJSON_IsArray(it))
        return gs_errf(err, "%s: must be an array of %d..%d numbers, %s", path, min_n, max_n,
                       json_describe(it, got));
    for (const cJSON *e = it->child; e; e = e->next, n++) {
        if (n >= max_n || n >= 32)
            return gs_errf(err, "%s: must have %d..%d values, got more", path, min_n, max_n);
        snprintf(elem, sizeof elem, "%s[%d]", path, n);
        if (float_value(e, elem, r, &vals[n], err) != 0)
            return -1;
    }
    if (n < min_n)
        return gs_errf(err, "%s: must have %d..%d values, got %d", path, min_n, max_n, n);
    memcpy(out, vals, (size_t)n * sizeof *out);
    *n_out = n;
    return 0;
}

/* [min, max] with both in r and min <= max. */
static int get_pair(const cJSON *obj, const char *prefix, const char *name, Range r,
                    float *lo, float *hi, GsErr *err)
{
    char path[PATH_MAX_LEN];
    float v[2];
    int n = 0;
    if (!obj_get(obj, name))
        return 0;
    if (get_float_array(obj, prefix, name, 2, 2, r, v, &n, err) != 0)
        return -1;
    if (v[0] > v[1])
        return gs_errf(err, "%s: must be [min, max] with min <= max, got [%g, %g]",
                       path_join(path, prefix, name), (double)v[0], (double)v[1]);
    *lo = v[0];
    *hi = v[1];
    return 0;
}

/* ---- sections -------------------------------------------------------------------------- */

static const char *const OPT_NAMES[] = {"sgd", "adam", "adamw", "lars"}; /* order of OptKind */
static const char *const METHOD_NAMES[] = {"gsimclr", "simclr", "supervised"}; /* order of Method */
#define N_METHODS ((int)(sizeof METHOD_NAMES / sizeof *METHOD_NAMES))

const char *run_config_method_name(Method m)
{
    return (int)m >= 0 && (int)m < N_METHODS ? METHOD_NAMES[m] : "?";
}

bool run_config_method_known(const char *name)
{
    for (int i = 0; name && i < N_METHODS; i++)
        if (strcmp(name, METHOD_NAMES[i]) == 0)
            return true;
    return false;
}

static const char *const ARCH_NAMES[] = {"cnn3", "resnet"};            /* order of Arch */

/* Ranges: epochs 0..10000 everywhere training is optional (0 = skip, e.g. the random-init
 * reference); batches 2..4096 (NT-Xent needs a second image, 4096 is SimCLR's largest);
 * learning rates (0, 10]; widths as model_build_* accepts them. */

static int parse_dae(const cJSON *o, RunConfig *c, GsErr *err)
{
    static const char *const keys[] = {"filters", "epochs", "batch", "lr", "noise"};
    const char *p = "dae";
    if (obj_check_keys(o, p, keys, 5, err) != 0 ||
        get_int_array(o, p, "filters", 1, MODEL_MAX_STAGES, 1, 1024, c->dae.net.filters,
                      &c->dae.net.n_filters, err) != 0 ||
        get_int(o, p, "epochs", 0, 10000, &c->dae.epochs, err) != 0 ||
        get_int(o, p, "batch", 2, 4096, &c->dae.batch, err) != 0 ||
        get_float(o, p, "lr", (Range){0, 10, true, false}, &c->dae.lr, err) != 0 ||
        /* sigma beyond 1 on [0, 1] images leaves nothing to reconstruct from */
        get_float(o, p, "noise", PROB, &c->dae.noise, err) != 0)
        return -1;
    return 0;
}

static int parse_kmeans(const cJSON *o, RunConfig *c, GsErr *err)
{
    static const char *const keys[] = {"k", "n_init", "max_iter", "tol"};
    const char *p = "kmeans";
    if (obj_check_keys(o, p, keys, 4, err) != 0 ||
        /* one cluster guides nothing; above 4096 no batch could hold one of each */
        get_int(o, p, "k", 2, 4096, &c->kmeans.k, err) != 0 ||
        get_int(o, p, "n_init", 1, 100, &c->kmeans.n_init, err) != 0 ||
        get_int(o, p, "max_iter", 1, 10000, &c->kmeans.max_iter, err) != 0 ||
        get_float(o, p, "tol", (Range){0, 1, false, true}, &c->kmeans.tol, err) != 0)
        return -1;
    return 0;
}

/* Stage widths come either from "widths" (one per stage; "stages" follows its length) or from
 * "width" doubling per stage; giving "width" or "stages" without "widths" means doubling. */
static int parse_encoder(const cJSON *o, EncoderConfig *e, GsErr *err)
{
    static const char *const keys[] = {"arch", "width", "widths", "stages", "blocks", "head"};
    const char *p = "simclr.encoder";
    int arch = (int)e->arch, widths[MODEL_MAX_STAGES], n_widths = 0, stages = e->stages;
    if (obj_check_keys(o, p, keys, 6, err) != 0 ||
        get_enum(o, p, "arch", ARCH_NAMES, 2, &arch, err) != 0 ||
        get_int(o, p, "width", 1, 1024, &e->width, err) != 0 ||
        get_int_array(o, p, "widths", 1, MODEL_MAX_STAGES, 1, 1024, widths, &n_widths, err) != 0 ||
        get_int(o, p, "stages", 1, MODEL_MAX_STAGES, &stages, err) != 0 ||
        get_int(o, p, "blocks", 1, 16, &e->blocks, err) != 0 ||
        get_int_array(o, p, "head", 1, MODEL_MAX_HEAD, 1, 8192, e->head, &e->n_head, err) != 0)
        return -1;
    if (n_widths > 0) {
        if (obj_get(o, "width"))
            return gs_errf(err, "%s.widths: give \"width\" (doubled per stage) or \"widths\", "
                           "not both", p);
        if (obj_get(o, "stages") && stages != n_widths)
            return gs_errf(err, "%s.widths: %d widths for %d stages", p, n_widths, stages);
        memcpy(e->widths, widths, sizeof widths);
        stages = n_widths;
    } else if (!obj_get(o, "width") && !obj_get(o, "stages")) {
        n_widths = e->n_widths;               /* neither form given: keep the current one */
    }
    e->stages = stages;
    e->n_widths = n_widths;
    e->arch = (Arch)arch;
    return 0;
}

static int parse_augment(const cJSON *o, const char *p, AugConfig *a, GsErr *err)
{
    static const char *const keys[] = {"crop_scale", "crop_ratio", "flip", "jitter",
                                       "brightness", "contrast", "saturation", "hue", "gray",
                                       "blur", "blur_sigma"};
    if (obj_check_keys(o, p, keys, 11, err) != 0 ||
        get_pair(o, p, "crop_scale", (Range){0, 1, true, false}, &a->crop_scale_min,
                 &a->crop_scale_max, err) != 0 ||
        /* aspect ratios past 100:1 leave under one pixel of a 28-pixel side */
        get_pair(o, p, "crop_ratio", (Range){0, 100, true, false}, &a->crop_ratio_min,
                 &a->crop_ratio_max, err) != 0 ||
        get_float(o, p, "flip", PROB, &a->flip_p, err) != 0 ||
        get_float(o, p, "jitter", PROB, &a->jitter_p, err) != 0 ||
        /* factors are drawn in [1-x, 1+x], so x above 1 could go negative */
        get_float(o, p, "brightness", PROB, &a->brightness, err) != 0 ||
        get_float(o, p, "contrast", PROB, &a->contrast, err) != 0 ||
        get_float(o, p, "saturation", PROB, &a->saturation, err) != 0 ||
        /* a hue shift of 0.5 turns the wheel half way; more wraps around (torchvision's cap) */
        get_float(o, p, "hue", (Range){0, 0.5, false, false}, &a->hue, err) != 0 ||
        get_float(o, p, "gray", PROB, &a->gray_p, err) != 0 ||
        get_float(o, p, "blur", PROB, &a->blur_p, err) != 0 ||
        /* a sigma past 20 pixels blurs any image we train on to its mean */
        get_pair(o, p, "blur_sigma", (Range){0, 20, true, false}, &a->blur_sigma_min,
                 &a->blur_sigma_max, err) != 0)
        return -1;
    return 0;
}

static int parse_simclr(const cJSON *o, RunConfig *c, GsErr *err)
{
    static const char *const keys[] = {"encoder", "epochs", "batch", "optimizer", "lr",
                                       "weight_decay", "momentum", "warmup_epochs",
                                       "temperature", "augment", "knn_every",
                                       "checkpoint_every"};
    const char *p = "simclr";
    int opt = (int)c->simclr.optimizer, bad;
    const cJSON *enc, *aug;
    if (obj_check_keys(o, p, keys, 12, err) != 0)
        return -1;
    enc = get_object(o, p, "encoder", &bad, err);
    if (bad || (enc && parse_encoder(enc, &c->simclr.encoder, err) != 0))
        return -1;
    aug = get_object(o, p, "augment", &bad, err);
    if (bad || (aug && parse_augment(aug, "simclr.augment", &c->simclr.aug, err) != 0))
        return -1;
    if (get_int(o, p, "epochs", 0, 10000, &c->simclr.epochs, err) != 0 ||
        get_int(o, p, "batch", 2, 4096, &c->simclr.batch, err) != 0 ||
        get_enum(o, p, "optimizer", OPT_NAMES, 4, &opt, err) != 0 ||
        get_float(o, p, "lr", (Range){0, 10, true, false}, &c->simclr.lr, err) != 0 ||
        /* decay beyond 1 per step would erase the weights */
        get_float(o, p, "weight_decay", PROB, &c->simclr.weight_decay, err) != 0 ||
        /* momentum 1 never forgets a gradient */
        get_float(o, p, "momentum", (Range){0, 1, false, true}, &c->simclr.momentum, err) != 0 ||
        get_float(o, p, "warmup_epochs", (Range){0, 10000, false, false},
                  &c->simclr.warmup_epochs, err) != 0 ||
        get_float(o, p, "temperature", (Range){0, 10, true, false}, &c->simclr.tau, err) != 0 ||
        get_int(o, p, "knn_every", 0, 10000, &c->simclr.knn_every, err) != 0 ||
        get_int(o, p, "checkpoint_every", 1, 10000, &c->simclr.checkpoint_every, err) != 0)
        return -1;
    c->simclr.optimizer = (OptKind)opt;
    return 0;
}

static int parse_finetune(const cJSON *o, FinetuneConfig *f, GsErr *err)
{
    static const char *const keys[] = {"fractions", "epochs", "batch", "optimizer", "lr",
                                       "weight_decay", "val_fraction", "augment",
                                       "from_scratch"};
    const char *p = "eval.finetune";
    int opt = (int)f->optimizer, bad;
    const cJSON *aug;
    if (obj_check_keys(o, p, keys, 9, err) != 0)
        return -1;
    aug = get_object(o, p, "augment", &bad, err);
    if (bad || (aug && parse_augment(aug, "eval.finetune.augment", &f->aug, err) != 0))
        return -1;
    if (get_float_array(o, p, "fractions", 0, FINETUNE_MAX_FRACTIONS,
                        (Range){0, 1, true, false}, f->fractions, &f->n_fractions, err) != 0 ||
        get_int(o, p, "epochs", 1, 10000, &f->epochs, err) != 0 ||
        get_int(o, p, "batch", 2, 4096, &f->batch, err) != 0 ||
        get_enum(o, p, "optimizer", OPT_NAMES, 4, &opt, err) != 0 ||
        get_float(o, p, "lr", (Range){0, 10, true, false}, &f->lr, err) != 0 ||
        get_float(o, p, "weight_decay", PROB, &f->weight_decay, err) != 0 ||
        /* both the fitted and the held-out part must keep images */
        get_float(o, p, "val_fraction", (Range){0, 1, true, true}, &f->val_fraction, err) != 0 ||
        get_bool(o, p, "from_scratch", &f->from_scratch, err) != 0)
        return -1;
    /* the same fraction twice would train the same models twice */
    for (int i = 0; i < f->n_fractions; i++)
        for (int j = 0; j < i; j++)
            if (f->fractions[i] == f->fractions[j])
                return gs_errf(err, "%s.fractions[%d]: %g is already fractions[%d]", p, i,
                               (double)f->fractions[i], j);
    f->optimizer = (OptKind)opt;
    return 0;
}

static int parse_eval(const cJSON *o, RunConfig *c, GsErr *err)
{
    static const char *const keys[] = {"linear", "knn_k", "knn_temperature", "finetune"};
    static const char *const lkeys[] = {"epochs", "batch", "lr", "val_fraction",
                                        "weight_decays"};
    const char *p = "eval", *lp = "eval.linear";
    LinearEvalConfig *l = &c->eval.linear;
    int bad;
    const cJSON *lin, *ft;
    if (obj_check_keys(o, p, keys, 4, err) != 0)
        return -1;
    ft = get_object(o, p, "finetune", &bad, err);
    if (bad || (ft && parse_finetune(ft, &c->eval.finetune, err) != 0))
        return -1;
    lin = get_object(o, p, "linear", &bad, err);
    if (bad)
        return -1;
    if (lin && (obj_check_keys(lin, lp, lkeys, 5, err) != 0 ||
                /* linear_eval needs at least one epoch to choose among */
                get_int(lin, lp, "epochs", 1, 10000, &l->epochs, err) != 0 ||
                get_int(lin, lp, "batch", 1, 65536, &l->batch, err) != 0 ||
                get_float(lin, lp, "lr", (Range){0, 10, true, false}, &l->lr, err) != 0 ||
                /* both the fit and the validation split must keep some images */
                get_float(lin, lp, "val_fraction", (Range){0, 1, true, true}, &l->val_fraction,
                          err) != 0 ||
                get_float_array(lin, lp, "weight_decays", 1, 8, (Range){0, 100, false, false},
                                l->weight_decays, &l->n_weight_decays, err) != 0))
        return -1;
    if (get_int(o, p, "knn_k", 1, 10000, &c->eval.knn_k, err) != 0 ||
        get_float(o, p, "knn_temperature", (Range){0, 10, true, false}, &c->eval.knn_temperature,
                  err) != 0)
        return -1;
    return 0;
}

static const char *const FIT_NAMES[] = {"crop", "stretch"};  /* order of ImageFit */
static const char *const BAD_FILE_NAMES[] = {"fail", "skip"};

/* "dataset": a name, or {"name", "size", "fit", "val_fraction", "on_bad_file"}. */
static int parse_dataset(const cJSON *root, RunConfig *c, GsErr *err)
{
    static const char *const keys[] = {"name", "size", "fit", "val_fraction", "on_bad_file"};
    const cJSON *o = obj_get(root, "dataset");
    const char *p = "dataset";
    if (!o || !cJSON_IsObject(o))
        return get_string(root, "", "dataset", c->dataset, sizeof c->dataset, true, err);
    int fit = (int)c->data.fit, bad = c->data.skip_bad;
    if (obj_check_keys(o, p, keys, 5, err) != 0 ||
        get_string(o, p, "name", c->dataset, sizeof c->dataset, true, err) != 0 ||
        /* 0 = as the files are; the encoder takes 4..512 */
        get_int(o, p, "size", 0, 512, &c->data.size, err) != 0 ||
        get_enum(o, p, "fit", FIT_NAMES, 2, &fit, err) != 0 ||
        /* both the training set and the held-out part must keep images */
        get_float(o, p, "val_fraction", (Range){0, 0.9, false, false}, &c->data.val_fraction,
                  err) != 0 ||
        get_enum(o, p, "on_bad_file", BAD_FILE_NAMES, 2, &bad, err) != 0)
        return -1;
    if (c->data.size > 0 && c->data.size < 4)
        return gs_errf(err, "dataset.size: must be 0 (as the files are) or in 4..512, got %d",
                       c->data.size);
    c->data.fit = (ImageFit)fit;
    c->data.skip_bad = bad == 1;
    return 0;
}

static int parse_root(const cJSON *o, RunConfig *c, GsErr *err)
{
    static const char *const keys[] = {"method", "name", "dataset", "subset", "subset_random",
                                       "test_subset", "seed", "threads", "processes", "dae",
                                       "kmeans", "simclr", "eval"};
    int method = (int)c->method, bad;
    const cJSON *seed, *sec;
    double v = 0.0;
    if (obj_check_keys(o, "", keys, 13, err) != 0 ||
        get_enum(o, "", "method", METHOD_NAMES, N_METHODS, &method, err) != 0 ||
        get_string(o, "", "name", c->name, sizeof c->name, false, err) != 0 ||
        parse_dataset(o, c, err) != 0 ||
        get_int(o, "", "subset", 0, 100000000, &c->subset, err) != 0 ||
        get_bool(o, "", "subset_random", &c->subset_random, err) != 0 ||
        get_int(o, "", "test_subset", 0, 100000000, &c->test_subset, err) != 0 ||
        /* more threads than any machine we target has cores only slows a run down */
        get_int(o, "", "threads", 1, 64, &c->threads, err) != 0 ||
        /* processes of a data-parallel run (MPI); each takes simclr.batch / processes */
        get_int(o, "", "processes", 1, RUN_MAX_PROCESSES, &c->processes, err) != 0)
        return -1;
    c->method = (Method)method;
    seed = obj_get(o, "seed");
    if (seed) {
        if (int_value(seed, "seed", 0, SEED_MAX, &v, err) != 0)
            return -1;
        c->seed = (uint64_t)v;
    }
    /* dae and kmeans are checked even for method simclr, which ignores them: a mistake in a
     * body should not pass just because it happens to be unused this time. */
    static const struct {
        const char *name;
        int (*parse)(const cJSON *, RunConfig *, GsErr *);
    } sections[] = {{"dae", parse_dae}, {"kmeans", parse_kmeans}, {"simclr", parse_simclr},
                    {"eval", parse_eval}};
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++) {
        sec = get_object(o, "", sections[i].name, &bad, err);
        if (bad || (sec && sections[i].parse(sec, c, err) != 0))
            return -1;
    }
    if (c->method == METHOD_SUPERVISED && c->eval.finetune.n_fractions == 0)
        return gs_errf(err, "eval.finetune.fractions: method supervised trains only on "
                            "fractions of the labels: give at least one");
    return 0;
}

int run_config_parse(RunConfig *cfg, const char *json, size_t len, GsErr *err)
{
    RunConfig tmp;
    cJSON *root = NULL;
    const char *end = NULL;
    int rc = -1;

    run_config_defaults(&tmp);
    if (len == 0) {
        gs_errf(err, "body: empty; expected a JSON object");
        goto out;
    }
    if (!json) {
        gs_errf(err, "body: NULL with length %zu", len);
        goto out;
    }
    if (config_scan(json, len, err) != 0)
        goto out;
    /* Not null-terminated mode: cJSON's own check for that misreads an exact length, so
     * trailing bytes are checked below instead. */
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = (end && end >= json && end <= json + len) ? (size_t)(end - json) : 0;
        gs_errf(err, "body: invalid JSON near offset %zu", at);
        goto out;
    }
    for (const char *q = end; q < json + len; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            gs_errf(err, "body: unexpected text after the JSON object at offset %zu",
                    (size_t)(q - json));
            goto out;
        }
    }
    if (!cJSON_IsObject(root)) {
        char got[48];
        gs_errf(err, "body: must be a JSON object, %s", json_describe(root, got));
        goto out;
    }
    if (parse_root(root, &tmp, err) != 0)
        goto out;
    /* checked on the whole configuration, whichever of the two fields came last */
    if (tmp.simclr.batch % tmp.processes != 0) {
        gs_errf(err, "processes: simclr.batch (%d) must be a multiple of processes (%d): each "
                "process takes an equal share of the global batch", tmp.simclr.batch,
                tmp.processes);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc == 0)
        memcpy(cfg, &tmp, sizeof tmp);
    else
        run_config_defaults(cfg);
    return rc;
}

/* ---- printing -------------------------------------------------------------------------- */

/* Not JSON fields, so printing skips them and parsing keeps their defaults: the input shape
 * (in_c, in_h, in_w of the encoder and the DAE), which the pipeline takes from the dataset,
 * and eval.linear.seed, which the pipeline should derive from the run's seed so that one number
 * reproduces a run. */

/* The shortest decimal that reads back as the same float (at most 9 digits always does), so
 * 0.001f prints as 0.001 and not 0.00100000005. Non-finite values cannot come from a parse;
 * they print as null, which parsing refuses, rather than as invalid JSON. */
static cJSON *json_float(float f)
{
    char buf[32];
    if (!isfinite(f))
        return cJSON_CreateNull();
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    return cJSON_CreateRaw(buf);
}

/* The Add* helpers return NULL on failure; these keep the error in one flag so the builder
 * below reads as the list of fields it is. */
typedef struct {
    bool oom;
} Build;

static cJSON *add_obj(Build *b, cJSON *parent, const char *name)
{
    cJSON *o = parent ? cJSON_AddObjectToObject(parent, name) : NULL;
    if (!o)
        b->oom = true;
    return o;
}

static void add_item(Build *b, cJSON *parent, const char *name, cJSON *item)
{
    if (!parent || !item || !cJSON_AddItemToObject(parent, name, item)) {
        cJSON_Delete(item);
        b->oom = true;
    }
}

static void add_int(Build *b, cJSON *o, const char *name, int v)
{
    add_item(b, o, name, cJSON_CreateNumber(v));
}

static void add_float(Build *b, cJSON *o, const char *name, float v)
{
    add_item(b, o, name, json_float(v));
}

static void add_str(Build *b, cJSON *o, const char *name, const char *s)
{
    add_item(b, o, name, cJSON_CreateString(s));
}

static void add_int_array(Build *b, cJSON *o, const char *name, const int *v, int n)
{
    add_item(b, o, name, cJSON_CreateIntArray(v, n));
}

static void add_float_array(Build *b, cJSON *o, const char *name, const float *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *f = json_float(v[i]);
        if (!f || !cJSON_AddItemToArray(a, f)) {
            cJSON_Delete(f);
            b->oom = true;
        }
    }
    add_item(b, o, name, a);
}

static void add_augment(Build *b, cJSON *parent, const AugConfig *a)
{
    cJSON *aug = add_obj(b, parent, "augment");
    float pair[2] = {a->crop_scale_min, a->crop_scale_max};
    add_float_array(b, aug, "crop_scale", pair, 2);
    pair[0] = a->crop_ratio_min;
    pair[1] = a->crop_ratio_max;
    add_float_array(b, aug, "crop_ratio", pair, 2);
    add_float(b, aug, "flip", a->flip_p);
    add_float(b, aug, "jitter", a->jitter_p);
    add_float(b, aug, "brightness", a->brightness);
    add_float(b, aug, "contrast", a->contrast);
    add_float(b, aug, "saturation", a->saturation);
    add_float(b, aug, "hue", a->hue);
    add_float(b, aug, "gray", a->gray_p);
    add_float(b, aug, "blur", a->blur_p);
    pair[0] = a->blur_sigma_min;
    pair[1] = a->blur_sigma_max;
    add_float_array(b, aug, "blur_sigma", pair, 2);
}

/* An enum's name, or null for a value outside the table (never produced by a parse). */
static cJSON *json_enum(const char *const *names, int n, int v)
{
    return (v >= 0 && v < n) ? cJSON_CreateString(names[v]) : cJSON_CreateNull();
}

char *run_config_to_json(const RunConfig *cfg)
{
    Build b = {false};
    char seed[32];
    cJSON *root = cJSON_CreateObject();
    cJSON *dae, *km, *sc, *enc, *ev, *lin, *ft;
    char *text = NULL;

    if (!root)
        return NULL;
    add_item(&b, root, "method", json_enum(METHOD_NAMES, N_METHODS, (int)cfg->method));
    add_str(&b, root, "name", cfg->name);
    /* the short form while every dataset option is at its default, so the configurations of
     * IDX and CIFAR runs read as they always have */
    RunConfig def;
    run_config_defaults(&def);
    if (cfg->data.size == def.data.size && cfg->data.fit == def.data.fit &&
        cfg->data.val_fraction == def.data.val_fraction &&
        cfg->data.skip_bad == def.data.skip_bad) {
        add_str(&b, root, "dataset", cfg->dataset);
    } else {
        cJSON *ds = add_obj(&b, root, "dataset");
        add_str(&b, ds, "name", cfg->dataset);
        add_int(&b, ds, "size", cfg->data.size);
        add_item(&b, ds, "fit", json_enum(FIT_NAMES, 2, (int)cfg->data.fit));
        add_float(&b, ds, "val_fraction", cfg->data.val_fraction);
        add_str(&b, ds, "on_bad_file", BAD_FILE_NAMES[cfg->data.skip_bad ? 1 : 0]);
    }
    add_int(&b, root, "subset", cfg->subset);
    add_item(&b, root, "subset_random", cJSON_CreateBool(cfg->subset_random));
    add_int(&b, root, "test_subset", cfg->test_subset);
    /* printed as an exact integer: cJSON's number printer would go through a double */
    snprintf(seed, sizeof seed, "%" PRIu64, cfg->seed);
    add_item(&b, root, "seed", cJSON_CreateRaw(seed));
    add_int(&b, root, "threads", cfg->threads);
    add_int(&b, root, "processes", cfg->processes);

    dae = add_obj(&b, root, "dae");
    add_int_array(&b, dae, "filters", cfg->dae.net.filters, cfg->dae.net.n_filters);
    add_int(&b, dae, "epochs", cfg->dae.epochs);
    add_int(&b, dae, "batch", cfg->dae.batch);
    add_float(&b, dae, "lr", cfg->dae.lr);
    add_float(&b, dae, "noise", cfg->dae.noise);

    km = add_obj(&b, root, "kmeans");
    add_int(&b, km, "k", cfg->kmeans.k);
    add_int(&b, km, "n_init", cfg->kmeans.n_init);
    add_int(&b, km, "max_iter", cfg->kmeans.max_iter);
    add_float(&b, km, "tol", cfg->kmeans.tol);

    sc = add_obj(&b, root, "simclr");
    enc = add_obj(&b, sc, "encoder");
    add_item(&b, enc, "arch", json_enum(ARCH_NAMES, 2, (int)cfg->simclr.encoder.arch));
    if (cfg->simclr.encoder.n_widths > 0)
        add_int_array(&b, enc, "widths", cfg->simclr.encoder.widths,
                      cfg->simclr.encoder.n_widths);
    else
        add_int(&b, enc, "width", cfg->simclr.encoder.width);
    add_int(&b, enc, "stages", cfg->simclr.encoder.stages);
    add_int(&b, enc, "blocks", cfg->simclr.encoder.blocks);
    add_int_array(&b, enc, "head", cfg->simclr.encoder.head, cfg->simclr.encoder.n_head);
    add_int(&b, sc, "epochs", cfg->simclr.epochs);
    add_int(&b, sc, "batch", cfg->simclr.batch);
    add_item(&b, sc, "optimizer", json_enum(OPT_NAMES, 4, (int)cfg->simclr.optimizer));
    add_float(&b, sc, "lr", cfg->simclr.lr);
    add_float(&b, sc, "weight_decay", cfg->simclr.weight_decay);
    add_float(&b, sc, "momentum", cfg->simclr.momentum);
    add_float(&b, sc, "warmup_epochs", cfg->simclr.warmup_epochs);
    add_float(&b, sc, "temperature", cfg->simclr.tau);
    add_augment(&b, sc, &cfg->simclr.aug);
    add_int(&b, sc, "knn_every", cfg->simclr.knn_every);
    add_int(&b, sc, "checkpoint_every", cfg->simclr.checkpoint_every);

    ev = add_obj(&b, root, "eval");
    lin = add_obj(&b, ev, "linear");
    add_int(&b, lin, "epochs", cfg->eval.linear.epochs);
    add_int(&b, lin, "batch", cfg->eval.linear.batch);
    add_float(&b, lin, "lr", cfg->eval.linear.lr);
    add_float(&b, lin, "val_fraction", cfg->eval.linear.val_fraction);
    add_float_array(&b, lin, "weight_decays", cfg->eval.linear.weight_decays,
                    cfg->eval.linear.n_weight_decays);
    add_int(&b, ev, "knn_k", cfg->eval.knn_k);
    add_float(&b, ev, "knn_temperature", cfg->eval.knn_temperature);
    const FinetuneConfig *f = &cfg->eval.finetune;
    ft = add_obj(&b, ev, "finetune");
    add_float_array(&b, ft, "fractions", f->fractions, f->n_fractions);
    add_int(&b, ft, "epochs", f->epochs);
    add_int(&b, ft, "batch", f->batch);
    add_item(&b, ft, "optimizer", json_enum(OPT_NAMES, 4, (int)f->optimizer));
    add_float(&b, ft, "lr", f->lr);
    add_float(&b, ft, "weight_decay", f->weight_decay);
    add_float(&b, ft, "val_fraction", f->val_fraction);
    add_augment(&b, ft, &f->aug);
    add_item(&b, ft, "from_scratch", cJSON_CreateBool(f->from_scratch));

    if (!b.oom)
        text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

int run_config_load_file(RunConfig *cfg, const char *path, GsErr *err)
{
    enum { MAX_CONFIG = 1 << 20 };
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t len;
    GsErr inner;

    run_config_defaults(cfg);
    if (!f)
        return gs_errf(err, "%s: %s", path, strerror(errno));
    buf = malloc(MAX_CONFIG + 1);
    if (!buf) {
        fclose(f);
        return gs_errf(err, "%s: out of memory", path);
    }
    len = fread(buf, 1, MAX_CONFIG + 1, f);
    int bad_read = ferror(f);
    fclose(f);
    if (bad_read || len > MAX_CONFIG) {
        free(buf);
        return gs_errf(err, "%s: %s", path, bad_read ? "read error" : "larger than 1 MiB");
    }
    int rc = run_config_parse(cfg, buf, len, &inner);
    free(buf);
    if (rc)
        return gs_errf(err, "%s: %s", path, inner.msg);
    return 0;
}
