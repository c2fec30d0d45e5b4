/* args.h — the command-line option iterator every subcommand uses, and strict number parsing
 * for option values. It accepts `--name value`, `--name=value`, `-n value`, `-nvalue`, `--`,
 * and the global options (--server, --token, --token-file, --json) anywhere, storing those in
 * the Cli. It prints its own usage errors; it never exits. */
#ifndef GS_CLI_ARGS_H
#define GS_CLI_ARGS_H

#include <stdbool.h>

#include "cli.h"

typedef struct {
    const char *name;  /* long name without "--", or NULL */
    char short_name;   /* 0 when none */
    bool has_arg;
    int id;            /* > 0, returned by cli_args_next */
} CliOpt;

enum { ARG_END = 0, ARG_POS = -1, ARG_ERR = -2, ARG_HELP = -3 };

typedef struct {
    int argc;
    char **argv;
    int i;                /* next argv index */
    const char *cmd;      /* for messages: "submit" */
    const CliOpt *opts;   /* terminated by an entry with id 0 */
    Cli *cli;             /* receives global options; NULL: they are unknown options */
    bool only_pos;        /* after "--" */
    const char *arg;      /* the option's value or the positional argument */
    const char *opt_text; /* the option as written, for messages */
} CliArgs;

void cli_args_init(CliArgs *it, int argc, char **argv, int first, const char *cmd,
                   const CliOpt *opts, Cli *cli);
/* The next option id (it->arg holds its value), ARG_POS (it->arg is the argument), ARG_HELP
 * (-h/--help), ARG_END, or ARG_ERR after printing the problem. */
int cli_args_next(CliArgs *it);

/* Whole-string decimal integer in [min, max]: 0, or -1 when s is not one. */
int cli_parse_long(const char *s, long min, long max, long *out);
/* Prints "gsimclr CMD: OPTION: WHAT" and the --help hint; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An option value that must be an integer in [min, max]; prints the usage error on failure. */
int cli_opt_long(const char *cmd, const char *opt, const char *s, long min, long max,
                 long *out);

#endif
