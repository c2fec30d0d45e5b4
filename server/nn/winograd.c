/* winograd.c — 3x3, stride 1, pad 1 convolutions by Winograd's minimal filtering F(mxm, 3x3)
 * (Lavin & Gray 2016), m = 2 or 4: every mxm block of outputs is A^T [(G g G^T) . (B^T d B)] A,
 * with d the (m+2)x(m+2) input patch around it. In the transformed domain the sum over input
 * channels becomes (m+2)^2 independent GEMMs, (Cout, Cin) x (Cin, tiles): per output and
 * channel pair 4 multiply-adds for F(2x2) and 2.25 for F(4x4) where im2col + GEMM does 9
 * (planes not a multiple of m pad up: a 7x7 plane is 8x8 of tiles). The transforms cost
 * memory passes per channel, which at this product's 16-256 channels ate the saving on the
 * CPUs measured (BENCHMARKS.md), so conv.c uses it only when asked (conv2d_set_algo);
 * F(4x4)'s larger coefficients (up to 8 and 1/24) also cost precision: about 1e-6 relative
 * against 1e-7 (tests/test_layers.c bounds both, and checks the gradients by finite
 * differences). The backward pass is the chain rule through the same identities, so it is
 * the exact gradient of what the forward computes:
 *   dM = A dY A^T;  dU = sum over tiles of dM . V  -> dW = G^T dU G;
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
    void (*gt)(const float *u, float *o); /* G^T u (a -> 3) */
} WinoKind;

typedef struct {
    const WinoKind *k;
    int T, chunk;        /* threads; images per chunk */
    int th, tw;          /* tiles per column and row of a plane */
    int ph, pw;          /* the zero-padded plane a tile reads from: m th + 2, m tw + 2 */
    int nx;              /* transform points a * a: one GEMM each */
    size_t tiles;        /* th * tw */
    size_t u_n;          /* transformed weights (nx, Cout, Cin), shared */
    size_t v_n, m_n;     /* per thread: (nx, Cin, chunk * tiles), (nx, Cout, chunk * tiles) */
    size_t du_n;         /* per thread: weight-gradient partial (nx, Cout, Cin) */
    size_t pad_n;        /* per thread: one padded plane */
    size_t tmp_n;        /* per thread, twice (tmp and mid): nx rows of a chunk's tiles */
    size_t per_thread;
} WinoPlan;

/* ---- the weights' transforms, G g (3 -> a) and G^T u (a -> 3) ---- */

static void g4(const float *g, float *o)
{
    o[0] = g[0];
    o[1] = 0.5f * (g[0] + g[1] + g[2]);
    o[2] = 0.5f * (g[0] - g[1] + g[2]);
    o[3] = g[2];
}

static void gt4(const float *u, float *o)
{
    o[0] = u[0] + 0.5f * (u[1] + u[2]);
    o[1] = 0.5f * (u[1] - u[2]);
    o[2] = 0.5f * (u[1] + u[2]) + u[3];
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

static void gt6(const float *u, float *o)
{
    o[0] = 0.25f * u[0] - (u[1] + u[2]) / 6.0f + (u[3] + u[4]) / 24.0f;
    o[1] = (u[2] - u[1]) / 6.0f + (u[3] - u[4]) / 12.0f;
    o[2] = -(u[1] + u[2]) / 6.0f + (u[3] + u[4]) / 6.0f + u[5];
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

static const WinoKind F2 = {2, 4, bt4_rows, b4_rows, at4_rows, a4_rows, g4, gt4};
static const WinoKind F4 = {4, 6, bt6_rows, b6_rows, at6_rows, a6_rows, g6, gt6};

static WinoPlan wino_plan(const ConvShape *s, int B, int m)
{
    WinoPlan p;
    p.k = m == 4 ? &F4 : &F2;
    int T = gs_threads_get();
    if (T < 1)
        T = 1;
    int per = B > 0 ? (B + T - 1) / T : 1;
    p.T = T;
    p.nx = p.k->a * p.k->a;
    p.th = (s->H + m - 1) / m;
    p.tw = (s->W + m - 1) / m;
    p.ph = m * p.th + 2;
    p.pw = m * p.tw + 2;
    p.tiles = (size_t)p.th * p.tw;
    size_t nx = (size_t)p.nx;
    size_t per_image = nx * sizeof(float) * (size_t)(s->Cin + s->Cout) * p.tiles;
    int chunk = (int)(WINO_BYTES_TARGET / per_image);
    if (chunk < 1)
        chunk = 1;
    if (chunk > per)
        chunk = per;
    p.chunk = chunk;
    p.u_n = conv_round_up(nx * (size_t)s->Cout * s->Cin);
    p.v_n = conv_round_up(nx * (size_t)s->Cin * p.tiles * (size_t)chunk);
    p.m_n = conv_round_up(nx * (size_t)s->Cout * p.tiles * (size_t)chunk);
    p.du_n = conv_round_up(nx * (size_t)s->Cout * s->Cin);
    p.pad_n = conv_round_up((size_t)p.ph * p.pw);
    p.tmp_n = conv_round_up(nx * p.tiles * (size_t)chunk);
    p.per_thread = p.v_n + p.m_n + p.du_n + p.pad_n + 2 * p.tmp_n;
    return p;
}

size_t winograd_ws_floats(const ConvShape *s, int B, int m)
{
    WinoPlan p = wino_plan(s, B, m);
    return p.u_n + p.per_thread * (size_t)p.T;
}

/* U[x][co][ci] = (G g G^T)[x] for every filter g (3x3) of w (Cout, Cin*9). */
static void weights_transform(const ConvShape *s, const WinoPlan *p, const float *w, float *u)
{
    const size_t plane = (size_t)s->Cout * s->Cin;
    const WinoKind *k = p->k;
    const int a = k->a;
#pragma omp parallel for schedule(static) num_threads(p->T)
    for (int co = 0; co < s->Cout; co++) {
        for (int ci = 0; ci < s->Cin; ci++) {
            const float *g = w + ((size_t)co * s->Cin + ci) * 9;
            float c[3][A_MAX], o[A_MAX];
            for (int j = 0; j < 3; j++) {
                const float col[3] = {g[j], g[3 + j], g[6 + j]};
                k->g(col, c[j]);              /* c[col][i] = (G g)[i][col] */
            }
            float *dst = u + (size_t)co * s->Cin + ci;
            for (int i = 0; i < a; i++) {
                const float row[3] = {c[0][i], c[1][i], c[2][i]};
                k->g(row, o);
                for (int j = 0; j < a; j++)
                    dst[(size_t)(a * i + j) * plane] = o[j];
            }
        }
    }
}

/* dw (Cout, Cin*9) += G^T dU G, dU summed over the threads' partials in thread order. */
static void weights_grad(const ConvShape *s, const WinoPlan *p, const float *ws, float *dw)
{
    const size_t plane = (size_t)s->Cout * s->Cin;
    const WinoKind *k = p->k;
    const int a = k->a;
#pragma omp parallel for schedule(static) num_threads(p->T)
    for (int co = 0; co < s->Cout; co++) {
        for (int ci = 0; ci < s->Cin; ci++) {
            float q[A_MAX][A_MAX], c[A_MAX][3], o[3];
            for (int x = 0; x < p->nx; x++) {
                float acc = 0.0f;
                for (int t = 0; t < p->T; t++)
                    acc += ws[p->u_n + (size_t)t * p->per_thread + p->v_n + p->m_n +
                              (size_t)x * plane + (size_t)co * s->Cin + ci];
                q[x % a][x / a] = acc;        /* q[col][row] */
            }
            for (int j = 0; j < a; j++)
                k->gt(q[j], c[j]);            /* c[col][r] = (G^T dU)[r][col] */
            float *g = dw + ((size_t)co * s->Cin + ci) * 9;
            for (int r = 0; r < 3; r++) {
                float row[A_MAX];
                for (int j = 0; j < a; j++)
                    row[j] = c[j][r];
                k->gt(row, o);
                for (int j = 0; j < 3; j++)
                    g[3 * r + j] += o[j];
            }
        }
    }
}

/* The input plane x (H, W) into pad (ph, pw) with one row and column of zeros before it and
 * zeros after it up to the tile grid's reach. */
static void pad_plane(const ConvShape *s, const WinoPlan *p, const float *x, float *pad)
{
    memset(pad, 0, sizeof(float) * (size_t)p->pw);
    for (int y = 0; y < s->H; y++) {
        float *row = pad + (size_t)(y + 1) * p->pw;
        row[0] = 0.0f;
        memcpy(row + 1, x + (size_t)y * s->W, sizeof(float) * (size_t)s->W);
        for (int c = s->W + 1; c < p->pw; c++)
            row[c] = 0.0f;
    }
    for (int y = s->H + 1; y < p->ph; y++)
        memset(pad + (size_t)y * p->pw, 0, sizeof(float) * (size_t)p->pw);
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

static void gather_patches(const ConvShape *s, const WinoPlan *p, const float *inp, int c0,
                           int nb, int ci, float *pad, float *tmp, size_t ld)
{
    const int tm = p->k->m, ta = p->k->a;
    const size_t in_img = (size_t)s->Cin * s->H * s->W, hw = (size_t)s->H * s->W;
    for (int i = 0; i < nb; i++) {
        pad_plane(s, p, inp + (size_t)(c0 + i) * in_img + (size_t)ci * hw, pad);
        for (int a = 0; a < ta; a++)
            for (int b = 0; b < ta; b++) {
                float *dst = tmp + (size_t)(ta * a + b) * ld + (size_t)i * p->tiles;
                for (int ty = 0; ty < p->th; ty++) {
                    const float *row = pad + (size_t)(tm * ty + a) * p->pw + b;
                    for (int tx = 0; tx < p->tw; tx++)
                        dst[(size_t)ty * p->tw + tx] = row[tm * tx];
                }
            }
    }
}

/* Inputs of images [c0, c0 + nb) into V (p->nx, Cin, nb * tiles). */
static void chunk_inputs(const ConvShape *s, const WinoPlan *p, const float *inp, int c0, int nb,
                         float *v, float *pad, float *tmp, float *mid)
{
    const int ta = p->k->a;
    const size_t ld = (size_t)nb * p->tiles, xs = (size_t)s->Cin * ld;
    for (int ci = 0; ci < s->Cin; ci++) {
        gather_patches(s, p, inp, c0, nb, ci, pad, tmp, ld);
        cols_2d(p->k->bt, ta, ta, tmp, ld, v + (size_t)ci * ld, xs, mid, ld, 0.0f);
    }
}

/* The outputs tmp[k * ld + i * tiles + t] into channel co of images [c0, c0 + nb). */
static void place_outputs(const ConvShape *s, const WinoPlan *p, const float *tmp, size_t ld,
                          int nb, float *out, int c0, int co)
{
    const int tm = p->k->m;
    const size_t out_img = (size_t)s->Cout * s->H * s->W, hw = (size_t)s->H * s->W;
    for (int i = 0; i < nb; i++) {
        float *y = out + (size_t)(c0 + i) * out_img + (size_t)co * hw;
        for (int ty = 0; ty < p->th; ty++)
            for (int r = 0; r < tm && tm * ty + r < s->H; r++) {
                float *row = y + (size_t)(tm * ty + r) * s->W;
                for (int k = 0; k < tm; k++) {
                    const float *e = tmp + (size_t)(tm * r + k) * ld + (size_t)i * p->tiles +
                                     (size_t)ty * p->tw;
                    for (int tx = 0; tx < p->tw && tm * tx + k < s->W; tx++)
                        row[tm * tx + k] = e[tx];
                }
            }
    }
}

/* The output gradient of channel co of images [c0, c0 + nb) as tiles: tmp[k * ld + col];
 * outputs beyond the plane have none. */
static void gather_grad_outputs(const ConvShape *s, const WinoPlan *p, const float *dout,
                                int c0, int nb, int co, float *tmp, size_t ld)
{
    const int tm = p->k->m;
    const size_t out_img = (size_t)s->Cout * s->H * s->W, hw = (size_t)s->H * s->W;
    for (int i = 0; i < nb; i++) {
        const float *dy = dout + (size_t)(c0 + i) * out_img + (size_t)co * hw;
        for (int ty = 0; ty < p->th; ty++)
            for (int r = 0; r < tm; r++) {
                const int oy = tm * ty + r;
                for (int k = 0; k < tm; k++) {
                    float *e = tmp + (size_t)(tm * r + k) * ld + (size_t)i * p->tiles +
                               (size_t)ty * p->tw;
                    for (int tx = 0; tx < p->tw; tx++) {
                        const int ox = tm * tx + k;
                        e[tx] = oy < s->H && ox < s->W ? dy[(size_t)oy * s->W + ox] : 0.0f;
                    }
                }
            }
    }
}

/* Channel ci of the input gradient of images [c0, c0 + nb) += the patches' gradients
 * tmp[x * ld + col], overlapping tiles added, the padding's share dropped. */
static void scatter_grad_inputs(const ConvShape *s, const WinoPlan *p, const float *tmp,
                                size_t ld, int nb, float *pad, float *dinp, int c0, int ci)
{
    const int tm = p->k->m, ta = p->k->a;
    const size_t in_img = (size_t)s->Cin * s->H * s->W, hw = (size_t)s->H * s->W;
    for (int i = 0; i < nb; i++) {
        memset(pad, 0, sizeof(float) * (size_t)p->ph * p->pw);
        for (int ty = 0; ty < p->th; ty++)
            for (int a = 0; a < ta; a++) {
                float *row = pad + (size_t)(tm * ty + a) * p->pw;
                for (int b = 0; b < ta; b++) {
                    const float *e = tmp + (size_t)(ta * a + b) * ld + (size_t)i * p->tiles +
                                     (size_t)ty * p->tw;
                    for (int tx = 0; tx < p->tw; tx++)
                        row[tm * tx + b] += e[tx];
                }
            }
        float *dx = dinp + (size_t)(c0 + i) * in_img + (size_t)ci * hw;
        for (int y = 0; y < s->H; y++) {
            const float *src = pad + (size_t)(y + 1) * p->pw + 1;
            float *dst = dx + (size_t)y * s->W;
#pragma omp simd
            for (int x = 0; x < s->W; x++)
                dst[x] += src[x];
        }
    }
}

void winograd_forward(const ConvShape *s, int m_tile, int B, float *out, const float *inp,
                      const float *w, const float *b, float *ws)
{
    const WinoPlan p = wino_plan(s, B, m_tile);
    const int tm = p.k->m, ta = p.k->a;
    float *u = ws;
    weights_transform(s, &p, w, u);

#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        float *v = ws + p.u_n + (size_t)t * p.per_thread;
        float *m = v + p.v_n, *pad = m + p.m_n + p.du_n, *tmp = pad + p.pad_n;
        float *mid = tmp + p.tmp_n;
        for (int c0 = b0; c0 < b1; c0 += p.chunk) {
            int nb = b1 - c0 < p.chunk ? b1 - c0 : p.chunk;
            const size_t ld = (size_t)nb * p.tiles;
            const size_t vx = (size_t)s->Cin * ld, mx = (size_t)s->Cout * ld;
            chunk_inputs(s, &p, inp, c0, nb, v, pad, tmp, mid);
            for (int xi = 0; xi < p.nx; xi++)
                gs_sgemm(false, false, s->Cout, (int)ld, s->Cin, 1.0f,
                         u + (size_t)xi * s->Cout * s->Cin, s->Cin, v + (size_t)xi * vx,
                         (int)ld, 0.0f, m + (size_t)xi * mx, (int)ld);
            for (int co = 0; co < s->Cout; co++) {
                cols_2d(p.k->at, ta, tm, m + (size_t)co * ld, mx, tmp, ld, mid, ld,
                        b ? b[co] : 0.0f);
                place_outputs(s, &p, tmp, ld, nb, out, c0, co);
            }
        }
    }
}

void winograd_backward(const ConvShape *s, int m_tile, int B, float *dinp, float *dw,
                       const float *dout, const float *inp, const float *w, float *ws)
{
    const WinoPlan p = wino_plan(s, B, m_tile);
    const int tm = p.k->m, ta = p.k->a;
    float *u = ws;
    if (!dw && !dinp)
        return;
    if (dinp)
        weights_transform(s, &p, w, u);

#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        conv_image_range(B, p.T, t, &b0, &b1);
        float *v = ws + p.u_n + (size_t)t * p.per_thread;
        float *m = v + p.v_n, *du = m + p.m_n, *pad = du + p.du_n, *tmp = pad + p.pad_n;
        float *mid = tmp + p.tmp_n;
        if (dw)
            memset(du, 0, sizeof(float) * p.nx * (size_t)s->Cout * s->Cin);
        for (int c0 = b0; c0 < b1; c0 += p.chunk) {
            int nb = b1 - c0 < p.chunk ? b1 - c0 : p.chunk;
            const size_t ld = (size_t)nb * p.tiles;
            const size_t vx = (size_t)s->Cin * ld, mx = (size_t)s->Cout * ld;
            for (int co = 0; co < s->Cout; co++) {
                gather_grad_outputs(s, &p, dout, c0, nb, co, tmp, ld);
                cols_2d(p.k->at_tr, tm, ta, tmp, ld, m + (size_t)co * ld, mx, mid, ld, 0.0f);
            }
            if (dw) {
                chunk_inputs(s, &p, inp, c0, nb, v, pad, tmp, mid);
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
                    scatter_grad_inputs(s, &p, tmp, ld, nb, pad, dinp, c0, ci);
                }
            }
        }
    }
    if (dw)
        weights_grad(s, &p, ws, dw);
}
