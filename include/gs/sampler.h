/* sampler.h — the order in which SimCLR sees the training images each epoch. Plain mode
 * shuffles. Guided mode (G-SimCLR) shuffles the members of each pseudo-label cluster, then
 * fills each batch with distinct clusters drawn with probability proportional to how many
 * unused members they have left, one unused member from each, so no cluster repeats in a batch
 * while enough clusters remain; batches where one had to repeat are counted. Every image is
 * used exactly once per epoch; the last incomplete batch is dropped. The order of an epoch is
 * a function of the RNG state at its start, so a checkpoint needs only that state and the
 * batch index. No allocation after sampler_init. */
#ifndef GS_SAMPLER_H
#define GS_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "gs/err.h"
#include "gs/rng.h"

typedef struct {
    int n, k, batch;
    bool guided;
    int32_t *order;       /* (n) this epoch's image ids, batch after batch */
    int n_batches;        /* n / batch */
    int repeat_batches;   /* batches of this epoch holding a cluster twice */
    /* internal */
    int32_t *members;     /* (n) image ids grouped by cluster */
    int32_t *start;       /* (k + 1) offsets into members */
    int32_t *left;        /* (k) unused members this epoch */
    int32_t *tree;        /* (k + 1) Fenwick tree over the weights */
    int32_t *picked;      /* (k) clusters of the current batch */
    void *mem;            /* the one allocation */
} Sampler;

/* guided: assign (n) gives each image's cluster in [0, k); plain: assign may be NULL, k 1. */
int sampler_init(Sampler *s, const int32_t *assign, int n, int k, int batch, bool guided,
                 GsErr *err);
void sampler_free(Sampler *s);
/* Lays out the next epoch's order from rng and counts its repeated-cluster batches. */
void sampler_epoch(Sampler *s, Rng *rng);
/* The image ids of batch b (batch of them). */
static inline const int32_t *sampler_batch(const Sampler *s, int b)
{
    return s->order + (long)b * s->batch;
}

#endif
