/* usage.c — every help text of the client in one place, so `gsimclr --help`, each
 * `gsimclr SUBCOMMAND --help` and docs/CLI.md can be kept saying the same thing. */
#include <string.h>

#include "cli.h"

#define EXIT_CODES                                                                         \
    "Exit codes:\n"                                                                        \
    "  0  done (watch, submit --wait: the run succeeded)\n"                                \
    "  1  the run failed or was canceled (watch, submit --wait); a local failure, such as\n" \
    "     an output file that cannot be written\n"                                         \
    "  2  usage error: bad arguments, an unreadable or malformed config file\n"            \
    "  3  the server is unreachable (connection refused, timeout, unknown host)\n"         \
    "  4  the server said no (an HTTP 4xx/5xx answer, printed as 'gsimclr: MESSAGE\n"      \
    "     (field FIELD)'), or answered with something unusable\n"

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
    "  metrics ID     a run's recorded metrics (table, --csv)\n"
    "  clusters ID    the pseudo-label clusters; --grid C saves a cluster's image grid\n"
    "  pseudo-labels ID -o FILE   export the pseudo-labels (CSV or JSON)\n"
    "  checkpoint ID -o FILE      download a checkpoint (the newest by default)\n"
    "  compare ID ID...           final figures of runs side by side\n"
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

typedef struct {
    const char *name;
    const char *text;
} Usage;

static const Usage USAGES[] = {
    {"submit",
     "Usage: gsimclr submit [-f CONFIG.json] [OPTIONS] [--set PATH=VALUE ...] [--wait]\n"
     "\n"
     "Submits a run and prints its id (with --json: the run object). The configuration is\n"
     "CONFIG.json ('-' reads standard input; none: an empty object, so the daemon's\n"
     "defaults), then each option below in command-line order, overriding one field:\n"
     "  -f, --file FILE        the run configuration to start from\n"
     "  --method M             method: gsimclr or simclr\n"
     "  --name NAME            name\n"
     "  --dataset D            dataset: fashion-mnist, or a folder under the data root\n"
     "  --subset N             subset: train on N images (0 = all)\n"
     "  --seed S               seed\n"
     "  --epochs N             simclr.epochs\n"
     "  --batch N              simclr.batch\n"
     "  --k K                  kmeans.k\n"
     "  --threads T            threads\n"
     "  --set PATH=VALUE       any field by its dotted path, e.g. simclr.temperature=0.2,\n"
     "                         dae.filters=[8,16,32], simclr.encoder.arch=cnn3. VALUE is\n"
     "                         true/false/null, a JSON number, JSON when it starts with\n"
     "                         [ { or \", else a string\n"
     "  --wait                 then follow the run like 'gsimclr watch' and exit by its\n"
     "                         final status (with --json: print only the final run)\n"
     "\n"
     "The daemon checks the configuration: a wrong field is reported as\n"
     "'gsimclr: simclr.batch: must be an integer in 2..4096 (field simclr.batch)', exit 4.\n"
     "\n"
     "Examples:\n"
     "  gsimclr submit -f examples/quick.json --epochs 2 --wait\n"
     "  gsimclr submit --method simclr --subset 5000 --set simclr.encoder.arch=cnn3\n"},
    {"list",
     "Usage: gsimclr list [--status S] [--method M] [--limit N] [--offset N]\n"
     "\n"
     "Lists runs, newest first: id, status, method, name, progress, current stage, linear\n"
     "top-1 and creation time (UTC). With --json: the server's answer.\n"
     "  --status S   queued, running, succeeded, failed or canceled\n"
     "  --method M   gsimclr or simclr\n"
     "  --limit N    at most N runs (1..500, default 50)\n"
     "  --offset N   skip the first N\n"},
    {"show",
     "Usage: gsimclr show ID\n"
     "\n"
     "Shows one run: status, times, each stage (status, epoch, loss, throughput, seconds),\n"
     "the result figures, the error. With --json: the run object, configuration included.\n"},
    {"watch",
     "Usage: gsimclr watch ID\n"
     "\n"
     "Follows a run's events until it ends. On a terminal: a progress bar per stage redrawn\n"
     "in place, log lines above it. Otherwise: one line per log event and one per epoch.\n"
     "With --json: one JSON object per event ({\"event\", \"id\", \"data\"}). A dropped\n"
     "stream is resumed (Last-Event-ID) a few times with backoff.\n"
     "Exit: 0 when the run succeeded, 1 when it failed or was canceled.\n"},
    {"cancel",
     "Usage: gsimclr cancel ID\n"
     "\n"
     "Cancels a run: a queued one at once, a running one within a training step (its last\n"
     "checkpoint kept). A run that has ended cannot be canceled (exit 4).\n"},
    {"delete",
     "Usage: gsimclr delete ID\n"
     "\n"
     "Deletes a run that has ended, with its metrics, clusters and checkpoints. A queued or\n"
     "running run cannot be deleted: cancel it first (exit 4).\n"},
    {"metrics",
     "Usage: gsimclr metrics ID [--stage S] [--name N] [--csv]\n"
     "\n"
     "Prints the metrics a run recorded, in recording order: id, stage, epoch, step (-1 for\n"
     "a per-epoch value), name, value, time.\n"
     "  --stage S   dae, kmeans, simclr or eval\n"
     "  --name N    e.g. loss, images_per_s, knn_top1, linear_top1\n"
     "  --csv       CSV with the header id,stage,epoch,step,name,value,time\n"},
    {"clusters",
     "Usage: gsimclr clusters ID\n"
     "       gsimclr clusters ID --grid C -o FILE.png [--n N] [--scale S]\n"
     "\n"
     "Prints the pseudo-label clusters of a G-SimCLR run: k, purity, NMI, and per cluster\n"
     "its size, its most common true label and that label's share (a diagnostic: training\n"
     "never sees labels). With --grid: saves cluster C's first N members (1..256, default\n"
     "64) as a PNG grid, each image scaled S times (1..8, default 2).\n"
     "  --grid C     the cluster\n"
     "  -o FILE      where the PNG goes ('-' = standard output)\n"
     "  --n N        images in the grid\n"
     "  --scale S    image scale\n"},
    {"pseudo-labels",
     "Usage: gsimclr pseudo-labels ID -o FILE [--format csv|json]\n"
     "\n"
     "Saves a run's pseudo-labels: CSV 'image,cluster' with one row per training image, or\n"
     "JSON {\"n\": N, \"clusters\": [...]}. '-o -' writes to standard output.\n"},
    {"checkpoint",
     "Usage: gsimclr checkpoint ID [-c CKPT_ID] -o FILE\n"
     "       gsimclr checkpoint ID --list\n"
     "\n"
     "Downloads a checkpoint of a run (a GSCK file, as 'gsimclrd --run --checkpoint' writes):\n"
     "CKPT_ID, or the newest when -c is not given. --list prints the run's checkpoints.\n"
     "  -c, --checkpoint CKPT_ID   which checkpoint\n"
     "  -o FILE                    where it goes ('-' = standard output)\n"
     "  --list                     list instead of downloading\n"},
    {"compare",
     "Usage: gsimclr compare ID ID...\n"
     "\n"
     "Puts the final figures of runs side by side, a column per run: status, method, k,\n"
     "purity, NMI, repeat batches per epoch, SimCLR loss, kNN top-1, linear top-1, the\n"
     "seconds of each stage and the total time. With --json: an array of objects.\n"},
};

void cli_usage_main(FILE *out)
{
    fputs(MAIN_USAGE, out);
}

const char *cli_usage_of(const char *cmd)
{
    for (size_t i = 0; i < sizeof USAGES / sizeof USAGES[0]; i++)
        if (strcmp(USAGES[i].name, cmd) == 0)
            return USAGES[i].text;
    return NULL;
}

void cli_usage_print(const char *cmd)
{
    const char *u = cli_usage_of(cmd);
    if (u) {
        fputs(u, stdout);
        fputs("\nGlobal options: --server URL, --token TOKEN, --token-file FILE, --json\n"
              "(see 'gsimclr --help').\n\n" EXIT_CODES,
              stdout);
    }
}
