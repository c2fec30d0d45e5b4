/* args.c — the option loop, the splitter under it, and the global options made sense of
 * (server and token, with the environment as a fallback; see args.h and cli.h). No
 * getopt_long: it is a GNU extension, and the splitter also needs to know the global options,
 * which may follow the subcommand. What a command's options are lives in commands.c; nothing
 * here knows one. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

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

int cli_parse_run_id(const char *cmd, const char *s, long *id)
{
    if (cli_parse_long(s, 1, LONG_MAX, id) == 0)
        return CLI_OK;
    return cli_usage_error(cmd, "'%s' is not a run id (a positive integer)", s);
}

/* ---- the global options ---- */

#define TOKEN_MAX 4096

/* Stored straight into the Cli; cli_resolve makes sense of them. */
static const CliOpt GLOBAL_OPTS[] = {
    {.name = "server", .kind = CLI_TEXT, .at = offsetof(Cli, server_opt)},
    {.name = "token", .kind = CLI_TEXT, .at = offsetof(Cli, token_opt)},
    {.name = "token-file", .kind = CLI_TEXT, .at = offsetof(Cli, token_file_opt)},
    {.name = "json", .kind = CLI_FLAG, .at = offsetof(Cli, json)},
    {0},
};

/* Reads a token file: the first line, blanks around it removed. */
static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    if (!f) {
        cli_errorf("token file %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(TOKEN_MAX + 1);
    if (!buf) {
        fclose(f);
        cli_errorf("out of memory");
        return NULL;
    }
    n = fread(buf, 1, TOKEN_MAX + 1, f);
    fclose(f);
    if (n > TOKEN_MAX) {
        cli_errorf("token file %s: longer than %d bytes", path, TOKEN_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    {
        char *start = buf, *end;
        while (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n')
            start++;
        end = start;
        while (*end && *end != '\r' && *end != '\n')
            end++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = '\0';
        memmove(buf, start, (size_t)(end - start) + 1);
    }
    return buf;
}

/* A token goes into a header: visible ASCII only, so it cannot smuggle a header line in. */
static bool token_ok(const char *t)
{
    if (!*t)
        return false;
    for (; *t; t++)
        if (*t < 0x21 || *t > 0x7e)
            return false;
    return true;
}

int cli_resolve(Cli *cli)
{
    const char *server = cli->server_opt, *env;
    size_t len;
    if (!server && (env = getenv("GSIMCLR_SERVER")) != NULL && *env)
        server = env;
    if (!server)
        server = CLI_DEFAULT_SERVER;
    len = strlen(server);
    while (len > 0 && server[len - 1] == '/')
        len--;
    if (len == 0) {
        cli_errorf("the server URL is empty");
        return CLI_USAGE;
    }
    free(cli->server);
    cli->server = strndup(server, len);
    if (!cli->server) {
        cli_errorf("out of memory");
        return CLI_USAGE;
    }

    free(cli->token);
    cli->token = NULL;
    if (cli->token_opt) {
        cli->token = strdup(cli->token_opt);
    } else if (cli->token_file_opt) {
        if (!(cli->token = read_token_file(cli->token_file_opt)))
            return CLI_USAGE;
    } else if ((env = getenv("GSIMCLR_TOKEN")) != NULL && *env) {
        cli->token = strdup(env);
    } else if ((env = getenv("GSIMCLR_TOKEN_FILE")) != NULL && *env) {
        if (!(cli->token = read_token_file(env)))
            return CLI_USAGE;
    } else {
        return CLI_OK;
    }
    if (!cli->token) {
        cli_errorf("out of memory");
        return CLI_USAGE;
    }
    if (!token_ok(cli->token)) {
        cli_errorf("the token is empty or holds characters other than visible ASCII");
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* ---- the splitter ---- */

void cli_args_init(CliArgs *it, int argc, char **argv, int first, const char *cmd,
                   const CliOpt *opts, Cli *cli)
{
    *it = (CliArgs){.argc = argc, .argv = argv, .i = first, .cmd = cmd, .opts = opts,
                    .cli = cli};
}

static bool table_end(const CliOpt *o)
{
    return !o->name && !o->short_name;
}

static const CliOpt *find_long(const CliOpt *opts, const char *name, size_t len)
{
    for (; opts && !table_end(opts); opts++)
        if (opts->name && strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
            return opts;
    return NULL;
}

static const CliOpt *find_short(const CliOpt *opts, char c)
{
    for (; opts && !table_end(opts); opts++)
        if (opts->short_name && opts->short_name == c)
            return opts;
    return NULL;
}

/* Puts a checked value in its place in base (an options struct, or the Cli). */
static void store(void *base, const CliOpt *o, const char *text, long number)
{
    char *p = (char *)base + o->at;
    switch (o->kind) {
    case CLI_FLAG: *(bool *)p = true; break;
    case CLI_TEXT: *(const char **)p = text; break;
    case CLI_NUMBER: *(CliNumber *)p = (CliNumber){text, number}; break;
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
        it->opt = NULL;
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
                if (o->kind == CLI_FLAG) {
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
                if (o->kind == CLI_FLAG) {
                    cli_usage_error(it->cmd, "option '-%c' takes no value", a[1]);
                    return ARG_ERR;
                }
                value = a + 2;
            }
        }
        if (o->kind != CLI_FLAG && !value) {
            if (it->i >= it->argc) {
                cli_usage_error(it->cmd, "option '%s' needs a value", a);
                return ARG_ERR;
            }
            value = it->argv[it->i++];
        }
        it->arg = value;
        if (global) {
            store(it->cli, o, value, 0);
            continue;
        }
        it->opt = o;
        return (int)(o - it->opts) + 1;
    }
}

/* ---- the option loop ---- */

/* How messages name an option: its short form when it has one, else its long form. */
static const char *opt_spelling(char *buf, size_t n, const CliOpt *o)
{
    if (o->short_name)
        snprintf(buf, n, "-%c", o->short_name);
    else
        snprintf(buf, n, "--%s", o->name);
    return buf;
}

/* Checks an option's value by its kind and hands it to its place or its take. */
static int take_option(const CliArgs *it, const CliOpt *o, void *opts)
{
    char name[64];
    long number = 0;
    if (o->kind == CLI_NUMBER && cli_parse_long(it->arg, o->min, o->max, &number) != 0) {
        if (o->max == LONG_MAX)
            return cli_usage_error(it->cmd, "%s: '%s' is not an integer >= %ld",
                                   opt_spelling(name, sizeof name, o), it->arg, o->min);
        return cli_usage_error(it->cmd, "%s: '%s' is not an integer in %ld..%ld",
                               opt_spelling(name, sizeof name, o), it->arg, o->min, o->max);
    }
    if (o->kind == CLI_TEXT && o->choices) {
        const char *const *c = o->choices;
        while (*c && strcmp(*c, it->arg) != 0)
            c++;
        if (!*c) { /* "neither csv nor json" (a longer list: "neither a, b nor c") */
            char list[256];
            size_t len = 0;
            for (c = o->choices; *c && len < sizeof list; c++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                        c == o->choices ? "" : c[1] ? ", " : " nor ", *c);
            return cli_usage_error(it->cmd, "%s: '%s' is neither %s",
                                   opt_spelling(name, sizeof name, o), it->arg, list);
        }
    }
    if (o->take)
        return o->take(opts, o, it->arg, number);
    store(opts, o, it->arg, number);
    return CLI_GO_ON;
}

/* Takes an operand by what the command expects. */
static int take_operand(const CliCommand *cmd, const CliArgs *it, CliOperands *out)
{
    switch (cmd->operands) {
    case CLI_NO_OPERANDS:
        return cli_usage_error(cmd->name, "unexpected argument '%s'", it->arg);
    case CLI_RUN_ID:
        if (out->n_ids > 0)
            return cli_usage_error(cmd->name, "one run id only ('%s' is extra)", it->arg);
        if (cli_parse_run_id(cmd->name, it->arg, &out->id) != CLI_OK)
            return CLI_USAGE;
        out->n_ids = 1;
        return CLI_GO_ON;
    case CLI_SWEEP_ID:
        if (out->n_ids > 0)
            return cli_usage_error(cmd->name, "one sweep id only ('%s' is extra)", it->arg);
        if (cli_parse_long(it->arg, 1, LONG_MAX, &out->id) != 0)
            return cli_usage_error(cmd->name, "'%s' is not a sweep id (a positive integer)",
                                   it->arg);
        out->n_ids = 1;
        return CLI_GO_ON;
    case CLI_RUN_IDS:
        if (cli_parse_run_id(cmd->name, it->arg, &out->ids[out->n_ids]) != CLI_OK)
            return CLI_USAGE;
        out->n_ids++;
        return CLI_GO_ON;
    case CLI_OPTIONAL_NAME:
        if (out->name)
            return cli_usage_error(cmd->name, "one name only ('%s' is extra)", it->arg);
        if (!*it->arg)
            return cli_usage_error(cmd->name, "the name is empty");
        out->name = it->arg;
        return CLI_GO_ON;
    case CLI_SUBCOMMAND: /* taken by the loop */
        break;
    }
    return CLI_GO_ON;
}

/* At the end of argv: what the command cannot do without. */
static int check_operands(const CliCommand *cmd, const CliOperands *out)
{
    switch (cmd->operands) {
    case CLI_RUN_ID:
        return out->n_ids ? CLI_GO_ON : cli_usage_error(cmd->name, "a run id is needed");
    case CLI_SWEEP_ID:
        return out->n_ids ? CLI_GO_ON : cli_usage_error(cmd->name, "a sweep id is needed");
    case CLI_RUN_IDS:
        return out->n_ids ? CLI_GO_ON : cli_usage_error(cmd->name, "run ids are needed");
    case CLI_SUBCOMMAND:
        fputs("gsimclr: a subcommand is needed\n", stderr);
        cli_command_help(stderr, cmd);
        return CLI_USAGE;
    case CLI_NO_OPERANDS:
    case CLI_OPTIONAL_NAME:
        break;
    }
    return CLI_GO_ON;
}

int cli_command_parse(Cli *cli, const CliCommand *cmd, int argc, char **argv, void *opts,
                      CliOperands *out)
{
    CliArgs it;
    int r, rc = CLI_GO_ON;

    memset(out, 0, sizeof *out);
    if (cmd->operands == CLI_RUN_IDS && !(out->ids = calloc((size_t)argc, sizeof *out->ids))) {
        cli_errorf("out of memory");
        return CLI_RUN_FAILED;
    }
    cli_args_init(&it, argc, argv, 1, cmd->name, cmd->opts, cli);
    while (rc == CLI_GO_ON && (r = cli_args_next(&it)) != ARG_END) {
        if (r == ARG_ERR) {
            rc = CLI_USAGE;
        } else if (r == ARG_HELP) {
            cli_command_help(stdout, cmd);
            rc = CLI_OK;
        } else if (r == ARG_POS && cmd->operands == CLI_SUBCOMMAND) {
            out->next = it.i - 1; /* the rest is the subcommand's */
            return CLI_GO_ON;
        } else if (r == ARG_POS) {
            rc = take_operand(cmd, &it, out);
        } else {
            rc = take_option(&it, it.opt, opts);
        }
    }
    if (rc == CLI_GO_ON)
        rc = check_operands(cmd, out);
    if (rc == CLI_GO_ON && cmd->check)
        rc = cmd->check(opts, cmd->name);
    if (rc == CLI_GO_ON && !cmd->resolve_later) {
        int resolved = cli_resolve(cli);
        if (resolved != CLI_OK)
            rc = resolved;
    }
    if (rc != CLI_GO_ON) {
        free(out->ids);
        memset(out, 0, sizeof *out);
    }
    return rc;
}
