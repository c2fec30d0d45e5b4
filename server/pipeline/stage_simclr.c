/* stage_simclr.c — stage `simclr`: contrastive training of the encoder and projection head.
 * Each image of a batch gets two independent random views (its own RNG stream, derived from
 * the epoch's seed and its position, so the views do not depend on the thread count);
 * NT-Xent over the 2N views; warm-up then cosine learning rate. With method gsimclr the
 * batches come from the guided sampler over the pseudo-labels, with simclr from a shuffle.
 * A checkpoint closes every checkpoint_every epochs (and the last), holding all it needs to
 * continue bit for bit. An optional kNN monitor reports test accuracy every few epochs.
 * In a process group (Sink.comm) of P, the batch of N images is split into N / P per process
 * in rank order; the sampler runs the same on every process, and each process makes both
 * views of its images with the streams of their global positions, so the views do not
 * depend on P. The 2N embeddings are gathered from every process, each computes NT-Xent and
 * its gradient over all of them and keeps the rows of its own views; batch-norm uses the
 * whole batch's statistics (net_set_comm) and the gradients are summed before the same
 * optimiser step everywhere. The kNN monitor runs on rank 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gs/augment.h"
#include "gs/eval.h"
#include "gs/loss.h"
#include "gs/sampler.h"
#include "stage.h"

/* The global view (of 2N) that local view jl (of 2n) of process `rank` is: views j and
 * j + N are the two views of image j of the batch, and process r has images [r n, r n + n). */
static inline int view_of(int jl, int n, int N, int rank)
{
    return jl < n ? rank * n + jl : N + rank * n + (jl - n);
}

/* The phases of a step, timed per epoch and logged (stage.h: Phases). */
enum { PH_SAMPLER, PH_AUGMENT, PH_ZERO_GRAD, PH_FORWARD, PH_LOSS, PH_BACKWARD, PH_ALL_REDUCE,
       PH_OPTIMIZER, PH_PROGRESS, PH_COUNT };
static const char *const PHASE_NAMES[PH_COUNT] = {
    "sampler", "augment", "zero-grad", "forward", "loss", "backward", "all-reduce",
    "optimizer", "progress"};

static int knn_monitor(const RunConfig *cfg, Model *m, const Dataset *train,
                       const Dataset *test, const Sink *sink, double *top1, GsErr *err)
{
    int d = (int)net_node_size(&m->net, m->feature);
    float *ftr = malloc(sizeof(float) * (size_t)train->n * d);
    float *fte = malloc(sizeof(float) * (size_t)test->n * d);
    int rc = -1;
    if (!ftr || !fte) {
        gs_errf(err, "simclr: out of memory for the kNN monitor");
        goto done;
    }
    if (embed_nodes(m, &m->feature, 1, train, &ftr, sink, err) ||
        embed_nodes(m, &m->feature, 1, test, &fte, sink, err) ||
        knn_accuracy(ftr, train->labels, train->n, fte, test->labels, test->n, d,
                     train->n_classes, cfg->eval.knn_k, cfg->eval.knn_temperature, top1, err))
        goto done;
    rc = 0;
done:
    free(ftr);
    free(fte);
    return rc;
}

/* A checkpoint after `steps` steps of epoch `epoch` (0-based), `per_epoch` steps each: the
 * state of the end of the previous epoch's checkpoint, but with the weights and optimiser of
 * now, the rng the epoch started with and the position. The sink sees it as epoch + 1, the
 * epoch it belongs to, after epoch * per_epoch + steps steps of the stage. */
static int position_commit(const Sink *sink, int epoch, long steps, long per_epoch, double sum,
                           const RunResult *res, const Model *m, const Optimizer *opt,
                           const Rng *epoch_rng, GsErr *err)
{
    CkptWriter w;
    double where[2] = {(double)steps, sum};
    ckpt_writer_init(&w);
    int bad = state_write(&w, STAGE_SIMCLR, epoch, res, &m->net, opt, epoch_rng, err) ||
              ckpt_add(&w, "simclr.position", where, sizeof where, err) ||
              state_commit(&w, sink, STAGE_SIMCLR, epoch + 1, (long)epoch * per_epoch + steps,
                           err);
    ckpt_writer_free(&w);
    return bad ? -1 : 0;
}

int stage_simclr_run(const RunConfig *cfg, const Dataset *train, const Dataset *test,
                     const Sink *sink, const CkptReader *resume, RunResult *res, Model *m,
                     GsErr *err)
{
    const int N = cfg->simclr.batch;
    const bool guided = cfg->method == METHOD_GSIMCLR;
    size_t isz = (size_t)train->c * train->h * train->w;
    Optimizer opt = {0};
    Sampler smp = {0};
    Rng rng;
    float *x = NULL, *ntws = NULL, *zg = NULL, *zall = NULL, *dzall = NULL;
    const Comm *comm = sink_comm(sink);
    const int P = comm_size(comm), rank = comm_rank(comm);
    const int n = N / P; /* this process's images of a batch */
    int rc = -1, start_epoch = 0;
    double t0 = stage_now(), spent_before = res->seconds[STAGE_SIMCLR], repeats_sum = 0;

    if (N > train->n)
        return gs_errf(err, "simclr.batch: %d is more than the %d training images", N,
                       train->n);
    if (guided && !res->assign)
        return gs_errf(err, "simclr: method gsimclr needs the kmeans pseudo-labels");
    if (N % P != 0)
        return gs_errf(err, "simclr.batch: %d images do not split evenly over %d processes "
                       "(the batch must be a multiple of the process count)", N, P);
    OptConfig oc = optim_defaults(cfg->simclr.optimizer);
    oc.weight_decay = cfg->simclr.weight_decay;
    if (cfg->simclr.optimizer == OPT_SGD || cfg->simclr.optimizer == OPT_LARS)
        oc.momentum = cfg->simclr.momentum;
    if (optim_init(&opt, &oc, m->net.n_params, err))
        return -1;
    if (sampler_init(&smp, guided ? res->assign : NULL, train->n, guided ? res->k : 1, N,
                     guided, err))
        goto done;
    int D = (int)net_node_size(&m->net, m->output);
    NtXent nt;
    x = malloc(sizeof(float) * isz * 2 * (size_t)n);
    ntws = malloc(sizeof(float) * ntxent_ws_floats(N, D));
    if (P > 1) {
        zg = malloc(sizeof(float) * 2 * (size_t)N * D);
        zall = malloc(sizeof(float) * 2 * (size_t)N * D);
        dzall = malloc(sizeof(float) * 2 * (size_t)N * D);
    }
    if (!x || !ntws || (P > 1 && (!zg || !zall || !dzall))) {
        gs_errf(err, "simclr: out of memory");
        goto done;
    }
    ntxent_bind(&nt, N, D, cfg->simclr.tau, ntws);
    if (net_set_comm(&m->net, comm, err))
        goto done;
    rng_seed(&rng, stream_seed(cfg->seed, STREAM_SIMCLR));
    /* A checkpoint written when the run was stopped inside an epoch also holds where: the
     * steps done in that epoch and their loss sum; its rng is the one that epoch started
     * with, so the epoch's batches and views are drawn again exactly. */
    long start_step = 0;
    double start_sum = 0;
    if (resume) {
        int stage;
        long per_epoch = smp.n_batches;
        if (state_stage(resume, cfg, &stage, &start_epoch, err) ||
            state_read_training(resume, &m->net, &opt, &rng, per_epoch * cfg->simclr.epochs,
                                err))
            goto done;
        repeats_sum = res->repeat_batches * start_epoch;
        size_t bytes;
        GsErr none;
        const void *pos = ckpt_find(resume, "simclr.position", &bytes, &none);
        if (pos) {
            double where[2];
            if (bytes != sizeof where) {
                gs_errf(err, "checkpoint: simclr.position has %zu bytes", bytes);
                goto done;
            }
            memcpy(where, pos, sizeof where);
            /* a position is written inside an epoch of the run, after 1 .. per_epoch - 1 of
             * its steps; the steps are converted to long only once known to fit, and the loss
             * sum only feeds the epoch's mean */
            if (start_epoch >= cfg->simclr.epochs) {
                gs_errf(err, "checkpoint: simclr.position inside epoch %d of a run of %d",
                        start_epoch + 1, cfg->simclr.epochs);
                goto done;
            }
            if (!(where[0] >= 1 && where[0] < (double)per_epoch && where[0] == floor(where[0]))) {
                gs_errf(err, "checkpoint: simclr.position is step %g of an epoch of %ld steps",
                        where[0], per_epoch);
                goto done;
            }
            if (!isfinite(where[1])) {
                gs_errf(err, "checkpoint: simclr.position's loss sum is %g", where[1]);
                goto done;
            }
            start_step = (long)where[0];
            start_sum = where[1];
        } else if (start_epoch == 0) {
            gs_errf(err, "checkpoint: simclr epoch 0 without a position inside it");
            goto done;
        }
    }

    long per_epoch = smp.n_batches, total = per_epoch * cfg->simclr.epochs;
    Schedule sch = {.base_lr = cfg->simclr.lr,
                    .warmup_steps = (long)(cfg->simclr.warmup_epochs * (float)per_epoch),
                    .total_steps = total,
                    .final_lr = 0.0f};
    for (int epoch = start_epoch; epoch < cfg->simclr.epochs; epoch++) {
        double e0 = stage_now(), sum = epoch == start_epoch ? start_sum : 0;
        Phases ph;
        phases_begin(&ph, PHASE_NAMES, PH_COUNT);
        Rng epoch_rng = rng;
        sampler_epoch(&smp, &rng);
        uint64_t epoch_seed = rng_u64(&rng);
        const long b0 = epoch == start_epoch ? start_step : 0; /* steps done before */
        for (long b = b0; b < per_epoch; b++) {
            const int32_t *ids = sampler_batch(&smp, (int)b);
            phases_lap(&ph, PH_SAMPLER);
            if (stage_canceled(sink, err)) {
                /* stopped inside the epoch: keep its steps (a daemon's shutdown resumes
                 * from here); a store failure here changes nothing, the run stops anyway */
                GsErr ignored;
                if (b > 0)
                    position_commit(sink, epoch, b, per_epoch, sum, res, m, &opt, &epoch_rng,
                                    &ignored);
                goto done;
            }
            phases_lap(&ph, PH_PROGRESS); /* the cancel check */
            /* local view jl is global view j: the first n are the first views of this
             * process's images, the next n their second views */
#pragma omp parallel for schedule(static)
            for (int jl = 0; jl < 2 * n; jl++) {
                int j = view_of(jl, n, N, rank);
                Rng r;
                rng_seed(&r, stream_view_seed(epoch_seed, b, j));
                augment_view(x + (size_t)jl * isz, train->pixels + (size_t)ids[j % N] * isz,
                             train->c, train->h, train->w, &cfg->simclr.aug, &r);
            }
            phases_lap(&ph, PH_AUGMENT);
            net_zero_grad(&m->net);
            phases_lap(&ph, PH_ZERO_GRAD);
            net_forward(&m->net, x, 2 * n, true);
            phases_lap(&ph, PH_FORWARD);
            float loss;
            if (P == 1) {
                loss = ntxent_forward(&nt, net_act(&m->net, m->output));
            } else {
                /* every process's 2n embeddings, in rank order, put in global view order */
                size_t zrow = sizeof(float) * (size_t)D;
                if (net_comm_error(&m->net, err) ||
                    comm_gather_all(comm, net_act(&m->net, m->output), zrow * 2 * (size_t)n,
                                    zg, err))
                    goto done;
                for (int r = 0; r < P; r++)
                    for (int jl = 0; jl < 2 * n; jl++)
                        memcpy(zall + (size_t)view_of(jl, n, N, r) * D,
                               zg + ((size_t)r * 2 * n + jl) * D, zrow);
                loss = ntxent_forward(&nt, zall);
            }
            if (!isfinite(loss)) {
                gs_errf(err, "simclr: the loss became %g at epoch %d step %ld (try a lower lr)",
                        (double)loss, epoch + 1, b + 1);
                goto done;
            }
            net_backward_begin(&m->net, 2 * n);
            if (P == 1) {
                ntxent_backward(&nt, net_dact(&m->net, m->output), 1.0f);
            } else {
                /* the gradient of every view's row; this process keeps its own */
                memset(dzall, 0, sizeof(float) * 2 * (size_t)N * D);
                ntxent_backward(&nt, dzall, 1.0f);
                float *dz = net_dact(&m->net, m->output);
                for (int jl = 0; jl < 2 * n; jl++) {
                    const float *src = dzall + (size_t)view_of(jl, n, N, rank) * D;
                    for (int d = 0; d < D; d++)
                        dz[(size_t)jl * D + d] += src[d];
                }
            }
            phases_lap(&ph, PH_LOSS);
            net_backward(&m->net, 2 * n);
            phases_lap(&ph, PH_BACKWARD);
            if (P > 1 && (net_comm_error(&m->net, err) ||
                          comm_sum_f32(comm, m->net.grads, m->net.n_params, err)))
                goto done;
            phases_lap(&ph, PH_ALL_REDUCE);
            long step = (long)epoch * per_epoch + b;
            float lr = schedule_lr(&sch, step);
            optim_step(&opt, m->net.params, m->net.grads, m->net.spans, m->net.n_spans, lr);
            phases_lap(&ph, PH_OPTIMIZER);
            sum += loss;
            double el = stage_now() - e0;
            stage_progress(sink, STAGE_SIMCLR, epoch + 1, cfg->simclr.epochs, step + 1, total,
                           sum / (double)(b + 1), (double)(b + 1 - b0) * N / el,
                           (double)(total - step - 1) * el / (double)(b + 1 - b0));
            if ((step + 1) % STEP_LOSS_EVERY == 0) {
                stage_metric(sink, STAGE_SIMCLR, epoch + 1, step + 1, "step_loss", loss);
                /* per step too, so the warm-up shows; the epoch's "lr" is its last step's */
                stage_metric(sink, STAGE_SIMCLR, epoch + 1, step + 1, "step_lr", lr);
            }
            phases_lap(&ph, PH_PROGRESS);
        }
        double secs = stage_now() - e0;
        res->simclr_loss = per_epoch ? sum / (double)per_epoch : NAN;
        repeats_sum += smp.repeat_batches;
        res->repeat_batches = repeats_sum / (epoch + 1);
        stage_metric(sink, STAGE_SIMCLR, epoch + 1, -1, "loss", res->simclr_loss);
        stage_metric(sink, STAGE_SIMCLR, epoch + 1, -1, "images_per_s",
                     (double)(per_epoch - b0) * N / secs);
        stage_metric(sink, STAGE_SIMCLR, epoch + 1, -1, "lr",
                     schedule_lr(&sch, (long)(epoch + 1) * per_epoch - 1));
        if (guided)
            stage_metric(sink, STAGE_SIMCLR, epoch + 1, -1, "repeat_batches",
                         smp.repeat_batches);
        stage_log(sink, STAGE_SIMCLR, epoch + 1, "simclr: epoch %d/%d loss %.4f, %.0f images/s%s",
                  epoch + 1,
                  cfg->simclr.epochs, res->simclr_loss, (double)(per_epoch - b0) * N / secs,
                  guided ? "" : " (plain batches)");
        phases_log(&ph, sink, STAGE_SIMCLR, epoch + 1);
        if (cfg->simclr.knn_every > 0 && (epoch + 1) % cfg->simclr.knn_every == 0 &&
            train->labels && test && test->labels) {
            double top1 = NAN;
            Sink solo = sink_solo(sink);
            int krc = rank == 0 ? knn_monitor(cfg, m, train, test, &solo, &top1, err) : 0;
            if (stage_agree(sink, krc, err))
                goto done;
            stage_metric(sink, STAGE_SIMCLR, epoch + 1, -1, "knn_top1", top1);
            stage_log(sink, STAGE_SIMCLR, epoch + 1, "simclr: epoch %d kNN top-1 %.4f",
                      epoch + 1, top1);
        }
        res->seconds[STAGE_SIMCLR] = spent_before + stage_now() - t0;
        if ((epoch + 1) % cfg->simclr.checkpoint_every == 0 || epoch + 1 == cfg->simclr.epochs) {
            if (stage_check_same(sink, STAGE_SIMCLR, epoch + 1, &m->net, &opt, err))
                goto done;
            CkptWriter w;
            ckpt_writer_init(&w);
            int bad = state_write(&w, STAGE_SIMCLR, epoch + 1, res, &m->net, &opt, &rng, err) ||
                      state_commit(&w, sink, STAGE_SIMCLR, epoch + 1, -1, err);
            ckpt_writer_free(&w);
            if (bad)
                goto done;
        }
    }
    res->seconds[STAGE_SIMCLR] = spent_before + stage_now() - t0;
    rc = 0;
done:
    net_set_comm(&m->net, NULL, NULL);
    free(x);
    free(ntws);
    free(zg);
    free(zall);
    free(dzall);
    sampler_free(&smp);
    optim_free(&opt);
    return rc;
}
