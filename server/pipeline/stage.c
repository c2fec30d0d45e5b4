/* stage.c — what every stage uses: sink calls, the checkpoint sections of a training
 * state and of the run summary, batch assembly and feature extraction. It must not decide
 * anything about a stage's maths. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gs/augment.h"
#include "stage.h"

const char *const STAGE_NAMES[STAGE_COUNT] = {"dae", "kmeans", "simclr", "eval"};

double stage_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

bool stage_canceled(const Sink *sink, GsErr *err)
{
    if (sink && sink->cancel && *sink->cancel) {
        gs_errf(err, "canceled");
        return true;
    }
    return false;
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

int state_stage(const CkptReader *r, int *stage, int *epoch, GsErr *err)
{
    int32_t where[2];
    if (ckpt_get(r, "stage", where, sizeof where, err))
        return -1;
    if (where[0] < 0 || where[0] >= STAGE_COUNT || where[1] < 0)
        return gs_errf(err, "checkpoint: stage %d epoch %d is not one this build writes",
                       where[0], where[1]);
    *stage = where[0];
    *epoch = where[1];
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

    const void *a = ckpt_find(r, "assign", &bytes, NULL);
    if (!a)
        return 0; /* no pseudo-labels yet (dae) or none needed (simclr) */
    if (bytes != sizeof(int32_t) * (size_t)res->n_train)
        return gs_errf(err, "checkpoint: %zu pseudo-labels for %d training images",
                       bytes / sizeof(int32_t), res->n_train);
    int k = (int)sum[SUM_K];
    size_t sbytes;
    const void *s = ckpt_find(r, "sizes", &sbytes, err);
    if (!s)
        return -1;
    if (k < 1 || sbytes != sizeof(int32_t) * (size_t)k)
        return gs_errf(err, "checkpoint: cluster sizes do not match k = %d", k);
    free(res->assign);
    free(res->cluster_sizes);
    res->assign = malloc(bytes);
    res->cluster_sizes = malloc(sbytes);
    if (!res->assign || !res->cluster_sizes) {
        free(res->assign);
        free(res->cluster_sizes);
        res->assign = res->cluster_sizes = NULL;
        return gs_errf(err, "checkpoint: out of memory for pseudo-labels");
    }
    memcpy(res->assign, a, bytes);
    memcpy(res->cluster_sizes, s, sbytes);
    res->k = k;
    for (int i = 0; i < res->n_train; i++)
        if (res->assign[i] < 0 || res->assign[i] >= k)
            return gs_errf(err, "checkpoint: image %d has pseudo-label %d outside [0, %d)", i,
                           res->assign[i], k);
    return 0;
}

int state_read_net(const CkptReader *r, Net *net, GsErr *err)
{
    if (ckpt_get(r, "net.params", net->params, sizeof(float) * net->n_params, err) ||
        ckpt_get(r, "net.buffers", net->buffers, sizeof(float) * net->n_buffers, err))
        return -1;
    return 0;
}

int state_read_training(const CkptReader *r, Net *net, Optimizer *opt, Rng *rng, GsErr *err)
{
    int64_t step;
    if (state_read_net(r, net, err) ||
        ckpt_get(r, "opt.state", opt->mem, sizeof(float) * optim_state_floats(opt), err) ||
        ckpt_get(r, "opt.step", &step, sizeof step, err) ||
        ckpt_get(r, "rng", rng, sizeof *rng, err))
        return -1;
    opt->step = (long)step;
    return 0;
}

int state_commit(CkptWriter *w, const Sink *sink, int stage, int epoch, long step, GsErr *err)
{
    if (ckpt_finish(w, err))
        return -1;
    if (sink && sink->checkpoint &&
        sink->checkpoint(sink->ctx, stage, epoch, step, w->data, w->len)) {
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
