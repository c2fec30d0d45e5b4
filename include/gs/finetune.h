/* finetune.h — fine-tuning with few labels: a stratified, seeded subset of the labelled
 * training images (a fraction of each class, a part of it held out for model selection), and
 * the encoder's backbone plus a linear classifier trained end to end on it with softmax
 * cross-entropy, from given weights or from a random initialisation, the epoch kept being the
 * one with the best held-out accuracy. The test set is read once, by the kept model, after
 * every choice is made. It knows nothing of the run's sink or checkpoints: the eval stage
 * (stage_eval.c) reports and stores what it returns. */
#ifndef GS_FINETUNE_H
#define GS_FINETUNE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gs/augment.h"
#include "gs/dataset.h"
#include "gs/err.h"
#include "gs/model.h"
#include "gs/optim.h"

#define FINETUNE_MAX_FRACTIONS 8

typedef struct {
    float fractions[FINETUNE_MAX_FRACTIONS]; /* shares of each class's labels, in (0, 1] */
    int n_fractions;         /* 0 = no fine-tuning */
    int epochs;              /* passes over the fit part; the same for both starts */
    int batch;
    OptKind optimizer;
    float lr;                /* base rate, cosine-decayed to 0 over all the steps */
    float weight_decay;      /* on weights only (not biases, batch-norm) */
    float val_fraction;      /* share of each class's labelled images held out for selection */
    AugConfig aug;           /* views of the training images (not of validation or test) */
    bool from_scratch;       /* also train the same recipe from a random initialisation */
} FinetuneConfig;

FinetuneConfig finetune_defaults(void);

/* The labelled subset of a fraction: one seeded shuffle of all n images (the same for every
 * fraction, so a smaller fraction's images are among a larger one's); in its order, the first
 * k_c images of class c are taken, k_c = lround(fraction * n_c) but at least 2 (one to fit,
 * one to validate) and at most n_c; of those, the first v_c = lround(val_fraction * k_c),
 * kept in 1..k_c - 1, validate and the rest fit (a class with a single image only fits).
 * fit and val (malloc'd, image indices in that order) are the caller's to free. */
int finetune_subset(const int32_t *labels, int n, int n_classes, float fraction,
                    float val_fraction, uint64_t seed, int32_t **fit, int *n_fit, int32_t **val,
                    int *n_val, GsErr *err);

/* What a training reports after each of its epochs (1-based): the mean training loss and
 * the accuracy on the held-out part. */
typedef struct {
    void (*epoch)(void *ctx, int epoch, double loss, double val_top1);
    void *ctx;
    const atomic_int *cancel; /* non-zero stops the training at its next step ("canceled") */
} FinetuneHooks;

typedef struct {
    double test_top1;   /* of the kept epoch's model */
    double val_top1;    /* held-out accuracy of the kept epoch */
    int best_epoch;     /* the first epoch reaching the best held-out accuracy */
    double loss;        /* the last epoch's mean training loss */
    double seconds;
} FinetuneOutcome;

/* Trains an encoder built from enc (input shape set) whose weights are from's backbone and
 * head when from is not NULL (a network of the same config), else its initialisation at
 * init_seed, topped with a linear classifier over the backbone features h, on the images fit
 * of train, keeping the epoch with the best accuracy on the images val; then measures that
 * model on all of test. seed fixes the classifier's initial weights, each epoch's order and
 * views: the same seed gives both starts the same ones. */
int finetune_train(const FinetuneConfig *cfg, const EncoderConfig *enc, const Net *from,
                   uint64_t init_seed, uint64_t seed, const Dataset *train, const int32_t *fit,
                   int n_fit, const int32_t *val, int n_val, const Dataset *test,
                   const FinetuneHooks *hooks, FinetuneOutcome *out, GsErr *err);

#endif
