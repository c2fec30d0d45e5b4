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
    res->test_split = "none";
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

/* What the run is told about its data: how it was read, bad files skipped, a held-out test
 * set, what an unlabelled set cannot be measured by; the same facts go into the result. The
 * lines sit at position zero (before the first stage); a resumed run has them already, so
 * it is given no sink and only fills the result. */
#define SKIPPED_LOGGED 20

static void describe_data(const RunConfig *cfg, const Dataset *train, const Dataset *test,
                          const Sink *sink, RunResult *res)
{
    const Dataset *sets[2] = {train, test};
    res->n_test = test ? test->n : 0;
    res->test_split = !test || test->n == 0 ? "none" : test->held_out ? "held_out" : "test";
    if (train->note[0])
        stage_log(sink, STAGE_DAE, 0, "dataset %s: %s", cfg->dataset, train->note);
    for (int k = 0; k < 2; k++) {
        const Dataset *d = sets[k];
        if (!d || d->n_skipped == 0)
            continue;
        res->skipped[k] = (const char *const *)d->skipped;
        res->n_skipped_of[k] = d->n_skipped;
        res->n_skipped += d->n_skipped;
        stage_log(sink, STAGE_DAE, 0,
                  "dataset: %d bad %s image file%s skipped (dataset.on_bad_file \"skip\")",
                  d->n_skipped, k ? "test" : "train", d->n_skipped == 1 ? "" : "s");
        for (int i = 0; i < d->n_skipped && i < SKIPPED_LOGGED; i++)
            stage_log(sink, STAGE_DAE, 0, "dataset: skipped %s", d->skipped[i]);
        if (d->n_skipped > SKIPPED_LOGGED)
            stage_log(sink, STAGE_DAE, 0, "dataset: ... and %d more",
                      d->n_skipped - SKIPPED_LOGGED);
    }
    if (test && test->held_out)
        stage_log(sink, STAGE_DAE, 0,
                  "dataset: no test split: %d of the training images (dataset.val_fraction %g, "
                  "stratified by class, seeded) are held out as the test set",
                  test->n, (double)cfg->data.val_fraction);
    if (!train->labels) {
        res->eval_note = "unlabelled dataset: no linear probe, kNN accuracy, purity or NMI "
                         "(the encoder is trained all the same)";
        stage_log(sink, STAGE_DAE, 0, "dataset: %s", res->eval_note);
    } else if (!test || test->n == 0) {
        res->eval_note = "no test split and dataset.val_fraction 0: no evaluation";
        stage_log(sink, STAGE_DAE, 0, "dataset: %s", res->eval_note);
    }
}

/* ---- a process group: what rank 0 does alone, then tells the others ------------------- */

/* kmeans on rank 0 (its run takes a fraction of a second to seconds and needs every
 * embedding, which every process has); the pseudo-labels and figures broadcast to the
 * others. */
static int kmeans_on_rank0(const RunConfig *cfg, const Dataset *train, const float *emb,
                           int dim, const Sink *sink, RunResult *res, GsErr *err)
{
    const Comm *comm = sink_comm(sink);
    if (!comm)
        return stage_kmeans_run(cfg, train, emb, dim, sink, res, err);
    int rc = 0;
    if (comm_rank(comm) == 0) {
        Sink solo = sink_solo(sink);
        rc = stage_kmeans_run(cfg, train, emb, dim, &solo, res, err);
    }
    if (stage_agree(sink, rc, err))
        return -1;
    double nums[5] = {res->k, res->inertia, res->purity, res->nmi, res->seconds[STAGE_KMEANS]};
    if (comm_broadcast(comm, nums, sizeof nums, 0, err))
        return -1;
    int k = (int)nums[0];
    if (comm_rank(comm) != 0) {
        free(res->assign);
        free(res->cluster_sizes);
        res->assign = malloc(sizeof(int32_t) * (size_t)train->n);
        res->cluster_sizes = malloc(sizeof(int32_t) * (size_t)k);
        res->k = k;
        res->inertia = nums[1];
        res->purity = nums[2];
        res->nmi = nums[3];
        res->seconds[STAGE_KMEANS] = nums[4];
    }
    int ok = res->assign && res->cluster_sizes;
    if (stage_agree(sink, ok ? 0 : gs_errf(err, "kmeans: out of memory for pseudo-labels"), err))
        return -1;
    return comm_broadcast(comm, res->assign, sizeof(int32_t) * (size_t)train->n, 0, err) ||
                   comm_broadcast(comm, res->cluster_sizes, sizeof(int32_t) * (size_t)k, 0, err)
               ? -1
               : 0;
}

/* eval on rank 0 (the features of every image, the probes and fine-tuning: the others have
 * nothing to add), its measures broadcast to the others. */
static int eval_on_rank0(const RunConfig *cfg, const Dataset *train, const Dataset *test,
                         Model *enc, const Sink *sink, const CkptReader *resume,
                         RunResult *res, GsErr *err)
{
    const Comm *comm = sink_comm(sink);
    if (!comm)
        return stage_eval_run(cfg, train, test, enc, sink, resume, res, err);
    int rc = 0;
    if (comm_rank(comm) == 0) {
        Sink solo = sink_solo(sink);
        rc = stage_eval_run(cfg, train, test, enc, &solo, resume, res, err);
    }
    if (stage_agree(sink, rc, err))
        return -1;
    double nums[6] = {res->knn_top1, res->linear_top1, res->linear_top1_head,
                      res->linear_weight_decay, res->linear_epochs, res->seconds[STAGE_EVAL]};
    int32_t nf = res->n_finetune;
    if (comm_broadcast(comm, nums, sizeof nums, 0, err) ||
        comm_broadcast(comm, &nf, sizeof nf, 0, err) ||
        comm_broadcast(comm, res->finetune, sizeof res->finetune, 0, err))
        return -1;
    res->knn_top1 = nums[0];
    res->linear_top1 = nums[1];
    res->linear_top1_head = nums[2];
    res->linear_weight_decay = (float)nums[3];
    res->linear_epochs = (int)nums[4];
    res->seconds[STAGE_EVAL] = nums[5];
    res->n_finetune = nf;
    return 0;
}

unsigned pipeline_skipped_stages(const RunConfig *cfg)
{
    const unsigned pretraining = (1u << STAGE_DAE) | (1u << STAGE_KMEANS);
    switch (cfg->method) {
    case METHOD_GSIMCLR: return 0;
    case METHOD_SIMCLR: return pretraining;
    case METHOD_SUPERVISED: return pretraining | (1u << STAGE_SIMCLR);
    }
    return 0; /* not reached: every method has its case */
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

    /* in a group only rank 0 reports: the others run with a sink of no callbacks */
    Sink quiet;
    const Comm *comm = sink_comm(sink);
    if (comm && comm_rank(comm) != 0) {
        quiet = (Sink){.comm = comm};
        sink = &quiet;
    }
    result_init(res, train ? train->n : 0);
    if (check_data(cfg, train, test, err))
        return -1;
    stage_run_processes = comm_size(comm);
    describe_data(cfg, train, test, resume ? NULL : sink, res);
    gs_threads_set(cfg->threads);
    if (resume) {
        if (ckpt_open(&rd, resume, resume_len, err) ||
            state_stage(&rd, cfg, &from_stage, &from_epoch, err) ||
            state_read_summary(&rd, res, err))
            goto done;
        from = &rd;
        int32_t procs = 1;
        GsErr none;
        if (ckpt_find(&rd, "dist.processes", NULL, &none) &&
            ckpt_get(&rd, "dist.processes", &procs, sizeof procs, err))
            goto done;
        if (procs != comm_size(comm))
            stage_log(sink, from_stage, from_epoch,
                      "resuming a checkpoint of %d process%s on %d: the run goes on, but its "
                      "figures will differ in the last bits from a run kept at %d",
                      (int)procs, procs == 1 ? "" : "es", comm_size(comm), (int)procs);
        /* at the end of the epoch the checkpoint closes (or, for one written inside an
         * epoch, of the epoch before): at or before the checkpoint, never after it */
        stage_log(sink, from_stage, from_epoch, "resuming after %s epoch %d",
                  STAGE_NAMES[from_stage], from_epoch);
    }
    if (!(pipeline_skipped_stages(cfg) & (1u << STAGE_DAE)) && from_stage <= STAGE_DAE) {
        if (stage_dae_run(cfg, train, sink, from_stage == STAGE_DAE ? from : NULL, res, &emb,
                          &dim, err) ||
            kmeans_on_rank0(cfg, train, emb, dim, sink, res, err))
            goto done;
    }
    if (build_encoder(cfg, train, &enc, err))
        goto done;
    have_enc = true;
    /* a checkpoint of eval holds the trained encoder: simclr is done; method supervised
     * skips it and fine-tunes the encoder's initial weights */
    if (from_stage == STAGE_EVAL) {
        if (state_read_net(from, &enc.net, err))
            goto done;
    } else if (!(pipeline_skipped_stages(cfg) & (1u << STAGE_SIMCLR)) &&
               stage_simclr_run(cfg, train, test, sink, from_stage == STAGE_SIMCLR ? from : NULL,
                                res, &enc, err)) {
        goto done;
    }
    if (test && test->n > 0 && train->labels && test->labels &&
        eval_on_rank0(cfg, train, test, &enc, sink, from_stage == STAGE_EVAL ? from : NULL,
                      res, err))
        goto done;
    rc = 0;
done:
    stage_run_processes = 1;
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
    Sink quiet;
    const Comm *comm = sink_comm(sink);
    if (comm && comm_rank(comm) != 0) {
        quiet = (Sink){.comm = comm};
        sink = &quiet;
    }
    result_init(&res, train->n);
    gs_threads_set(cfg->threads);
    stage_run_processes = comm_size(comm);
    int rc = stage_dae_run(cfg, train, sink, NULL, &res, emb, dim, err);
    stage_run_processes = 1;
    return rc;
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

/* The same, into a stream: a value not measured is null. */
static void put_field(FILE *f, const char *key, double v, bool last)
{
    if (isfinite(v))
        fprintf(f, "\"%s\":%.9g%s", key, v, last ? "" : ",");
    else
        fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
}

int pipeline_load_data(const RunConfig *cfg, const char *data_root, const char *cache_dir,
                       Dataset *train, Dataset *test, GsErr *err)
{
    DatasetOptions o;
    dataset_options_defaults(&o);
    o.data_root = data_root;
    o.cache_dir = cache_dir;
    o.size = cfg->data.size;
    o.fit = cfg->data.fit;
    o.skip_bad = cfg->data.skip_bad;
    o.threads = cfg->threads;
    if (dataset_load(cfg->dataset, &o, train, test, NULL, err))
        return -1;
    if (test->n == 0 && train->labels && cfg->data.val_fraction > 0.0f) {
        dataset_free(test);
        if (dataset_holdout(train, test, cfg->data.val_fraction,
                            stream_seed(cfg->seed, STREAM_HOLDOUT), err)) {
            dataset_free(train);
            return -1;
        }
    }
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

/* s as the inside of a JSON string: quotes, backslashes and control bytes escaped (file names
 * may hold any byte but NUL and '/'; bytes >= 0x80 that are not UTF-8 become '?'). */
static void json_escape(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else if (*p >= 0x80)
            fputc('?', f);
        else
            fputc(*p, f);
    }
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
            isfinite(res->linear_top1) ? res->linear_weight_decay : NAN, false);
    put_num(buf, cap, &len, "train_images", res->n_train, false);
    put_num(buf, cap, &len, "test_images", res->n_test, false);
    put_num(buf, cap, &len, "skipped_files", res->n_skipped, false);
    /* the texts below are file names and messages: escaped, and cut to fit the buffer */
    char *out = NULL;
    size_t olen = 0;
    FILE *f = open_memstream(&out, &olen);
    if (!f) {
        free(buf);
        return NULL;
    }
    fwrite(buf, 1, len, f);
    free(buf);
    fprintf(f, "\"test_split\":\"%s\",\"skipped\":[", res->test_split ? res->test_split : "none");
    int shown = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < res->n_skipped_of[k] && shown < SKIPPED_LOGGED; i++, shown++) {
            fputs(shown ? ",\"" : "\"", f);
            json_escape(f, res->skipped[k][i]);
            fputc('"', f);
        }
    fputs("],\"finetune\":[", f);
    for (int j = 0; j < res->n_finetune; j++) {
        const FinetuneRow *r = &res->finetune[j];
        bool scratch = isfinite(r->scratch_top1);
        fprintf(f, "%s{", j ? "," : "");
        /* a float the config gave: 7 digits print it as it was written (0.01) */
        fprintf(f, "\"fraction\":%.7g,", r->fraction);
        put_field(f, "labels", r->labels, false);
        put_field(f, "val_images", r->val_images, false);
        put_field(f, "finetuned_top1", r->finetuned_top1, false);
        put_field(f, "finetuned_val_top1", r->finetuned_val_top1, false);
        put_field(f, "finetuned_epoch", r->finetuned_epoch, false);
        put_field(f, "scratch_top1", r->scratch_top1, false);
        put_field(f, "scratch_val_top1", r->scratch_val_top1, false);
        put_field(f, "scratch_epoch", scratch ? r->scratch_epoch : NAN, false);
        put_field(f, "gain", r->finetuned_top1 - r->scratch_top1, false);
        put_field(f, "seconds", r->seconds, true);
        fputc('}', f);
    }
    fputs("],\"eval_note\":", f);
    if (res->eval_note) {
        fputc('"', f);
        json_escape(f, res->eval_note);
        fputc('"', f);
    } else {
        fputs("null", f);
    }
    fputc('}', f);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
