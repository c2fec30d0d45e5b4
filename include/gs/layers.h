/* layers.h — the network's operations as forward/backward pairs of free functions on
 * float32 NCHW buffers (llm.c style). Forward writes its output and keeps in `saved`
 * buffers what backward needs; backward ADDS into every gradient it produces (dinp, dw, db),
 * so zeroing all gradients is one memset. A NULL gradient pointer means "not wanted".
 * No function here allocates: scratch comes from the caller, sized by the *_ws_floats calls.
 * Loops over images or channels run on the OpenMP threads set with gs_threads_set. */
#ifndef GS_LAYERS_H
#define GS_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- conv2d: square kernel K, stride, zero padding, optional bias ---- */
typedef struct {
    int Cin, H, W;       /* input plane */
    int Cout, K, stride, pad;
    int Ho, Wo;          /* output plane, filled by conv2d_shape */
    int up;              /* 1, or: the input arrives as (H / up, W / up) planes, to be read
                          * upsampled by nearest neighbour, as upsample_forward would (the
                          * input's gradient leaves at that size too); conv2d_reads_upsampled */
} ConvShape;

/* Fills Ho, Wo (and up = 1); returns -1 when the geometry gives an empty output. */
int conv2d_shape(ConvShape *s, int Cin, int H, int W, int Cout, int K, int stride, int pad);
/* Scratch floats the conv needs for a batch of B images (per-thread im2col and GEMM
 * buffers, per-thread weight-gradient partials). */
size_t conv2d_ws_floats(const ConvShape *s, int B);
/* out (B, Cout, Ho, Wo) = conv(inp (B, Cin, H, W), w (Cout, Cin*K*K)) + b (Cout) or no bias */
void conv2d_forward(const ConvShape *s, int B, float *out, const float *inp, const float *w,
                    const float *b, float *ws);
/* How convolutions are computed. Others than 3x3 stride-1 "same" ones always use im2col +
 * SGEMM; those (nearly all of this product's) have a choice: CONV_AUTO picks per layer
 * (conv.c), the others force one for every such layer. Process-wide, for tests and
 * benchmarks that compare them; set before sizing a workspace (conv2d_ws_floats, a network's
 * net_finalize) and training, not during. */
typedef enum {
    CONV_AUTO,
    CONV_IM2COL,
    CONV_WINOGRAD,  /* F(2x2, 3x3) */
    CONV_DIRECT,
    CONV_WINOGRAD4  /* F(4x4, 3x3) */
} ConvAlgo;
void conv2d_set_algo(ConvAlgo a);
ConvAlgo conv2d_algo(void);
/* Whether the direct convolutions and Winograd F(4x4) may use their AVX2 + FMA kernels
 * where the CPU has them (the default); false forces their portable loops (F(4x4) by SGEMM;
 * the automatic choice then avoids it), which tests check too. Process-wide, like
 * conv2d_set_algo. */
void conv2d_allow_avx2(bool on);
/* Sets s->up = f when the algorithm taken for s can read its input upsampled by f (the
 * direct 3x3 kernels, from the smaller input: by 2 as four 2x2 convolutions, one per output
 * phase, else through padded planes filled upsampled; the upsampled map is never written or
 * read either way) and returns true; else leaves s as it is: false. */
bool conv2d_reads_upsampled(ConvShape *s, int f);
/* dinp (B, Cin, H, W) +=, dw (Cout, Cin*K*K) +=, db (Cout) += ; any may be NULL */
void conv2d_backward(const ConvShape *s, int B, float *dinp, float *dw, float *db,
                     const float *dout, const float *inp, const float *w, float *ws);

/* ---- batch normalisation over (B, C, S): S = H*W for conv maps, S = 1 for dense ---- */
/* Training mode: normalise with the batch statistics (biased variance), save mean (C) and
 * rstd (C) for backward, and update running_mean/running_var (C) with
 * run = (1 - momentum) * run + momentum * batch, the running variance unbiased (PyTorch). */
void batchnorm_forward_train(float *out, float *mean, float *rstd, float *run_mean,
                             float *run_var, const float *inp, const float *gamma,
                             const float *beta, int B, int C, int S, float eps,
                             float momentum);
/* Inference mode: normalise with the running statistics. */
void batchnorm_forward_infer(float *out, const float *inp, const float *gamma,
                             const float *beta, const float *run_mean, const float *run_var,
                             int B, int C, int S, float eps);
/* Backward of the training-mode forward. */
void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *mean, const float *rstd,
                        const float *gamma, int B, int C, int S);

/* Batch-norm followed by ReLU in the same pass: out = max(0, bn(inp)). Backward takes the
 * gradient at the ReLU's output and that output (its mask); the pre-ReLU map never exists. */
void batchnorm_relu_forward_train(float *out, float *mean, float *rstd, float *run_mean,
                                  float *run_var, const float *inp, const float *gamma,
                                  const float *beta, int B, int C, int S, float eps,
                                  float momentum);
void batchnorm_relu_forward_infer(float *out, const float *inp, const float *gamma,
                                  const float *beta, const float *run_mean,
                                  const float *run_var, int B, int C, int S, float eps);
/* The fused backward takes beta instead of the output: the ReLU's mask is recomputed from
 * inp exactly as forward decided it (one stream fewer to read). */
void batchnorm_relu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *mean, const float *rstd,
                             const float *gamma, const float *beta, int B, int C, int S);
/* The same two backwards writing dinp (=) instead of adding to it: for a caller whose dinp
 * has no other contribution, so it need not be zeroed first (net.c). */
void batchnorm_backward_set(float *dinp, float *dgamma, float *dbeta, const float *dout,
                            const float *inp, const float *mean, const float *rstd,
                            const float *gamma, int B, int C, int S);
void batchnorm_relu_backward_set(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                 const float *inp, const float *mean, const float *rstd,
                                 const float *gamma, const float *beta, int B, int C, int S);

/* ---- batch normalisation over a batch shared by several processes ----
 * SimCLR's global batch-norm: each process holds a share of the batch (B images, possibly
 * none) and the caller combines the shares' figures across processes (nothing here knows
 * how). relu (0 or 1) selects the fused batch-norm + ReLU variant, as above. */
/* This share's per-channel mean (C) and sum of squared deviations from it, m2 (C), over its
 * B * S values (both 0 when B is 0), taken as batchnorm_forward_train takes them. */
void batchnorm_share_moments(const float *inp, int B, int C, int S, double *mean, double *m2);
/* Training-mode forward of this share with the whole batch's statistics: gmean, gm2 (C) over
 * gn values per channel (biased variance gm2 / gn; the running variance gets gm2 / (gn - 1));
 * saves mean and rstd (C) for backward like batchnorm_forward_train. */
void batchnorm_forward_global(float *out, float *mean, float *rstd, float *run_mean,
                              float *run_var, const float *inp, const float *gamma,
                              const float *beta, int B, int C, int S, const double *gmean,
                              const double *gm2, double gn, float eps, float momentum,
                              int relu);
/* This share's backward sums per channel: sdy (C) = sum dy and sdyx (C) = sum dy (x - mean),
 * dy masked by the ReLU's output relu_out when not NULL; overwritten. */
void batchnorm_share_dsums(const float *dout, const float *relu_out, const float *inp,
                           const float *mean, int B, int C, int S, double *sdy, double *sdyx);
/* Backward of this share: dgamma, dbeta (C) += this share's own sums (sdy, sdyx: the caller
 * sums parameter gradients across processes later), dinp += the gradient through the whole
 * batch's statistics, from the summed gsdy, gsdyx over gn values. */
void batchnorm_backward_global(float *dinp, float *dgamma, float *dbeta, const float *dout,
                               const float *relu_out, const float *inp, const float *mean,
                               const float *rstd, const float *gamma, int B, int C, int S,
                               const double *sdy, const double *sdyx, const double *gsdy,
                               const double *gsdyx, double gn);

/* ---- element-wise ---- */
void relu_forward(float *out, const float *inp, size_t n);
/* dinp += dout * (out > 0) */
void relu_backward(float *dinp, const float *dout, const float *out, size_t n);
void sigmoid_forward(float *out, const float *inp, size_t n);
/* dinp += dout * out * (1 - out) */
void sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n);
/* out = a + b (residual add) */
void add_forward(float *out, const float *a, const float *b, size_t n);
/* da += dout, db += dout */
void add_backward(float *da, float *db, const float *dout, size_t n);

/* ---- max-pool: K x K window, stride, no padding; idx (B, C, Ho, Wo) keeps the argmax ---- */
void maxpool_forward(float *out, int32_t *idx, const float *inp, int B, int C, int H, int W,
                     int K, int stride);
void maxpool_backward(float *dinp, const float *dout, const int32_t *idx, int B, int C,
                      int H, int W, int K, int stride);
/* dinp = (not +=) the scattered gradient, zero where no window's maximum was. */
void maxpool_backward_set(float *dinp, const float *dout, const int32_t *idx, int B, int C,
                          int H, int W, int K, int stride);

/* ---- nearest upsampling by an integer factor: (B, C, H, W) -> (B, C, H*f, W*f) ---- */
void upsample_forward(float *out, const float *inp, int B, int C, int H, int W, int f);
void upsample_backward(float *dinp, const float *dout, int B, int C, int H, int W, int f);

/* ---- global average pool: (B, C, S) -> (B, C) ---- */
void gap_forward(float *out, const float *inp, int B, int C, int S);
void gap_backward(float *dinp, const float *dout, int B, int C, int S);

/* ---- linear: out (B, O) = inp (B, I) w^T + b, w (O, I), b (O) or NULL ---- */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int B,
                    int I, int O);
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int B, int I, int O);

#endif
