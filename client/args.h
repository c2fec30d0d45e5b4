/* args.h — the one option loop of the client. A subcommand (and gsimclr itself) declares its
 * command line as data: a table of options (CliOpt: its spellings, the kind of value it takes,
 * where the value goes, its help line) and the operands it takes (CliCommand);
 * cli_command_parse walks argv by that declaration, and `SUBCOMMAND --help` is printed from
 * it. Underneath, cli_args_next splits argv: `--name value`, `--name=value`, `-n value`,
 * `-nvalue`, `--`, and the global options (--server, --token, --token-file, --json) anywhere,
 * storing those in the Cli. Both print their own usage errors; neither exits nor touches the
 * network. */
#ifndef GS_CLI_ARGS_H
#define GS_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli.h"

/* cli_command_parse and an option's take: the command line is fine so far, go on (every
 * other value is the exit code to stop with). */
enum { CLI_GO_ON = -1 };

typedef enum {
    CLI_FLAG,   /* no value: sets a bool */
    CLI_TEXT,   /* a value kept as given (const char *); one of choices when they are set */
    CLI_NUMBER, /* a whole decimal integer in min..max, kept as a CliNumber */
} CliOptKind;

/* A CLI_NUMBER option's value: text NULL when the option was not given. The text is kept
 * because a query passes the value on as it was written. */
typedef struct {
    const char *text;
    long value;
} CliNumber;

typedef struct CliOpt CliOpt;

/* Receives an option's checked value instead of its being stored, in command-line order
 * (submit's overrides, --version): text NULL for a flag, number only for CLI_NUMBER. Returns
 * CLI_GO_ON, or an exit code after printing why. */
typedef int (*CliOptTake)(void *opts, const CliOpt *o, const char *text, long number);

/* One option. A table of them ends with {0}. */
struct CliOpt {
    const char *name;            /* long name without "--", or NULL */
    char short_name;             /* 0 when none */
    CliOptKind kind;
    size_t at;                   /* offsetof the value's place in the options struct: a bool
                                  * (flag), a const char * (text) or a CliNumber (number) */
    CliOptTake take;             /* when set, the value goes here instead */
    const char *field;           /* what take is to do with it (submit: the config field) */
    const char *const *choices;  /* CLI_TEXT: the values allowed, NULL-ended; NULL: any */
    long min, max;               /* CLI_NUMBER: the range */
    const char *value;           /* the value's name in the help: "FILE" */
    const char *help;            /* its help, lines split by '\n'; NULL: not listed */
    const char *label;           /* shown instead of "-s, --name VALUE" in the help */
};

/* What a command takes besides options. */
typedef enum {
    CLI_NO_OPERANDS, /* nothing */
    CLI_RUN_ID,      /* exactly one run id */
    CLI_RUN_IDS,     /* one run id or more */
    CLI_OPTIONAL_NAME, /* at most one name (a dataset's) */
    CLI_SWEEP_ID,    /* exactly one sweep id */
    CLI_SUBCOMMAND,  /* gsimclr itself: the first operand names the subcommand, and the
                      * subcommand's own arguments follow it */
} CliOperandKind;

typedef struct {
    const char *name;        /* "submit" (messages say "gsimclr submit: ..."); NULL: gsimclr */
    const CliOpt *opts;      /* NULL: no options of its own */
    CliOperandKind operands;
    /* its --help: about, then the options that have help in a column starting at help_col,
     * then more (NULL: nothing) */
    const char *about;
    int help_col;
    const char *more;
    /* what the options must agree on, once argv is read: CLI_GO_ON, or an exit code after
     * printing why (NULL: nothing) */
    int (*check)(const void *opts, const char *name);
    /* the subcommand calls cli_resolve itself, later (submit: after reading its config file,
     * whose errors come first) */
    bool resolve_later;
} CliCommand;

/* The operands cli_command_parse found. */
typedef struct {
    long id;     /* CLI_RUN_ID, CLI_SWEEP_ID */
    long *ids;   /* CLI_RUN_IDS: n_ids of them in command-line order (malloc'd: free it) */
    int n_ids;
    int next;    /* CLI_SUBCOMMAND: the argv index of the subcommand's name */
    const char *name; /* CLI_OPTIONAL_NAME: the name (argv's), or NULL */
} CliOperands;

/* Walks argv[1..] by cmd: options into *opts (the command's options struct, NULL when it has
 * none) or their take, global options into cli, operands into *out; then runs cmd's check
 * and resolves the server and token (cli_resolve) unless cmd resolves them later. Returns
 * CLI_GO_ON when the command should go on, else the exit code: CLI_OK after printing the
 * --help, CLI_USAGE after printing a usage error (out then holds nothing to free). */
int cli_command_parse(Cli *cli, const CliCommand *cmd, int argc, char **argv, void *opts,
                      CliOperands *out);
/* Prints cmd's --help (commands.c): gsimclr's for name NULL. */
void cli_command_help(FILE *out, const CliCommand *cmd);

/* ---- the splitter under cli_command_parse ---- */

enum { ARG_END = 0, ARG_POS = -1, ARG_ERR = -2, ARG_HELP = -3 };

typedef struct {
    int argc;
    char **argv;
    int i;                /* next argv index */
    const char *cmd;      /* for messages: "submit" */
    const CliOpt *opts;   /* ended by {0} */
    Cli *cli;             /* receives global options; NULL: they are unknown options */
    bool only_pos;        /* after "--" */
    const CliOpt *opt;    /* the option found */
    const char *arg;      /* the option's value or the operand */
    const char *opt_text; /* the option as written, for messages */
} CliArgs;

void cli_args_init(CliArgs *it, int argc, char **argv, int first, const char *cmd,
                   const CliOpt *opts, Cli *cli);
/* The next option's place in the table, from 1 (it->opt is the option, it->arg its value),
 * ARG_POS (it->arg is the operand), ARG_HELP (-h/--help), ARG_END, or ARG_ERR after printing
 * the problem. */
int cli_args_next(CliArgs *it);

/* Whole-string decimal integer in [min, max]: 0, or -1 when s is not one. */
int cli_parse_long(const char *s, long min, long max, long *out);
/* A run id: a positive integer, else a usage error (CLI_USAGE after printing). */
int cli_parse_run_id(const char *cmd, const char *s, long *id);
/* Prints "gsimclr CMD: WHAT" and the --help hint; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
