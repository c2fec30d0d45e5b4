/* kmeans.c — k-means for the pseudo-labels: greedy k-means++ seeding (scikit-learn's variant),
 * Lloyd iterations whose x.c terms come from gs_sgemm over blocks of rows, empty clusters
 * repaired by moving the farthest point, scikit-learn's tolerance rule, n_init restarts keeping
 * the lowest inertia. How good the clusters are against true labels is evaluation's business
 * (cluster_metrics.c), not this file's.
 *
 * Speed. Lloyd steps use Hamerly's bounds: per point an upper bound on the distance to its own
 * centre and a lower bound on the distance to any other, moved by the centre shifts each step;
 * only points whose bounds overlap are re-scored against all centres (gathered into blocks for
 * one GEMM); after the first few steps only a small share of the points is re-scored
 * (BENCHMARKS.md). The labels are the ones plain Lloyd would produce (up to float ties).
 * Centroid sums are kept per chunk and updated only for points that change cluster. k-means++
 * seeds up to PP_BATCH restarts in lockstep so one pass over x scores the candidates of all
 * of them in one wider GEMM.
 *
 * Numbers. Like scikit-learn, x is centred first (a private copy), so ||x||^2 - 2 x.c + ||c||^2
 * does not lose the distances to cancellation when the data sit far from the origin. Sums,
 * inertia and potentials accumulate in double.
 *
 * Determinism. Rows are cut into fixed chunks (their size depends on n only); each chunk owns
 * its partial sums, reduced in chunk order, and every GEMM covers the same rows whichever thread
 * runs it, so results do not depend on the thread count at all.
 *
 * Must not: call BLAS except through gs_sgemm, allocate inside the iterations, exit on bad
 * input, or write to x. */
#include "gs/kmeans.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gs/blas.h"
#include "gs/rng.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Rows per GEMM: a (256, d) block of x and its (256, k) products stay in L2 while the argmin
 * reads them back. */
#define BLOCK_ROWS 256
/* Rows per chunk (a unit of parallel work that owns its partial sums), a multiple of
 * BLOCK_ROWS; large n gets larger chunks so at most MAX_CHUNKS sets of (k, d) sums exist. */
#define CHUNK_MIN 2048
#define MAX_CHUNKS 64
/* Restarts seeded together. */
#define PP_BATCH 4
/* 2 + log(k) candidates per k-means++ step, k < 2^31. */
#define MAX_TRIALS 24

typedef struct {
    const float *x;    // (n, d) centred copy of the input
    int n, d, k;
    int threads;
    int chunk_rows, n_chunks;
    int n_trials;      // k-means++ candidates per step and restart
    int batch;         // restarts seeded together (0 when the centres are given)
    int width;         // columns of a scratch block: max(k, batch * n_trials)
    double tol_abs;    // tol * mean feature variance
    const atomic_int *cancel;

    float *xc;         // (n, d) the centred copy x points to
    double *mean;      // (d) column means of the input
    float *xnorm;      // (n) squared row norms of x
    float *scratch;    // (threads, BLOCK_ROWS, width) GEMM outputs
    float *gather;     // (threads, BLOCK_ROWS, d) rows to re-score
    int *list;         // (threads, BLOCK_ROWS) their indices
    double *csum;      // (n_chunks, k, d) per-chunk centroid sums, kept across steps
    int64_t *ccount;   // (n_chunks, k)
    int64_t *cchanged; // (n_chunks) labels changed in a step
    double *cval;      // (n_chunks, width) per-chunk scalar partials

    float *cent;       // (k, d) current centres (centred coordinates)
    float *cent_new;   // (k, d)
    float *cnorm;      // (k) squared centre norms
    float *shift;      // (k) how far each centre moved in the last update
    float *half;       // (k) half the distance to the nearest other centre
    double *sum;       // (k, d) reduced sums
    int64_t *count;    // (k)
    int32_t *assign;   // (n)
    float *ub;         // (n) upper bound on the distance to the own centre
    float *lb;         // (n) lower bound on the distance to every other centre
    float *dist;       // (n) distance to the own centre, for the empty-cluster repair
    float p1, p2;      // largest and second largest shift
    int p1_idx;

    float *pool;       // (batch * (n_trials + 1), n) k-means++ distance rows
    float *closest[PP_BATCH];                 // (n) squared distance to the nearest centre
    float *trial[PP_BATCH * MAX_TRIALS];      // (n) the same after adding one candidate
    float *cand;       // (batch * n_trials, d) candidate rows
    float *cand_norm;  // (batch * n_trials)
    double *chunk_pot; // (batch, n_chunks) per-chunk sums of closest, for sampling
    float *seeds;      // (batch, k, d) seeded centres of the batch

    void *mem[40];
    int n_mem;
    bool oom;
} Km;

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static void *km_alloc(Km *km, size_t count, size_t size)
{
    void *p = malloc((count ? count : 1) * size);
    if (p)
        km->mem[km->n_mem++] = p;
    else
        km->oom = true;
    return p;
}

static void km_free(Km *km)
{
    for (int i = 0; i < km->n_mem; i++)
        free(km->mem[i]);
    km->n_mem = 0;
}

static int chunk_begin(const Km *km, int c)
{
    return c * km->chunk_rows;
}

static int chunk_end(const Km *km, int c)
{
    int64_t e = (int64_t)(c + 1) * km->chunk_rows;
    return e < km->n ? (int)e : km->n;
}

static double u01_53(Rng *r)
{
    return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Squared distance in float with 8 independent partial sums, which the compiler keeps in vector
 * registers (a single running sum could not be vectorised without reassociation). */
static float sqdist(const float *a, const float *b, int d)
{
    float acc[8] = {0};
    int t = 0;
    for (; t + 8 <= d; t += 8)
        for (int u = 0; u < 8; u++) {
            float v = a[t + u] - b[t + u];
            acc[u] += v * v;
        }
    float s = 0;
    for (; t < d; t++)
        s += (a[t] - b[t]) * (a[t] - b[t]);
    for (int u = 0; u < 8; u++)
        s += acc[u];
    return s;
}

static int poll_cancel(const Km *km, GsErr *err)
{
    if (km->cancel && *km->cancel)
        return gs_errf(err, "canceled");
    return 0;
}

static int km_init(Km *km, int n, int d, int k, int batch, const atomic_int *cancel,
                   GsErr *err)
{
    memset(km, 0, sizeof *km);
    km->n = n;
    km->d = d;
    km->k = k;
    km->cancel = cancel;
    km->threads = gs_threads_get() > 0 ? gs_threads_get() : 1;
    km->n_trials = 2 + (int)log((double)k);
    if (km->n_trials > MAX_TRIALS)
        km->n_trials = MAX_TRIALS;
    km->batch = batch;
    km->width = k > batch * km->n_trials ? k : batch * km->n_trials;
    int rows = (n + MAX_CHUNKS - 1) / MAX_CHUNKS;
    rows = (rows + BLOCK_ROWS - 1) / BLOCK_ROWS * BLOCK_ROWS;
    km->chunk_rows = rows > CHUNK_MIN ? rows : CHUNK_MIN;
    km->n_chunks = (n + km->chunk_rows - 1) / km->chunk_rows;

    size_t nn = (size_t)n, kd = (size_t)k * d, nc = (size_t)km->n_chunks;
    size_t T = (size_t)km->threads, W = (size_t)km->width;
    size_t B = (size_t)batch, Q = B * km->n_trials;
    km->xc = km_alloc(km, nn * d, sizeof(float));
    km->mean = km_alloc(km, d, sizeof(double));
    km->xnorm = km_alloc(km, nn, sizeof(float));
    km->scratch = km_alloc(km, T * BLOCK_ROWS * W, sizeof(float));
    km->gather = km_alloc(km, T * BLOCK_ROWS * d, sizeof(float));
    km->list = km_alloc(km, T * BLOCK_ROWS, sizeof(int));
    /* csum also holds the per-chunk column sums (2 d <= k d) of the scan. */
    km->csum = km_alloc(km, nc * kd, sizeof(double));
    km->ccount = km_alloc(km, nc * k, sizeof(int64_t));
    km->cchanged = km_alloc(km, nc, sizeof(int64_t));
    km->cval = km_alloc(km, nc * W, sizeof(double));
    km->cent = km_alloc(km, kd, sizeof(float));
    km->cent_new = km_alloc(km, kd, sizeof(float));
    km->cnorm = km_alloc(km, k, sizeof(float));
    km->shift = km_alloc(km, k, sizeof(float));
    km->half = km_alloc(km, k, sizeof(float));
    km->sum = km_alloc(km, kd, sizeof(double));
    km->count = km_alloc(km, k, sizeof(int64_t));
    km->assign = km_alloc(km, nn, sizeof(int32_t));
    km->ub = km_alloc(km, nn, sizeof(float));
    km->lb = km_alloc(km, nn, sizeof(float));
    km->dist = km_alloc(km, nn, sizeof(float));
    if (batch > 0) {
        km->pool = km_alloc(km, B * (km->n_trials + 1) * nn, sizeof(float));
        km->cand = km_alloc(km, Q * d, sizeof(float));
        km->cand_norm = km_alloc(km, Q, sizeof(float));
        km->chunk_pot = km_alloc(km, B * nc, sizeof(double));
        km->seeds = km_alloc(km, B * kd, sizeof(float));
    }
    if (km->oom) {
        km_free(km);
        return gs_errf(err, "kmeans: out of memory for n=%d d=%d k=%d", n, d, k);
    }
    km->x = km->xc;
    return 0;
}

/* Reads the input once to reject non-finite or overflowing rows (naming the first) and take
 * the column means, then writes the centred copy, its row norms and, for tol > 0, the absolute
 * tolerance tol * mean(var(x, axis=0)). */
static int km_prepare(Km *km, const float *x, float tol, GsErr *err)
{
    const int d = km->d, nc = km->n_chunks;
    int64_t *bad = km->cchanged; // (n_chunks) first bad row of each chunk, or -1
#pragma omp parallel for schedule(dynamic, 1) num_threads(km->threads)
    for (int c = 0; c < nc; c++) {
        double *cs = km->csum + (size_t)c * 2 * d;
        memset(cs, 0, sizeof(double) * d);
        bad[c] = -1;
        for (int i = chunk_begin(km, c); i < chunk_end(km, c); i++) {
            const float *xi = x + (size_t)i * d;
            double s2 = 0;
            for (int j = 0; j < d; j++) {
                cs[j] += xi[j];
                s2 += (double)xi[j] * xi[j];
            }
            /* Non-finite, or so large that a squared distance in the centred copy could
             * overflow float: ||x_i - mean||^2 <= 4 max ||x||^2. */
            if (!(s2 <= FLT_MAX / 4)) {
                bad[c] = i;
                break;
            }
        }
    }
    for (int c = 0; c < nc; c++)
        if (bad[c] >= 0) {
            const float *xi = x + (size_t)bad[c] * d;
            int j = 0;
            while (j < d && isfinite(xi[j]))
                j++;
            if (j == d)
                return gs_errf(err, "kmeans: x row %lld is too large (squared norm over %g)",
                               (long long)bad[c], (double)FLT_MAX / 4);
            return gs_errf(err, "kmeans: x row %lld column %d is not finite (%g)",
                           (long long)bad[c], j, (double)xi[j]);
        }
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (int c = 0; c < nc; c++)
            s += km->csum[(size_t)c * 2 * d + j];
        km->mean[j] = s / km->n;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(km->threads)
    for (int c = 0; c < nc; c++) {
        double *cs = km->csum + (size_t)c * 2 * d; // sums then sums of squares of the copy
        memset(cs, 0, sizeof(double) * 2 * d);
        for (int i = chunk_begin(km, c); i < chunk_end(km, c); i++) {
            const float *xi = x + (size_t)i * d;
            float *yi = km->xc + (size_t)i * d;
            double s2 = 0;
            for (int j = 0; j < d; j++) {
                yi[j] = (float)((double)xi[j] - km->mean[j]);
                cs[j] += yi[j];
                cs[d + j] += (double)yi[j] * yi[j];
                s2 += (double)yi[j] * yi[j];
            }
            km->xnorm[i] = (float)s2;
        }
    }
    km->tol_abs = 0;
    if (tol > 0) {
        double var = 0;
        for (int j = 0; j < d; j++) {
            double s = 0, s2 = 0;
            for (int c = 0; c < nc; c++) {
                s += km->csum[(size_t)c * 2 * d + j];
                s2 += km->csum[(size_t)c * 2 * d + d + j];
            }
            double m = s / km->n, v = s2 / km->n - m * m;
            var += v > 0 ? v : 0;
        }
        km->tol_abs = (double)tol * (var / d);
    }
    return 0;
}

/* ---- k-means++ ---------------------------------------------------------------------------- */

/* Scores nb * per candidates (cand, restart b owns columns b*per ..) against every point:
 * trial[q][i] = min(closest[b][i], ||x_i - cand_q||^2), per-chunk potentials into cval. */
static void pp_pass(Km *km, int nb, int per)
{
    const int d = km->d, nc = km->n_chunks, Q = nb * per;
#pragma omp parallel for schedule(dynamic, 1) num_threads(km->threads)
    for (int c = 0; c < nc; c++) {
        float *D = km->scratch + (size_t)thread_id() * BLOCK_ROWS * km->width; // (rows, Q)
        double pot[PP_BATCH * MAX_TRIALS] = {0};
        for (int i0 = chunk_begin(km, c); i0 < chunk_end(km, c); i0 += BLOCK_ROWS) {
            int rows = chunk_end(km, c) - i0 < BLOCK_ROWS ? chunk_end(km, c) - i0 : BLOCK_ROWS;
            gs_sgemm(false, true, rows, Q, d, -2.0f, km->x + (size_t)i0 * d, d, km->cand, d,
                     0.0f, D, Q);
            for (int r = 0; r < rows; r++) {
                int i = i0 + r;
                const float *dr = D + (size_t)r * Q;
                for (int b = 0; b < nb; b++) {
                    float cl = km->closest[b][i];
                    for (int l = 0; l < per; l++) {
                        int q = b * per + l;
                        float v = km->xnorm[i] + km->cand_norm[q] + dr[q];
                        v = v > 0 ? v : 0;
                        v = v < cl ? v : cl;
                        km->trial[q][i] = v;
                        pot[q] += v;
                    }
                }
            }
        }
        for (int q = 0; q < Q; q++)
            km->cval[(size_t)c * km->width + q] = pot[q];
    }
}

/* Draws a point with probability proportional to closest[b], using the per-chunk sums so only
 * one chunk is scanned. Only points with a positive weight can be drawn; when every point sits
 * on a centre, any point is as good as another. */
static int pp_sample(const Km *km, int b, Rng *rng)
{
    const float *w = km->closest[b];
    const double *cp = km->chunk_pot + (size_t)b * km->n_chunks;
    double total = 0;
    for (int c = 0; c < km->n_chunks; c++)
        total += cp[c];
    if (!(total > 0))
        return (int)rng_below(rng, (uint64_t)km->n);
    double r = u01_53(rng) * total, acc = 0;
    for (int c = 0; c < km->n_chunks; c++) {
        if (acc + cp[c] > r) {
            double target = r - acc, a = 0;
            int last = -1;
            for (int i = chunk_begin(km, c); i < chunk_end(km, c); i++)
                if (w[i] > 0) {
                    a += w[i];
                    last = i;
                    if (a > target)
                        return i;
                }
            if (last >= 0) // rounding put r past this chunk's own sum
                return last;
        }
        acc += cp[c];
    }
    for (int i = km->n - 1; i >= 0; i--)
        if (w[i] > 0)
            return i;
    return (int)rng_below(rng, (uint64_t)km->n);
}

static void pp_set_candidate(Km *km, int q, int id)
{
    memcpy(km->cand + (size_t)q * km->d, km->x + (size_t)id * km->d, sizeof(float) * km->d);
    km->cand_norm[q] = km->xnorm[id];
}

/* After a pass, restart b keeps candidate column q: its distances become closest (the old row
 * becomes scratch) and its chunk potentials the sampling weights. */
static void pp_keep(Km *km, int b, int q)
{
    float *t = km->closest[b];
    km->closest[b] = km->trial[q];
    km->trial[q] = t;
    for (int c = 0; c < km->n_chunks; c++)
        km->chunk_pot[(size_t)b * km->n_chunks + c] = km->cval[(size_t)c * km->width + q];
}

/* Greedy k-means++ (scikit-learn's) for nb restarts at once, each with its own stream: every
 * new centre is the best of n_trials candidates drawn proportionally to the squared distance,
 * best meaning the lowest resulting potential. Centres go to seeds (nb, k, d). */
static int pp_seed_batch(Km *km, int nb, Rng *rngs, GsErr *err)
{
    const int n = km->n, d = km->d, k = km->k, L = km->n_trials, nc = km->n_chunks;
    const size_t kd = (size_t)k * d;
    for (int b = 0; b < nb; b++)
        km->closest[b] = km->pool + (size_t)b * n;
    for (int q = 0; q < nb * L; q++)
        km->trial[q] = km->pool + (size_t)(nb + q) * n;
    for (int b = 0; b < nb; b++) {
        for (int i = 0; i < n; i++)
            km->closest[b][i] = INFINITY;
        pp_set_candidate(km, b, (int)rng_below(&rngs[b], (uint64_t)n));
        memcpy(km->seeds + b * kd, km->cand + (size_t)b * d, sizeof(float) * d);
    }
    pp_pass(km, nb, 1);
    for (int b = 0; b < nb; b++)
        pp_keep(km, b, b);

    for (int j = 1; j < k; j++) {
        if (poll_cancel(km, err))
            return -1;
        for (int b = 0; b < nb; b++)
            for (int l = 0; l < L; l++)
                pp_set_candidate(km, b * L + l, pp_sample(km, b, &rngs[b]));
        pp_pass(km, nb, L);
        for (int b = 0; b < nb; b++) {
            int best = 0;
            double best_pot = INFINITY;
            for (int l = 0; l < L; l++) {
                double p = 0;
                for (int c = 0; c < nc; c++)
                    p += km->cval[(size_t)c * km->width + b * L + l];
                if (p < best_pot) {
                    best_pot = p;
                    best = l;
                }
            }
            memcpy(km->seeds + b * kd + (size_t)j * d, km->cand + (size_t)(b * L + best) * d,
                   sizeof(float) * d);
            pp_keep(km, b, b * L + best);
        }
    }
    return 0;
}

/* ---- Lloyd with Hamerly's bounds ---------------------------------------------------------- */

static void lloyd_reset(Km *km)
{
    for (int i = 0; i < km->n; i++) {
        km->assign[i] = -1;
        km->ub[i] = INFINITY;
        km->lb[i] = 0;
    }
    memset(km->shift, 0, sizeof(float) * km->k);
    memset(km->csum, 0, sizeof(double) * km->n_chunks * km->k * km->d);
    memset(km->ccount, 0, sizeof(int64_t) * km->n_chunks * km->k);
}

/* Centre norms, half the distance from each centre to its nearest neighbour, and the two
 * largest shifts: everything the bounds test needs from the centres. */
static void centre_geometry(Km *km)
{
    const int k = km->k, d = km->d;
    for (int j = 0; j < k; j++) {
        double s = 0;
        for (int t = 0; t < d; t++)
            s += (double)km->cent[(size_t)j * d + t] * km->cent[(size_t)j * d + t];
        km->cnorm[j] = (float)s;
    }
    /* Centre-to-centre distances by GEMM, BLOCK_ROWS centres at a time so memory stays
     * (BLOCK_ROWS, k) however large k is. */
    const int nblk = (k + BLOCK_ROWS - 1) / BLOCK_ROWS;
#pragma omp parallel for schedule(dynamic, 1) num_threads(km->threads) if (nblk > 1)
    for (int bi = 0; bi < nblk; bi++) {
        float *G = km->scratch + (size_t)thread_id() * BLOCK_ROWS * km->width; // (rows, k)
        int j0 = bi * BLOCK_ROWS, rows = k - j0 < BLOCK_ROWS ? k - j0 : BLOCK_ROWS;
        gs_sgemm(false, true, rows, k, d, -2.0f, km->cent + (size_t)j0 * d, d, km->cent, d,
                 0.0f, G, k);
        for (int r = 0; r < rows; r++) {
            int j = j0 + r;
            float m = INFINITY;
            for (int i = 0; i < k; i++) {
                float v = km->cnorm[j] + km->cnorm[i] + G[(size_t)r * k + i];
                if (i != j && v < m)
                    m = v;
            }
            km->half[j] = 0.5f * sqrtf(m > 0 ? m : 0);
        }
    }
    km->p1 = km->p2 = 0;
    km->p1_idx = 0;
    for (int j = 0; j < k; j++) {
        float p = km->shift[j];
        if (p > km->p1) {
            km->p2 = km->p1;
            km->p1 = p;
            km->p1_idx = j;
        } else if (p > km->p2) {
            km->p2 = p;
        }
    }
}

/* The smallest and second smallest of cnorm[j] + dr[j] (||x||^2 is the same for every centre,
 * so ranking needs only ||c||^2 - 2 x.c) and the first index of the smallest. Eight lanes keep
 * their own two smallest so the loop vectorises. */
static int top2(const float *cnorm, const float *dr, int k, float *m1, float *m2)
{
    float a1[8], a2[8];
    for (int u = 0; u < 8; u++)
        a1[u] = a2[u] = INFINITY;
    int j = 0;
    for (; j + 8 <= k; j += 8)
        for (int u = 0; u < 8; u++) {
            float v = cnorm[j + u] + dr[j + u];
            float hi = v > a1[u] ? v : a1[u];
            a2[u] = hi < a2[u] ? hi : a2[u];
            a1[u] = v < a1[u] ? v : a1[u];
        }
    for (; j < k; j++) {
        float v = cnorm[j] + dr[j];
        float hi = v > a1[0] ? v : a1[0];
        a2[0] = hi < a2[0] ? hi : a2[0];
        a1[0] = v < a1[0] ? v : a1[0];
    }
    int lane = 0;
    for (int u = 1; u < 8; u++)
        if (a1[u] < a1[lane])
            lane = u;
    float second = a2[lane];
    for (int u = 0; u < 8; u++)
        if (u != lane && a1[u] < second)
            second = a1[u];
    *m1 = a1[lane];
    *m2 = second;
    int b = 0;
    while (b < k - 1 && !(cnorm[b] + dr[b] == a1[lane]))
        b++;
    return b;
}

/* Re-scores the m points in list against every centre with one GEMM: new labels, fresh bounds,
 * and the chunk's sums moved for points that changed cluster. Returns how many changed. */
static int64_t rescore_block(Km *km, const int *list, int m, float *D, float *G, double *cs,
                             int64_t *cn)
{
    const int d = km->d, k = km->k;
    const float *xb;
    if (list[m - 1] - list[0] == m - 1) {
        xb = km->x + (size_t)list[0] * d; // contiguous rows: no copy
    } else {
        for (int r = 0; r < m; r++)
            memcpy(G + (size_t)r * d, km->x + (size_t)list[r] * d, sizeof(float) * d);
        xb = G;
    }
    gs_sgemm(false, true, m, k, d, -2.0f, xb, d, km->cent, d, 0.0f, D, k);
    int64_t changed = 0;
    for (int r = 0; r < m; r++) {
        int i = list[r];
        const float *dr = D + (size_t)r * k;
        float m1, m2;
        int b1 = top2(km->cnorm, dr, k, &m1, &m2);
        float u = km->xnorm[i] + m1, l = km->xnorm[i] + m2;
        km->ub[i] = sqrtf(u > 0 ? u : 0);
        km->lb[i] = sqrtf(l > 0 ? l : 0);
        int old = km->assign[i];
        if (old == b1)
            continue;
        changed++;
        km->assign[i] = b1;
        const float *xi = km->x + (size_t)i * d;
        if (old >= 0) {
            double *so = cs + (size_t)old * d;
            for (int t = 0; t < d; t++)
                so[t] -= xi[t];
            cn[old]--;
        }
        double *sn = cs + (size_t)b1 * d;
        for (int t = 0; t < d; t++)
            sn[t] += xi[t];
        cn[b1]++;
    }
    return changed;
}

/* One assignment step against km->cent: bounds moved by the last shifts, tightened where they
 * overlap, and the points still in doubt re-scored. Per-chunk sums, counts and change counts
 * are updated in place. */
static void assign_pass(Km *km)
{
    const int d = km->d, k = km->k, nc = km->n_chunks;
#pragma omp parallel for schedule(dynamic, 1) num_threads(km->threads)
    for (int c = 0; c < nc; c++) {
        int tid = thread_id();
        float *D = km->scratch + (size_t)tid * BLOCK_ROWS * km->width; // (BLOCK_ROWS, k)
        float *G = km->gather + (size_t)tid * BLOCK_ROWS * d;          // (BLOCK_ROWS, d)
        int *list = km->list + (size_t)tid * BLOCK_ROWS;
        double *cs = km->csum + (size_t)c * k * d;                      // (k, d)
        int64_t *cn = km->ccount + (size_t)c * k;
        int64_t changed = 0;
        int m = 0;
        for (int i = chunk_begin(km, c); i < chunk_end(km, c); i++) {
            int a = km->assign[i];
            if (a >= 0) {
                float u = km->ub[i] + km->shift[a];
                float l = km->lb[i] - (a == km->p1_idx ? km->p2 : km->p1);
                float bound = km->half[a] > l ? km->half[a] : l;
                km->lb[i] = l;
                if (u <= bound) {
                    km->ub[i] = u;
                    continue;
                }
                u = sqrtf(sqdist(km->x + (size_t)i * d, km->cent + (size_t)a * d, d));
                km->ub[i] = u;
                if (u <= bound)
                    continue;
            }
            list[m++] = i;
            if (m == BLOCK_ROWS) {
                changed += rescore_block(km, list, m, D, G, cs, cn);
                m = 0;
            }
        }
        if (m > 0)
            changed += rescore_block(km, list, m, D, G, cs, cn);
        km->cchanged[c] = changed;
    }
}

/* Exact squared distance (in double) of point i to the centre it is assigned to. */
static double dist_to_own_centre(const Km *km, int i)
{
    const int d = km->d;
    const float *xi = km->x + (size_t)i * d;
    const float *ci = km->cent + (size_t)km->assign[i] * d;
    double s = 0;
    for (int t = 0; t < d; t++) {
        double v = (double)xi[t] - ci[t];
        s += v * v;
    }
    return s;
}

/* Exact squared distance of each point to its current centre, for the repair. */
static void dist_pass(Km *km)
{
    const int nc = km->n_chunks;
#pragma omp parallel for schedule(dynamic, 1) num_threads(km->threads)
    for (int c = 0; c < nc; c++)
        for (int i = chunk_begin(km, c); i < chunk_end(km, c); i++) {
            km->dist[i] = (float)dist_to_own_centre(km, i);
        }
}

/* Gives each empty cluster the point farthest from its centre, as scikit-learn does; returns
 * how many points moved. Nothing moves when every point sits on its centre (fewer distinct
 * points than clusters), since no move could lower the inertia. */
static int repair_empty(Km *km)
{
    const int d = km->d, k = km->k, n = km->n;
    int moved = 0;
    bool computed = false;
    for (int e = 0; e < k; e++) {
        if (km->count[e] != 0)
            continue;
        if (!computed) {
            dist_pass(km);
            computed = true;
        }
        int far = 0;
        for (int i = 1; i < n; i++)
            if (km->dist[i] > km->dist[far])
                far = i;
        if (!(km->dist[far] > 0))
            break;
        km->dist[far] = -1; // taken
        int old = km->assign[far], ch = far / km->chunk_rows;
        const float *xf = km->x + (size_t)far * d;
        double *so = km->csum + ((size_t)ch * k + old) * d;
        double *se = km->csum + ((size_t)ch * k + e) * d;
        for (int t = 0; t < d; t++) {
            so[t] -= xf[t];
            se[t] += xf[t];
            km->sum[(size_t)old * d + t] -= xf[t];
            km->sum[(size_t)e * d + t] = xf[t];
        }
        km->ccount[(size_t)ch * k + old]--;
        km->ccount[(size_t)ch * k + e]++;
        km->count[old]--;
        km->count[e] = 1;
        km->assign[far] = e;
        km->ub[far] = INFINITY; // re-score it next step
        km->lb[far] = 0;
        moved++;
    }
    return moved;
}

/* Exact inertia (double) and cluster sizes of the current labels. */
static double inertia_pass(Km *km)
{
    const int k = km->k, nc = km->n_chunks;
#pragma omp parallel for schedule(dynamic, 1) num_threads(km->threads)
    for (int c = 0; c < nc; c++) {
        int64_t *cn = km->ccount + (size_t)c * k;
        double in = 0;
        memset(cn, 0, sizeof(int64_t) * k);
        for (int i = chunk_begin(km, c); i < chunk_end(km, c); i++) {
            in += dist_to_own_centre(km, i);
            cn[km->assign[i]]++;
        }
        km->cval[(size_t)c * km->width] = in;
    }
    double inertia = 0;
    memset(km->count, 0, sizeof(int64_t) * k);
    for (int c = 0; c < nc; c++) {
        inertia += km->cval[(size_t)c * km->width];
        for (int j = 0; j < k; j++)
            km->count[j] += km->ccount[(size_t)c * k + j];
    }
    return inertia;
}

/* Lloyd steps from km->cent until the labels stop changing, the summed squared centre shift is
 * <= tol_abs, or max_iter; then labels matching the final centres. */
static int lloyd_run(Km *km, int max_iter, int *n_iter, double *inertia, GsErr *err)
{
    const int d = km->d, k = km->k, nc = km->n_chunks;
    bool strict = false;
    lloyd_reset(km);
    *n_iter = 0;
    for (int it = 0; it < max_iter; it++) {
        if (poll_cancel(km, err))
            return -1;
        centre_geometry(km);
        assign_pass(km);
        int64_t changed = 0;
        memset(km->sum, 0, sizeof(double) * k * d);
        memset(km->count, 0, sizeof(int64_t) * k);
        for (int c = 0; c < nc; c++) {
            double *cs = km->csum + (size_t)c * k * d;
            const int64_t *cc = km->ccount + (size_t)c * k;
            for (int j = 0; j < k; j++) {
                if (cc[j] == 0) {
                    /* Drop the rounding left by adds and removes, so an emptied chunk row
                     * is exactly zero again. */
                    memset(cs + (size_t)j * d, 0, sizeof(double) * d);
                    continue;
                }
                for (int t = 0; t < d; t++)
                    km->sum[(size_t)j * d + t] += cs[(size_t)j * d + t];
                km->count[j] += cc[j];
            }
            changed += km->cchanged[c];
        }
        changed += repair_empty(km);
        double total_shift = 0;
        for (int j = 0; j < k; j++) {
            const float *co = km->cent + (size_t)j * d;
            float *cn = km->cent_new + (size_t)j * d;
            double sh = 0;
            if (km->count[j] == 0) {
                memcpy(cn, co, sizeof(float) * d); // nothing to move it towards
            } else {
                double inv = 1.0 / (double)km->count[j];
                for (int t = 0; t < d; t++) {
                    cn[t] = (float)(km->sum[(size_t)j * d + t] * inv);
                    double v = (double)cn[t] - co[t];
                    sh += v * v;
                }
            }
            km->shift[j] = (float)sqrt(sh);
            total_shift += sh;
        }
        float *tmp = km->cent;
        km->cent = km->cent_new;
        km->cent_new = tmp;
        *n_iter = it + 1;
        if (changed == 0) {
            /* Same labels as before this step, so the centres already are their means. */
            strict = true;
            break;
        }
        if (total_shift <= km->tol_abs)
            break;
    }
    if (!strict) {
        centre_geometry(km);
        assign_pass(km);
    }
    *inertia = inertia_pass(km);
    return 0;
}

/* ---- entry points ------------------------------------------------------------------------- */

static int validate(const float *x, int n, int d, const KmeansConfig *cfg, GsErr *err)
{
    if (!cfg)
        return gs_errf(err, "kmeans: no config");
    if (!x)
        return gs_errf(err, "kmeans: no data");
    if (d < 1)
        return gs_errf(err, "kmeans: d=%d must be >= 1", d);
    if (n < 2)
        return gs_errf(err, "kmeans: n=%d points, need at least 2", n);
    if (cfg->k < 2 || cfg->k > n)
        return gs_errf(err, "kmeans: k=%d must be in 2..n (n=%d)", cfg->k, n);
    if (cfg->n_init < 1)
        return gs_errf(err, "kmeans: n_init=%d must be >= 1", cfg->n_init);
    if (cfg->max_iter < 1)
        return gs_errf(err, "kmeans: max_iter=%d must be >= 1", cfg->max_iter);
    if (!(cfg->tol >= 0) || !isfinite(cfg->tol))
        return gs_errf(err, "kmeans: tol=%g must be finite and >= 0", (double)cfg->tol);
    if ((size_t)n * (size_t)d > ((size_t)1 << 40))
        return gs_errf(err, "kmeans: n*d=%zu is too large", (size_t)n * (size_t)d);
    return 0;
}

static int result_alloc(KmeansResult *res, int n, int d, int k, GsErr *err)
{
    memset(res, 0, sizeof *res);
    res->assign = malloc(sizeof(int32_t) * (size_t)n);
    res->centroids = malloc(sizeof(float) * (size_t)k * d);
    res->sizes = malloc(sizeof(int32_t) * (size_t)k);
    if (!res->assign || !res->centroids || !res->sizes) {
        kmeans_result_free(res);
        return gs_errf(err, "kmeans: out of memory for the result (n=%d k=%d)", n, k);
    }
    res->n = n;
    res->d = d;
    res->k = k;
    return 0;
}

static void result_keep(KmeansResult *res, const Km *km, double inertia, int n_iter, int init)
{
    const int d = km->d;
    memcpy(res->assign, km->assign, sizeof(int32_t) * (size_t)km->n);
    for (int j = 0; j < km->k; j++) {
        for (int t = 0; t < d; t++)
            res->centroids[(size_t)j * d + t] =
                (float)((double)km->cent[(size_t)j * d + t] + km->mean[t]);
        res->sizes[j] = (int32_t)km->count[j];
    }
    res->inertia = inertia;
    res->n_iter = n_iter;
    res->best_init = init;
}

KmeansConfig kmeans_defaults(void)
{
    KmeansConfig c = {.k = 64, .n_init = 4, .max_iter = 100, .tol = 1e-4f, .seed = 0};
    return c;
}

int kmeans_fit(KmeansResult *res, const float *x, int n, int d, const KmeansConfig *cfg,
               const atomic_int *cancel, GsErr *err)
{
    Km km;
    memset(res, 0, sizeof *res);
    if (validate(x, n, d, cfg, err))
        return -1;
    int batch = cfg->n_init < PP_BATCH ? cfg->n_init : PP_BATCH;
    if (km_init(&km, n, d, cfg->k, batch, cancel, err))
        return -1;
    if (km_prepare(&km, x, cfg->tol, err) || result_alloc(res, n, d, cfg->k, err)) {
        km_free(&km);
        return -1;
    }
    const size_t kd = (size_t)cfg->k * d;
    Rng base;
    rng_seed(&base, cfg->seed);
    for (int r0 = 0; r0 < cfg->n_init; r0 += km.batch) {
        int nb = cfg->n_init - r0 < km.batch ? cfg->n_init - r0 : km.batch;
        Rng rngs[PP_BATCH];
        for (int b = 0; b < nb; b++)
            rng_split(&base, (uint64_t)(r0 + b), &rngs[b]);
        if (pp_seed_batch(&km, nb, rngs, err))
            goto fail;
        for (int b = 0; b < nb; b++) {
            int n_iter;
            double inertia;
            memcpy(km.cent, km.seeds + b * kd, sizeof(float) * kd);
            if (lloyd_run(&km, cfg->max_iter, &n_iter, &inertia, err))
                goto fail;
            if (r0 + b == 0 || inertia < res->inertia)
                result_keep(res, &km, inertia, n_iter, r0 + b);
        }
    }
    km_free(&km);
    return 0;
fail:
    km_free(&km);
    kmeans_result_free(res);
    return -1;
}

int kmeans_fit_from(KmeansResult *res, const float *x, int n, int d, const float *init,
                    const KmeansConfig *cfg, const atomic_int *cancel, GsErr *err)
{
    Km km;
    memset(res, 0, sizeof *res);
    if (validate(x, n, d, cfg, err))
        return -1;
    if (!init)
        return gs_errf(err, "kmeans: no initial centres");
    for (size_t t = 0; t < (size_t)cfg->k * d; t++)
        if (!isfinite(init[t]))
            return gs_errf(err, "kmeans: initial centre %d is not finite", (int)(t / d));
    if (km_init(&km, n, d, cfg->k, 0, cancel, err))
        return -1;
    if (km_prepare(&km, x, cfg->tol, err) || result_alloc(res, n, d, cfg->k, err)) {
        km_free(&km);
        return -1;
    }
    for (int j = 0; j < cfg->k; j++)
        for (int t = 0; t < d; t++)
            km.cent[(size_t)j * d + t] = (float)((double)init[(size_t)j * d + t] - km.mean[t]);
    int n_iter;
    double inertia;
    if (lloyd_run(&km, cfg->max_iter, &n_iter, &inertia, err)) {
        km_free(&km);
        kmeans_result_free(res);
        return -1;
    }
    result_keep(res, &km, inertia, n_iter, 0);
    km_free(&km);
    return 0;
}

void kmeans_result_free(KmeansResult *res)
{
    if (!res)
        return;
    free(res->assign);
    free(res->centroids);
    free(res->sizes);
    memset(res, 0, sizeof *res);
}
