/* stage_kmeans.c — stage `kmeans`: clusters the autoencoder's embeddings into the
 * pseudo-labels, reports inertia, cluster sizes and (when the images have labels, as a
 * diagnostic never used in training) purity and NMI, and checkpoints the pseudo-labels so a
 * resumed run starts SimCLR without redoing the first two stages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gs/eval.h"
#include "gs/kmeans.h"
#include "stage.h"

int stage_kmeans_run(const RunConfig *cfg, const Dataset *train, const float *emb, int dim,
                     const Sink *sink, RunResult *res, GsErr *err)
{
    KmeansConfig kc = kmeans_defaults();
    KmeansResult kr;
    double t0 = stage_now();

    kc.k = cfg->kmeans.k;
    kc.n_init = cfg->kmeans.n_init;
    kc.max_iter = cfg->kmeans.max_iter;
    kc.tol = cfg->kmeans.tol;
    kc.seed = stream_seed(cfg->seed, STREAM_KMEANS);
    if (kc.k > train->n)
        return gs_errf(err, "kmeans.k: %d clusters for %d training images", kc.k, train->n);
    stage_progress(sink, STAGE_KMEANS, 1, 1, 0, 1, NAN, 0, NAN);
    if (kmeans_fit(&kr, emb, train->n, dim, &kc, sink ? sink->cancel : NULL, err))
        return -1;
    free(res->assign);
    free(res->cluster_sizes);
    res->assign = kr.assign;
    res->cluster_sizes = kr.sizes;
    res->k = kr.k;
    kr.assign = kr.sizes = NULL;
    res->inertia = kr.inertia;
    int iterations = kr.n_iter;
    res->purity = res->nmi = NAN;
    if (train->labels) {
        res->purity = cluster_purity(res->assign, train->labels, train->n, res->k,
                                     train->n_classes);
        res->nmi = cluster_nmi(res->assign, train->labels, train->n, res->k, train->n_classes);
    }
    kmeans_result_free(&kr);
    res->seconds[STAGE_KMEANS] = stage_now() - t0;

    int32_t smallest = INT32_MAX, largest = 0;
    for (int c = 0; c < res->k; c++) {
        smallest = res->cluster_sizes[c] < smallest ? res->cluster_sizes[c] : smallest;
        largest = res->cluster_sizes[c] > largest ? res->cluster_sizes[c] : largest;
    }
    stage_metric(sink, STAGE_KMEANS, 1, -1, "inertia", res->inertia);
    stage_metric(sink, STAGE_KMEANS, 1, -1, "iterations", iterations);
    if (train->labels) {
        stage_metric(sink, STAGE_KMEANS, 1, -1, "purity", res->purity);
        stage_metric(sink, STAGE_KMEANS, 1, -1, "nmi", res->nmi);
    }
    stage_progress(sink, STAGE_KMEANS, 1, 1, 1, 1, res->inertia / train->n,
                   train->n / (res->seconds[STAGE_KMEANS] + 1e-9), 0);
    stage_log(sink, STAGE_KMEANS, 1, "kmeans: k %d inertia %.4g purity %.4f nmi %.4f sizes %d..%d (%.2f s)",
              res->k, res->inertia, res->purity, res->nmi, smallest, largest,
              res->seconds[STAGE_KMEANS]);

    if (sink && sink->assignments &&
        sink->assignments(sink->ctx, res->assign, train->labels, train->n, res->k))
        return gs_errf(err, "kmeans: the pseudo-labels could not be stored");
    CkptWriter w;
    ckpt_writer_init(&w);
    int bad = state_write(&w, STAGE_KMEANS, 1, res, NULL, NULL, NULL, err) ||
              state_commit(&w, sink, STAGE_KMEANS, 1, -1, err);
    ckpt_writer_free(&w);
    return bad ? -1 : 0;
}
