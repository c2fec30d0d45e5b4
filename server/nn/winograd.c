/* winograd.c — 3x3, stride 1, pad 1 convolutions by Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin & Gray 2016): every 2x2 block of outputs is A^T [(G g G^T) . (B^T d B)] A, with d the
 * 4x4 input patch around it. In the transformed domain the sum over input channels becomes 16
 * independent GEMMs, (Cout, Cin) x (Cin, tiles), doing 16 multiply-adds per tile and channel
 * pair where im2col + GEMM does 36: 2.25x fewer on planes of even size (a 7x7 plane pads to
 * 8x8: 1.7x). The backward pass is the chain rule through the same identities, so it is the
 * exact gradient of what the forward computes:
 *   dM = A dY A^T;  dU = sum over tiles of dM . V  -> dW = G^T dU G;
 *   dV = U^T dM (16 GEMMs)                          -> dX += B dV B^T, tiles overlapping.
 * The work is split like conv.c's: T contiguous ranges of images, one per OpenMP thread, each
 * in chunks of a few images; weight-gradient partials per thread, summed in thread order, so
 * results are bit-identical for a fixed thread count. Everything lives in the caller's ws. */
#include <string.h>

#include "gs/blas.h"
#include "gs/layers.h"
#include "conv3x3.h"

/* Transformed input and product of one chunk per thread, in bytes: measured against 0.5, 2
 * and 4 MiB on the default encoder's convolutions (BENCHMARKS.md). */
#ifndef WINO_BYTES_TARGET
#define WINO_BYTES_TARGET (1u << 20)
#endif
#define PAD_FLOATS 16

typedef struct {
    int T, chunk;        /* threads; images per chunk */
    int th, tw;          /* tiles per column and row of a plane */
    int ph, pw;          /* the zero-padded plane a tile reads from: 2 th + 2, 2 tw + 2 */
    size_t tiles;        /* th * tw */
    size_t u_n;          /* transformed weights (16, Cout, Cin), shared */
    size_t v_n, m_n;     /* per thread: (16, Cin, chunk * tiles), (16, Cout, chunk * tiles) */
    size_t du_n;         /* per thread: weight-gradient partial (16, Cout, Cin) */
    size_t pad_n;        /* per thread: one padded plane */
    size_t tmp_n;        /* per thread: 16 values per tile of one plane */
    size_t per_thread;
} WinoPlan;

static size_t round_up(size_t n)
{
    return (n + PAD_FLOATS - 1) / PAD_FLOATS * PAD_FLOATS;
}

bool conv3x3_same(const ConvShape *s)
{
    return s->K == 3 && s->stride == 1 && s->pad == 1 && s->Ho == s->H && s->Wo == s->W;
}

static WinoPlan wino_plan(const ConvShape *s, int B)
{
    WinoPlan p;
    int T = gs_threads_get();
    if (T < 1)
        T = 1;
    int per = B > 0 ? (B + T - 1) / T : 1;
    p.T = T;
    p.th = (s->H + 1) / 2;
    p.tw = (s->W + 1) / 2;
    p.ph = 2 * p.th + 2;
    p.pw = 2 * p.tw + 2;
    p.tiles = (size_t)p.th * p.tw;
    size_t per_image = 16 * sizeof(float) * (size_t)(s->Cin + s->Cout) * p.tiles;
    int chunk = (int)(WINO_BYTES_TARGET / per_image);
    if (chunk < 1)
        chunk = 1;
    if (chunk > per)
        chunk = per;
    p.chunk = chunk;
    p.u_n = round_up(16 * (size_t)s->Cout * s->Cin);
    p.v_n = round_up(16 * (size_t)s->Cin * p.tiles * (size_t)chunk);
    p.m_n = round_up(16 * (size_t)s->Cout * p.tiles * (size_t)chunk);
    p.du_n = round_up(16 * (size_t)s->Cout * s->Cin);
    p.pad_n = round_up((size_t)p.ph * p.pw);
    p.tmp_n = round_up(16 * p.tiles);
    p.per_thread = p.v_n + p.m_n + p.du_n + p.pad_n + p.tmp_n;
    return p;
}

size_t winograd_ws_floats(const ConvShape *s, int B)
{
    WinoPlan p = wino_plan(s, B);
    return p.u_n + p.per_thread * (size_t)p.T;
}

static void image_range(int B, int T, int t, int *b0, int *b1)
{
    *b0 = (int)((long long)B * t / T);
    *b1 = (int)((long long)B * (t + 1) / T);
}

/* U[xi][co][ci] = (G g G^T)[xi] for every filter g (3x3) of w (Cout, Cin*9). */
static void weights_transform(const ConvShape *s, const float *w, float *u, int T)
{
    const size_t plane = (size_t)s->Cout * s->Cin;
#pragma omp parallel for schedule(static) num_threads(T)
    for (int co = 0; co < s->Cout; co++) {
        for (int ci = 0; ci < s->Cin; ci++) {
            const float *g = w + ((size_t)co * s->Cin + ci) * 9;
            float t[4][3];
            for (int c = 0; c < 3; c++) {
                t[0][c] = g[c];
                t[1][c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
                t[2][c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
                t[3][c] = g[6 + c];
            }
            float *dst = u + (size_t)co * s->Cin + ci;
            for (int r = 0; r < 4; r++) {
                dst[(size_t)(4 * r + 0) * plane] = t[r][0];
                dst[(size_t)(4 * r + 1) * plane] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
                dst[(size_t)(4 * r + 2) * plane] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
                dst[(size_t)(4 * r + 3) * plane] = t[r][2];
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

/* The transforms below run over all tiles of a plane at once, each loop reading and writing
 * unit-stride rows (one per transform entry), so the compiler vectorises them over tiles;
 * the placing of 2x2 outputs and 4x4 input gradients in the plane is a separate pass. */

/* V[xi * xs + t] = (B^T d B)[xi] for every tile t of one padded plane. */
static void input_transform(const WinoPlan *p, const float *pad, float *v, size_t xs)
{
    const int tw = p->tw;
    for (int ty = 0; ty < p->th; ty++) {
        const float *r0 = pad + (size_t)(2 * ty) * p->pw;
        const float *r1 = r0 + p->pw, *r2 = r1 + p->pw, *r3 = r2 + p->pw;
        float *dst = v + (size_t)ty * tw;
#pragma omp simd
        for (int tx = 0; tx < tw; tx++) {
            const int x = 2 * tx;
            float t[4][4];
            for (int c = 0; c < 4; c++) {
                t[0][c] = r0[x + c] - r2[x + c];
                t[1][c] = r1[x + c] + r2[x + c];
                t[2][c] = r2[x + c] - r1[x + c];
                t[3][c] = r1[x + c] - r3[x + c];
            }
            for (int r = 0; r < 4; r++) {
                dst[(size_t)(4 * r + 0) * xs + tx] = t[r][0] - t[r][2];
                dst[(size_t)(4 * r + 1) * xs + tx] = t[r][1] + t[r][2];
                dst[(size_t)(4 * r + 2) * xs + tx] = t[r][2] - t[r][1];
                dst[(size_t)(4 * r + 3) * xs + tx] = t[r][1] - t[r][3];
            }
        }
    }
}

/* y (H, W) = A^T m A + bias for every tile; m[xi * xs + t] is the tile's product; tmp holds
 * 4 * tiles floats. */
static void output_transform(const ConvShape *s, const WinoPlan *p, const float *m, size_t xs,
                             float bias, float *y, float *tmp)
{
    const size_t n = p->tiles;
#pragma omp simd
    for (size_t t = 0; t < n; t++) {
        float q[4][4];
        for (int i = 0; i < 16; i++)
            q[i / 4][i % 4] = m[(size_t)i * xs + t];
        float a[2][4];
        for (int c = 0; c < 4; c++) {
            a[0][c] = q[0][c] + q[1][c] + q[2][c];
            a[1][c] = q[1][c] - q[2][c] - q[3][c];
        }
        for (int r = 0; r < 2; r++) {
            tmp[(size_t)(2 * r) * n + t] = a[r][0] + a[r][1] + a[r][2] + bias;
            tmp[(size_t)(2 * r + 1) * n + t] = a[r][1] - a[r][2] - a[r][3] + bias;
        }
    }
    const int W = s->W, full = W / 2; /* tiles whose two columns are both inside */
    for (int ty = 0; ty < p->th; ty++)
        for (int r = 0; r < 2 && 2 * ty + r < s->H; r++) {
            float *row = y + (size_t)(2 * ty + r) * W;
            const float *e0 = tmp + (size_t)(2 * r) * n + (size_t)ty * p->tw;
            const float *e1 = e0 + n;
            for (int tx = 0; tx < full; tx++) {
                row[2 * tx] = e0[tx];
                row[2 * tx + 1] = e1[tx];
            }
            if (full < p->tw)
                row[2 * full] = e0[full];
        }
}

/* dm[xi * xs + t] = (A dY A^T)[xi] for every tile of the output gradient plane dy (H, W);
 * outputs beyond the plane (odd sizes) have no gradient. tmp holds 4 * tiles floats. */
static void grad_output_transform(const ConvShape *s, const WinoPlan *p, const float *dy,
                                  float *dm, size_t xs, float *tmp)
{
    const size_t n = p->tiles;
    const int W = s->W, full = W / 2;
    for (int ty = 0; ty < p->th; ty++)
        for (int r = 0; r < 2; r++) {
            float *e0 = tmp + (size_t)(2 * r) * n + (size_t)ty * p->tw, *e1 = e0 + n;
            if (2 * ty + r >= s->H) {
                for (int tx = 0; tx < p->tw; tx++)
                    e0[tx] = e1[tx] = 0.0f;
                continue;
            }
            const float *row = dy + (size_t)(2 * ty + r) * W;
            for (int tx = 0; tx < full; tx++) {
                e0[tx] = row[2 * tx];
                e1[tx] = row[2 * tx + 1];
            }
            if (full < p->tw) {
                e0[full] = row[2 * full];
                e1[full] = 0.0f;
            }
        }
#pragma omp simd
    for (size_t t = 0; t < n; t++) {
        float g[2][2] = {{tmp[t], tmp[n + t]}, {tmp[2 * n + t], tmp[3 * n + t]}};
        float a[4][2];
        for (int c = 0; c < 2; c++) {
            a[0][c] = g[0][c];
            a[1][c] = g[0][c] + g[1][c];
            a[2][c] = g[0][c] - g[1][c];
            a[3][c] = -g[1][c];
        }
        for (int r = 0; r < 4; r++) {
            dm[(size_t)(4 * r + 0) * xs + t] = a[r][0];
            dm[(size_t)(4 * r + 1) * xs + t] = a[r][0] + a[r][1];
            dm[(size_t)(4 * r + 2) * xs + t] = a[r][0] - a[r][1];
            dm[(size_t)(4 * r + 3) * xs + t] = -a[r][1];
        }
    }
}

/* The plane dx (H, W) += B dv B^T of every tile at its place, the padding's share dropped;
 * tmp holds 16 * tiles floats, pad one padded plane. */
static void grad_input_transform(const ConvShape *s, const WinoPlan *p, const float *dv,
                                 size_t xs, float *tmp, float *pad, float *dx)
{
    const size_t n = p->tiles;
#pragma omp simd
    for (size_t t = 0; t < n; t++) {
        float q[4][4];
        for (int i = 0; i < 16; i++)
            q[i / 4][i % 4] = dv[(size_t)i * xs + t];
        float a[4][4];
        for (int c = 0; c < 4; c++) {
            a[0][c] = q[0][c];
            a[1][c] = q[1][c] - q[2][c] + q[3][c];
            a[2][c] = -q[0][c] + q[1][c] + q[2][c];
            a[3][c] = -q[3][c];
        }
        for (int r = 0; r < 4; r++) {
            tmp[(size_t)(4 * r + 0) * n + t] = a[r][0];
            tmp[(size_t)(4 * r + 1) * n + t] = a[r][1] - a[r][2] + a[r][3];
            tmp[(size_t)(4 * r + 2) * n + t] = -a[r][0] + a[r][1] + a[r][2];
            tmp[(size_t)(4 * r + 3) * n + t] = -a[r][3];
        }
    }
    /* tiles of one parity (even tx, then odd tx) do not overlap within a row of tiles */
    memset(pad, 0, sizeof(float) * (size_t)p->ph * p->pw);
    for (int ty = 0; ty < p->th; ty++)
        for (int r = 0; r < 4; r++) {
            float *row = pad + (size_t)(2 * ty + r) * p->pw;
            for (int c = 0; c < 4; c++) {
                const float *e = tmp + (size_t)(4 * r + c) * n + (size_t)ty * p->tw;
                for (int tx = 0; tx < p->tw; tx++)
                    row[2 * tx + c] += e[tx];
            }
        }
    for (int y = 0; y < s->H; y++) {
        const float *src = pad + (size_t)(y + 1) * p->pw + 1;
        float *dst = dx + (size_t)y * s->W;
#pragma omp simd
        for (int x = 0; x < s->W; x++)
            dst[x] += src[x];
    }
}

/* Inputs of images [c0, c0 + nb) into V (16, Cin, nb * tiles). */
static void chunk_inputs(const ConvShape *s, const WinoPlan *p, const float *inp, int c0, int nb,
                         float *v, float *pad)
{
    const size_t ld = (size_t)nb * p->tiles, xs = (size_t)s->Cin * ld;
    const size_t in_img = (size_t)s->Cin * s->H * s->W;
    for (int i = 0; i < nb; i++)
        for (int ci = 0; ci < s->Cin; ci++) {
            pad_plane(s, p, inp + (size_t)(c0 + i) * in_img + (size_t)ci * s->H * s->W, pad);
            input_transform(p, pad, v + (size_t)ci * ld + (size_t)i * p->tiles, xs);
        }
}

void winograd_forward(const ConvShape *s, int B, float *out, const float *inp, const float *w,
                      const float *b, float *ws)
{
    const WinoPlan p = wino_plan(s, B);
    const size_t out_img = (size_t)s->Cout * s->H * s->W;
    float *u = ws;
    weights_transform(s, w, u, p.T);

#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        image_range(B, p.T, t, &b0, &b1);
        float *v = ws + p.u_n + (size_t)t * p.per_thread;
        float *m = v + p.v_n, *pad = m + p.m_n + p.du_n, *tmp = pad + p.pad_n;
        for (int c0 = b0; c0 < b1; c0 += p.chunk) {
            int nb = b1 - c0 < p.chunk ? b1 - c0 : p.chunk;
            const size_t ld = (size_t)nb * p.tiles;
            const size_t vx = (size_t)s->Cin * ld, mx = (size_t)s->Cout * ld;
            chunk_inputs(s, &p, inp, c0, nb, v, pad);
            for (int xi = 0; xi < 16; xi++)
                gs_sgemm(false, false, s->Cout, (int)ld, s->Cin, 1.0f,
                         u + (size_t)xi * s->Cout * s->Cin, s->Cin, v + (size_t)xi * vx,
                         (int)ld, 0.0f, m + (size_t)xi * mx, (int)ld);
            for (int i = 0; i < nb; i++)
                for (int co = 0; co < s->Cout; co++)
                    output_transform(s, &p, m + (size_t)co * ld + (size_t)i * p.tiles, mx,
                                     b ? b[co] : 0.0f,
                                     out + (size_t)(c0 + i) * out_img +
                                         (size_t)co * s->H * s->W,
                                     tmp);
        }
    }
}

/* dw (Cout, Cin*9) += G^T dU G, dU summed over the threads' partials in thread order. */
static void weights_grad(const ConvShape *s, const WinoPlan *p, const float *ws, float *dw)
{
    const size_t plane = (size_t)s->Cout * s->Cin;
#pragma omp parallel for schedule(static) num_threads(p->T)
    for (int co = 0; co < s->Cout; co++) {
        for (int ci = 0; ci < s->Cin; ci++) {
            float q[4][4];
            for (int i = 0; i < 16; i++) {
                float acc = 0.0f;
                for (int t = 0; t < p->T; t++)
                    acc += ws[p->u_n + (size_t)t * p->per_thread + p->v_n + p->m_n +
                              (size_t)i * plane + (size_t)co * s->Cin + ci];
                q[i / 4][i % 4] = acc;
            }
            float a[3][4];
            for (int c = 0; c < 4; c++) {
                a[0][c] = q[0][c] + 0.5f * (q[1][c] + q[2][c]);
                a[1][c] = 0.5f * (q[1][c] - q[2][c]);
                a[2][c] = 0.5f * (q[1][c] + q[2][c]) + q[3][c];
            }
            float *g = dw + ((size_t)co * s->Cin + ci) * 9;
            for (int r = 0; r < 3; r++) {
                g[3 * r + 0] += a[r][0] + 0.5f * (a[r][1] + a[r][2]);
                g[3 * r + 1] += 0.5f * (a[r][1] - a[r][2]);
                g[3 * r + 2] += 0.5f * (a[r][1] + a[r][2]) + a[r][3];
            }
        }
    }
}

void winograd_backward(const ConvShape *s, int B, float *dinp, float *dw, const float *dout,
                       const float *inp, const float *w, float *ws)
{
    const WinoPlan p = wino_plan(s, B);
    const size_t in_img = (size_t)s->Cin * s->H * s->W;
    const size_t out_img = (size_t)s->Cout * s->H * s->W;
    const size_t hw = (size_t)s->H * s->W;
    float *u = ws;
    if (!dw && !dinp)
        return;
    if (dinp)
        weights_transform(s, w, u, p.T);

#pragma omp parallel for schedule(static) num_threads(p.T)
    for (int t = 0; t < p.T; t++) {
        int b0, b1;
        image_range(B, p.T, t, &b0, &b1);
        float *v = ws + p.u_n + (size_t)t * p.per_thread;
        float *m = v + p.v_n, *du = m + p.m_n, *pad = du + p.du_n, *tmp = pad + p.pad_n;
        if (dw)
            memset(du, 0, sizeof(float) * 16 * (size_t)s->Cout * s->Cin);
        for (int c0 = b0; c0 < b1; c0 += p.chunk) {
            int nb = b1 - c0 < p.chunk ? b1 - c0 : p.chunk;
            const size_t ld = (size_t)nb * p.tiles;
            const size_t vx = (size_t)s->Cin * ld, mx = (size_t)s->Cout * ld;
            for (int i = 0; i < nb; i++)
                for (int co = 0; co < s->Cout; co++)
                    grad_output_transform(s, &p, dout + (size_t)(c0 + i) * out_img +
                                                     (size_t)co * hw,
                                          m + (size_t)co * ld + (size_t)i * p.tiles, mx, tmp);
            if (dw) {
                chunk_inputs(s, &p, inp, c0, nb, v, pad);
                for (int xi = 0; xi < 16; xi++)
                    gs_sgemm(false, true, s->Cout, s->Cin, (int)ld, 1.0f, m + (size_t)xi * mx,
                             (int)ld, v + (size_t)xi * vx, (int)ld, 1.0f,
                             du + (size_t)xi * s->Cout * s->Cin, s->Cin);
            }
            if (dinp) {
                /* v is free again once dU has used it: it takes dV */
                for (int xi = 0; xi < 16; xi++)
                    gs_sgemm(true, false, s->Cin, (int)ld, s->Cout, 1.0f,
                             u + (size_t)xi * s->Cout * s->Cin, s->Cin, m + (size_t)xi * mx,
                             (int)ld, 0.0f, v + (size_t)xi * vx, (int)ld);
                for (int i = 0; i < nb; i++)
                    for (int ci = 0; ci < s->Cin; ci++)
                        grad_input_transform(s, &p, v + (size_t)ci * ld + (size_t)i * p.tiles,
                                             vx, tmp, pad,
                                             dinp + (size_t)(c0 + i) * in_img + (size_t)ci * hw);
            }
        }
    }
    if (dw)
        weights_grad(s, &p, ws, dw);
}
