/* pipeline.h — the G-SimCLR stages run in one process: `dae` (denoising autoencoder),
 * `kmeans` (pseudo-labels from the autoencoder's embeddings), `simclr` (guided or plain
 * batches, NT-Xent) and `eval` (linear and kNN evaluation of frozen features, then, when
 * configured, fine-tuning on fractions of the labels beside the same recipe from scratch). The pipeline
 * knows nothing of HTTP or SQLite: it reports through a Sink and hands every checkpoint to it;
 * to resume, the caller passes back the last checkpoint it was given. A stage checks the
 * cancel flag every training step. */
#ifndef GS_PIPELINE_H
#define GS_PIPELINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/comm.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/err.h"

enum { STAGE_DAE, STAGE_KMEANS, STAGE_SIMCLR, STAGE_EVAL, STAGE_COUNT };
extern const char *const STAGE_NAMES[STAGE_COUNT];

/* A training stage reports its step loss (metric "step_loss") every this many steps: often
 * enough to draw the curve within an epoch, rarely enough that the stored metrics stay small. */
enum { STEP_LOSS_EVERY = 20 };

typedef struct {
    int stage;              /* STAGE_* */
    int epoch, epochs;      /* 1-based epoch being run, and how many */
    long step, steps;       /* steps done in this stage, and in all */
    double loss;            /* running mean loss of the current epoch (NaN when none) */
    double items_per_s;     /* images (or points) per second over the current epoch */
    double eta_s;           /* seconds left in the stage, estimated */
} StageProgress;

/* Positions. Everything the pipeline reports happens at a position in the run: (stage,
 * epoch, step), epoch 1-based, step the steps done in the stage, or -1 for the end of the
 * epoch (after every step of it). The pipeline reports everything of a position before the
 * checkpoint at that position or after it, so whoever keeps the reports can drop, when the
 * run resumes from a checkpoint, exactly what came after it: a per-step metric or log line
 * after step s belongs after a checkpoint at step s; an epoch's values, its log lines and the
 * pseudo-labels (at the end of kmeans, epoch 1) belong to the end of their epoch.
 * Stage eval: epoch 1 is the evaluation of frozen features; with fine-tuning, epoch 1 + j is
 * the j-th fraction, whose per-epoch figures sit at step = the fine-tuning epoch (metrics
 * finetune_* and scratch_*), its results at the end of the epoch, followed by a checkpoint
 * (as is epoch 1: a resumed run continues with the next fraction). */
typedef struct {
    /* Each may be NULL. Called from the thread running the pipeline. */
    void (*progress)(void *ctx, const StageProgress *p);
    /* One value: per epoch (step = -1) or per logged step. */
    void (*metric)(void *ctx, int stage, int epoch, long step, const char *name, double value);
    /* A complete checkpoint of the run so far (its stage's state, or the pseudo-labels after
     * kmeans), at the end of epoch `epoch` of `stage` (step = -1) or, for a run stopped
     * inside an epoch, after `step` steps of the stage. Returns 0 when stored; non-zero stops
     * the run with an error. */
    int (*checkpoint)(void *ctx, int stage, int epoch, long step, const void *data, size_t len);
    /* A log line, belonging to the end of epoch `epoch` of `stage`. */
    void (*log)(void *ctx, int stage, int epoch, const char *line);
    /* The pseudo-labels once kmeans has run (at the end of its epoch 1, before its
     * checkpoint): cluster of each of the n training images, and their true labels (NULL when
     * the data has none). Returns 0 when stored; non-zero stops the run with an error. */
    int (*assignments)(void *ctx, const int32_t *assign, const int32_t *labels, int n, int k);
    /* The backbone features h the linear evaluation is about to read, unstandardised:
     * train (n_train, d) and test (n_test, d) with their labels. Returns 0 when taken;
     * non-zero stops the run with an error. */
    int (*features)(void *ctx, int d, const float *train, const int32_t *train_labels,
                    int n_train, const float *test, const int32_t *test_labels, int n_test);
    void *ctx;
    const atomic_int *cancel; /* set to non-zero to stop at the next step */
    /* The process group the run trains on, data-parallel (issue 14); NULL (or a group of
     * one) is this process alone. The rules of a group of P > 1:
     * - every process calls pipeline_run with the same config, the same data (each loads it
     *   itself: the same paths on every host) and the same resume checkpoint (or none);
     * - only rank 0 calls the callbacks above (progress, metric, checkpoint, log,
     *   assignments, features): callers may pass the same sink on every rank;
     * - cancel is read on rank 0 only and its decision broadcast, so every process stops at
     *   the same step (rank 0 writes the position checkpoint, as alone); a checkpoint,
     *   assignments or features callback failing on rank 0 stops every process; every
     *   process returns the same status (with the same message) and the same numbers in
     *   the RunResult, bar the seconds;
     * - dae and simclr split each batch over the processes (simclr.batch must be a multiple
     *   of P; a dae batch may leave a process with no image), with batch-norm statistics,
     *   NT-Xent and gradients over the whole batch: the same run as alone up to the order
     *   of float sums; kmeans and eval run on rank 0, the others wait for their results;
     * - checkpoints record P (section "dist.processes", absent when 1); a checkpoint resumed
     *   at its own P continues bit for bit, at another P it continues with a log line saying
     *   so;
     * - every collective comes from the thread that calls pipeline_run (MPI funneled);
     * - with a group of one, nothing changes: the results are bit for bit those of a run
     *   without a group. */
    const Comm *comm;
} Sink;

/* Fine-tuning on one fraction of the labels (eval.finetune). */
typedef struct {
    double fraction;
    int labels;                    /* labelled images used: fitted plus held out */
    int val_images;                /* of them, held out to choose the epoch */
    double finetuned_top1;         /* test top-1, starting from the run's encoder */
    double finetuned_val_top1;     /* held-out top-1 of the kept epoch */
    int finetuned_epoch;           /* the kept epoch */
    double scratch_top1;           /* the same from a random initialisation (NaN when off) */
    double scratch_val_top1;
    int scratch_epoch;
    double seconds;                /* both trainings */
} FinetuneRow;

typedef struct {
    double seconds[STAGE_COUNT];   /* wall time of each stage run in this call */
    double dae_loss;               /* last epoch's reconstruction loss (NaN when skipped) */
    double inertia, purity, nmi;   /* k-means (NaN when skipped or without labels) */
    int k;
    int32_t *cluster_sizes;        /* (k), owned */
    int32_t *assign;               /* (n_train) pseudo-label of each training image, owned */
    int n_train;
    double repeat_batches;         /* mean per epoch of batches repeating a cluster */
    double simclr_loss;            /* last epoch's NT-Xent */
    double knn_top1;               /* kNN accuracy of the backbone features */
    double linear_top1;            /* linear eval top-1 of the backbone features h */
    double linear_top1_head;       /* linear eval top-1 of the head's first hidden layer */
    float linear_weight_decay;     /* chosen on the validation split */
    int linear_epochs;
    FinetuneRow finetune[FINETUNE_MAX_FRACTIONS]; /* one per eval.finetune.fractions */
    int n_finetune;
    /* The data, as the run used it (set from train and test, not from checkpoints): */
    int n_test;                    /* images the evaluation used, 0 when none */
    const char *test_split;        /* "test", "held_out" (dataset.val_fraction) or "none" */
    int n_skipped;                 /* bad image files skipped (train and test) */
    const char *const *skipped[2]; /* their "path: reason" lines, borrowed from train, test */
    int n_skipped_of[2];
    const char *eval_note;         /* why some measures are null, or NULL */
} RunResult;

/* The stages cfg does not run, one bit (1u << STAGE_*) each: dae and kmeans for "simclr".
 * pipeline_run follows it, and the service records these stages as skipped. */
unsigned pipeline_skipped_stages(const RunConfig *cfg);

/* Runs every stage the method needs on train (and test, for eval). resume, when not NULL, is
 * the last checkpoint the sink stored (resume_len bytes): stages before it are skipped and its
 * stage continues where it stopped, giving the same result as an uninterrupted run at the
 * same thread count. The dataset's shape overrides the configured input shape. */
int pipeline_run(const RunConfig *cfg, const Dataset *train, const Dataset *test,
                 const Sink *sink, const void *resume, size_t resume_len, RunResult *res,
                 GsErr *err);
void run_result_free(RunResult *res);
/* Only the first stage: trains the autoencoder and returns the embeddings of every training
 * image, emb (train->n, dim), malloc'd — what the kmeans stage clusters (bench-kmeans uses
 * it to cluster the same matrix as scikit-learn). */
int pipeline_dae_embeddings(const RunConfig *cfg, const Dataset *train, const Sink *sink,
                            float **emb, int *dim, GsErr *err);
/* The run's train and test sets as its configuration names them: the dataset (confined to
 * data_root when not NULL; image folders decoded on the run's threads at "dataset.size", or
 * read from their decoded cache in cache_dir when not NULL), then, when it has no test split
 * and labels, a stratified "dataset.val_fraction" of train held out as the test set (seeded
 * from the run's seed), then its subsets ("subset", "subset_random" seeded from the run's
 * seed, "test_subset"). The same call gives the same images, so image i of the pseudo-labels
 * is image i of this train set. */
int pipeline_load_data(const RunConfig *cfg, const char *data_root, const char *cache_dir,
                       Dataset *train, Dataset *test, GsErr *err);
/* What the stage (STAGE_DAE or STAGE_KMEANS) of a gsimclr run computes, as a text equal for
 * two configurations exactly when the stage's result is bit for bit the same (at one build,
 * on one CPU type): everything in cfg but the settings of later stages, the name and the test
 * subset, and this build's version. Malloc'd; NULL for other stages, for method simclr (it
 * has neither stage) or when memory ran out. */
char *pipeline_shared_key(const RunConfig *cfg, int stage);
/* The result as a one-line JSON object (malloc'd). */
char *run_result_to_json(const RunResult *res);

#endif
