/* pipeline.c — pipeline_run: runs the stages a method needs, in order, resuming after the stage
 * and epoch a checkpoint closes; and the result as JSON. It owns no maths of its own. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/blas.h"
#include "stage.h"

static void result_init(RunResult *res, int n_train)
{
    memset(res, 0, sizeof *res);
    res->n_train = n_train;
    res->dae_loss = res->inertia = res->purity = res->nmi = NAN;
    res->simclr_loss = res->knn_top1 = res->linear_top1 = res->linear_top1_head = NAN;
}

void run_result_free(RunResult *res)
{
    free(res->assign);
    free(res->cluster_sizes);
    res->assign = res->cluster_sizes = NULL;
}

static int check_data(const RunConfig *cfg, const Dataset *train, const Dataset *test,
                      GsErr *err)
{
    if (!train || train->n < 2 || !train->pixels)
        return gs_errf(err, "dataset: no training images");
    if (test && test->n > 0 && (test->c != train->c || test->h != train->h ||
                                test->w != train->w))
        return gs_errf(err, "dataset: test images are %dx%dx%d, train images %dx%dx%d",
                       test->c, test->h, test->w, train->c, train->h, train->w);
    if (cfg->method == METHOD_GSIMCLR && cfg->kmeans.k > train->n)
        return gs_errf(err, "kmeans.k: %d clusters for %d training images", cfg->kmeans.k,
                       train->n);
    if (cfg->simclr.batch > train->n)
        return gs_errf(err, "simclr.batch: %d is more than the %d training images",
                       cfg->simclr.batch, train->n);
    return 0;
}

unsigned pipeline_skipped_stages(const RunConfig *cfg)
{
    return cfg->method == METHOD_SIMCLR ? (1u << STAGE_DAE) | (1u << STAGE_KMEANS) : 0;
}

int pipeline_run(const RunConfig *cfg, const Dataset *train, const Dataset *test,
                 const Sink *sink, const void *resume, size_t resume_len, RunResult *res,
                 GsErr *err)
{
    CkptReader rd;
    const CkptReader *from = NULL;
    int from_stage = -1, from_epoch = 0, rc = -1;
    float *emb = NULL;
    int dim = 0;
    Model enc;
    bool have_enc = false;

    result_init(res, train ? train->n : 0);
    if (check_data(cfg, train, test, err))
        return -1;
    gs_threads_set(cfg->threads);
    if (resume) {
        if (ckpt_open(&rd, resume, resume_len, err) ||
            state_stage(&rd, cfg, &from_stage, &from_epoch, err) ||
            state_read_summary(&rd, res, err))
            goto done;
        from = &rd;
        stage_log(sink, "resuming after %s epoch %d", STAGE_NAMES[from_stage], from_epoch);
    }
    if (!(pipeline_skipped_stages(cfg) & (1u << STAGE_DAE)) && from_stage <= STAGE_DAE) {
        if (stage_dae_run(cfg, train, sink, from_stage == STAGE_DAE ? from : NULL, res, &emb,
                          &dim, err) ||
            stage_kmeans_run(cfg, train, emb, dim, sink, res, err))
            goto done;
    }
    if (build_encoder(cfg, train, &enc, err))
        goto done;
    have_enc = true;
    if (stage_simclr_run(cfg, train, test, sink, from_stage == STAGE_SIMCLR ? from : NULL,
                         res, &enc, err))
        goto done;
    if (test && test->n > 0 && stage_eval_run(cfg, train, test, &enc, sink, res, err))
        goto done;
    rc = 0;
done:
    if (rc)
        run_result_free(res);
    free(emb);
    if (have_enc)
        model_free(&enc);
    return rc;
}

int pipeline_dae_embeddings(const RunConfig *cfg, const Dataset *train, const Sink *sink,
                            float **emb, int *dim, GsErr *err)
{
    RunResult res;
    result_init(&res, train->n);
    gs_threads_set(cfg->threads);
    return stage_dae_run(cfg, train, sink, NULL, &res, emb, dim, err);
}

/* JSON has no NaN: a value not measured is null. */
static void put_num(char *buf, size_t cap, size_t *len, const char *key, double v, bool last)
{
    int n;
    if (isfinite(v))
        n = snprintf(buf + *len, cap - *len, "\"%s\":%.9g%s", key, v, last ? "" : ",");
    else
        n = snprintf(buf + *len, cap - *len, "\"%s\":null%s", key, last ? "" : ",");
    if (n > 0 && (size_t)n < cap - *len)
        *len += (size_t)n;
}

int pipeline_load_data(const RunConfig *cfg, const char *data_root, Dataset *train,
                       Dataset *test, GsErr *err)
{
    if (dataset_load_named(cfg->dataset, data_root, train, test, err))
        return -1;
    if ((cfg->subset && cfg->subset < train->n &&
         dataset_subset(train, cfg->subset,
                        cfg->subset_random ? stream_seed(cfg->seed, STREAM_SUBSET) : 0, err)) ||
        (cfg->test_subset && cfg->test_subset < test->n &&
         dataset_subset(test, cfg->test_subset, 0, err))) {
        dataset_free(train);
        dataset_free(test);
        return -1;
    }
    return 0;
}

char *run_result_to_json(const RunResult *res)
{
    size_t cap = 2048, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    buf[len++] = '{';
    buf[len] = 0;
    put_num(buf, cap, &len, "dae_seconds", res->seconds[STAGE_DAE], false);
    put_num(buf, cap, &len, "kmeans_seconds", res->seconds[STAGE_KMEANS], false);
    put_num(buf, cap, &len, "simclr_seconds", res->seconds[STAGE_SIMCLR], false);
    put_num(buf, cap, &len, "eval_seconds", res->seconds[STAGE_EVAL], false);
    put_num(buf, cap, &len, "dae_loss", res->dae_loss, false);
    put_num(buf, cap, &len, "k", res->k ? res->k : NAN, false);
    put_num(buf, cap, &len, "inertia", res->inertia, false);
    put_num(buf, cap, &len, "purity", res->purity, false);
    put_num(buf, cap, &len, "nmi", res->nmi, false);
    put_num(buf, cap, &len, "repeat_batches_per_epoch", res->assign ? res->repeat_batches : NAN,
            false);
    put_num(buf, cap, &len, "simclr_loss", res->simclr_loss, false);
    put_num(buf, cap, &len, "knn_top1", res->knn_top1, false);
    put_num(buf, cap, &len, "linear_top1", res->linear_top1, false);
    put_num(buf, cap, &len, "linear_top1_head", res->linear_top1_head, false);
    put_num(buf, cap, &len, "linear_weight_decay",
            isfinite(res->linear_top1) ? res->linear_weight_decay : NAN, true);
    if (len + 2 > cap) {
        free(buf);
        return NULL;
    }
    buf[len++] = '}';
    buf[len] = 0;
    return buf;
}
