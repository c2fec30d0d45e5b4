/* kmeans.h — k-means for the pseudo-labels: k-means++ seeding, Lloyd iterations with the
 * squared distances computed by SGEMM, n_init restarts keeping the lowest inertia, empty
 * clusters repaired, deterministic for a seed and thread count. How well clusters match true
 * labels (purity, NMI) is evaluation, in eval.h. */
#ifndef GS_KMEANS_H
#define GS_KMEANS_H

#include <stdatomic.h>
#include <stdint.h>

#include "gs/err.h"

typedef struct {
    int k;          /* clusters, 2 .. n */
    int n_init;     /* restarts, >= 1 */
    int max_iter;   /* Lloyd iterations per restart, >= 1 */
    float tol;      /* stop when the summed squared centre shift <= tol * mean feature variance
                     * (scikit-learn's rule) */
    uint64_t seed;
} KmeansConfig;

typedef struct {
    int n, d, k;
    int32_t *assign;    /* (n) cluster of each point */
    float *centroids;   /* (k, d) */
    int32_t *sizes;     /* (k) points per cluster */
    double inertia;     /* sum of squared distances to the assigned centre */
    int n_iter;         /* Lloyd iterations of the kept restart */
    int best_init;      /* which restart was kept */
} KmeansResult;

KmeansConfig kmeans_defaults(void); /* k 64, n_init 4, max_iter 100, tol 1e-4, seed 0 */
/* Clusters x (n, d). cancel, when not NULL, is polled between iterations; a set flag stops
 * the fit with an error "canceled". On error res holds nothing to free. */
int kmeans_fit(KmeansResult *res, const float *x, int n, int d, const KmeansConfig *cfg,
               const atomic_int *cancel, GsErr *err);
/* Lloyd from given centres init (k, d) instead of k-means++: one run, cfg->n_init and
 * cfg->seed unused (tests drive the empty-cluster repair with it; also a warm start). */
int kmeans_fit_from(KmeansResult *res, const float *x, int n, int d, const float *init,
                    const KmeansConfig *cfg, const atomic_int *cancel, GsErr *err);
void kmeans_result_free(KmeansResult *res);

#endif
