/* linear_probe.c — linear evaluation of frozen features: multinomial logistic regression
 * whose weight decay and epoch count are chosen on a validation split carved from the training
 * set, then refit on all of it.
 * It must not look at the test set for any choice: test features and labels are read only to
 * be standardised with the training statistics and scored once, after the refit. It allocates
 * once per call, never per step, and returns errors rather than exiting. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval_common.h"
#include "gs/blas.h"
#include "gs/eval.h"
#include "gs/layers.h"
#include "gs/loss.h"
#include "gs/optim.h"
#include "gs/rng.h"

LinearEvalConfig linear_eval_defaults(void)
{
    /* Penalties a decade apart, from none to strong (1e-2 is C = 0.002 in scikit-learn's
     * terms for 54,000 rows, useful for small labelled subsets). Up to 100 epochs: with 30,
     * constant-rate Adam still chose the last epochs and scored under scikit-learn's
     * LogisticRegression run to convergence on the same features; with 100 it matches it.
     * The comparison and the eval stage's time are in BENCHMARKS.md. */
    LinearEvalConfig c = {
        .epochs = 100,
        .batch = 256,
        .lr = 1e-3f,
        .val_fraction = 0.1f,
        .weight_decays = {0.0f, 1e-5f, 1e-4f, 1e-3f, 1e-2f},
        .n_weight_decays = 5,
        .seed = 0,
    };
    return c;
}

/* ---- linear evaluation ----
 * The model is tiny (a 256 x 128 x 10 GEMM a step), so splitting a step across threads costs
 * more in OpenMP barriers than the arithmetic: with linear_forward/linear_backward (which
 * open a parallel region per call) the defaults ran many times slower while other jobs shared
 * the two cores, every barrier waiting for a descheduled thread (BENCHMARKS.md). Instead
 * each candidate weight decay trains on one thread, start to finish, with single-threaded
 * GEMMs (the same gs_sgemm calls linear_forward makes), and the candidates run in parallel:
 * one parallel region per call, results independent of the thread count. */

/* The flag is set by another thread (the job's canceller); an atomic load keeps that a
 * well-defined access, and ThreadSanitizer quiet, whatever the writer uses. */
static bool canceled(const atomic_int *cancel)
{
    return cancel && atomic_load_explicit(cancel, memory_order_relaxed);
}

/* One model being fitted: everything a training step touches, private to one thread. */
typedef struct {
    int B;
    float *xb;       // (B, d) gathered mini-batch
    int32_t *yb;     // (B)
    int32_t *perm;   // (n) shuffle of the rows being fitted
    float *logits;   // (B, C)
    float *probs;    // (B, C)
    float *dlogits;  // (B, C)
    float *params;   // (C*d + C) weights (C, d) then bias (C)
    float *grads;    // (C*d + C)
    Optimizer opt;
} LinFit;

static void linfit_free(LinFit *f)
{
    free(f->xb);
    free(f->yb);
    free(f->perm);
    free(f->logits);
    free(f->probs);
    free(f->dlogits);
    free(f->params);
    free(f->grads);
    optim_free(&f->opt);
}

static int linfit_alloc(LinFit *f, int n, int d, int C, int B, GsErr *err)
{
    *f = (LinFit){.B = B};
    size_t np = (size_t)C * d + C;
    f->xb = malloc((size_t)B * d * sizeof *f->xb);
    f->yb = malloc((size_t)B * sizeof *f->yb);
    f->perm = malloc((size_t)n * sizeof *f->perm);
    f->logits = malloc((size_t)B * C * sizeof *f->logits);
    f->probs = malloc((size_t)B * C * sizeof *f->probs);
    f->dlogits = malloc((size_t)B * C * sizeof *f->dlogits);
    f->params = malloc(np * sizeof *f->params);
    f->grads = malloc(np * sizeof *f->grads);
    if (!f->xb || !f->yb || !f->perm || !f->logits || !f->probs || !f->dlogits || !f->params ||
        !f->grads) {
        linfit_free(f);
        return gs_errf(err, "linear_eval: out of memory for a %d x %d model", C, d);
    }
    OptConfig oc = optim_defaults(OPT_ADAM);
    if (optim_init(&f->opt, &oc, np, err)) {
        linfit_free(f);
        return -1;
    }
    return 0;
}

/* logits (m, C) = x (m, d) W^T + b, on the calling thread */
static void lin_forward(float *logits, const float *x, const float *params, int m, int d, int C)
{
    const float *b = params + (size_t)C * d; // (C)
    gs_sgemm(false, true, m, C, d, 1.0f, x, d, params, d, 0.0f, logits, C);
    for (int i = 0; i < m; i++)
        for (int c = 0; c < C; c++)
            logits[(size_t)i * C + c] += b[c];
}

/* grads = dW (C, d) = dlogits^T x, then db (C) = column sums of dlogits (m, C) */
static void lin_backward(float *grads, const float *dlogits, const float *x, int m, int d,
                         int C)
{
    float *db = grads + (size_t)C * d; // (C)
    gs_sgemm(true, false, C, d, m, 1.0f, dlogits, C, x, d, 0.0f, grads, d);
    for (int c = 0; c < C; c++) {
        double s = 0.0;
        for (int i = 0; i < m; i++)
            s += dlogits[(size_t)i * C + c];
        db[c] = (float)s;
    }
}

/* Accuracy of f's model on rows x (m, d) with labels y (m), B rows at a time. */
static double lin_accuracy(LinFit *f, const float *x, const int32_t *y, int m, int d, int C)
{
    long correct = 0;
    for (int s = 0; s < m; s += f->B) {
        int bs = m - s < f->B ? m - s : f->B;
        lin_forward(f->logits, x + (size_t)s * d, f->params, bs, d, C);
        for (int i = 0; i < bs; i++) {
            const float *l = f->logits + (size_t)i * C; // (C)
            int best = 0;
            for (int c = 1; c < C; c++)
                if (l[c] > l[best])
                    best = c;
            correct += best == y[s + i];
        }
    }
    return (double)correct / m;
}

/* Restarts the model at zero (the problem is convex, so no random init is needed) and Adam at
 * step 0 with weight decay wd on the weights only. Adam's coupled decay adds wd * W to the
 * gradient, i.e. the penalty is (wd / 2) ||W||^2 on top of the mean cross-entropy, as with
 * torch.optim.Adam(weight_decay=wd); in scikit-learn's terms C = 1 / (n wd). */
static void lin_reset(LinFit *f, size_t np, float wd)
{
    memset(f->params, 0, np * sizeof *f->params);
    memset(f->opt.mem, 0, optim_state_floats(&f->opt) * sizeof *f->opt.mem);
    f->opt.step = 0;
    f->opt.cfg.weight_decay = wd;
}

/* One epoch of mini-batch Adam over rows x (m, d), labels y (m), shuffled by r. Returns the
 * mean training loss (without the penalty); not finite if training diverged. */
static double lin_epoch(LinFit *f, const float *x, const int32_t *y, int m, int d, int C,
                        float lr, Rng *r)
{
    const size_t nw = (size_t)C * d;
    const ParamSpan spans[2] = {{0, nw, true}, {nw, (size_t)C, false}};
    for (int i = 0; i < m; i++)
        f->perm[i] = i;
    for (int i = m - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int32_t t = f->perm[i];
        f->perm[i] = f->perm[j];
        f->perm[j] = t;
    }
    double loss = 0.0;
    for (int s = 0; s < m; s += f->B) {
        int bs = m - s < f->B ? m - s : f->B;
        for (int i = 0; i < bs; i++) {
            int row = f->perm[s + i];
            memcpy(f->xb + (size_t)i * d, x + (size_t)row * d, (size_t)d * sizeof *f->xb);
            f->yb[i] = y[row];
        }
        lin_forward(f->logits, f->xb, f->params, bs, d, C);
        loss += (double)xent_forward(f->probs, f->logits, f->yb, bs, C) * bs;
        memset(f->dlogits, 0, (size_t)bs * C * sizeof *f->dlogits);
        xent_backward(f->dlogits, f->probs, f->yb, bs, C, 1.0f);
        lin_backward(f->grads, f->dlogits, f->xb, bs, d, C);
        optim_step(&f->opt, f->params, f->grads, spans, 2, lr);
    }
    return loss / m;
}

/* Mean and standard deviation (population, in double) of the rows order[0..m) of x. A
 * feature whose spread is within a few float ulps of its mean is constant but for rounding:
 * it gets sd 1, so it maps to about 0 instead of rounding noise blown up to unit variance
 * (scikit-learn's StandardScaler guards the same way). */
static void standard_fit(double *mean, double *sd, const float *x, const int32_t *order, int m,
                         int d)
{
    for (int j = 0; j < d; j++) {
        mean[j] = 0.0;
        sd[j] = 0.0;
    }
    for (int i = 0; i < m; i++) {
        const float *r = x + (size_t)order[i] * d; // (d)
        for (int j = 0; j < d; j++)
            mean[j] += r[j];
    }
    for (int j = 0; j < d; j++)
        mean[j] /= m;
    for (int i = 0; i < m; i++) {
        const float *r = x + (size_t)order[i] * d; // (d)
        for (int j = 0; j < d; j++) {
            double c = r[j] - mean[j];
            sd[j] += c * c;
        }
    }
    for (int j = 0; j < d; j++) {
        double s = sqrt(sd[j] / m);
        sd[j] = s > 4.0 * FLT_EPSILON * fabs(mean[j]) ? s : 1.0;
    }
}

/* out row i = standardised x row order[i] (order NULL: row i) */
static void standard_apply(float *out, const float *x, const int32_t *order, int m, int d,
                           const double *mean, const double *sd)
{
#pragma omp parallel for schedule(static) num_threads(gs_threads_get()) \
    if ((size_t)m * d >= EVAL_PAR_MIN)
    for (int i = 0; i < m; i++) {
        const float *r = x + (size_t)(order ? order[i] : i) * d; // (d)
        float *o = out + (size_t)i * d;                         // (d)
        for (int j = 0; j < d; j++)
            o[j] = (float)((r[j] - mean[j]) / sd[j]);
    }
}

/* Fills order (n) with a seeded, stratified split, validation rows last. Rows are shuffled,
 * grouped by class (keeping the shuffled order inside a class) and every (n / nval)-th row
 * of that sequence goes to validation, so each class gives its share up to rounding.
 * shuf, grouped (n) and next (C + 1) are scratch. Returns the number of fit rows. */
static int split_stratified(int32_t *order, int32_t *shuf, int32_t *grouped, int32_t *next,
                            const int32_t *ytr, int n, int C, float frac, Rng *r)
{
    for (int i = 0; i < n; i++)
        shuf[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int32_t t = shuf[i];
        shuf[i] = shuf[j];
        shuf[j] = t;
    }
    /* stable counting sort by class */
    memset(next, 0, ((size_t)C + 1) * sizeof *next);
    for (int i = 0; i < n; i++)
        next[ytr[i] + 1]++;
    for (int c = 0; c < C; c++)
        next[c + 1] += next[c];
    for (int i = 0; i < n; i++)
        grouped[next[ytr[shuf[i]]]++] = shuf[i];
    long nval = lround((double)frac * n);
    if (nval < 1)
        nval = 1;
    if (nval > n - 1)
        nval = n - 1;
    int nfit = n - (int)nval, a = 0, b = nfit;
    for (long long j = 0; j < n; j++) {
        bool to_val = (j + 1) * nval / n > j * nval / n;
        order[to_val ? b++ : a++] = grouped[j];
    }
    return nfit;
}

static int check_config(const LinearEvalConfig *c, GsErr *err)
{
    if (!c)
        return gs_errf(err, "linear_eval: NULL config");
    if (c->epochs < 1)
        return gs_errf(err, "linear_eval: epochs must be >= 1, got %d", c->epochs);
    if (c->batch < 1)
        return gs_errf(err, "linear_eval: batch must be >= 1, got %d", c->batch);
    if (!(c->lr > 0.0f && isfinite(c->lr)))
        return gs_errf(err, "linear_eval: lr must be finite and > 0, got %g", (double)c->lr);
    if (!(c->val_fraction > 0.0f && c->val_fraction < 1.0f))
        return gs_errf(err, "linear_eval: val_fraction must be in (0, 1), got %g",
                       (double)c->val_fraction);
    if (c->n_weight_decays < 1 || c->n_weight_decays > 8)
        return gs_errf(err, "linear_eval: n_weight_decays must be in [1, 8], got %d",
                       c->n_weight_decays);
    for (int i = 0; i < c->n_weight_decays; i++)
        if (!(c->weight_decays[i] >= 0.0f && isfinite(c->weight_decays[i])))
            return gs_errf(err, "linear_eval: weight_decays[%d] must be finite and >= 0, got %g",
                           i, (double)c->weight_decays[i]);
    return 0;
}

/* What one candidate's run ended with. */
typedef struct {
    double best_acc;  /* best validation accuracy, first reached at best_epoch */
    int best_epoch;
    int status;       /* 0 done, 1 canceled, 2 diverged at bad_epoch with bad_loss */
    int bad_epoch;
    double bad_loss;
} CandOutcome;

/* Trains candidate weight decay wd for up to cfg->epochs on the fit rows, scoring the
 * validation rows after every epoch. Polls cancel between epochs. */
static void run_candidate(LinFit *f, CandOutcome *o, float wd, const LinearEvalConfig *cfg,
                          const float *xfit, const int32_t *yfit, int nfit, const float *xval,
                          const int32_t *yval, int nval, int d, int C, Rng shuffle,
                          const atomic_int *cancel)
{
    *o = (CandOutcome){.best_acc = -1.0};
    lin_reset(f, (size_t)C * d + C, wd);
    for (int e = 1; e <= cfg->epochs; e++) {
        if (canceled(cancel)) {
            o->status = 1;
            return;
        }
        double loss = lin_epoch(f, xfit, yfit, nfit, d, C, cfg->lr, &shuffle);
        if (!isfinite(loss)) {
            o->status = 2;
            o->bad_epoch = e;
            o->bad_loss = loss;
            return;
        }
        double acc = lin_accuracy(f, xval, yval, nval, d, C);
        if (acc > o->best_acc) {
            o->best_acc = acc;
            o->best_epoch = e;
        }
    }
}

int linear_eval(const float *xtr, const int32_t *ytr, int ntr, const float *xte,
                const int32_t *yte, int nte, int d, int n_classes, const LinearEvalConfig *cfg,
                const atomic_int *cancel, LinearEvalResult *res, GsErr *err)
{
    if (!res)
        return gs_errf(err, "linear_eval: NULL result");
    if (check_config(cfg, err) ||
        eval_check_features("linear_eval", xtr, ytr, ntr, xte, yte, nte, d, n_classes, 2, err))
        return -1;
    const int C = n_classes, B = cfg->batch < ntr ? cfg->batch : ntr;
    const int ncand = cfg->n_weight_decays;
    const int T = gs_threads_get() > 0 ? gs_threads_get() : 1;
    const int P = T < ncand ? T : ncand; // models trained at once
    int rc = -1, nfits = 0;
    LinFit fits[8];
    CandOutcome cand[8];
    float *xs = malloc((size_t)ntr * d * sizeof *xs);            // (ntr, d) standardised train
    float *xt = malloc((size_t)nte * d * sizeof *xt);            // (nte, d) standardised test
    int32_t *ys = malloc((size_t)ntr * sizeof *ys);              // (ntr) labels of xs rows
    int32_t *order = malloc((size_t)ntr * sizeof *order);        // (ntr) source row of xs rows
    int32_t *scratch = malloc((size_t)ntr * sizeof *scratch);    // (ntr)
    int32_t *next = malloc(((size_t)C + 1) * sizeof *next);      // (C + 1)
    double *mean = malloc((size_t)d * sizeof *mean);             // (d)
    double *sd = malloc((size_t)d * sizeof *sd);                 // (d)
    if (!xs || !xt || !ys || !order || !scratch || !next || !mean || !sd) {
        gs_errf(err, "linear_eval: out of memory for %d x %d features", ntr, d);
        goto out;
    }
    for (; nfits < P; nfits++)
        if (linfit_alloc(&fits[nfits], ntr, d, C, B, err))
            goto out;

    Rng root, split_rng, shuffle_rng;
    rng_seed(&root, cfg->seed);
    rng_split(&root, 0, &split_rng);
    rng_split(&root, 1, &shuffle_rng);

    /* Selection: standardise with the fit part's statistics, validation rows after it
     * (fits[0].perm is free until training starts). */
    const int nfit = split_stratified(order, fits[0].perm, scratch, next, ytr, ntr, C,
                                      cfg->val_fraction, &split_rng);
    const int nval = ntr - nfit;
    standard_fit(mean, sd, xtr, order, nfit, d);
    standard_apply(xs, xtr, order, ntr, d, mean, sd);
    for (int i = 0; i < ntr; i++)
        ys[i] = ytr[order[i]];

    /* Every candidate sees the same shuffles, so candidates differ only in the penalty, and
     * candidate k's run is the same whichever thread takes it. */
#pragma omp parallel for schedule(static, 1) num_threads(P)
    for (int t = 0; t < P; t++)
        for (int k = t; k < ncand; k += P)
            run_candidate(&fits[t], &cand[k], cfg->weight_decays[k], cfg, xs, ys, nfit,
                          xs + (size_t)nfit * d, ys + nfit, nval, d, C, shuffle_rng, cancel);

    double best_acc = -1.0;
    float best_wd = 0.0f;
    int best_epochs = 0;
    for (int k = 0; k < ncand; k++) {
        if (cand[k].status == 1) {
            gs_errf(err, "canceled");
            goto out;
        }
        if (cand[k].status == 2) {
            gs_errf(err, "linear_eval: training diverged (loss %g) at weight decay %g, epoch %d",
                    cand[k].bad_loss, (double)cfg->weight_decays[k], cand[k].bad_epoch);
            goto out;
        }
        /* strict: ties keep the earlier candidate (and each its earliest epoch) */
        if (cand[k].best_acc > best_acc) {
            best_acc = cand[k].best_acc;
            best_wd = cfg->weight_decays[k];
            best_epochs = cand[k].best_epoch;
        }
    }

    /* Refit on the whole training set, standardised with its own statistics; one model, so
     * one thread. */
    for (int i = 0; i < ntr; i++)
        order[i] = i;
    standard_fit(mean, sd, xtr, order, ntr, d);
    standard_apply(xs, xtr, NULL, ntr, d, mean, sd);
    standard_apply(xt, xte, NULL, nte, d, mean, sd);
    LinFit *f = &fits[0];
    Rng r = shuffle_rng;
    lin_reset(f, (size_t)C * d + C, best_wd);
    for (int e = 1; e <= best_epochs; e++) {
        if (canceled(cancel)) {
            gs_errf(err, "canceled");
            goto out;
        }
        double loss = lin_epoch(f, xs, ytr, ntr, d, C, cfg->lr, &r);
        if (!isfinite(loss)) {
            gs_errf(err, "linear_eval: refit diverged (loss %g) at weight decay %g, epoch %d",
                    loss, (double)best_wd, e);
            goto out;
        }
    }
    res->val_top1 = best_acc;
    res->weight_decay = best_wd;
    res->epochs = best_epochs;
    res->train_top1 = lin_accuracy(f, xs, ytr, ntr, d, C);
    res->test_top1 = lin_accuracy(f, xt, yte, nte, d, C);
    rc = 0;
out:
    for (int i = 0; i < nfits; i++)
        linfit_free(&fits[i]);
    free(xs);
    free(xt);
    free(ys);
    free(order);
    free(scratch);
    free(next);
    free(mean);
    free(sd);
    return rc;
}
