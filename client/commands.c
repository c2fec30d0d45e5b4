/* commands.c — every subcommand's command line in one place: its options (spellings, kind of
 * value, where the value goes, help line), its operands and its --help text, as tables that
 * cli_command_parse walks, so `gsimclr --help`, each `gsimclr SUBCOMMAND --help` and
 * docs/CLI.md can be kept saying the same thing. Declarations only: what a subcommand does
 * with its options is in runs.c, data.c, watch.c and datasets.c; nothing here touches the network. */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "commands.h"

#define EXIT_CODES                                                                         \
    "Exit codes:\n"                                                                        \
    "  0  done (watch, submit --wait: the run succeeded)\n"                                \
    "  1  the run failed or was canceled (watch, submit --wait); a local failure, such as\n" \
    "     an output file that cannot be written\n"                                         \
    "  2  usage error: bad arguments, an unreadable or malformed config file\n"            \
    "  3  the server is unreachable (connection refused, timeout, unknown host)\n"         \
    "  4  the server said no (an HTTP 4xx/5xx answer, printed as 'gsimclr: MESSAGE\n"      \
    "     (field FIELD)'), or answered with something unusable\n"                         \
    "  130  Ctrl-C while following a run (watch, submit --wait): the run goes on\n"

static const char MAIN_USAGE[] =
    "Usage: gsimclr [--server URL] [--token TOKEN | --token-file FILE] [--json]\n"
    "               SUBCOMMAND [ARGS...]\n"
    "\n"
    "The command-line client of gsimclrd, the G-SimCLR training service.\n"
    "\n"
    "Subcommands:\n"
    "  submit         submit a run (a config file and/or options); --wait follows it\n"
    "  list           list runs\n"
    "  show ID        one run: status, times, stages, results, error\n"
    "  watch ID       follow a run's progress live until it ends\n"
    "  cancel ID      cancel a queued or running run\n"
    "  delete ID      delete a run that has ended, and all it owns\n"
    "  annotate ID    set a run's tags and note\n"
    "  metrics ID     a run's recorded metrics (table, --csv)\n"
    "  clusters ID    the pseudo-label clusters; --grid C saves a cluster's image grid\n"
    "  pseudo-labels ID -o FILE   export the pseudo-labels (CSV, JSON or NumPy .npy)\n"
    "  checkpoint ID -o FILE      download a checkpoint (the newest by default)\n"
    "  export ID -o FILE.onnx     the trained encoder as an ONNX model (--head: with z)\n"
    "  embeddings ID -o FILE.npy  the features eval read (--split, --labels) for NumPy\n"
    "  compare ID ID...           final figures of runs side by side\n"
    "  datasets [NAME]            the daemon's datasets; one's classes (-o: its preview)\n"
    "  sweep -f SWEEP.json        submit a grid of runs; --wait follows it\n"
    "  sweep show|cancel|delete ID   a sweep's table and verdicts; cancel; delete\n"
    "  sweeps                     list sweeps\n"
    "\n"
    "Global options (before or after the subcommand):\n"
    "  --server URL        the daemon (default: $GSIMCLR_SERVER, else " CLI_DEFAULT_SERVER ")\n"
    "  --token TOKEN       bearer token (default: $GSIMCLR_TOKEN)\n"
    "  --token-file FILE   read the bearer token from FILE (default: $GSIMCLR_TOKEN_FILE)\n"
    "  --json              print JSON for scripts instead of tables\n"
    "  -h, --help          this help; 'gsimclr SUBCOMMAND --help' for a subcommand's\n"
    "  --version           print the client's version\n"
    "\n"
    "Environment:\n"
    "  GSIMCLR_SERVER      the daemon's URL when --server is not given\n"
    "  GSIMCLR_TOKEN       the bearer token when neither --token nor --token-file is given\n"
    "  GSIMCLR_TOKEN_FILE  a file holding the token, used when GSIMCLR_TOKEN is not set\n"
    "\n" EXIT_CODES;

/* Shorthands for the tables: an option stored in the struct T's field F. */
#define FLAG(LONG, SHORT, T, F, HELP)                                                      \
    {.name = LONG, .short_name = SHORT, .kind = CLI_FLAG, .at = offsetof(T, F), .help = HELP}
#define TEXT(LONG, SHORT, T, F, VALUE, HELP)                                               \
    {.name = LONG, .short_name = SHORT, .kind = CLI_TEXT, .at = offsetof(T, F),             \
     .value = VALUE, .help = HELP}
#define NUMBER(LONG, SHORT, T, F, MIN, MAX, VALUE, HELP)                                   \
    {.name = LONG, .short_name = SHORT, .kind = CLI_NUMBER, .at = offsetof(T, F),           \
     .min = MIN, .max = MAX, .value = VALUE, .help = HELP}

/* ---- submit ---- */

/* Submit's options other than -f and --wait each set one config field, in command-line
 * order: a later one overrides an earlier one, and all override the file. */
static int submit_override(void *opts, const CliOpt *o, const char *text, long number)
{
    SubmitOpts *s = opts;
    s->overrides[s->n_overrides++] =
        (CliOverride){o->field, text, o->kind == CLI_NUMBER, number};
    return CLI_GO_ON;
}

#define OVERRIDE(LONG, KIND, FIELD, VALUE, HELP)                                           \
    {.name = LONG, .kind = KIND, .take = submit_override, .field = FIELD, .min = 0,        \
     .max = LONG_MAX, .value = VALUE, .help = HELP}

static const char *const METHODS[] = {"gsimclr", "simclr", "supervised", NULL};

static const CliOpt SUBMIT_OPTS[] = {
    TEXT("file", 'f', SubmitOpts, file, "FILE", "the run configuration to start from"),
    {.name = "method", .kind = CLI_TEXT, .choices = METHODS, .take = submit_override,
     .field = "method", .value = "M", .help = "method: gsimclr, simclr or supervised"},
    OVERRIDE("name", CLI_TEXT, "name", "NAME", "name"),
    OVERRIDE("dataset", CLI_TEXT, "dataset", "D",
             "dataset: fashion-mnist, or a folder under the data root"),
    OVERRIDE("subset", CLI_NUMBER, "subset", "N", "subset: train on N images (0 = all)"),
    OVERRIDE("seed", CLI_NUMBER, "seed", "S", "seed"),
    OVERRIDE("epochs", CLI_NUMBER, "simclr.epochs", "N", "simclr.epochs"),
    OVERRIDE("batch", CLI_NUMBER, "simclr.batch", "N", "simclr.batch"),
    OVERRIDE("k", CLI_NUMBER, "kmeans.k", "K", "kmeans.k"),
    OVERRIDE("threads", CLI_NUMBER, "threads", "T", "threads"),
    OVERRIDE("set", CLI_TEXT, NULL, "PATH=VALUE",
             "any field by its dotted path, e.g. simclr.temperature=0.2,\n"
             "dae.filters=[8,16,32], simclr.encoder.arch=cnn3. VALUE is\n"
             "true/false/null, a JSON number, JSON when it starts with\n"
             "[ { or \", else a string"),
    FLAG("wait", 0, SubmitOpts, wait,
         "then follow the run like 'gsimclr watch' and exit by its\n"
         "final status (with --json: print only the final run)"),
    {0},
};

const CliCommand CLI_CMD_SUBMIT = {
    .name = "submit",
    .opts = SUBMIT_OPTS,
    .operands = CLI_NO_OPERANDS,
    .about =
        "Usage: gsimclr submit [-f CONFIG.json] [OPTIONS] [--set PATH=VALUE ...] [--wait]\n"
        "\n"
        "Submits a run and prints its id (with --json: the run object). The configuration is\n"
        "CONFIG.json ('-' reads standard input; none: an empty object, so the daemon's\n"
        "defaults), then each option below in command-line order, overriding one field:\n",
    .help_col = 25,
    .more =
        "\n"
        "The daemon checks the configuration: a wrong field is reported as\n"
        "'gsimclr: simclr.batch: must be an integer in 2..4096 (field simclr.batch)', exit 4.\n"
        "\n"
        "Examples:\n"
        "  gsimclr submit -f examples/quick.json --epochs 2 --wait\n"
        "  gsimclr submit --method simclr --subset 5000 --set simclr.encoder.arch=cnn3\n",
    .resolve_later = true,
};

/* ---- list ---- */

static const CliOpt LIST_OPTS[] = {
    TEXT("status", 0, ListOpts, status, "S", "queued, running, succeeded, failed or canceled"),
    TEXT("method", 0, ListOpts, method, "M", "gsimclr or simclr"),
    TEXT("search", 0, ListOpts, search, "TEXT",
         "only runs with TEXT in their name, method, status, tags\nor note (case ignored)"),
    NUMBER("limit", 0, ListOpts, limit, 1, 500, "N", "at most N runs (1..500, default 50)"),
    NUMBER("offset", 0, ListOpts, offset, 0, LONG_MAX, "N", "skip the first N"),
    {0},
};

const CliCommand CLI_CMD_LIST = {
    .name = "list",
    .opts = LIST_OPTS,
    .operands = CLI_NO_OPERANDS,
    .about =
        "Usage: gsimclr list [--status S] [--method M] [--search TEXT] [--limit N] [--offset N]\n"
        "\n"
        "Lists runs, newest first: id, status, method, name, progress, current stage, linear\n"
        "top-1 and creation time (UTC). With --json: the server's answer.\n",
    .help_col = 17,
};

/* ---- show, watch, cancel, delete: a run id and nothing else ---- */

const CliCommand CLI_CMD_SHOW = {
    .name = "show",
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr show ID\n"
        "\n"
        "Shows one run: status, times, tags and note, each stage (status, epoch, loss,\n"
        "throughput, seconds; a stage the method skips says so), the result figures, the\n"
        "error. With --json: the run object, configuration included.\n",
};

const CliCommand CLI_CMD_WATCH = {
    .name = "watch",
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr watch ID\n"
        "\n"
        "Follows a run's events until it ends. On a terminal: a progress bar per stage redrawn\n"
        "in place, log lines above it. Otherwise: one line per log event and one per epoch.\n"
        "With --json: one JSON object per event ({\"event\", \"id\", \"data\"}). A dropped\n"
        "stream is resumed (Last-Event-ID) a few times with backoff. Ctrl-C stops watching,\n"
        "not the run: it prints how to follow or cancel the run again and exits 130.\n"
        "Exit: 0 when the run succeeded, 1 when it failed or was canceled.\n",
};

const CliCommand CLI_CMD_CANCEL = {
    .name = "cancel",
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr cancel ID\n"
        "\n"
        "Cancels a run: a queued one at once, a running one within a training step (its last\n"
        "checkpoint kept). A run that has ended cannot be canceled (exit 4).\n",
};

const CliCommand CLI_CMD_DELETE = {
    .name = "delete",
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr delete ID\n"
        "\n"
        "Deletes a run that has ended, with its metrics, clusters and checkpoints. A queued or\n"
        "running run cannot be deleted: cancel it first (exit 4).\n",
};

/* ---- annotate ---- */

static const CliOpt ANNOTATE_OPTS[] = {
    TEXT("tags", 't', AnnotateOpts, tags, "A,B,...",
         "the run's tags, comma-separated; '' removes them all"),
    TEXT("note", 'n', AnnotateOpts, note, "TEXT", "the run's note; '' removes it"),
    {0},
};

static int annotate_check(const void *opts, const char *name)
{
    const AnnotateOpts *o = opts;
    if (!o->tags && !o->note)
        return cli_usage_error(name, "give --tags, --note or both");
    return CLI_GO_ON;
}

const CliCommand CLI_CMD_ANNOTATE = {
    .name = "annotate",
    .opts = ANNOTATE_OPTS,
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr annotate ID [--tags A,B,...] [--note TEXT]\n"
        "\n"
        "Sets what people write on a run, in any state: its tags (up to 16, each up to 32\n"
        "bytes, no commas) and its note (up to 4000 bytes). What is not given stays as it is.\n"
        "Prints the run's tags and note; with --json the run object. 'gsimclr list --search'\n"
        "finds runs by them.\n",
    .help_col = 25,
    .check = annotate_check,
};

/* ---- metrics ---- */

static const CliOpt METRICS_OPTS[] = {
    TEXT("stage", 0, MetricsOpts, stage, "S", "dae, kmeans, simclr or eval"),
    TEXT("name", 0, MetricsOpts, name, "N", "e.g. loss, images_per_s, knn_top1, linear_top1"),
    FLAG("csv", 0, MetricsOpts, csv, "CSV with the header id,stage,epoch,step,name,value,time"),
    {0},
};

const CliCommand CLI_CMD_METRICS = {
    .name = "metrics",
    .opts = METRICS_OPTS,
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr metrics ID [--stage S] [--name N] [--csv]\n"
        "\n"
        "Prints the metrics a run recorded, in recording order: id, stage, epoch, step (-1 for\n"
        "a per-epoch value), name, value, time.\n",
    .help_col = 14,
};

/* ---- clusters ---- */

static const CliOpt CLUSTERS_OPTS[] = {
    NUMBER("grid", 0, ClustersOpts, grid, 0, INT_MAX, "C", "the cluster"),
    {.name = "output", .short_name = 'o', .kind = CLI_TEXT, .at = offsetof(ClustersOpts, out),
     .label = "-o FILE", .help = "where the PNG goes ('-' = standard output)"},
    NUMBER("n", 0, ClustersOpts, n, 1, 256, "N", "images in the grid"),
    NUMBER("scale", 0, ClustersOpts, scale, 1, 8, "S", "image scale"),
    {0},
};

/* The table, or one cluster's grid saved to a file. */
static int clusters_check(const void *opts, const char *name)
{
    const ClustersOpts *o = opts;
    if (!o->grid.text && (o->out || o->n.text || o->scale.text))
        return cli_usage_error(name, "-o, --n and --scale go with --grid C");
    if (o->grid.text && !o->out)
        return cli_usage_error(name, "--grid needs -o FILE.png");
    return CLI_GO_ON;
}

const CliCommand CLI_CMD_CLUSTERS = {
    .name = "clusters",
    .opts = CLUSTERS_OPTS,
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr clusters ID\n"
        "       gsimclr clusters ID --grid C -o FILE.png [--n N] [--scale S]\n"
        "\n"
        "Prints the pseudo-label clusters of a G-SimCLR run: k, purity, NMI, and per cluster\n"
        "its size, its most common true label and that label's share (a diagnostic: training\n"
        "never sees labels). With --grid: saves cluster C's first N members (1..256, default\n"
        "64) as a PNG grid, each image scaled S times (1..8, default 2).\n",
    .help_col = 15,
    .check = clusters_check,
};

/* ---- pseudo-labels ---- */

static const char *const LABEL_FORMATS[] = {"csv", "json", "npy", NULL};

/* The usage line says all there is to say about these two: no list in the help. */
static const CliOpt PSEUDO_LABELS_OPTS[] = {
    TEXT("output", 'o', PseudoLabelsOpts, out, "FILE", NULL),
    {.name = "format", .kind = CLI_TEXT, .at = offsetof(PseudoLabelsOpts, format),
     .choices = LABEL_FORMATS},
    {0},
};

static int pseudo_labels_check(const void *opts, const char *name)
{
    if (!((const PseudoLabelsOpts *)opts)->out)
        return cli_usage_error(name, "-o FILE is needed ('-o -' for standard output)");
    return CLI_GO_ON;
}

const CliCommand CLI_CMD_PSEUDO_LABELS = {
    .name = "pseudo-labels",
    .opts = PSEUDO_LABELS_OPTS,
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr pseudo-labels ID -o FILE [--format csv|json|npy]\n"
        "\n"
        "Saves a run's pseudo-labels: CSV 'image,cluster' with one row per training image,\n"
        "JSON {\"n\": N, \"clusters\": [...]}, or a NumPy .npy int64 vector (numpy.load).\n"
        "'-o -' writes to standard output.\n",
    .check = pseudo_labels_check,
};

/* ---- export, embeddings ---- */

static int output_needed(const void *opts, const char *name)
{
    /* both structs start with out */
    if (!*(const char *const *)opts)
        return cli_usage_error(name, "-o FILE is needed ('-o -' for standard output)");
    return CLI_GO_ON;
}

static const CliOpt EXPORT_OPTS[] = {
    {.name = "output", .short_name = 'o', .kind = CLI_TEXT, .at = offsetof(ExportOpts, out),
     .label = "-o FILE", .help = "where the model goes ('-' = standard output)"},
    FLAG("head", 0, ExportOpts, head, "include the projection head (output z, not h)"),
    {0},
};

const CliCommand CLI_CMD_EXPORT = {
    .name = "export",
    .opts = EXPORT_OPTS,
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr export ID -o encoder.onnx [--head]\n"
        "\n"
        "Saves a run's trained encoder as an ONNX model (opset 13), from its newest simclr\n"
        "checkpoint: input 'input', float32 N x C x H x W, pixels / 255 in [0, 1] with no\n"
        "mean or std; output 'features', the backbone feature the linear evaluation reads,\n"
        "or with --head 'projection', the projection head's z (not L2-normalised).\n",
    .help_col = 14,
    .check = output_needed,
};

static const char *const SPLITS[] = {"train", "test", NULL};

static const CliOpt EMBEDDINGS_OPTS[] = {
    {.name = "output", .short_name = 'o', .kind = CLI_TEXT, .at = offsetof(EmbeddingsOpts, out),
     .label = "-o FILE", .help = "where the .npy goes ('-' = standard output)"},
    {.name = "split", .kind = CLI_TEXT, .at = offsetof(EmbeddingsOpts, split), .choices = SPLITS,
     .value = "S", .help = "train (default) or test"},
    FLAG("labels", 0, EmbeddingsOpts, labels, "the split's labels instead of its features"),
    {0},
};

const CliCommand CLI_CMD_EMBEDDINGS = {
    .name = "embeddings",
    .opts = EMBEDDINGS_OPTS,
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr embeddings ID -o FILE.npy [--split train|test] [--labels]\n"
        "\n"
        "Saves the features the run's linear evaluation read (N x D float32), or with\n"
        "--labels the split's labels (N int64), as a NumPy .npy file (numpy.load reads it).\n"
        "They are stored when the run's eval stage runs.\n",
    .help_col = 14,
    .check = output_needed,
};

/* ---- checkpoint ---- */

static const CliOpt CHECKPOINT_OPTS[] = {
    NUMBER("checkpoint", 'c', CheckpointOpts, ckpt, 1, LONG_MAX, "CKPT_ID", "which checkpoint"),
    {.name = "output", .short_name = 'o', .kind = CLI_TEXT, .at = offsetof(CheckpointOpts, out),
     .label = "-o FILE", .help = "where it goes ('-' = standard output)"},
    FLAG("list", 0, CheckpointOpts, list, "list instead of downloading"),
    {0},
};

/* A listing, or one checkpoint saved to a file. */
static int checkpoint_check(const void *opts, const char *name)
{
    const CheckpointOpts *o = opts;
    if (o->list && (o->out || o->ckpt.text))
        return cli_usage_error(name, "--list takes neither -c nor -o");
    if (!o->list && !o->out)
        return cli_usage_error(name, "-o FILE is needed ('-o -' for standard output)");
    return CLI_GO_ON;
}

const CliCommand CLI_CMD_CHECKPOINT = {
    .name = "checkpoint",
    .opts = CHECKPOINT_OPTS,
    .operands = CLI_RUN_ID,
    .about =
        "Usage: gsimclr checkpoint ID [-c CKPT_ID] -o FILE\n"
        "       gsimclr checkpoint ID --list\n"
        "\n"
        "Downloads a checkpoint of a run (a GSCK file, as 'gsimclrd --run --checkpoint' writes):\n"
        "CKPT_ID, or the newest when -c is not given. --list prints the run's checkpoints.\n",
    .help_col = 29,
    .check = checkpoint_check,
};

/* ---- compare ---- */

const CliCommand CLI_CMD_COMPARE = {
    .name = "compare",
    .operands = CLI_RUN_IDS,
    .about =
        "Usage: gsimclr compare ID ID...\n"
        "\n"
        "Puts the final figures of runs side by side, a column per run: status, method, k,\n"
        "purity, NMI, repeat batches per epoch, SimCLR loss, kNN top-1, linear top-1, the\n"
        "seconds of each stage and the total time. With --json: an array of objects.\n",
};

/* ---- datasets ---- */

static const CliOpt DATASETS_OPTS[] = {
    {.name = "output", .short_name = 'o', .kind = CLI_TEXT, .at = offsetof(DatasetsOpts, out),
     .label = "-o FILE.png", .help = "save NAME's preview ('-' = standard output)"},
    {0},
};

const CliCommand CLI_CMD_DATASETS = {
    .name = "datasets",
    .opts = DATASETS_OPTS,
    .operands = CLI_OPTIONAL_NAME,
    .about =
        "Usage: gsimclr datasets\n"
        "       gsimclr datasets NAME [-o FILE.png]\n"
        "\n"
        "Lists the datasets the daemon can read: fashion-mnist and each folder directly under\n"
        "its --data-root, with their kind (idx, cifar, folder), images per split, classes,\n"
        "channels, typical size and the sizes whose decoded cache exists; a folder that is\n"
        "not a usable dataset is listed with why. With NAME: that dataset, its classes with\n"
        "their train and test counts, and the bad files its listing found; -o saves a grid of\n"
        "its first images, one row per class. NAME is what a run's dataset field takes.\n"
        "With --json: the server's answer.\n",
    .help_col = 16,
};

/* ---- sweeps ---- */

static const CliOpt SWEEP_OPTS[] = {
    TEXT("file", 'f', SweepOpts, file, "FILE", "the sweep ('-' reads standard input)"),
    FLAG("wait", 0, SweepOpts, wait,
         "then follow it until its runs have ended, print its table\n"
         "and exit 0 when they all succeeded, 1 otherwise"),
    {0},
};

static int sweep_check(const void *opts, const char *name)
{
    if (!((const SweepOpts *)opts)->file)
        return cli_usage_error(name, "-f SWEEP.json is needed (or: show, cancel, delete ID)");
    return CLI_GO_ON;
}

const CliCommand CLI_CMD_SWEEP = {
    .name = "sweep",
    .opts = SWEEP_OPTS,
    .operands = CLI_NO_OPERANDS,
    .about =
        "Usage: gsimclr sweep -f SWEEP.json [--wait]\n"
        "       gsimclr sweep show ID [--csv]\n"
        "       gsimclr sweep cancel ID\n"
        "       gsimclr sweep delete ID\n"
        "\n"
        "Submits a sweep and prints its id (with --json: the sweep object): a base run\n"
        "configuration and a grid of values by dotted field, e.g.\n"
        "  {\"name\": \"k\", \"base\": {\"simclr\": {\"epochs\": 4}}, \"metric\": \"linear_top1\",\n"
        "   \"grid\": {\"method\": [\"gsimclr\", \"simclr\"], \"seed\": [1, 2, 3, 4, 5]}}\n"
        "The daemon checks every value and point first: a bad one is refused, naming it, and\n"
        "nothing is queued. 'show' prints the table over seeds (mean, sd, 95% t interval,\n"
        "bootstrap interval from 5 seeds on), the paired differences of rows that differ in\n"
        "one value, and a verdict line per difference; 'cancel' cancels every run not ended;\n"
        "'delete' deletes a sweep whose runs have all ended, with its runs.\n",
    .help_col = 14,
    .check = sweep_check,
};

static const CliOpt SWEEP_SHOW_OPTS[] = {
    FLAG("csv", 0, SweepShowOpts, csv, "the table as CSV"),
    {0},
};

const CliCommand CLI_CMD_SWEEP_SHOW = {
    .name = "sweep show",
    .opts = SWEEP_SHOW_OPTS,
    .operands = CLI_SWEEP_ID,
    .about = "Usage: gsimclr sweep show ID [--csv]\n"
             "\n"
             "The sweep's status, its table over seeds, the paired differences and verdicts.\n",
    .help_col = 9,
};

const CliCommand CLI_CMD_SWEEP_CANCEL = {
    .name = "sweep cancel",
    .operands = CLI_SWEEP_ID,
    .about = "Usage: gsimclr sweep cancel ID\n"
             "\n"
             "Cancels every run of the sweep that has not ended (exit 4 when none is left).\n",
};

const CliCommand CLI_CMD_SWEEP_DELETE = {
    .name = "sweep delete",
    .operands = CLI_SWEEP_ID,
    .about = "Usage: gsimclr sweep delete ID\n"
             "\n"
             "Deletes a sweep and all its runs once they have ended (exit 4 while one is\n"
             "queued or running: cancel it first).\n",
};

static const CliOpt SWEEPS_OPTS[] = {
    NUMBER("limit", 0, ListOpts, limit, 1, 500, "N", "at most N sweeps (1..500, default 50)"),
    NUMBER("offset", 0, ListOpts, offset, 0, LONG_MAX, "N", "skip the first N"),
    {0},
};

const CliCommand CLI_CMD_SWEEPS = {
    .name = "sweeps",
    .opts = SWEEPS_OPTS,
    .operands = CLI_NO_OPERANDS,
    .about = "Usage: gsimclr sweeps [--limit N] [--offset N]\n"
             "\n"
             "Lists sweeps, newest first: id, status, runs ended of all, metric, name, creation\n"
             "time (UTC). With --json: the server's answer.\n",
    .help_col = 15,
};

/* ---- help ---- */

void cli_usage_main(FILE *out)
{
    fputs(MAIN_USAGE, out);
}

/* An option's label in the help: "-f, --file FILE", "--wait". */
static const char *help_label(char *buf, size_t n, const CliOpt *o)
{
    char s[8] = "";
    if (o->label)
        return o->label;
    if (o->short_name)
        snprintf(s, sizeof s, "-%c%s", o->short_name, o->name ? ", " : "");
    snprintf(buf, n, "%s%s%s%s%s", s, o->name ? "--" : "", o->name ? o->name : "",
             o->value ? " " : "", o->value ? o->value : "");
    return buf;
}

void cli_command_help(FILE *out, const CliCommand *cmd)
{
    if (!cmd->name) {
        cli_usage_main(out);
        return;
    }
    fputs(cmd->about, out);
    for (const CliOpt *o = cmd->opts; o && (o->name || o->short_name); o++) {
        char label[96];
        if (!o->help)
            continue;
        fprintf(out, "  %-*s", cmd->help_col - 2, help_label(label, sizeof label, o));
        /* a help of several lines: each one in the column */
        for (const char *h = o->help; *h; h++) {
            fputc(*h, out);
            if (*h == '\n')
                fprintf(out, "%*s", cmd->help_col, "");
        }
        fputc('\n', out);
    }
    if (cmd->more)
        fputs(cmd->more, out);
    fputs("\nGlobal options: --server URL, --token TOKEN, --token-file FILE, --json\n"
          "(see 'gsimclr --help').\n\n" EXIT_CODES,
          out);
}
