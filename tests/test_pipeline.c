/* test_pipeline.c — the G-SimCLR pipeline end to end on a few thousand Fashion-MNIST images:
 * the autoencoder's loss falls, the pseudo-labels beat chance purity, SimCLR's loss falls and
 * the trained encoder's linear accuracy beats the same encoder at random initialisation; and
 * a run stopped after a checkpoint and resumed from it ends bit-identical to one left alone. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/checkpoint.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/eval.h"
#include "gs/pipeline.h"
#include "harness.h"

typedef struct {
    double first[STAGE_COUNT], last[STAGE_COUNT]; /* per-epoch "loss" metrics */
    int n_loss[STAGE_COUNT];
    uint8_t *ckpt;       /* the last checkpoint stored */
    size_t ckpt_len;
    int stop_stage, stop_epoch; /* raise cancel after storing this checkpoint */
    long stop_step;             /* or after this simclr step (0: never) */
    atomic_int cancel;
    int n_ckpts;
    float *feat_train, *feat_test; /* copies of what the features callback was given */
    const int32_t *feat_train_labels, *feat_test_labels;
    int feat_d, feat_n_train, feat_n_test, n_features;
    int n_times[STAGE_COUNT];      /* "STAGE: epoch E time: ..." profile lines per stage */
    double time_sum[STAGE_COUNT];  /* their seconds, added up */
    bool times_named;              /* every one named forward and backward */
} Capture;

/* The per-epoch profile lines (stage.h: Phases): "dae: epoch 2 time (s): batch 0.01 (1.0 %),
 * ..."; their seconds are added up to compare with the stage's time. */
static void cap_log(void *ctx, int stage, int epoch, const char *line)
{
    Capture *c = ctx;
    char head[64];
    snprintf(head, sizeof head, "%s: epoch %d time (s):", STAGE_NAMES[stage], epoch);
    if (strncmp(line, head, strlen(head)) != 0)
        return;
    c->n_times[stage]++;
    if (!strstr(line, " forward ") || !strstr(line, " backward "))
        c->times_named = false;
    /* each phase is "NAME SECONDS (PCT %)": the number before every " (" */
    for (const char *p = line + strlen(head); (p = strstr(p, " (")) != NULL; p += 2) {
        const char *q = p;
        while (q > line && q[-1] != ' ')
            q--;
        c->time_sum[stage] += strtod(q, NULL);
    }
}

static int cap_features(void *ctx, int d, const float *train, const int32_t *train_labels,
                        int n_train, const float *test, const int32_t *test_labels, int n_test)
{
    Capture *c = ctx;
    free(c->feat_train);
    free(c->feat_test);
    c->feat_train = malloc(sizeof(float) * (size_t)d * n_train);
    c->feat_test = malloc(sizeof(float) * (size_t)d * n_test);
    if (!c->feat_train || !c->feat_test)
        return -1;
    memcpy(c->feat_train, train, sizeof(float) * (size_t)d * n_train);
    memcpy(c->feat_test, test, sizeof(float) * (size_t)d * n_test);
    c->feat_train_labels = train_labels;
    c->feat_test_labels = test_labels;
    c->feat_d = d;
    c->feat_n_train = n_train;
    c->feat_n_test = n_test;
    c->n_features++;
    return 0;
}

static void cap_metric(void *ctx, int stage, int epoch, long step, const char *name,
                       double value)
{
    Capture *c = ctx;
    (void)epoch;
    if (step != -1 || strcmp(name, "loss") != 0)
        return;
    if (c->n_loss[stage]++ == 0)
        c->first[stage] = value;
    c->last[stage] = value;
}

static int cap_checkpoint(void *ctx, int stage, int epoch, long step, const void *data,
                          size_t len)
{
    Capture *c = ctx;
    (void)step;
    uint8_t *copy = malloc(len);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    free(c->ckpt);
    c->ckpt = copy;
    c->ckpt_len = len;
    c->n_ckpts++;
    if (stage == c->stop_stage && epoch == c->stop_epoch)
        c->cancel = 1;
    return 0;
}

/* Frees what a capture took. */
static void cap_release(Capture *c)
{
    free(c->ckpt);
    free(c->feat_train);
    free(c->feat_test);
    c->ckpt = NULL;
    c->feat_train = c->feat_test = NULL;
}

static void cap_progress(void *ctx, const StageProgress *p)
{
    Capture *c = ctx;
    if (c->stop_step > 0 && p->stage == STAGE_SIMCLR && p->step == c->stop_step)
        c->cancel = 1;
}

static Sink sink_for(Capture *c)
{
    Sink s = {.progress = cap_progress, .metric = cap_metric, .checkpoint = cap_checkpoint,
              .features = cap_features, .log = cap_log, .ctx = c, .cancel = &c->cancel};
    c->stop_stage = -1;
    c->times_named = true;
    return s;
}

static int load_small(Dataset *train, Dataset *test, int ntrain, int ntest)
{
    GsErr err;
    if (dataset_load_named("fashion-mnist", NULL, train, test, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return -1;
    }
    if (ntest == 0)
        dataset_free(test); /* dataset_free leaves it empty */
    if (dataset_subset(train, ntrain, 7, &err) ||
        (ntest > 0 && dataset_subset(test, ntest, 0, &err))) {
        CHECK_MSG(0, "%s", err.msg);
        dataset_free(train);
        dataset_free(test);
        return -1;
    }
    return 0;
}

/* A configuration small enough for a test, large enough to learn something. */
static void small_config(RunConfig *cfg)
{
    run_config_defaults(cfg);
    cfg->threads = 2;
    cfg->dae.epochs = 3;
    cfg->dae.batch = 128;
    /* a lighter autoencoder than the default: the test is about the pipeline */
    cfg->dae.net.filters[0] = 16;
    cfg->dae.net.filters[1] = 32;
    cfg->dae.net.filters[2] = 64;
    cfg->kmeans.k = 16;
    cfg->kmeans.n_init = 2;
    cfg->simclr.encoder = encoder_cnn3();
    cfg->simclr.encoder.width = 16;
    cfg->simclr.encoder.n_widths = 0;
    cfg->simclr.epochs = 4;
    cfg->simclr.batch = 128;
    cfg->simclr.warmup_epochs = 0.5f;
    cfg->eval.linear.epochs = 15;
    cfg->eval.knn_k = 50;
}

TEST(pipeline_end_to_end_small)
{
    Dataset train, test;
    RunConfig cfg;
    RunResult trained, random_init;
    GsErr err;
    Capture cap = {0};
    Sink sink = sink_for(&cap);

    if (load_small(&train, &test, 3000, 1000))
        return;
    small_config(&cfg);
    CHECK_MSG(pipeline_run(&cfg, &train, &test, &sink, NULL, 0, &trained, &err) == 0, "%s",
              err.msg);
    printf("    dae loss %.4f -> %.4f, purity %.3f nmi %.3f, simclr loss %.4f -> %.4f, "
           "linear %.4f knn %.4f, repeats %.2f/epoch\n",
           cap.first[STAGE_DAE], cap.last[STAGE_DAE], trained.purity, trained.nmi,
           cap.first[STAGE_SIMCLR], cap.last[STAGE_SIMCLR], trained.linear_top1,
           trained.knn_top1, trained.repeat_batches);
    CHECK_INT_EQ(cap.n_loss[STAGE_DAE], 3);
    CHECK(cap.last[STAGE_DAE] < cap.first[STAGE_DAE]);
    CHECK(trained.purity > 0.3); /* chance is 0.1 for 10 balanced classes */
    CHECK(trained.k == 16);
    CHECK(trained.assign != NULL);
    long total = 0;
    for (int c = 0; c < trained.k; c++)
        total += trained.cluster_sizes[c];
    CHECK_INT_EQ(total, 3000);
    CHECK_INT_EQ(cap.n_loss[STAGE_SIMCLR], 4);
    CHECK(cap.last[STAGE_SIMCLR] < cap.first[STAGE_SIMCLR]);
    /* every training epoch logs where its time went, and that is most of the stage's time
     * (checkpoints and the kNN monitor are outside it) and no more than all of it */
    CHECK_INT_EQ(cap.n_times[STAGE_DAE], 3);
    CHECK_INT_EQ(cap.n_times[STAGE_SIMCLR], 4);
    CHECK(cap.times_named);
    static const int timed[] = {STAGE_DAE, STAGE_SIMCLR};
    for (size_t i = 0; i < 2; i++) {
        int st = timed[i];
        CHECK_MSG(cap.time_sum[st] > 0.5 * trained.seconds[st] &&
                      cap.time_sum[st] <= trained.seconds[st] + 0.05,
                  "%s: phases add up to %.2f s of %.2f s", STAGE_NAMES[st], cap.time_sum[st],
                  trained.seconds[st]);
    }

    /* the features handed out (--features) are exactly the ones evaluated: the same linear
     * evaluation on them gives the same accuracy to the last digit */
    CHECK_INT_EQ(cap.n_features, 1);
    CHECK_INT_EQ(cap.feat_d, 4 * cfg.simclr.encoder.width);
    CHECK_INT_EQ(cap.feat_n_train, 3000);
    CHECK_INT_EQ(cap.feat_n_test, 1000);
    CHECK(cap.feat_train_labels == train.labels && cap.feat_test_labels == test.labels);
    if (cap.n_features == 1) {
        LinearEvalConfig lc = cfg.eval.linear;
        LinearEvalResult le;
        lc.seed = cfg.seed;
        CHECK_MSG(linear_eval(cap.feat_train, train.labels, 3000, cap.feat_test, test.labels,
                              1000, cap.feat_d, train.n_classes, &lc, NULL, &le, &err) == 0,
                  "%s", err.msg);
        CHECK_MSG(le.test_top1 == trained.linear_top1, "features give %.6f, eval gave %.6f",
                  le.test_top1, trained.linear_top1);
    }

    /* the same encoder, untrained: method simclr with no epochs */
    Capture cap2 = {0};
    Sink sink2 = sink_for(&cap2);
    cfg.method = METHOD_SIMCLR;
    cfg.simclr.epochs = 0;
    CHECK_MSG(pipeline_run(&cfg, &train, &test, &sink2, NULL, 0, &random_init, &err) == 0, "%s",
              err.msg);
    printf("    random-init encoder: linear %.4f knn %.4f\n", random_init.linear_top1,
           random_init.knn_top1);
    CHECK(trained.linear_top1 > random_init.linear_top1);
    run_result_free(&trained);
    run_result_free(&random_init);
    cap_release(&cap);
    cap_release(&cap2);
    dataset_free(&train);
    dataset_free(&test);
}

/* The network weights inside a checkpoint. */
static int ckpt_params(const uint8_t *buf, size_t len, const void **p, size_t *bytes)
{
    CkptReader r;
    GsErr err;
    if (ckpt_open(&r, buf, len, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return -1;
    }
    *p = ckpt_find(&r, "net.params", bytes, &err);
    CHECK_MSG(*p != NULL, "%s", err.msg);
    return *p ? 0 : -1;
}

static void resume_case(int stop_stage, int stop_epoch, long stop_step)
{
    Dataset train, test;
    RunConfig cfg;
    RunResult a, b, c;
    GsErr err;
    Capture straight = {0}, stopped = {0}, resumed = {0};
    Sink s1 = sink_for(&straight), s2 = sink_for(&stopped), s3 = sink_for(&resumed);

    if (load_small(&train, &test, 768, 0))
        return;
    small_config(&cfg);
    cfg.dae.net.filters[0] = 4;
    cfg.dae.net.filters[1] = 8;
    cfg.dae.net.filters[2] = 16;
    cfg.dae.epochs = 2;
    cfg.simclr.epochs = 3;
    cfg.simclr.batch = 64;
    CHECK_MSG(pipeline_run(&cfg, &train, NULL, &s1, NULL, 0, &a, &err) == 0, "%s", err.msg);

    stopped.stop_stage = stop_stage;
    stopped.stop_epoch = stop_epoch;
    stopped.stop_step = stop_step;
    CHECK(pipeline_run(&cfg, &train, NULL, &s2, NULL, 0, &b, &err) != 0);
    CHECK_MSG(strstr(err.msg, "canceled") != NULL, "%s", err.msg);
    if (stop_step > 0) {
        /* stopped inside an epoch: the last checkpoint says where */
        CkptReader r;
        size_t bytes = 0;
        CHECK(stopped.ckpt && ckpt_open(&r, stopped.ckpt, stopped.ckpt_len, &err) == 0 &&
              ckpt_find(&r, "simclr.position", &bytes, &err) != NULL && bytes == 16);
    }

    CHECK_MSG(pipeline_run(&cfg, &train, NULL, &s3, stopped.ckpt, stopped.ckpt_len, &c, &err) ==
                  0,
              "%s", err.msg);
    const void *pa, *pc;
    size_t na, nc;
    if (straight.ckpt && resumed.ckpt && ckpt_params(straight.ckpt, straight.ckpt_len, &pa,
                                                     &na) == 0 &&
        ckpt_params(resumed.ckpt, resumed.ckpt_len, &pc, &nc) == 0) {
        CHECK_INT_EQ(na, nc);
        CHECK_MSG(na == nc && memcmp(pa, pc, na) == 0,
                  "weights after resuming from %s epoch %d differ from an uninterrupted run",
                  STAGE_NAMES[stop_stage], stop_epoch);
    } else {
        CHECK_MSG(0, "no final checkpoint");
    }
    CHECK(a.assign && c.assign && memcmp(a.assign, c.assign, sizeof(int32_t) * 768) == 0);
    CHECK(a.simclr_loss == c.simclr_loss);
    run_result_free(&a);
    run_result_free(&c);
    cap_release(&straight);
    cap_release(&stopped);
    cap_release(&resumed);
    dataset_free(&train);
    dataset_free(&test);
}

TEST(pipeline_resume_in_simclr_is_bit_identical)
{
    resume_case(STAGE_SIMCLR, 1, 0);
}

/* 768 images in batches of 64: 12 steps an epoch; stopped after step 17, inside epoch 2 (a
 * daemon's shutdown), the run resumes at step 18 of the same batches and views. */
TEST(pipeline_resume_inside_a_simclr_epoch_is_bit_identical)
{
    resume_case(-1, 0, 17);
}

TEST(pipeline_resume_in_dae_is_bit_identical)
{
    resume_case(STAGE_DAE, 1, 0);
}

TEST(pipeline_resume_rejects_a_damaged_checkpoint)
{
    Dataset train, test;
    RunConfig cfg;
    RunResult r;
    GsErr err;
    uint8_t junk[64] = "GSCK but not really a checkpoint";
    if (load_small(&train, &test, 512, 0))
        return;
    small_config(&cfg);
    CHECK(pipeline_run(&cfg, &train, NULL, NULL, junk, sizeof junk, &r, &err) != 0);
    CHECK_MSG(strstr(err.msg, "checkpoint") != NULL, "%s", err.msg);
    dataset_free(&train);
    dataset_free(&test);
}
