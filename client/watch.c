/* watch.c — `gsimclr watch ID` and the waiting half of `submit --wait`: follows
 * GET /v1/runs/{id}/events through the SSE parser into the progress display, and when the
 * stream drops before the run has ended, reconnects with Last-Event-ID a few times, waiting
 * longer each time. The exit code is the run's final status. Ctrl-C stops the watching, not
 * the run: it says so, and how to follow or cancel the run, then exits 130. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "format.h"
#include "http.h"
#include "progress.h"
#include "request.h"
#include "sse.h"
#include "watch.h"

#define WATCH_RETRIES 5
#define WATCH_BACKOFF_MS 500L
#define WATCH_BACKOFF_MAX_MS 8000L

typedef struct {
    CliSse sse;
    CliProgress view;
    bool bad_stream;        /* the parser refused the stream */
    unsigned long events;   /* events on the current connection */
} WatchCtx;

static int on_event(void *ctx, const CliSseEvent *ev)
{
    WatchCtx *c = ctx;
    c->events++;
    return cli_progress_event(&c->view, ev->type, ev->data, ev->data_len, ev->id);
}

static int on_chunk(void *ctx, const char *data, size_t len)
{
    WatchCtx *c = ctx;
    int rc = cli_sse_feed(&c->sse, data, len);
    if (rc < 0)
        c->bad_stream = true;
    return rc != 0;
}

/* What Ctrl-C prints, written before the handler is installed: a signal handler may only
 * write(2) and _exit(2). */
static char g_interrupt_msg[1024];
static size_t g_interrupt_len;

static void on_interrupt(int sig)
{
    (void)sig;
    ssize_t w = write(STDERR_FILENO, g_interrupt_msg, g_interrupt_len);
    (void)w;
    _exit(CLI_INTERRUPTED);
}

/* The message names the run and the commands to use next, with --server when the command
 * line gave one (the environment's server is found again by the same commands). */
static void interrupt_prepare(const Cli *cli, long id, struct sigaction *old)
{
    char server[600] = "";
    if (cli->server_opt) {
        char clean[512];
        cli_sanitize(clean, sizeof clean, cli->server_opt);
        snprintf(server, sizeof server, " --server %s", clean);
    }
    int n = snprintf(g_interrupt_msg, sizeof g_interrupt_msg,
                     "\ngsimclr: stopped watching; run %ld goes on in gsimclrd.\n"
                     "  follow it again:  gsimclr%s watch %ld\n"
                     "  cancel it:        gsimclr%s cancel %ld\n",
                     id, server, id, server, id);
    g_interrupt_len = n < 0 ? 0 : (size_t)n < sizeof g_interrupt_msg ? (size_t)n
                                                                      : sizeof g_interrupt_msg - 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int cli_watch_run(Cli *cli, long id, bool final_json)
{
    WatchCtx c;
    CliProgressMode mode = final_json  ? PROGRESS_JSON_FINAL
                           : cli->json ? PROGRESS_JSON_EVENTS
                                       : PROGRESS_HUMAN;
    char path[64], msg[512];
    bool connected = false;
    int tries = 0, rc;

    memset(&c, 0, sizeof c);
    struct sigaction old_int;
    interrupt_prepare(cli, id, &old_int);
    cli_sse_init(&c.sse, on_event, &c);
    cli_progress_init(&c.view, stdout, mode, cli->tty, cli->width);
    c.view.run_id = id;
    snprintf(path, sizeof path, "/v1/runs/%ld/events", id);

    for (;;) {
        CliResponse resp;
        long delay;
        cli_sse_reset(&c.sse);
        c.events = 0;
        rc = cli_http_stream(cli, path, c.sse.id, on_chunk, &c, &resp);
        if (rc == CLI_OK && (resp.status < 200 || resp.status >= 300)) {
            cli_error_message(msg, sizeof msg, resp.status, resp.body, resp.len);
            cli_response_free(&resp);
            cli_errorf("%s", msg);
            rc = CLI_REFUSED;
            break;
        }
        if (rc == CLI_OK && strncmp(resp.content_type, "text/event-stream", 17) != 0) {
            char ct[sizeof resp.content_type];
            cli_sanitize(ct, sizeof ct, resp.content_type);
            cli_errorf("GET %s answered '%s', not an event stream", path, ct);
            cli_response_free(&resp);
            rc = CLI_REFUSED;
            break;
        }
        if (c.bad_stream) {
            cli_response_free(&resp);
            cli_errorf("the event stream of run %ld is malformed (a line over %u bytes)", id,
                       CLI_SSE_MAX_LINE);
            rc = CLI_REFUSED;
            break;
        }
        if (resp.status >= 200 && resp.status < 300)
            connected = true;
        if (cli_progress_done(&c.view)) { /* the end event, or the stream closed after it ended */
            cli_response_free(&resp);
            rc = CLI_OK;
            break;
        }
        c.view.ended = false; /* an end event with a live status: the daemon stopping */
        if (rc != CLI_OK && rc != CLI_UNREACHABLE) {
            cli_errorf("%s", resp.error);
            cli_response_free(&resp);
            break;
        }
        if (!connected) {
            cli_errorf("%s", resp.error);
            cli_response_free(&resp);
            rc = CLI_UNREACHABLE;
            break;
        }
        /* more than the opening run event on this connection: it was working, start over */
        if (c.events > 1)
            tries = 0;
        if (++tries > WATCH_RETRIES) {
            cli_errorf("lost the event stream of run %ld: %s", id,
                       rc == CLI_OK ? "the server keeps closing it" : resp.error);
            cli_response_free(&resp);
            rc = CLI_UNREACHABLE;
            break;
        }
        delay = c.sse.retry_ms >= 100 && c.sse.retry_ms <= 30000 ? c.sse.retry_ms
                                                                  : WATCH_BACKOFF_MS;
        for (int i = 1; i < tries && delay < WATCH_BACKOFF_MAX_MS; i++)
            delay *= 2;
        if (delay > WATCH_BACKOFF_MAX_MS)
            delay = WATCH_BACKOFF_MAX_MS;
        snprintf(msg, sizeof msg, "(event stream %s; reconnecting in %.1fs, try %d of %d)",
                 rc == CLI_OK ? "closed" : "dropped", (double)delay / 1000.0, tries,
                 WATCH_RETRIES);
        cli_progress_note(&c.view, msg);
        cli_response_free(&resp);
        sleep_ms(delay);
    }
    if (rc == CLI_OK) {
        cli_progress_finish(&c.view);
        rc = cli_progress_exit_code(&c.view) == 0 ? CLI_OK : CLI_RUN_FAILED;
    }
    cli_progress_free(&c.view);
    cli_sse_free(&c.sse);
    sigaction(SIGINT, &old_int, NULL);
    return rc;
}

int cmd_watch(Cli *cli, int argc, char **argv)
{
    CliOperands run;
    int rc = cli_command_parse(cli, &CLI_CMD_WATCH, argc, argv, NULL, &run);
    if (rc != CLI_GO_ON)
        return rc;
    return cli_watch_run(cli, run.id, false);
}
