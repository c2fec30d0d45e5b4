/* batchnorm.c — batch normalisation over (B, C, S) with PyTorch semantics: training mode
 * normalises with the biased batch variance and feeds the unbiased one into the running
 * variance; inference uses the running statistics. Channels are independent, so the OpenMP
 * threads split the channels; every sum is taken in double in a fixed order, so results do
 * not depend on the thread count. The layer is memory-bound on conv maps, so each function
 * reads its inputs as few times as it can: forward once for the statistics and once to
 * normalise, backward once for the two sums and once for dinp. The batchnorm_relu_* variants
 * apply a following ReLU in the same passes, so the network never writes the pre-ReLU map;
 * their backward recomputes the ReLU's mask from the input, bit for bit as forward decided
 * it (bn_scale), rather than reading the output too: two streams per value instead of three
 * in each pass. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "gs/layers.h"

/* The loops below walk one (b, c) plane at a time: S contiguous floats. They sum in float
 * over blocks of BLOCK values, which vectorises, and add the block sums in double, so the
 * rounding stays that of a BLOCK-term float sum however large the batch (a gradient sum such
 * as dbeta often nearly cancels, and Adam turns its rounding into whole steps). Loads are
 * unconditional and masks are selects, so the loops vectorise. */
#define BLOCK 32

/* sum (x - shift) and sum (x - shift)^2 over one plane, added into *s1, *s2 */
static void plane_moments(const float *x, size_t n, float shift, double *s1, double *s2)
{
    double t1 = 0.0, t2 = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
        size_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        float a = 0.0f, q = 0.0f;
#pragma omp simd reduction(+ : a, q)
        for (size_t i = i0; i < i0 + m; i++) {
            float d = x[i] - shift;
            a += d;
            q += d * d;
        }
        t1 += a;
        t2 += q;
    }
    *s1 += t1;
    *s2 += t2;
}

/* The normalised value of a centred input d = x - mean: forward's output (before a fused
 * ReLU) and, recomputed, backward's ReLU mask; one expression, so both round alike. */
static inline float bn_value(float d, float scale, float shift)
{
    return d * scale + shift;
}

/* A fused ReLU's mask, as forward decided it: the ReLU's output y > 0 where a caller passes
 * y (the shared batch's backward), else bn_value(x - mean, scale, shift) > 0 recomputed with
 * forward's constants. relu false: no ReLU. */
typedef struct {
    bool relu;
    float scale, shift;
} Mask;

/* Forward's per-channel scale, from the rstd it saves, so backward can recompute it. */
static float bn_scale(float gamma, float rstd)
{
    return (float)((double)gamma * (double)rstd);
}

/* sum g and sum g * (x - mean) over one plane, g = dy, or with a fused ReLU g = dy where its
 * mask is set and 0 elsewhere */
static void plane_dsums(const float *restrict dy, const float *restrict y,
                        const float *restrict x, size_t n, float mean, const Mask *mk,
                        double *sdy, double *sdyx)
{
    double t1 = 0.0, t2 = 0.0;
    const float scale = mk->scale, shift = mk->shift;
    for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
        size_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        float a = 0.0f, c = 0.0f;
        if (mk->relu && !y) {
#pragma omp simd reduction(+ : a, c)
            for (size_t i = i0; i < i0 + m; i++) {
                float d = x[i] - mean, e = dy[i];
                float g = bn_value(d, scale, shift) > 0.0f ? e : 0.0f;
                a += g;
                c += g * d;
            }
        } else if (y) {
#pragma omp simd reduction(+ : a, c)
            for (size_t i = i0; i < i0 + m; i++) {
                float d = dy[i];
                float g = y[i] > 0.0f ? d : 0.0f;
                a += g;
                c += g * (x[i] - mean);
            }
        } else {
#pragma omp simd reduction(+ : a, c)
            for (size_t i = i0; i < i0 + m; i++) {
                a += dy[i];
                c += dy[i] * (x[i] - mean);
            }
        }
        t1 += a;
        t2 += c;
    }
    *sdy += t1;
    *sdyx += t2;
}

/* y = (x - center) * scale + shift over every plane of channel c. Centring first, rather
 * than folding the mean into the shift, keeps precision when |mean| >> std. */
static void channel_affine(float *out, const float *inp, int B, int C, int S, int c,
                           float center, float scale, float shift, bool relu)
{
    for (int b = 0; b < B; b++) {
        size_t off = ((size_t)b * C + c) * S;
        const float *x = inp + off;
        float *y = out + off;
        if (relu) {
            /* written so a NaN passes through, as in relu_forward */
#pragma omp simd
            for (int i = 0; i < S; i++) {
                float v = bn_value(x[i] - center, scale, shift);
                y[i] = v < 0.0f ? 0.0f : v;
            }
        } else {
#pragma omp simd
            for (int i = 0; i < S; i++)
                y[i] = bn_value(x[i] - center, scale, shift);
        }
    }
}

/* The training forward of channel c once its mean m and sum of squared deviations sq over
 * n values are known (from this batch, or combined from every process's share): batch
 * statistics saved for backward, running statistics updated (unbiased variance), y written. */
static void channel_train(float *out, float *mean, float *rstd, float *run_mean, float *run_var,
                          const float *inp, const float *gamma, const float *beta, int B, int C,
                          int S, int c, double m, double sq, double n, float eps, float momentum,
                          bool relu)
{
    double var = sq / n;
    double rs = 1.0 / sqrt(var + (double)eps);
    mean[c] = (float)m;
    rstd[c] = (float)rs;
    float scale = bn_scale(gamma[c], rstd[c]);
    double unbiased = n > 1 ? sq / (n - 1) : var;
    run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * m);
    run_var[c] = (float)((1.0 - momentum) * run_var[c] + momentum * unbiased);
    channel_affine(out, inp, B, C, S, c, mean[c], scale, beta[c], relu);
}

/* dx += k * g + k1 * (x - m) + k0 over every plane of channel c, g = dy (or, with a fused
 * ReLU, dy where its mask is set and 0 elsewhere): the backward's last pass, with the
 * per-channel constants folded by the caller. set: dx = instead of +=. */
static void channel_dinp(float *dinp, const float *dout, const float *relu_out,
                         const float *inp, int B, int C, int S, int c, float fk, float fk1,
                         float fk0, float fm, const Mask *mk, bool set)
{
    const float scale = mk->scale, shift = mk->shift;
    for (int b = 0; b < B; b++) {
        size_t off = ((size_t)b * C + c) * S;
        const float *dy = dout + off, *x = inp + off;
        float *dx = dinp + off;
        if (mk->relu && !relu_out) {
#pragma omp simd
            for (int i = 0; i < S; i++) {
                float d = x[i] - fm, e = dy[i];
                float g = bn_value(d, scale, shift) > 0.0f ? e : 0.0f;
                float v = fk * g + fk1 * d + fk0;
                dx[i] = set ? v : dx[i] + v;
            }
        } else if (relu_out) {
            const float *y = relu_out + off;
#pragma omp simd
            for (int i = 0; i < S; i++) {
                float d = dy[i];
                float g = y[i] > 0.0f ? d : 0.0f;
                float v = fk * g + fk1 * (x[i] - fm) + fk0;
                dx[i] = set ? v : dx[i] + v;
            }
        } else {
#pragma omp simd
            for (int i = 0; i < S; i++) {
                float v = fk * dy[i] + fk1 * (x[i] - fm) + fk0;
                dx[i] = set ? v : dx[i] + v;
            }
        }
    }
}

static void forward_train(float *out, float *mean, float *rstd, float *run_mean,
                          float *run_var, const float *inp, const float *gamma,
                          const float *beta, int B, int C, int S, float eps, float momentum,
                          bool relu)
{
    const double n = (double)B * S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        /* One pass over the data (it is memory-bound), with moments taken about one of the
         * channel's own values rather than zero: E[x^2] - E[x]^2 cancels badly when
         * |mean| >> std, E[(x-k)^2] - E[x-k]^2 only when |mean - k| >> std, which a sample
         * of the channel rarely is, and in double even 1e4 std away loses only ~8 digits. */
        const double k = inp[(size_t)c * S];
        double s1 = 0.0, s2 = 0.0;
        for (int b = 0; b < B; b++)
            plane_moments(inp + ((size_t)b * C + c) * S, (size_t)S, (float)k, &s1, &s2);
        double dm = s1 / n;
        double m = k + dm;
        double sq = s2 - s1 * dm;  /* sum of squared deviations from the mean */
        if (sq < 0.0)
            sq = 0.0;
        channel_train(out, mean, rstd, run_mean, run_var, inp, gamma, beta, B, C, S, c, m, sq,
                      n, eps, momentum, relu);
    }
}

static void forward_infer(float *out, const float *inp, const float *gamma, const float *beta,
                          const float *run_mean, const float *run_var, int B, int C, int S,
                          float eps, bool relu)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double scale = gamma[c] / sqrt((double)run_var[c] + (double)eps);
        channel_affine(out, inp, B, C, S, c, run_mean[c], (float)scale, beta[c], relu);
    }
}

/* With xhat = (x - mean) * rstd and N = B*S:
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = gamma * rstd / N * (N * dy - sum dy - xhat * sum(dy * xhat)). */
/* beta: with a fused ReLU (its mask recomputed), else NULL. */
static void backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                     const float *inp, const float *mean, const float *rstd, const float *gamma,
                     const float *beta, int B, int C, int S, bool set)
{
    const double n = (double)B * S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double sdy = 0.0, sdyx = 0.0;
        const double m = mean[c], rs = rstd[c];
        const Mask mk = {.relu = beta != NULL, .scale = bn_scale(gamma[c], rstd[c]),
                         .shift = beta ? beta[c] : 0.0f};
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * S;
            plane_dsums(dout + off, NULL, inp + off, (size_t)S, (float)m, &mk, &sdy, &sdyx);
        }
        double sdyxhat = sdyx * rs;
        if (dbeta)
            dbeta[c] += (float)sdy;
        if (dgamma)
            dgamma[c] += (float)sdyxhat;
        if (!dinp)
            continue;
        /* dx = k * dy + k1 * (x - mean) + k0 with the per-channel constants folded */
        double k = gamma[c] * rs;
        double k1 = -k * (sdyxhat / n) * rs;
        double k0 = -k * (sdy / n);
        float fk = (float)k, fk1 = (float)k1, fk0 = (float)k0, fm = (float)m;
        channel_dinp(dinp, dout, NULL, inp, B, C, S, c, fk, fk1, fk0, fm, &mk, set);
    }
}

void batchnorm_forward_train(float *out, float *mean, float *rstd, float *run_mean,
                             float *run_var, const float *inp, const float *gamma,
                             const float *beta, int B, int C, int S, float eps,
                             float momentum)
{
    forward_train(out, mean, rstd, run_mean, run_var, inp, gamma, beta, B, C, S, eps, momentum,
                  false);
}

void batchnorm_relu_forward_train(float *out, float *mean, float *rstd, float *run_mean,
                                  float *run_var, const float *inp, const float *gamma,
                                  const float *beta, int B, int C, int S, float eps,
                                  float momentum)
{
    forward_train(out, mean, rstd, run_mean, run_var, inp, gamma, beta, B, C, S, eps, momentum,
                  true);
}

void batchnorm_forward_infer(float *out, const float *inp, const float *gamma,
                             const float *beta, const float *run_mean, const float *run_var,
                             int B, int C, int S, float eps)
{
    forward_infer(out, inp, gamma, beta, run_mean, run_var, B, C, S, eps, false);
}

void batchnorm_relu_forward_infer(float *out, const float *inp, const float *gamma,
                                  const float *beta, const float *run_mean,
                                  const float *run_var, int B, int C, int S, float eps)
{
    forward_infer(out, inp, gamma, beta, run_mean, run_var, B, C, S, eps, true);
}

void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *mean, const float *rstd,
                        const float *gamma, int B, int C, int S)
{
    backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, NULL, B, C, S, false);
}

void batchnorm_backward_set(float *dinp, float *dgamma, float *dbeta, const float *dout,
                            const float *inp, const float *mean, const float *rstd,
                            const float *gamma, int B, int C, int S)
{
    backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, NULL, B, C, S, true);
}

void batchnorm_relu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *mean, const float *rstd,
                             const float *gamma, const float *beta, int B, int C, int S)
{
    backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, beta, B, C, S, false);
}

void batchnorm_relu_backward_set(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                 const float *inp, const float *mean, const float *rstd,
                                 const float *gamma, const float *beta, int B, int C, int S)
{
    backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, beta, B, C, S, true);
}

/* ---- a batch shared by several processes ----------------------------------------------- */

void batchnorm_share_moments(const float *inp, int B, int C, int S, double *mean, double *m2)
{
    const double n = (double)B * S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        mean[c] = m2[c] = 0.0;
        if (B == 0)
            continue;
        /* about one of the channel's own values, as forward_train */
        const double k = inp[(size_t)c * S];
        double s1 = 0.0, s2 = 0.0;
        for (int b = 0; b < B; b++)
            plane_moments(inp + ((size_t)b * C + c) * S, (size_t)S, (float)k, &s1, &s2);
        double dm = s1 / n;
        double sq = s2 - s1 * dm;
        mean[c] = k + dm;
        m2[c] = sq < 0.0 ? 0.0 : sq;
    }
}

void batchnorm_forward_global(float *out, float *mean, float *rstd, float *run_mean,
                              float *run_var, const float *inp, const float *gamma,
                              const float *beta, int B, int C, int S, const double *gmean,
                              const double *gm2, double gn, float eps, float momentum,
                              int relu)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        channel_train(out, mean, rstd, run_mean, run_var, inp, gamma, beta, B, C, S, c, gmean[c],
                      gm2[c] < 0.0 ? 0.0 : gm2[c], gn, eps, momentum, relu != 0);
    }
}

void batchnorm_share_dsums(const float *dout, const float *relu_out, const float *inp,
                           const float *mean, int B, int C, int S, double *sdy, double *sdyx)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double a = 0.0, q = 0.0;
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * S;
            plane_dsums(dout + off, relu_out ? relu_out + off : NULL, inp + off, (size_t)S,
                        mean[c], &(Mask){.relu = relu_out != NULL}, &a, &q);
        }
        sdy[c] = a;
        sdyx[c] = q;
    }
}

void batchnorm_backward_global(float *dinp, float *dgamma, float *dbeta, const float *dout,
                               const float *relu_out, const float *inp, const float *mean,
                               const float *rstd, const float *gamma, int B, int C, int S,
                               const double *sdy, const double *sdyx, const double *gsdy,
                               const double *gsdyx, double gn)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const double m = mean[c], rs = rstd[c];
        if (dbeta)
            dbeta[c] += (float)sdy[c];
        if (dgamma)
            dgamma[c] += (float)(sdyx[c] * rs);
        if (!dinp)
            continue;
        double k = gamma[c] * rs;
        double k1 = -k * (gsdyx[c] * rs / gn) * rs;
        double k0 = -k * (gsdy[c] / gn);
        float fk = (float)k, fk1 = (float)k1, fk0 = (float)k0, fm = (float)m;
        channel_dinp(dinp, dout, relu_out, inp, B, C, S, c, fk, fk1, fk0, fm,
                     &(Mask){.relu = relu_out != NULL}, false);
    }
}
