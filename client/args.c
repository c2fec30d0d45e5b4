/* args.c — the option iterator and strict integer parsing (see args.h). No getopt_long: it is
 * a GNU extension, and the iterator also needs to know the global options, which may follow
 * the subcommand. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

enum { GOPT_SERVER = 1, GOPT_TOKEN, GOPT_TOKEN_FILE, GOPT_JSON };

static const CliOpt GLOBAL_OPTS[] = {
    {"server", 0, true, GOPT_SERVER},
    {"token", 0, true, GOPT_TOKEN},
    {"token-file", 0, true, GOPT_TOKEN_FILE},
    {"json", 0, false, GOPT_JSON},
    {NULL, 0, false, 0},
};

void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    fputs("gsimclr: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "gsimclr%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'gsimclr %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return CLI_USAGE;
}

int cli_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_opt_long(const char *cmd, const char *opt, const char *s, long min, long max,
                 long *out)
{
    if (cli_parse_long(s, min, max, out) == 0)
        return 0;
    if (max == LONG_MAX)
        cli_usage_error(cmd, "%s: '%s' is not an integer >= %ld", opt, s, min);
    else
        cli_usage_error(cmd, "%s: '%s' is not an integer in %ld..%ld", opt, s, min, max);
    return -1;
}

void cli_args_init(CliArgs *it, int argc, char **argv, int first, const char *cmd,
                   const CliOpt *opts, Cli *cli)
{
    memset(it, 0, sizeof *it);
    it->argc = argc;
    it->argv = argv;
    it->i = first;
    it->cmd = cmd;
    it->opts = opts;
    it->cli = cli;
}

static const CliOpt *find_long(const CliOpt *opts, const char *name, size_t len)
{
    for (; opts && opts->id; opts++)
        if (opts->name && strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
            return opts;
    return NULL;
}

static const CliOpt *find_short(const CliOpt *opts, char c)
{
    for (; opts && opts->id; opts++)
        if (opts->short_name && opts->short_name == c)
            return opts;
    return NULL;
}

/* Stores a global option in the Cli. */
static void apply_global(Cli *cli, int id, const char *arg)
{
    switch (id) {
    case GOPT_SERVER: cli->server_opt = arg; break;
    case GOPT_TOKEN: cli->token_opt = arg; break;
    case GOPT_TOKEN_FILE: cli->token_file_opt = arg; break;
    case GOPT_JSON: cli->json = true; break;
    default: break;
    }
}

int cli_args_next(CliArgs *it)
{
    for (;;) {
        const char *a, *value = NULL;
        const CliOpt *o;
        bool global = false;
        if (it->i >= it->argc)
            return ARG_END;
        a = it->argv[it->i++];
        it->opt_text = a;
        it->arg = NULL;
        if (it->only_pos || a[0] != '-' || a[1] == '\0') {
            it->arg = a;
            return ARG_POS;
        }
        if (strcmp(a, "--") == 0) {
            it->only_pos = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return ARG_HELP;
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(it->opts, name, len);
            if (!o && it->cli && (o = find_long(GLOBAL_OPTS, name, len)) != NULL)
                global = true;
            if (!o) {
                cli_usage_error(it->cmd, "unknown option '%.*s'", (int)(len + 2), a);
                return ARG_ERR;
            }
            if (eq) {
                if (!o->has_arg) {
                    cli_usage_error(it->cmd, "option '--%s' takes no value", o->name);
                    return ARG_ERR;
                }
                value = eq + 1;
            }
        } else {
            o = find_short(it->opts, a[1]);
            if (!o) {
                cli_usage_error(it->cmd, "unknown option '-%c'", a[1]);
                return ARG_ERR;
            }
            if (a[2]) {
                if (!o->has_arg) {
                    cli_usage_error(it->cmd, "option '-%c' takes no value", a[1]);
                    return ARG_ERR;
                }
                value = a + 2;
            }
        }
        if (o->has_arg && !value) {
            if (it->i >= it->argc) {
                cli_usage_error(it->cmd, "option '%s' needs a value", a);
                return ARG_ERR;
            }
            value = it->argv[it->i++];
        }
        it->arg = value;
        if (global) {
            apply_global(it->cli, o->id, value);
            continue;
        }
        return o->id;
    }
}
