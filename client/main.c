/* main.c — gsimclr, the command-line client of gsimclrd: its own command line (global
 * options, --version) and dispatch to a subcommand. It may exit with a message (the CLI is
 * allowed to die loudly) but every subcommand returns its exit code here, so resources are
 * freed on one path. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "commands.h"
#include "gs/version.h"
#include "http.h"

/* A subcommand: its command line (commands.c) and what runs it. */
typedef struct {
    const CliCommand *line;
    int (*fn)(Cli *, int, char **);
} Command;

static const Command COMMANDS[] = {
    {&CLI_CMD_SUBMIT, cmd_submit},         {&CLI_CMD_LIST, cmd_list},
    {&CLI_CMD_SHOW, cmd_show},             {&CLI_CMD_WATCH, cmd_watch},
    {&CLI_CMD_CANCEL, cmd_cancel},         {&CLI_CMD_DELETE, cmd_delete},
    {&CLI_CMD_ANNOTATE, cmd_annotate},
    {&CLI_CMD_METRICS, cmd_metrics},       {&CLI_CMD_CLUSTERS, cmd_clusters},
    {&CLI_CMD_PSEUDO_LABELS, cmd_pseudo_labels}, {&CLI_CMD_CHECKPOINT, cmd_checkpoint},
    {&CLI_CMD_COMPARE, cmd_compare},       {&CLI_CMD_EXPORT, cmd_export},
    {&CLI_CMD_EMBEDDINGS, cmd_embeddings},
    {&CLI_CMD_DATASETS, cmd_datasets},
    {&CLI_CMD_EMBEDDINGS, cmd_embeddings}, {&CLI_CMD_SWEEP, cmd_sweep},
    {&CLI_CMD_SWEEPS, cmd_sweeps},
};

static int terminal_width(void)
{
    struct winsize ws;
    const char *cols = getenv("COLUMNS");
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    if (cols && atoi(cols) > 0)
        return atoi(cols);
    return 80;
}

/* --version answers at once, like --help: what follows it is not looked at. */
static int print_version(void *opts, const CliOpt *o, const char *text, long number)
{
    (void)opts;
    (void)o;
    (void)text;
    (void)number;
    printf("gsimclr %s (libcurl %s)\n", GS_VERSION, cli_http_version());
    return CLI_OK;
}

static const CliOpt MAIN_OPTS[] = {
    {.name = "version", .kind = CLI_FLAG, .take = print_version},
    {0},
};

/* gsimclr's own command line: global options, --version, then the subcommand. */
static const CliCommand GSIMCLR = {.opts = MAIN_OPTS, .operands = CLI_SUBCOMMAND};

int main(int argc, char **argv)
{
    Cli cli = {0};
    CliOperands sub;
    const Command *cmd = NULL;
    const char *name;
    int rc;

    cli.tty = isatty(STDOUT_FILENO) == 1;
    cli.width = cli.tty ? terminal_width() : 80;
    if ((rc = cli_command_parse(&cli, &GSIMCLR, argc, argv, NULL, &sub)) != CLI_GO_ON)
        return rc;
    name = argv[sub.next];
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(COMMANDS[i].line->name, name) == 0)
            cmd = &COMMANDS[i];
    if (!cmd)
        return cli_usage_error(NULL, "unknown subcommand '%s'", name);
    if (cli_http_init() != 0) {
        cli_errorf("cannot initialise libcurl");
        return CLI_RUN_FAILED;
    }
    /* the subcommand's name becomes its argv[0] */
    rc = cmd->fn(&cli, argc - sub.next, argv + sub.next);
    cli_http_cleanup();
    free(cli.server);
    free(cli.token);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        cli_errorf("standard output: %s", strerror(errno));
        rc = CLI_RUN_FAILED;
    }
    return rc;
}
