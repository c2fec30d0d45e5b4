/* finetune.c — fine-tuning with few labels (finetune.h): the stratified labelled subset, and
 * the end-to-end training of an encoder's backbone plus a linear classifier on it, with the
 * epoch chosen on the held-out part of the subset.
 * It must not read the test set before the choice is made: test images and labels are read
 * once, by the kept model, at the very end. Everything a step touches is allocated before the
 * first step; views are drawn per image from a stream fixed by the epoch and the position, so
 * results do not depend on the thread count. */
#include "gs/finetune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gs/blas.h"
#include "gs/layers.h"
#include "gs/loss.h"
#include "gs/rng.h"
#include "stage.h"

FinetuneConfig finetune_defaults(void)
{
    /* SimCLR's fine-tuning recipe (momentum SGD, no weight decay, crops and flips only), at a
     * rate that on small Fashion-MNIST subsets trained both starts within a few epochs, where
     * Adam at lower rates left the trained encoder barely moving (BENCHMARKS.md; not yet
     * measured on a whole dataset) */
    FinetuneConfig c = {
        .n_fractions = 0,
        .epochs = 30,
        .batch = 64,
        .optimizer = OPT_SGD,
        .lr = 0.05f,
        .weight_decay = 0.0f,
        .val_fraction = 0.2f,
        .aug = augment_defaults(),
        .from_scratch = true,
    };
    /* colour changes are what the contrastive task learns to ignore, not what a classifier
     * needs to see; crops keep most of a 28-pixel object */
    c.aug.crop_scale_min = 0.8f;
    c.aug.jitter_p = 0.0f;
    c.aug.gray_p = 0.0f;
    c.aug.blur_p = 0.0f;
    return c;
}

static void shuffle(int32_t *a, int n, Rng *r)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int finetune_subset(const int32_t *labels, int n, int n_classes, float fraction,
                    float val_fraction, uint64_t seed, int32_t **fit, int *n_fit, int32_t **val,
                    int *n_val, GsErr *err)
{
    *fit = *val = NULL;
    *n_fit = *n_val = 0;
    if (!labels || n < 1 || n_classes < 1)
        return gs_errf(err, "finetune: needs labelled training images");
    if (!(fraction > 0.0f && fraction <= 1.0f) || !(val_fraction > 0.0f && val_fraction < 1.0f))
        return gs_errf(err, "finetune: fraction %g or val_fraction %g out of range",
                       (double)fraction, (double)val_fraction);
    int32_t *order = malloc(sizeof(int32_t) * (size_t)n);
    int *count = calloc((size_t)n_classes, sizeof(int)); // (C) images of each class
    int *take = calloc((size_t)n_classes, sizeof(int));  // (C) k_c
    int *hold = calloc((size_t)n_classes, sizeof(int));  // (C) v_c
    int *seen = calloc((size_t)n_classes, sizeof(int));  // (C)
    int rc = -1;
    if (!order || !count || !take || !hold || !seen) {
        gs_errf(err, "finetune: out of memory for the labelled subset");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= n_classes) {
            gs_errf(err, "finetune: label of image %d is %d, outside [0, %d)", i,
                    (int)labels[i], n_classes);
            goto done;
        }
        count[labels[i]]++;
        order[i] = i;
    }
    int nf = 0, nv = 0;
    for (int c = 0; c < n_classes; c++) {
        long k = lround((double)fraction * count[c]);
        k = k < 2 ? 2 : k;
        k = k > count[c] ? count[c] : k;
        long v = lround((double)val_fraction * k);
        v = v < 1 ? 1 : v;
        v = v > k - 1 ? k - 1 : v;
        take[c] = (int)k;
        hold[c] = (int)(v > 0 ? v : 0);
        nv += hold[c];
        nf += take[c] - hold[c];
    }
    if (nf < 1 || nv < 1) {
        gs_errf(err, "finetune: fraction %g leaves %d images to fit and %d to validate",
                (double)fraction, nf, nv);
        goto done;
    }
    *fit = malloc(sizeof(int32_t) * (size_t)nf);
    *val = malloc(sizeof(int32_t) * (size_t)nv);
    if (!*fit || !*val) {
        gs_errf(err, "finetune: out of memory for the labelled subset");
        goto done;
    }
    Rng r;
    rng_seed(&r, seed);
    shuffle(order, n, &r);
    for (int i = 0; i < n; i++) {
        int c = labels[order[i]];
        int s = seen[c]++;
        if (s < hold[c])
            (*val)[(*n_val)++] = order[i];
        else if (s < take[c])
            (*fit)[(*n_fit)++] = order[i];
    }
    rc = 0;
done:
    if (rc) {
        free(*fit);
        free(*val);
        *fit = *val = NULL;
        *n_fit = *n_val = 0;
    }
    free(order);
    free(count);
    free(take);
    free(hold);
    free(seen);
    return rc;
}

enum { FINETUNE_EVAL_BATCH = 128 };

/* One model being fine-tuned and everything its steps touch. */
typedef struct {
    Model m;
    bool built;
    int B;           /* training batch */
    int E;           /* inference batch: larger, as fewer batches cost fewer thread barriers */
    int d, C;
    size_t isz;
    float *x;        // (B, isz) a batch of images
    int32_t *ids;    // (B)
    int32_t *yb;     // (B)
    int32_t *perm;   // (n_fit)
    float *mu, *rsd; // (d) each: the fixed standardisation of h the classifier reads
    float *hs;       // (B, d) standardised h
    float *dhs;      // (B, d) its gradient
    float *cls;      // (C*d + C) classifier weights (C, d) then bias (C)
    float *dcls;     // (C*d + C)
    float *logits;   // (B, C)
    float *probs;    // (B, C)
    float *dlogits;  // (B, C)
    float *best;     // (n_params + n_buffers + C*d + C) the kept epoch's weights
    Optimizer opt, copt;
} Tuner;

static void tuner_free(Tuner *t)
{
    if (t->built)
        model_free(&t->m);
    free(t->x);
    free(t->ids);
    free(t->yb);
    free(t->perm);
    free(t->mu);
    free(t->rsd);
    free(t->hs);
    free(t->dhs);
    free(t->cls);
    free(t->dcls);
    free(t->logits);
    free(t->probs);
    free(t->dlogits);
    free(t->best);
    optim_free(&t->opt);
    optim_free(&t->copt);
}

/* hs (bs, d) = the standardised features of the batch just run */
static void tuner_standardise(Tuner *t, int bs)
{
    const float *h = net_act(&t->m.net, t->m.feature); // (bs, d)
    for (int i = 0; i < bs; i++)
        for (int j = 0; j < t->d; j++) {
            size_t k = (size_t)i * t->d + j;
            t->hs[k] = (h[k] - t->mu[j]) * t->rsd[j];
        }
}

/* Accuracy of the tuner's model on images ids (n) of ds, in inference mode. */
static double tuner_accuracy(Tuner *t, const Dataset *ds, const int32_t *ids, int n)
{
    long correct = 0;
    for (int i0 = 0; i0 < n; i0 += t->E) {
        int bs = n - i0 < t->E ? n - i0 : t->E;
        for (int j = 0; j < bs; j++)
            t->ids[j] = ids ? ids[i0 + j] : i0 + j;
        batch_to_float(t->x, ds, t->ids, bs);
        net_forward(&t->m.net, t->x, bs, false);
        tuner_standardise(t, bs);
        linear_forward(t->logits, t->hs, t->cls, t->cls + (size_t)t->C * t->d, bs, t->d, t->C);
        for (int j = 0; j < bs; j++) {
            const float *l = t->logits + (size_t)j * t->C; // (C)
            int arg = 0;
            for (int c = 1; c < t->C; c++)
                if (l[c] > l[arg])
                    arg = c;
            correct += arg == ds->labels[t->ids[j]];
        }
    }
    return n > 0 ? (double)correct / n : NAN;
}

/* Batch-norm's running statistics as the mean of those of the fit images (clean, in batches
 * of B): after the few steps a small labelled set gives, the running averages are still mostly
 * their start (a random net's 0 and 1, or the contrastive views'), and a model measured with
 * them is measured on statistics it never trained with. A momentum of 1/k at the k-th batch
 * makes the running value the plain mean (PyTorch's momentum=None). Training-mode batches use
 * their own statistics, so the training itself is unchanged. */
static void tuner_recalibrate(Tuner *t, const Dataset *train, const int32_t *fit, int n_fit)
{
    Net *n = &t->m.net;
    float momentum = n->bn_momentum;
    for (int i0 = 0, k = 1; i0 < n_fit; i0 += t->E, k++) {
        int bs = n_fit - i0 < t->E ? n_fit - i0 : t->E;
        memcpy(t->ids, fit + i0, sizeof(int32_t) * (size_t)bs);
        batch_to_float(t->x, train, t->ids, bs);
        n->bn_momentum = 1.0f / (float)k;
        net_forward(n, t->x, bs, true);
    }
    n->bn_momentum = momentum;
}

/* The classifier reads h standardised by the mean and deviation of the starting model's
 * features of the fit images (clean, inference mode, after tuner_recalibrate), held fixed:
 * a random encoder's h is tens of times smaller than a trained one's, and without this the
 * same learning rate would be a different recipe for the two starts (the linear probe
 * standardises for the same reason). */
static void tuner_fix_scale(Tuner *t, const Dataset *train, const int32_t *fit, int n_fit)
{
    double *s1 = (double *)(void *)t->best, *s2 = s1 + t->d; /* free until an epoch ends */
    memset(s1, 0, sizeof(double) * 2 * (size_t)t->d);
    for (int i0 = 0; i0 < n_fit; i0 += t->E) {
        int bs = n_fit - i0 < t->E ? n_fit - i0 : t->E;
        memcpy(t->ids, fit + i0, sizeof(int32_t) * (size_t)bs);
        batch_to_float(t->x, train, t->ids, bs);
        net_forward(&t->m.net, t->x, bs, false);
        const float *h = net_act(&t->m.net, t->m.feature); // (bs, d)
        for (int i = 0; i < bs; i++)
            for (int j = 0; j < t->d; j++) {
                double v = h[(size_t)i * t->d + j];
                s1[j] += v;
                s2[j] += v * v;
            }
    }
    for (int j = 0; j < t->d; j++) {
        double mean = s1[j] / n_fit, var = s2[j] / n_fit - mean * mean;
        t->mu[j] = (float)mean;
        /* a feature constant over the fit images (a dead ReLU) is left unscaled */
        t->rsd[j] = var > 1e-12 ? (float)(1.0 / sqrt(var)) : 1.0f;
    }
}

/* the kept epoch's weights: network parameters, batch-norm statistics, classifier */
static void tuner_keep(Tuner *t, bool restore)
{
    Net *n = &t->m.net;
    size_t nc = (size_t)t->C * t->d + t->C;
    float *p = t->best, *b = p + n->n_params, *c = b + n->n_buffers;
    if (restore) {
        memcpy(n->params, p, sizeof(float) * n->n_params);
        memcpy(n->buffers, b, sizeof(float) * n->n_buffers);
        memcpy(t->cls, c, sizeof(float) * nc);
    } else {
        memcpy(p, n->params, sizeof(float) * n->n_params);
        memcpy(b, n->buffers, sizeof(float) * n->n_buffers);
        memcpy(c, t->cls, sizeof(float) * nc);
    }
}

static int tuner_build(Tuner *t, const FinetuneConfig *cfg, const EncoderConfig *enc,
                       const Net *from, uint64_t init_seed, int n_classes, int n_fit,
                       GsErr *err)
{
    t->B = cfg->batch < n_fit ? cfg->batch : n_fit;
    t->E = t->B > FINETUNE_EVAL_BATCH ? t->B : FINETUNE_EVAL_BATCH;
    if (model_build_encoder(&t->m, enc, t->E, init_seed, err))
        return -1;
    t->built = true;
    Net *n = &t->m.net;
    if (from) {
        if (from->n_params != n->n_params || from->n_buffers != n->n_buffers)
            return gs_errf(err, "finetune: the encoder has %zu weights, its copy %zu",
                           from->n_params, n->n_params);
        memcpy(n->params, from->params, sizeof(float) * n->n_params);
        memcpy(n->buffers, from->buffers, sizeof(float) * n->n_buffers);
    }
    t->d = (int)net_node_size(n, t->m.feature);
    t->C = n_classes;
    t->isz = (size_t)enc->in_c * enc->in_h * enc->in_w;
    size_t nc = (size_t)t->C * t->d + t->C, bc = (size_t)t->E * t->C;
    t->x = malloc(sizeof(float) * t->isz * (size_t)t->E);
    t->ids = malloc(sizeof(int32_t) * (size_t)t->E);
    t->yb = malloc(sizeof(int32_t) * (size_t)t->E);
    t->perm = malloc(sizeof(int32_t) * (size_t)n_fit);
    t->mu = malloc(sizeof(float) * (size_t)t->d);
    t->rsd = malloc(sizeof(float) * (size_t)t->d);
    t->hs = malloc(sizeof(float) * (size_t)t->E * t->d);
    t->dhs = malloc(sizeof(float) * (size_t)t->E * t->d);
    t->cls = malloc(sizeof(float) * nc);
    t->dcls = malloc(sizeof(float) * nc);
    t->logits = malloc(sizeof(float) * bc);
    t->probs = malloc(sizeof(float) * bc);
    t->dlogits = malloc(sizeof(float) * bc);
    /* (also the scratch of tuner_fix_scale: 2d doubles) */
    size_t nbest = n->n_params + n->n_buffers + nc;
    nbest = nbest > 4 * (size_t)t->d ? nbest : 4 * (size_t)t->d;
    t->best = malloc(sizeof(float) * nbest);
    if (!t->x || !t->ids || !t->yb || !t->perm || !t->mu || !t->rsd || !t->hs || !t->dhs ||
        !t->cls || !t->dcls || !t->logits || !t->probs || !t->dlogits || !t->best)
        return gs_errf(err, "finetune: out of memory for a model of %zu weights", n->n_params);
    OptConfig oc = optim_defaults(cfg->optimizer);
    oc.weight_decay = cfg->weight_decay;
    if (optim_init(&t->opt, &oc, n->n_params, err) || optim_init(&t->copt, &oc, nc, err))
        return -1;
    return 0;
}

/* One step on images ids (bs) of train; returns the batch's mean loss. */
static float tuner_step(Tuner *t, const Dataset *train, int bs, const AugConfig *aug,
                        uint64_t epoch_seed, long b, float lr)
{
    Net *n = &t->m.net;
    const size_t nw = (size_t)t->C * t->d;
    const ParamSpan cspans[2] = {{0, nw, true}, {nw, (size_t)t->C, false}};
#pragma omp parallel for schedule(static)
    for (int j = 0; j < bs; j++) {
        Rng r;
        rng_seed(&r, stream_view_seed(epoch_seed, b, j));
        augment_view(t->x + (size_t)j * t->isz, train->pixels + (size_t)t->ids[j] * t->isz,
                     train->c, train->h, train->w, aug, &r);
    }
    for (int j = 0; j < bs; j++)
        t->yb[j] = train->labels[t->ids[j]];
    net_zero_grad(n);
    net_forward(n, t->x, bs, true);
    tuner_standardise(t, bs);
    linear_forward(t->logits, t->hs, t->cls, t->cls + nw, bs, t->d, t->C);
    float loss = xent_forward(t->probs, t->logits, t->yb, bs, t->C);
    memset(t->dlogits, 0, sizeof(float) * (size_t)bs * t->C);
    memset(t->dcls, 0, sizeof(float) * (nw + t->C));
    xent_backward(t->dlogits, t->probs, t->yb, bs, t->C, 1.0f);
    /* the classifier's input gradient lands on h; the projection head above h gets none,
     * so its weights are never used and the backbone learns from the classifier alone */
    memset(t->dhs, 0, sizeof(float) * (size_t)bs * t->d);
    linear_backward(t->dhs, t->dcls, t->dcls + nw, t->dlogits, t->hs, t->cls, bs, t->d, t->C);
    net_backward_begin(n, bs);
    float *dh = net_dact(n, t->m.feature); // (bs, d)
    for (int i = 0; i < bs; i++)
        for (int j = 0; j < t->d; j++)
            dh[(size_t)i * t->d + j] += t->dhs[(size_t)i * t->d + j] * t->rsd[j];
    net_backward(n, bs);
    optim_step(&t->opt, n->params, n->grads, n->spans, n->n_spans, lr);
    optim_step(&t->copt, t->cls, t->dcls, cspans, 2, lr);
    return loss;
}

static bool canceled(const FinetuneHooks *h)
{
    return h && h->cancel && atomic_load_explicit(h->cancel, memory_order_relaxed);
}

int finetune_train(const FinetuneConfig *cfg, const EncoderConfig *enc, const Net *from,
                   uint64_t init_seed, uint64_t seed, const Dataset *train, const int32_t *fit,
                   int n_fit, const int32_t *val, int n_val, const Dataset *test,
                   const FinetuneHooks *hooks, FinetuneOutcome *out, GsErr *err)
{
    Tuner t = {0};
    int rc = -1;
    double t0 = stage_now();

    if (!train || !train->labels || !test || !test->labels || test->n < 1 || !fit || !val ||
        n_fit < 1 || n_val < 1)
        return gs_errf(err, "finetune: needs labelled images to fit, validate and test");
    if (cfg->epochs < 1 || cfg->batch < 1)
        return gs_errf(err, "finetune: epochs and batch must be >= 1");
    if (tuner_build(&t, cfg, enc, from, init_seed, train->n_classes, n_fit, err))
        goto done;

    tuner_recalibrate(&t, train, fit, n_fit);
    tuner_fix_scale(&t, train, fit, n_fit);
    /* the classifier starts as PyTorch's nn.Linear does, uniform in +-1/sqrt(d) */
    Rng rng;
    rng_seed(&rng, seed);
    float bound = 1.0f / sqrtf((float)t.d);
    for (size_t i = 0; i < (size_t)t.C * t.d + t.C; i++)
        t.cls[i] = rng_range(&rng, -bound, bound);

    /* batches of near-equal size (they differ by at most one image), so no last batch of a
     * single image trains on statistics of its own */
    const long per_epoch = (n_fit + t.B - 1) / t.B;
    Schedule sch = {.base_lr = cfg->lr, .warmup_steps = 0,
                    .total_steps = per_epoch * cfg->epochs, .final_lr = 0.0f};
    for (int i = 0; i < n_fit; i++)
        t.perm[i] = i;
    *out = (FinetuneOutcome){.val_top1 = -1.0, .test_top1 = NAN, .loss = NAN};
    for (int e = 1; e <= cfg->epochs; e++) {
        shuffle(t.perm, n_fit, &rng);
        uint64_t epoch_seed = rng_u64(&rng);
        double sum = 0.0;
        for (long b = 0; b < per_epoch; b++) {
            if (canceled(hooks)) {
                gs_errf(err, "canceled");
                goto done;
            }
            int i0 = (int)(b * n_fit / per_epoch), i1 = (int)((b + 1) * n_fit / per_epoch);
            for (int j = i0; j < i1; j++)
                t.ids[j - i0] = fit[t.perm[j]];
            float lr = schedule_lr(&sch, (long)(e - 1) * per_epoch + b);
            float loss = tuner_step(&t, train, i1 - i0, &cfg->aug, epoch_seed, b, lr);
            if (!isfinite(loss)) {
                gs_errf(err, "finetune: the loss became %g at epoch %d step %ld (try a lower "
                        "eval.finetune.lr)", (double)loss, e, b + 1);
                goto done;
            }
            sum += (double)loss * (i1 - i0);
        }
        out->loss = sum / n_fit;
        tuner_recalibrate(&t, train, fit, n_fit);
        double acc = tuner_accuracy(&t, train, val, n_val);
        /* strict: a tie keeps the earlier epoch */
        if (acc > out->val_top1) {
            out->val_top1 = acc;
            out->best_epoch = e;
            tuner_keep(&t, false);
        }
        if (hooks && hooks->epoch)
            hooks->epoch(hooks->ctx, e, out->loss, acc);
    }
    tuner_keep(&t, true);
    out->test_top1 = tuner_accuracy(&t, test, NULL, test->n);
    out->seconds = stage_now() - t0;
    rc = 0;
done:
    tuner_free(&t);
    return rc;
}
