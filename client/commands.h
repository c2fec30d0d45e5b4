/* commands.h — every subcommand's command line, declared as data for cli_command_parse
 * (args.h): the struct its options land in and its CliCommand (options, operands, --help).
 * The subcommands (runs.c, data.c, watch.c, datasets.c) read these structs; they parse nothing
 * themselves. */
#ifndef GS_CLI_COMMANDS_H
#define GS_CLI_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

#include "args.h"

/* One field of submit's configuration set from the command line, in command-line order. */
typedef struct {
    const char *path; /* the dotted field, or NULL for a --set PATH=VALUE assignment */
    const char *text;
    bool number;      /* a checked integer, sent as a JSON number */
    long value;
} CliOverride;

typedef struct {
    const char *file;
    bool wait;
    CliOverride *overrides; /* room for argc of them, provided by the caller */
    int n_overrides;
} SubmitOpts;

typedef struct {
    const char *status, *method, *search;
    CliNumber limit, offset;
} ListOpts;

typedef struct {
    const char *tags, *note; /* NULL: not given (left as they are) */
} AnnotateOpts;

typedef struct {
    const char *stage, *name;
    bool csv;
} MetricsOpts;

typedef struct {
    CliNumber grid, n, scale;
    const char *out;
} ClustersOpts;

typedef struct {
    const char *out, *format;
} PseudoLabelsOpts;

typedef struct {
    CliNumber ckpt;
    const char *out;
    bool list;
} CheckpointOpts;

typedef struct {
    const char *out; /* first: commands.c's output check reads it */
    bool head;
} ExportOpts;

typedef struct {
    const char *out; /* first, likewise */
    const char *split;
    bool labels;
} EmbeddingsOpts;

typedef struct {
    const char *out; /* the preview PNG, or NULL */
} DatasetsOpts;

extern const CliCommand CLI_CMD_DATASETS;

typedef struct {
    const char *file;
    bool wait;
} SweepOpts;

typedef struct {
    bool csv;
} SweepShowOpts;

extern const CliCommand CLI_CMD_SWEEP, CLI_CMD_SWEEP_SHOW, CLI_CMD_SWEEP_CANCEL,
    CLI_CMD_SWEEP_DELETE, CLI_CMD_SWEEPS;
extern const CliCommand CLI_CMD_SUBMIT, CLI_CMD_LIST, CLI_CMD_SHOW, CLI_CMD_WATCH,
    CLI_CMD_CANCEL, CLI_CMD_DELETE, CLI_CMD_ANNOTATE, CLI_CMD_METRICS, CLI_CMD_CLUSTERS,
    CLI_CMD_PSEUDO_LABELS, CLI_CMD_CHECKPOINT, CLI_CMD_COMPARE, CLI_CMD_EXPORT, CLI_CMD_EMBEDDINGS;

/* The whole program's usage (gsimclr --help). */
void cli_usage_main(FILE *out);

#endif
