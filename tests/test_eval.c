/* test_eval.c — linear evaluation and kNN: accuracy on separable blobs (test rows standardised
 * with the training statistics) and the majority rate on labels without signal, agreement
 * with scikit-learn on an overlapping problem, selection blind to the test set, the chosen
 * (weight decay, epochs) being the first best, kNN against a brute-force reference (exact
 * predictions, several GEMM tiles and blocks, k > ntr, ties), input errors and cancellation
 * before and during a run. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gs/blas.h"
#include "gs/eval.h"
#include "gs/rng.h"
#include "harness.h"

/* Gaussian blobs: class means mu (C, d), drawn with sd `spread` from seed mseed; rows get a
 * uniform label and unit noise scaled by `noise`, from the stream r. */
static void blob_means(float *mu, int C, int d, float spread, uint64_t mseed)
{
    Rng r;
    rng_seed(&r, mseed);
    for (int i = 0; i < C * d; i++)
        mu[i] = spread * rng_normal(&r);
}

static void blob_rows(float *x, int32_t *y, int n, int d, int C, const float *mu, float noise,
                      Rng *r)
{
    for (int i = 0; i < n; i++) {
        int c = (int)rng_below(r, (uint64_t)C);
        y[i] = c;
        for (int j = 0; j < d; j++)
            x[(size_t)i * d + j] = mu[(size_t)c * d + j] + noise * rng_normal(r);
    }
}

typedef struct {
    int ntr, nte, d, C;
    float *xtr, *xte; // (ntr, d), (nte, d)
    int32_t *ytr, *yte;
} Problem;

static int problem_make(Problem *p, int ntr, int nte, int d, int C, float spread, float noise,
                        uint64_t seed)
{
    *p = (Problem){.ntr = ntr, .nte = nte, .d = d, .C = C};
    p->xtr = malloc((size_t)ntr * d * sizeof *p->xtr);
    p->xte = malloc((size_t)nte * d * sizeof *p->xte);
    p->ytr = malloc((size_t)ntr * sizeof *p->ytr);
    p->yte = malloc((size_t)nte * sizeof *p->yte);
    float *mu = malloc((size_t)C * d * sizeof *mu);
    if (!p->xtr || !p->xte || !p->ytr || !p->yte || !mu) {
        free(mu);
        return -1;
    }
    Rng r;
    blob_means(mu, C, d, spread, seed);
    rng_seed(&r, seed + 1);
    blob_rows(p->xtr, p->ytr, ntr, d, C, mu, noise, &r);
    blob_rows(p->xte, p->yte, nte, d, C, mu, noise, &r);
    free(mu);
    return 0;
}

static void problem_free(Problem *p)
{
    free(p->xtr);
    free(p->xte);
    free(p->ytr);
    free(p->yte);
}

static LinearEvalConfig small_config(void)
{
    LinearEvalConfig c = linear_eval_defaults();
    c.epochs = 20;
    c.batch = 64;
    c.lr = 1e-2f;
    return c;
}

static int run_linear(const Problem *p, const LinearEvalConfig *c, LinearEvalResult *res)
{
    GsErr err;
    int rc = linear_eval(p->xtr, p->ytr, p->ntr, p->xte, p->yte, p->nte, p->d, p->C, c, NULL,
                         res, &err);
    CHECK_MSG(rc == 0, "linear_eval: %s", err.msg);
    return rc;
}

TEST(eval_linear_separable_blobs)
{
    Problem p;
    if (problem_make(&p, 800, 400, 8, 4, 3.0f, 1.0f, 11)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    LinearEvalConfig c = small_config();
    LinearEvalResult res;
    if (run_linear(&p, &c, &res) == 0) {
        CHECK_MSG(res.test_top1 > 0.97, "test top-1 %.4f", res.test_top1);
        CHECK_MSG(res.train_top1 > 0.97, "train top-1 %.4f", res.train_top1);
        CHECK_MSG(res.val_top1 > 0.97, "val top-1 %.4f", res.val_top1);
        CHECK(res.epochs >= 1 && res.epochs <= c.epochs);
        int known = 0;
        for (int i = 0; i < c.n_weight_decays; i++)
            known |= res.weight_decay == c.weight_decays[i];
        CHECK_MSG(known, "chosen weight decay %g is not a candidate", (double)res.weight_decay);
    }
    /* Test rows standardised with the training statistics, not their own: a test set made of
     * the training rows of class 0 alone must still be recognised as class 0. */
    int m = 0;
    for (int i = 0; i < p.ntr && m < p.nte; i++)
        if (p.ytr[i] == 0) {
            memcpy(p.xte + (size_t)m * p.d, p.xtr + (size_t)i * p.d, (size_t)p.d * sizeof *p.xte);
            p.yte[m++] = 0;
        }
    p.nte = m;
    if (run_linear(&p, &c, &res) == 0)
        CHECK_MSG(res.test_top1 > 0.97, "class-0 rows: test top-1 %.4f", res.test_top1);
    problem_free(&p);
}

/* Features that carry no information: the best a classifier can do is to predict the
 * majority class, which the bias learns (labels 55% class 0, 15% each other class). */
TEST(eval_linear_random_labels_is_chance)
{
    Problem p;
    /* spread 0: every class has the same mean */
    if (problem_make(&p, 600, 2000, 16, 4, 0.0f, 1.0f, 12)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    Rng r;
    rng_seed(&r, 120);
    for (int i = 0; i < p.ntr + p.nte; i++) {
        float u = rng_uniform(&r);
        int32_t y = u < 0.55f ? 0 : 1 + (int32_t)((u - 0.55f) / 0.15f);
        y = y > 3 ? 3 : y;
        if (i < p.ntr)
            p.ytr[i] = y;
        else
            p.yte[i - p.ntr] = y;
    }
    LinearEvalConfig c = small_config();
    LinearEvalResult res;
    if (run_linear(&p, &c, &res) == 0) {
        /* 2000 test rows: the sd of the majority rate is about 0.011 */
        CHECK_MSG(fabs(res.test_top1 - 0.55) < 0.05, "test top-1 %.4f, majority rate 0.55",
                  res.test_top1);
    }
    problem_free(&p);
}

/* Reference: scikit-learn 1.2.1 LogisticRegression(C=1.0, lbfgs, multinomial, max_iter=5000)
 * on the same rows (dumped once by a throwaway program using these generators), standardised
 * with the training mean/std, scored 0.836 on the test rows (0.834 to 0.837 for C from 0.01
 * to 100). Computed once and hard-coded. */
#define SKLEARN_TOP1 0.836

TEST(eval_linear_matches_sklearn)
{
    Problem p;
    if (problem_make(&p, 1000, 1000, 10, 3, 0.5f, 1.0f, 13)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    LinearEvalConfig c = small_config();
    LinearEvalResult res;
    if (run_linear(&p, &c, &res) == 0)
        CHECK_MSG(fabs(res.test_top1 - SKLEARN_TOP1) <= 0.02, "test top-1 %.4f vs sklearn %.4f",
                  res.test_top1, SKLEARN_TOP1);
    problem_free(&p);
}

/* The choice of settings must not depend on the test set: scrambling the test labels and
 * features changes the test score but nothing chosen on the training set. */
TEST(eval_linear_selection_ignores_test_set)
{
    Problem p;
    if (problem_make(&p, 500, 300, 6, 3, 0.6f, 1.0f, 14)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    LinearEvalConfig c = small_config();
    LinearEvalResult a, b, again;
    if (run_linear(&p, &c, &a) || run_linear(&p, &c, &again)) {
        problem_free(&p);
        return;
    }
    /* deterministic */
    CHECK(memcmp(&a, &again, sizeof a) == 0);

    Rng r;
    rng_seed(&r, 99);
    for (int i = 0; i < p.nte; i++)
        p.yte[i] = (int32_t)rng_below(&r, (uint64_t)p.C);
    for (int i = 0; i < p.nte * p.d; i++)
        p.xte[i] = 5.0f * rng_normal(&r);
    if (run_linear(&p, &c, &b) == 0) {
        CHECK(b.weight_decay == a.weight_decay);
        CHECK_INT_EQ(b.epochs, a.epochs);
        CHECK(b.val_top1 == a.val_top1);
        CHECK(b.train_top1 == a.train_top1);
        CHECK_MSG(b.test_top1 != a.test_top1, "test top-1 %.4f did not change", a.test_top1);
    }
    problem_free(&p);
}

/* The chosen (weight decay, epochs) is the first best on validation. Every candidate starts
 * from the same state and sees the same shuffles, so a rerun with one candidate and E epochs
 * follows the same trajectory and reports the best of its first E epochs: the chosen
 * candidate cut to the chosen epochs reproduces everything, one epoch fewer scores lower,
 * and no other candidate scores higher (an earlier one not even equal). */
TEST(eval_linear_choice_is_best)
{
    Problem p;
    if (problem_make(&p, 500, 300, 6, 3, 0.6f, 1.0f, 15)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    LinearEvalConfig c = small_config();
    c.lr = 2e-3f;
    c.weight_decays[0] = 0.0f;
    c.weight_decays[1] = 0.3f;
    c.weight_decays[2] = 3.0f;
    c.n_weight_decays = 3;
    LinearEvalResult a, b;
    if (run_linear(&p, &c, &a)) {
        problem_free(&p);
        return;
    }
    int chosen = -1;
    for (int k = c.n_weight_decays - 1; k >= 0; k--)
        if (c.weight_decays[k] == a.weight_decay)
            chosen = k;
    CHECK_MSG(chosen >= 0, "chosen weight decay %g is not a candidate", (double)a.weight_decay);
    LinearEvalConfig one = c;
    one.n_weight_decays = 1;
    for (int k = 0; k < c.n_weight_decays; k++) {
        one.weight_decays[0] = c.weight_decays[k];
        if (k == chosen) {
            one.epochs = a.epochs;
            if (run_linear(&p, &one, &b) == 0) {
                CHECK_INT_EQ(b.epochs, a.epochs);
                CHECK(b.val_top1 == a.val_top1);
                CHECK(b.test_top1 == a.test_top1);
                CHECK(b.train_top1 == a.train_top1);
            }
            if (a.epochs > 1) {
                one.epochs = a.epochs - 1;
                if (run_linear(&p, &one, &b) == 0)
                    CHECK_MSG(b.val_top1 < a.val_top1, "epoch %d already scored %.4f",
                              a.epochs - 1, b.val_top1);
            }
            continue;
        }
        one.epochs = c.epochs;
        if (run_linear(&p, &one, &b) == 0) {
            CHECK_MSG(k < chosen ? b.val_top1 < a.val_top1 : b.val_top1 <= a.val_top1,
                      "weight decay %g scores %.4f, chosen %g scores %.4f",
                      (double)c.weight_decays[k], b.val_top1, (double)a.weight_decay,
                      a.val_top1);
        }
    }
    problem_free(&p);
}

/* Equal validation scores keep the earlier candidate: a penalty of 1e-12 changes no float
 * gradient, so both candidates follow the same trajectory and tie. */
TEST(eval_linear_tie_keeps_first_candidate)
{
    Problem p;
    if (problem_make(&p, 300, 100, 6, 3, 0.6f, 1.0f, 18)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    LinearEvalConfig c = small_config();
    c.weight_decays[0] = 1e-12f;
    c.weight_decays[1] = 0.0f;
    c.n_weight_decays = 2;
    LinearEvalResult res;
    if (run_linear(&p, &c, &res) == 0)
        CHECK_MSG(res.weight_decay == 1e-12f, "chose %g", (double)res.weight_decay);
    problem_free(&p);
}

/* Each candidate trains on one thread and each kNN test row is decided by one thread, so the
 * thread count changes nothing. */
TEST(eval_same_result_for_any_thread_count)
{
    Problem p;
    if (problem_make(&p, 2300, 300, 8, 3, 0.4f, 1.0f, 24)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    const int saved = gs_threads_get();
    LinearEvalConfig c = small_config();
    c.epochs = 5;
    LinearEvalResult ref, res;
    double kref = -1, kres = -1;
    GsErr err;
    gs_threads_set(1);
    int rc = run_linear(&p, &c, &ref);
    rc |= knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, 20, 0.1f, &kref, &err);
    for (int t = 2; t <= 3 && rc == 0; t++) {
        gs_threads_set(t);
        if (run_linear(&p, &c, &res) == 0)
            CHECK_MSG(memcmp(&res, &ref, sizeof res) == 0, "linear_eval differs on %d threads", t);
        CHECK(knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, 20, 0.1f, &kres,
                           &err) == 0);
        CHECK_MSG(kres == kref, "knn %.6f on %d threads vs %.6f on 1", kres, t, kref);
    }
    CHECK(rc == 0);
    gs_threads_set(saved);
    problem_free(&p);
}

TEST(eval_linear_errors)
{
    Problem p;
    if (problem_make(&p, 40, 20, 5, 3, 1.0f, 1.0f, 16)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    LinearEvalConfig c = small_config();
    LinearEvalResult res;
    GsErr err;
    int rc;

    p.xtr[7 * p.d + 2] = NAN;
    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &c, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "train feature row 7") != NULL, "message: %s", err.msg);
    p.xtr[7 * p.d + 2] = 0.0f;

    p.xte[3 * p.d] = INFINITY;
    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &c, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "test feature row 3") != NULL, "message: %s", err.msg);
    p.xte[3 * p.d] = 0.0f;

    p.ytr[5] = 3;
    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &c, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "label of row 5 is 3") != NULL, "message: %s", err.msg);
    p.ytr[5] = 0;

    p.yte[2] = -1;
    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &c, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "test label of row 2") != NULL, "message: %s", err.msg);
    p.yte[2] = 0;

    rc = linear_eval(p.xtr, p.ytr, 1, p.xte, p.yte, p.nte, p.d, p.C, &c, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "at least 2 training rows") != NULL, "message: %s", err.msg);

    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, 0, p.C, &c, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "d must be >= 1") != NULL, "message: %s", err.msg);

    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, 1, &c, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "at least 2 classes") != NULL, "message: %s", err.msg);

    LinearEvalConfig bad = c;
    bad.val_fraction = 1.0f;
    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &bad, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "val_fraction") != NULL, "message: %s", err.msg);
    bad = c;
    bad.weight_decays[1] = NAN;
    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &bad, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "weight_decays[1]") != NULL, "message: %s", err.msg);
    bad = c;
    bad.epochs = 0;
    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &bad, NULL, &res, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "epochs") != NULL, "message: %s", err.msg);

    /* the smallest legal problem still runs: one fit row, one validation row */
    rc = linear_eval(p.xtr, p.ytr, 2, p.xte, p.yte, p.nte, p.d, p.C, &c, NULL, &res, &err);
    CHECK_MSG(rc == 0, "n = 2: %s", err.msg);
    problem_free(&p);
}

TEST(eval_linear_cancel)
{
    Problem p;
    if (problem_make(&p, 100, 20, 4, 2, 1.0f, 1.0f, 17)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    LinearEvalConfig c = small_config();
    LinearEvalResult res;
    GsErr err;
    atomic_int cancel = 1;
    int rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &c, &cancel, &res,
                         &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strcmp(err.msg, "canceled") == 0, "message: %s", err.msg);
    cancel = 0;
    rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &c, &cancel, &res,
                     &err);
    CHECK_MSG(rc == 0, "not canceled: %s", err.msg);
    problem_free(&p);
}

typedef struct {
    atomic_int flag;
    long delay_ns;
} Canceller;

static void *cancel_later(void *arg)
{
    Canceller *c = arg;
    struct timespec ts = {0, c->delay_ns};
    nanosleep(&ts, NULL);
    atomic_store_explicit(&c->flag, 1, memory_order_relaxed);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Cancelling while the candidates train stops them between epochs: a run that would take
 * many seconds returns "canceled" soon after the flag is set. */
TEST(eval_linear_cancel_midway)
{
    Problem p;
    if (problem_make(&p, 20000, 10, 128, 10, 0.1f, 1.0f, 19)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    LinearEvalConfig c = linear_eval_defaults();
    c.epochs = 1000; /* about 25 s if nothing stops it */
    LinearEvalResult res;
    GsErr err;
    Canceller cn = {.flag = 0, .delay_ns = 30000000};
    pthread_t th;
    if (pthread_create(&th, NULL, cancel_later, &cn) != 0) {
        CHECK_MSG(0, "pthread_create failed");
        problem_free(&p);
        return;
    }
    double t0 = now_s();
    int rc = linear_eval(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, &c, &cn.flag, &res,
                         &err);
    double secs = now_s() - t0;
    pthread_join(th, NULL);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(rc == -1 && strcmp(err.msg, "canceled") == 0, "message: %s", err.msg);
    CHECK_MSG(secs < 2.0, "took %.2f s to notice the cancel", secs);
    problem_free(&p);
}

/* ---- kNN ---- */

/* Brute force in double: full sort of every test row's similarities (ties to the lower
 * training index), votes exp(sim / temp) without any shift, argmax (ties to the lower class).
 * pred (nte) gets the predicted classes. */
typedef struct {
    double s;
    int i;
} Nb;

static int nb_cmp(const void *a, const void *b)
{
    const Nb *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int knn_reference(const Problem *p, int k, double temp, int *pred)
{
    const int d = p->d;
    Nb *nb = malloc((size_t)p->ntr * sizeof *nb);
    double *votes = malloc((size_t)p->C * sizeof *votes);
    if (!nb || !votes) {
        free(nb);
        free(votes);
        return -1;
    }
    if (k > p->ntr)
        k = p->ntr;
    for (int t = 0; t < p->nte; t++) {
        const float *q = p->xte + (size_t)t * d;
        double qn = 0;
        for (int j = 0; j < d; j++)
            qn += (double)q[j] * q[j];
        for (int i = 0; i < p->ntr; i++) {
            const float *x = p->xtr + (size_t)i * d;
            double dot = 0, xn = 0;
            for (int j = 0; j < d; j++) {
                dot += (double)q[j] * x[j];
                xn += (double)x[j] * x[j];
            }
            nb[i].s = dot / sqrt(qn * xn);
            nb[i].i = i;
        }
        qsort(nb, (size_t)p->ntr, sizeof *nb, nb_cmp);
        for (int c = 0; c < p->C; c++)
            votes[c] = 0;
        for (int j = 0; j < k; j++)
            votes[p->ytr[nb[j].i]] += exp(nb[j].s / temp);
        int best = 0;
        for (int c = 1; c < p->C; c++)
            if (votes[c] > votes[best])
                best = c;
        pred[t] = best;
    }
    free(nb);
    free(votes);
    return 0;
}

/* Exact agreement with the reference: the accuracy over all rows (several GEMM tiles of
 * training rows and several blocks of test rows), and each sampled row's predicted class,
 * recovered by scoring that row alone against every possible label. */
static void knn_against_reference(Problem *p, int k, float temp, int rows_checked)
{
    int *pred = malloc((size_t)p->nte * sizeof *pred);
    if (!pred || knn_reference(p, k, temp, pred)) {
        free(pred);
        CHECK_MSG(0, "out of memory");
        return;
    }
    long correct = 0;
    for (int t = 0; t < p->nte; t++)
        correct += pred[t] == p->yte[t];
    double top1 = -1;
    GsErr err;
    int rc = knn_accuracy(p->xtr, p->ytr, p->ntr, p->xte, p->yte, p->nte, p->d, p->C, k, temp,
                          &top1, &err);
    CHECK_MSG(rc == 0, "knn_accuracy: %s", err.msg);
    CHECK_MSG(top1 == (double)correct / p->nte, "k %d: top-1 %.6f vs reference %.6f", k, top1,
              (double)correct / p->nte);
    for (int t = 0; t < rows_checked && t < p->nte; t++) {
        int hits = 0, got = -1;
        for (int32_t c = 0; c < p->C; c++) {
            double one = -1;
            rc = knn_accuracy(p->xtr, p->ytr, p->ntr, p->xte + (size_t)t * p->d, &c, 1, p->d,
                              p->C, k, temp, &one, &err);
            CHECK_MSG(rc == 0, "knn_accuracy: %s", err.msg);
            if (one == 1.0) {
                hits++;
                got = c;
            }
        }
        CHECK_MSG(hits == 1 && got == pred[t], "k %d row %d: predicted %d (%d hits), "
                  "reference %d", k, t, got, hits, pred[t]);
    }
    free(pred);
}

TEST(eval_knn_matches_bruteforce)
{
    Problem p;
    /* 2500 training rows span two similarity tiles, 300 test rows two blocks; blobs overlap
     * enough that accuracy is far from 0 and 1, so a wrong neighbour set shows */
    if (problem_make(&p, 2500, 300, 12, 5, 0.35f, 1.0f, 21)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    knn_against_reference(&p, 20, 0.1f, 12);
    knn_against_reference(&p, 1, 0.5f, 12);
    problem_free(&p);
}

TEST(eval_knn_k_above_ntr)
{
    Problem p;
    if (problem_make(&p, 50, 40, 6, 3, 0.5f, 1.0f, 22)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    knn_against_reference(&p, 1000, 0.07f, 40);
    double a = -1, b = -2;
    GsErr err;
    CHECK(knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, 1000, 0.07f, &a,
                       &err) == 0);
    CHECK(knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, 50, 0.07f, &b,
                       &err) == 0);
    CHECK(a == b);
    problem_free(&p);
}

/* Equal similarities go to the earlier training row. Rows 0 and 1 are the same vector with
 * labels 0 and 1; with k = 3 the neighbours of q are rows 2, 3 and then row 0 (not 1), and
 * with temperature 1 the votes are e^0.995 + e^0.707 for class 0 against e^1 for class 1.
 * Keeping row 1 instead would flip the answer to class 1. */
TEST(eval_knn_ties_prefer_earlier_rows)
{
    float xtr[4 * 2] = {1, 1, 1, 1, 1, 0, 1, 0.1f}; // (4, 2)
    int32_t ytr[4] = {0, 1, 1, 0};
    float q[2] = {1, 0};
    int32_t want = 0;
    double top1 = -1;
    GsErr err;
    int rc = knn_accuracy(xtr, ytr, 4, q, &want, 1, 2, 2, 3, 1.0f, &top1, &err);
    CHECK_MSG(rc == 0, "knn_accuracy: %s", err.msg);
    CHECK_MSG(top1 == 1.0, "predicted class 1: the tie kept the later row");
}

TEST(eval_knn_errors)
{
    Problem p;
    if (problem_make(&p, 30, 10, 4, 3, 1.0f, 1.0f, 23)) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    double top1;
    GsErr err;
    int rc;
    p.xtr[4 * p.d + 1] = NAN;
    rc = knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, 5, 0.1f, &top1, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "train feature row 4") != NULL, "message: %s", err.msg);
    p.xtr[4 * p.d + 1] = 0.0f;

    p.yte[9] = 3;
    rc = knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, 5, 0.1f, &top1, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "test label of row 9 is 3") != NULL, "message: %s", err.msg);
    p.yte[9] = 0;

    rc = knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, 0, 0.1f, &top1, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "k must be >= 1") != NULL, "message: %s", err.msg);
    rc = knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, 5, 0.0f, &top1, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "temperature") != NULL, "message: %s", err.msg);
    rc = knn_accuracy(p.xtr, p.ytr, 0, p.xte, p.yte, p.nte, p.d, p.C, 5, 0.1f, &top1, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "training rows") != NULL, "message: %s", err.msg);
    rc = knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, 0, p.d, p.C, 5, 0.1f, &top1, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "test row") != NULL, "message: %s", err.msg);

    /* a zero feature vector is legal: similar to nothing, but no NaN */
    memset(p.xte, 0, (size_t)p.d * sizeof *p.xte);
    rc = knn_accuracy(p.xtr, p.ytr, p.ntr, p.xte, p.yte, p.nte, p.d, p.C, 5, 0.1f, &top1, &err);
    CHECK_MSG(rc == 0, "zero row: %s", err.msg);
    problem_free(&p);
}
