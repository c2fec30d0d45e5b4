/* sweeps.c — the subcommands about sweeps: `sweep -f FILE [--wait]` (submit, then follow),
 * `sweep show|cancel|delete ID` and `sweeps`. The table over seeds, the paired differences
 * and the verdict lines are printed from GET /v1/sweeps/{id} as the daemon computed them;
 * nothing here recomputes a statistic. A fraction metric (an accuracy, purity) is shown in
 * percent, its differences in percentage points. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "format.h"
#include "request.h"
#include "runconf.h"

#define PATH_MAX_LEN 128
#define WAIT_POLL_MS 2000L

/* How a metric's values print: percent (and points) for a fraction, else plain. */
typedef struct {
    bool fraction;
} Unit;

static char *fmt_value(char *buf, size_t n, Unit u, double v)
{
    if (!isfinite(v))
        return snprintf(buf, n, "-"), buf;
    if (u.fraction)
        snprintf(buf, n, "%.2f%%", 100 * v);
    else
        snprintf(buf, n, "%.4g", v);
    return buf;
}

/* A difference or a spread: points for a fraction ("+0.31"), else plain, signed when asked. */
static char *fmt_diff(char *buf, size_t n, Unit u, double v, bool sign)
{
    if (!isfinite(v))
        return snprintf(buf, n, "-"), buf;
    if (u.fraction)
        snprintf(buf, n, sign ? "%+.2f" : "%.2f", 100 * v);
    else
        snprintf(buf, n, sign ? "%+.4g" : "%.4g", v);
    return buf;
}

static char *fmt_interval(char *buf, size_t n, Unit u, const cJSON *iv, bool diff)
{
    const cJSON *lo = cJSON_GetArrayItem(iv, 0), *hi = cJSON_GetArrayItem(iv, 1);
    if (!cJSON_IsNumber(lo) || !cJSON_IsNumber(hi))
        return snprintf(buf, n, "-"), buf;
    char a[32], b[32];
    if (diff)
        snprintf(buf, n, "[%s, %s]", fmt_diff(a, sizeof a, u, lo->valuedouble, true),
                 fmt_diff(b, sizeof b, u, hi->valuedouble, true));
    else
        snprintf(buf, n, "[%s, %s]", fmt_value(a, sizeof a, u, lo->valuedouble),
                 fmt_value(b, sizeof b, u, hi->valuedouble));
    return buf;
}

static char *fmt_p(char *buf, size_t n, double p)
{
    if (!isfinite(p))
        snprintf(buf, n, "-");
    else if (p < 0.001)
        snprintf(buf, n, "< 0.001");
    else
        snprintf(buf, n, "= %.2g", p);
    return buf;
}

/* A grid value as text: a string as it is, a number or anything else as JSON. */
static char *value_text(char *buf, size_t n, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        cli_sanitize(buf, n, v->valuestring);
        return buf;
    }
    char *t = v ? cJSON_PrintUnformatted(v) : NULL;
    cli_sanitize(buf, n, t ? t : "-");
    cJSON_free(t);
    return buf;
}

/* What the verdict calls one side of a pair: the method's proper name, else key=value. */
static void side_name(char *buf, size_t n, const char *param, const cJSON *v)
{
    char t[96];
    value_text(t, sizeof t, v);
    if (param && strcmp(param, "method") == 0 && strcmp(t, "gsimclr") == 0)
        snprintf(buf, n, "G-SimCLR");
    else if (param && strcmp(param, "method") == 0 && strcmp(t, "simclr") == 0)
        snprintf(buf, n, "SimCLR");
    else if (param && strcmp(param, "method") == 0 && strcmp(t, "supervised") == 0)
        snprintf(buf, n, "supervised only");
    else
        snprintf(buf, n, "%s=%s", param ? param : "?", t);
}

/* "G-SimCLR - SimCLR: +0.31 points, 95% CI [+0.05, +0.57], p = 0.03 over 5 seeds" */
static void print_verdict(const cJSON *pair, Unit u)
{
    const char *param = cli_json_str(pair, "param"), *where = cli_json_str(pair, "where");
    char a[128], b[128], m[32], iv[96], p[32];
    int n = (int)cli_json_num(pair, "n");
    side_name(a, sizeof a, param, cJSON_GetObjectItemCaseSensitive(pair, "a"));
    side_name(b, sizeof b, param, cJSON_GetObjectItemCaseSensitive(pair, "b"));
    printf("%s - %s", a, b);
    if (where && *where) {
        char w[256];
        printf(" (%s)", cli_sanitize(w, sizeof w, where));
    }
    if (n < 1) {
        printf(": no seed with both results yet\n");
        return;
    }
    printf(": %s%s", fmt_diff(m, sizeof m, u, cli_json_num(pair, "mean"), true),
           u.fraction ? " points" : "");
    if (n >= 2)
        printf(", 95%% CI %s, p %s",
               fmt_interval(iv, sizeof iv, u, cJSON_GetObjectItemCaseSensitive(pair, "ci95"),
                            true),
               fmt_p(p, sizeof p, cli_json_num(pair, "p")));
    printf(" over %d seed%s\n", n, n == 1 ? "" : "s");
}

static int print_sweep(const cJSON *s)
{
    Unit u = {.fraction = cli_json_str(s, "unit") &&
                          strcmp(cli_json_str(s, "unit"), "fraction") == 0};
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(s, "params");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(s, "rows");
    const cJSON *pairs = cJSON_GetObjectItemCaseSensitive(s, "pairs");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(s, "counts");
    const cJSON *shared = cJSON_GetObjectItemCaseSensitive(s, "shared");
    const char *metric = cli_json_str(s, "metric") ? cli_json_str(s, "metric") : "?";
    char name[160], dur[32];

    cli_sanitize(name, sizeof name, cli_json_str(s, "name") ? cli_json_str(s, "name") : "");
    printf("sweep %.0f \"%s\": %s, %.0f runs (%.0f succeeded, %.0f failed, %.0f canceled, "
           "%.0f running, %.0f queued); metric %s\n",
           cli_json_num(s, "id"), name,
           cli_json_str(s, "status") ? cli_json_str(s, "status") : "?", cli_json_num(s, "runs"),
           cli_json_num(counts, "succeeded"), cli_json_num(counts, "failed"),
           cli_json_num(counts, "canceled"), cli_json_num(counts, "running"),
           cli_json_num(counts, "queued"), metric);
    printf("shared stages: %.0f run%s reused an autoencoder or k-means, %s of work saved\n\n",
           cli_json_num(shared, "runs_reused"), cli_json_num(shared, "runs_reused") == 1 ? "" : "s",
           cli_fmt_duration(dur, sizeof dur, cli_json_num(shared, "seconds_saved")));

    /* the table: the row's values, n, mean, sd, intervals, then the other figures */
    static const char *const figures[] = {"linear_top1", "knn_top1", "purity",
                                          "repeat_batches_per_epoch"};
    static const char *const fig_head[] = {"LINEAR", "KNN", "PURITY", "REPEATS"};
    int np = cJSON_GetArraySize(params), nf = 4, ncols = np + 6 + nf;
    const char **headers = calloc((size_t)ncols, sizeof *headers);
    char *align = calloc((size_t)ncols + 1, 1);
    const char **cells = calloc((size_t)ncols, sizeof *cells);
    char (*buf)[96] = calloc((size_t)ncols, sizeof *buf);
    CliTable t = {0};
    int rc = CLI_OK;
    if (!headers || !align || !cells || !buf) {
        cli_errorf("out of memory");
        rc = CLI_RUN_FAILED;
        goto done;
    }
    for (int i = 0; i < np; i++) {
        const cJSON *p = cJSON_GetArrayItem(params, i);
        headers[i] = cJSON_IsString(p) ? p->valuestring : "?";
        align[i] = 'l';
    }
    const char *const mid[] = {"N", "MEAN", "SD", "95% CI (t)", "95% CI (bootstrap)"};
    for (int i = 0; i < 5; i++) {
        headers[np + i] = mid[i];
        align[np + i] = i < 3 ? 'r' : 'l';
    }
    headers[np + 5] = "RUNS";
    align[np + 5] = 'l';
    for (int f = 0; f < nf; f++) {
        headers[np + 6 + f] = fig_head[f];
        align[np + 6 + f] = 'r';
    }
    if (cli_table_init(&t, ncols, headers, align)) {
        cli_errorf("out of memory");
        rc = CLI_RUN_FAILED;
        goto done;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const cJSON *pv = cJSON_GetObjectItemCaseSensitive(r, "params");
        for (int i = 0; i < np; i++)
            cells[i] = value_text(buf[i], sizeof buf[i],
                                  cJSON_GetObjectItemCaseSensitive(pv, headers[i]));
        cells[np] = cli_fmt_num(buf[np], sizeof buf[np], "%.0f", cli_json_num(r, "n"));
        cells[np + 1] = fmt_value(buf[np + 1], sizeof buf[np + 1], u, cli_json_num(r, "mean"));
        cells[np + 2] = fmt_diff(buf[np + 2], sizeof buf[np + 2], u, cli_json_num(r, "sd"), false);
        cells[np + 3] = fmt_interval(buf[np + 3], sizeof buf[np + 3], u,
                                     cJSON_GetObjectItemCaseSensitive(r, "ci95"), false);
        cells[np + 4] = fmt_interval(buf[np + 4], sizeof buf[np + 4], u,
                                     cJSON_GetObjectItemCaseSensitive(r, "bootstrap95"), false);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "counts");
        double ended = cli_json_num(c, "succeeded") + cli_json_num(c, "failed") +
                       cli_json_num(c, "canceled");
        double all = ended + cli_json_num(c, "running") + cli_json_num(c, "queued");
        snprintf(buf[np + 5], sizeof buf[np + 5], "%.0f/%.0f", ended, all);
        cells[np + 5] = buf[np + 5];
        const cJSON *fig = cJSON_GetObjectItemCaseSensitive(r, "figures");
        for (int f = 0; f < nf; f++) {
            double v = cli_json_num(fig, figures[f]);
            char *b = buf[np + 6 + f];
            if (f < 3)
                cli_fmt_pct(b, sizeof buf[0], v, 2);
            else
                cli_fmt_num(b, sizeof buf[0], "%.1f", v);
            cells[np + 6 + f] = b;
        }
        if (cli_table_add(&t, cells)) {
            cli_errorf("out of memory");
            rc = CLI_RUN_FAILED;
            goto done;
        }
    }
    cli_table_print(&t, stdout);

    if (cJSON_GetArraySize(pairs) > 0) {
        printf("\npaired differences (a - b over the seeds both have; paired t-test, "
               "two-sided):\n");
        CliTable d = {0};
        static const char *const dh[] = {"KEY", "A", "B", "WHERE", "N", "MEAN", "95% CI", "P"};
        if (cli_table_init(&d, 8, dh, "llllrrlr")) {
            cli_errorf("out of memory");
            rc = CLI_RUN_FAILED;
            goto done;
        }
        const cJSON *p;
        cJSON_ArrayForEach(p, pairs)
        {
            char k[64], a[96], b[96], w[160], n[16], m[32], iv[96], pv[32];
            cli_sanitize(k, sizeof k, cli_json_str(p, "param") ? cli_json_str(p, "param") : "");
            value_text(a, sizeof a, cJSON_GetObjectItemCaseSensitive(p, "a"));
            value_text(b, sizeof b, cJSON_GetObjectItemCaseSensitive(p, "b"));
            cli_sanitize(w, sizeof w, cli_json_str(p, "where") ? cli_json_str(p, "where") : "");
            cli_fmt_num(n, sizeof n, "%.0f", cli_json_num(p, "n"));
            fmt_diff(m, sizeof m, u, cli_json_num(p, "mean"), true);
            fmt_interval(iv, sizeof iv, u, cJSON_GetObjectItemCaseSensitive(p, "ci95"), true);
            double pval = cli_json_num(p, "p");
            cli_fmt_num(pv, sizeof pv, pval < 0.001 ? "%.1e" : "%.3f", pval);
            const char *row[8] = {k, a, b, w[0] ? w : "-", n, m, iv, pv};
            if (cli_table_add(&d, row)) {
                cli_table_free(&d);
                cli_errorf("out of memory");
                rc = CLI_RUN_FAILED;
                goto done;
            }
        }
        cli_table_print(&d, stdout);
        cli_table_free(&d);
        if (u.fraction)
            printf("(differences in percentage points)\n");
        printf("\n");
        cJSON_ArrayForEach(p, pairs)
            print_verdict(p, u);
    }
done:
    cli_table_free(&t);
    free(headers);
    free(align);
    free(cells);
    free(buf);
    return rc;
}

static int show(Cli *cli, long id, bool csv)
{
    char path[PATH_MAX_LEN];
    if (csv) {
        size_t bytes;
        snprintf(path, sizeof path, "/v1/sweeps/%ld/table.csv", id);
        return cli_save(cli, path, "-", &bytes);
    }
    snprintf(path, sizeof path, "/v1/sweeps/%ld", id);
    CliResponse resp = {0};
    cJSON *s = NULL;
    int rc = cli_call_json(cli, "GET", path, NULL, false, &s, &resp);
    if (rc == CLI_OK) {
        if (cli->json)
            cli_print_body(&resp);
        else
            rc = print_sweep(s);
    }
    cJSON_Delete(s);
    cli_response_free(&resp);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Follows sweep id until none of its runs is queued or running, printing a line whenever
 * its counts change; then its table. Exit 0 when every run succeeded, else 1. */
static int wait_sweep(Cli *cli, long id)
{
    char path[PATH_MAX_LEN], last[160] = "";
    snprintf(path, sizeof path, "/v1/sweeps/%ld", id);
    for (;;) {
        CliResponse resp = {0};
        cJSON *s = NULL;
        int rc = cli_call_json(cli, "GET", path, NULL, false, &s, &resp);
        cli_response_free(&resp);
        if (rc != CLI_OK)
            return rc;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "counts");
        double queued = cli_json_num(c, "queued"), running = cli_json_num(c, "running");
        double ok = cli_json_num(c, "succeeded"), all = cli_json_num(s, "runs");
        char line[160];
        snprintf(line, sizeof line, "sweep %ld: %.0f of %.0f runs ended (%.0f succeeded, %.0f "
                 "failed, %.0f canceled), %.0f running, %.0f queued",
                 id, all - queued - running, all, ok, cli_json_num(c, "failed"),
                 cli_json_num(c, "canceled"), running, queued);
        if (!cli->json && strcmp(line, last) != 0) {
            printf("%s\n", line);
            fflush(stdout);
            snprintf(last, sizeof last, "%s", line);
        }
        if (queued == 0 && running == 0) {
            if (cli->json) {
                cli_print_json(s);
            } else {
                printf("\n");
                rc = print_sweep(s);
            }
            cJSON_Delete(s);
            if (rc != CLI_OK)
                return rc;
            return ok == all ? CLI_OK : CLI_RUN_FAILED;
        }
        cJSON_Delete(s);
        sleep_ms(WAIT_POLL_MS);
    }
}

static int submit(Cli *cli, int argc, char **argv)
{
    SweepOpts o = {0};
    CliOperands none;
    char err[600];
    int rc = cli_command_parse(cli, &CLI_CMD_SWEEP, argc, argv, &o, &none);
    if (rc != CLI_GO_ON)
        return rc;
    cJSON *spec = cli_config_load(o.file, err, sizeof err);
    if (!spec) {
        cli_errorf("%s", err);
        return CLI_USAGE;
    }
    char *body = cJSON_PrintUnformatted(spec);
    cJSON_Delete(spec);
    if (!body) {
        cli_errorf("out of memory");
        return CLI_RUN_FAILED;
    }
    CliResponse resp = {0};
    cJSON *s = NULL;
    rc = cli_call_json(cli, "POST", "/v1/sweeps", body, false, &s, &resp);
    cJSON_free(body);
    double id = cli_json_num(s, "id");
    if (rc == CLI_OK && (!isfinite(id) || id < 1)) {
        cli_errorf("the server's answer to POST /v1/sweeps has no sweep id");
        rc = CLI_REFUSED;
    }
    if (rc == CLI_OK) {
        if (cli->json && !o.wait)
            cli_print_body(&resp);
        else if (!cli->json)
            printf("%.0f\n", id);
        fflush(stdout);
    }
    cJSON_Delete(s);
    cli_response_free(&resp);
    if (rc == CLI_OK && o.wait)
        rc = wait_sweep(cli, (long)id);
    return rc;
}

/* show, cancel, delete: a sweep id. */
static int on_sweep(Cli *cli, const CliCommand *line, int argc, char **argv)
{
    SweepShowOpts o = {0};
    CliOperands op;
    int rc = cli_command_parse(cli, line, argc, argv, line == &CLI_CMD_SWEEP_SHOW ? &o : NULL,
                               &op);
    if (rc != CLI_GO_ON)
        return rc;
    if (line == &CLI_CMD_SWEEP_SHOW)
        return show(cli, op.id, o.csv);
    char path[PATH_MAX_LEN];
    bool cancel = line == &CLI_CMD_SWEEP_CANCEL;
    snprintf(path, sizeof path, cancel ? "/v1/sweeps/%ld/cancel" : "/v1/sweeps/%ld", op.id);
    CliResponse resp = {0};
    cJSON *s = NULL;
    rc = cli_call_json(cli, cancel ? "POST" : "DELETE", path, NULL, !cancel, &s, &resp);
    if (rc == CLI_OK) {
        if (cli->json && cancel)
            cli_print_body(&resp);
        else if (!cli->json)
            printf(cancel ? "sweep %ld: its runs not ended are canceled\n"
                          : "sweep %ld deleted, with its runs\n",
                   op.id);
    }
    cJSON_Delete(s);
    cli_response_free(&resp);
    return rc;
}

int cmd_sweep(Cli *cli, int argc, char **argv)
{
    static const struct {
        const char *word;
        const CliCommand *line;
    } subs[] = {{"show", &CLI_CMD_SWEEP_SHOW},
                {"cancel", &CLI_CMD_SWEEP_CANCEL},
                {"delete", &CLI_CMD_SWEEP_DELETE}};
    for (size_t i = 0; argc > 1 && i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[1], subs[i].word) == 0)
            return on_sweep(cli, subs[i].line, argc - 1, argv + 1);
    return submit(cli, argc, argv);
}

int cmd_sweeps(Cli *cli, int argc, char **argv)
{
    static const char *const headers[] = {"ID", "STATUS", "RUNS", "METRIC", "NAME",
                                          "CREATED (UTC)"};
    ListOpts o = {0};
    CliOperands none;
    char path[PATH_MAX_LEN] = "/v1/sweeps";
    int rc = cli_command_parse(cli, &CLI_CMD_SWEEPS, argc, argv, &o, &none);
    if (rc != CLI_GO_ON)
        return rc;
    if ((o.limit.text && cli_query_add(path, sizeof path, "limit", o.limit.text)) ||
        (o.offset.text && cli_query_add(path, sizeof path, "offset", o.offset.text)))
        return cli_usage_error(argv[0], "the query is too long");
    CliResponse resp = {0};
    cJSON *root = NULL;
    if ((rc = cli_call_json(cli, "GET", path, NULL, false, &root, &resp)) != CLI_OK)
        return rc;
    CliTable t = {0};
    if (cli->json) {
        cli_print_body(&resp);
        goto done;
    }
    if (cli_table_init(&t, 6, headers, "rlrlll")) {
        cli_errorf("out of memory");
        rc = CLI_RUN_FAILED;
        goto done;
    }
    const cJSON *s, *sweeps = cJSON_GetObjectItemCaseSensitive(root, "sweeps");
    cJSON_ArrayForEach(s, (cJSON_IsArray(sweeps) ? sweeps : NULL))
    {
        char id[24], runs[40], name[80], created[40];
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "counts");
        double all = cli_json_num(s, "runs");
        double ended = cli_json_num(c, "succeeded") + cli_json_num(c, "failed") +
                       cli_json_num(c, "canceled");
        cli_fmt_num(id, sizeof id, "%.0f", cli_json_num(s, "id"));
        snprintf(runs, sizeof runs, "%.0f/%.0f", ended, all);
        cli_sanitize(name, sizeof name, cli_json_str(s, "name") ? cli_json_str(s, "name") : "");
        cli_utf8_truncate(name, 40);
        cli_fmt_time(created, sizeof created, cli_json_str(s, "created_at"));
        const char *cells[6] = {id, cli_json_str(s, "status"), runs, cli_json_str(s, "metric"),
                                name, created};
        if (cli_table_add(&t, cells)) {
            cli_errorf("out of memory");
            rc = CLI_RUN_FAILED;
            goto done;
        }
    }
    if (t.nrows == 0)
        printf("no sweeps\n");
    else
        cli_table_print(&t, stdout);
done:
    cli_table_free(&t);
    cJSON_Delete(root);
    cli_response_free(&resp);
    return rc;
}
