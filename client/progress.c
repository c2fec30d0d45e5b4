/* progress.c — the progress display of watch and submit --wait (see progress.h). The live
 * block is redrawn by moving the cursor up over it and clearing to the end of the screen; its
 * lines fit the terminal width so none wraps (a wrapped line would make the cursor-up count
 * wrong): a stage's bar narrows first, then its least wanted figures go, the ETA last. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "format.h"
#include "progress.h"

#define BAR_WIDTH 24
#define BAR_MIN 8

void cli_progress_init(CliProgress *w, FILE *out, CliProgressMode mode, bool tty, int width)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->mode = mode;
    w->tty = tty;
    w->width = width > 0 ? width : 80;
    w->progress = NAN;
    w->plain_epoch = -1;
}

void cli_progress_free(CliProgress *w)
{
    cJSON_Delete(w->run);
    w->run = NULL;
}

static bool terminal_status(const char *s)
{
    return strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 ||
           strcmp(s, "canceled") == 0;
}

bool cli_progress_done(const CliProgress *w)
{
    return terminal_status(w->status);
}

int cli_progress_exit_code(const CliProgress *w)
{
    if (strcmp(w->status, "succeeded") == 0)
        return 0;
    return cli_progress_done(w) ? 1 : -1;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    cli_sanitize(dst, n, src ? src : "");
}

static int json_int(const cJSON *o, const char *key, int dflt)
{
    double v = cli_json_num(o, key);
    return isfinite(v) && fabs(v) < 2e9 ? (int)v : dflt;
}

static long json_long(const cJSON *o, const char *key, long dflt)
{
    double v = cli_json_num(o, key);
    return isfinite(v) && fabs(v) < 9e15 ? (long)v : dflt;
}

static CliStageView *stage_by_name(CliProgress *w, const char *name, bool add)
{
    char clean[16];
    copy_str(clean, sizeof clean, name);
    for (int i = 0; i < w->n_stages; i++)
        if (strcmp(w->stages[i].name, clean) == 0)
            return &w->stages[i];
    if (!add || w->n_stages == CLI_PROGRESS_MAX_STAGES)
        return NULL;
    CliStageView *s = &w->stages[w->n_stages++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", clean);
    snprintf(s->status, sizeof s->status, "pending");
    s->loss = s->items_per_s = s->eta_s = s->seconds = NAN;
    return s;
}

/* The figures a stage object (of a run event) and a progress event both carry. */
static void take_stage_figures(CliStageView *s, const cJSON *o)
{
    s->epoch = json_int(o, "epoch", s->epoch);
    s->epochs = json_int(o, "epochs", s->epochs);
    s->step = json_long(o, "step", s->step);
    s->steps = json_long(o, "steps", s->steps);
    s->loss = cli_json_num(o, "loss");
    s->items_per_s = cli_json_num(o, "items_per_s");
    s->eta_s = cli_json_num(o, "eta_s");
}

/* Takes the run object of a run or end event. */
static void take_run(CliProgress *w, cJSON *run)
{
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(run, "stages"), *st;
    double id = cli_json_num(run, "id");
    if (isfinite(id))
        w->run_id = (long)id;
    if (cli_json_str(run, "name"))
        copy_str(w->name, sizeof w->name, cli_json_str(run, "name"));
    if (cli_json_str(run, "status"))
        copy_str(w->status, sizeof w->status, cli_json_str(run, "status"));
    w->progress = cli_json_num(run, "progress");
    cJSON_ArrayForEach(st, (cJSON_IsArray(stages) ? stages : NULL))
    {
        const char *name = cli_json_str(st, "name");
        CliStageView *s = name ? stage_by_name(w, name, true) : NULL;
        if (!s)
            continue;
        if (cli_json_str(st, "status"))
            copy_str(s->status, sizeof s->status, cli_json_str(st, "status"));
        take_stage_figures(s, st);
        s->seconds = cli_json_num(st, "seconds");
    }
    cJSON_Delete(w->run);
    w->run = run;
}

static CliStageView *take_progress(CliProgress *w, const cJSON *p)
{
    const char *name = cli_json_str(p, "stage");
    CliStageView *s = name ? stage_by_name(w, name, true) : NULL;
    double prog = cli_json_num(p, "progress");
    if (!s)
        return NULL;
    if (strcmp(s->status, "pending") == 0)
        snprintf(s->status, sizeof s->status, "running");
    take_stage_figures(s, p);
    if (isfinite(prog))
        w->progress = prog;
    return s;
}

static double stage_fraction(const CliStageView *s)
{
    if (strcmp(s->status, "succeeded") == 0)
        return 1.0;
    if (s->steps > 0)
        return (double)s->step / (double)s->steps;
    if (s->epochs > 0)
        return (double)s->epoch / (double)s->epochs;
    return 0.0;
}

/* Appends printf text at buf[*len], never past n bytes. */
__attribute__((format(printf, 4, 5))) static void appendf(char *buf, size_t n, size_t *len,
                                                          const char *fmt, ...)
{
    va_list ap;
    int k;
    if (*len + 1 >= n)
        return;
    va_start(ap, fmt);
    k = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (k > 0)
        *len = (size_t)k < n - *len ? *len + (size_t)k : n - 1;
}

/* A running stage past its last counted step (the autoencoder embedding the images for
 * k-means, a last checkpoint being written): its ETA would say 0 while it still works. */
static bool finishing(const CliStageView *s)
{
    return strcmp(s->status, "running") == 0 && s->steps > 0 && s->step >= s->steps;
}

/* The figures of a stage as parts, in the order shown; *keep are those kept when the line
 * must shorten, most wanted last (the ETA, the reason to look). k-means reports its inertia
 * per point where the training stages report their loss. */
enum { FIG_EPOCH, FIG_LOSS, FIG_RATE, FIG_ETA, FIG_COUNT };

static void figure_parts(char parts[FIG_COUNT][48], const CliStageView *s, bool eta)
{
    char t[32];
    for (int i = 0; i < FIG_COUNT; i++)
        parts[i][0] = '\0';
    if (s->epochs > 0)
        snprintf(parts[FIG_EPOCH], 48, "  epoch %d/%d", s->epoch, s->epochs);
    if (isfinite(s->loss))
        snprintf(parts[FIG_LOSS], 48, strcmp(s->name, "kmeans") == 0 ? "  inertia/pt %.4g"
                                                                      : "  loss %.4f", s->loss);
    if (isfinite(s->items_per_s) && s->items_per_s > 0)
        snprintf(parts[FIG_RATE], 48, "  %.0f img/s", s->items_per_s);
    if (eta && isfinite(s->eta_s) && finishing(s))
        snprintf(parts[FIG_ETA], 48, "  finishing");
    else if (eta && isfinite(s->eta_s) && s->eta_s >= 0)
        snprintf(parts[FIG_ETA], 48, "  ETA %s", cli_fmt_duration(t, sizeof t, s->eta_s));
}

/* "  epoch 2/5  loss 4.3012  812 img/s  ETA 5m02s" without the parts that are unknown. */
static void stage_figures(char *buf, size_t n, size_t *len, const CliStageView *s, bool eta)
{
    char parts[FIG_COUNT][48];
    figure_parts(parts, s, eta);
    for (int i = 0; i < FIG_COUNT; i++)
        appendf(buf, n, len, "%s", parts[i]);
}

void cli_progress_stage_line(char *buf, size_t n, const CliStageView *s, int width)
{
    char bar[BAR_WIDTH + 1], t[32], tail[256], parts[FIG_COUNT][48];
    /* which figure goes first when the line is too long: the rate, then the loss, then the
     * epoch; the ETA stays */
    static const int drop_order[] = {FIG_RATE, FIG_LOSS, FIG_EPOCH};
    double f = stage_fraction(s);
    size_t l = 0, tl = 0, *len = &l;
    int cols = width > 1 ? width - 1 : 1 << 20;
    if (n == 0)
        return;
    buf[0] = tail[0] = '\0';
    f = f > 1 ? 1 : f < 0 ? 0 : f;
    if (strcmp(s->status, "running") == 0) {
        figure_parts(parts, s, true);
        for (int d = 0;; d++) {
            tl = 0;
            tail[0] = '\0';
            for (int i = 0; i < FIG_COUNT; i++)
                appendf(tail, sizeof tail, &tl, "%s", parts[i]);
            /* name, " [", the narrowest bar, "] ", "100%" */
            if (d == 3 || 6 + 2 + BAR_MIN + 2 + 4 + (int)cli_utf8_width(tail) <= cols)
                break;
            parts[drop_order[d]][0] = '\0';
        }
    } else if (strcmp(s->status, "pending") == 0 || strcmp(s->status, "skipped") == 0) {
        appendf(tail, sizeof tail, &tl, "  %s", s->status);
    } else {
        appendf(tail, sizeof tail, &tl, "  %s", s->status);
        if (isfinite(s->seconds))
            appendf(tail, sizeof tail, &tl, " in %s", cli_fmt_duration(t, sizeof t, s->seconds));
        if (isfinite(s->loss))
            appendf(tail, sizeof tail, &tl, strcmp(s->name, "kmeans") == 0 ? "  inertia/pt %.4g"
                                                                          : "  loss %.4f",
                    s->loss);
    }
    int bw = cols - (6 + 2 + 2 + 4) - (int)cli_utf8_width(tail);
    bw = bw > BAR_WIDTH ? BAR_WIDTH : bw < BAR_MIN ? BAR_MIN : bw;
    cli_fmt_bar(bar, sizeof bar, f, bw);
    appendf(buf, n, len, "%-6s [%s] %3d%%%s", s->name, bar, (int)floor(100.0 * f), tail);
    if (width > 1)
        cli_utf8_truncate(buf, (size_t)width - 1);
}

static void run_line(char *buf, size_t n, const CliProgress *w)
{
    char pct[16];
    size_t l = 0, *len = &l;
    buf[0] = '\0';
    appendf(buf, n, len, "run %ld", w->run_id);
    if (w->name[0])
        appendf(buf, n, len, " (%s)", w->name);
    appendf(buf, n, len, ": %s", w->status[0] ? w->status : "connecting");
    if (isfinite(w->progress))
        appendf(buf, n, len, "  %s", cli_fmt_pct(pct, sizeof pct, w->progress, 0));
    if (w->width > 1)
        cli_utf8_truncate(buf, (size_t)w->width - 1);
}

/* Redraws the live block, printing line (a log line) above it first. An unchanged block
 * with no line to add is left alone. */
static void redraw(CliProgress *w, const char *line)
{
    char block[sizeof w->block], buf[512];
    size_t len = 0;
    run_line(buf, sizeof buf, w);
    appendf(block, sizeof block, &len, "%s\n", buf);
    for (int i = 0; i < w->n_stages; i++) {
        cli_progress_stage_line(buf, sizeof buf, &w->stages[i], w->width);
        appendf(block, sizeof block, &len, "%s\n", buf);
    }
    block[len] = '\0';
    if (!line && w->drawn && strcmp(block, w->block) == 0)
        return;
    if (w->drawn)
        fprintf(w->out, "\033[%dA\r\033[J", w->drawn);
    if (line) {
        cli_put_safe(w->out, line);
        fputc('\n', w->out);
    }
    fputs(block, w->out);
    memcpy(w->block, block, len + 1);
    w->drawn = 1 + w->n_stages;
    fflush(w->out);
}

static void plain_line(CliProgress *w, const char *line)
{
    cli_put_safe(w->out, line);
    fputc('\n', w->out);
    fflush(w->out);
}

/* Plain mode: one line for each stage that has ended since the last run event
 * ("simclr  succeeded in 1m20s  epoch 5/5  loss 4.2012"), in stage order. */
static void plain_stage_ends(CliProgress *w)
{
    char line[256], t[32];
    for (int i = 0; i < w->n_stages; i++) {
        CliStageView *s = &w->stages[i];
        size_t l = 0;
        if (s->end_shown || strcmp(s->status, "pending") == 0 ||
            strcmp(s->status, "running") == 0)
            continue;
        appendf(line, sizeof line, &l, "%s  %s", s->name, s->status);
        if (isfinite(s->seconds))
            appendf(line, sizeof line, &l, " in %s", cli_fmt_duration(t, sizeof t, s->seconds));
        if (strcmp(s->status, "skipped") != 0)
            stage_figures(line, sizeof line, &l, s, false);
        plain_line(w, line);
        s->end_shown = true;
    }
}

static void print_json_event(CliProgress *w, const char *type, const cJSON *data,
                             const char *raw, const char *id)
{
    cJSON *o = cJSON_CreateObject();
    char *text;
    if (!o)
        return;
    cJSON_AddStringToObject(o, "event", type);
    if (id && *id)
        cJSON_AddStringToObject(o, "id", id);
    else
        cJSON_AddNullToObject(o, "id");
    if (data)
        cJSON_AddItemToObject(o, "data", cJSON_Duplicate(data, 1));
    else
        cJSON_AddStringToObject(o, "data", raw);
    text = cJSON_PrintUnformatted(o);
    if (text) {
        fprintf(w->out, "%s\n", text);
        fflush(w->out);
    }
    cJSON_free(text);
    cJSON_Delete(o);
}

void cli_progress_note(CliProgress *w, const char *msg)
{
    if (w->mode != PROGRESS_HUMAN)
        return;
    if (w->tty)
        redraw(w, msg);
    else
        plain_line(w, msg);
}

int cli_progress_event(CliProgress *w, const char *type, const char *data, size_t len,
                    const char *id)
{
    cJSON *d = cJSON_ParseWithLength(data, len);
    bool is_run = strcmp(type, "run") == 0, is_end = strcmp(type, "end") == 0;
    int ended = 0;

    if (w->mode == PROGRESS_JSON_EVENTS)
        print_json_event(w, type, d, data, id);
    if (!cJSON_IsObject(d)) { /* malformed: shown in JSON mode, ignored otherwise */
        cJSON_Delete(d);
        return 0;
    }
    if (is_run || is_end) {
        take_run(w, d); /* w owns d now */
        d = NULL;
        if (is_end) {
            w->ended = true;
            ended = 1;
        }
        if (w->mode == PROGRESS_HUMAN) {
            if (w->tty) {
                redraw(w, NULL);
            } else {
                if (!w->announced) {
                    char line[200];
                    snprintf(line, sizeof line, "run %ld%s%s%s: %s", w->run_id,
                             w->name[0] ? " (" : "", w->name, w->name[0] ? ")" : "", w->status);
                    plain_line(w, line);
                    w->announced = true;
                }
                plain_stage_ends(w);
            }
        }
    } else if (strcmp(type, "progress") == 0) {
        CliStageView *s = take_progress(w, d);
        if (s && w->mode == PROGRESS_HUMAN) {
            if (w->tty)
                redraw(w, NULL);
            else if (strcmp(s->name, w->plain_stage) != 0 || s->epoch != w->plain_epoch) {
                char line[256];
                size_t l = (size_t)snprintf(line, sizeof line, "%s", s->name);
                stage_figures(line, sizeof line, &l, s, true);
                plain_line(w, line);
                snprintf(w->plain_stage, sizeof w->plain_stage, "%s", s->name);
                w->plain_epoch = s->epoch;
            }
        }
    } else if (strcmp(type, "log") == 0) {
        const char *msg = cli_json_str(d, "message"), *kind = cli_json_str(d, "kind");
        if (msg && w->mode == PROGRESS_HUMAN) {
            char line[1024];
            /* "status" and "resume" lines are bare words ("running"): say what they are */
            if (kind && (strcmp(kind, "status") == 0 || strcmp(kind, "resume") == 0))
                snprintf(line, sizeof line, "%s: %s", kind, msg);
            else
                snprintf(line, sizeof line, "%s", msg);
            if (w->tty)
                redraw(w, line);
            else
                plain_line(w, line);
        }
    }
    /* metric and unknown events: nothing to show */
    cJSON_Delete(d);
    return ended;
}

void cli_progress_finish(CliProgress *w)
{
    char line[600], t[32], a[16], b[16];
    const cJSON *result;
    double t0, t1, secs = NAN;
    size_t l = 0, *len = &l, n = sizeof line;
    char *buf = line;

    if (w->mode == PROGRESS_JSON_FINAL) {
        char *text = w->run ? cJSON_Print(w->run) : NULL;
        if (text)
            fprintf(w->out, "%s\n", text);
        cJSON_free(text);
        fflush(w->out);
        return;
    }
    if (w->mode != PROGRESS_HUMAN || !w->run)
        return;
    if (cli_parse_time(cli_json_str(w->run, "started_at"), &t0) == 0 &&
        cli_parse_time(cli_json_str(w->run, "finished_at"), &t1) == 0)
        secs = t1 - t0;
    line[0] = '\0';
    appendf(buf, n, len, "run %ld %s", w->run_id, w->status[0] ? w->status : "ended");
    if (isfinite(secs))
        appendf(buf, n, len, " %s %s", strcmp(w->status, "succeeded") == 0 ? "in" : "after",
               cli_fmt_duration(t, sizeof t, secs));
    result = cJSON_GetObjectItemCaseSensitive(w->run, "result");
    if (strcmp(w->status, "succeeded") == 0 && cJSON_IsObject(result)) {
        appendf(buf, n, len, ": linear top-1 %s, kNN top-1 %s",
               cli_fmt_pct(a, sizeof a, cli_json_num(result, "linear_top1"), 2),
               cli_fmt_pct(b, sizeof b, cli_json_num(result, "knn_top1"), 2));
        if (isfinite(cli_json_num(result, "purity")))
            appendf(buf, n, len, ", purity %s, NMI %.3f",
                   cli_fmt_pct(a, sizeof a, cli_json_num(result, "purity"), 1),
                   cli_json_num(result, "nmi"));
    } else if (cli_json_str(w->run, "error")) {
        appendf(buf, n, len, ": %s", cli_json_str(w->run, "error"));
    }
    plain_line(w, line);
}
