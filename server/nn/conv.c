/* conv.c — 2-D convolution (square kernel, stride, zero padding) as im2col + SGEMM.
 * This is the hot path of training. The batch is split into T contiguous ranges of images, one
 * per OpenMP thread (T = gs_threads_get()); each thread walks its range in chunks of a few
 * images so one GEMM sees a few thousand columns while the im2col buffer stays near L2 size.
 * Everything a call needs lives in the caller's ws (conv2d_ws_floats); nothing is allocated.
 * Weight-gradient partials are per thread and summed in thread order at the end, so results
 * are bit-identical for a fixed thread count. 1x1 stride-1 unpadded convolutions skip im2col:
 * an NCHW image already is the (Cin, H*W) column matrix; "same" stride-1 convolutions build
 * each column row with one shifted copy (im2col_same). 3x3 "same" convolutions may instead
 * run by register-blocked direct kernels (direct3x3.c: few channels) or Winograd F(4x4)
 * (winograd.c: 32 channels and more on small planes): pick_algo decides. */
#include <string.h>

#include "gs/blas.h"
#include "gs/layers.h"
#include "conv3x3.h"

/* Process-wide, set before training (tests and benchmarks compare the algorithms): the
 * workspace a network sizes at net_finalize is the chosen algorithm's. */
static ConvAlgo g_algo = CONV_AUTO;

void conv2d_set_algo(ConvAlgo a)
{
    g_algo = a;
}

ConvAlgo conv2d_algo(void)
{
    return g_algo;
}

/* The automatic choice for a 3x3 same convolution, from `make bench-conv` on every layer of
 * the default networks at their batch and `bench_step resnet --profile` under
 * GS_CONV=im2col|direct|winograd4, 2 threads, idle (BENCHMARKS.md):
 * - Winograd F(4x4) where its fused AVX2 kernels run, from 32 channels in and out on planes
 *   up to 14x14: 1.3x to 2x faster than the others there (its 2.25 multiply-adds per output
 *   and channel pair against 9 pay once the transforms, passes over 36 rows per channel,
 *   are shared by enough channels; at 16-24 channels or 28x28 planes the direct kernels win);
 * - the register-blocked direct kernels up to 64 output channels (1.1x to 2.4x faster than
 *   im2col there on 7x7 to 28x28 planes: its GEMM has a small dimension), and for fewer than
 *   8 input channels (im2col's GEMM then has an inner dimension of 9 to 63);
 * - im2col + SGEMM above (or where the AVX2 kernels do not run). */
static ConvAlgo auto_algo(const ConvShape *s, bool avx2)
{
    if (avx2 && s->Cin >= 32 && s->Cout >= 32 && s->H * s->W <= 14 * 14)
        return CONV_WINOGRAD4;
    return s->Cout <= 64 || s->Cin < 8 ? CONV_DIRECT : CONV_IM2COL;
}

static ConvAlgo pick_algo(const ConvShape *s)
{
    if (s->up > 1)
        return CONV_DIRECT; /* only the direct kernels read an upsampled input */
    if (!conv3x3_same(s))
        return CONV_IM2COL;
    if (g_algo != CONV_AUTO)
        return g_algo;
    return auto_algo(s, conv3x3_avx2());
}

bool conv2d_reads_upsampled(ConvShape *s, int f)
{
    if (f < 2 || s->H % f || s->W % f || pick_algo(s) != CONV_DIRECT)
        return false;
    s->up = f;
    return true;
}

/* Aim for this many bytes of im2col buffer per thread: about half of a 2 MiB L2, so the GEMM's
 * packing reads it from cache right after im2col wrote it; larger buffers measured slower
 * and OpenBLAS loses nothing at this width (BENCHMARKS.md). The -D overrides exist for that
 * benchmark. */
#ifndef COL_BYTES_TARGET
#define COL_BYTES_TARGET (1u << 20)
#endif
#ifndef COLS_MIN
#define COLS_MIN 1024
#endif
#ifndef COLS_MAX
#define COLS_MAX 8192
#endif
typedef struct {
    int T;          /* threads (= ranges of images) */
    int chunk;      /* images per GEMM */
    size_t col_n;   /* floats of im2col buffer per thread: (Cin*K*K, chunk*Ho*Wo) */
    size_t mat_n;   /* floats of GEMM output / gathered dout per thread: (Cout, chunk*Ho*Wo) */
    size_t dw_n;    /* floats of weight-gradient partial per thread: (Cin*K*K, Cout) */
    size_t per_thread;
} ConvPlan;

static int is_pointwise(const ConvShape *s)
{
    return s->K == 1 && s->stride == 1 && s->pad == 0;
}

/* The plan depends only on (shape, B, thread count) and chunk never grows when B shrinks, so
 * ws sized for B also serves any smaller batch at the same thread count. */
static ConvPlan conv_plan(const ConvShape *s, int B)
{
    ConvPlan p;
    size_t ckk = (size_t)s->Cin * s->K * s->K;
    size_t howo = (size_t)s->Ho * s->Wo;
    int T = gs_threads_get();
    if (T < 1)
        T = 1;
    int per = B > 0 ? (B + T - 1) / T : 1;
    size_t cols = COL_BYTES_TARGET / (sizeof(float) * ckk);
    if (cols < COLS_MIN)
        cols = COLS_MIN;
    if (cols > COLS_MAX)
        cols = COLS_MAX;
    int chunk = (int)(cols / howo);
    if (chunk < 1)
        chunk = 1;
    if (chunk > per)
        chunk = per;
    p.T = T;
    p.chunk = chunk;
    p.dw_n = conv_round_up((size_t)s->Cout * ckk);
    if (is_pointwise(s)) {
        p.col_n = 0;
        p.mat_n = 0;
    } else {
        p.col_n = conv_round_up(ckk * howo * (size_t)chunk);
        p.mat_n = conv_round_up((size_t)s->Cout * howo * (size_t)chunk);
    }
    p.per_thread = p.col_n + p.mat_n + p.dw_n;
    return p;
}

int conv2d_shape(ConvShape *s, int Cin, int H, int W, int Cout, int K, int stride, int pad)
{
    s->Cin = Cin;
    s->H = H;
    s->W = W;
    s->Cout = Cout;
    s->K = K;
    s->stride = stride;
    s->pad = pad;
    s->Ho = 0;
    s->Wo = 0;
    s->up = 1;
    if (Cin < 1 || Cout < 1 || K < 1 || stride < 1 || pad < 0 || H < 1 || W < 1)
        return -1;
    if (H + 2 * pad < K || W + 2 * pad < K)
        return -1;
    s->Ho = (H + 2 * pad - K) / stride + 1;
    s->Wo = (W + 2 * pad - K) / stride + 1;
    return 0;
}

static size_t ws_floats(const ConvShape *s, int B, ConvAlgo algo)
{
    switch (algo) {
    case CONV_WINOGRAD:
        return winograd_ws_floats(s, B, 2);
    case CONV_WINOGRAD4:
        return winograd_ws_floats(s, B, 4);
    case CONV_DIRECT:
        return direct3x3_ws_floats(s, B);
    default: {
        ConvPlan p = conv_plan(s, B);
        return p.per_thread * (size_t)p.T;
    }
    }
}

/* For the algorithm pick_algo takes under the current setting (conv2d_set_algo comes first);
 * under the automatic choice, enough for it with the AVX2 kernels on or off (a test may turn
 * them off once a network has sized its ws). */
size_t conv2d_ws_floats(const ConvShape *s, int B)
{
    size_t n = ws_floats(s, B, pick_algo(s));
    if (g_algo == CONV_AUTO && s->up == 1 && conv3x3_same(s)) {
        size_t other = ws_floats(s, B, auto_algo(s, !conv3x3_avx2()));
        if (other > n)
            n = other;
    }
    return n;
}

/* Output columns ox whose input column ox*stride - pad + kj lies inside [0, W). */
static void valid_cols(const ConvShape *s, int kj, int *lo, int *hi)
{
    int st = s->stride, a = s->pad - kj, b = s->W - 1 + s->pad - kj;
    int l = a > 0 ? (a + st - 1) / st : 0;
    int h = b >= 0 ? b / st + 1 : 0;
    if (h > s->Wo)
        h = s->Wo;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* "Same" convolutions (stride 1, output plane = input plane) are nearly all of this product's
 * convs. There, column row (c, ki, kj) of an image is the input plane c shifted by
 * (ki - pad) rows and (kj - pad) columns, so it is one contiguous copy of the flat plane plus
 * zeroing the few entries that fell outside: the rows shifted in from above or below and the
 * |kj - pad| columns per row that wrapped around from the neighbouring row. This replaces
 * H short copies per row of col with one long one, which matters on 7x7 and 14x14 planes. */
static int is_same(const ConvShape *s)
{
    return s->stride == 1 && s->Ho == s->H && s->Wo == s->W;
}

/* The part of a shifted plane that a contiguous copy can take: flat output range [f0, f1)
 * reads input at flat + shift; rows outside [oy0, oy1) are zero. */
typedef struct {
    int dy, dx;
    int oy0, oy1;
    long f0, f1;
    long shift;
} SameShift;

static SameShift same_shift(const ConvShape *s, int ki, int kj)
{
    SameShift m;
    const int H = s->H, W = s->W;
    m.dy = ki - s->pad;
    m.dx = kj - s->pad;
    m.oy0 = m.dy < 0 ? -m.dy : 0;
    m.oy1 = m.dy > 0 ? H - m.dy : H;
    m.shift = (long)m.dy * W + m.dx;
    if (m.oy1 <= m.oy0) {
        /* the shift moves the whole plane out of itself (planes smaller than the kernel's
         * reach): nothing to copy, all zero */
        m.oy0 = m.oy1 = 0;
        m.f0 = m.f1 = 0;
        return m;
    }
    m.f0 = (long)m.oy0 * W + (m.dx < 0 ? -m.dx : 0);
    m.f1 = (long)m.oy1 * W - (m.dx > 0 ? m.dx : 0);
    if (m.f0 > (long)H * W)
        m.f0 = (long)H * W;
    if (m.f1 < m.f0)
        m.f1 = m.f0;
    return m;
}

/* Zeroes, in one image's column row (H*W), the columns of valid rows whose input column
 * ox + dx lies outside [0, W). There are |dx| <= pad such columns: walk each one down the
 * rows (a per-row loop would be turned into millions of tiny memset calls). */
static void same_zero_wrapped(const ConvShape *s, const SameShift *m, float *row)
{
    const int W = s->W;
    int lo = m->dx < 0 ? -m->dx : 0, hi = m->dx > 0 ? W - m->dx : W;
    if (lo > W)
        lo = W;
    if (hi < lo)
        hi = lo;
    for (int ox = 0; ox < lo; ox++)
        for (int oy = m->oy0; oy < m->oy1; oy++)
            row[(size_t)oy * W + ox] = 0.0f;
    for (int ox = hi; ox < W; ox++)
        for (int oy = m->oy0; oy < m->oy1; oy++)
            row[(size_t)oy * W + ox] = 0.0f;
}

static void im2col_same(const ConvShape *s, const float *img, float *col, size_t ld)
{
    const int K = s->K;
    const size_t hw = (size_t)s->H * s->W;
    for (int ki = 0; ki < K; ki++) {
        for (int kj = 0; kj < K; kj++) {
            SameShift m = same_shift(s, ki, kj);
            for (int c = 0; c < s->Cin; c++) {
                const float *plane = img + (size_t)c * hw;
                float *row = col + ((size_t)(c * K + ki) * K + kj) * ld;
                if (m.f0 > 0)
                    memset(row, 0, sizeof(float) * (size_t)m.f0);
                memcpy(row + m.f0, plane + m.f0 + m.shift, sizeof(float) * (size_t)(m.f1 - m.f0));
                if ((size_t)m.f1 < hw)
                    memset(row + m.f1, 0, sizeof(float) * (hw - (size_t)m.f1));
                same_zero_wrapped(s, &m, row);
            }
        }
    }
}

/* Destroys col: the wrapped entries are zeroed so the contiguous add can run over them. */
static void col2im_same(const ConvShape *s, float *col, size_t ld, float *img)
{
    const int K = s->K;
    const size_t hw = (size_t)s->H * s->W;
    for (int ki = 0; ki < K; ki++) {
        for (int kj = 0; kj < K; kj++) {
            SameShift m = same_shift(s, ki, kj);
            for (int c = 0; c < s->Cin; c++) {
                float *plane = img + (size_t)c * hw;
                float *row = col + ((size_t)(c * K + ki) * K + kj) * ld;
                same_zero_wrapped(s, &m, row);
#pragma omp simd
                for (long f = m.f0; f < m.f1; f++)
                    plane[f + m.shift] += row[f];
            }
        }
    }
}

/* col (Cin*K*K, ld), columns [0, Ho*Wo) of this image, from img (Cin, H, W). */
static void im2col(const ConvShape *s, const float *img, float *col, size_t ld)
{
    if (is_same(s)) {
        im2col_same(s, img, col, ld);
        return;
    }
    const int K = s->K, st = s->stride, pad = s->pad, H = s->H, W = s->W;
    const int Ho = s->Ho, Wo = s->Wo;
    for (int c = 0; c < s->Cin; c++) {
        const float *plane = img + (size_t)c * H * W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * ld;
                int lo, hi;
                valid_cols(s, kj, &lo, &hi);
                for (int oy = 0; oy < Ho; oy++) {
                    float *dst = row + (size_t)oy * Wo;
                    int iy = oy * st - pad + ki;
                    if (iy < 0 || iy >= H) {
                        memset(dst, 0, sizeof(float) * (size_t)Wo);
                        continue;
                    }
                    const float *src = plane + (size_t)iy * W;
                    const int off = kj - pad;
                    for (int ox = 0; ox < lo; ox++)
                        dst[ox] = 0.0f;
                    if (st == 1 && hi > lo) {
                        memcpy(dst + lo, src + lo + off, sizeof(float) * (size_t)(hi - lo));
                    } else {
                        for (int ox = lo; ox < hi; ox++)
                            dst[ox] = src[ox * st + off];
                    }
                    for (int ox = hi; ox < Wo; ox++)
                        dst[ox] = 0.0f;
                }
            }
        }
    }
}

/* img (Cin, H, W) += the column matrix col (Cin*K*K, ld) folded back; padding drops out.
 * col may be overwritten. */
static void col2im(const ConvShape *s, float *col, size_t ld, float *img)
{
    if (is_same(s)) {
        col2im_same(s, col, ld, img);
        return;
    }
    const int K = s->K, st = s->stride, pad = s->pad, H = s->H, W = s->W;
    const int Ho = s->Ho, Wo = s->Wo;
    for (int c = 0; c < s->Cin; c++) {
        float *plane = img + (size_t)c * H * W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * ld;
                int lo, hi;
                valid_cols(s, kj, &lo, &hi);
                for (int oy = 0; oy < Ho; oy++) {
                    int iy = oy * st - pad + ki;
                    if (iy < 0 || iy >= H)
                        continue;
                    const float *srow = row + (size_t)oy * Wo;
                    float *dst = plane + (size_t)iy * W;
                    const int off = kj - pad;
                    for (int ox = lo; ox < hi; ox++)
                        dst[ox * st + off] += srow[ox];
                }
            }
        }
    }
}

static void forward_pointwise(const ConvShape *s, int b0, int b1, float *out, const float *inp,
                              const float *w, const float *b)
{
    size_t hw = (size_t)s->H * s->W;
    for (int n = b0; n < b1; n++) {
        const float *x = inp + (size_t)n * s->Cin * hw;  // (Cin, H*W)
        float *y = out + (size_t)n * s->Cout * hw;       // (Cout, H*W)
        gs_sgemm(false, false, s->Cout, (int)hw, s->Cin, 1.0f, w, s->Cin, x, (int)hw, 0.0f, y,
                 (int)hw);
        if (b) {
            for (int co = 0; co < s->Cout; co++) {
                float *yc = y + (size_t)co * hw;
#pragma omp simd
                for (size_t i = 0; i < hw; i++)
                    yc[i] += b[co];
            }
        }
    }
}

void conv2d_forward(const ConvShape *s, int B, float *out, const float *inp, const float *w,
                    const float *b, float *ws)
{
    const ConvPlan p = conv_plan(s, B);
    const int ckk = s->Cin * s->K * s->K;
    const size_t howo = (size_t)s->Ho * s->Wo;
    const size_t in_img = (size_t)s->Cin * s->H * s->W;
    const size_t out_img = (size_t)s->Cout * howo;

    switch (pick_algo(s)) {
    case CONV_WINOGRAD:
        winograd_forward(s, 2, B, out, inp, w, b, ws);
        return;
    case CONV_WINOGRAD4:
        winograd_forward(s, 4, B, out, inp, w, b, ws);
        return;
    case CONV_DIRECT:
        direct3x3_forward(s, B, out, inp, w, b, ws);
        return;
    default:
        break;
    }
#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        if (is_pointwise(s)) {
            forward_pointwise(s, b0, b1, out, inp, w, b);
            continue;
        }
        float *col = ws + (size_t)t * p.per_thread;  // (Cin*K*K, chunk*Ho*Wo)
        float *mat = col + p.col_n;                   // (Cout, chunk*Ho*Wo)
        for (int c0 = b0; c0 < b1; c0 += p.chunk) {
            int nb = b1 - c0 < p.chunk ? b1 - c0 : p.chunk;
            size_t ld = (size_t)nb * howo;
            for (int i = 0; i < nb; i++)
                im2col(s, inp + (size_t)(c0 + i) * in_img, col + (size_t)i * howo, ld);
            gs_sgemm(false, false, s->Cout, (int)ld, ckk, 1.0f, w, ckk, col, (int)ld, 0.0f, mat,
                     (int)ld);
            for (int i = 0; i < nb; i++) {
                float *y = out + (size_t)(c0 + i) * out_img;  // (Cout, Ho*Wo)
                for (int co = 0; co < s->Cout; co++) {
                    const float *src = mat + (size_t)co * ld + (size_t)i * howo;
                    float *dst = y + (size_t)co * howo;
                    float bias = b ? b[co] : 0.0f;
#pragma omp simd
                    for (size_t k = 0; k < howo; k++)
                        dst[k] = src[k] + bias;
                }
            }
        }
    }
}

static void backward_pointwise(const ConvShape *s, int b0, int b1, float *dinp, float *dwp,
                               const float *dout, const float *inp, const float *w)
{
    size_t hw = (size_t)s->H * s->W;
    for (int n = b0; n < b1; n++) {
        const float *x = inp + (size_t)n * s->Cin * hw;    // (Cin, H*W)
        const float *dy = dout + (size_t)n * s->Cout * hw; // (Cout, H*W)
        if (dwp)
            gs_sgemm(false, true, s->Cin, s->Cout, (int)hw, 1.0f, x, (int)hw, dy, (int)hw, 1.0f,
                     dwp, s->Cout);
        if (dinp)
            gs_sgemm(true, false, s->Cin, (int)hw, s->Cout, 1.0f, w, s->Cin, dy, (int)hw, 1.0f,
                     dinp + (size_t)n * s->Cin * hw, (int)hw);
    }
}

void conv2d_backward(const ConvShape *s, int B, float *dinp, float *dw, float *db,
                     const float *dout, const float *inp, const float *w, float *ws)
{
    const ConvPlan p = conv_plan(s, B);
    const int ckk = s->Cin * s->K * s->K;
    const size_t howo = (size_t)s->Ho * s->Wo;
    const size_t in_img = (size_t)s->Cin * s->H * s->W;
    const size_t out_img = (size_t)s->Cout * howo;
    const size_t nw = (size_t)s->Cout * ckk;

    if (db) {
        /* Summed per channel over the whole batch in a fixed order, independent of T. */
#pragma omp parallel for schedule(static) num_threads(p.T)
        for (int co = 0; co < s->Cout; co++) {
            double acc = 0.0;
            for (int n = 0; n < B; n++) {
                const float *g = dout + (size_t)n * out_img + (size_t)co * howo;
                float part[8] = {0};
                size_t k = 0;
                for (; k + 8 <= howo; k += 8)
                    for (int j = 0; j < 8; j++)
                        part[j] += g[k + j];
                double plane = 0.0;
                for (int j = 0; j < 8; j++)
                    plane += part[j];
                for (; k < howo; k++)
                    plane += g[k];
                acc += plane;
            }
            db[co] += (float)acc;
        }
    }
    if (!dw && !dinp)
        return;
    switch (pick_algo(s)) {
    case CONV_WINOGRAD:
        winograd_backward(s, 2, B, dinp, dw, dout, inp, w, ws);
        return;
    case CONV_WINOGRAD4:
        winograd_backward(s, 4, B, dinp, dw, dout, inp, w, ws);
        return;
    case CONV_DIRECT:
        direct3x3_backward(s, B, dinp, dw, dout, inp, w, ws);
        return;
    default:
        break;
    }

#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        float *col = ws + (size_t)t * p.per_thread;  // (Cin*K*K, chunk*Ho*Wo), then dcol
        float *mat = col + p.col_n;                   // (Cout, chunk*Ho*Wo) gathered dout
        float *dwp = dw ? mat + p.mat_n : NULL;       // (Cin*K*K, Cout) this thread's dW^T
        if (dwp)
            memset(dwp, 0, sizeof(float) * nw);
        if (is_pointwise(s)) {
            backward_pointwise(s, b0, b1, dinp, dwp, dout, inp, w);
            continue;
        }
        for (int c0 = b0; c0 < b1; c0 += p.chunk) {
            int nb = b1 - c0 < p.chunk ? b1 - c0 : p.chunk;
            size_t ld = (size_t)nb * howo;
            for (int i = 0; i < nb; i++) {
                const float *g = dout + (size_t)(c0 + i) * out_img;
                for (int co = 0; co < s->Cout; co++)
                    memcpy(mat + (size_t)co * ld + (size_t)i * howo, g + (size_t)co * howo,
                           sizeof(float) * howo);
            }
            if (dwp) {
                for (int i = 0; i < nb; i++)
                    im2col(s, inp + (size_t)(c0 + i) * in_img, col + (size_t)i * howo, ld);
                gs_sgemm(false, true, ckk, s->Cout, (int)ld, 1.0f, col, (int)ld, mat, (int)ld,
                         1.0f, dwp, s->Cout);
            }
            if (dinp) {
                /* col is free again once dW has used it: reuse it for dcol. */
                gs_sgemm(true, false, ckk, (int)ld, s->Cout, 1.0f, w, ckk, mat, (int)ld, 0.0f,
                         col, (int)ld);
                for (int i = 0; i < nb; i++)
                    col2im(s, col + (size_t)i * howo, ld, dinp + (size_t)(c0 + i) * in_img);
            }
        }
    }

    if (dw) {
        /* partials are transposed, (Cin*K*K, Cout): OpenBLAS runs that GEMM shape faster
         * than (Cout, Cin*K*K) here (BENCHMARKS.md) */
        const float *part = ws + p.col_n + p.mat_n;
#pragma omp parallel for schedule(static) num_threads(p.T)
        for (int co = 0; co < s->Cout; co++) {
            for (int k = 0; k < ckk; k++) {
                float acc = 0.0f;
                for (int t = 0; t < p.T; t++)
                    acc += part[(size_t)t * p.per_thread + (size_t)k * s->Cout + co];
                dw[(size_t)co * ckk + k] += acc;
            }
        }
    }
}
