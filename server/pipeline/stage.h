/* stage.h — what the stage files (stage_*.c) and pipeline.c share, private to
 * server/pipeline: the stage entry points, sink calls, the training-state checkpoint sections,
 * batch assembly and feature extraction. Nothing outside server/pipeline includes it. */
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

/* Seconds on a monotonic clock. */
double stage_now(void);

/* True (and err set to "canceled") when the sink's cancel flag is raised. */
bool stage_canceled(const Sink *sink, GsErr *err);

void stage_progress(const Sink *sink, int stage, int epoch, int epochs, long step, long steps,
                    double loss, double items_per_s, double eta_s);
void stage_metric(const Sink *sink, int stage, int epoch, long step, const char *name,
                  double value);
void stage_log(const Sink *sink, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
/* Hands the finished checkpoint to the sink. */
int state_commit(CkptWriter *w, const Sink *sink, int stage, int epoch, GsErr *err);

/* The images ids (count) as floats in [0, 1]: x (count, C, H, W). */
void batch_to_float(float *x, const Dataset *ds, const int32_t *ids, int count);

/* Features of every image of ds from the given nodes of m, in inference mode, batch by
 * batch: outs[j] (ds->n, size of node j). */
int embed_nodes(Model *m, const int *nodes, int n_nodes, const Dataset *ds, float **outs,
                const Sink *sink, GsErr *err);

/* The stages. Each reads what earlier stages produced from res, and adds its own results. */
int dae_stage(const RunConfig *cfg, const Dataset *train, const Sink *sink,
              const CkptReader *resume, RunResult *res, float **embeddings, int *dim,
              GsErr *err);
int kmeans_stage(const RunConfig *cfg, const Dataset *train, const float *emb, int dim,
                 const Sink *sink, RunResult *res, GsErr *err);
int simclr_stage(const RunConfig *cfg, const Dataset *train, const Dataset *test,
                 const Sink *sink, const CkptReader *resume, RunResult *res, Model *encoder,
                 GsErr *err);
int eval_stage(const RunConfig *cfg, const Dataset *train, const Dataset *test, Model *encoder,
               const Sink *sink, RunResult *res, GsErr *err);

/* The encoder of a run, built for the dataset's shape. */
int build_encoder(const RunConfig *cfg, const Dataset *train, Model *m, GsErr *err);

#endif
