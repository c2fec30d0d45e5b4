/* eval.h — evaluation against true labels. Of frozen features: the linear probe, a
 * multinomial logistic regression chosen on a validation split of the training set (never the
 * test set; linear_probe.c), and a weighted kNN classifier (cosine similarity, InstDisc-style
 * vote weights exp(sim / T); knn.c). Of a clustering: purity and NMI (cluster_metrics.c), a
 * diagnostic of the pseudo-labels that training never uses. Features come in as plain (n, d)
 * float matrices; this module knows nothing of networks. */
#ifndef GS_EVAL_H
#define GS_EVAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "gs/err.h"

typedef struct {
    int epochs;              /* passes over the training features per candidate */
    int batch;               /* mini-batch size */
    float lr;                /* Adam learning rate */
    float val_fraction;      /* share of the training set held out for selection, e.g. 0.1 */
    float weight_decays[8];  /* candidate L2 penalties */
    int n_weight_decays;
    uint64_t seed;
} LinearEvalConfig;

typedef struct {
    double test_top1;        /* accuracy on the test set of the model refit on all of train */
    double val_top1;         /* validation accuracy of the chosen candidate */
    double train_top1;
    float weight_decay;      /* chosen */
    int epochs;              /* chosen (best validation epoch of the chosen candidate) */
} LinearEvalResult;

LinearEvalConfig linear_eval_defaults(void);
/* Standardises features with the training mean/std, selects weight decay and epoch count on
 * the validation split, refits on the whole training set, reports test accuracy. */
int linear_eval(const float *xtr, const int32_t *ytr, int ntr, const float *xte,
                const int32_t *yte, int nte, int d, int n_classes, const LinearEvalConfig *cfg,
                const atomic_int *cancel, LinearEvalResult *res, GsErr *err);

/* Top-1 accuracy of weighted kNN: k neighbours by cosine similarity, votes exp(sim / temp). */
int knn_accuracy(const float *xtr, const int32_t *ytr, int ntr, const float *xte,
                 const int32_t *yte, int nte, int d, int n_classes, int k, float temp,
                 double *top1, GsErr *err);

/* Both diagnostics return NaN when n < 1 or an assignment / label is out of range. */
/* Fraction of points whose cluster's majority label is their label. */
double cluster_purity(const int32_t *assign, const int32_t *labels, int n, int k, int n_classes);
/* Normalised mutual information, arithmetic normalisation (scikit-learn's default): 1 when
 * both sides have a single value, 0 when only one side does. */
double cluster_nmi(const int32_t *assign, const int32_t *labels, int n, int k, int n_classes);

#endif
