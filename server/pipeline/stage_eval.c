/* stage_eval.c — stage `eval`: freezes the encoder, takes the backbone features h (and the
 * projection head's first hidden layer, as the paper also reports) of every train and test
 * image without augmentation and with batch-norm in inference mode, and measures a linear
 * classifier chosen on a validation split of the train set, and weighted kNN (epoch 1).
 * Then, when eval.finetune has fractions, fine-tunes a copy of the encoder on each fraction of
 * the labels, and the same recipe from a random initialisation (epoch 1 + j for fraction j),
 * with a checkpoint after epoch 1 and after each fraction. It must not change the encoder it
 * is given: fine-tuning trains copies. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gs/eval.h"
#include "gs/finetune.h"
#include "stage.h"

/* Checkpoint sections of the eval stage: the measures of frozen features (so a resumed run
 * need not redo them), and the fraction rows done, ROW_FIELDS doubles each. */
enum { FROZEN_KNN, FROZEN_LINEAR, FROZEN_LINEAR_HEAD, FROZEN_WD, FROZEN_EPOCHS, FROZEN_COUNT };
enum {
    ROW_FRACTION, ROW_LABELS, ROW_VAL, ROW_FT, ROW_FT_VAL, ROW_FT_EPOCH, ROW_SC, ROW_SC_VAL,
    ROW_SC_EPOCH, ROW_SECONDS, ROW_FIELDS
};

static void row_pack(double *d, const FinetuneRow *r)
{
    d[ROW_FRACTION] = r->fraction;
    d[ROW_LABELS] = r->labels;
    d[ROW_VAL] = r->val_images;
    d[ROW_FT] = r->finetuned_top1;
    d[ROW_FT_VAL] = r->finetuned_val_top1;
    d[ROW_FT_EPOCH] = r->finetuned_epoch;
    d[ROW_SC] = r->scratch_top1;
    d[ROW_SC_VAL] = r->scratch_val_top1;
    d[ROW_SC_EPOCH] = r->scratch_epoch;
    d[ROW_SECONDS] = r->seconds;
}

static void row_unpack(FinetuneRow *r, const double *d)
{
    r->fraction = d[ROW_FRACTION];
    r->labels = (int)d[ROW_LABELS];
    r->val_images = (int)d[ROW_VAL];
    r->finetuned_top1 = d[ROW_FT];
    r->finetuned_val_top1 = d[ROW_FT_VAL];
    r->finetuned_epoch = (int)d[ROW_FT_EPOCH];
    r->scratch_top1 = d[ROW_SC];
    r->scratch_val_top1 = d[ROW_SC_VAL];
    r->scratch_epoch = (int)d[ROW_SC_EPOCH];
    r->seconds = d[ROW_SECONDS];
}

/* The checkpoint closing eval epoch `epoch`: the run so far, the encoder's weights (a resumed
 * run skips simclr and takes them from here), the frozen measures and the rows done. */
static int eval_commit(const Sink *sink, int epoch, const RunResult *res, const Model *m,
                       GsErr *err)
{
    double frozen[FROZEN_COUNT] = {
        [FROZEN_KNN] = res->knn_top1, [FROZEN_LINEAR] = res->linear_top1,
        [FROZEN_LINEAR_HEAD] = res->linear_top1_head,
        [FROZEN_WD] = res->linear_weight_decay, [FROZEN_EPOCHS] = res->linear_epochs};
    double rows[FINETUNE_MAX_FRACTIONS * ROW_FIELDS];
    for (int j = 0; j < res->n_finetune; j++)
        row_pack(rows + (size_t)j * ROW_FIELDS, &res->finetune[j]);
    CkptWriter w;
    ckpt_writer_init(&w);
    int bad = state_write(&w, STAGE_EVAL, epoch, res, &m->net, NULL, NULL, err) ||
              ckpt_add(&w, "eval.frozen", frozen, sizeof frozen, err) ||
              ckpt_add(&w, "finetune.rows", rows,
                       sizeof(double) * ROW_FIELDS * (size_t)res->n_finetune, err) ||
              state_commit(&w, sink, STAGE_EVAL, epoch, -1, err);
    ckpt_writer_free(&w);
    return bad ? -1 : 0;
}

static int eval_restore(const CkptReader *r, int epoch, int n_fractions, RunResult *res,
                        GsErr *err)
{
    double frozen[FROZEN_COUNT];
    size_t bytes;
    if (ckpt_get(r, "eval.frozen", frozen, sizeof frozen, err))
        return -1;
    const void *rows = ckpt_find(r, "finetune.rows", &bytes, err);
    if (!rows)
        return -1;
    int n = epoch - 1;
    if (n < 0 || n > n_fractions || bytes != sizeof(double) * ROW_FIELDS * (size_t)n)
        return gs_errf(err, "checkpoint: eval epoch %d holds %zu bytes of fine-tuning rows for "
                       "%d fractions", epoch, bytes, n_fractions);
    res->knn_top1 = frozen[FROZEN_KNN];
    res->linear_top1 = frozen[FROZEN_LINEAR];
    res->linear_top1_head = frozen[FROZEN_LINEAR_HEAD];
    res->linear_weight_decay = (float)frozen[FROZEN_WD];
    res->linear_epochs = (int)frozen[FROZEN_EPOCHS];
    for (int j = 0; j < n; j++) {
        double d[ROW_FIELDS];
        memcpy(d, (const uint8_t *)rows + sizeof d * (size_t)j, sizeof d);
        row_unpack(&res->finetune[j], d);
    }
    res->n_finetune = n;
    return 0;
}

/* Where fine-tuning reports its epochs: the metrics of one training (fine-tuned or from
 * scratch) of the fraction being run, and the stage's progress over all of them. */
typedef struct {
    const Sink *sink;
    int eval_epoch, eval_epochs;   /* 1 + j, 1 + fractions */
    const char *prefix;            /* "finetune" or "scratch" */
    long done, total;              /* fine-tuning epochs of the stage (after `base` steps) */
    long base;                     /* steps of epoch 1, the frozen measures */
    double images_done, images_total; /* training images of the stage, for the ETA */
    int n_fit;
    double t0;                     /* when this attempt's fine-tuning started */
} EpochReport;

static void report_epoch(void *ctx, int epoch, double loss, double val_top1)
{
    EpochReport *r = ctx;
    char name[48];
    snprintf(name, sizeof name, "%s_loss", r->prefix);
    stage_metric(r->sink, STAGE_EVAL, r->eval_epoch, epoch, name, loss);
    snprintf(name, sizeof name, "%s_val_top1", r->prefix);
    stage_metric(r->sink, STAGE_EVAL, r->eval_epoch, epoch, name, val_top1);
    r->done++;
    r->images_done += r->n_fit;
    double el = stage_now() - r->t0, rate = el > 0 ? r->images_done / el : 0;
    stage_progress(r->sink, STAGE_EVAL, r->eval_epoch, r->eval_epochs, r->base + r->done,
                   r->base + r->total, loss, rate,
                   rate > 0 ? (r->images_total - r->images_done) / rate : NAN);
}

/* The trainings of each fraction, in order: 0 fine-tunes the run's encoder, 1 trains the same
 * recipe from the encoder's random initialisation. Method supervised has only the second (its
 * encoder is that initialisation: the first would repeat it bit for bit). */
static int finetune_kinds(const RunConfig *cfg, int kinds[2])
{
    if (cfg->method == METHOD_SUPERVISED) {
        kinds[0] = 1;
        return 1;
    }
    kinds[0] = 0;
    kinds[1] = 1;
    return cfg->eval.finetune.from_scratch ? 2 : 1;
}

/* Fine-tuning fractions from res->n_finetune on (the ones a checkpoint has not done). */
static int finetune_all(const RunConfig *cfg, const Dataset *train, const Dataset *test,
                        const Model *m, const Sink *sink, long base, double t0,
                        double spent_before, RunResult *res, GsErr *err)
{
    const FinetuneConfig *fc = &cfg->eval.finetune;
    int kinds[2];
    const int nf = fc->n_fractions, variants = finetune_kinds(cfg, kinds);
    const bool tuned = kinds[0] == 0, scratch = variants == 2 || kinds[0] == 1;
    const uint64_t subset_seed = stream_seed(cfg->seed, STREAM_FINETUNE);
    EncoderConfig enc = cfg->simclr.encoder;
    enc.in_c = train->c;
    enc.in_h = train->h;
    enc.in_w = train->w;
    EpochReport rep = {.sink = sink, .eval_epochs = 1 + nf, .base = base, .t0 = stage_now(),
                       .total = (long)nf * fc->epochs * variants};
    for (int j = 0; j < nf; j++) {
        int32_t *fit, *val;
        int n_fit, n_val;
        if (finetune_subset(train->labels, train->n, train->n_classes, fc->fractions[j],
                            fc->val_fraction, subset_seed, &fit, &n_fit, &val, &n_val, err))
            return -1;
        free(fit);
        free(val);
        double images = (double)n_fit * fc->epochs * variants;
        rep.images_total += images;
        if (j < res->n_finetune) {
            rep.done += (long)fc->epochs * variants;
            rep.images_total -= images;
        }
    }
    for (int j = res->n_finetune; j < nf; j++) {
        const float frac = fc->fractions[j];
        const uint64_t seed = stream_finetune_seed(cfg->seed, frac);
        FinetuneRow *row = &res->finetune[j];
        FinetuneOutcome o[2];
        int32_t *fit = NULL, *val = NULL;
        int n_fit, n_val, rc = -1;
        double f0 = stage_now();
        rep.eval_epoch = 2 + j;
        stage_progress(sink, STAGE_EVAL, rep.eval_epoch, rep.eval_epochs, base + rep.done,
                       base + rep.total, NAN, 0, NAN);
        if (finetune_subset(train->labels, train->n, train->n_classes, frac, fc->val_fraction,
                            subset_seed, &fit, &n_fit, &val, &n_val, err))
            return -1;
        rep.n_fit = n_fit;
        *row = (FinetuneRow){.fraction = frac, .labels = n_fit + n_val, .val_images = n_val,
                             .finetuned_top1 = NAN, .finetuned_val_top1 = NAN,
                             .scratch_top1 = NAN, .scratch_val_top1 = NAN};
        for (int v = 0; v < variants; v++) {
            const int kind = kinds[v];
            FinetuneHooks hooks = {.epoch = report_epoch, .ctx = &rep,
                                   .cancel = sink ? sink->cancel : NULL};
            rep.prefix = kind == 0 ? "finetune" : "scratch";
            /* from scratch: the very weights the run's encoder started from */
            if (finetune_train(fc, &enc, kind == 0 ? &m->net : NULL,
                               stream_seed(cfg->seed, STREAM_ENCODER_INIT), seed, train, fit,
                               n_fit, val, n_val, test, &hooks, &o[kind], err))
                goto next;
        }
        if (tuned) {
            row->finetuned_top1 = o[0].test_top1;
            row->finetuned_val_top1 = o[0].val_top1;
            row->finetuned_epoch = o[0].best_epoch;
        }
        if (scratch) {
            row->scratch_top1 = o[1].test_top1;
            row->scratch_val_top1 = o[1].val_top1;
            row->scratch_epoch = o[1].best_epoch;
        }
        row->seconds = stage_now() - f0;
        res->n_finetune = j + 1;
        stage_metric(sink, STAGE_EVAL, rep.eval_epoch, -1, "finetune_fraction", frac);
        stage_metric(sink, STAGE_EVAL, rep.eval_epoch, -1, "finetune_labels", row->labels);
        if (tuned)
            stage_metric(sink, STAGE_EVAL, rep.eval_epoch, -1, "finetune_top1",
                         row->finetuned_top1);
        if (scratch)
            stage_metric(sink, STAGE_EVAL, rep.eval_epoch, -1, "scratch_top1", row->scratch_top1);
        if (!tuned) {
            stage_log(sink, STAGE_EVAL, rep.eval_epoch,
                      "eval: trained from scratch on %g of the labels (%d images, %d held out): "
                      "top-1 %.4f (epoch %d), %.1f s",
                      (double)frac, row->labels, n_val, row->scratch_top1, row->scratch_epoch,
                      row->seconds);
        } else if (scratch) {
            stage_metric(sink, STAGE_EVAL, rep.eval_epoch, -1, "finetune_gain",
                         row->finetuned_top1 - row->scratch_top1);
            stage_log(sink, STAGE_EVAL, rep.eval_epoch,
                      "eval: fine-tuning on %g of the labels (%d images, %d held out): top-1 "
                      "%.4f (epoch %d), from scratch %.4f (epoch %d), gain %+.4f, %.1f s",
                      (double)frac, row->labels, n_val, row->finetuned_top1,
                      row->finetuned_epoch, row->scratch_top1, row->scratch_epoch,
                      row->finetuned_top1 - row->scratch_top1, row->seconds);
        } else {
            stage_log(sink, STAGE_EVAL, rep.eval_epoch,
                      "eval: fine-tuning on %g of the labels (%d images, %d held out): top-1 "
                      "%.4f (epoch %d), %.1f s",
                      (double)frac, row->labels, n_val, row->finetuned_top1,
                      row->finetuned_epoch, row->seconds);
        }
        res->seconds[STAGE_EVAL] = spent_before + stage_now() - t0;
        rc = eval_commit(sink, rep.eval_epoch, res, m, err);
    next:
        free(fit);
        free(val);
        if (rc)
            return -1;
    }
    return 0;
}

int stage_eval_run(const RunConfig *cfg, const Dataset *train, const Dataset *test, Model *m,
                   const Sink *sink, const CkptReader *resume, RunResult *res, GsErr *err)
{
    double t0 = stage_now(), spent_before = 0;
    int nodes[2] = {m->feature, m->n_head_hidden > 0 ? m->head_hidden[0] : -1};
    int n_nodes = nodes[1] >= 0 ? 2 : 1;
    float *tr[2] = {NULL, NULL}, *te[2] = {NULL, NULL};
    int rc = -1;

    const int nf = cfg->eval.finetune.n_fractions;
    const long base = 1 + n_nodes; /* progress steps of the frozen measures */
    int kinds[2];
    const long ft_steps = (long)nf * cfg->eval.finetune.epochs * finetune_kinds(cfg, kinds);

    if (!train->labels || !test || !test->labels || test->n < 1)
        return gs_errf(err, "eval: the dataset needs labelled train and test images");
    if (resume) {
        int stage, epoch;
        spent_before = res->seconds[STAGE_EVAL];
        if (state_stage(resume, cfg, &stage, &epoch, err) ||
            eval_restore(resume, epoch, nf, res, err))
            return -1;
        if (finetune_all(cfg, train, test, m, sink, base, t0, spent_before, res, err))
            return -1;
        res->seconds[STAGE_EVAL] = spent_before + stage_now() - t0;
        return 0;
    }
    res->knn_top1 = res->linear_top1 = res->linear_top1_head = NAN;
    res->n_finetune = 0;
    for (int k = 0; k < n_nodes; k++) {
        size_t d = net_node_size(&m->net, nodes[k]);
        tr[k] = malloc(sizeof(float) * d * (size_t)train->n);
        te[k] = malloc(sizeof(float) * d * (size_t)test->n);
        if (!tr[k] || !te[k]) {
            gs_errf(err, "eval: out of memory for features");
            goto done;
        }
    }
    stage_progress(sink, STAGE_EVAL, 1, 1 + nf, 0, base + ft_steps, NAN, 0, NAN);
    if (embed_nodes(m, nodes, n_nodes, train, tr, sink, err) ||
        embed_nodes(m, nodes, n_nodes, test, te, sink, err))
        goto done;

    int d = (int)net_node_size(&m->net, m->feature);
    if (sink && sink->features &&
        sink->features(sink->ctx, d, tr[0], train->labels, train->n, te[0], test->labels,
                       test->n)) {
        gs_errf(err, "eval: the features could not be stored");
        goto done;
    }
    if (knn_accuracy(tr[0], train->labels, train->n, te[0], test->labels, test->n, d,
                     train->n_classes, cfg->eval.knn_k, cfg->eval.knn_temperature,
                     &res->knn_top1, err))
        goto done;
    stage_metric(sink, STAGE_EVAL, 1, -1, "knn_top1", res->knn_top1);
    stage_log(sink, STAGE_EVAL, 1, "eval: kNN (k %d) top-1 %.4f", cfg->eval.knn_k, res->knn_top1);

    LinearEvalConfig lc = cfg->eval.linear;
    lc.seed = stream_seed(cfg->seed, STREAM_PROBE);
    for (int k = 0; k < n_nodes; k++) {
        LinearEvalResult le;
        int dk = (int)net_node_size(&m->net, nodes[k]);
        if (linear_eval(tr[k], train->labels, train->n, te[k], test->labels, test->n, dk,
                        train->n_classes, &lc, sink ? sink->cancel : NULL, &le,
                        err))
            goto done;
        if (k == 0) {
            res->linear_top1 = le.test_top1;
            res->linear_weight_decay = le.weight_decay;
            res->linear_epochs = le.epochs;
            stage_metric(sink, STAGE_EVAL, 1, -1, "linear_top1", le.test_top1);
            stage_metric(sink, STAGE_EVAL, 1, -1, "linear_val_top1", le.val_top1);
        } else {
            res->linear_top1_head = le.test_top1;
            stage_metric(sink, STAGE_EVAL, 1, -1, "linear_top1_head", le.test_top1);
        }
        stage_log(sink, STAGE_EVAL, 1, "eval: linear on %s (%d-d) top-1 %.4f (val %.4f, wd %g, %d epochs)",
                  k == 0 ? "backbone h" : "head hidden", dk, le.test_top1, le.val_top1,
                  (double)le.weight_decay, le.epochs);
        stage_progress(sink, STAGE_EVAL, 1, 1 + nf, 2 + k, base + ft_steps, NAN, 0, NAN);
    }
    res->seconds[STAGE_EVAL] = stage_now() - t0;
    /* the frozen measures are kept, so a stop during fine-tuning does not redo them */
    if (nf > 0 && (eval_commit(sink, 1, res, m, err) ||
                   finetune_all(cfg, train, test, m, sink, base, t0, 0, res, err)))
        goto done;
    res->seconds[STAGE_EVAL] = stage_now() - t0;
    rc = 0;
done:
    for (int k = 0; k < 2; k++) {
        free(tr[k]);
        free(te[k]);
    }
    return rc;
}
