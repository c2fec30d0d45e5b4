/* stage.h — what the stage files (stage_*.c) and pipeline.c share, private to
 * server/pipeline: the run's random streams, the stage entry points, sink calls, the
 * training-state checkpoint sections, batch assembly and feature extraction. Nothing outside
 * server/pipeline includes it. */
#ifndef GS_PIPELINE_STAGE_H
#define GS_PIPELINE_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <math.h>
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
    STREAM_FINETUNE,     /* stage eval: the labelled subsets of fine-tuning (one shuffle for
                          * every fraction); each fraction's training: stream_finetune_seed */
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
    case STREAM_FINETUNE:     return seed ^ 0xf17e7a11edULL;
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

/* The training of fine-tuning fraction `fraction` (classifier init, order, views; the same
 * for its fine-tuned and from-scratch models) draws from this stream: a function of the
 * fraction's value, not of its place in the list, so a fraction gives the same figures
 * whatever other fractions the run has. */
static inline uint64_t stream_finetune_seed(uint64_t seed, float fraction)
{
    uint64_t millionths = (uint64_t)llround((double)fraction * 1e6);
    return stream_seed(seed, STREAM_FINETUNE) + 0x9e3779b97f4a7c15ULL * (millionths + 1);
}

/* Seconds on a monotonic clock. */
double stage_now(void);

/* The run's process group when it has more than one process (sink->comm), else NULL. */
static inline const Comm *sink_comm(const Sink *sink)
{
    return sink && comm_size(sink->comm) > 1 ? sink->comm : NULL;
}

/* The same sink without its group: for work rank 0 does alone (kmeans, eval, the kNN
 * monitor), whose cancel checks and checkpoints must not wait for the other processes. */
static inline Sink sink_solo(const Sink *sink)
{
    Sink s = {0};
    if (sink)
        s = *sink;
    s.comm = NULL;
    return s;
}

/* True (and err set to "canceled") when the sink's cancel flag is raised. In a group, the
 * flag of rank 0 decides for every process (a broadcast: every process must call it at the
 * same point). */
bool stage_canceled(const Sink *sink, GsErr *err);

/* The size of the group the running pipeline_run (of this thread) trains on, which every
 * checkpoint records, including those rank 0 writes alone (kmeans, eval); 1 outside a run. */
extern _Thread_local int stage_run_processes;

/* In a group: every process passes its status rc and gets back the same one, 0 when all
 * were 0, else -1 with the message of the lowest failing rank. Alone: rc. */
int stage_agree(const Sink *sink, int rc, GsErr *err);
/* In a group: checks that every process holds the same network and optimiser state (one
 * 8-byte hash each, gathered); a difference fails the run on every process. Alone: 0. */
int stage_check_same(const Sink *sink, int stage, int epoch, const Net *net,
                     const Optimizer *opt, GsErr *err);

void stage_progress(const Sink *sink, int stage, int epoch, int epochs, long step, long steps,
                    double loss, double items_per_s, double eta_s);
void stage_metric(const Sink *sink, int stage, int epoch, long step, const char *name,
                  double value);
/* A log line of the end of epoch `epoch` of `stage` (its position: pipeline.h). */
void stage_log(const Sink *sink, int stage, int epoch, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Where a training stage's epoch spends its time: seconds per phase of its step loop, one
 * clock read at the end of each phase (tens of nanoseconds against steps of milliseconds).
 * Logged at the end of every epoch, so a run's own log is its profile (BENCHMARKS.md). */
#define PHASES_MAX 12
typedef struct {
    const char *const *names;
    int n;
    double sec[PHASES_MAX];
    double mark;
} Phases;

/* Zeroes the n (<= PHASES_MAX) phases and starts the clock. */
void phases_begin(Phases *p, const char *const *names, int n);
/* The time since the previous lap (or the start) goes to phase i. */
void phases_lap(Phases *p, int i);
/* "STAGE: epoch E time (s): NAME S (PCT %), ..." of the phases that took 5 ms or more; the
 * figures come after the first '(' so that logs compared without their figures (the soak
 * test's twins) read alike. */
void phases_log(const Phases *p, const Sink *sink, int stage, int epoch);

/* The state every checkpoint carries: which stage and epoch it closes, the run's summary so
 * far (RunResult's numbers), and, for training stages, the network, optimiser and RNG. */
int state_write(CkptWriter *w, int stage, int epoch, const RunResult *so_far, const Net *net,
                const Optimizer *opt, const Rng *rng, GsErr *err);
/* The readers below check every field before they use it (and leave what they fill untouched
 * on an error in the summary): a checkpoint that this run, with cfg, could not have written is
 * refused with a message naming the field. */
/* Reads the stage and epoch a checkpoint closes: a stage cfg's method runs that writes
 * checkpoints, and an epoch within its configured count. */
int state_stage(const CkptReader *r, const RunConfig *cfg, int *stage, int *epoch, GsErr *err);
/* Restores the summary numbers, and the pseudo-labels with their cluster sizes when it has
 * them, into res (whose n_train must be set). */
int state_read_summary(const CkptReader *r, RunResult *res, GsErr *err);
/* Restores the network's weights and batch-norm statistics; sizes must match, every value
 * be finite. */
int state_read_net(const CkptReader *r, Net *net, GsErr *err);
/* Restores network, optimiser and RNG; every size must match the built network, every value
 * be finite (variances and second moments >= 0), and the optimiser's step count lie in
 * 0..max_step, the steps of the whole stage. */
int state_read_training(const CkptReader *r, Net *net, Optimizer *opt, Rng *rng, long max_step,
                        GsErr *err);
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
/* resume: a checkpoint of the eval stage (written only when fine-tuning is on), from which
 * the measures it holds are restored and the fractions it has done skipped. */
int stage_eval_run(const RunConfig *cfg, const Dataset *train, const Dataset *test, Model *encoder,
                   const Sink *sink, const CkptReader *resume, RunResult *res, GsErr *err);

/* The encoder of a run, built for the dataset's shape. */
int build_encoder(const RunConfig *cfg, const Dataset *train, Model *m, GsErr *err);

#endif
