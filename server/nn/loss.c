/* loss.c — mean squared error, softmax cross-entropy and NT-Xent, forward and backward.
 * Forwards return the mean loss summed in double; backwards ADD scale * gradient into their
 * output. Nothing here allocates: NT-Xent works in the caller's workspace. NaN is never
 * filtered: comparisons are written so a NaN input reaches the returned loss (no fmaxf, whose
 * NaN rule would hide it), and the build has no -ffast-math.
 *
 * NT-Xent matches the usual PyTorch SimCLR loss
 *     zn = F.normalize(z, dim=1)                      (norm clamped at 1e-12)
 *     logits = zn @ zn.T / tau, diagonal set to -inf
 *     loss = F.cross_entropy(logits, partner)          (partner of i is i+N, of i+N is i)
 * Work on the (2N, 2N) matrix is cut into fixed blocks of rows, one GEMM plus row softmaxes
 * per block, spread over the OpenMP threads. The blocks do not depend on the thread count
 * and the per-row losses are summed in row order afterwards, so results are bit-identical
 * for any number of threads. */
#include <math.h>
#include <string.h>
#include <stdbool.h>

#include "gs/blas.h"
#include "gs/loss.h"

/* F.normalize's default eps: rows shorter than this are divided by it instead. */
#define NORM_EPS 1e-12f
/* Rows of the similarity matrix per GEMM: big enough for SGEMM to run near peak
 * (BLOCK x 2N x D), small enough to give both cores work at N = 256. */
#define NT_BLOCK 64
/* Below this many floats of z a loop stays on one thread: forking would cost more than the
 * work, and on a busy machine a late thread turns microseconds into milliseconds. */
#define PAR_MIN_FLOATS 16384
/* Workspace buffers start on 64-byte boundaries relative to ws. */
#define PAD_FLOATS 16

/* ---- mean squared error ---- */

float mse_forward(const float *pred, const float *target, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        s += d * d;
    }
    return (float)(s / (double)n);
}

void mse_backward(float *dpred, const float *pred, const float *target, size_t n, float scale)
{
    float c = (float)(2.0 * (double)scale / (double)n);
    for (size_t i = 0; i < n; i++)
        dpred[i] += c * (pred[i] - target[i]);
}

double mse_part_sum(const float *pred, const float *target, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        s += d * d;
    }
    return s;
}

void mse_part_backward(float *dpred, const float *pred, const float *target, size_t n,
                       size_t total, float scale)
{
    float c = (float)(2.0 * (double)scale / (double)total);
    for (size_t i = 0; i < n; i++)
        dpred[i] += c * (pred[i] - target[i]);
}

/* ---- softmax cross-entropy ---- */

/* p (n) becomes softmax(p) given its maximum mx (or a NaN that poisons everything); returns
 * the log-sum-exp mx + log(sum exp(p - mx)), summed in double. */
static double softmax_inplace(float *p, int n, float mx)
{
    double sum = 0;
    for (int j = 0; j < n; j++) {
        float e = expf(p[j] - mx);
        p[j] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++)
        p[j] *= inv;
    return (double)mx + log(sum);
}

float xent_forward(float *probs, const float *logits, const int32_t *labels, int B, int C)
{
    double total = 0;
    bool bad_label = false;
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * C; // (C)
        float *p = probs + (size_t)b * C;        // (C)
        /* Starting from x[0] (not -inf) lets a NaN there poison the max, and a NaN elsewhere
         * poisons the sum, so either way the loss is NaN. */
        float mx = x[0];
        for (int c = 1; c < C; c++)
            if (x[c] > mx)
                mx = x[c];
        memmove(p, x, sizeof(float) * (size_t)C);
        double lse = softmax_inplace(p, C, mx);
        int32_t y = labels[b];
        if (y < 0 || y >= C)
            bad_label = true;
        else
            total += lse - (double)x[y];
    }
    return bad_label ? NAN : (float)(total / (double)B);
}

void xent_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int C,
                   float scale)
{
    float c = (float)((double)scale / (double)B);
    for (int b = 0; b < B; b++) {
        const float *p = probs + (size_t)b * C; // (C)
        float *d = dlogits + (size_t)b * C;      // (C)
        int32_t y = labels[b];
        /* The forward returned NaN for this batch; the gradient says so too rather than
         * silently training on a wrong label. */
        if (y < 0 || y >= C) {
            for (int k = 0; k < C; k++)
                d[k] += NAN;
            continue;
        }
        for (int k = 0; k < C; k++)
            d[k] += c * p[k];
        d[y] -= c;
    }
}

/* ---- NT-Xent ----
 * Workspace layout (each piece padded to PAD_FLOATS):
 *   zn (2N, D) | norm (2N) | prob (2N, 2N) | rowloss (2N) | dzn (2N, D)
 * rowloss and dzn are private to this file, found from prob's position. */

static size_t pad_floats(size_t n)
{
    return (n + PAD_FLOATS - 1) / PAD_FLOATS * PAD_FLOATS;
}

size_t ntxent_ws_floats(int N, int D)
{
    size_t R = 2 * (size_t)N;
    return 2 * pad_floats(R * (size_t)D) + 2 * pad_floats(R) + pad_floats(R * R);
}

void ntxent_bind(NtXent *nt, int N, int D, float tau, float *ws)
{
    size_t R = 2 * (size_t)N;
    nt->N = N;
    nt->D = D;
    nt->tau = tau;
    nt->zn = ws;
    nt->norm = nt->zn + pad_floats(R * (size_t)D);
    nt->prob = nt->norm + pad_floats(R);
}

static float *nt_rowloss(const NtXent *nt) // (2N)
{
    size_t R = 2 * (size_t)nt->N;
    return nt->prob + pad_floats(R * R);
}

static float *nt_dzn(const NtXent *nt) // (2N, D)
{
    return nt_rowloss(nt) + pad_floats(2 * (size_t)nt->N);
}

static inline int partner(int i, int N)
{
    return i < N ? i + N : i - N;
}

/* Turns row i of dot products s (R) into softmax probabilities over j != i (s[i] = 0) and
 * returns the row's cross-entropy -log p[pos]. */
static double softmax_row(float *s, int R, int i, int pos, float tau)
{
    for (int j = 0; j < R; j++)
        s[j] = s[j] / tau;
    float target = s[pos];
    /* -inf on the diagonal removes self-similarity from both the max and the sum without a
     * branch in the loops; exp(-inf - mx) is exactly 0. */
    s[i] = -INFINITY;
    float mx = target;
    for (int j = 0; j < R; j++)
        if (s[j] > mx)
            mx = s[j];
    return softmax_inplace(s, R, mx) - (double)target;
}

float ntxent_forward(NtXent *nt, const float *z)
{
    const int N = nt->N, D = nt->D, R = 2 * N;
    const int nblk = (R + NT_BLOCK - 1) / NT_BLOCK;
    float *zn = nt->zn;           // (2N, D)
    float *prob = nt->prob;       // (2N, 2N)
    float *rowloss = nt_rowloss(nt); // (2N)

#pragma omp parallel for schedule(static) if (R * D >= PAR_MIN_FLOATS)
    for (int i = 0; i < R; i++) {
        const float *zi = z + (size_t)i * D; // (D)
        float *zni = zn + (size_t)i * D;      // (D)
        double ss = 0;
        for (int k = 0; k < D; k++)
            ss += (double)zi[k] * (double)zi[k];
        float nrm = (float)sqrt(ss);
        nt->norm[i] = nrm;
        /* written so that a NaN norm is kept, not replaced by the clamp */
        float den = nrm < NORM_EPS ? NORM_EPS : nrm;
        for (int k = 0; k < D; k++)
            zni[k] = zi[k] / den;
    }

#pragma omp parallel for schedule(static) if (nblk > 1)
    for (int b = 0; b < nblk; b++) {
        int r0 = b * NT_BLOCK;
        int m = R - r0 < NT_BLOCK ? R - r0 : NT_BLOCK;
        float *blk = prob + (size_t)r0 * R; // (m, 2N)
        gs_sgemm(false, true, m, R, D, 1.0f, zn + (size_t)r0 * D, D, zn, D, 0.0f, blk, R);
        for (int i = r0; i < r0 + m; i++)
            rowloss[i] = (float)softmax_row(prob + (size_t)i * R, R, i, partner(i, N), nt->tau);
    }

    double total = 0;
    for (int i = 0; i < R; i++)
        total += rowloss[i];
    return (float)(total / R);
}

/* With S = zn zn^T / tau, P the masked softmax and Y the partner one-hot (symmetric),
 *   dL/dS = (P - Y) / 2N,
 *   dL/dzn = (dS + dS^T) zn / tau = (P zn + P^T zn - 2 zn_partner) / (2N tau),
 * so prob is used as is (no (2N, 2N) gradient matrix), and then through zn = z / |z|:
 *   dz = (dzn - zn (zn . dzn)) / |z|,   or dzn / eps where the norm was clamped (constant). */
void ntxent_backward(const NtXent *nt, float *dz, float scale)
{
    const int N = nt->N, D = nt->D, R = 2 * N;
    const int nblk = (R + NT_BLOCK - 1) / NT_BLOCK;
    const float *zn = nt->zn;     // (2N, D)
    const float *prob = nt->prob; // (2N, 2N)
    float *dzn = nt_dzn(nt);      // (2N, D)
    const float c = (float)((double)scale / ((double)R * (double)nt->tau));

#pragma omp parallel for schedule(static) if (nblk > 1)
    for (int b = 0; b < nblk; b++) {
        int r0 = b * NT_BLOCK;
        int m = R - r0 < NT_BLOCK ? R - r0 : NT_BLOCK;
        float *g = dzn + (size_t)r0 * D; // (m, D)
        /* rows r0.. of P zn, then of P^T zn: columns r0.. of P read transposed */
        gs_sgemm(false, false, m, D, R, 1.0f, prob + (size_t)r0 * R, R, zn, D, 0.0f, g, D);
        gs_sgemm(true, false, m, D, R, 1.0f, prob + r0, R, zn, D, 1.0f, g, D);
        for (int i = r0; i < r0 + m; i++) {
            float *gi = dzn + (size_t)i * D;                   // (D)
            const float *zni = zn + (size_t)i * D;             // (D)
            const float *znp = zn + (size_t)partner(i, N) * D; // (D)
            float *dzi = dz + (size_t)i * D;                   // (D)
            double dot = 0;
            for (int k = 0; k < D; k++) {
                gi[k] = c * (gi[k] - 2.0f * znp[k]);
                dot += (double)zni[k] * (double)gi[k];
            }
            float nrm = nt->norm[i];
            if (nrm < NORM_EPS) {
                for (int k = 0; k < D; k++)
                    dzi[k] += gi[k] / NORM_EPS;
            } else {
                float fdot = (float)dot;
                for (int k = 0; k < D; k++)
                    dzi[k] += (gi[k] - zni[k] * fdot) / nrm;
            }
        }
    }
}
