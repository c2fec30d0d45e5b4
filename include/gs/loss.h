/* loss.h — the losses: mean squared error, softmax cross-entropy and NT-Xent. Each forward
 * returns the loss (accumulated in double) and each backward ADDS the gradient of that loss
 * (times `scale`, usually 1) into its output. No allocation: NT-Xent takes a caller-sized
 * workspace. */
#ifndef GS_LOSS_H
#define GS_LOSS_H

#include <stddef.h>
#include <stdint.h>

/* mean over n of (pred - target)^2 */
float mse_forward(const float *pred, const float *target, size_t n);
void mse_backward(float *dpred, const float *pred, const float *target, size_t n, float scale);
/* The same over a part of a larger set (a process's share of a batch): the sum of
 * (pred - target)^2 over the part's n values, in double; and dpred (n) += scale * the
 * gradient of the mean over all `total` values. */
double mse_part_sum(const float *pred, const float *target, size_t n);
void mse_part_backward(float *dpred, const float *pred, const float *target, size_t n,
                       size_t total, float scale);

/* Mean over B of -log softmax(logits (B, C))[label]; probs (B, C) keeps the softmax for
 * backward. Returns NaN if a label is outside [0, C). */
float xent_forward(float *probs, const float *logits, const int32_t *labels, int B, int C);
void xent_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int C,
                   float scale);

/* NT-Xent (SimCLR) over 2N views z (2N, D): rows i and i+N are the two views of image i.
 * Rows are L2-normalised inside the loss; similarities are divided by tau; each row's
 * positive is its partner and its negatives the other 2N-2 rows; the loss is the mean over
 * the 2N rows of the cross-entropy. */
typedef struct {
    int N, D;
    float tau;
    float *zn;    /* (2N, D) normalised rows */
    float *norm;  /* (2N) row norms before normalising */
    float *prob;  /* (2N, 2N) softmax of each row (self masked out) */
} NtXent;

/* floats of workspace ntxent_bind needs for N images of dimension D */
size_t ntxent_ws_floats(int N, int D);
/* Points the workspace buffers into ws (ntxent_ws_floats(N, D) floats). */
void ntxent_bind(NtXent *nt, int N, int D, float tau, float *ws);
float ntxent_forward(NtXent *nt, const float *z);
/* dz (2N, D) += scale * dloss/dz */
void ntxent_backward(const NtXent *nt, float *dz, float scale);

#endif
