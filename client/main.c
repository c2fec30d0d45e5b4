/* main.c — gsimclr, the command-line client of gsimclrd: global options, the environment
 * fallbacks, and dispatch to a subcommand. It may exit with a message (the CLI is allowed to
 * die loudly) but every subcommand returns its exit code here, so resources are freed on one
 * path. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "http.h"

#define TOKEN_MAX 4096

typedef struct {
    const char *name;
    int (*fn)(Cli *, int, char **);
} Command;

static const Command COMMANDS[] = {
    {"submit", cmd_submit},       {"list", cmd_list},
    {"show", cmd_show},           {"watch", cmd_watch},
    {"cancel", cmd_cancel},       {"delete", cmd_delete},
    {"metrics", cmd_metrics},     {"clusters", cmd_clusters},
    {"pseudo-labels", cmd_pseudo_labels}, {"checkpoint", cmd_checkpoint},
    {"compare", cmd_compare},
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

enum { OPT_VERSION = 1 };

int main(int argc, char **argv)
{
    static const CliOpt opts[] = {{"version", 0, false, OPT_VERSION}, {NULL, 0, false, 0}};
    Cli cli = {0};
    CliArgs it;
    const Command *cmd = NULL;
    int rc, opt;

    cli.tty = isatty(STDOUT_FILENO) == 1;
    cli.width = cli.tty ? terminal_width() : 80;
    cli_args_init(&it, argc, argv, 1, NULL, opts, &cli);
    while ((opt = cli_args_next(&it)) != ARG_POS) {
        if (opt == ARG_ERR)
            return CLI_USAGE;
        if (opt == ARG_HELP) {
            cli_usage_main(stdout);
            return CLI_OK;
        }
        if (opt == OPT_VERSION) {
            printf("gsimclr %s (libcurl %s)\n", CLI_VERSION, cli_http_version());
            return CLI_OK;
        }
        if (opt == ARG_END) {
            fputs("gsimclr: a subcommand is needed\n", stderr);
            cli_usage_main(stderr);
            return CLI_USAGE;
        }
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(COMMANDS[i].name, it.arg) == 0)
            cmd = &COMMANDS[i];
    if (!cmd)
        return cli_usage_error(NULL, "unknown subcommand '%s'", it.arg);
    if (cli_http_init() != 0) {
        cli_errorf("cannot initialise libcurl");
        return CLI_RUN_FAILED;
    }
    /* argv[it.i - 1] is the subcommand's name: it becomes the subcommand's argv[0] */
    rc = cmd->fn(&cli, argc - (it.i - 1), argv + (it.i - 1));
    cli_http_cleanup();
    free(cli.server);
    free(cli.token);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        cli_errorf("standard output: %s", strerror(errno));
        rc = CLI_RUN_FAILED;
    }
    return rc;
}
