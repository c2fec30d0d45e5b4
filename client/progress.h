/* progress.h — what `gsimclr watch` shows while a run's events arrive: it keeps the run's
 * state from the run/progress/end events and prints it. On a terminal, a live block (a run
 * line and one progress-bar line per stage) is redrawn in place with ANSI escapes and log
 * lines scroll above it; elsewhere, plain lines: one per log event, one per epoch change seen
 * in the sampled progress, and one for every stage's end (the run events carry stage statuses,
 * so a stage that ends between two progress samples is still reported).
 * In JSON mode each event is one line of JSON, or (submit --wait --json) only the final run.
 * It reads events, writes to a FILE and never touches the network, so tests drive it with
 * hand-made events. */
#ifndef GS_CLI_PROGRESS_H
#define GS_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define CLI_WATCH_MAX_STAGES 8

typedef enum {
    WATCH_HUMAN,       /* live block or plain lines */
    WATCH_JSON_EVENTS, /* {"event": ..., "id": ..., "data": ...} per line */
    WATCH_JSON_FINAL,  /* nothing until the end, then the final run object */
} CliWatchMode;

typedef struct {
    char name[16];
    char status[16];    /* pending, running, succeeded, failed, canceled, skipped */
    int epoch, epochs;
    long step, steps;
    double loss, items_per_s, eta_s, seconds; /* NAN when unknown */
    bool end_shown;     /* plain mode: the line saying how the stage ended was printed */
} CliStageView;

typedef struct {
    FILE *out;
    CliWatchMode mode;
    bool tty;                /* live block instead of plain lines */
    int width;               /* terminal columns: block lines are cut to fit */
    long run_id;
    char name[96];
    char status[16];         /* the run's status, "" before the first run event */
    double progress;         /* 0..1, NAN when unknown */
    CliStageView stages[CLI_WATCH_MAX_STAGES];
    int n_stages;
    int drawn;               /* lines of the live block on the screen now */
    char block[2048];        /* the block as last drawn: an unchanged one is not redrawn */
    char plain_stage[16];    /* plain mode: the last (stage, epoch) printed */
    int plain_epoch;
    bool announced;          /* plain mode: the run line was printed */
    bool ended;              /* the end event came */
    cJSON *run;              /* the newest run object (owned) */
} CliWatch;

void cli_watch_init(CliWatch *w, FILE *out, CliWatchMode mode, bool tty, int width);
/* One event (type, data, id as the SSE parser gives them). Returns 1 for the end event, else
 * 0. Malformed data is ignored. */
int cli_watch_event(CliWatch *w, const char *type, const char *data, size_t len,
                    const char *id);
/* A line of the client's own (a reconnect), printed like a log line (human mode only). */
void cli_watch_note(CliWatch *w, const char *msg);
/* The final summary line (human mode) or the final run (WATCH_JSON_FINAL). */
void cli_watch_finish(CliWatch *w);
/* Whether the run's status is succeeded, failed or canceled. */
bool cli_watch_done(const CliWatch *w);
/* 0 succeeded, 1 failed or canceled, -1 not ended. */
int cli_watch_exit_code(const CliWatch *w);
void cli_watch_free(CliWatch *w);

/* One stage's line of the live block, at most width-1 code points. */
void cli_watch_stage_line(char *buf, size_t n, const CliStageView *s, int width);

#endif
