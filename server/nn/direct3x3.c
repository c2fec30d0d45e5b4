/* direct3x3.c — 3x3, stride 1, pad 1 convolutions computed directly, by register-blocked
 * kernels: where im2col's GEMM has a small dimension (up to 64 output channels, or few input
 * channels) it runs below SGEMM's speed and moves a 9x larger column matrix, while these
 * kernels keep a block of outputs in registers and do four multiply-adds per load.
 *
 * Layout: a group of G images is kept side by side in zero-padded planes, one zero column
 * before, between and after them, one zero row above and below: row stride pw = G (W + 1) + 1.
 * Output position q = y * pw + x then reads tap (ky, kx) of its input plane at
 * q + ky * pw + kx: every tap is the whole flat plane shifted, and the G images of a group are
 * computed as one plane (the one column per image that falls on a padding column is computed
 * and dropped when the rows are copied out). Small planes are grouped so that rows are long:
 * a 7x7 image alone would compute 9 columns per 7, eight side by side 65 per 56.
 * - forward: a tile of 4 output channels by 3 vectors of 8 positions (1 channel by 12
 *   vectors for a last block of 1) holds 12 accumulators; per input channel and tap it loads
 *   3 input vectors and broadcasts 4 weights (or 12 and 1).
 * - the input's gradient is the same kernel run on the zero-padded output gradient with the
 *   weights' channels swapped and taps reversed (dx[ci](q) = sum over co and taps of
 *   w[co][ci][8 - k] * dypad[co](q + off[k])).
 * - the weights' gradient: for 4 output channels and a row of 3 taps (1 channel and all 9
 *   taps), dot products over the plane, 12 (9) accumulators of 8 lanes summed at the end.
 * - an input read upsampled (ConvShape.up, an autoencoder's decoder), so the upsampled map
 *   and its gradient are never made: by 2, four 2x2 convolutions of the small input, one per
 *   output phase (below); by other factors, the padded planes are filled from the smaller
 *   input, each value repeated, and the input's gradient leaves summed over each square.
 * AVX2 + FMA kernels where the CPU has them, portable loops elsewhere (and when a test asks:
 * conv2d_allow_avx2). Images are split over the OpenMP threads in contiguous ranges;
 * weight-gradient partials per thread are summed in thread order, so results are
 * bit-identical for a fixed thread count and kernel. */
#include <string.h>

#include "gs/blas.h"
#include "gs/layers.h"
#include "conv3x3.h"
#include "simd.h"

/* The largest tile, in positions: one output channel by 12 vectors. Planes are computed in
 * tiles of 24 or 96 positions; the last tile of a plane is moved back to end at its end. */
#define TILE_MAX 96
#define CB_MAX 4
#define GROUP_COLUMNS 64

static bool g_allow_avx2 = true;

void conv2d_allow_avx2(bool on)
{
    g_allow_avx2 = on;
}

bool conv3x3_avx2(void)
{
#if GS_HAVE_AVX2_KERNELS
    return g_allow_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

typedef struct {
    int T;
    bool phases;       /* an input read upsampled by 2, computed by phases (below) */
    int h, w;          /* the plane computed: the output's, or with phases the input's */
    int up;            /* the input's padded planes are filled upsampled by up: s->up, or 1
                        * with phases (they read the small input as it is) */
    int G;             /* images side by side in a group */
    int pw;            /* padded row stride: G * (w + 1) + 1 */
    size_t plane8;     /* h * pw rounded up to 8: the positions computed */
    size_t plane_r;    /* an output tile buffer's plane: plane8, at least TILE_MAX */
    size_t padded;     /* a zero-padded plane: its (h + 2) rows and the reads past them of
                        * the tiles and taps reaching furthest, rounded */
    int cr;            /* Cout rounded up to 4 */
    int dy_planes;     /* padded output-gradient planes: cr, or 4 phases of cr */
    size_t pack_n;     /* shared: packed weights, either way (pack_weights) */
    size_t pad_n;      /* per thread: Cin padded input planes */
    size_t dy_n;       /* per thread: dy_planes padded output-gradient planes */
    size_t out_n;      /* per thread: CB_MAX output planes of plane_r */
    size_t dw_n;       /* per thread: weight-gradient partial (cr, Cin, 9), or with phases
                        * (cr, Cin, 4 phases, 9) */
    size_t per_thread;
} DirectPlan;

static size_t round4(int c)
{
    return ((size_t)c + 3) / 4 * 4;
}

/* ---- an input read upsampled by 2 ----
 * Output (2y + a, 2x + b), phase (a, b), reads only input rows y - 1 + a and y + a and columns
 * x - 1 + b and x + b: taps ky = 0, 1, 2 fall on input row y + phase_tap(a, ky) - 1 + a. So
 * each phase is a 2x2 convolution of the small input with weights summed over the taps that
 * fall on one input value: 16 multiply-adds per input position and channel pair where the
 * upsampled map took 36, for the forward and the input's gradient alike (the weights'
 * gradient: 24, the tile of 3 taps per row kept). */
static bool by_phases(const ConvShape *s)
{
    return s->up == 2;
}

/* Which of the phase's 2 taps along one axis the 3x3 tap k (0..2) adds to, at phase a. */
static int phase_tap(int a, int k)
{
    return (a + k + 1) / 2 - a;
}

static DirectPlan direct_plan(const ConvShape *s)
{
    DirectPlan p;
    p.T = gs_threads_get();
    if (p.T < 1)
        p.T = 1;
    p.phases = by_phases(s);
    p.h = p.phases ? s->H / 2 : s->H;
    p.w = p.phases ? s->W / 2 : s->W;
    p.up = p.phases || s->up < 1 ? 1 : s->up;
    /* rows of up to GROUP_COLUMNS floats: 2 images of 28x28, 4 of 14x14, 8 of 7x7 */
    p.G = GROUP_COLUMNS / (p.w + 1);
    if (p.G < 1)
        p.G = 1;
    p.pw = p.G * (p.w + 1) + 1;
    p.plane8 = ((size_t)p.h * p.pw + 7) / 8 * 8;
    p.plane_r = p.plane8 > TILE_MAX ? p.plane8 : TILE_MAX;
    /* a tile at q reads up to q + TILE_MAX - 1 + 2 * pw + 2 < plane_r + 2 * pw + 2 */
    p.padded = conv_round_up(p.plane_r + 2 * (size_t)p.pw + 2);
    p.cr = (int)round4(s->Cout);
    p.dy_planes = p.phases ? 4 * p.cr : p.cr; /* zero-padded last blocks of 2 or 3 */
    const size_t taps = p.phases ? 4 : 9, phases = p.phases ? 4 : 1;
    size_t fwd = phases * (size_t)p.cr * s->Cin * taps;
    size_t bwd = round4(s->Cin) * (size_t)(p.phases ? p.dy_planes : s->Cout) * taps;
    p.pack_n = conv_round_up(fwd > bwd ? fwd : bwd);
    p.pad_n = p.padded * (size_t)s->Cin;
    p.dy_n = p.padded * (size_t)p.dy_planes;
    p.out_n = p.plane_r * CB_MAX;
    p.dw_n = conv_round_up((size_t)p.cr * s->Cin * 9 * phases);
    p.per_thread = p.pad_n + p.dy_n + p.out_n + p.dw_n;
    return p;
}

size_t direct3x3_ws_floats(const ConvShape *s, int B)
{
    (void)B;
    DirectPlan p = direct_plan(s);
    return p.pack_n + p.per_thread * (size_t)p.T;
}

/* The C planes (H, W) of each of the g images at src into their places in a group's
 * zero-padded planes (borders and slack are zeroed once per call and never written; the
 * places of images a last group lacks are zeroed). With up > 1 the source planes are
 * (H / up, W / up) and are written upsampled by nearest neighbour. */
static void fill_padded(const DirectPlan *p, int C, int H, int W, int up, const float *src,
                        int g, float *pad)
{
    const int h = H / up, w = W / up;
    for (int i = 0; i < p->G; i++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++) {
                float *d = pad + (size_t)c * p->padded + (size_t)(y + 1) * p->pw + 1 +
                           (size_t)i * (W + 1);
                const float *row = src + (((size_t)i * C + c) * h + y / up) * w;
                if (i >= g)
                    memset(d, 0, sizeof(float) * (size_t)W);
                else if (up == 1)
                    memcpy(d, row, sizeof(float) * (size_t)W);
                else if (y % up)
                    memcpy(d, d - p->pw, sizeof(float) * (size_t)W); /* the row above again */
                else
                    for (int x = 0; x < W; x++)
                        d[x] = row[x / up];
            }
}

/* Phase ph = 2a + b's 2x2 weight k = 2 dy + dx from input channel ci to output channel o:
 * the sum of the 3x3 taps that fall on that input value. */
static float phase_weight(const float *w, int Cin, int o, int ci, int ph, int k)
{
    const float *w9 = w + ((size_t)o * Cin + ci) * 9;
    float v = 0.0f;
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++)
            if (phase_tap(ph >> 1, ky) == k >> 1 && phase_tap(ph & 1, kx) == (k & 1))
                v += w9[ky * 3 + kx];
    return v;
}

/* What pack_weights packs: the 3x3 taps of w (Cout, Cin, 9) or one phase's 2x2 taps
 * (phase_weight); forward as they are, or for the input's gradient with the channels swapped
 * and the taps reversed; with phases, that pass takes all four at once, its input plane
 * ph * cr + co being phase ph of output channel co (fill_phases), zero past Cout. */
typedef struct {
    const float *w;
    int Cout, Cin;
    bool transpose;
    bool phases;
    int phase; /* forward with phases: which one */
    int cr;    /* transposed with phases: the planes per phase */
} Weights;

/* The weight from input i to output o at tap k, as the tile kernel reads it. */
static float weight_at(const Weights *wt, int o, int i, int k)
{
    if (!wt->phases)
        return wt->transpose ? wt->w[((size_t)i * wt->Cin + o) * 9 + (8 - k)]
                             : wt->w[((size_t)o * wt->Cin + i) * 9 + k];
    if (!wt->transpose)
        return phase_weight(wt->w, wt->Cin, o, i, wt->phase, k);
    return i % wt->cr < wt->Cout ? phase_weight(wt->w, wt->Cin, i % wt->cr, o, i / wt->cr, 3 - k)
                                 : 0.0f;
}

/* Packs weights for the tile kernel: pk[((blk * n_in + i) * taps + k) * 4 + c] is the weight
 * from input i to output 4 * blk + c at tap k (zero past n_out); taps: 9, or 4 with phases.
 * Returns the floats written. */
static size_t pack_weights(const Weights *wt, float *pk)
{
    const int n_out = wt->transpose ? wt->Cin : wt->Cout, taps = wt->phases ? 4 : 9;
    const int n_in = !wt->transpose ? wt->Cin : wt->phases ? 4 * wt->cr : wt->Cout;
    size_t at = 0;
    for (int blk = 0; blk < (n_out + 3) / 4; blk++)
        for (int i = 0; i < n_in; i++)
            for (int k = 0; k < taps; k++)
                for (int c = 0; c < 4; c++, at++)
                    pk[at] = 4 * blk + c < n_out ? weight_at(wt, 4 * blk + c, i, k) : 0.0f;
    return at;
}

/* The output gradient's (C, 2h, 2w) planes of each of the g images at src, split by phase
 * into a group's padded planes (p->h, p->w the small plane): phase (a, b) of channel c into
 * plane (2a + b) * cr + c, shifted down a rows and right b columns, so one set of tap
 * offsets serves all phases and the reads past a phase's edge find zeros. */
static void fill_phases(const DirectPlan *p, int C, const float *src, int g, float *pad)
{
    const int h = p->h, w = p->w;
    const size_t phase_planes = (size_t)p->cr * p->padded;
    for (int i = 0; i < p->G; i++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < 2 * h; y++) {
                const int a = y & 1;
                float *d0 = pad + 2 * a * phase_planes + (size_t)c * p->padded +
                            (size_t)(y / 2 + 1 + a) * p->pw + 1 + (size_t)i * (w + 1);
                float *d1 = d0 + phase_planes + 1;
                if (i >= g) {
                    memset(d0, 0, sizeof(float) * (size_t)w);
                    memset(d1, 0, sizeof(float) * (size_t)w);
                    continue;
                }
                const float *row = src + (((size_t)i * C + c) * 2 * h + y) * 2 * w;
                for (int x = 0; x < w; x++) {
                    d0[x] = row[2 * x];
                    d1[x] = row[2 * x + 1];
                }
            }
}

/* ---- kernels: a tile of outputs, a row of weight gradients ----
 * Two shapes each: 4 output channels (a block of 4, or the zero-padded last block of 2 or 3)
 * and 1 output channel (a last block of 1, which is every block of a 1-channel output). */

/* Tile width in positions: 4 channels by 3 vectors of 8, or 1 channel by 12: 12
 * accumulators, so that enough independent multiply-adds are in flight. */
static int tile_positions(int cb)
{
    return cb == 4 ? 24 : 96;
}

typedef struct {
    const float *x;    /* the first padded input plane, at the tile's first position */
    size_t padded;     /* planes' stride */
    int cin;
    const float *wp;   /* packed weights of the tile's output-channel block */
    float bias[4];
    float *o;          /* the first output plane at the tile's first position */
    size_t o_stride;
    int taps;          /* 9, or 4 for a phase of an upsampled input (below) */
    const int *off;    /* the taps' offsets */
} Tile;

/* Weight-gradient row: g[c * g_stride + t] += sum over q < n of dy[c * dy_stride + q] *
 * x[t / 3 * pw + t % 3 + q], for c < cb and taps t < 3 (cb 4) or 9 (cb 1). */
typedef struct {
    const float *dy;
    size_t dy_stride;
    const float *x;
    int pw;
    size_t n;
    float *g;
    size_t g_stride;
} DwRow;

static void tile_generic(int cb, const Tile *t)
{
    const int bs = tile_positions(cb);
    for (int c = 0; c < cb; c++) {
        float *o = t->o + (size_t)c * t->o_stride;
        for (int i = 0; i < bs; i++)
            o[i] = t->bias[c];
        for (int ci = 0; ci < t->cin; ci++)
            for (int k = 0; k < t->taps; k++) {
                const float *x = t->x + (size_t)ci * t->padded + t->off[k];
                float wv = t->wp[((size_t)ci * t->taps + k) * 4 + c];
                for (int i = 0; i < bs; i++)
                    o[i] += wv * x[i];
            }
    }
}

static void dw_generic(int cb, const DwRow *r)
{
    for (int c = 0; c < cb; c++)
        for (int t = 0; t < (cb == 4 ? 3 : 9); t++) {
            const float *d = r->dy + (size_t)c * r->dy_stride;
            const float *x = r->x + (size_t)(t / 3) * r->pw + t % 3;
            float acc = 0.0f;
            for (size_t q = 0; q < r->n; q++)
                acc += d[q] * x[q];
            r->g[(size_t)c * r->g_stride + t] += acc;
        }
}

#if GS_HAVE_AVX2_KERNELS

/* 4 channels x 24 positions: per tap 3 input vectors, each broadcast weight meets all 3. */
/* taps is a constant at each call, so the tap loop is unrolled as it was for 9 alone. */
AVX2_FN static inline __attribute__((always_inline)) void tile4_taps(const Tile *t, const int taps)
{
    __m256 a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;
    a00 = a01 = a02 = _mm256_set1_ps(t->bias[0]);
    a10 = a11 = a12 = _mm256_set1_ps(t->bias[1]);
    a20 = a21 = a22 = _mm256_set1_ps(t->bias[2]);
    a30 = a31 = a32 = _mm256_set1_ps(t->bias[3]);
    for (int ci = 0; ci < t->cin; ci++) {
        const float *xc = t->x + (size_t)ci * t->padded;
        const float *w = t->wp + (size_t)ci * taps * 4;
        for (int k = 0; k < taps; k++, w += 4) {
            const float *xk = xc + t->off[k];
            __m256 x0 = _mm256_loadu_ps(xk), x1 = _mm256_loadu_ps(xk + 8);
            __m256 x2 = _mm256_loadu_ps(xk + 16), wv;
            wv = _mm256_broadcast_ss(w);
            FMA(a00, wv, x0), FMA(a01, wv, x1), FMA(a02, wv, x2);
            wv = _mm256_broadcast_ss(w + 1);
            FMA(a10, wv, x0), FMA(a11, wv, x1), FMA(a12, wv, x2);
            wv = _mm256_broadcast_ss(w + 2);
            FMA(a20, wv, x0), FMA(a21, wv, x1), FMA(a22, wv, x2);
            wv = _mm256_broadcast_ss(w + 3);
            FMA(a30, wv, x0), FMA(a31, wv, x1), FMA(a32, wv, x2);
        }
    }
    float *o = t->o;
    const size_t st = t->o_stride;
    _mm256_storeu_ps(o, a00), _mm256_storeu_ps(o + 8, a01), _mm256_storeu_ps(o + 16, a02);
    o += st;
    _mm256_storeu_ps(o, a10), _mm256_storeu_ps(o + 8, a11), _mm256_storeu_ps(o + 16, a12);
    o += st;
    _mm256_storeu_ps(o, a20), _mm256_storeu_ps(o + 8, a21), _mm256_storeu_ps(o + 16, a22);
    o += st;
    _mm256_storeu_ps(o, a30), _mm256_storeu_ps(o + 8, a31), _mm256_storeu_ps(o + 16, a32);
}

AVX2_FN static void tile4_avx2(const Tile *t)
{
    if (t->taps == 9)
        tile4_taps(t, 9);
    else
        tile4_taps(t, 4);
}

/* 1 channel x 96 positions: per tap one broadcast weight meets 12 input vectors. */
AVX2_FN static inline __attribute__((always_inline)) void tile1_taps(const Tile *t, const int taps)
{
    __m256 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = _mm256_set1_ps(t->bias[0]);
    for (int ci = 0; ci < t->cin; ci++) {
        const float *xc = t->x + (size_t)ci * t->padded;
        const float *w = t->wp + (size_t)ci * taps * 4;
        for (int k = 0; k < taps; k++) {
            const float *x = xc + t->off[k];
            __m256 wv = _mm256_broadcast_ss(w + 4 * k);
            FMA(a0, wv, _mm256_loadu_ps(x)), FMA(a1, wv, _mm256_loadu_ps(x + 8));
            FMA(a2, wv, _mm256_loadu_ps(x + 16)), FMA(a3, wv, _mm256_loadu_ps(x + 24));
            FMA(a4, wv, _mm256_loadu_ps(x + 32)), FMA(a5, wv, _mm256_loadu_ps(x + 40));
            FMA(a6, wv, _mm256_loadu_ps(x + 48)), FMA(a7, wv, _mm256_loadu_ps(x + 56));
            FMA(a8, wv, _mm256_loadu_ps(x + 64)), FMA(a9, wv, _mm256_loadu_ps(x + 72));
            FMA(a10, wv, _mm256_loadu_ps(x + 80)), FMA(a11, wv, _mm256_loadu_ps(x + 88));
        }
    }
    float *o = t->o;
    _mm256_storeu_ps(o, a0), _mm256_storeu_ps(o + 8, a1), _mm256_storeu_ps(o + 16, a2);
    _mm256_storeu_ps(o + 24, a3), _mm256_storeu_ps(o + 32, a4), _mm256_storeu_ps(o + 40, a5);
    _mm256_storeu_ps(o + 48, a6), _mm256_storeu_ps(o + 56, a7), _mm256_storeu_ps(o + 64, a8);
    _mm256_storeu_ps(o + 72, a9), _mm256_storeu_ps(o + 80, a10), _mm256_storeu_ps(o + 88, a11);
}

AVX2_FN static void tile1_avx2(const Tile *t)
{
    if (t->taps == 9)
        tile1_taps(t, 9);
    else
        tile1_taps(t, 4);
}

AVX2_FN static void tile_avx2(int cb, const Tile *t)
{
    if (cb == 4)
        tile4_avx2(t);
    else
        tile1_avx2(t);
}

AVX2_FN static float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* 4 channels x a row of 3 taps. */
AVX2_FN static void dw4_avx2(const DwRow *r)
{
    __m256 a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;
    a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = a30 = a31 = a32 = _mm256_setzero_ps();
    const float *d0 = r->dy, *d1 = d0 + r->dy_stride, *d2 = d1 + r->dy_stride;
    const float *d3 = d2 + r->dy_stride;
    for (size_t q = 0; q < r->n; q += 8) {
        const float *x = r->x + q;
        __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 1);
        __m256 x2 = _mm256_loadu_ps(x + 2), d;
        d = _mm256_loadu_ps(d0 + q);
        FMA(a00, d, x0), FMA(a01, d, x1), FMA(a02, d, x2);
        d = _mm256_loadu_ps(d1 + q);
        FMA(a10, d, x0), FMA(a11, d, x1), FMA(a12, d, x2);
        d = _mm256_loadu_ps(d2 + q);
        FMA(a20, d, x0), FMA(a21, d, x1), FMA(a22, d, x2);
        d = _mm256_loadu_ps(d3 + q);
        FMA(a30, d, x0), FMA(a31, d, x1), FMA(a32, d, x2);
    }
    float *g = r->g;
    const size_t st = r->g_stride;
    g[0] += hsum(a00), g[1] += hsum(a01), g[2] += hsum(a02);
    g += st;
    g[0] += hsum(a10), g[1] += hsum(a11), g[2] += hsum(a12);
    g += st;
    g[0] += hsum(a20), g[1] += hsum(a21), g[2] += hsum(a22);
    g += st;
    g[0] += hsum(a30), g[1] += hsum(a31), g[2] += hsum(a32);
}

/* 1 channel x all 9 taps. */
AVX2_FN static void dw1_avx2(const DwRow *r)
{
    __m256 a0, a1, a2, a3, a4, a5, a6, a7, a8;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = _mm256_setzero_ps();
    const size_t pw = (size_t)r->pw;
    for (size_t q = 0; q < r->n; q += 8) {
        const float *x = r->x + q, *x1 = x + pw, *x2 = x1 + pw;
        __m256 d = _mm256_loadu_ps(r->dy + q);
        FMA(a0, d, _mm256_loadu_ps(x)), FMA(a1, d, _mm256_loadu_ps(x + 1));
        FMA(a2, d, _mm256_loadu_ps(x + 2)), FMA(a3, d, _mm256_loadu_ps(x1));
        FMA(a4, d, _mm256_loadu_ps(x1 + 1)), FMA(a5, d, _mm256_loadu_ps(x1 + 2));
        FMA(a6, d, _mm256_loadu_ps(x2)), FMA(a7, d, _mm256_loadu_ps(x2 + 1));
        FMA(a8, d, _mm256_loadu_ps(x2 + 2));
    }
    float *g = r->g;
    g[0] += hsum(a0), g[1] += hsum(a1), g[2] += hsum(a2), g[3] += hsum(a3), g[4] += hsum(a4);
    g[5] += hsum(a5), g[6] += hsum(a6), g[7] += hsum(a7), g[8] += hsum(a8);
}

AVX2_FN static void dw_avx2(int cb, const DwRow *r)
{
    if (cb == 4)
        dw4_avx2(r);
    else
        dw1_avx2(r);
}
#endif

typedef struct {
    void (*tile)(int cb, const Tile *t);
    void (*dw)(int cb, const DwRow *r);
} Kernels;

static Kernels kernels(void)
{
#if GS_HAVE_AVX2_KERNELS
    if (conv3x3_avx2())
        return (Kernels){tile_avx2, dw_avx2};
#endif
    return (Kernels){tile_generic, dw_generic};
}

/* The kernel shape for the block of output channels starting at c0 of n: 1 for a last block
 * of 1, else 4 (a last block of 2 or 3 is computed zero-padded to 4). */
static int block_channels(int c0, int n)
{
    return n - c0 == 1 ? 1 : 4;
}

/* ---- one image ---- */

/* d (h, w) += the sums of the up x up squares of o (h * up rows of stride pw): an
 * upsample's backward. */
static void sum_squares(const float *o, int pw, int h, int w, int up, float *d)
{
    for (int y = 0; y < h; y++) {
        const float *r0 = o + (size_t)y * up * pw;
        float *row = d + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            float acc = 0.0f;
            for (int r = 0; r < up; r++)
                for (int k = 0; k < up; k++)
                    acc += r0[(size_t)r * pw + x * up + k];
            row[x] += acc;
        }
    }
}

/* Where conv_image puts a block's rows: into the images' (n_out, p->h, p->w) planes (set, or
 * added to when `add`); with up > 1 (the input's gradient of an input upsampled other than by
 * phases), each up x up square added into one value of (n_out, h / up, w / up) planes; with
 * phase >= 0 (2a + b), as that phase of (n_out, 2h, 2w) planes: rows 2y + a, columns
 * 2x + b. */
typedef struct {
    bool add;
    int up;
    int phase;
} Place;

/* A tap set: 9 taps of a 3x3 kernel, or 4 of a phase's 2x2, as offsets in a padded plane. */
typedef struct {
    int n;
    int off[9];
} Taps;

/* Output channels [0, n_out) of a group's g images from their n_in padded planes `pad`, by
 * blocks of 4 into the tile buffer, each block's rows then placed into dst as `pl` says. */
static void conv_image(const Kernels *kn, const DirectPlan *p, const Taps *tp,
                       const float *pad, int n_in, const float *pk, int n_out,
                       const float *bias, float *obuf, int g, float *dst, const Place *pl)
{
    const int h = p->h, w = p->w;
    const size_t dplane = pl->phase >= 0 ? (size_t)4 * h * w
                                         : (size_t)(h / pl->up) * (size_t)(w / pl->up);
    for (int blk = 0; blk * 4 < n_out; blk++) {
        int cb = block_channels(4 * blk, n_out), n = n_out - 4 * blk < 4 ? n_out - 4 * blk : 4;
        size_t bs = (size_t)tile_positions(cb);
        Tile t = {.padded = p->padded, .cin = n_in,
                  .wp = pk + (size_t)blk * n_in * tp->n * 4, .o_stride = p->plane_r,
                  .taps = tp->n, .off = tp->off};
        for (int c = 0; c < 4; c++)
            t.bias[c] = bias && c < n ? bias[4 * blk + c] : 0.0f;
        for (size_t q = 0; q < p->plane8; q += bs) {
            size_t q0 = q + bs <= p->plane_r ? q : p->plane_r - bs;
            t.x = pad + q0;
            t.o = obuf + q0;
            kn->tile(cb, &t);
        }
        for (int i = 0; i < g; i++)
            for (int c = 0; c < n; c++) {
                float *d = dst + ((size_t)i * n_out + 4 * blk + c) * dplane;
                const float *o = obuf + (size_t)c * p->plane_r + (size_t)i * (w + 1);
                if (pl->up > 1) {
                    sum_squares(o, p->pw, h / pl->up, w / pl->up, pl->up, d);
                    continue;
                }
                for (int y = 0; y < h; y++) {
                    const float *src = o + (size_t)y * p->pw;
                    if (pl->phase >= 0) {
                        float *row = d + (size_t)(2 * y + (pl->phase >> 1)) * 2 * w +
                                     (pl->phase & 1);
                        for (int x = 0; x < w; x++)
                            row[2 * x] = src[x];
                        continue;
                    }
                    float *row = d + (size_t)y * w;
                    if (pl->add)
                        for (int x = 0; x < w; x++)
                            row[x] += src[x];
                    else
                        memcpy(row, src, sizeof(float) * (size_t)w);
                }
            }
    }
}

/* The 3x3 taps at q + ky * pw + kx. */
static Taps taps3x3(const DirectPlan *p)
{
    Taps t = {.n = 9};
    for (int k = 0; k < 9; k++)
        t.off[k] = k / 3 * p->pw + k % 3;
    return t;
}

/* Phase ph = 2a + b's 2x2 taps k = 2 dy + dx at q + (a + dy) * pw + b + dx. The input's
 * gradient reads fill_phases' shifted planes at phase 3's offsets (the shift makes up for
 * the phase), with the taps reversed in the weights (weight_at). */
static Taps taps_phase(const DirectPlan *p, int ph)
{
    Taps t = {.n = 4};
    for (int k = 0; k < 4; k++)
        t.off[k] = ((ph >> 1) + k / 2) * p->pw + (ph & 1) + k % 2;
    return t;
}

void direct3x3_forward(const ConvShape *s, int B, float *out, const float *inp, const float *w,
                       const float *b, float *ws)
{
    const DirectPlan p = direct_plan(s);
    const Kernels kn = kernels();
    const int up = s->up > 1 ? s->up : 1, phases = p.phases ? 4 : 1;
    const size_t in_img = (size_t)s->Cin * (s->H / up) * (s->W / up);
    const size_t out_img = (size_t)s->Cout * s->H * s->W;
    Taps tp[4];
    const float *pk[4];
    size_t packed = 0;
    for (int ph = 0; ph < phases; ph++) {
        tp[ph] = p.phases ? taps_phase(&p, ph) : taps3x3(&p);
        pk[ph] = ws + packed;
        Weights wt = {.w = w, .Cout = s->Cout, .Cin = s->Cin, .phases = p.phases, .phase = ph};
        packed += pack_weights(&wt, ws + packed);
    }
#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        float *pad = ws + p.pack_n + (size_t)t * p.per_thread, *obuf = pad + p.pad_n + p.dy_n;
        if (b0 < b1)
            memset(pad, 0, sizeof(float) * p.pad_n);
        for (int n = b0; n < b1; n += p.G) {
            int g = b1 - n < p.G ? b1 - n : p.G;
            fill_padded(&p, s->Cin, p.h, p.w, p.up, inp + (size_t)n * in_img, g, pad);
            for (int ph = 0; ph < phases; ph++)
                conv_image(&kn, &p, &tp[ph], pad, s->Cin, pk[ph], s->Cout, b, obuf, g,
                           out + (size_t)n * out_img,
                           &(Place){.up = 1, .phase = p.phases ? ph : -1});
        }
    }
}

/* Weight gradients of a group into g0 (row floats per output channel, cstride per input
 * channel, 3 per tap row): dyflat (Cout planes of stride padded, position q at q) with zeros
 * at the padding columns and past the plane, pad the padded input; tap rows ky0, ky0 + 1, ..
 * below ky1 (a last block of 1 takes all 9 taps at once). */
static void dw_image(const Kernels *kn, const DirectPlan *p, int Cin, int Cout,
                     const float *dyflat, const float *pad, float *g0, size_t row,
                     size_t cstride, int ky0, int ky1)
{
    for (int blk = 0; blk * 4 < Cout; blk++) {
        int cb = block_channels(4 * blk, Cout);
        for (int ci = 0; ci < Cin; ci++)
            for (int ky = cb == 4 ? ky0 : 0; ky < (cb == 4 ? ky1 : 1); ky++) {
                DwRow r = {.dy = dyflat + (size_t)4 * blk * p->padded, .dy_stride = p->padded,
                           .x = pad + (size_t)ci * p->padded + (size_t)ky * p->pw, .pw = p->pw,
                           .n = p->plane8,
                           .g = g0 + (size_t)4 * blk * row + (size_t)ci * cstride +
                                (size_t)ky * 3,
                           .g_stride = row};
                kn->dw(cb, &r);
            }
    }
}

/* dw (Cout, Cin, 9) += the threads' partials, in thread order; with phases, each 3x3 tap the
 * sum of the phases' 3x3 correlations at the input offset it falls on (phase_tap). */
static void sum_dw(const DirectPlan *p, const ConvShape *s, const float *parts, float *dw)
{
    const size_t nw = (size_t)s->Cout * s->Cin * 9;
#pragma omp parallel for schedule(static) num_threads(p->T)
    for (size_t k = 0; k < nw; k++) {
        size_t at[4] = {k};
        const int n = p->phases ? 4 : 1, ky = (int)(k % 9) / 3, kx = (int)(k % 9) % 3;
        for (int ph = 0; p->phases && ph < 4; ph++) {
            const int a = ph >> 1, b = ph & 1;
            at[ph] = k / 9 * 36 + (size_t)ph * 9 + (size_t)(a + phase_tap(a, ky)) * 3 +
                     (size_t)(b + phase_tap(b, kx));
        }
        float acc = 0.0f;
        for (int t = 0; t < p->T; t++)
            for (int j = 0; j < n; j++)
                acc += parts[(size_t)t * p->per_thread + at[j]];
        dw[k] += acc;
    }
}

void direct3x3_backward(const ConvShape *s, int B, float *dinp, float *dw, const float *dout,
                        const float *inp, const float *w, float *ws)
{
    const DirectPlan p = direct_plan(s);
    const Kernels kn = kernels();
    const int up = s->up > 1 ? s->up : 1;
    const size_t in_img = (size_t)s->Cin * (s->H / up) * (s->W / up);
    const size_t out_img = (size_t)s->Cout * s->H * s->W;
    if (!dw && !dinp)
        return;
    const Taps tp = p.phases ? taps_phase(&p, 3) : taps3x3(&p);
    if (dinp)
        pack_weights(&(Weights){.w = w, .Cout = s->Cout, .Cin = s->Cin, .transpose = true,
                                .phases = p.phases, .cr = p.cr},
                     ws);
#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        float *pad = ws + p.pack_n + (size_t)t * p.per_thread, *dypad = pad + p.pad_n;
        float *obuf = dypad + p.dy_n, *dwp = obuf + p.out_n;
        memset(pad, 0, sizeof(float) * (p.pad_n + p.dy_n));
        if (dw)
            memset(dwp, 0, sizeof(float) * p.dw_n);
        for (int n = b0; n < b1; n += p.G) {
            int g = b1 - n < p.G ? b1 - n : p.G;
            /* the output gradient zero-padded: its interior starts at pw + 1, and read from
             * there it is the flat layout with zeros in the padding columns (each phase's
             * from its own shift on) */
            if (p.phases)
                fill_phases(&p, s->Cout, dout + (size_t)n * out_img, g, dypad);
            else
                fill_padded(&p, s->Cout, s->H, s->W, 1, dout + (size_t)n * out_img, g, dypad);
            if (dw) {
                fill_padded(&p, s->Cin, p.h, p.w, p.up, inp + (size_t)n * in_img, g, pad);
                if (!p.phases)
                    dw_image(&kn, &p, s->Cin, s->Cout, dypad + p.pw + 1, pad, dwp,
                             (size_t)s->Cin * 9, 9, 0, 3);
                else
                    for (int ph = 0; ph < 4; ph++) {
                        /* each phase's planes from their shift on (fill_phases) */
                        const int a = ph >> 1, b = ph & 1;
                        const float *dyph = dypad + (size_t)ph * p.cr * p.padded +
                                            (size_t)(1 + a) * p.pw + 1 + b;
                        dw_image(&kn, &p, s->Cin, s->Cout, dyph, pad, dwp + (size_t)ph * 9,
                                 (size_t)s->Cin * 36, 36, a, a + 2);
                    }
            }
            if (dinp)
                conv_image(&kn, &p, &tp, dypad, p.phases ? 4 * p.cr : s->Cout, ws, s->Cin,
                           NULL, obuf, g, dinp + (size_t)n * in_img,
                           &(Place){.add = true, .up = p.up, .phase = -1});
        }
    }
    if (dw)
        sum_dw(&p, s, ws + p.pack_n + p.pad_n + p.dy_n + p.out_n, dw);
}
