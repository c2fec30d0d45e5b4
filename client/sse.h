/* sse.h — an incremental parser for a text/event-stream (Server-Sent Events, as the WHATWG
 * HTML standard defines it): bytes go in however the network splits them, whole events come
 * out through a callback. Lines end in CRLF, LF or CR (a CR at the end of one chunk and the LF
 * starting the next are one line end); a leading UTF-8 BOM is skipped; comment lines are
 * counted; `data` lines join with "\n"; `id` sets the last event ID, which outlives the event;
 * `retry` takes only digits. As the standard says, an `id` line takes effect when its event
 * is dispatched: a stream cut in the middle of an event resumes from the event before.
 * No network, no allocation per event beyond buffer growth. */
#ifndef GS_CLI_SSE_H
#define GS_CLI_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_SSE_MAX_LINE (16u << 20) /* a longer line or event is an error */

typedef struct {
    const char *type;  /* the event field, "message" when absent */
    const char *data;  /* the data lines joined by "\n" (NUL-terminated; may hold NULs) */
    size_t data_len;
    const char *id;    /* the last event ID so far ("" when none) */
} CliSseEvent;

/* Returns 0 to go on, non-zero to stop (cli_sse_feed then returns that value). */
typedef int (*CliSseFn)(void *ctx, const CliSseEvent *ev);

typedef struct {
    CliSseFn fn;
    void *ctx;
    char *line;             /* the line being collected */
    size_t line_len, line_cap;
    char *data;             /* the event's data being collected */
    size_t data_len, data_cap;
    char type[64];          /* the event's type ("" = message); longer names are cut */
    char id[128];           /* the last event ID: of the last event dispatched */
    char id_buf[128];       /* the id field of the event being read (longer ones ignored) */
    long retry_ms;          /* -1 until a valid retry field */
    unsigned long comments; /* comment lines seen (keep-alives) */
    unsigned long events;   /* events dispatched */
    bool cr;                /* the last byte was CR: an LF right after it ends nothing */
    bool first_line;        /* still before the first line end (BOM check) */
} CliSse;

void cli_sse_init(CliSse *p, CliSseFn fn, void *ctx);
/* Feeds len bytes. 0 when all were consumed; the callback's non-zero value when it asked to
 * stop (the rest of buf is dropped); -1 when a line is longer than CLI_SSE_MAX_LINE or memory
 * ran out. */
int cli_sse_feed(CliSse *p, const char *buf, size_t len);
/* Forgets a partly received line and event (a new connection), keeping the last event ID and
 * retry, as the standard says. */
void cli_sse_reset(CliSse *p);
void cli_sse_free(CliSse *p);

#endif
