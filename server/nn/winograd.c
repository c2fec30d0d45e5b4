/* winograd.c — 3x3, stride 1, pad 1 convolutions by Winograd's minimal filtering F(mxm, 3x3)
 * (Lavin & Gray 2016), m = 2 or 4: every mxm block of outputs is A^T [(G g G^T) . (B^T d B)] A,
 * with d the (m+2)x(m+2) input patch around it. In the transformed domain the sum over input
 * channels becomes (m+2)^2 independent GEMMs, (Cout, Cin) x (Cin, tiles): per output and
 * channel pair 4 multiply-adds for F(2x2) and 2.25 for F(4x4) where im2col + GEMM does 9
 * (planes not a multiple of m pad up: a 7x7 plane is 8x8 of tiles). Run by SGEMM on chunks
 * of images, the transforms' memory passes and the narrow GEMMs ate the saving at this
 * product's channel counts (BENCHMARKS.md); F(4x4) with its products fused with the
 * transforms (below, AVX2 + FMA) is what conv.c picks for 32 channels and more on small
 * planes. F(4x4)'s larger coefficients (up to 8 and 1/24) also cost precision: about 1e-6 relative
 * against 1e-7 (tests/test_layers.c bounds both, and checks the gradients by finite
 * differences). The backward pass is the chain rule through the same identities, so it is
 * the exact gradient of what the forward computes:
 *   dM = A dY A^T;  dU = sum over tiles of dM . V  -> dW = G^T dU G (as dU^T C: below);
 *   dV = U^T dM (one GEMM per point)                -> dX += B dV B^T, tiles overlapping.
 * The work is split like conv.c's: T contiguous ranges of images, one per OpenMP thread, each
 * in chunks of a few images; weight-gradient partials per thread, summed in thread order, so
 * results are bit-identical for a fixed thread count. Everything lives in the caller's ws. */
#include <string.h>

#include "gs/blas.h"
#include "gs/layers.h"
#include "conv3x3.h"
#include "simd.h"

/* Transformed input and product of one chunk per thread, in bytes: like conv.c's im2col
 * buffer; 4 and 16 MiB were slower on the default encoder's layers. */
#ifndef WINO_BYTES_TARGET
#define WINO_BYTES_TARGET (1u << 20)
#endif
#define A_MAX 6 /* inputs per tile side, at most */

/* A row pass of a 1-D transform (below). */
typedef void (*RowsFn)(const float *in, size_t is, float *out, size_t os, size_t n,
                       float bias);

typedef struct {
    int m, a;                  /* outputs and inputs per tile side: a = m + 2 */
    RowsFn bt, b, at, at_tr;   /* B^T d, B v (its transpose), A^T q, A y (its transpose) */
    void (*g)(const float *g, float *o);  /* G g (3 -> a) */
} WinoKind;

typedef struct {
    const WinoKind *k;
    bool fused;          /* F(4x4) with its products in registers (below), not SGEMM */
    int T, chunk;        /* threads; images per chunk */
    int th, tw;          /* tiles per column and row of a plane */
    int nx;              /* transform points a * a: one GEMM each */
    size_t tiles;        /* th * tw */
    size_t ld;           /* a row of V or M: chunk * tiles columns (fused: rounded up to a
                          * block of FB_COLS, the columns past the tiles zero) */
    size_t u_n;          /* transformed weights (nx, Cout, Cin), shared */
    size_t pk_n;         /* fused: those weights packed for the kernel, shared */
    size_t v_n, m_n;     /* per thread: V (nx, Cin, ld), M or dM (nx, Cout, ld) */
    size_t du_n;         /* per thread: weight-gradient partial (nx, Cout, Cin) */
    size_t tmp_n;        /* per thread, twice (tmp and mid): nx rows of ld columns */
    size_t blk_n;        /* fused, per thread: the products of a block of columns for every
                          * channel block (nx, 4, FB_COLS each) and two rows of transforms */
    size_t tab_n;        /* per thread: the tiles' positions in a plane (Tables) */
    size_t per_thread;
} WinoPlan;

/* ---- the weights' transform, G g (3 -> a); tap_coefficients makes it a matrix ---- */

static void g4(const float *g, float *o)
{
    o[0] = g[0];
    o[1] = 0.5f * (g[0] + g[1] + g[2]);
    o[2] = 0.5f * (g[0] - g[1] + g[2]);
    o[3] = g[2];
}

static void g6(const float *g, float *o)
{
    o[0] = 0.25f * g[0];
    o[1] = -(g[0] + g[1] + g[2]) / 6.0f;
    o[2] = -(g[0] - g[1] + g[2]) / 6.0f;
    o[3] = g[0] / 24.0f + g[1] / 12.0f + g[2] / 6.0f;
    o[4] = g[0] / 24.0f - g[1] / 12.0f + g[2] / 6.0f;
    o[5] = g[2];
}

/* Row passes of the 1-D transforms over n columns: input row i at in + i is, output row k at
 * out + k os; out[k os + c] = (F (in[i is + c])_i)[k] + bias. Written out per transform with
 * a named pointer per row, the form both compilers vectorise. */

GS_SIMD static void bt4_rows(const float *in, size_t is, float *out, size_t os, size_t n,
                             float bias) /* B^T d, F(2x2) */
{
    const float *d0 = in, *d1 = in + is, *d2 = in + 2 * is, *d3 = in + 3 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os;
#pragma omp simd
    for (size_t c = 0; c < n; c++) {
        float a0 = d0[c], a1 = d1[c], a2 = d2[c], a3 = d3[c];
        o0[c] = a0 - a2 + bias;
        o1[c] = a1 + a2 + bias;
        o2[c] = a2 - a1 + bias;
        o3[c] = a1 - a3 + bias;
    }
}

GS_SIMD static void b4_rows(const float *in, size_t is, float *out, size_t os, size_t n,
                            float bias) /* B v, the transpose of bt4_rows */
{
    const float *d0 = in, *d1 = in + is, *d2 = in + 2 * is, *d3 = in + 3 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os;
#pragma omp simd
    for (size_t c = 0; c < n; c++) {
        float a0 = d0[c], a1 = d1[c], a2 = d2[c], a3 = d3[c];
        o0[c] = a0 + bias;
        o1[c] = a1 - a2 + a3 + bias;
        o2[c] = -a0 + a1 + a2 + bias;
        o3[c] = -a3 + bias;
    }
}

GS_SIMD static void at4_rows(const float *in, size_t is, float *out, size_t os, size_t n,
                             float bias) /* A^T q, F(2x2) */
{
    const float *d0 = in, *d1 = in + is, *d2 = in + 2 * is, *d3 = in + 3 * is;
    float *o0 = out, *o1 = out + os;
#pragma omp simd
    for (size_t c = 0; c < n; c++) {
        float a0 = d0[c], a1 = d1[c], a2 = d2[c], a3 = d3[c];
        o0[c] = a0 + a1 + a2 + bias;
        o1[c] = a1 - a2 - a3 + bias;
    }
}

GS_SIMD static void a4_rows(const float *in, size_t is, float *out, size_t os, size_t n,
                            float bias) /* A y, the transpose of at4_rows */
{
    const float *d0 = in, *d1 = in + is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os;
#pragma omp simd
    for (size_t c = 0; c < n; c++) {
        float a0 = d0[c], a1 = d1[c];
        o0[c] = a0 + bias;
        o1[c] = a0 + a1 + bias;
        o2[c] = a0 - a1 + bias;
        o3[c] = -a1 + bias;
    }
}

GS_SIMD static void bt6_rows(const float *in, size_t is, float *out, size_t os, size_t n,
                             float bias) /* B^T d, F(4x4) */
{
    const float *d0 = in, *d1 = in + is, *d2 = in + 2 * is, *d3 = in + 3 * is,
                *d4 = in + 4 * is, *d5 = in + 5 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os,
          *o4 = out + 4 * os, *o5 = out + 5 * os;
#pragma omp simd
    for (size_t c = 0; c < n; c++) {
        float a0 = d0[c], a1 = d1[c], a2 = d2[c], a3 = d3[c], a4 = d4[c], a5 = d5[c];
        o0[c] = 4.0f * a0 - 5.0f * a2 + a4 + bias;
        o1[c] = -4.0f * (a1 + a2) + a3 + a4 + bias;
        o2[c] = 4.0f * (a1 - a2) - a3 + a4 + bias;
        o3[c] = -2.0f * (a1 - a3) - a2 + a4 + bias;
        o4[c] = 2.0f * (a1 - a3) - a2 + a4 + bias;
        o5[c] = 4.0f * a1 - 5.0f * a3 + a5 + bias;
    }
}

GS_SIMD static void b6_rows(const float *in, size_t is, float *out, size_t os, size_t n,
                            float bias) /* B v, the transpose of bt6_rows */
{
    const float *d0 = in, *d1 = in + is, *d2 = in + 2 * is, *d3 = in + 3 * is,
                *d4 = in + 4 * is, *d5 = in + 5 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os,
          *o4 = out + 4 * os, *o5 = out + 5 * os;
#pragma omp simd
    for (size_t c = 0; c < n; c++) {
        float a0 = d0[c], a1 = d1[c], a2 = d2[c], a3 = d3[c], a4 = d4[c], a5 = d5[c];
        o0[c] = 4.0f * a0 + bias;
        o1[c] = -4.0f * (a1 - a2) - 2.0f * (a3 - a4) + 4.0f * a5 + bias;
        o2[c] = -5.0f * a0 - 4.0f * (a1 + a2) - a3 - a4 + bias;
        o3[c] = a1 - a2 + 2.0f * (a3 - a4) - 5.0f * a5 + bias;
        o4[c] = a0 + a1 + a2 + a3 + a4 + bias;
        o5[c] = a5 + bias;
    }
}

GS_SIMD static void at6_rows(const float *in, size_t is, float *out, size_t os, size_t n,
                             float bias) /* A^T q, F(4x4) */
{
    const float *d0 = in, *d1 = in + is, *d2 = in + 2 * is, *d3 = in + 3 * is,
                *d4 = in + 4 * is, *d5 = in + 5 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os;
#pragma omp simd
    for (size_t c = 0; c < n; c++) {
        float s12 = d1[c] + d2[c], t12 = d1[c] - d2[c], s34 = d3[c] + d4[c],
              t34 = d3[c] - d4[c];
        o0[c] = d0[c] + s12 + s34 + bias;
        o1[c] = t12 + 2.0f * t34 + bias;
        o2[c] = s12 + 4.0f * s34 + bias;
        o3[c] = t12 + 8.0f * t34 + d5[c] + bias;
    }
}

GS_SIMD static void a6_rows(const float *in, size_t is, float *out, size_t os, size_t n,
                            float bias) /* A y, the transpose of at6_rows */
{
    const float *d0 = in, *d1 = in + is, *d2 = in + 2 * is, *d3 = in + 3 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os,
          *o4 = out + 4 * os, *o5 = out + 5 * os;
#pragma omp simd
    for (size_t c = 0; c < n; c++) {
        float a0 = d0[c], a1 = d1[c], a2 = d2[c], a3 = d3[c];
        float s02 = a0 + a2, s13 = a1 + a3;
        o0[c] = a0 + bias;
        o1[c] = s02 + s13 + bias;
        o2[c] = s02 - s13 + bias;
        o3[c] = a0 + 2.0f * a1 + 4.0f * a2 + 8.0f * a3 + bias;
        o4[c] = a0 - 2.0f * a1 + 4.0f * a2 - 8.0f * a3 + bias;
        o5[c] = a3 + bias;
    }
}

static const WinoKind F2 = {2, 4, bt4_rows, b4_rows, at4_rows, a4_rows, g4};
static const WinoKind F4 = {4, 6, bt6_rows, b6_rows, at6_rows, a6_rows, g6};

/* The fused F(4x4) path's block: FB_CH channels by FB_COLS columns (tiles). */
#define FB_CH 4
#define FB_COLS 24
/* Forward: output channels whose products of a block of columns are made before any is
 * transformed (a multiple of FB_CH; their products, FB_SUPER x nx x FB_COLS floats, stay in
 * L2). */
#define FB_SUPER 64
/* Fused: V and dM of a chunk per thread, in bytes; the kernels read them a block of columns at
 * a time, so a chunk can be a whole thread's images (the products' inner dimension is the
 * channels either way). */
#ifndef WINO_FUSED_BYTES
#define WINO_FUSED_BYTES (16u << 20)
#endif

static bool fused_path(int m)
{
    return m == 4 && conv3x3_avx2();
}

static size_t round4(int c)
{
    return ((size_t)c + FB_CH - 1) / FB_CH * FB_CH;
}

/* The fused path's rows: n columns rounded up to whole blocks. */
static size_t round_cols(size_t n)
{
    return (n + FB_COLS - 1) / FB_COLS * FB_COLS;
}

static WinoPlan wino_plan(const ConvShape *s, int B, int m, bool fused)
{
    WinoPlan p;
    p.k = m == 4 ? &F4 : &F2;
    p.fused = fused && m == 4;
    int T = gs_threads_get();
    if (T < 1)
        T = 1;
    int per = B > 0 ? (B + T - 1) / T : 1;
    p.T = T;
    p.nx = p.k->a * p.k->a;
    p.th = (s->H + m - 1) / m;
    p.tw = (s->W + m - 1) / m;
    p.tiles = (size_t)p.th * p.tw;
    size_t nx = (size_t)p.nx;
    size_t per_image = nx * sizeof(float) * (size_t)(s->Cin + s->Cout) * p.tiles;
    int chunk = (int)((p.fused ? WINO_FUSED_BYTES : WINO_BYTES_TARGET) / per_image);
    if (chunk < 1)
        chunk = 1;
    if (chunk > per)
        chunk = per;
    p.chunk = chunk;
    p.ld = p.tiles * (size_t)chunk;
    if (p.fused)
        p.ld = round_cols(p.ld);
    p.u_n = conv_round_up(nx * (size_t)s->Cout * s->Cin);
    p.pk_n = p.fused ? conv_round_up(nx * round4(s->Cout) * round4(s->Cin)) : 0;
    p.v_n = conv_round_up(nx * (size_t)s->Cin * p.ld);
    p.m_n = conv_round_up(nx * (size_t)s->Cout * p.ld);
    p.du_n = conv_round_up(nx * (size_t)s->Cout * s->Cin);
    p.tmp_n = conv_round_up(nx * p.ld);
    size_t blocks = round4(s->Cin) > FB_SUPER ? round4(s->Cin) : FB_SUPER;
    p.blk_n = p.fused ? conv_round_up((blocks + 2) * nx * FB_COLS + (size_t)s->Cout * FB_COLS)
                      : 0;
    p.tab_n = conv_round_up((nx + (size_t)m * m) * p.tiles);
    p.per_thread = p.v_n + p.m_n + p.du_n + 2 * p.tmp_n + p.blk_n + p.tab_n;
    return p;
}

/* Either path's: a test may turn the AVX2 kernels off after a network sized its ws. */
size_t winograd_ws_floats(const ConvShape *s, int B, int m)
{
    size_t n = 0;
    for (int fused = 0; fused < 2; fused++) {
        WinoPlan p = wino_plan(s, B, m, fused);
        size_t t = p.u_n + p.pk_n + p.per_thread * (size_t)p.T;
        if (t > n)
            n = t;
    }
    return n;
}

/* C (nx, 9): row x holds U[x]'s coefficients on a filter's 9 taps, U = G g G^T, made by
 * transforming the 9 unit filters. The weights' transform is then one small GEMM, U = C w^T
 * over all filters at once, and the weights' gradient its transpose, dw += dU^T C (the chain
 * rule through a linear map). */
static void tap_coefficients(const WinoKind *k, float *c)
{
    const int a = k->a;
    for (int tap = 0; tap < 9; tap++) {
        float col[3][A_MAX], o[A_MAX];
        for (int j = 0; j < 3; j++) {
            const float unit[3] = {(float)(tap == j), (float)(tap == 3 + j),
                                   (float)(tap == 6 + j)};
            k->g(unit, col[j]); /* col[j][i] = (G g)[i][j] */
        }
        for (int i = 0; i < a; i++) {
            const float row[3] = {col[0][i], col[1][i], col[2][i]};
            k->g(row, o);
            for (int j = 0; j < a; j++)
                c[(size_t)(a * i + j) * 9 + tap] = o[j];
        }
    }
}

/* Where weights_transform puts U[x][co][ci]: the SGEMM path's (nx, Cout, Cin), or packed
 * for the fused kernels by blocks of FB_CH output channels, (Cout / 4, nx, Cin, 4), or of
 * input channels, (Cin / 4, nx, Cout, 4) (channels past the end of a last block zero). */
typedef enum { U_PLAIN, U_BY_OUT, U_BY_IN } ULayout;

/* U of every filter of w (Cout, Cin*9) into u, laid out as lay says; a packed layout is
 * made from the plain one in plain (nx * Cout * Cin floats). */
static void weights_transform(const ConvShape *s, const WinoPlan *p, const float *w,
                              ULayout lay, float *u, float *plain)
{
    const int nx = p->nx, Cin = s->Cin, Cout = s->Cout, T = p->T;
    const size_t pairs = (size_t)Cout * Cin;
    float c[A_MAX * A_MAX * 9];
    tap_coefficients(p->k, c);
    if (lay == U_PLAIN)
        plain = u;
#pragma omp parallel for schedule(static) num_threads(T)
    for (int t = 0; t < T; t++) {
        const size_t q0 = pairs * t / T, q1 = pairs * (t + 1) / T;
        if (q1 > q0)
            gs_sgemm(false, true, nx, (int)(q1 - q0), 9, 1.0f, c, 9, w + q0 * 9, 9, 0.0f,
                     plain + q0, (int)pairs);
    }
    if (lay == U_PLAIN)
        return;
    const bool by_in = lay == U_BY_IN;
    const int c1 = by_in ? Cin : Cout, c2 = by_in ? Cout : Cin;
    const int nblk = (int)(round4(c1) / FB_CH);
#pragma omp parallel for schedule(static) num_threads(T)
    for (int bk = 0; bk < nblk; bk++)
        for (int x = 0; x < nx; x++) {
            float *dst = u + ((size_t)bk * nx + x) * c2 * FB_CH;
            const float *ux = plain + (size_t)x * pairs;
            for (int c = 0; c < FB_CH; c++) {
                const int i = bk * FB_CH + c;
                for (int j = 0; j < c2; j++)
                    dst[(size_t)j * FB_CH + c] = i >= c1 ? 0.0f
                                                 : by_in ? ux[(size_t)j * Cin + i]
                                                         : ux[(size_t)i * Cin + j];
            }
        }
}

/* dw (Cout, Cin*9) += dU^T C for each of the threads' partials dU (nx, Cout, Cin): p->T of
 * them, the first at parts, one every stride floats, added in thread order. */
static void weights_grad(const ConvShape *s, const WinoPlan *p, const float *parts,
                         size_t stride, float *dw)
{
    const int T = p->T;
    const size_t pairs = (size_t)s->Cout * s->Cin;
    float c[A_MAX * A_MAX * 9];
    tap_coefficients(p->k, c);
#pragma omp parallel for schedule(static) num_threads(T)
    for (int t = 0; t < T; t++) {
        const size_t q0 = pairs * t / T, q1 = pairs * (t + 1) / T;
        for (int part = 0; q1 > q0 && part < T; part++)
            gs_sgemm(true, false, (int)(q1 - q0), 9, p->nx, 1.0f,
                     parts + (size_t)part * stride + q0, (int)pairs, c, 9, 1.0f, dw + q0 * 9,
                     9);
    }
}

/* Where the tiles read and write, per point and tile t, made once per call and thread:
 * out[(m r + k) tiles + t]: output (r, k)'s place in the plane (H x W), or hw outside it;
 * in[x tiles + t]: input point x's place in the plane, or hw in the padding.
 * Moving tiles is then a table-driven copy (gather_tiles, tile_to_plane) without
 * per-element bounds arithmetic or a padded plane: reads take a zero at hw (at(), a select,
 * no branch), writes skip it. */
typedef struct {
    const int *in, *out;
} Tables;

static Tables make_tables(const ConvShape *s, const WinoPlan *p, float *region)
{
    int *in = (int *)region, *out = in + (size_t)p->nx * p->tiles;
    const int m = p->k->m, a = p->k->a, hw = s->H * s->W;
    for (int t = 0; t < (int)p->tiles; t++) {
        const int ty = t / p->tw, tx = t % p->tw;
        for (int i = 0; i < a; i++)
            for (int j = 0; j < a; j++) {
                const int y = m * ty + i - 1, c = m * tx + j - 1;
                in[(size_t)(a * i + j) * p->tiles + t] =
                    y >= 0 && y < s->H && c >= 0 && c < s->W ? y * s->W + c : hw;
            }
        for (int r = 0; r < m; r++)
            for (int k = 0; k < m; k++) {
                const int y = m * ty + r, c = m * tx + k;
                out[(size_t)(m * r + k) * p->tiles + t] = y < s->H && c < s->W ? y * s->W + c : hw;
            }
    }
    return (Tables){in, out};
}

/* plane[i], or zero for i == hw. */
static inline float at(const float *plane, int i, int hw)
{
    const float v = plane[i < hw ? i : 0];
    return i < hw ? v : 0.0f;
}

/* Channel ch of images [c0, c0 + nb) (planes img apart) as tiles: n points of each, at the
 * table's positions (pos: one row of tiles per point), into tmp[k * ld + i * tiles + t]. */
static void gather_tiles(const float *planes, size_t img, int c0, int nb, const int *pos,
                         int n, size_t tiles, int hw, float *tmp, size_t ld)
{
    for (int i = 0; i < nb; i++) {
        const float *x = planes + (size_t)(c0 + i) * img;
        for (int k = 0; k < n; k++) {
            float *dst = tmp + (size_t)k * ld + (size_t)i * tiles;
            const int *at_k = pos + (size_t)k * tiles;
            for (size_t t = 0; t < tiles; t++)
                dst[t] = at(x, at_k[t], hw);
        }
    }
}

/* One tile's n values src[k * stride] into plane y at pos[k * tiles] (its table positions),
 * those outside the plane skipped; added to what is there when add (an input gradient's
 * overlapping patches), else written (outputs). */
static void tile_to_plane(float *y, const int *pos, size_t tiles, const float *src,
                          size_t stride, int n, int hw, bool add)
{
    for (int k = 0; k < n; k++) {
        const int q = pos[(size_t)k * tiles];
        if (q < hw)
            y[q] = add ? y[q] + src[(size_t)k * stride] : src[(size_t)k * stride];
    }
}

/* The transforms run over the columns of a chunk: every tile of every image of the chunk for
 * one channel. A 2-D transform is two passes of 1-D ones, each over whole rows of n columns
 * (one row per transform point), so every loop is a plain vectorised pass over memory; mid
 * holds the rows between the passes. Moving tiles between planes and rows is separate.
 * dst = F src F^T per column: src rows ni x ni (row (i, j) at src + (i ni + j) ls), dst rows
 * no x no at dst + (i no + j) ds; bias added to every output. */
static void cols_2d(RowsFn fn, int ni, int no, const float *src, size_t ls, float *dst,
                    size_t ds, float *mid, size_t n, float bias)
{
    for (int j = 0; j < ni; j++) /* down column j: rows (i, j) -> mid rows (r, j) */
        fn(src + (size_t)j * ls, (size_t)ni * ls, mid + (size_t)j * n, (size_t)ni * n, n, 0.0f);
    for (int r = 0; r < no; r++) /* along row r: mid rows (r, j) -> rows (r, k) */
        fn(mid + (size_t)ni * r * n, n, dst + (size_t)no * r * ds, ds, n, bias);
}

/* One thread's share of ws: wino_plan's per-thread blocks, in order, and its tables. */
typedef struct {
    float *v, *m, *du, *tmp, *mid, *blk;
    Tables tb;
} Scratch;

static Scratch thread_scratch(const ConvShape *s, const WinoPlan *p, float *base, int t)
{
    Scratch k;
    k.v = base + (size_t)t * p->per_thread;
    k.m = k.v + p->v_n;
    k.du = k.m + p->m_n;
    k.tmp = k.du + p->du_n;
    k.mid = k.tmp + p->tmp_n;
    k.blk = k.mid + p->tmp_n;
    k.tb = make_tables(s, p, k.blk + p->blk_n);
    return k;
}

/* Inputs of images [c0, c0 + nb) into V: rows (p->nx, Cin) of ldv >= nb * tiles columns,
 * those past the tiles zero; or, blocked (the fused path), blocks of FB_COLS columns of all
 * the rows, (ldv / FB_COLS, nx, Cin, FB_COLS), so that a kernel's operand is contiguous. */
static void chunk_inputs(const ConvShape *s, const WinoPlan *p, const Tables *tb,
                         const float *inp, int c0, int nb, float *v, size_t ldv, bool blocked,
                         float *tmp, float *mid)
{
    const int ta = p->k->a, hw = s->H * s->W;
    const size_t ld = (size_t)nb * p->tiles, in_img = (size_t)s->Cin * hw;
    if (blocked) { /* the tiles' rows in tmp run ldv wide, zero past the tiles */
        for (int xi = 0; xi < p->nx; xi++)
            memset(tmp + (size_t)xi * ldv + ld, 0, sizeof(float) * (ldv - ld));
        for (int ci = 0; ci < s->Cin; ci++) {
            gather_tiles(inp + (size_t)ci * hw, in_img, c0, nb, tb->in, p->nx, p->tiles, hw,
                         tmp, ldv);
            for (size_t cb = 0; cb < ldv; cb += FB_COLS)
                cols_2d(p->k->bt, ta, ta, tmp + cb, ldv,
                        v + (cb / FB_COLS * p->nx * s->Cin + ci) * FB_COLS,
                        (size_t)s->Cin * FB_COLS, mid, FB_COLS, 0.0f);
        }
        return;
    }
    const size_t xs = (size_t)s->Cin * ldv;
    for (int ci = 0; ci < s->Cin; ci++) {
        gather_tiles(inp + (size_t)ci * hw, in_img, c0, nb, tb->in, p->nx, p->tiles, hw, tmp,
                     ld);
        cols_2d(p->k->bt, ta, ta, tmp, ld, v + (size_t)ci * ldv, xs, mid, ld, 0.0f);
    }
    if (ldv > ld)
        for (size_t r = 0; r < (size_t)p->nx * s->Cin; r++)
            memset(v + r * ldv + ld, 0, sizeof(float) * (ldv - ld));
}

/* The outputs tmp[k * ld + i * tiles + t] into channel co of images [c0, c0 + nb). */
static void place_outputs(const ConvShape *s, const WinoPlan *p, const Tables *tb,
                          const float *tmp, size_t ld, int nb, float *out, int c0, int co)
{
    const int hw = s->H * s->W;
    const size_t out_img = (size_t)s->Cout * hw;
    for (int i = 0; i < nb; i++)
        for (size_t t = 0; t < p->tiles; t++)
            tile_to_plane(out + (size_t)(c0 + i) * out_img + (size_t)co * hw, tb->out + t,
                          p->tiles, tmp + (size_t)i * p->tiles + t, ld, p->k->m * p->k->m, hw,
                          false);
}

/* The output gradient of channel co of images [c0, c0 + nb) as tiles: tmp[k * ld + col];
 * outputs beyond the plane have none (zero). */
static void gather_grad_outputs(const ConvShape *s, const WinoPlan *p, const Tables *tb,
                                const float *dout, int c0, int nb, int co, float *tmp,
                                size_t ld)
{
    const int hw = s->H * s->W;
    gather_tiles(dout + (size_t)co * hw, (size_t)s->Cout * hw, c0, nb, tb->out,
                 p->k->m * p->k->m, p->tiles, hw, tmp, ld);
}

/* Channel ci of the input gradient of images [c0, c0 + nb) += the patches' gradients
 * tmp[x * ld + col], overlapping tiles added, the padding's share dropped. */
static void scatter_grad_inputs(const ConvShape *s, const WinoPlan *p, const Tables *tb,
                                const float *tmp, size_t ld, int nb, float *dinp, int c0,
                                int ci)
{
    const int hw = s->H * s->W;
    const size_t in_img = (size_t)s->Cin * hw;
    for (int i = 0; i < nb; i++)
        for (size_t t = 0; t < p->tiles; t++)
            tile_to_plane(dinp + (size_t)(c0 + i) * in_img + (size_t)ci * hw, tb->in + t,
                          p->tiles, tmp + (size_t)i * p->tiles + t, ld, p->nx, hw, true);
}

/* ---- F(4x4) with its products in registers (AVX2 + FMA) ----
 * The SGEMM path above runs 36 products with an inner dimension of Cin (or Cout) on narrow
 * chunks and makes a 36-fold product matrix that the output transform reads back. Here a
 * kernel computes FB_CH channels by FB_COLS tiles of one transform point with all 12
 * accumulators in registers, and a block's 36 points are transformed while they are in L2:
 * - forward: V is stored in blocks of FB_COLS columns (chunk_inputs, blocked); for a block,
 *   point by point, the products U[x] V[x] of FB_SUPER output channels (inner dimension
 *   Cin), then A^T m A and the bias into the output planes;
 * - input gradient: dM = A dY A^T is made for the chunk (rows); for a block of columns,
 *   point by point, a contiguous copy of dM[x]'s block and the products U[x]^T dM[x] of
 *   every 4 input channels (inner dimension Cout), then B dV B^T of each channel added into
 *   the input gradient;
 * - weight gradient: dU[x] += dM[x] V[x]^T by SGEMM (its inner dimension is the columns,
 *   long), then dw += dU^T C as on the other path.
 * The weights are transformed straight into the kernel's order (weights_transform's
 * U_BY_OUT forward, U_BY_IN for the input gradient). */
#if GS_HAVE_AVX2_KERNELS

/* o (4, FB_COLS) = sum over k < K of u[k] (4 channels) times v's row k (FB_COLS columns,
 * rows contiguous). */
AVX2_FN static void prod4_avx2(const float *u, const float *v, int K, float *o)
{
    __m256 a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;
    a00 = a01 = a02 = a10 = a11 = a12 = _mm256_setzero_ps();
    a20 = a21 = a22 = a30 = a31 = a32 = _mm256_setzero_ps();
    for (int k = 0; k < K; k++, u += 4, v += FB_COLS) {
        __m256 x0 = _mm256_loadu_ps(v), x1 = _mm256_loadu_ps(v + 8);
        __m256 x2 = _mm256_loadu_ps(v + 16), wv;
        wv = _mm256_broadcast_ss(u);
        FMA(a00, wv, x0), FMA(a01, wv, x1), FMA(a02, wv, x2);
        wv = _mm256_broadcast_ss(u + 1);
        FMA(a10, wv, x0), FMA(a11, wv, x1), FMA(a12, wv, x2);
        wv = _mm256_broadcast_ss(u + 2);
        FMA(a20, wv, x0), FMA(a21, wv, x1), FMA(a22, wv, x2);
        wv = _mm256_broadcast_ss(u + 3);
        FMA(a30, wv, x0), FMA(a31, wv, x1), FMA(a32, wv, x2);
    }
    _mm256_storeu_ps(o, a00), _mm256_storeu_ps(o + 8, a01), _mm256_storeu_ps(o + 16, a02);
    _mm256_storeu_ps(o + 24, a10), _mm256_storeu_ps(o + 32, a11), _mm256_storeu_ps(o + 40, a12);
    _mm256_storeu_ps(o + 48, a20), _mm256_storeu_ps(o + 56, a21), _mm256_storeu_ps(o + 64, a22);
    _mm256_storeu_ps(o + 72, a30), _mm256_storeu_ps(o + 80, a31), _mm256_storeu_ps(o + 88, a32);
}
#else
static void prod4_avx2(const float *u, const float *v, int K, float *o)
{
    (void)u, (void)v, (void)K, (void)o; /* never called: fused_path is false */
}

#endif

/* A block's columns: image (from the chunk's first) and tile of each; returns how many of
 * the block's FB_COLS columns are tiles (the last block of a chunk may have fewer). */
static int block_columns(const WinoPlan *p, size_t cb, size_t ncols, int *img, int *tile)
{
    int n = 0;
    for (size_t c = cb; c < cb + FB_COLS && c < ncols; c++, n++) {
        img[n] = (int)(c / p->tiles);
        tile[n] = (int)(c % p->tiles);
    }
    return n;
}

static void fused_forward(const ConvShape *s, const WinoPlan *p, int B, float *out,
                          const float *inp, const float *b, const float *pk, float *ws)
{
    const int nx = p->nx, hw = s->H * s->W;
    const size_t out_img = (size_t)s->Cout * hw;
#pragma omp parallel for schedule(static) num_threads(p->T)
    for (int t = 0; t < p->T; t++) {
        int b0, b1;
        conv_image_range(B, p->T, t, &b0, &b1);
        Scratch k = thread_scratch(s, p, ws, t);
        float *res = k.blk + (size_t)FB_SUPER * nx * FB_COLS, *mid2 = res + (size_t)nx * FB_COLS;
        int img[FB_COLS], tile[FB_COLS];
        for (int c0 = b0; c0 < b1; c0 += p->chunk) {
            const int nb = b1 - c0 < p->chunk ? b1 - c0 : p->chunk;
            const size_t ncols = (size_t)nb * p->tiles;
            const size_t ldv = round_cols(ncols);
            chunk_inputs(s, p, &k.tb, inp, c0, nb, k.v, ldv, true, k.tmp, k.mid);
            for (size_t cb = 0; cb < ncols; cb += FB_COLS) {
                const int nc = block_columns(p, cb, ncols, img, tile);
                const float *vb = k.v + cb * nx * s->Cin; /* the block's V */
                for (int sb = 0; sb < s->Cout; sb += FB_SUPER) {
                    const int se = sb + FB_SUPER < s->Cout ? sb + FB_SUPER : s->Cout;
                    /* point by point, so V's block (Cin x FB_COLS) stays in L1 for every
                     * channel block of the super-block */
                    for (int x = 0; x < nx; x++)
                        for (int co0 = sb; co0 < se; co0 += FB_CH)
                            prod4_avx2(pk + ((size_t)co0 * nx + (size_t)x * FB_CH) * s->Cin,
                                       vb + (size_t)x * s->Cin * FB_COLS, s->Cin,
                                       k.blk + ((size_t)(co0 - sb) * nx + (size_t)x * FB_CH) *
                                                   FB_COLS);
                    for (int co = sb; co < se; co++) {
                        const float *q = k.blk + (size_t)((co - sb) / FB_CH) * nx * FB_CH *
                                                     FB_COLS + (size_t)(co % FB_CH) * FB_COLS;
                        cols_2d(at6_rows, 6, 4, q, FB_CH * FB_COLS,
                                res, FB_COLS, mid2, FB_COLS, b ? b[co] : 0.0f);
                        for (int j = 0; j < nc; j++)
                            tile_to_plane(out + (size_t)(c0 + img[j]) * out_img +
                                              (size_t)co * hw,
                                          k.tb.out + tile[j], p->tiles, res + j, FB_COLS, 16,
                                          hw, false);
                    }
                }
            }
        }
    }
}

/* dM (nx, Cout, ldv) of images [c0, c0 + nb): A dY A^T per tile, the columns past the tiles
 * zero. Rows, not blocks: the weights' gradient takes it by SGEMM. */
static void grad_outputs(const ConvShape *s, const WinoPlan *p, const Scratch *k,
                         const float *dout, int c0, int nb, size_t ldv, float *dm)
{
    const size_t ncols = (size_t)nb * p->tiles;
    for (int r = 0; r < 16; r++)
        memset(k->tmp + (size_t)r * ldv + ncols, 0, sizeof(float) * (ldv - ncols));
    for (int co = 0; co < s->Cout; co++) {
        gather_grad_outputs(s, p, &k->tb, dout, c0, nb, co, k->tmp, ldv);
        cols_2d(a6_rows, 4, 6, k->tmp, ldv, dm + (size_t)co * ldv, (size_t)s->Cout * ldv,
                k->mid, ldv, 0.0f);
    }
}

static void fused_backward(const ConvShape *s, const WinoPlan *p, int B, float *dinp,
                           bool want_dw, const float *dout, const float *inp, const float *pk,
                           float *ws)
{
    const int nx = p->nx, nblk = (int)(round4(s->Cin) / FB_CH), hw = s->H * s->W;
    const size_t in_img = (size_t)s->Cin * hw;
#pragma omp parallel for schedule(static) num_threads(p->T)
    for (int t = 0; t < p->T; t++) {
        int b0, b1;
        conv_image_range(B, p->T, t, &b0, &b1);
        Scratch k = thread_scratch(s, p, ws, t);
        float *res = k.blk + (size_t)nblk * nx * FB_CH * FB_COLS;
        float *mid2 = res + (size_t)nx * FB_COLS, *mcopy = mid2 + (size_t)nx * FB_COLS;
        int img[FB_COLS], tile[FB_COLS];
        if (want_dw)
            memset(k.du, 0, sizeof(float) * (size_t)nx * s->Cout * s->Cin);
        for (int c0 = b0; c0 < b1; c0 += p->chunk) {
            const int nb = b1 - c0 < p->chunk ? b1 - c0 : p->chunk;
            const size_t ncols = (size_t)nb * p->tiles;
            const size_t ldv = round_cols(ncols);
            grad_outputs(s, p, &k, dout, c0, nb, ldv, k.m);
            if (want_dw) {
                chunk_inputs(s, p, &k.tb, inp, c0, nb, k.v, ldv, false, k.tmp, k.mid);
                for (int x = 0; x < nx; x++)
                    gs_sgemm(false, true, s->Cout, s->Cin, (int)ldv, 1.0f,
                             k.m + (size_t)x * s->Cout * ldv, (int)ldv,
                             k.v + (size_t)x * s->Cin * ldv, (int)ldv, 1.0f,
                             k.du + (size_t)x * s->Cout * s->Cin, s->Cin);
            }
            if (!dinp)
                continue;
            for (size_t cb = 0; cb < ncols; cb += FB_COLS) {
                const int nc = block_columns(p, cb, ncols, img, tile);
                /* point by point: the block's dM of point x made contiguous, so the
                 * products of every channel block read it from L1 (its rows ldv apart
                 * missed L1 once per channel block) */
                for (int x = 0; x < nx; x++) {
                    const float *mx = k.m + (size_t)x * s->Cout * ldv + cb;
                    for (int co = 0; co < s->Cout; co++)
                        memcpy(mcopy + (size_t)co * FB_COLS, mx + (size_t)co * ldv,
                               sizeof(float) * FB_COLS);
                    for (int bk = 0; bk < nblk; bk++)
                        prod4_avx2(pk + ((size_t)bk * nx + x) * s->Cout * FB_CH, mcopy,
                                   s->Cout, k.blk + ((size_t)bk * nx + x) * FB_CH * FB_COLS);
                }
                for (int ci = 0; ci < s->Cin; ci++) {
                    const float *q = k.blk + (size_t)(ci / FB_CH) * nx * FB_CH * FB_COLS +
                                     (size_t)(ci % FB_CH) * FB_COLS;
                    cols_2d(b6_rows, 6, 6, q, FB_CH * FB_COLS, res, FB_COLS, mid2, FB_COLS,
                            0.0f);
                    for (int j = 0; j < nc; j++)
                        tile_to_plane(dinp + (size_t)(c0 + img[j]) * in_img + (size_t)ci * hw,
                                      k.tb.in + tile[j], p->tiles, res + j, FB_COLS, nx, hw,
                                      true);
                }
            }
        }
    }
}

void winograd_forward(const ConvShape *s, int m_tile, int B, float *out, const float *inp,
                      const float *w, const float *b, float *ws)
{
    const WinoPlan p = wino_plan(s, B, m_tile, fused_path(m_tile));
    const int tm = p.k->m, ta = p.k->a;
    float *u = ws;
    if (p.fused) {
        weights_transform(s, &p, w, U_BY_OUT, u + p.u_n, u);
        fused_forward(s, &p, B, out, inp, b, u + p.u_n, u + p.u_n + p.pk_n);
        return;
    }
    weights_transform(s, &p, w, U_PLAIN, u, NULL);

#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        Scratch k = thread_scratch(s, &p, ws + p.u_n, t);
        for (int c0 = b0; c0 < b1; c0 += p.chunk) {
            int nb = b1 - c0 < p.chunk ? b1 - c0 : p.chunk;
            const size_t ld = (size_t)nb * p.tiles;
            const size_t vx = (size_t)s->Cin * ld, mx = (size_t)s->Cout * ld;
            chunk_inputs(s, &p, &k.tb, inp, c0, nb, k.v, ld, false, k.tmp, k.mid);
            for (int xi = 0; xi < p.nx; xi++)
                gs_sgemm(false, false, s->Cout, (int)ld, s->Cin, 1.0f,
                         u + (size_t)xi * s->Cout * s->Cin, s->Cin, k.v + (size_t)xi * vx,
                         (int)ld, 0.0f, k.m + (size_t)xi * mx, (int)ld);
            for (int co = 0; co < s->Cout; co++) {
                cols_2d(p.k->at, ta, tm, k.m + (size_t)co * ld, mx, k.tmp, ld, k.mid, ld,
                        b ? b[co] : 0.0f);
                place_outputs(s, &p, &k.tb, k.tmp, ld, nb, out, c0, co);
            }
        }
    }
}

void winograd_backward(const ConvShape *s, int m_tile, int B, float *dinp, float *dw,
                       const float *dout, const float *inp, const float *w, float *ws)
{
    const WinoPlan p = wino_plan(s, B, m_tile, fused_path(m_tile));
    const int tm = p.k->m, ta = p.k->a;
    float *u = ws;
    if (!dw && !dinp)
        return;
    if (p.fused) {
        float *pk = u + p.u_n, *base = pk + p.pk_n;
        if (dinp)
            weights_transform(s, &p, w, U_BY_IN, pk, u);
        fused_backward(s, &p, B, dinp, dw != NULL, dout, inp, pk, base);
        if (dw)
            weights_grad(s, &p, base + p.v_n + p.m_n, p.per_thread, dw);
        return;
    }
    if (dinp)
        weights_transform(s, &p, w, U_PLAIN, u, NULL);

#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        Scratch k = thread_scratch(s, &p, ws + p.u_n, t);
        float *v = k.v, *m = k.m, *du = k.du, *tmp = k.tmp, *mid = k.mid;
        if (dw)
            memset(du, 0, sizeof(float) * p.nx * (size_t)s->Cout * s->Cin);
        for (int c0 = b0; c0 < b1; c0 += p.chunk) {
            int nb = b1 - c0 < p.chunk ? b1 - c0 : p.chunk;
            const size_t ld = (size_t)nb * p.tiles;
            const size_t vx = (size_t)s->Cin * ld, mx = (size_t)s->Cout * ld;
            for (int co = 0; co < s->Cout; co++) {
                gather_grad_outputs(s, &p, &k.tb, dout, c0, nb, co, tmp, ld);
                cols_2d(p.k->at_tr, tm, ta, tmp, ld, m + (size_t)co * ld, mx, mid, ld, 0.0f);
            }
            if (dw) {
                chunk_inputs(s, &p, &k.tb, inp, c0, nb, v, ld, false, tmp, mid);
                for (int xi = 0; xi < p.nx; xi++)
                    gs_sgemm(false, true, s->Cout, s->Cin, (int)ld, 1.0f, m + (size_t)xi * mx,
                             (int)ld, v + (size_t)xi * vx, (int)ld, 1.0f,
                             du + (size_t)xi * s->Cout * s->Cin, s->Cin);
            }
            if (dinp) {
                /* v is free again once dU has used it: it takes dV */
                for (int xi = 0; xi < p.nx; xi++)
                    gs_sgemm(true, false, s->Cin, (int)ld, s->Cout, 1.0f,
                             u + (size_t)xi * s->Cout * s->Cin, s->Cin, m + (size_t)xi * mx,
                             (int)ld, 0.0f, v + (size_t)xi * vx, (int)ld);
                for (int ci = 0; ci < s->Cin; ci++) {
                    cols_2d(p.k->b, ta, ta, v + (size_t)ci * ld, vx, tmp, ld, mid, ld, 0.0f);
                    scatter_grad_inputs(s, &p, &k.tb, tmp, ld, nb, dinp, c0, ci);
                }
            }
        }
    }
    if (dw)
        weights_grad(s, &p, ws + p.u_n + p.v_n + p.m_n, p.per_thread, dw);
}
