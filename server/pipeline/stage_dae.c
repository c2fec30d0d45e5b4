/* stage_dae.c — stage `dae`: trains the denoising autoencoder (clean image -> Gaussian noise ->
 * reconstruction, MSE against the clean image, Adam), checkpointing after every epoch, then
 * embeds every training image (clean, inference mode) as the global average pool of the last
 * encoder block, for the k-means stage.
 * In a process group (Sink.comm) each batch is split over the processes in rank order (an
 * uneven last batch may leave one with no image: it still joins every collective); each
 * process draws the noise of the whole batch, so an image's noise does not depend on the
 * split; the loss is the mean over the whole batch, batch-norm uses its statistics and the
 * gradients are summed before the same Adam step everywhere. Each process then embeds its
 * share of the training images, and the shares are gathered. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gs/augment.h"
#include "gs/loss.h"
#include "stage.h"

/* The phases of a step, timed per epoch and logged (stage.h: Phases). */
enum { PH_SHUFFLE, PH_BATCH, PH_ZERO_GRAD, PH_FORWARD, PH_LOSS, PH_BACKWARD, PH_ALL_REDUCE,
       PH_OPTIMIZER, PH_PROGRESS, PH_COUNT };
static const char *const PHASE_NAMES[PH_COUNT] = {
    "shuffle", "batch", "zero-grad", "forward", "loss", "backward", "all-reduce", "optimizer",
    "progress"};

/* Every process embeds its share of the training images (ceil(n / P) each, the last fewer),
 * on its own (the cancel flag is rank 0's, and the processes agree on the outcome before
 * the shares are gathered into emb (n, dim) on every process). */
static int embed_shares(Model *m, const Dataset *train, int P, int rank, int dim, float *emb,
                        const Sink *sink, GsErr *err)
{
    const Comm *comm = sink_comm(sink);
    size_t isz = (size_t)train->c * train->h * train->w;
    int chunk = (train->n + P - 1) / P;
    int lo = chunk * rank < train->n ? chunk * rank : train->n;
    int hi = lo + chunk < train->n ? lo + chunk : train->n;
    float *all = malloc(sizeof(float) * (size_t)chunk * P * dim);
    float *mine = malloc(sizeof(float) * ((size_t)chunk * dim + 1));
    int rc = 0;
    if (!all || !mine)
        rc = gs_errf(err, "dae: out of memory for the embeddings of %d processes", P);
    if (rc == 0 && hi > lo) {
        Dataset part = *train;
        part.pixels = train->pixels + (size_t)lo * isz;
        part.n = hi - lo;
        Sink solo = sink_solo(sink);
        rc = embed_nodes(m, &m->feature, 1, &part, &mine, &solo, err);
    }
    if (stage_agree(sink, rc, err) ||
        comm_gather_all(comm, mine, sizeof(float) * (size_t)chunk * dim, all, err)) {
        free(all);
        free(mine);
        return -1;
    }
    memcpy(emb, all, sizeof(float) * (size_t)train->n * dim);
    free(all);
    free(mine);
    return 0;
}

int stage_dae_run(const RunConfig *cfg, const Dataset *train, const Sink *sink,
                  const CkptReader *resume, RunResult *res, float **embeddings, int *dim,
                  GsErr *err)
{
    DaeConfig dc = cfg->dae.net;
    Model m;
    Optimizer opt = {0};
    Rng rng;
    int rc = -1, start_epoch = 0;
    int B = cfg->dae.batch < train->n ? cfg->dae.batch : train->n;
    size_t isz = (size_t)train->c * train->h * train->w;
    float *clean = NULL, *noisy = NULL, *emb = NULL;
    int32_t *order = NULL;
    double t0 = stage_now(), spent_before = res->seconds[STAGE_DAE];

    const Comm *comm = sink_comm(sink);
    const int P = comm_size(comm), rank = comm_rank(comm);
    dc.in_c = train->c;
    dc.in_h = train->h;
    dc.in_w = train->w;
    if (model_build_dae(&m, &dc, B, stream_seed(cfg->seed, STREAM_DAE_INIT), err))
        return -1;
    OptConfig oc = optim_defaults(OPT_ADAM);
    if (optim_init(&opt, &oc, m.net.n_params, err) || net_set_comm(&m.net, comm, err))
        goto done;
    clean = malloc(sizeof(float) * isz * (size_t)B);
    noisy = malloc(sizeof(float) * isz * (size_t)B);
    order = malloc(sizeof(int32_t) * (size_t)train->n);
    if (!clean || !noisy || !order) {
        gs_errf(err, "dae: out of memory");
        goto done;
    }
    rng_seed(&rng, stream_seed(cfg->seed, STREAM_DAE));
    long steps_per_epoch = (train->n + B - 1) / B;
    if (resume) {
        int stage;
        if (state_stage(resume, cfg, &stage, &start_epoch, err) ||
            state_read_training(resume, &m.net, &opt, &rng, steps_per_epoch * cfg->dae.epochs,
                                err))
            goto done;
    }

    long total = steps_per_epoch * cfg->dae.epochs;
    for (int epoch = start_epoch; epoch < cfg->dae.epochs; epoch++) {
        double e0 = stage_now(), sum = 0;
        Phases ph;
        phases_begin(&ph, PHASE_NAMES, PH_COUNT);
        /* the epoch's order is drawn from the RNG state the checkpoint saved */
        for (int i = 0; i < train->n; i++)
            order[i] = i;
        for (int i = train->n - 1; i > 0; i--) {
            int j = (int)rng_below(&rng, (uint64_t)i + 1);
            int32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        phases_lap(&ph, PH_SHUFFLE);
        for (long s = 0; s < steps_per_epoch; s++) {
            int i0 = (int)(s * B), count = train->n - i0 < B ? train->n - i0 : B;
            if (stage_canceled(sink, err))
                goto done;
            phases_lap(&ph, PH_PROGRESS); /* the cancel check */
            batch_to_float(clean, train, order + i0, count);
            augment_noise(noisy, clean, isz * (size_t)count, cfg->dae.noise, &rng);
            phases_lap(&ph, PH_BATCH);
            net_zero_grad(&m.net);
            phases_lap(&ph, PH_ZERO_GRAD);
            float loss;
            if (P == 1) {
                net_forward(&m.net, noisy, count, true);
                phases_lap(&ph, PH_FORWARD);
                float *out = net_act(&m.net, m.output);
                loss = mse_forward(out, clean, isz * (size_t)count);
                if (!isfinite(loss)) {
                    gs_errf(err, "dae: the loss became %g at epoch %d step %ld (try a lower lr)",
                            (double)loss, epoch + 1, s + 1);
                    goto done;
                }
                net_backward_begin(&m.net, count);
                mse_backward(net_dact(&m.net, m.output), out, clean, isz * (size_t)count, 1.0f);
                phases_lap(&ph, PH_LOSS);
                net_backward(&m.net, count);
                phases_lap(&ph, PH_BACKWARD);
            } else {
                /* this process's images of the batch: [lo, hi) */
                int lo = (int)((long)count * rank / P), hi = (int)((long)count * (rank + 1) / P);
                size_t mine = isz * (size_t)(hi - lo), all = isz * (size_t)count;
                net_forward(&m.net, noisy + (size_t)lo * isz, hi - lo, true);
                phases_lap(&ph, PH_FORWARD);
                float *out = net_act(&m.net, m.output);
                double sse = mse_part_sum(out, clean + (size_t)lo * isz, mine);
                if (comm_sum_f64(comm, &sse, 1, err))
                    goto done;
                loss = (float)(sse / (double)all);
                if (!isfinite(loss)) {
                    gs_errf(err, "dae: the loss became %g at epoch %d step %ld (try a lower lr)",
                            (double)loss, epoch + 1, s + 1);
                    goto done;
                }
                net_backward_begin(&m.net, hi - lo);
                mse_part_backward(net_dact(&m.net, m.output), out, clean + (size_t)lo * isz,
                                  mine, all, 1.0f);
                phases_lap(&ph, PH_LOSS);
                net_backward(&m.net, hi - lo);
                phases_lap(&ph, PH_BACKWARD);
                if (net_comm_error(&m.net, err) ||
                    comm_sum_f32(comm, m.net.grads, m.net.n_params, err))
                    goto done;
                phases_lap(&ph, PH_ALL_REDUCE);
            }
            optim_step(&opt, m.net.params, m.net.grads, m.net.spans, m.net.n_spans,
                       cfg->dae.lr);
            phases_lap(&ph, PH_OPTIMIZER);
            sum += loss;
            double el = stage_now() - e0;
            long done_steps = (long)epoch * steps_per_epoch + s + 1;
            double rate = (double)(i0 + count) / el;
            stage_progress(sink, STAGE_DAE, epoch + 1, cfg->dae.epochs, done_steps, total,
                           sum / (double)(s + 1), rate,
                           (double)(total - done_steps) * el / (double)(s + 1));
            phases_lap(&ph, PH_PROGRESS);
        }
        res->dae_loss = sum / (double)steps_per_epoch;
        stage_metric(sink, STAGE_DAE, epoch + 1, -1, "loss", res->dae_loss);
        stage_metric(sink, STAGE_DAE, epoch + 1, -1, "images_per_s",
                     (double)train->n / (stage_now() - e0));
        stage_log(sink, STAGE_DAE, epoch + 1, "dae: epoch %d/%d loss %.5f", epoch + 1,
                  cfg->dae.epochs, res->dae_loss);
        phases_log(&ph, sink, STAGE_DAE, epoch + 1);
        res->seconds[STAGE_DAE] = spent_before + stage_now() - t0;

        if (stage_check_same(sink, STAGE_DAE, epoch + 1, &m.net, &opt, err))
            goto done;
        CkptWriter w;
        ckpt_writer_init(&w);
        int bad = state_write(&w, STAGE_DAE, epoch + 1, res, &m.net, &opt, &rng, err) ||
                  state_commit(&w, sink, STAGE_DAE, epoch + 1, -1, err);
        ckpt_writer_free(&w);
        if (bad)
            goto done;
    }

    *dim = (int)net_node_size(&m.net, m.feature);
    emb = malloc(sizeof(float) * (size_t)train->n * (size_t)*dim);
    if (!emb) {
        gs_errf(err, "dae: out of memory for %d x %d embeddings", train->n, *dim);
        goto done;
    }
    if (P == 1) {
        if (embed_nodes(&m, &m.feature, 1, train, &emb, sink, err))
            goto done;
    } else if (embed_shares(&m, train, P, rank, *dim, emb, sink, err)) {
        goto done;
    }
    *embeddings = emb;
    emb = NULL;
    res->seconds[STAGE_DAE] = spent_before + stage_now() - t0;
    rc = 0;
done:
    free(emb);
    free(clean);
    free(noisy);
    free(order);
    optim_free(&opt);
    model_free(&m);
    return rc;
}
