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

#define CLI_PROGRESS_MAX_STAGES 8

typedef enum {
    PROGRESS_HUMAN,       /* live block or plain lines */
    PROGRESS_JSON_EVENTS, /* {"event": ..., "id": ..., "data": ...} per line */
    PROGRESS_JSON_FINAL,  /* nothing until the end, then the final run object */
} CliProgressMode;

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
    CliProgressMode mode;
    bool tty;                /* live block instead of plain lines */
    int width;               /* terminal columns: block lines are cut to fit */
    long run_id;
    char name[96];
    char status[16];         /* the run's status, "" before the first run event */
    double progress;         /* 0..1, NAN when unknown */
    CliStageView stages[CLI_PROGRESS_MAX_STAGES];
    int n_stages;
    int drawn;               /* lines of the live block on the screen now */
    char block[2048];        /* the block as last drawn: an unchanged one is not redrawn */
    char plain_stage[16];    /* plain mode: the last (stage, epoch) printed */
    int plain_epoch;
    bool announced;          /* plain mode: the run line was printed */
    bool ended;              /* the end event came */
    cJSON *run;              /* the newest run object (owned) */
} CliProgress;

void cli_progress_init(CliProgress *w, FILE *out, CliProgressMode mode, bool tty, int width);
/* One event (type, data, id as the SSE parser gives them). Returns 1 for the end event, else
 * 0. Malformed data is ignored. */
int cli_progress_event(CliProgress *w, const char *type, const char *data, size_t len,
                    const char *id);
/* A line of the client's own (a reconnect), printed like a log line (human mode only). */
void cli_progress_note(CliProgress *w, const char *msg);
/* The final summary line (human mode) or the final run (PROGRESS_JSON_FINAL). */
void cli_progress_finish(CliProgress *w);
/* Whether the run's status is succeeded, failed or canceled. */
bool cli_progress_done(const CliProgress *w);
/* 0 succeeded, 1 failed or canceled, -1 not ended. */
int cli_progress_exit_code(const CliProgress *w);
void cli_progress_free(CliProgress *w);

/* One stage's line of the live block, at most width-1 code points. */
void cli_progress_stage_line(char *buf, size_t n, const CliStageView *s, int width);

#endif
