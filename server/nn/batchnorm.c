/* batchnorm.c — batch normalisation over (B, C, S) with PyTorch semantics: training mode
 * normalises with the biased batch variance and feeds the unbiased one into the running
 * variance; inference uses the running statistics. Channels are independent, so the OpenMP
 * threads split the channels; every sum is taken in double in a fixed order, so results do
 * not depend on the thread count. The layer is memory-bound on conv maps, so each function
 * reads its inputs as few times as it can: forward once for the statistics and once to
 * normalise, backward once for the two sums and once for dinp. */
#include <math.h>
#include <stddef.h>

#include "gs/layers.h"

/* The loops below walk one (b, c) plane at a time: S contiguous floats. Eight independent
 * double accumulators let the adds overlap instead of waiting on one another, while the
 * order stays fixed. */
#define LANES 8

/* sum (x - shift) and sum (x - shift)^2 over one plane, added into *s1, *s2 */
static void plane_moments(const float *x, size_t n, double shift, double *s1, double *s2)
{
    double a[LANES] = {0}, q[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double d = x[i + j] - shift;
            a[j] += d;
            q[j] += d * d;
        }
    double t1 = 0.0, t2 = 0.0;
    for (int j = 0; j < LANES; j++) {
        t1 += a[j];
        t2 += q[j];
    }
    for (; i < n; i++) {
        double d = x[i] - shift;
        t1 += d;
        t2 += d * d;
    }
    *s1 += t1;
    *s2 += t2;
}

/* sum dy and sum dy * (x - mean) over one plane */
static void plane_dsums(const float *dy, const float *x, size_t n, double mean, double *sdy,
                        double *sdyx)
{
    double a[LANES] = {0}, c[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            a[j] += dy[i + j];
            c[j] += dy[i + j] * (x[i + j] - mean);
        }
    double s1 = 0.0, s2 = 0.0;
    for (int j = 0; j < LANES; j++) {
        s1 += a[j];
        s2 += c[j];
    }
    for (; i < n; i++) {
        s1 += dy[i];
        s2 += dy[i] * (x[i] - mean);
    }
    *sdy += s1;
    *sdyx += s2;
}

/* y = (x - center) * scale + shift over every plane of channel c. Centring first, rather
 * than folding the mean into the shift, keeps precision when |mean| >> std. */
static void channel_affine(float *out, const float *inp, int B, int C, int S, int c,
                           float center, float scale, float shift)
{
    for (int b = 0; b < B; b++) {
        size_t off = ((size_t)b * C + c) * S;
        const float *x = inp + off;
        float *y = out + off;
#pragma omp simd
        for (int i = 0; i < S; i++)
            y[i] = (x[i] - center) * scale + shift;
    }
}

void batchnorm_forward_train(float *out, float *mean, float *rstd, float *run_mean,
                             float *run_var, const float *inp, const float *gamma,
                             const float *beta, int B, int C, int S, float eps,
                             float momentum)
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
            plane_moments(inp + ((size_t)b * C + c) * S, (size_t)S, k, &s1, &s2);
        double dm = s1 / n;
        double m = k + dm;
        double sq = s2 - s1 * dm;  /* sum of squared deviations from the mean */
        if (sq < 0.0)
            sq = 0.0;
        double var = sq / n;
        double rs = 1.0 / sqrt(var + (double)eps);
        mean[c] = (float)m;
        rstd[c] = (float)rs;
        double unbiased = n > 1 ? sq / (n - 1) : var;
        run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * m);
        run_var[c] = (float)((1.0 - momentum) * run_var[c] + momentum * unbiased);
        channel_affine(out, inp, B, C, S, c, (float)m, (float)(gamma[c] * rs), beta[c]);
    }
}

void batchnorm_forward_infer(float *out, const float *inp, const float *gamma,
                             const float *beta, const float *run_mean, const float *run_var,
                             int B, int C, int S, float eps)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double scale = gamma[c] / sqrt((double)run_var[c] + (double)eps);
        channel_affine(out, inp, B, C, S, c, run_mean[c], (float)scale, beta[c]);
    }
}

/* With xhat = (x - mean) * rstd and N = B*S:
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = gamma * rstd / N * (N * dy - sum dy - xhat * sum(dy * xhat)). */
void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *mean, const float *rstd,
                        const float *gamma, int B, int C, int S)
{
    const double n = (double)B * S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double sdy = 0.0, sdyx = 0.0;
        const double m = mean[c], rs = rstd[c];
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * S;
            plane_dsums(dout + off, inp + off, (size_t)S, m, &sdy, &sdyx);
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
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * S;
            const float *dy = dout + off, *x = inp + off;
            float *dx = dinp + off;
#pragma omp simd
            for (int i = 0; i < S; i++)
                dx[i] += fk * dy[i] + fk1 * (x[i] - fm) + fk0;
        }
    }
}
