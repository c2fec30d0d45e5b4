/* stage.h — what the stage files (stage_*.c) and pipeline.c share, private to
 * server/pipeline: the run's random streams, the stage entry points, sink calls, the
 * training-state checkpoint sections, batch assembly and feature extraction. Nothing outside
 * server/pipeline includes it. */
#ifndef GS_PIPELINE_STAGE_H
#define GS_PIPELINE_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/checkpoint.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/model.h"
#include "gs/optim.h"
#include "gs/pipeline.h"
#include "gs/rng.h"

/* The run's random streams: every random draw of a run comes from one of them, each seeded
 * from the run's seed by its own rule in stream_seed, so no two draw alike. A checkpoint saves
 * a stream's state, not its seed. The rules are frozen: changing one changes every result
 * after it (the figures in BENCHMARKS.md among them), and a resumed run would no longer
 * continue the run it resumes. */
typedef enum {
    STREAM_DAE_INIT,     /* the autoencoder's initial weights */
    STREAM_DAE,          /* stage dae: each epoch's image order, the input noise */
    STREAM_KMEANS,       /* stage kmeans: k-means++ seeding of the restarts */
    STREAM_ENCODER_INIT, /* the encoder's initial weights, unlike the autoencoder's */
    STREAM_SIMCLR,       /* stage simclr: the sampler's shuffles, then each epoch's view seed */
    STREAM_PROBE,        /* stage eval: the linear probe's validation split and shuffles */
    STREAM_SUBSET,       /* "subset_random": which training images the run keeps */
    STREAM_HOLDOUT,      /* "dataset.val_fraction": which training images become the test set */
} RngStream;

static inline uint64_t stream_seed(uint64_t seed, RngStream s)
{
    switch (s) {
    case STREAM_DAE_INIT:     return seed;
    case STREAM_DAE:          return seed ^ 0xdae0dae0dae0ULL;
    case STREAM_KMEANS:       return seed;
    case STREAM_ENCODER_INIT: return seed * 2654435761u + 17;
    case STREAM_SIMCLR:       return seed ^ 0x51c1a5eedULL;
    case STREAM_PROBE:        return seed;
    case STREAM_SUBSET:       return seed + 1;
    case STREAM_HOLDOUT:      return seed ^ 0x401d0a7ULL;
    }
    return seed; /* not reached: every stream has its case */
}

/* View j (of 2N) of batch b of a simclr epoch draws its augmentations from a stream of its
 * own, a fixed function of the epoch's seed (drawn from STREAM_SIMCLR) and the position, so
 * the views do not depend on the thread count. */
static inline uint64_t stream_view_seed(uint64_t epoch_seed, long b, int j)
{
    return epoch_seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(b * 65536L + j + 1);
}

/* Seconds on a monotonic clock. */
double stage_now(void);

/* True (and err set to "canceled") when the sink's cancel flag is raised. */
bool stage_canceled(const Sink *sink, GsErr *err);

void stage_progress(const Sink *sink, int stage, int epoch, int epochs, long step, long steps,
                    double loss, double items_per_s, double eta_s);
void stage_metric(const Sink *sink, int stage, int epoch, long step, const char *name,
                  double value);
/* A log line of the end of epoch `epoch` of `stage` (its position: pipeline.h). */
void stage_log(const Sink *sink, int stage, int epoch, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The state every checkpoint carries: which stage and epoch it closes, the run's summary so
 * far (RunResult's numbers), and, for training stages, the network, optimiser and RNG. */
int state_write(CkptWriter *w, int stage, int epoch, const RunResult *so_far, const Net *net,
                const Optimizer *opt, const Rng *rng, GsErr *err);
/* Reads the stage and epoch of a checkpoint. */
int state_stage(const CkptReader *r, int *stage, int *epoch, GsErr *err);
/* Restores the summary numbers (not the arrays) into res. */
int state_read_summary(const CkptReader *r, RunResult *res, GsErr *err);
/* Restores network, optimiser and RNG; every size must match the built network. */
int state_read_training(const CkptReader *r, Net *net, Optimizer *opt, Rng *rng, GsErr *err);
/* Hands the finished checkpoint to the sink, at the end of epoch `epoch` of `stage`
 * (step -1) or after `step` steps of the stage. Everything the stage reports of that
 * position and before must have been reported already. */
int state_commit(CkptWriter *w, const Sink *sink, int stage, int epoch, long step, GsErr *err);

/* The images ids (count) as floats in [0, 1]: x (count, C, H, W). */
void batch_to_float(float *x, const Dataset *ds, const int32_t *ids, int count);

/* Features of every image of ds from the given nodes of m, in inference mode, batch by
 * batch: outs[j] (ds->n, size of node j). */
int embed_nodes(Model *m, const int *nodes, int n_nodes, const Dataset *ds, float **outs,
                const Sink *sink, GsErr *err);

/* The stages. Each reads what earlier stages produced from res, and adds its own results. */
int stage_dae_run(const RunConfig *cfg, const Dataset *train, const Sink *sink,
                  const CkptReader *resume, RunResult *res, float **embeddings, int *dim,
                  GsErr *err);
int stage_kmeans_run(const RunConfig *cfg, const Dataset *train, const float *emb, int dim,
                     const Sink *sink, RunResult *res, GsErr *err);
int stage_simclr_run(const RunConfig *cfg, const Dataset *train, const Dataset *test,
                     const Sink *sink, const CkptReader *resume, RunResult *res, Model *encoder,
                     GsErr *err);
int stage_eval_run(const RunConfig *cfg, const Dataset *train, const Dataset *test, Model *encoder,
                   const Sink *sink, RunResult *res, GsErr *err);

/* The encoder of a run, built for the dataset's shape. */
int build_encoder(const RunConfig *cfg, const Dataset *train, Model *m, GsErr *err);

#endif
