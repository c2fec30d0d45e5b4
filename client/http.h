/* http.h — the client's HTTP calls, a thin wrapper over libcurl (only http.c includes
 * curl.h): a request whose answer is read into memory, a download streamed into a file, and an
 * event stream handed over chunk by chunk. Every call sends the bearer token when there is one,
 * connects within 5 s, and tells "no answer" (CLI_UNREACHABLE) from "an answer" (CLI_OK, with
 * the status to look at). It prints nothing: problems are left in CliResponse.error. */
#ifndef GS_CLI_HTTP_H
#define GS_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli.h"

#define CLI_HTTP_MAX_BODY (256u << 20)  /* an answer read into memory */
#define CLI_HTTP_MAX_ERROR (1u << 20)   /* an error answer's body kept by download/stream */
#define CLI_HTTP_TIMEOUT_S 120L         /* whole request, for requests read into memory */
#define CLI_HTTP_CONNECT_S 5L
#define CLI_STREAM_IDLE_S 45L           /* no byte for this long: the stream is dropped (the
                                         * daemon sends a keep-alive every 15 s) */

typedef struct {
    long status;            /* the HTTP status; 0 when there was no answer */
    char *body;             /* NUL-terminated (NULL when empty); for download/stream only an
                             * error answer's body */
    size_t len;
    char content_type[128];
    bool stopped;           /* stream: the chunk callback asked to stop */
    size_t received;        /* stream/download: body bytes handed over */
    char error[320];        /* why the call failed (when it returns non-zero) */
} CliResponse;

int cli_http_init(void);
/* libcurl's version, e.g. "7.88.1". */
const char *cli_http_version(void);
void cli_http_cleanup(void);
void cli_response_free(CliResponse *r);

/* method "GET", "POST", "DELETE"; path starts with "/" (query included); body (JSON) may be
 * NULL. Returns CLI_OK when the server answered, whatever the status; else CLI_UNREACHABLE,
 * CLI_REFUSED (answer over CLI_HTTP_MAX_BODY), CLI_USAGE (an unusable server URL) or
 * CLI_RUN_FAILED (out of memory), with resp->error set. */
int cli_http_request(const Cli *cli, const char *method, const char *path, const char *body,
                     CliResponse *resp);

/* GET whose 2xx body is written to out as it arrives (no size cap, no total timeout, but a
 * stalled transfer is dropped). Returns as cli_http_request, and CLI_RUN_FAILED when writing
 * out failed. */
int cli_http_download(const Cli *cli, const char *path, FILE *out, CliResponse *resp);

/* Receives one chunk of a 2xx stream body; non-zero stops the transfer. */
typedef int (*CliChunkFn)(void *ctx, const char *data, size_t len);
/* GET of an event stream (Accept: text/event-stream, Last-Event-ID when last_event_id is not
 * NULL or empty), with no total timeout. CLI_OK when the server answered and the stream ended
 * (the server closed it or fn stopped it: resp->stopped); CLI_UNREACHABLE when it could not
 * connect or the connection dropped or went silent. */
int cli_http_stream(const Cli *cli, const char *path, const char *last_event_id,
                    CliChunkFn fn, void *ctx, CliResponse *resp);

/* s percent-encoded for a query string (malloc'd; NULL when out of memory). */
char *cli_url_escape(const char *s);

#endif
