/* stage.c — what every stage uses: sink calls, the checkpoint sections of a training
 * state and of the run summary, batch assembly and feature extraction. It must not decide
 * anything about a stage's maths. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gs/augment.h"
#include "stage.h"

const char *const STAGE_NAMES[STAGE_COUNT] = {"dae", "kmeans", "simclr", "eval"};

_Thread_local int stage_run_processes = 1;

double stage_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

bool stage_canceled(const Sink *sink, GsErr *err)
{
    const Comm *c = sink_comm(sink);
    int32_t flag = sink && sink->cancel && *sink->cancel;
    if (c && comm_broadcast(c, &flag, sizeof flag, 0, err))
        return true;
    if (flag) {
        gs_errf(err, "canceled");
        return true;
    }
    return false;
}

int stage_agree(const Sink *sink, int rc, GsErr *err)
{
    const Comm *c = sink_comm(sink);
    if (!c)
        return rc ? -1 : 0;
    int P = comm_size(c);
    int32_t mine = rc != 0, *all = malloc(sizeof(int32_t) * (size_t)P);
    GsErr local = {{0}};
    if (!err)
        err = &local;
    if (!all)
        return gs_errf(err, "out of memory for %d process statuses", P);
    if (comm_gather_all(c, &mine, sizeof mine, all, err)) {
        free(all);
        return -1;
    }
    int first = -1;
    for (int r = 0; r < P && first < 0; r++)
        if (all[r])
            first = r;
    free(all);
    if (first < 0)
        return 0;
    if (first != comm_rank(c))
        err->msg[0] = 0;
    if (comm_broadcast(c, err->msg, sizeof err->msg, first, err))
        return -1;
    err->msg[sizeof err->msg - 1] = 0;
    return -1;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t bytes)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int stage_check_same(const Sink *sink, int stage, int epoch, const Net *net,
                     const Optimizer *opt, GsErr *err)
{
    const Comm *c = sink_comm(sink);
    if (!c)
        return 0;
    int P = comm_size(c);
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a(h, net->params, sizeof(float) * net->n_params);
    h = fnv1a(h, net->buffers, sizeof(float) * net->n_buffers);
    if (opt)
        h = fnv1a(h, opt->mem, sizeof(float) * optim_state_floats(opt));
    uint64_t *all = malloc(sizeof(uint64_t) * (size_t)P);
    if (!all)
        return gs_errf(err, "out of memory for %d process hashes", P);
    if (comm_gather_all(c, &h, sizeof h, all, err)) {
        free(all);
        return -1;
    }
    int differs = -1;
    for (int r = 1; r < P && differs < 0; r++)
        if (all[r] != all[0])
            differs = r;
    free(all);
    if (differs >= 0)
        return gs_errf(err, "%s: after epoch %d the weights of process %d differ from those of "
                       "process 0: the processes no longer train the same network",
                       STAGE_NAMES[stage], epoch, differs);
    return 0;
}

void stage_progress(const Sink *sink, int stage, int epoch, int epochs, long step, long steps,
                    double loss, double items_per_s, double eta_s)
{
    if (!sink || !sink->progress)
        return;
    StageProgress p = {stage, epoch, epochs, step, steps, loss, items_per_s, eta_s};
    sink->progress(sink->ctx, &p);
}

void stage_metric(const Sink *sink, int stage, int epoch, long step, const char *name,
                  double value)
{
    if (sink && sink->metric)
        sink->metric(sink->ctx, stage, epoch, step, name, value);
}

void stage_log(const Sink *sink, int stage, int epoch, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (!sink || !sink->log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sink->log(sink->ctx, stage, epoch, line);
}

void phases_begin(Phases *p, const char *const *names, int n)
{
    memset(p, 0, sizeof *p);
    p->names = names;
    p->n = n < PHASES_MAX ? n : PHASES_MAX;
    p->mark = stage_now();
}

void phases_lap(Phases *p, int i)
{
    double t = stage_now();
    p->sec[i] += t - p->mark;
    p->mark = t;
}

void phases_log(const Phases *p, const Sink *sink, int stage, int epoch)
{
    char line[400];
    double total = 0;
    const char *sep = "";
    size_t used = (size_t)snprintf(line, sizeof line, "%s: epoch %d time (s):",
                                   STAGE_NAMES[stage], epoch);
    for (int i = 0; i < p->n; i++)
        total += p->sec[i];
    for (int i = 0; i < p->n && used < sizeof line; i++)
        if (p->sec[i] >= 0.005) {
            used += (size_t)snprintf(line + used, sizeof line - used, "%s %s %.2f (%.1f %%)",
                                     sep, p->names[i], p->sec[i],
                                     total > 0 ? 100 * p->sec[i] / total : 0.0);
            sep = ",";
        }
    stage_log(sink, stage, epoch, "%s", line);
}

/* The summary is a fixed list of doubles, in this order; a new field goes at the end and
 * readers accept older, shorter lists. */
enum {
    SUM_DAE_LOSS, SUM_INERTIA, SUM_PURITY, SUM_NMI, SUM_K, SUM_REPEATS, SUM_SIMCLR_LOSS,
    SUM_SEC_DAE, SUM_SEC_KMEANS, SUM_SEC_SIMCLR, SUM_SEC_EVAL, SUM_COUNT
};

int state_write(CkptWriter *w, int stage, int epoch, const RunResult *so_far, const Net *net,
                const Optimizer *opt, const Rng *rng, GsErr *err)
{
    int32_t where[2] = {stage, epoch};
    double sum[SUM_COUNT] = {
        [SUM_DAE_LOSS] = so_far->dae_loss,       [SUM_INERTIA] = so_far->inertia,
        [SUM_PURITY] = so_far->purity,           [SUM_NMI] = so_far->nmi,
        [SUM_K] = so_far->k,                     [SUM_REPEATS] = so_far->repeat_batches,
        [SUM_SIMCLR_LOSS] = so_far->simclr_loss, [SUM_SEC_DAE] = so_far->seconds[STAGE_DAE],
        [SUM_SEC_KMEANS] = so_far->seconds[STAGE_KMEANS],
        [SUM_SEC_SIMCLR] = so_far->seconds[STAGE_SIMCLR],
        [SUM_SEC_EVAL] = so_far->seconds[STAGE_EVAL],
    };
    if (ckpt_add(w, "stage", where, sizeof where, err) ||
        ckpt_add(w, "summary", sum, sizeof sum, err))
        return -1;
    if (so_far->assign &&
        (ckpt_add(w, "assign", so_far->assign, sizeof(int32_t) * (size_t)so_far->n_train,
                  err) ||
         ckpt_add(w, "sizes", so_far->cluster_sizes, sizeof(int32_t) * (size_t)so_far->k, err)))
        return -1;
    if (net && (ckpt_add(w, "net.params", net->params, sizeof(float) * net->n_params, err) ||
                ckpt_add(w, "net.buffers", net->buffers, sizeof(float) * net->n_buffers, err)))
        return -1;
    /* the input shape the net was built for (the dataset's), so an export of the weights
     * (export_onnx.c) needs no dataset to know it */
    if (net && net->n_nodes > 0 && net->nodes[0].kind == NODE_INPUT) {
        int32_t chw[3] = {net->nodes[0].C, net->nodes[0].H, net->nodes[0].W};
        if (ckpt_add(w, "net.input", chw, sizeof chw, err))
            return -1;
    }
    if (opt) {
        int64_t step = opt->step;
        if (ckpt_add(w, "opt.state", opt->mem, sizeof(float) * optim_state_floats(opt), err) ||
            ckpt_add(w, "opt.step", &step, sizeof step, err))
            return -1;
    }
    if (rng && ckpt_add(w, "rng", rng, sizeof *rng, err))
        return -1;
    return 0;
}

/* ---- reading a checkpoint back --------------------------------------------------------- */

/* A checkpoint comes back from the store or a file, where a fault or a hand could have changed
 * it past its checksum (the checksum only proves the bytes are the ones written, not that a
 * writer of this build wrote them). So every number it gives is checked against what this run
 * could have written before anything uses it: a double converted to int out of range is
 * undefined behaviour, a negative count overflows a size, a NaN weight poisons every step
 * after it. A refused checkpoint fails the run with a message naming the field. */

int state_stage(const CkptReader *r, const RunConfig *cfg, int *stage, int *epoch, GsErr *err)
{
    int32_t where[2];
    if (ckpt_get(r, "stage", where, sizeof where, err))
        return -1;
    int s = where[0], e = where[1];
    /* eval writes one only with fine-tuning: after its frozen measures and each fraction */
    if (s != STAGE_DAE && s != STAGE_KMEANS && s != STAGE_SIMCLR &&
        !(s == STAGE_EVAL && cfg->eval.finetune.n_fractions > 0))
        return gs_errf(err, "checkpoint: stage %d is not a stage that writes checkpoints", s);
    if (pipeline_skipped_stages(cfg) & (1u << s))
        return gs_errf(err, "checkpoint: it closes stage %s, which method %s does not run",
                       STAGE_NAMES[s], run_config_method_name(cfg->method));
    /* the epochs a checkpoint of the stage may close: dae after each of its epochs, kmeans
     * once, simclr after an epoch or inside one (0: inside the first), eval after its frozen
     * measures (1) and after each fine-tuning fraction (1 + j) */
    int lo = 0, hi = 0;
    switch (s) {
    case STAGE_DAE:    lo = 1; hi = cfg->dae.epochs; break;
    case STAGE_KMEANS: lo = 1; hi = 1; break;
    case STAGE_EVAL:   lo = 1; hi = 1 + cfg->eval.finetune.n_fractions; break;
    default:           lo = 0; hi = cfg->simclr.epochs; break;
    }
    if (e < lo || e > hi)
        return gs_errf(err, "checkpoint: %s epoch %d is outside %d..%d, the epochs this run "
                       "has", STAGE_NAMES[s], e, lo, hi);
    *stage = s;
    *epoch = e;
    return 0;
}

/* What a summary number may be: NaN (not measured), or finite within [lo, hi], and a whole
 * number when integral. Sums and means of non-negative terms are non-negative; the bounds of
 * ratios leave room for rounding. */
typedef struct {
    const char *name;
    double lo, hi;
    bool nan_ok, integral;
} SumField;

#define SUM_ROUNDING 1e-6
static const SumField SUM_FIELDS[SUM_COUNT] = {
    [SUM_DAE_LOSS]    = {"dae_loss", 0, DBL_MAX, true, false},
    [SUM_INERTIA]     = {"inertia", 0, DBL_MAX, true, false},
    [SUM_PURITY]      = {"purity", 0, 1 + SUM_ROUNDING, true, false},
    [SUM_NMI]         = {"nmi", 0, 1 + SUM_ROUNDING, true, false},
    [SUM_K]           = {"k", 0, INT32_MAX, false, true},
    [SUM_REPEATS]     = {"repeat_batches", 0, INT32_MAX, false, false},
    [SUM_SIMCLR_LOSS] = {"simclr_loss", -SUM_ROUNDING, DBL_MAX, true, false},
    [SUM_SEC_DAE]     = {"dae_seconds", 0, DBL_MAX, false, false},
    [SUM_SEC_KMEANS]  = {"kmeans_seconds", 0, DBL_MAX, false, false},
    [SUM_SEC_SIMCLR]  = {"simclr_seconds", 0, DBL_MAX, false, false},
    [SUM_SEC_EVAL]    = {"eval_seconds", 0, DBL_MAX, false, false},
};

static int check_summary(const double sum[SUM_COUNT], GsErr *err)
{
    for (int i = 0; i < SUM_COUNT; i++) {
        const SumField *f = &SUM_FIELDS[i];
        double v = sum[i];
        if (isnan(v) && f->nan_ok)
            continue;
        if (!isfinite(v) || v < f->lo || v > f->hi || (f->integral && v != floor(v)))
            return gs_errf(err, "checkpoint: summary %s is %g, outside what a run writes "
                           "(%s%g..%g)", f->name, v, f->nan_ok ? "NaN or " : "", f->lo, f->hi);
    }
    return 0;
}

/* The pseudo-labels and cluster sizes, when the checkpoint has them: n labels in [0, k) and
 * k sizes that count them. On success *assign and *sizes are malloc'd copies (both NULL when
 * the checkpoint has none). */
static int read_clusters(const CkptReader *r, int n, int k, int32_t **assign, int32_t **sizes,
                         GsErr *err)
{
    size_t abytes, sbytes;
    *assign = *sizes = NULL;
    const void *a = ckpt_find(r, "assign", &abytes, NULL);
    if (!a)
        return 0; /* no pseudo-labels yet (dae) or none needed (simclr) */
    if (abytes != sizeof(int32_t) * (size_t)n)
        return gs_errf(err, "checkpoint: %zu bytes of pseudo-labels for %d training images",
                       abytes, n);
    if (k < 1 || k > n)
        return gs_errf(err, "checkpoint: k = %d clusters for %d training images", k, n);
    const void *s = ckpt_find(r, "sizes", &sbytes, err);
    if (!s)
        return -1;
    if (sbytes != sizeof(int32_t) * (size_t)k)
        return gs_errf(err, "checkpoint: %zu bytes of cluster sizes for k = %d", sbytes, k);
    int32_t *al = malloc(abytes), *sl = malloc(sbytes), *count = calloc((size_t)k, sizeof *count);
    if (!al || !sl || !count) {
        free(al);
        free(sl);
        free(count);
        return gs_errf(err, "checkpoint: out of memory for pseudo-labels");
    }
    memcpy(al, a, abytes);
    memcpy(sl, s, sbytes);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (al[i] < 0 || al[i] >= k)
            rc = gs_errf(err, "checkpoint: image %d has pseudo-label %d outside [0, %d)", i,
                         al[i], k);
        else
            count[al[i]]++;
    }
    for (int c = 0; c < k && rc == 0; c++)
        if (sl[c] != count[c])
            rc = gs_errf(err, "checkpoint: cluster %d has size %d, but %d images carry its "
                         "label", c, sl[c], count[c]);
    free(count);
    if (rc) {
        free(al);
        free(sl);
        return rc;
    }
    *assign = al;
    *sizes = sl;
    return 0;
}

int state_read_summary(const CkptReader *r, RunResult *res, GsErr *err)
{
    double sum[SUM_COUNT];
    size_t bytes;
    const void *p = ckpt_find(r, "summary", &bytes, err);
    if (!p)
        return -1;
    if (bytes != sizeof sum)
        return gs_errf(err, "checkpoint: summary holds %zu bytes, expected %zu", bytes,
                       sizeof sum);
    memcpy(sum, p, sizeof sum);
    int32_t *assign, *sizes;
    /* k is only converted once check_summary has found it a whole number in int range */
    if (check_summary(sum, err) ||
        read_clusters(r, res->n_train, (int)sum[SUM_K], &assign, &sizes, err))
        return -1;
    /* nothing of res changes before everything is checked */
    res->dae_loss = sum[SUM_DAE_LOSS];
    res->inertia = sum[SUM_INERTIA];
    res->purity = sum[SUM_PURITY];
    res->nmi = sum[SUM_NMI];
    res->repeat_batches = sum[SUM_REPEATS];
    res->simclr_loss = sum[SUM_SIMCLR_LOSS];
    res->seconds[STAGE_DAE] = sum[SUM_SEC_DAE];
    res->seconds[STAGE_KMEANS] = sum[SUM_SEC_KMEANS];
    res->seconds[STAGE_SIMCLR] = sum[SUM_SEC_SIMCLR];
    res->seconds[STAGE_EVAL] = sum[SUM_SEC_EVAL];
    if (assign) {
        free(res->assign);
        free(res->cluster_sizes);
        res->assign = assign;
        res->cluster_sizes = sizes;
        res->k = (int)sum[SUM_K];
    }
    return 0;
}

/* Copies section name (exactly n floats) into dst, refusing a value that is not finite or,
 * when nonneg, below zero. */
static int read_floats(const CkptReader *r, const char *name, float *dst, size_t n,
                       bool nonneg, GsErr *err)
{
    if (ckpt_get(r, name, dst, sizeof(float) * n, err))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]) || (nonneg && dst[i] < 0))
            return gs_errf(err, "checkpoint: %s[%zu] is %g%s", name, i, (double)dst[i],
                           nonneg ? " (must be finite and >= 0)" : " (must be finite)");
    return 0;
}

int state_read_net(const CkptReader *r, Net *net, GsErr *err)
{
    if (read_floats(r, "net.params", net->params, net->n_params, false, err) ||
        read_floats(r, "net.buffers", net->buffers, net->n_buffers, false, err))
        return -1;
    /* a batch-norm's running variance goes under a square root */
    for (int i = 0; i < net->n_nodes; i++) {
        const Node *nd = &net->nodes[i];
        if (nd->kind != NODE_BN)
            continue;
        for (int c = 0; c < nd->C; c++)
            if (net->buffers[nd->buf_off + (size_t)nd->C + (size_t)c] < 0)
                return gs_errf(err, "checkpoint: net.buffers: the running variance of channel "
                               "%d of node %d is negative", c, i);
    }
    return 0;
}

int state_read_training(const CkptReader *r, Net *net, Optimizer *opt, Rng *rng,
                        long max_step, GsErr *err)
{
    int64_t step;
    if (state_read_net(r, net, err) ||
        read_floats(r, "opt.state", opt->mem, optim_state_floats(opt), false, err) ||
        ckpt_get(r, "opt.step", &step, sizeof step, err) ||
        ckpt_get(r, "rng", rng, sizeof *rng, err))
        return -1;
    /* Adam's second moment goes under a square root too */
    for (size_t i = 0; opt->v && i < opt->n; i++)
        if (opt->v[i] < 0)
            return gs_errf(err, "checkpoint: opt.state: second moment %zu is negative", i);
    if (step < 0 || step > max_step)
        return gs_errf(err, "checkpoint: opt.step is %lld, outside 0..%ld (the steps of the "
                       "stage)", (long long)step, max_step);
    /* xoshiro's all-zero state is the one it never reaches and never leaves */
    if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0)
        return gs_errf(err, "checkpoint: rng state is all zero");
    opt->step = (long)step;
    return 0;
}

int state_commit(CkptWriter *w, const Sink *sink, int stage, int epoch, long step, GsErr *err)
{
    const Comm *c = sink_comm(sink);
    int32_t procs = c ? comm_size(c) : stage_run_processes;
    if (procs > 1 && ckpt_add(w, "dist.processes", &procs, sizeof procs, err))
        return -1;
    if (ckpt_finish(w, err))
        return -1;
    /* in a group only rank 0 has callbacks (pipeline_run), and tells the others */
    int32_t failed = sink && sink->checkpoint &&
                     sink->checkpoint(sink->ctx, stage, epoch, step, w->data, w->len) != 0;
    if (c && comm_broadcast(c, &failed, sizeof failed, 0, err))
        return -1;
    if (failed) {
        if (step >= 0)
            return gs_errf(err, "%s: the checkpoint of epoch %d step %ld could not be stored",
                           STAGE_NAMES[stage], epoch, step);
        return gs_errf(err, "%s: the checkpoint of epoch %d could not be stored",
                       STAGE_NAMES[stage], epoch);
    }
    return 0;
}

void batch_to_float(float *x, const Dataset *ds, const int32_t *ids, int count)
{
    size_t isz = (size_t)ds->c * ds->h * ds->w;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < count; j++)
        augment_to_float(x + (size_t)j * isz, ds->pixels + (size_t)ids[j] * isz, isz);
}

int embed_nodes(Model *m, const int *nodes, int n_nodes, const Dataset *ds, float **outs,
                const Sink *sink, GsErr *err)
{
    Net *n = &m->net;
    int B = n->max_batch;
    size_t isz = (size_t)ds->c * ds->h * ds->w;
    float *x = malloc(sizeof(float) * isz * (size_t)B);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B);
    if (!x || !ids) {
        free(x);
        free(ids);
        return gs_errf(err, "embed: out of memory");
    }
    for (int i0 = 0; i0 < ds->n; i0 += B) {
        int count = ds->n - i0 < B ? ds->n - i0 : B;
        if (stage_canceled(sink, err)) {
            free(x);
            free(ids);
            return -1;
        }
        for (int j = 0; j < count; j++)
            ids[j] = i0 + j;
        batch_to_float(x, ds, ids, count);
        net_forward(n, x, count, false);
        for (int k = 0; k < n_nodes; k++) {
            size_t d = net_node_size(n, nodes[k]);
            memcpy(outs[k] + (size_t)i0 * d, net_act(n, nodes[k]), sizeof(float) * d * count);
        }
    }
    free(x);
    free(ids);
    return 0;
}

int build_encoder(const RunConfig *cfg, const Dataset *train, Model *m, GsErr *err)
{
    EncoderConfig e = cfg->simclr.encoder;
    e.in_c = train->c;
    e.in_h = train->h;
    e.in_w = train->w;
    return model_build_encoder(m, &e, 2 * cfg->simclr.batch,
                               stream_seed(cfg->seed, STREAM_ENCODER_INIT), err);
}
