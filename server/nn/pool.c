/* pool.c — spatial resampling layers: max-pool (K x K window, stride, no padding), nearest
 * upsampling by an integer factor, and global average pooling. Each (image, channel) plane
 * is independent, so the OpenMP threads split the B*C planes; no plane is written by two
 * threads, so backward's += needs no reduction.
 * maxpool's idx holds, for each output element, the flat index (y * W + x) of the winning
 * element within its own H x W input plane; ties go to the first element in row-major order,
 * a NaN to the last NaN. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "gs/layers.h"

/* v replaces the running maximum when larger, or when it is NaN (a NaN wins, as in
 * PyTorch, so it reaches the loss's NaN check); written as selects so the loop vectorises. */
static inline void take_max(float v, int32_t at, float *best, int32_t *where)
{
    int t = (v > *best) | (v != v);
    *best = t ? v : *best;
    *where = t ? at : *where;
}

/* The common 2x2 window at stride 2, one plane: each output reads two input rows. */
static void maxpool2_plane(float *y, int32_t *ix, const float *x, int W, int Ho, int Wo)
{
    for (int oy = 0; oy < Ho; oy++) {
        const float *r0 = x + (size_t)(2 * oy) * W, *r1 = r0 + W;
        float *yr = y + (size_t)oy * Wo;
        int32_t *ir = ix + (size_t)oy * Wo;
        const int32_t base = 2 * oy * W;
#pragma omp simd
        for (int ox = 0; ox < Wo; ox++) {
            int32_t at = base + 2 * ox, where = at;
            float best = r0[2 * ox];
            take_max(r0[2 * ox + 1], at + 1, &best, &where);
            take_max(r1[2 * ox], at + W, &best, &where);
            take_max(r1[2 * ox + 1], at + W + 1, &best, &where);
            yr[ox] = best;
            ir[ox] = where;
        }
    }
}

void maxpool_forward(float *out, int32_t *idx, const float *inp, int B, int C, int H, int W,
                     int K, int stride)
{
    const int Ho = (H - K) / stride + 1, Wo = (W - K) / stride + 1;
    const long long planes = (long long)B * C;
    if (K == 2 && stride == 2) {
#pragma omp parallel for schedule(static)
        for (long long p = 0; p < planes; p++)
            maxpool2_plane(out + (size_t)p * Ho * Wo, idx + (size_t)p * Ho * Wo,
                           inp + (size_t)p * H * W, W, Ho, Wo);
        return;
    }
#pragma omp parallel for schedule(static)
    for (long long p = 0; p < planes; p++) {
        const float *x = inp + (size_t)p * H * W;     // (H, W)
        float *y = out + (size_t)p * Ho * Wo;         // (Ho, Wo)
        int32_t *ix = idx + (size_t)p * Ho * Wo;      // (Ho, Wo)
        for (int oy = 0; oy < Ho; oy++) {
            for (int ox = 0; ox < Wo; ox++) {
                int y0 = oy * stride, x0 = ox * stride;
                int best = y0 * W + x0;
                float bv = x[best];
                for (int ky = 0; ky < K; ky++) {
                    const float *row = x + (size_t)(y0 + ky) * W + x0;
                    for (int kx = 0; kx < K; kx++) {
                        /* a NaN wins, as in PyTorch, so it reaches the loss's NaN check */
                        if (row[kx] > bv || isnan(row[kx])) {
                            bv = row[kx];
                            best = (y0 + ky) * W + x0 + kx;
                        }
                    }
                }
                y[oy * Wo + ox] = bv;
                ix[oy * Wo + ox] = best;
            }
        }
    }
}

/* set: each input plane is zeroed just before its scatter (a few kB, in cache), so the
 * caller need not zero the whole buffer beforehand. */
static void maxpool_scatter(float *dinp, const float *dout, const int32_t *idx, int B, int C,
                            int H, int W, int K, int stride, bool set)
{
    const int Ho = (H - K) / stride + 1, Wo = (W - K) / stride + 1;
    const long long planes = (long long)B * C;
    const size_t no = (size_t)Ho * Wo;
#pragma omp parallel for schedule(static)
    for (long long p = 0; p < planes; p++) {
        float *dx = dinp + (size_t)p * H * W;         // (H, W)
        const float *dy = dout + (size_t)p * no;      // (Ho, Wo)
        const int32_t *ix = idx + (size_t)p * no;     // (Ho, Wo)
        if (set)
            memset(dx, 0, sizeof(float) * (size_t)H * W);
        for (size_t i = 0; i < no; i++)
            dx[ix[i]] += dy[i];
    }
}

void maxpool_backward(float *dinp, const float *dout, const int32_t *idx, int B, int C,
                      int H, int W, int K, int stride)
{
    maxpool_scatter(dinp, dout, idx, B, C, H, W, K, stride, false);
}

void maxpool_backward_set(float *dinp, const float *dout, const int32_t *idx, int B, int C,
                          int H, int W, int K, int stride)
{
    maxpool_scatter(dinp, dout, idx, B, C, H, W, K, stride, true);
}

void upsample_forward(float *out, const float *inp, int B, int C, int H, int W, int f)
{
    const int Wf = W * f;
    const long long planes = (long long)B * C;
#pragma omp parallel for schedule(static)
    for (long long p = 0; p < planes; p++) {
        const float *x = inp + (size_t)p * H * W;          // (H, W)
        float *y = out + (size_t)p * H * f * Wf;           // (H*f, W*f)
        for (int iy = 0; iy < H; iy++) {
            float *row = y + (size_t)iy * f * Wf;
            for (int ix = 0; ix < W; ix++)
                for (int k = 0; k < f; k++)
                    row[ix * f + k] = x[iy * W + ix];
            for (int r = 1; r < f; r++)
                for (int j = 0; j < Wf; j++)
                    row[(size_t)r * Wf + j] = row[j];
        }
    }
}

void upsample_backward(float *dinp, const float *dout, int B, int C, int H, int W, int f)
{
    const int Wf = W * f;
    const long long planes = (long long)B * C;
#pragma omp parallel for schedule(static)
    for (long long p = 0; p < planes; p++) {
        float *dx = dinp + (size_t)p * H * W;              // (H, W)
        const float *dy = dout + (size_t)p * H * f * Wf;   // (H*f, W*f)
        for (int iy = 0; iy < H; iy++) {
            for (int ix = 0; ix < W; ix++) {
                float s = 0.0f;
                for (int r = 0; r < f; r++) {
                    const float *row = dy + ((size_t)iy * f + r) * Wf + (size_t)ix * f;
                    for (int k = 0; k < f; k++)
                        s += row[k];
                }
                dx[iy * W + ix] += s;
            }
        }
    }
}

void gap_forward(float *out, const float *inp, int B, int C, int S)
{
    const long long planes = (long long)B * C;
#pragma omp parallel for schedule(static)
    for (long long p = 0; p < planes; p++) {
        const float *x = inp + (size_t)p * S;
        double s = 0.0;
        for (int i = 0; i < S; i++)
            s += x[i];
        out[p] = (float)(s / S);
    }
}

void gap_backward(float *dinp, const float *dout, int B, int C, int S)
{
    const long long planes = (long long)B * C;
#pragma omp parallel for schedule(static)
    for (long long p = 0; p < planes; p++) {
        float *dx = dinp + (size_t)p * S;
        float g = dout[p] / (float)S;
        for (int i = 0; i < S; i++)
            dx[i] += g;
    }
}
