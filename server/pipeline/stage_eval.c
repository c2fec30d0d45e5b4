/* stage_eval.c — stage `eval`: freezes the encoder, takes the backbone features h (and the
 * projection head's first hidden layer, as the paper also reports) of every train and test
 * image without augmentation and with batch-norm in inference mode, and measures a linear
 * classifier chosen on a validation split of the train set, and weighted kNN. */
#include <math.h>
#include <stdlib.h>

#include "gs/eval.h"
#include "stage.h"

int stage_eval_run(const RunConfig *cfg, const Dataset *train, const Dataset *test, Model *m,
                   const Sink *sink, RunResult *res, GsErr *err)
{
    double t0 = stage_now();
    int nodes[2] = {m->feature, m->n_head_hidden > 0 ? m->head_hidden[0] : -1};
    int n_nodes = nodes[1] >= 0 ? 2 : 1;
    float *tr[2] = {NULL, NULL}, *te[2] = {NULL, NULL};
    int rc = -1;

    res->knn_top1 = res->linear_top1 = res->linear_top1_head = NAN;
    if (!train->labels || !test || !test->labels || test->n < 1)
        return gs_errf(err, "eval: the dataset needs labelled train and test images");
    for (int k = 0; k < n_nodes; k++) {
        size_t d = net_node_size(&m->net, nodes[k]);
        tr[k] = malloc(sizeof(float) * d * (size_t)train->n);
        te[k] = malloc(sizeof(float) * d * (size_t)test->n);
        if (!tr[k] || !te[k]) {
            gs_errf(err, "eval: out of memory for features");
            goto done;
        }
    }
    stage_progress(sink, STAGE_EVAL, 1, 1, 0, 1 + n_nodes, NAN, 0, NAN);
    if (embed_nodes(m, nodes, n_nodes, train, tr, sink, err) ||
        embed_nodes(m, nodes, n_nodes, test, te, sink, err))
        goto done;

    int d = (int)net_node_size(&m->net, m->feature);
    if (sink && sink->features &&
        sink->features(sink->ctx, d, tr[0], train->labels, train->n, te[0], test->labels,
                       test->n)) {
        gs_errf(err, "eval: the features could not be stored");
        goto done;
    }
    if (knn_accuracy(tr[0], train->labels, train->n, te[0], test->labels, test->n, d,
                     train->n_classes, cfg->eval.knn_k, cfg->eval.knn_temperature,
                     &res->knn_top1, err))
        goto done;
    stage_metric(sink, STAGE_EVAL, 1, -1, "knn_top1", res->knn_top1);
    stage_log(sink, STAGE_EVAL, 1, "eval: kNN (k %d) top-1 %.4f", cfg->eval.knn_k, res->knn_top1);

    LinearEvalConfig lc = cfg->eval.linear;
    lc.seed = stream_seed(cfg->seed, STREAM_PROBE);
    for (int k = 0; k < n_nodes; k++) {
        LinearEvalResult le;
        int dk = (int)net_node_size(&m->net, nodes[k]);
        if (linear_eval(tr[k], train->labels, train->n, te[k], test->labels, test->n, dk,
                        train->n_classes, &lc, sink ? sink->cancel : NULL, &le,
                        err))
            goto done;
        if (k == 0) {
            res->linear_top1 = le.test_top1;
            res->linear_weight_decay = le.weight_decay;
            res->linear_epochs = le.epochs;
            stage_metric(sink, STAGE_EVAL, 1, -1, "linear_top1", le.test_top1);
            stage_metric(sink, STAGE_EVAL, 1, -1, "linear_val_top1", le.val_top1);
        } else {
            res->linear_top1_head = le.test_top1;
            stage_metric(sink, STAGE_EVAL, 1, -1, "linear_top1_head", le.test_top1);
        }
        stage_log(sink, STAGE_EVAL, 1, "eval: linear on %s (%d-d) top-1 %.4f (val %.4f, wd %g, %d epochs)",
                  k == 0 ? "backbone h" : "head hidden", dk, le.test_top1, le.val_top1,
                  (double)le.weight_decay, le.epochs);
        stage_progress(sink, STAGE_EVAL, 1, 1, 2 + k, 1 + n_nodes, NAN, 0, NAN);
    }
    res->seconds[STAGE_EVAL] = stage_now() - t0;
    rc = 0;
done:
    for (int k = 0; k < 2; k++) {
        free(tr[k]);
        free(te[k]);
    }
    return rc;
}
