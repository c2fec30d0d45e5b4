/* direct3x3.c — 3x3, stride 1, pad 1 convolutions with few channels on one side (the first
 * layer of an encoder reads 1 channel, an autoencoder's last writes 1), computed directly:
 * there im2col's GEMM has a dimension of 1 to 8 and spends its time moving the 9x larger
 * column matrix, while a direct loop does 9 multiply-adds per output and channel pair.
 * Planes are kept zero-padded with a row stride of W + 2, so every tap of the kernel is one
 * multiply-add over the whole flat plane, shifted by ki * (W + 2) + kj (the two columns of
 * padding in each output row are computed and dropped). Images are split over the OpenMP
 * threads in contiguous ranges; weight-gradient partials per thread are summed in thread
 * order, so results are bit-identical for a fixed thread count. */
#include <string.h>

#include "gs/blas.h"
#include "gs/layers.h"
#include "conv3x3.h"
#include "simd.h"


typedef struct {
    int T;
    int pw;            /* padded row stride: W + 2 */
    size_t plane;      /* H * pw: an output plane in the padded-stride layout */
    size_t padded;     /* (H + 2) * pw and some slack, rounded: a zero-padded input plane
                        * (the slack for the last taps' reads past its end) */
    size_t in_n;       /* per thread: Cin padded planes (input, or the input's gradient) */
    size_t dy_n;       /* per thread: Cout planes in the padded-stride layout */
    size_t dw_n;       /* per thread: weight-gradient partial (Cout, Cin * 9) */
    size_t per_thread;
} DirectPlan;

static DirectPlan direct_plan(const ConvShape *s)
{
    DirectPlan p;
    p.T = gs_threads_get();
    if (p.T < 1)
        p.T = 1;
    p.pw = s->W + 2;
    p.plane = (size_t)s->H * p.pw;
    p.padded = conv_round_up((size_t)(s->H + 2) * p.pw + CONV_PAD_FLOATS);
    p.in_n = p.padded * (size_t)s->Cin;
    p.dy_n = conv_round_up(p.plane * (size_t)s->Cout);
    p.dw_n = conv_round_up((size_t)s->Cout * s->Cin * 9);
    p.per_thread = p.in_n + p.dy_n + p.dw_n;
    return p;
}

size_t direct3x3_ws_floats(const ConvShape *s, int B)
{
    (void)B;
    DirectPlan p = direct_plan(s);
    return p.per_thread * (size_t)p.T;
}

/* The Cin planes of one image, zero-padded by one on every side, into pad (Cin padded). */
static void pad_image(const ConvShape *s, const DirectPlan *p, const float *x, float *pad)
{
    memset(pad, 0, sizeof(float) * p->in_n);
    for (int c = 0; c < s->Cin; c++)
        for (int y = 0; y < s->H; y++)
            memcpy(pad + (size_t)c * p->padded + (size_t)(y + 1) * p->pw + 1,
                   x + ((size_t)c * s->H + y) * s->W, sizeof(float) * (size_t)s->W);
}

/* acc[i] += w * src[i] over the flat plane. */
GS_SIMD static void axpy(float *restrict acc, const float *restrict src, float w, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        acc[i] += w * src[i];
}

GS_SIMD static float dot(const float *restrict a, const float *restrict b, size_t n)
{
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (size_t i = 0; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}

void direct3x3_forward(const ConvShape *s, int B, float *out, const float *inp, const float *w,
                       const float *b, float *ws)
{
    const DirectPlan p = direct_plan(s);
    const size_t in_img = (size_t)s->Cin * s->H * s->W, hw = (size_t)s->H * s->W;
#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        float *pad = ws + (size_t)t * p.per_thread, *acc = pad + p.in_n;
        for (int n = b0; n < b1; n++) {
            pad_image(s, &p, inp + (size_t)n * in_img, pad);
            for (int co = 0; co < s->Cout; co++) {
                float bias = b ? b[co] : 0.0f;
                for (size_t i = 0; i < p.plane; i++)
                    acc[i] = bias;
                for (int ci = 0; ci < s->Cin; ci++) {
                    const float *g = w + ((size_t)co * s->Cin + ci) * 9;
                    const float *src = pad + (size_t)ci * p.padded;
                    for (int k = 0; k < 9; k++)
                        axpy(acc, src + (size_t)(k / 3) * p.pw + k % 3, g[k], p.plane);
                }
                float *y = out + (size_t)n * s->Cout * hw + (size_t)co * hw;
                for (int r = 0; r < s->H; r++)
                    memcpy(y + (size_t)r * s->W, acc + (size_t)r * p.pw,
                           sizeof(float) * (size_t)s->W);
            }
        }
    }
}

void direct3x3_backward(const ConvShape *s, int B, float *dinp, float *dw, const float *dout,
                        const float *inp, const float *w, float *ws)
{
    const DirectPlan p = direct_plan(s);
    const size_t in_img = (size_t)s->Cin * s->H * s->W, hw = (size_t)s->H * s->W;
    const size_t nw = (size_t)s->Cout * s->Cin * 9;
    if (!dw && !dinp)
        return;
#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        float *pad = ws + (size_t)t * p.per_thread, *dy = pad + p.in_n, *dwp = dy + p.dy_n;
        if (dw)
            memset(dwp, 0, sizeof(float) * nw);
        for (int n = b0; n < b1; n++) {
            /* the output gradient in the padded-stride layout, zero in the two extra columns */
            const float *g = dout + (size_t)n * s->Cout * hw;
            for (int co = 0; co < s->Cout; co++)
                for (int r = 0; r < s->H; r++) {
                    float *row = dy + (size_t)co * p.plane + (size_t)r * p.pw;
                    memcpy(row, g + (size_t)co * hw + (size_t)r * s->W,
                           sizeof(float) * (size_t)s->W);
                    row[s->W] = row[s->W + 1] = 0.0f;
                }
            if (dw) {
                pad_image(s, &p, inp + (size_t)n * in_img, pad);
                for (int co = 0; co < s->Cout; co++)
                    for (int ci = 0; ci < s->Cin; ci++) {
                        float *gw = dwp + ((size_t)co * s->Cin + ci) * 9;
                        const float *src = pad + (size_t)ci * p.padded;
                        for (int k = 0; k < 9; k++)
                            gw[k] += dot(dy + (size_t)co * p.plane,
                                         src + (size_t)(k / 3) * p.pw + k % 3, p.plane);
                    }
            }
            if (dinp) {
                /* the padded input's gradient: every output spreads back over its 9 taps */
                memset(pad, 0, sizeof(float) * p.in_n);
                for (int ci = 0; ci < s->Cin; ci++) {
                    float *dst = pad + (size_t)ci * p.padded;
                    for (int co = 0; co < s->Cout; co++) {
                        const float *gk = w + ((size_t)co * s->Cin + ci) * 9;
                        for (int k = 0; k < 9; k++)
                            axpy(dst + (size_t)(k / 3) * p.pw + k % 3, dy + (size_t)co * p.plane,
                                 gk[k], p.plane);
                    }
                    float *dx = dinp + (size_t)n * in_img + (size_t)ci * hw;
                    for (int r = 0; r < s->H; r++) {
                        const float *src = dst + (size_t)(r + 1) * p.pw + 1;
                        float *row = dx + (size_t)r * s->W;
#pragma omp simd
                        for (int x = 0; x < s->W; x++)
                            row[x] += src[x];
                    }
                }
            }
        }
    }
    if (dw) {
#pragma omp parallel for schedule(static) num_threads(p.T)
        for (size_t k = 0; k < nw; k++) {
            float acc = 0.0f;
            for (int t = 0; t < p.T; t++)
                acc += ws[(size_t)t * p.per_thread + p.in_n + p.dy_n + k];
            dw[k] += acc;
        }
    }
}
