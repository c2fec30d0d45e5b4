/* cli.h — what every part of the gsimclr command-line client shares: the exit codes (the
 * contract with scripts, documented in --help and docs/CLI.md), the global options, and the
 * subcommands' entry points. Nothing here talks to the network. */
#ifndef GS_CLI_H
#define GS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#define CLI_DEFAULT_SERVER "http://127.0.0.1:8470"

/* Exit codes. */
enum {
    CLI_OK = 0,          /* done */
    CLI_RUN_FAILED = 1,  /* the run failed or was canceled (submit --wait, watch); a local
                          * failure such as an unwritable output file */
    CLI_USAGE = 2,       /* bad arguments, an unreadable or malformed config file */
    CLI_UNREACHABLE = 3, /* no answer: connection refused, timeout, DNS */
    CLI_REFUSED = 4,     /* the server answered 4xx/5xx, or with something unusable */
    CLI_INTERRUPTED = 130, /* Ctrl-C while following a run (watch, submit --wait): the run goes
                            * on; 128 + SIGINT, as shells report it */
};

/* The global options. The *_opt fields are what the command line said (they may come before
 * or after the subcommand); cli_resolve() turns them, with the environment as a fallback,
 * into server and token. */
typedef struct {
    const char *server_opt;     /* --server URL */
    const char *token_opt;      /* --token TOKEN */
    const char *token_file_opt; /* --token-file FILE */
    bool json;                  /* --json: machine-readable output */
    char *server;               /* resolved base URL, no trailing slash (malloc'd) */
    char *token;                /* resolved bearer token or NULL (malloc'd) */
    bool tty;                   /* stdout is a terminal */
    int width;                  /* its width in columns (80 when unknown) */
} Cli;

/* Resolves server and token (command line, then GSIMCLR_SERVER / GSIMCLR_TOKEN /
 * GSIMCLR_TOKEN_FILE, then the default server). Prints the problem and returns CLI_USAGE when
 * a token file cannot be read or a value is unusable; CLI_OK otherwise. In args.c:
 * cli_command_parse calls it once a subcommand's command line has been read. */
int cli_resolve(Cli *cli);

/* "gsimclr: " + message + newline on stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The subcommands (argv[0] is the subcommand's name); each returns an exit code. */
int cmd_submit(Cli *cli, int argc, char **argv);
int cmd_list(Cli *cli, int argc, char **argv);
int cmd_show(Cli *cli, int argc, char **argv);
int cmd_watch(Cli *cli, int argc, char **argv);
int cmd_cancel(Cli *cli, int argc, char **argv);
int cmd_delete(Cli *cli, int argc, char **argv);
int cmd_annotate(Cli *cli, int argc, char **argv);
int cmd_metrics(Cli *cli, int argc, char **argv);
int cmd_clusters(Cli *cli, int argc, char **argv);
int cmd_pseudo_labels(Cli *cli, int argc, char **argv);
int cmd_checkpoint(Cli *cli, int argc, char **argv);
int cmd_compare(Cli *cli, int argc, char **argv);
int cmd_export(Cli *cli, int argc, char **argv);
int cmd_embeddings(Cli *cli, int argc, char **argv);
int cmd_datasets(Cli *cli, int argc, char **argv);
int cmd_sweep(Cli *cli, int argc, char **argv);
int cmd_sweeps(Cli *cli, int argc, char **argv);

#endif
