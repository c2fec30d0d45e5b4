/* runs.c — the subcommands about runs as a whole: submit, list, show, cancel, delete,
 * annotate and compare. Each takes its command line as commands.c declares it, makes its calls through
 * request.c, and prints a table or the server's JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "format.h"
#include "request.h"
#include "runconf.h"
#include "watch.h"

#define PATH_MAX_LEN 1024

/* The stage names in pipeline order, for the tables that list per-stage seconds. */
static const char *const STAGES[] = {"dae", "kmeans", "simclr", "eval"};

/* What show, cancel and delete print once their call has succeeded: an exit code. */
typedef int (*RunReport)(Cli *cli, long id, const cJSON *answer, const CliResponse *resp);

/* The subcommands that take one run id and make one call about it: method on
 * /v1/runs/{id}{suffix}, then report prints the answer. */
static int call_on_run(Cli *cli, const CliCommand *line, int argc, char **argv,
                       const char *method, const char *suffix, bool allow_empty,
                       RunReport report)
{
    char path[64];
    CliOperands run;
    int rc = cli_command_parse(cli, line, argc, argv, NULL, &run);
    CliResponse resp = {0};
    cJSON *answer = NULL;
    if (rc != CLI_GO_ON)
        return rc;
    snprintf(path, sizeof path, "/v1/runs/%ld%s", run.id, suffix);
    if ((rc = cli_call_json(cli, method, path, NULL, allow_empty, &answer, &resp)) != CLI_OK)
        return rc;
    rc = report(cli, run.id, answer, &resp);
    cJSON_Delete(answer);
    cli_response_free(&resp);
    return rc;
}

/* ---- submit ---- */

int cmd_submit(Cli *cli, int argc, char **argv)
{
    SubmitOpts o = {.overrides = calloc((size_t)argc, sizeof *o.overrides)};
    CliOperands none;
    int rc = CLI_OK;
    cJSON *config = NULL, *run = NULL;
    char *body = NULL, err[600];
    CliResponse resp = {0};
    double id;

    if (!o.overrides) {
        cli_errorf("out of memory");
        return CLI_RUN_FAILED;
    }
    if ((rc = cli_command_parse(cli, &CLI_CMD_SUBMIT, argc, argv, &o, &none)) != CLI_GO_ON)
        goto done;

    config = o.file ? cli_config_load(o.file, err, sizeof err) : cJSON_CreateObject();
    if (!config) {
        cli_errorf("%s", o.file ? err : "out of memory");
        rc = o.file ? CLI_USAGE : CLI_RUN_FAILED;
        goto done;
    }
    for (int i = 0; i < o.n_overrides; i++) {
        const CliOverride *ov = &o.overrides[i];
        int r;
        if (!ov->path)
            r = cli_config_assign(config, ov->text, err, sizeof err);
        else
            r = cli_config_set(config, ov->path,
                               ov->number ? cJSON_CreateNumber((double)ov->value)
                                          : cJSON_CreateString(ov->text),
                               err, sizeof err);
        if (r) {
            rc = cli_usage_error(argv[0], "%s", err);
            goto done;
        }
    }
    if ((rc = cli_resolve(cli)) != CLI_OK)
        goto done;
    body = cJSON_PrintUnformatted(config);
    if (!body) {
        cli_errorf("out of memory");
        rc = CLI_RUN_FAILED;
        goto done;
    }
    if ((rc = cli_call_json(cli, "POST", "/v1/runs", body, false, &run, &resp)) != CLI_OK)
        goto done;
    id = cli_json_num(run, "id");
    if (!isfinite(id) || id < 1 || id > 9e15) {
        cli_errorf("the server's answer to POST /v1/runs has no run id");
        rc = CLI_REFUSED;
        goto done;
    }
    if (cli->json && !o.wait)
        cli_print_body(&resp);
    else if (!cli->json)
        printf("%ld\n", (long)id);
    fflush(stdout);
    if (o.wait)
        rc = cli_watch_run(cli, (long)id, cli->json);
done:
    cli_response_free(&resp);
    cJSON_Delete(run);
    cJSON_Delete(config);
    cJSON_free(body);
    free(o.overrides);
    return rc;
}

/* ---- list ---- */

int cmd_list(Cli *cli, int argc, char **argv)
{
    static const char *const headers[] = {"ID",    "STATUS", "METHOD", "NAME",
                                          "PROGRESS", "STAGE", "LINEAR", "CREATED (UTC)"};
    ListOpts o = {0};
    CliOperands none;
    char path[PATH_MAX_LEN] = "/v1/runs";
    CliResponse resp = {0};
    cJSON *root = NULL;
    const cJSON *runs, *run;
    CliTable t = {0};
    int rc;

    if ((rc = cli_command_parse(cli, &CLI_CMD_LIST, argc, argv, &o, &none)) != CLI_GO_ON)
        return rc;
    if ((o.status && cli_query_add(path, sizeof path, "status", o.status)) ||
        (o.method && cli_query_add(path, sizeof path, "method", o.method)) ||
        (o.search && cli_query_add(path, sizeof path, "q", o.search)) ||
        (o.limit.text && cli_query_add(path, sizeof path, "limit", o.limit.text)) ||
        (o.offset.text && cli_query_add(path, sizeof path, "offset", o.offset.text)))
        return cli_usage_error(argv[0], "the query is too long");
    if ((rc = cli_call_json(cli, "GET", path, NULL, false, &root, &resp)) != CLI_OK)
        return rc;
    if (cli->json) {
        cli_print_body(&resp);
        goto done;
    }
    runs = cJSON_GetObjectItemCaseSensitive(root, "runs");
    if (cli_table_init(&t, 8, headers, "rlllrlrl")) {
        cli_errorf("out of memory");
        rc = CLI_RUN_FAILED;
        goto done;
    }
    cJSON_ArrayForEach(run, (cJSON_IsArray(runs) ? runs : NULL))
    {
        char id[24], name[40], prog[16], lin[16], created[40];
        const char *stage = cli_json_str(run, "stage");
        const cJSON *result = cJSON_GetObjectItemCaseSensitive(run, "result");
        cli_fmt_num(id, sizeof id, "%.0f", cli_json_num(run, "id"));
        cli_sanitize(name, sizeof name, cli_json_str(run, "name") ? cli_json_str(run, "name") : "");
        cli_utf8_truncate(name, 30);
        cli_fmt_pct(prog, sizeof prog, cli_json_num(run, "progress"), 0);
        cli_fmt_pct(lin, sizeof lin, cli_json_num(result, "linear_top1"), 2);
        cli_fmt_time(created, sizeof created, cli_json_str(run, "created_at"));
        const char *cells[8] = {id,   cli_json_str(run, "status"), cli_json_str(run, "method"),
                                name, prog, stage ? stage : "-", lin, created};
        if (cli_table_add(&t, cells)) {
            cli_errorf("out of memory");
            rc = CLI_RUN_FAILED;
            goto done;
        }
    }
    if (t.nrows == 0) {
        printf("no runs\n");
    } else {
        double total = cli_json_num(root, "total"), off = cli_json_num(root, "offset");
        cli_table_print(&t, stdout);
        if (isfinite(total) && isfinite(off) && off + t.nrows < total)
            printf("(runs %.0f-%.0f of %.0f; --offset %.0f for more)\n", off + 1,
                   off + t.nrows, total, off + t.nrows);
    }
done:
    cli_table_free(&t);
    cJSON_Delete(root);
    cli_response_free(&resp);
    return rc;
}

/* ---- show ---- */

static void kv(const char *key, const char *value)
{
    printf("  %-22s ", key);
    cli_put_safe(stdout, value ? value : "-");
    putchar('\n');
}

/* A value of several lines (a note): each line under the first in the value's column. */
static void kv_lines(const char *key, const char *value)
{
    printf("  %-22s ", key);
    for (const char *p = value; *p;) {
        size_t n = strcspn(p, "\n");
        char *line = strndup(p, n);
        cli_put_safe(stdout, line ? line : "");
        free(line);
        p += n;
        if (*p == '\n' && *++p)
            printf("\n  %-22s ", "");
    }
    putchar('\n');
}

static void kv_num(const char *key, const char *fmt, double v)
{
    char buf[64];
    kv(key, cli_fmt_num(buf, sizeof buf, fmt, v));
}

static void kv_pct(const char *key, double v)
{
    char buf[32];
    kv(key, cli_fmt_pct(buf, sizeof buf, v, 2));
}

static void kv_secs(const char *key, double v)
{
    char buf[32];
    kv(key, cli_fmt_duration(buf, sizeof buf, v));
}

/* Wall time of a run: finished - started, or NAN. */
static double run_seconds(const cJSON *run)
{
    double t0, t1;
    if (cli_parse_time(cli_json_str(run, "started_at"), &t0) == 0 &&
        cli_parse_time(cli_json_str(run, "finished_at"), &t1) == 0)
        return t1 - t0;
    return NAN;
}

/* Whether the run skips stage `name` (plain SimCLR: dae and kmeans), by its stage list: such a
 * stage took no time, and "0.0s" would say it ran. */
static bool stage_skipped(const cJSON *run, const char *name)
{
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(run, "stages"), *st;
    cJSON_ArrayForEach(st, (cJSON_IsArray(stages) ? stages : NULL))
    {
        const char *n = cli_json_str(st, "name"), *status = cli_json_str(st, "status");
        if (n && status && strcmp(n, name) == 0)
            return strcmp(status, "skipped") == 0;
    }
    return false;
}

static const cJSON *path_item(const cJSON *root, const char *a, const char *b)
{
    const cJSON *o = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, a) : NULL;
    return b ? (cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, b) : NULL) : o;
}

/* A config value for show's summary line: numbers, strings, booleans. */
static void config_part(char *buf, size_t n, const cJSON *cfg, const char *label,
                        const char *a, const char *b)
{
    const cJSON *v = path_item(cfg, a, b);
    size_t len = strlen(buf);
    char val[64];
    if (cJSON_IsNumber(v))
        snprintf(val, sizeof val, "%.10g", v->valuedouble);
    else if (cJSON_IsString(v) && v->valuestring)
        cli_sanitize(val, sizeof val, v->valuestring);
    else if (cJSON_IsBool(v))
        snprintf(val, sizeof val, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else
        return;
    snprintf(buf + len, n - len, "%s%s %s", len ? ", " : "", label, val);
}

/* The run's tags as "a, b, c" into buf; false when it has none. */
static bool tags_text(char *buf, size_t n, const cJSON *run)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(run, "tags"), *t;
    size_t len = 0;
    buf[0] = '\0';
    cJSON_ArrayForEach(t, (cJSON_IsArray(tags) ? tags : NULL))
    {
        if (!cJSON_IsString(t) || len + 3 >= n)
            continue;
        int k = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", t->valuestring);
        len = k < 0 ? len : (size_t)k < n - len ? len + (size_t)k : n - 1;
    }
    return len > 0;
}

/* A fine-tuning fraction as people say it: "1%", "10%", "0.5%". */
static void fraction_label(char *buf, size_t n, double f)
{
    snprintf(buf, n, "%.4g%%", 100.0 * f);
}

/* The result's "finetune" rows as a table; nothing when the run had none. */
static int print_finetune(const cJSON *result)
{
    static const char *const headers[] = {"fine-tuning", "labels", "fine-tuned",
                                          "from scratch", "gain"};
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(result, "finetune"), *r;
    CliTable tab;
    if (!cJSON_IsArray(rows) || cJSON_GetArraySize(rows) == 0)
        return CLI_OK;
    if (cli_table_init(&tab, 5, headers, "lrrrr"))
        return CLI_RUN_FAILED;
    cJSON_ArrayForEach(r, rows)
    {
        char frac[32], labels[32], ft[32], sc[32], gain[32];
        double g = cli_json_num(r, "gain");
        fraction_label(frac, sizeof frac, cli_json_num(r, "fraction"));
        cli_fmt_num(labels, sizeof labels, "%.0f", cli_json_num(r, "labels"));
        cli_fmt_pct(ft, sizeof ft, cli_json_num(r, "finetuned_top1"), 2);
        cli_fmt_pct(sc, sizeof sc, cli_json_num(r, "scratch_top1"), 2);
        if (isfinite(g))
            snprintf(gain, sizeof gain, "%+.2f", 100.0 * g);
        else
            snprintf(gain, sizeof gain, "-");
        const char *cells[5] = {frac, labels, ft, sc, gain};
        if (cli_table_add(&tab, cells)) {
            cli_table_free(&tab);
            return CLI_RUN_FAILED;
        }
    }
    printf("\n");
    cli_table_print(&tab, stdout);
    printf("\n");
    cli_table_free(&tab);
    return CLI_OK;
}

static int print_run(const cJSON *run)
{
    static const char *const headers[] = {"STAGE", "STATUS",   "EPOCH",   "STEP",
                                          "LOSS",  "IMAGES/S", "SECONDS", "ETA"};
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(run, "stages"), *st;
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(run, "result");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(run, "config");
    const char *status = cli_json_str(run, "status"), *name = cli_json_str(run, "name");
    char buf[600], t[32];
    CliTable tab;
    double secs = run_seconds(run);

    printf("run %.0f", cli_json_num(run, "id"));
    if (name && *name) {
        printf(" (");
        cli_put_safe(stdout, name);
        printf(")");
    }
    putchar('\n');
    snprintf(buf, sizeof buf, "%s%s", status ? status : "-",
             cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(run, "cancel_requested")) &&
                     status && strcmp(status, "running") == 0
                 ? " (cancel requested)"
                 : "");
    kv("status", buf);
    kv("method", cli_json_str(run, "method"));
    kv("created (UTC)", cli_fmt_time(buf, sizeof buf, cli_json_str(run, "created_at")));
    kv("started (UTC)", cli_fmt_time(buf, sizeof buf, cli_json_str(run, "started_at")));
    kv("finished (UTC)", cli_fmt_time(buf, sizeof buf, cli_json_str(run, "finished_at")));
    if (isfinite(secs))
        kv("took", cli_fmt_duration(t, sizeof t, secs));
    snprintf(buf, sizeof buf, "%s", "");
    cli_fmt_pct(t, sizeof t, cli_json_num(run, "progress"), 1);
    snprintf(buf, sizeof buf, "%s%s%s", t, cli_json_str(run, "stage") ? ", stage " : "",
             cli_json_str(run, "stage") ? cli_json_str(run, "stage") : "");
    kv("progress", buf);
    if (cli_json_num(run, "resumes") > 0)
        kv_num("resumes", "%.0f", cli_json_num(run, "resumes"));
    if (cli_json_num(run, "processes") > 1) {
        /* a data-parallel run: its processes and, once launched, their hosts in rank order */
        const cJSON *h;
        size_t n = (size_t)snprintf(buf, sizeof buf, "%.0f", cli_json_num(run, "processes"));
        bool first = true;
        cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(run, "hosts"))
        {
            char clean[128];
            if (cJSON_IsString(h) && n + 1 < sizeof buf)
                n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", first ? " on " : ", ",
                                      cli_sanitize(clean, sizeof clean, h->valuestring));
            first = false;
        }
        kv("processes", buf);
    }
    if (tags_text(buf, sizeof buf, run))
        kv("tags", buf);
    if (cli_json_str(run, "note") && *cli_json_str(run, "note"))
        kv_lines("note", cli_json_str(run, "note"));
    buf[0] = '\0';
    config_part(buf, sizeof buf, cfg, "dataset", "dataset", NULL);
    config_part(buf, sizeof buf, cfg, "subset", "subset", NULL);
    config_part(buf, sizeof buf, cfg, "seed", "seed", NULL);
    config_part(buf, sizeof buf, cfg, "threads", "threads", NULL);
    config_part(buf, sizeof buf, cfg, "k", "kmeans", "k");
    config_part(buf, sizeof buf, cfg, "simclr epochs", "simclr", "epochs");
    config_part(buf, sizeof buf, cfg, "batch", "simclr", "batch");
    if (buf[0])
        kv("config", buf);

    if (cJSON_IsArray(stages) && cJSON_GetArraySize(stages) > 0) {
        if (cli_table_init(&tab, 8, headers, "llrrrrrr"))
            return CLI_RUN_FAILED;
        cJSON_ArrayForEach(st, stages)
        {
            char ep[32], step[48], loss[32], ips[32], sec[32], eta[32];
            double e = cli_json_num(st, "epoch"), es = cli_json_num(st, "epochs");
            double s = cli_json_num(st, "step"), ss = cli_json_num(st, "steps");
            const char *sst = cli_json_str(st, "status");
            if (sst && strcmp(sst, "skipped") == 0)
                e = es = s = ss = NAN; /* nothing ran: no "0/0" */
            if (isfinite(e) && isfinite(es))
                snprintf(ep, sizeof ep, "%.0f/%.0f", e, es);
            else
                snprintf(ep, sizeof ep, "-");
            if (isfinite(s) && isfinite(ss))
                snprintf(step, sizeof step, "%.0f/%.0f", s, ss);
            else
                snprintf(step, sizeof step, "-");
            cli_fmt_num(loss, sizeof loss, "%.4f", cli_json_num(st, "loss"));
            cli_fmt_num(ips, sizeof ips, "%.0f", cli_json_num(st, "items_per_s"));
            if (sst && strcmp(sst, "skipped") == 0)
                snprintf(sec, sizeof sec, "skipped");
            else
                cli_fmt_num(sec, sizeof sec, "%.1f", cli_json_num(st, "seconds"));
            if (sst && strcmp(sst, "running") == 0)
                cli_fmt_duration(eta, sizeof eta, cli_json_num(st, "eta_s"));
            else
                snprintf(eta, sizeof eta, "-");
            const char *cells[8] = {cli_json_str(st, "name"), sst, ep, step, loss, ips, sec, eta};
            if (cli_table_add(&tab, cells)) {
                cli_table_free(&tab);
                return CLI_RUN_FAILED;
            }
        }
        printf("\n");
        cli_table_print(&tab, stdout);
        cli_table_free(&tab);
    }
    if (cJSON_IsObject(result)) {
        printf("\nresult\n");
        kv_pct("linear top-1", cli_json_num(result, "linear_top1"));
        kv_pct("linear top-1 (head)", cli_json_num(result, "linear_top1_head"));
        kv_num("linear weight decay", "%g", cli_json_num(result, "linear_weight_decay"));
        kv_pct("kNN top-1", cli_json_num(result, "knn_top1"));
        kv_num("SimCLR loss", "%.4f", cli_json_num(result, "simclr_loss"));
        kv_num("repeat batches/epoch", "%.0f", cli_json_num(result, "repeat_batches_per_epoch"));
        kv_num("k", "%.0f", cli_json_num(result, "k"));
        kv_pct("purity", cli_json_num(result, "purity"));
        kv_num("NMI", "%.4f", cli_json_num(result, "nmi"));
        kv_num("inertia", "%.6g", cli_json_num(result, "inertia"));
        kv_num("DAE loss", "%.5f", cli_json_num(result, "dae_loss"));
        if (print_finetune(result) != CLI_OK)
            return CLI_RUN_FAILED;
        for (size_t i = 0; i < sizeof STAGES / sizeof STAGES[0]; i++) {
            char key[40], field[40];
            snprintf(key, sizeof key, "%s time", STAGES[i]);
            snprintf(field, sizeof field, "%s_seconds", STAGES[i]);
            if (stage_skipped(run, STAGES[i]))
                kv(key, "skipped");
            else
                kv_secs(key, cli_json_num(result, field));
        }
    }
    if (cli_json_str(run, "error")) {
        printf("\nerror: ");
        cli_put_safe(stdout, cli_json_str(run, "error"));
        putchar('\n');
    }
    return CLI_OK;
}

static int report_show(Cli *cli, long id, const cJSON *run, const CliResponse *resp)
{
    int rc = CLI_OK;
    (void)id;
    if (cli->json)
        cli_print_body(resp);
    else if ((rc = print_run(run)) != CLI_OK)
        cli_errorf("out of memory");
    return rc;
}

int cmd_show(Cli *cli, int argc, char **argv)
{
    return call_on_run(cli, &CLI_CMD_SHOW, argc, argv, "GET", "", false, report_show);
}

/* ---- cancel, delete ---- */

static int report_cancel(Cli *cli, long id, const cJSON *run, const CliResponse *resp)
{
    if (cli->json) {
        cli_print_body(resp);
    } else {
        const char *st = cli_json_str(run, "status");
        if (st && strcmp(st, "canceled") == 0)
            printf("run %ld canceled\n", id);
        else
            printf("run %ld: cancel requested; it stops within a training step\n", id);
    }
    return CLI_OK;
}

int cmd_cancel(Cli *cli, int argc, char **argv)
{
    return call_on_run(cli, &CLI_CMD_CANCEL, argc, argv, "POST", "/cancel", false, report_cancel);
}

static int report_delete(Cli *cli, long id, const cJSON *answer, const CliResponse *resp)
{
    (void)answer;
    (void)resp;
    if (cli->json)
        printf("{\"id\":%ld,\"deleted\":true}\n", id);
    else
        printf("run %ld deleted\n", id);
    return CLI_OK;
}

int cmd_delete(Cli *cli, int argc, char **argv)
{
    return call_on_run(cli, &CLI_CMD_DELETE, argc, argv, "DELETE", "", true, report_delete);
}

/* ---- annotate ---- */

int cmd_annotate(Cli *cli, int argc, char **argv)
{
    AnnotateOpts o = {0};
    CliOperands run;
    CliResponse resp = {0};
    cJSON *body = NULL, *answer = NULL, *tags;
    char *text = NULL, path[64], buf[600];
    int rc = cli_command_parse(cli, &CLI_CMD_ANNOTATE, argc, argv, &o, &run);

    if (rc != CLI_GO_ON)
        return rc;
    body = cJSON_CreateObject();
    if (!body)
        goto oom;
    if (o.tags) {
        if (!(tags = cJSON_AddArrayToObject(body, "tags")))
            goto oom;
        /* "a, b,,c" is a, b and c: spaces around a tag and empty ones go */
        for (const char *p = o.tags; *p;) {
            size_t n = strcspn(p, ",");
            const char *a = p, *e = p + n;
            while (a < e && *a == ' ')
                a++;
            while (e > a && e[-1] == ' ')
                e--;
            if (e > a) {
                char *tag = strndup(a, (size_t)(e - a));
                cJSON *item = tag ? cJSON_CreateString(tag) : NULL;
                free(tag);
                if (!item || !cJSON_AddItemToArray(tags, item)) {
                    cJSON_Delete(item);
                    goto oom;
                }
            }
            p += n + (p[n] == ',');
        }
    }
    if (o.note && !cJSON_AddStringToObject(body, "note", o.note))
        goto oom;
    if (!(text = cJSON_PrintUnformatted(body)))
        goto oom;
    snprintf(path, sizeof path, "/v1/runs/%ld", run.id);
    if ((rc = cli_call_json(cli, "PATCH", path, text, false, &answer, &resp)) != CLI_OK)
        goto done;
    if (cli->json) {
        cli_print_body(&resp);
    } else {
        const char *note = cli_json_str(answer, "note");
        printf("run %ld\n", run.id);
        kv("tags", tags_text(buf, sizeof buf, answer) ? buf : "(none)");
        kv_lines("note", note && *note ? note : "(none)");
    }
    goto done;
oom:
    cli_errorf("out of memory");
    rc = CLI_RUN_FAILED;
done:
    cJSON_free(text);
    cJSON_Delete(body);
    cJSON_Delete(answer);
    cli_response_free(&resp);
    return rc;
}

/* ---- compare ---- */

/* The figures compare shows, in row order: a label, and where the value comes from. */
typedef enum { F_TEXT, F_NUM, F_PCT, F_SECS } FigKind;
typedef struct {
    const char *label, *key; /* key in the run (F_TEXT) or its result */
    FigKind kind;
    const char *fmt;
    const char *stage;       /* the stage it comes from: "skipped" when the run skips it */
} Figure;

static const Figure FIGURES[] = {
    {"name", "name", F_TEXT, NULL, NULL},
    {"status", "status", F_TEXT, NULL, NULL},
    {"method", "method", F_TEXT, NULL, NULL},
    {"k", "k", F_NUM, "%.0f", "kmeans"},
    {"purity", "purity", F_PCT, NULL, "kmeans"},
    {"NMI", "nmi", F_NUM, "%.4f", "kmeans"},
    {"repeat batches/epoch", "repeat_batches_per_epoch", F_NUM, "%.0f", "kmeans"},
    {"SimCLR loss", "simclr_loss", F_NUM, "%.4f", NULL},
    {"kNN top-1", "knn_top1", F_PCT, NULL, NULL},
    {"linear top-1", "linear_top1", F_PCT, NULL, NULL},
    {"dae time", "dae_seconds", F_SECS, NULL, "dae"},
    {"kmeans time", "kmeans_seconds", F_SECS, NULL, "kmeans"},
    {"simclr time", "simclr_seconds", F_SECS, NULL, "simclr"},
    {"eval time", "eval_seconds", F_SECS, NULL, "eval"},
    {"total time", NULL, F_SECS, NULL, NULL},
};
#define N_FIGURES (int)(sizeof FIGURES / sizeof FIGURES[0])

/* Figure f of a run as a number (NAN when unknown or skipped); the total is the wall time,
 * else the sum of the stage times. */
static double figure_value(const cJSON *run, const Figure *f)
{
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(run, "result");
    if (f->stage && stage_skipped(run, f->stage))
        return NAN;
    if (f->key)
        return cli_json_num(result, f->key);
    double secs = run_seconds(run), sum = 0;
    if (isfinite(secs))
        return secs;
    for (size_t i = 0; i < sizeof STAGES / sizeof STAGES[0]; i++) {
        char field[40];
        double v;
        snprintf(field, sizeof field, "%s_seconds", STAGES[i]);
        if (stage_skipped(run, STAGES[i]))
            continue;
        v = cli_json_num(result, field);
        if (!isfinite(v))
            return NAN;
        sum += v;
    }
    return sum;
}

/* The result's fine-tuning rows (NULL when none), and the one of fraction f. */
static const cJSON *finetune_rows(const cJSON *run)
{
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(run, "result");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(result, "finetune");
    return cJSON_IsArray(rows) ? rows : NULL;
}

static const cJSON *finetune_row(const cJSON *run, double f)
{
    const cJSON *row;
    cJSON_ArrayForEach(row, finetune_rows(run))
    {
        if (cli_json_num(row, "fraction") == f)
            return row;
    }
    return NULL;
}

static cJSON *compare_json(cJSON *const *runs, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int r = 0; arr && r < n; r++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            goto oom;
        }
        if (!cJSON_AddNumberToObject(o, "id", cli_json_num(runs[r], "id")))
            goto oom;
        for (int i = 0; i < N_FIGURES; i++) {
            const Figure *f = &FIGURES[i];
            const char *key = f->key ? f->key : "total_seconds";
            cJSON *v;
            if (f->kind == F_TEXT) {
                const char *s = cli_json_str(runs[r], f->key);
                v = s ? cJSON_CreateString(s) : cJSON_CreateNull();
            } else {
                double x = figure_value(runs[r], f);
                v = isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
            }
            if (!v || !cJSON_AddItemToObject(o, key, v)) {
                cJSON_Delete(v);
                goto oom;
            }
        }
        /* the fine-tuning rows as the result has them ([] when none) */
        const cJSON *rows = finetune_rows(runs[r]);
        cJSON *copy = rows ? cJSON_Duplicate(rows, true) : cJSON_CreateArray();
        if (!copy || !cJSON_AddItemToObject(o, "finetune", copy)) {
            cJSON_Delete(copy);
            goto oom;
        }
    }
    return arr;
oom:
    cJSON_Delete(arr);
    return NULL;
}

int cmd_compare(Cli *cli, int argc, char **argv)
{
    CliOperands given;
    long *ids;
    cJSON **runs = NULL;
    const char **headers = NULL, **cells = NULL;
    char (*names)[32] = NULL, (*vals)[64] = NULL, *align = NULL;
    CliTable t = {0};
    int n, rc = cli_command_parse(cli, &CLI_CMD_COMPARE, argc, argv, NULL, &given);

    if (rc != CLI_GO_ON)
        return rc;
    ids = given.ids;
    n = given.n_ids;
    runs = calloc((size_t)n, sizeof *runs);
    headers = calloc((size_t)n + 1, sizeof *headers);
    names = calloc((size_t)n + 1, sizeof *names);
    cells = calloc((size_t)n + 1, sizeof *cells);
    vals = calloc((size_t)n + 1, sizeof *vals);
    align = calloc((size_t)n + 2, 1);
    if (!runs || !headers || !names || !cells || !vals || !align) {
        cli_errorf("out of memory");
        rc = CLI_RUN_FAILED;
        goto done;
    }
    for (int r = 0; r < n; r++) {
        CliResponse resp;
        char path[64];
        snprintf(path, sizeof path, "/v1/runs/%ld", ids[r]);
        rc = cli_call_json(cli, "GET", path, NULL, false, &runs[r], &resp);
        cli_response_free(&resp);
        if (rc != CLI_OK)
            goto done;
    }
    if (cli->json) {
        cJSON *arr = compare_json(runs, n);
        if (!arr) {
            cli_errorf("out of memory");
            rc = CLI_RUN_FAILED;
            goto done;
        }
        cli_print_json(arr);
        cJSON_Delete(arr);
        goto done;
    }
    headers[0] = "";
    align[0] = 'l';
    for (int r = 0; r < n; r++) {
        snprintf(names[r], sizeof names[r], "run %ld", ids[r]);
        headers[r + 1] = names[r];
        align[r + 1] = 'r';
    }
    if (cli_table_init(&t, n + 1, headers, align)) {
        cli_errorf("out of memory");
        rc = CLI_RUN_FAILED;
        goto done;
    }
    for (int i = 0; i < N_FIGURES; i++) {
        const Figure *f = &FIGURES[i];
        cells[0] = f->label;
        for (int r = 0; r < n; r++) {
            double x = f->kind == F_TEXT ? NAN : figure_value(runs[r], f);
            if (f->kind == F_TEXT) {
                const char *s = cli_json_str(runs[r], f->key);
                cli_sanitize(vals[r], sizeof vals[r], s && *s ? s : "-");
                cli_utf8_truncate(vals[r], 24);
            } else if (f->stage && stage_skipped(runs[r], f->stage))
                snprintf(vals[r], sizeof vals[r], "skipped");
            else if (f->kind == F_PCT)
                cli_fmt_pct(vals[r], sizeof vals[r], x, 2);
            else if (f->kind == F_SECS)
                cli_fmt_duration(vals[r], sizeof vals[r], x);
            else
                cli_fmt_num(vals[r], sizeof vals[r], f->fmt, x);
            cells[r + 1] = vals[r];
        }
        if (cli_table_add(&t, cells)) {
            cli_errorf("out of memory");
            rc = CLI_RUN_FAILED;
            goto done;
        }
    }
    /* a row per fine-tuning fraction any of the runs has: top-1 and the gain over scratch */
    double fracs[16];
    int nfr = 0;
    for (int r = 0; r < n; r++) {
        const cJSON *rows = finetune_rows(runs[r]), *row;
        cJSON_ArrayForEach(row, rows)
        {
            double f = cli_json_num(row, "fraction");
            int k = 0;
            while (k < nfr && fracs[k] != f)
                k++;
            if (k == nfr && nfr < 16 && isfinite(f))
                fracs[nfr++] = f;
        }
    }
    for (int k = 0; k < nfr; k++) {
        char label[12];
        fraction_label(label, sizeof label, fracs[k]);
        snprintf(names[n], sizeof names[n], "fine-tuned %s (gain)", label);
        cells[0] = names[n];
        for (int r = 0; r < n; r++) {
            const cJSON *row = finetune_row(runs[r], fracs[k]);
            double ft = cli_json_num(row, "finetuned_top1"), g = cli_json_num(row, "gain");
            char pct[32];
            cli_fmt_pct(pct, sizeof pct, ft, 2);
            if (isfinite(g))
                snprintf(vals[r], sizeof vals[r], "%s (%+.2f)", pct, 100.0 * g);
            else
                snprintf(vals[r], sizeof vals[r], "%s", pct);
            cells[r + 1] = vals[r];
        }
        if (cli_table_add(&t, cells)) {
            cli_errorf("out of memory");
            rc = CLI_RUN_FAILED;
            goto done;
        }
    }
    cli_table_print(&t, stdout);
done:
    cli_table_free(&t);
    if (runs)
        for (int r = 0; r < n; r++)
            cJSON_Delete(runs[r]);
    free(ids);
    free(runs);
    free(headers);
    free(names);
    free(cells);
    free(vals);
    free(align);
    return rc;
}
