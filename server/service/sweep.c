/* sweep.c — sweep.h: a sweep's specification read and validated into the runs of its grid,
 * the grid's points in their fixed order, and the table over seeds. Every grid value is put
 * into the base configuration at its dotted path and the result parsed by run_config_parse,
 * the parser POST /v1/runs uses, so a sweep refuses exactly what a run would, with the same
 * message, naming the grid key. Statistics come from gs/stats.h. It must not store anything
 * (the caller stores the plan whole or not at all) nor speak HTTP. */
#include "sweep.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/bytebuf.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/pipeline.h"
#include "gs/stats.h"

const char *const SWEEP_METRICS[] = {
    "linear_top1", "knn_top1", "linear_top1_head", "purity", "nmi",
    "repeat_batches_per_epoch", "simclr_loss", "inertia", "dae_loss", NULL,
};

/* The figures shown beside the metric in every row: the means of these result fields. */
static const char *const FIGURES[] = {
    "linear_top1", "knn_top1", "purity", "nmi", "repeat_batches_per_epoch", NULL,
};

/* A sweep's bootstrap: resamples and a fixed seed, so the same runs give the same interval. */
#define BOOT_RESAMPLES 10000
#define BOOT_SEED 20091210u
#define LEVEL 0.95
/* Rows get a bootstrap interval from this many seeds on (fewer resample too few values). */
#define BOOT_MIN_N 5
/* The seed key: the replicate axis the table's statistics run over. */
#define SEED_KEY "seed"

/* Fine-tuning metrics name a figure of one fraction's row of the result's "finetune" list:
 * NAME@FRACTION, e.g. finetuned_top1@0.01. */
static const struct {
    const char *metric, *field;
} FINETUNE_METRICS[] = {
    {"finetuned_top1", "finetuned_top1"},
    {"scratch_top1", "scratch_top1"},
    {"finetune_gain", "gain"},
};
#define N_FINETUNE_METRICS (sizeof FINETUNE_METRICS / sizeof FINETUNE_METRICS[0])

/* For a fine-tuning metric: true, its row's field and the fraction (in (0, 1]). */
static bool finetune_metric(const char *metric, const char **field, double *fraction)
{
    const char *at = strchr(metric, '@');
    if (!at)
        return false;
    for (size_t i = 0; i < N_FINETUNE_METRICS; i++) {
        size_t n = strlen(FINETUNE_METRICS[i].metric);
        if ((size_t)(at - metric) != n || strncmp(metric, FINETUNE_METRICS[i].metric, n) != 0)
            continue;
        char *end;
        double f = strtod(at + 1, &end);
        if (end == at + 1 || *end != '\0' || !(f > 0 && f <= 1))
            return false;
        *field = FINETUNE_METRICS[i].field;
        *fraction = f;
        return true;
    }
    return false;
}

/* Fractions are compared as the run configuration stores them (float). */
static bool same_fraction(double a, double b)
{
    return fabs(a - b) <= 1e-6;
}

bool sweep_metric_is_fraction(const char *metric)
{
    const char *field;
    double f;
    return strcmp(metric, "linear_top1") == 0 || strcmp(metric, "knn_top1") == 0 ||
           strcmp(metric, "linear_top1_head") == 0 || strcmp(metric, "purity") == 0 ||
           strcmp(metric, "nmi") == 0 || finetune_metric(metric, &field, &f);
}

static int serr(GsErr *err, SweepError *where, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int serr(GsErr *err, SweepError *where, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (where)
        snprintf(where->field, sizeof where->field, "%s", field ? field : "");
    return -1;
}

/* ---- the grid --------------------------------------------------------------------------- */

/* A grid read from a validated specification: its keys (the first grid's order, the seed key
 * moved last so that it varies fastest) and, per grid, each key's values. Points are numbered
 * grid after grid; within one, an odometer over the keys, the last fastest. Pointers are into
 * the specification's cJSON tree. */
typedef struct {
    int n_keys, seed;               /* seed: the seed key's index, -1 when the grid has none */
    const char *keys[SWEEP_MAX_KEYS];
    int n_grids, n_points;
    struct {
        const cJSON *values[SWEEP_MAX_KEYS]; /* arrays, by key index */
        int counts[SWEEP_MAX_KEYS];
        int n_points;
    } grids[SWEEP_MAX_GRIDS];
} Grid;

/* The values of point p into out (n_keys of them). */
static void grid_point(const Grid *g, int p, const cJSON *out[SWEEP_MAX_KEYS])
{
    int k = 0;
    while (k < g->n_grids - 1 && p >= g->grids[k].n_points)
        p -= g->grids[k++].n_points;
    for (int i = g->n_keys - 1; i >= 0; i--) {
        int c = g->grids[k].counts[i];
        out[i] = cJSON_GetArrayItem(g->grids[k].values[i], p % c);
        p /= c;
    }
}

static int count_items(const cJSON *a)
{
    int n = 0;
    for (const cJSON *it = a ? a->child : NULL; it; it = it->next)
        n++;
    return n;
}

static bool key_is(const cJSON *it, const char *name)
{
    return it->string && strcmp(it->string, name) == 0;
}

static const cJSON *obj_get(const cJSON *obj, const char *name)
{
    for (const cJSON *it = obj ? obj->child : NULL; it; it = it->next)
        if (key_is(it, name))
            return it;
    return NULL;
}

/* A key's syntax: dotted segments of letters, digits and '_', none empty. */
static bool key_valid(const char *key)
{
    size_t n = strlen(key), seg = 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i <= n; i++) {
        char c = key[i];
        if (c == '.' || c == 0) {
            if (seg == 0)
                return false;
            seg = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_') {
            seg++;
        } else {
            return false;
        }
    }
    return true;
}

/* Reads spec's "grid" (an array of objects, as sweep_plan stores it) into g. The shape checks
 * are sweep_plan's; here only what the enumeration itself needs. */
static int grid_read(const cJSON *grids, Grid *g, GsErr *err)
{
    memset(g, 0, sizeof *g);
    g->seed = -1;
    const cJSON *first = cJSON_IsArray(grids) ? grids->child : NULL;
    if (!cJSON_IsObject(first))
        return gs_errf(err, "sweep: the stored grid is not an array of objects");
    for (const cJSON *it = first->child; it; it = it->next) {
        if (g->n_keys == SWEEP_MAX_KEYS || !it->string)
            return gs_errf(err, "sweep: the stored grid has too many keys");
        if (strcmp(it->string, SEED_KEY) == 0)
            g->seed = g->n_keys;
        g->keys[g->n_keys++] = it->string;
    }
    if (g->seed >= 0 && g->seed != g->n_keys - 1) {
        const char *s = g->keys[g->seed];
        memmove(&g->keys[g->seed], &g->keys[g->seed + 1],
                sizeof g->keys[0] * (size_t)(g->n_keys - 1 - g->seed));
        g->keys[g->n_keys - 1] = s;
        g->seed = g->n_keys - 1;
    }
    for (const cJSON *gr = first; gr; gr = gr->next) {
        if (g->n_grids == SWEEP_MAX_GRIDS)
            return gs_errf(err, "sweep: the stored grid has too many grids");
        int np = 1;
        for (int i = 0; i < g->n_keys; i++) {
            const cJSON *v = obj_get(gr, g->keys[i]);
            int c = count_items(v);
            if (!cJSON_IsArray(v) || c < 1)
                return gs_errf(err, "sweep: the stored grid lacks values of %s", g->keys[i]);
            g->grids[g->n_grids].values[i] = v;
            g->grids[g->n_grids].counts[i] = c;
            np = np > SWEEP_MAX_POINTS ? np : np * c;
        }
        g->grids[g->n_grids++].n_points = np;
        g->n_points += np;
        if (g->n_points > SWEEP_MAX_POINTS)
            return gs_errf(err, "sweep: the stored grid has too many points");
    }
    return 0;
}

/* A value as people read it: a string without quotes, a number as JSON prints it. */
static void value_text(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v)) {
        snprintf(buf, cap, "%s", v->valuestring);
        return;
    }
    char *t = v ? cJSON_PrintUnformatted(v) : NULL;
    snprintf(buf, cap, "%s", t ? t : "?");
    cJSON_free(t);
}

/* "k=v k=v" for the keys of a point but skip and skip2 (-1: none). */
static void point_label(const Grid *g, const cJSON *vals[SWEEP_MAX_KEYS], int skip, int skip2,
                        char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < g->n_keys; i++) {
        if (i == skip || i == skip2)
            continue;
        char v[96];
        value_text(vals[i], v, sizeof v);
        int n = snprintf(buf + o, cap - o, "%s%s=%s", o ? " " : "", g->keys[i], v);
        if (n < 0 || (size_t)n >= cap - o) {
            if (cap > 4)
                memcpy(buf + cap - 4, "...", 4);
            return;
        }
        o += (size_t)n;
    }
}

/* ---- reading a specification ------------------------------------------------------------ */

/* Sets root's dotted path to a copy of value, making objects on the way. 0, or -1 with why. */
static int json_set_path(cJSON *root, const char *path, const cJSON *value, char *why,
                         size_t cap)
{
    char part[80];
    const char *p = path;
    cJSON *cur = root;
    for (;;) {
        size_t n = strcspn(p, ".");
        if (n == 0 || n >= sizeof part) {
            snprintf(why, cap, "not a dotted path of fields");
            return -1;
        }
        memcpy(part, p, n);
        part[n] = 0;
        cJSON *child = cJSON_GetObjectItemCaseSensitive(cur, part);
        if (p[n] == 0) {
            cJSON *copy = cJSON_Duplicate(value, true);
            if (!copy ||
                (child ? !cJSON_ReplaceItemInObjectCaseSensitive(cur, part, copy)
                       : !cJSON_AddItemToObject(cur, part, copy))) {
                cJSON_Delete(copy);
                snprintf(why, cap, "out of memory");
                return -1;
            }
            return 0;
        }
        if (!child) {
            child = cJSON_AddObjectToObject(cur, part);
            if (!child) {
                snprintf(why, cap, "out of memory");
                return -1;
            }
        } else if (!cJSON_IsObject(child)) {
            snprintf(why, cap, "%.*s is not an object in the configuration", (int)(p + n - path),
                     path);
            return -1;
        }
        cur = child;
        p += n + 1;
    }
}

/* Prints cfg_json and parses it as POST /v1/runs would: 0 and *cfg, or -1 with err set. */
static int parse_config(const cJSON *cfg_json, RunConfig *cfg, GsErr *err)
{
    char *text = cJSON_PrintUnformatted(cfg_json);
    if (!text)
        return gs_errf(err, "out of memory");
    int rc = run_config_parse(cfg, text, strlen(text), err);
    cJSON_free(text);
    return rc;
}

/* The field a parser message names ("simclr.batch: must be ..." -> "simclr.batch"). */
static void message_field(const char *msg, char *out, size_t cap)
{
    const char *sep = strstr(msg, ": ");
    size_t n = sep ? (size_t)(sep - msg) : 0;
    if (n >= cap)
        n = 0;
    memcpy(out, msg, n);
    out[n] = 0;
}

/* The JSON nesting of body, counted outside strings: the specification's own two levels plus
 * a run configuration's; deeper bodies are refused before cJSON recurses into them. */
static bool depth_ok(const char *s, size_t len, int max)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

static void plan_init(SweepPlan *p)
{
    memset(p, 0, sizeof *p);
}

void sweep_plan_free(SweepPlan *p)
{
    if (!p)
        return;
    for (int i = 0; p->runs && i < p->n_runs; i++) {
        free((char *)p->runs[i].method);
        free((char *)p->runs[i].name);
        free((char *)p->runs[i].config_json);
    }
    free(p->runs);
    free(p->run_of);
    free(p->spec_json);
    plan_init(p);
}

/* The checks of the top level: known fields, each once; name and metric. */
static int read_top(const cJSON *root, SweepPlan *plan, const cJSON **base, const cJSON **grid,
                    SweepError *where, GsErr *err)
{
    static const char *const fields[] = {"name", "base", "grid", "metric"};
    unsigned seen = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        int j = 0;
        while (j < 4 && !key_is(it, fields[j]))
            j++;
        char safe[64];
        snprintf(safe, sizeof safe, "%.48s", it->string ? it->string : "");
        for (char *c = safe; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        if (j == 4)
            return serr(err, where, safe, "%s: unknown field (a sweep has name, base, grid "
                        "and metric)", safe);
        if (seen & (1u << j))
            return serr(err, where, safe, "%s: duplicate field", safe);
        seen |= 1u << j;
    }
    const cJSON *name = obj_get(root, "name"), *metric = obj_get(root, "metric");
    if (name) {
        /* the run parser's string rules (UTF-8, no control characters, length) */
        RunConfig tmp;
        cJSON *probe = cJSON_CreateObject();
        if (!probe || !cJSON_AddItemReferenceToObject(probe, "name", (cJSON *)name)) {
            cJSON_Delete(probe);
            return serr(err, where, NULL, "out of memory");
        }
        GsErr why;
        int rc = parse_config(probe, &tmp, &why);
        cJSON_Delete(probe);
        if (rc)
            return serr(err, where, "name", "%s", why.msg);
        snprintf(plan->name, sizeof plan->name, "%s", tmp.name);
    }
    snprintf(plan->metric, sizeof plan->metric, "linear_top1");
    if (metric) {
        bool ok = false;
        const char *field;
        double fraction;
        for (int i = 0; cJSON_IsString(metric) && SWEEP_METRICS[i]; i++)
            ok = ok || strcmp(metric->valuestring, SWEEP_METRICS[i]) == 0;
        ok = ok || (cJSON_IsString(metric) && strlen(metric->valuestring) < sizeof plan->metric &&
                    finetune_metric(metric->valuestring, &field, &fraction));
        if (!ok) {
            char list[400] = "";
            for (int i = 0; SWEEP_METRICS[i]; i++) {
                size_t o = strlen(list);
                snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", SWEEP_METRICS[i]);
            }
            for (size_t i = 0; i < N_FINETUNE_METRICS; i++) {
                size_t o = strlen(list);
                snprintf(list + o, sizeof list - o, ", %s@F", FINETUNE_METRICS[i].metric);
            }
            return serr(err, where, "metric",
                        "metric: must be one of %s (F: a fraction of eval.finetune.fractions)",
                        list);
        }
        snprintf(plan->metric, sizeof plan->metric, "%s", metric->valuestring);
    }
    *base = obj_get(root, "base");
    *grid = obj_get(root, "grid");
    if (*base && !cJSON_IsObject(*base))
        return serr(err, where, "base", "base: must be a run configuration (a JSON object)");
    if (*base && obj_get(*base, "name"))
        return serr(err, where, "base.name", "base.name: a sweep's runs are named after the "
                    "sweep and their grid values; give the sweep a \"name\" instead");
    if (!*grid)
        return serr(err, where, "grid", "grid: missing; give {\"key\": [values], ...} (or an "
                    "array of such objects)");
    return 0;
}

/* Checks the grid's shape, every key and every value (each set alone into the base), and
 * returns its normalised form (an array of objects) in *out. */
static int read_grid(const cJSON *grid, const cJSON *base, cJSON **out, SweepError *where,
                     GsErr *err)
{
    cJSON *arr = cJSON_IsArray(grid) ? cJSON_Duplicate(grid, true) : cJSON_CreateArray();
    if (!arr)
        return serr(err, where, NULL, "out of memory");
    if (cJSON_IsObject(grid)) {
        cJSON *copy = cJSON_Duplicate(grid, true);
        if (!copy || !cJSON_AddItemToArray(arr, copy)) {
            cJSON_Delete(copy);
            cJSON_Delete(arr);
            return serr(err, where, NULL, "out of memory");
        }
    } else if (!cJSON_IsArray(grid)) {
        cJSON_Delete(arr);
        return serr(err, where, "grid", "grid: must be an object {\"key\": [values], ...} or an "
                    "array of such objects");
    }
    int n_grids = count_items(arr), rc = 0;
    if (n_grids < 1 || n_grids > SWEEP_MAX_GRIDS)
        rc = serr(err, where, "grid", "grid: must hold 1..%d grids, got %d", SWEEP_MAX_GRIDS,
                  n_grids);
    const cJSON *first = arr->child;
    long total = 0;
    int gi = 0;
    for (const cJSON *g = first; rc == 0 && g; g = g->next, gi++) {
        char gname[16] = "";
        if (n_grids > 1 || cJSON_IsArray(grid))
            snprintf(gname, sizeof gname, "[%d]", gi);
        if (!cJSON_IsObject(g)) {
            rc = serr(err, where, "grid", "grid%s: must be an object {\"key\": [values], ...}",
                      gname);
            break;
        }
        int n_keys = count_items(g);
        if (n_keys < 1 || n_keys > SWEEP_MAX_KEYS) {
            rc = serr(err, where, "grid", "grid%s: must have 1..%d keys, got %d", gname,
                      SWEEP_MAX_KEYS, n_keys);
            break;
        }
        if (g != first && n_keys != count_items(first)) {
            rc = serr(err, where, "grid", "grid%s: every grid must have the same keys as "
                      "grid[0]", gname);
            break;
        }
        long points = 1;
        for (const cJSON *k = g->child; rc == 0 && k; k = k->next) {
            const char *key = k->string ? k->string : "";
            char field[128], safe[72];
            snprintf(safe, sizeof safe, "%.64s", key);
            for (char *c = safe; *c; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                    *c = '?';
            snprintf(field, sizeof field, "grid.%s", safe);
            if (!key_valid(key)) {
                rc = serr(err, where, field, "grid%s.%s: a key is a field's dotted path, e.g. "
                          "simclr.batch", gname, safe);
                break;
            }
            if (strcmp(key, "name") == 0) {
                rc = serr(err, where, field, "grid%s.name: a sweep names its runs itself",
                          gname);
                break;
            }
            for (const cJSON *d = k->next; d; d = d->next)
                if (key_is(d, key)) {
                    rc = serr(err, where, field, "grid%s.%s: duplicate key", gname, safe);
                    break;
                }
            if (rc == 0 && g != first && !obj_get(first, key))
                rc = serr(err, where, field, "grid%s.%s: not a key of grid[0] (every grid must "
                          "have the same keys)", gname, safe);
            int nv = count_items(k);
            if (rc == 0 && (!cJSON_IsArray(k) || nv < 1 || nv > SWEEP_MAX_VALUES))
                rc = serr(err, where, field, "grid%s.%s: must be an array of 1..%d values",
                          gname, safe, SWEEP_MAX_VALUES);
            int vi = 0;
            for (const cJSON *v = rc == 0 ? k->child : NULL; rc == 0 && v; v = v->next, vi++) {
                for (const cJSON *u = k->child; u != v && rc == 0; u = u->next)
                    if (cJSON_Compare(u, v, true)) {
                        char vt[64];
                        value_text(v, vt, sizeof vt);
                        rc = serr(err, where, field, "grid%s.%s[%d]: %s is given twice", gname,
                                  safe, vi, vt);
                    }
                if (rc)
                    break;
                cJSON *cfg = base ? cJSON_Duplicate(base, true) : cJSON_CreateObject();
                char why[200];
                RunConfig tmp;
                GsErr perr;
                if (!cfg) {
                    rc = serr(err, where, NULL, "out of memory");
                } else if (json_set_path(cfg, key, v, why, sizeof why) != 0) {
                    rc = serr(err, where, field, "grid%s.%s: %s", gname, safe, why);
                } else if (parse_config(cfg, &tmp, &perr) != 0) {
                    rc = serr(err, where, field, "grid%s.%s[%d]: %s", gname, safe, vi,
                              perr.msg);
                }
                cJSON_Delete(cfg);
            }
            points = points > SWEEP_MAX_POINTS ? points : points * nv;
        }
        total += points;
        if (rc == 0 && total > SWEEP_MAX_POINTS)
            rc = serr(err, where, "grid", "grid: more than %d points (runs); split the sweep",
                      SWEEP_MAX_POINTS);
    }
    if (rc) {
        cJSON_Delete(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

/* The field a refusal of a whole point names: the grid key when the refused field is one of
 * the grid's keys, else the grid as a whole (the message names the point's values). */
static void point_field(const Grid *g, const char *name, char *out, size_t cap)
{
    for (int i = 0; i < g->n_keys; i++)
        if (strcmp(g->keys[i], name) == 0) {
            snprintf(out, cap, "grid.%s", name);
            return;
        }
    snprintf(out, cap, "grid");
}

/* Point p's run: its configuration from base and the grid values, checked whole, as a run
 * and (identity) as the same text for every point whose run would compute the same thing. */
static int point_run(const Grid *g, int p, const cJSON *base, const char *sweep_name,
                     const char *data_root, int max_threads, RunConfig *cfg, char **config_json,
                     char **identity, char **run_name, SweepError *where, GsErr *err)
{
    const cJSON *vals[SWEEP_MAX_KEYS];
    char label[400], why[200];
    GsErr perr;
    grid_point(g, p, vals);
    point_label(g, vals, -1, -1, label, sizeof label);
    cJSON *json = base ? cJSON_Duplicate(base, true) : cJSON_CreateObject();
    if (!json)
        return serr(err, where, NULL, "out of memory");
    for (int i = 0; i < g->n_keys; i++)
        if (json_set_path(json, g->keys[i], vals[i], why, sizeof why) != 0) {
            cJSON_Delete(json);
            return serr(err, where, "grid", "grid point %d (%s): %s", p, label, why);
        }
    int rc = parse_config(json, cfg, &perr);
    cJSON_Delete(json);
    if (rc != 0) {
        char f[96], field[128];
        message_field(perr.msg, f, sizeof f);
        point_field(g, f, field, sizeof field);
        return serr(err, where, field, "grid point %d (%s): %s", p, label, perr.msg);
    }
    /* the checks POST /v1/runs makes beyond the parser */
    int forbidden = 0;
    if (dataset_check(cfg->dataset, data_root, &forbidden, &perr) != 0) {
        if (where)
            where->forbidden = forbidden != 0;
        char field[128];
        point_field(g, "dataset", field, sizeof field);
        return serr(err, where, strcmp(field, "grid") ? field : "base.dataset",
                    "grid point %d (%s): dataset: %s", p, label, perr.msg);
    }
    if (cfg->method == METHOD_GSIMCLR && cfg->subset > 0 && cfg->kmeans.k > cfg->subset) {
        char field[128];
        point_field(g, "kmeans.k", field, sizeof field);
        return serr(err, where, field, "grid point %d (%s): kmeans.k: %d clusters for a subset "
                    "of %d training images", p, label, cfg->kmeans.k, cfg->subset);
    }
    if (max_threads > 0 && cfg->threads > max_threads)
        cfg->threads = max_threads;

    /* the run's name: the sweep's, then the values that tell this point from the others,
     * cut to what a run's name holds at a character boundary */
    char name[600];
    snprintf(name, sizeof name, "%s: %s", sweep_name[0] ? sweep_name : "sweep", label);
    size_t n = strlen(name);
    if (n >= sizeof cfg->name) {
        n = sizeof cfg->name - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
            n--;
        name[n] = 0;
    }
    memcpy(cfg->name, name, n + 1); /* n < sizeof cfg->name here */

    *config_json = run_config_to_json(cfg);
    /* identity: a SimCLR or supervised run neither trains an autoencoder nor clusters, so
     * those settings do not make another run; nor does the name */
    RunConfig id = *cfg, def;
    run_config_defaults(&def);
    id.name[0] = 0;
    if (id.method != METHOD_GSIMCLR) {
        id.dae = def.dae;
        id.kmeans = def.kmeans;
    }
    *identity = run_config_to_json(&id);
    *run_name = strdup(cfg->name);
    if (!*config_json || !*identity || !*run_name) {
        free(*config_json);
        free(*identity);
        free(*run_name);
        *config_json = *identity = *run_name = NULL;
        return serr(err, where, NULL, "out of memory");
    }
    return 0;
}

/* A fine-tuning metric needs its fraction fine-tuned in every run (and trained from scratch
 * for scratch_top1 and finetune_gain); other metrics any run has. */
static int point_has_metric(const Grid *g, int p, const RunConfig *cfg, const char *metric,
                            SweepError *where, GsErr *err)
{
    const char *field;
    double fraction;
    if (!finetune_metric(metric, &field, &fraction))
        return 0;
    const FinetuneConfig *ft = &cfg->eval.finetune;
    bool has = false;
    for (int i = 0; i < ft->n_fractions; i++)
        has = has || same_fraction(ft->fractions[i], fraction);
    bool scratch = strcmp(field, "finetuned_top1") == 0 || ft->from_scratch;
    if (has && scratch)
        return 0;
    const cJSON *vals[SWEEP_MAX_KEYS];
    char label[400];
    grid_point(g, p, vals);
    point_label(g, vals, -1, -1, label, sizeof label);
    if (!has)
        return serr(err, where, "metric", "metric: %s needs eval.finetune.fractions to hold %g "
                    "in every run; grid point %d (%s) fine-tunes on %d fraction(s)", metric,
                    fraction, p, label, ft->n_fractions);
    return serr(err, where, "metric", "metric: %s needs eval.finetune.from_scratch; grid "
                "point %d (%s) turns it off", metric, p, label);
}

static int build_runs(const Grid *g, const cJSON *base, SweepPlan *plan, const char *data_root,
                      int max_threads, SweepError *where, GsErr *err)
{
    char **identities = calloc((size_t)g->n_points, sizeof *identities);
    plan->runs = calloc((size_t)g->n_points, sizeof *plan->runs);
    plan->run_of = calloc((size_t)g->n_points, sizeof *plan->run_of);
    int rc = 0;
    if (!identities || !plan->runs || !plan->run_of)
        rc = serr(err, where, NULL, "out of memory");
    plan->n_points = g->n_points;
    for (int p = 0; rc == 0 && p < g->n_points; p++) {
        RunConfig cfg;
        char *config = NULL, *identity = NULL, *name = NULL;
        rc = point_run(g, p, base, plan->name, data_root, max_threads, &cfg, &config, &identity,
                       &name, where, err) ||
             point_has_metric(g, p, &cfg, plan->metric, where, err);
        if (rc) {
            free(config);
            free(identity);
            free(name);
            break;
        }
        int r = 0;
        while (r < plan->n_runs && strcmp(identities[r], identity) != 0)
            r++;
        plan->run_of[p] = r;
        if (r < plan->n_runs) {
            free(config);
            free(identity);
            free(name);
            continue;
        }
        char *method = strdup(run_config_method_name(cfg.method));
        if (!method) {
            free(config);
            free(identity);
            free(name);
            rc = serr(err, where, NULL, "out of memory");
            break;
        }
        identities[r] = identity;
        plan->runs[r] = (StoreNewRun){.method = method, .name = name, .config_json = config,
                                      .skipped = pipeline_skipped_stages(&cfg)};
        plan->n_runs++;
    }
    for (int r = 0; identities && r < plan->n_runs; r++)
        free(identities[r]);
    free(identities);
    return rc;
}

int sweep_plan(const char *body, size_t len, const char *data_root, int max_threads,
               SweepPlan *plan, SweepError *where, GsErr *err)
{
    plan_init(plan);
    memset(where, 0, sizeof *where);
    if (!body || len == 0) {
        where->bad_json = true;
        return serr(err, where, NULL, "body: empty; expected a sweep {\"name\", \"base\", "
                    "\"grid\", \"metric\"}");
    }
    if (memchr(body, 0, len)) {
        where->bad_json = true;
        return serr(err, where, NULL, "body: NUL byte in the body");
    }
    /* the sweep object and its grid arrays, around a run configuration's own 8 levels */
    if (!depth_ok(body, len, 10)) {
        where->bad_json = true;
        return serr(err, where, NULL, "body: JSON nested deeper than 10 levels");
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        where->bad_json = true;
        return serr(err, where, NULL, "body: invalid JSON near offset %zu",
                    end && end >= body && end <= body + len ? (size_t)(end - body) : (size_t)0);
    }
    for (const char *q = end; q < body + len; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(root);
            where->bad_json = true;
            return serr(err, where, NULL, "body: unexpected text after the JSON object");
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        where->bad_json = true;
        return serr(err, where, NULL, "body: must be a JSON object {\"name\", \"base\", "
                    "\"grid\", \"metric\"}");
    }

    const cJSON *base = NULL, *grid = NULL;
    cJSON *grids = NULL, *spec = NULL;
    Grid g;
    int rc = read_top(root, plan, &base, &grid, where, err);
    if (rc == 0 && base) {
        RunConfig tmp;
        GsErr perr;
        if (parse_config(base, &tmp, &perr) != 0) {
            char f[96];
            message_field(perr.msg, f, sizeof f);
            snprintf(where->field, sizeof where->field, "base%s%s", f[0] ? "." : "", f);
            rc = gs_errf(err, "base.%s", perr.msg);
        }
    }
    if (rc == 0)
        rc = read_grid(grid, base, &grids, where, err);
    if (rc == 0 && grid_read(grids, &g, err) != 0)
        rc = serr(err, where, "grid", "grid: %s", err->msg);
    if (rc == 0)
        rc = build_runs(&g, base, plan, data_root, max_threads, where, err);
    if (rc == 0) {
        spec = cJSON_CreateObject();
        cJSON *b = base ? cJSON_Duplicate(base, true) : cJSON_CreateObject();
        if (!spec || !b || !cJSON_AddStringToObject(spec, "name", plan->name) ||
            !cJSON_AddItemToObject(spec, "base", b)) {
            if (!spec || !cJSON_GetObjectItem(spec, "base"))
                cJSON_Delete(b);
            rc = serr(err, where, NULL, "out of memory");
        } else if (!cJSON_AddItemToObject(spec, "grid", grids)) {
            rc = serr(err, where, NULL, "out of memory");
        } else {
            grids = NULL; /* the spec owns it now */
            if (!cJSON_AddStringToObject(spec, "metric", plan->metric) ||
                !(plan->spec_json = cJSON_PrintUnformatted(spec)))
                rc = serr(err, where, NULL, "out of memory");
        }
    }
    cJSON_Delete(spec);
    cJSON_Delete(grids);
    cJSON_Delete(root);
    if (rc)
        sweep_plan_free(plan);
    return rc;
}

/* ---- the table --------------------------------------------------------------------------- */

static cJSON *num(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static void add_num(cJSON *o, const char *name, double v)
{
    cJSON_AddItemToObject(o, name, num(v));
}

static cJSON *interval(double lo, double hi)
{
    if (!isfinite(lo) || !isfinite(hi))
        return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(lo));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(hi));
    return a;
}

/* A metric's value in a run's result (NaN when absent or null): a field, or a fine-tuning
 * figure of one fraction. */
static double result_field(const cJSON *result, const char *name)
{
    const char *field;
    double fraction;
    if (finetune_metric(name, &field, &fraction)) {
        const cJSON *row;
        cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(result, "finetune"))
        {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(row, "fraction");
            if (cJSON_IsNumber(f) && same_fraction(f->valuedouble, fraction)) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, field);
                return cJSON_IsNumber(v) ? v->valuedouble : NAN;
            }
        }
        return NAN;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(result, name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

typedef struct {
    const cJSON *vals[SWEEP_MAX_KEYS];
    char label[400];
    int *points;            /* the row's points, in point order */
    int n_points;
    /* one value per distinct seed, in order of first appearance */
    char (*seeds)[32];
    double *values;
    int n;
} Row;

static const char *status_of(const long counts[RUN_STATUS_COUNT], int runs)
{
    if (runs == 0)
        return "empty";
    if (counts[RUN_RUNNING] > 0 || (counts[RUN_QUEUED] > 0 && counts[RUN_QUEUED] < runs))
        return "running";
    if (counts[RUN_QUEUED] == runs)
        return "queued";
    if (counts[RUN_SUCCEEDED] == runs)
        return "succeeded";
    if (counts[RUN_QUEUED] > 0)
        return "running";
    return counts[RUN_CANCELED] > 0 ? "canceled" : "failed";
}

static void add_counts(cJSON *o, const StoreSweep *sw)
{
    cJSON *c = cJSON_AddObjectToObject(o, "counts");
    for (int s = 0; s < RUN_STATUS_COUNT; s++)
        cJSON_AddNumberToObject(c, RUN_STATUS_NAMES[s], (double)sw->counts[s]);
    cJSON_AddNumberToObject(o, "runs", sw->runs);
    cJSON_AddStringToObject(o, "status", status_of(sw->counts, sw->runs));
    long ended = sw->counts[RUN_SUCCEEDED] + sw->counts[RUN_FAILED] + sw->counts[RUN_CANCELED];
    add_num(o, "progress", sw->runs > 0 ? (double)ended / sw->runs : NAN);
}

static cJSON *row_stats_json(const Row *r, const char *metric)
{
    (void)metric;
    cJSON *o = cJSON_CreateObject();
    StatsInterval t = stats_t_interval(r->values, r->n, LEVEL);
    cJSON_AddNumberToObject(o, "n", r->n);
    add_num(o, "mean", r->n > 0 ? t.mean : NAN);
    add_num(o, "sd", r->n > 1 ? t.sd : NAN);
    cJSON_AddItemToObject(o, "ci95", interval(t.lo, t.hi));
    StatsInterval b = {.lo = NAN, .hi = NAN};
    if (r->n >= BOOT_MIN_N &&
        stats_bootstrap_interval(r->values, r->n, LEVEL, BOOT_RESAMPLES, BOOT_SEED, &b) != 0)
        b.lo = b.hi = NAN;
    cJSON_AddItemToObject(o, "bootstrap95", interval(b.lo, b.hi));
    return o;
}

/* Whether two rows are the same runs (a key their runs ignore, such as kmeans.k for SimCLR,
 * makes two rows of one set of runs): nothing to compare. */
static bool same_runs(const Row *a, const Row *b, const StoreSweepPoint **at)
{
    if (a->n_points != b->n_points)
        return false;
    for (int k = 0; k < a->n_points; k++) {
        const StoreSweepPoint *x = at[a->points[k]], *y = at[b->points[k]];
        if (!x || !y || x->run != y->run)
            return false;
    }
    return true;
}

static void rows_free(Row *rows, int n)
{
    for (int i = 0; rows && i < n; i++) {
        free(rows[i].points);
        free(rows[i].seeds);
        free(rows[i].values);
    }
    free(rows);
}

/* The table: rows of the non-seed values, each with its values over seeds, and the paired
 * differences of rows that differ in one key. */
static int add_table(cJSON *o, const Grid *g, const char *metric, const StoreSweepPoint **at,
                     const cJSON **results, GsErr *err)
{
    Row *rows = calloc((size_t)g->n_points, sizeof *rows);
    int n_rows = 0;
    if (!rows)
        return gs_errf(err, "out of memory");
    for (int p = 0; p < g->n_points; p++) {
        const cJSON *vals[SWEEP_MAX_KEYS];
        grid_point(g, p, vals);
        int r = 0;
        for (; r < n_rows; r++) {
            bool same = true;
            for (int i = 0; i < g->n_keys && same; i++)
                same = i == g->seed || cJSON_Compare(rows[r].vals[i], vals[i], true);
            if (same)
                break;
        }
        Row *row = &rows[r];
        if (r == n_rows) {
            memcpy(row->vals, vals, sizeof vals);
            point_label(g, vals, g->seed, -1, row->label, sizeof row->label);
            row->points = calloc((size_t)g->n_points, sizeof *row->points);
            row->seeds = calloc((size_t)g->n_points, sizeof *row->seeds);
            row->values = calloc((size_t)g->n_points, sizeof *row->values);
            n_rows++;
            if (!row->points || !row->seeds || !row->values) {
                rows_free(rows, n_rows);
                return gs_errf(err, "out of memory");
            }
        }
        row->points[row->n_points++] = p;
        char seed[32];
        if (g->seed >= 0)
            value_text(vals[g->seed], seed, sizeof seed);
        else
            snprintf(seed, sizeof seed, "-");
        double v = at[p] && at[p]->status == RUN_SUCCEEDED ? result_field(results[p], metric)
                                                             : NAN;
        bool dup = false;
        for (int k = 0; k < row->n && !dup; k++)
            dup = strcmp(row->seeds[k], seed) == 0;
        if (isfinite(v) && !dup) {
            snprintf(row->seeds[row->n], sizeof row->seeds[0], "%s", seed);
            row->values[row->n++] = v;
        }
    }

    cJSON *params = cJSON_AddArrayToObject(o, "params");
    for (int i = 0; i < g->n_keys; i++)
        if (i != g->seed)
            cJSON_AddItemToArray(params, cJSON_CreateString(g->keys[i]));
    cJSON_AddItemToObject(o, "seed_key", g->seed >= 0 ? cJSON_CreateString(SEED_KEY)
                                                     : cJSON_CreateNull());
    cJSON *jrows = cJSON_AddArrayToObject(o, "rows");
    for (int r = 0; r < n_rows; r++) {
        Row *row = &rows[r];
        cJSON *jr = row_stats_json(row, metric);
        cJSON_AddStringToObject(jr, "label", row->label);
        cJSON *pv = cJSON_AddObjectToObject(jr, "params");
        for (int i = 0; i < g->n_keys; i++)
            if (i != g->seed)
                cJSON_AddItemToObject(pv, g->keys[i], cJSON_Duplicate(row->vals[i], true));
        cJSON *vals = cJSON_AddArrayToObject(jr, "values");
        for (int k = 0; k < row->n; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "seed", row->seeds[k]);
            cJSON_AddNumberToObject(e, "value", row->values[k]);
            cJSON_AddItemToArray(vals, e);
        }
        /* the row's runs by status, and the mean of each figure over its succeeded runs */
        long counts[RUN_STATUS_COUNT] = {0};
        cJSON *runs = cJSON_AddArrayToObject(jr, "runs");
        for (int k = 0; k < row->n_points; k++) {
            const StoreSweepPoint *pt = at[row->points[k]];
            if (pt && pt->status >= 0) {
                counts[pt->status]++;
                cJSON_AddItemToArray(runs, cJSON_CreateNumber((double)pt->run));
            }
        }
        cJSON *c = cJSON_AddObjectToObject(jr, "counts");
        for (int s = 0; s < RUN_STATUS_COUNT; s++)
            cJSON_AddNumberToObject(c, RUN_STATUS_NAMES[s], (double)counts[s]);
        cJSON *fig = cJSON_AddObjectToObject(jr, "figures");
        for (int f = 0; FIGURES[f]; f++) {
            double sum = 0;
            int n = 0;
            for (int k = 0; k < row->n_points; k++) {
                int p = row->points[k];
                double v = at[p] && at[p]->status == RUN_SUCCEEDED
                               ? result_field(results[p], FIGURES[f])
                               : NAN;
                if (isfinite(v)) {
                    sum += v;
                    n++;
                }
            }
            add_num(fig, FIGURES[f], n ? sum / n : NAN);
        }
        cJSON_AddItemToArray(jrows, jr);
    }

    cJSON *pairs = cJSON_AddArrayToObject(o, "pairs");
    double *a = malloc(sizeof(double) * (size_t)(g->n_points + 1));
    double *b = malloc(sizeof(double) * (size_t)(g->n_points + 1));
    if (!a || !b) {
        free(a);
        free(b);
        rows_free(rows, n_rows);
        return gs_errf(err, "out of memory");
    }
    /* by key, in the grid's order, then by row */
    for (int key = 0; key < g->n_keys; key++)
    for (int i = 0; i < n_rows; i++)
        for (int j = i + 1; j < n_rows; j++) {
            int diff = -1, ndiff = 0;
            for (int k = 0; k < g->n_keys; k++)
                if (k != g->seed && !cJSON_Compare(rows[i].vals[k], rows[j].vals[k], true)) {
                    diff = k;
                    ndiff++;
                }
            if (ndiff != 1 || diff != key || same_runs(&rows[i], &rows[j], at))
                continue;
            cJSON *pr = cJSON_CreateObject(), *seeds = cJSON_CreateArray();
            int n = 0;
            for (int x = 0; x < rows[i].n; x++)
                for (int y = 0; y < rows[j].n; y++)
                    if (strcmp(rows[i].seeds[x], rows[j].seeds[y]) == 0) {
                        a[n] = rows[i].values[x];
                        b[n++] = rows[j].values[y];
                        cJSON_AddItemToArray(seeds, cJSON_CreateString(rows[i].seeds[x]));
                    }
            StatsPaired s = stats_paired_t(a, b, n, LEVEL);
            char at_label[400];
            point_label(g, rows[i].vals, diff, g->seed, at_label, sizeof at_label);
            cJSON_AddStringToObject(pr, "param", g->keys[diff]);
            cJSON_AddItemToObject(pr, "a", cJSON_Duplicate(rows[i].vals[diff], true));
            cJSON_AddItemToObject(pr, "b", cJSON_Duplicate(rows[j].vals[diff], true));
            cJSON_AddNumberToObject(pr, "row_a", i);
            cJSON_AddNumberToObject(pr, "row_b", j);
            cJSON_AddStringToObject(pr, "where", at_label);
            cJSON_AddNumberToObject(pr, "n", n);
            cJSON_AddItemToObject(pr, "seeds", seeds);
            add_num(pr, "mean", n > 0 ? s.mean : NAN);
            add_num(pr, "sd", s.sd);
            cJSON_AddItemToObject(pr, "ci95", interval(s.lo, s.hi));
            add_num(pr, "t", s.t);
            add_num(pr, "p", s.p);
            cJSON_AddStringToObject(pr, "test", "paired t-test, two-sided");
            cJSON_AddItemToArray(pairs, pr);
        }
    free(a);
    free(b);
    rows_free(rows, n_rows);
    return 0;
}

cJSON *sweep_json(const StoreSweep *sw, const StoreSweepPoint *points, int n_points,
                  bool with_table, GsErr *err)
{
    cJSON *spec = sw->spec_json ? cJSON_Parse(sw->spec_json) : NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(spec);
        gs_errf(err, "out of memory");
        return NULL;
    }
    cJSON_AddNumberToObject(o, "id", (double)sw->id);
    cJSON_AddStringToObject(o, "name", sw->name);
    cJSON_AddStringToObject(o, "metric", sw->metric);
    cJSON_AddStringToObject(o, "unit", sweep_metric_is_fraction(sw->metric) ? "fraction"
                                                                            : "value");
    add_counts(o, sw);
    if (!with_table) {
        cJSON_Delete(spec);
        return o;
    }
    Grid g;
    if (!spec || grid_read(cJSON_GetObjectItemCaseSensitive(spec, "grid"), &g, err) != 0) {
        if (!spec)
            gs_errf(err, "sweep %lld: its stored specification does not parse",
                    (long long)sw->id);
        cJSON_Delete(spec);
        cJSON_Delete(o);
        return NULL;
    }
    const StoreSweepPoint **at = calloc((size_t)g.n_points, sizeof *at);
    const cJSON **results = calloc((size_t)g.n_points, sizeof *results);
    cJSON **parsed = calloc((size_t)n_points + 1, sizeof *parsed);
    int rc = at && results && parsed ? 0 : gs_errf(err, "out of memory");
    double saved = 0;
    int reused = 0;
    for (int i = 0; rc == 0 && i < n_points; i++) {
        const StoreSweepPoint *pt = &points[i];
        if (pt->point < 0 || pt->point >= g.n_points)
            continue;
        at[pt->point] = pt;
        parsed[i] = pt->result_json ? cJSON_Parse(pt->result_json) : NULL;
        results[pt->point] = parsed[i];
        /* a run shared by several points counts once */
        bool first = true;
        for (int k = 0; k < i && first; k++)
            first = points[k].run != pt->run;
        if (first && pt->seconds_saved > 0) {
            saved += pt->seconds_saved;
            reused++;
        }
    }
    cJSON_AddNumberToObject(o, "points", g.n_points);
    if (rc == 0)
        rc = add_table(o, &g, sw->metric, at, results, err);
    if (rc == 0) {
        cJSON *sh = cJSON_AddObjectToObject(o, "shared");
        cJSON_AddNumberToObject(sh, "runs_reused", reused);
        cJSON_AddNumberToObject(sh, "seconds_saved", saved);
        cJSON *runs = cJSON_AddArrayToObject(o, "points_runs");
        for (int p = 0; p < g.n_points; p++) {
            const cJSON *vals[SWEEP_MAX_KEYS];
            grid_point(&g, p, vals);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "point", p);
            char label[400];
            point_label(&g, vals, -1, -1, label, sizeof label);
            cJSON_AddStringToObject(e, "label", label);
            if (at[p]) {
                cJSON_AddNumberToObject(e, "run", (double)at[p]->run);
                cJSON_AddStringToObject(e, "status", at[p]->status >= 0
                                                         ? RUN_STATUS_NAMES[at[p]->status]
                                                         : "deleted");
                add_num(e, "value", result_field(results[p], sw->metric));
                add_num(e, "seconds_saved", at[p]->seconds_saved);
            } else {
                cJSON_AddNullToObject(e, "run");
                cJSON_AddStringToObject(e, "status", "deleted");
                cJSON_AddNullToObject(e, "value");
                cJSON_AddNullToObject(e, "seconds_saved");
            }
            cJSON_AddItemToArray(runs, e);
        }
        cJSON *b = cJSON_DetachItemFromObjectCaseSensitive(spec, "base");
        cJSON_AddItemToObject(o, "base", b ? b : cJSON_CreateObject());
        cJSON *gr = cJSON_DetachItemFromObjectCaseSensitive(spec, "grid");
        cJSON_AddItemToObject(o, "grid", gr ? gr : cJSON_CreateArray());
    }
    for (int i = 0; parsed && i < n_points; i++)
        cJSON_Delete(parsed[i]);
    free(parsed);
    free(at);
    free(results);
    cJSON_Delete(spec);
    if (rc) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- CSV ---------------------------------------------------------------------------------- */

static void put_str(ByteBuf *t, const char *s)
{
    bytebuf_put(t, s, strlen(s));
}

/* A CSV cell: quoted when it holds a comma, quote or line break. */
static void put_cell(ByteBuf *t, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        put_str(t, s);
        return;
    }
    bytebuf_put(t, "\"", 1);
    for (const char *c = s; *c; c++) {
        bytebuf_put(t, c, 1);
        if (*c == '"')
            bytebuf_put(t, "\"", 1); /* a quote inside is doubled */
    }
    bytebuf_put(t, "\"", 1);
}

static void put_num(ByteBuf *t, const cJSON *v)
{
    char b[40] = "";
    if (cJSON_IsNumber(v))
        snprintf(b, sizeof b, "%.9g", v->valuedouble);
    put_str(t, b);
}

char *sweep_table_csv(const cJSON *sweep)
{
    ByteBuf t = {0};
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(sweep, "params");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(sweep, "rows"), *p, *r;
    cJSON_ArrayForEach(p, params)
    {
        put_cell(&t, cJSON_IsString(p) ? p->valuestring : "");
        bytebuf_put(&t, ",", 1);
    }
    put_str(&t, "n,mean,sd,ci95_lo,ci95_hi,bootstrap95_lo,bootstrap95_hi");
    for (int f = 0; FIGURES[f]; f++) {
        put_str(&t, ",mean_");
        put_str(&t, FIGURES[f]);
    }
    bytebuf_put(&t, "\n", 1);
    cJSON_ArrayForEach(r, rows)
    {
        const cJSON *pv = cJSON_GetObjectItemCaseSensitive(r, "params");
        cJSON_ArrayForEach(p, params)
        {
            char v[256];
            value_text(cJSON_GetObjectItemCaseSensitive(pv, p->valuestring), v, sizeof v);
            put_cell(&t, v);
            bytebuf_put(&t, ",", 1);
        }
        put_num(&t, cJSON_GetObjectItemCaseSensitive(r, "n"));
        const char *const names[] = {"mean", "sd"};
        for (int i = 0; i < 2; i++) {
            bytebuf_put(&t, ",", 1);
            put_num(&t, cJSON_GetObjectItemCaseSensitive(r, names[i]));
        }
        const char *const ivs[] = {"ci95", "bootstrap95"};
        for (int i = 0; i < 2; i++) {
            const cJSON *iv = cJSON_GetObjectItemCaseSensitive(r, ivs[i]);
            bytebuf_put(&t, ",", 1);
            put_num(&t, cJSON_GetArrayItem(iv, 0));
            bytebuf_put(&t, ",", 1);
            put_num(&t, cJSON_GetArrayItem(iv, 1));
        }
        const cJSON *fig = cJSON_GetObjectItemCaseSensitive(r, "figures");
        for (int f = 0; FIGURES[f]; f++) {
            bytebuf_put(&t, ",", 1);
            put_num(&t, cJSON_GetObjectItemCaseSensitive(fig, FIGURES[f]));
        }
        bytebuf_put(&t, "\n", 1);
    }
    bytebuf_put(&t, "", 1); /* the string's terminating 0 */
    if (t.oom) {
        bytebuf_free(&t);
        return NULL;
    }
    return (char *)t.p;
}
