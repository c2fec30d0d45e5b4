/* config.h — one run's configuration, parsed from JSON (cJSON) and validated: every unknown
 * key, wrong type or out-of-range value is an error naming the field by its JSON path, e.g.
 * "simclr.batch: must be an integer in 2..4096". Absent fields keep their defaults, which
 * follow the paper where it fits 28x28 images and are documented in run_config_defaults. */
#ifndef GS_CONFIG_H
#define GS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "gs/augment.h"
#include "gs/err.h"
#include "gs/eval.h"
#include "gs/finetune.h"
#include "gs/image.h"
#include "gs/model.h"
#include "gs/optim.h"

enum { RUN_MAX_PROCESSES = 64 };

/* gsimclr: autoencoder, k-means, guided SimCLR; simclr: SimCLR on plain batches; supervised:
 * no pretraining, only eval.finetune's fractions trained from a random initialisation (the
 * reference a pretrained run's fine-tuning is measured against, queued alone). */
typedef enum { METHOD_GSIMCLR, METHOD_SIMCLR, METHOD_SUPERVISED } Method;

typedef struct {
    Method method;          /* "method": "gsimclr" | "simclr" | "supervised" */
    char name[128];         /* "name": free text for people, may be empty */
    char dataset[512];      /* "dataset": "fashion-mnist" or a path (resolved by the caller);
                             * or "dataset": {"name": ..., and the fields of `data`} */
    struct {
        int size;           /* "size": square side every image is resized to; 0 = as the
                             * files are */
        ImageFit fit;       /* "fit": "crop" (centre square) | "stretch", for non-square images */
        float val_fraction; /* "val_fraction": without a test split, this part of train (per
                             * class, seeded) is held out as the test set; 0 = none */
        bool skip_bad;      /* "on_bad_file": "fail" (the first bad image file fails the run) |
                             * "skip" (bad files are left out and listed in the run) */
    } data;
    int subset;             /* "subset": use the first / a seeded random N training images; 0 = all */
    bool subset_random;     /* "subset_random" */
    int test_subset;        /* "test_subset": evaluate on N test images; 0 = all */
    uint64_t seed;          /* "seed" */
    int threads;            /* "threads": 1..64, per process */
    int processes;          /* "processes": 1..RUN_MAX_PROCESSES; above 1 the daemon launches
                             * the run under MPI (data-parallel, simclr.batch split evenly:
                             * it must be a multiple) */

    struct {
        DaeConfig net;      /* "dae": {"filters": [32, 64, 128]} */
        int epochs, batch;  /* "epochs", "batch" */
        float lr, noise;    /* "lr" (Adam), "noise" (sigma of the Gaussian noise) */
    } dae;

    struct {
        int k, n_init, max_iter; /* "k", "n_init", "max_iter" */
        float tol;               /* "tol" */
    } kmeans;

    struct {
        EncoderConfig encoder;  /* "encoder": {"arch": "resnet"|"cnn3", "width" (doubled per
                                 *  stage) or "widths": [24, 48, 384], "stages", "blocks",
                                 *  "head": [128, 64]} */
        int epochs, batch;      /* "epochs", "batch" */
        OptKind optimizer;      /* "optimizer": "sgd" | "adam" | "adamw" | "lars" */
        float lr, weight_decay, momentum; /* "lr", "weight_decay", "momentum" */
        float warmup_epochs;    /* "warmup_epochs" */
        float tau;              /* "temperature" */
        AugConfig aug;          /* "augment": {"crop_scale": [0.2, 1], "crop_ratio": [0.75, 1.333],
                                 *  "flip": 0.5, "jitter": 0.8, "brightness": 0.4, "contrast": 0.4,
                                 *  "saturation": 0.4, "hue": 0.1, "gray": 0.2, "blur": 0,
                                 *  "blur_sigma": [0.1, 2]} */
        int knn_every;          /* "knn_every": kNN monitor every N epochs; 0 = off */
        int checkpoint_every;   /* "checkpoint_every": epochs between checkpoints, >= 1 */
    } simclr;

    struct {
        LinearEvalConfig linear; /* "linear": {"epochs", "batch", "lr", "val_fraction",
                                  *  "weight_decays": [...]} */
        int knn_k;               /* "knn_k" */
        float knn_temperature;   /* "knn_temperature" */
        FinetuneConfig finetune; /* "finetune": {"fractions": [] (off; e.g. [0.01, 0.1]),
                                  *  "epochs", "batch", "optimizer", "lr", "weight_decay",
                                  *  "val_fraction", "augment": {as simclr.augment},
                                  *  "from_scratch"} */
    } eval;
} RunConfig;

void run_config_defaults(RunConfig *cfg);
/* Parses json (len bytes, not necessarily NUL-terminated) over the defaults. On error cfg is
 * left with the defaults and err says which field is wrong and why. Nesting deeper than 8
 * levels, or a body that is not an object, is an error too. */
int run_config_parse(RunConfig *cfg, const char *json, size_t len, GsErr *err);
/* Reads the file at path (at most 1 MiB) and parses it like run_config_parse; errors name the
 * path. */
int run_config_load_file(RunConfig *cfg, const char *path, GsErr *err);
/* The whole configuration, every field, as a JSON object text (malloc'd; NULL when out of
 * memory). Parsing it back gives the same configuration. */
char *run_config_to_json(const RunConfig *cfg);

/* "gsimclr", "simclr" or "supervised". */
const char *run_config_method_name(Method m);
/* Whether name is one of those. */
bool run_config_method_known(const char *name);

#endif
