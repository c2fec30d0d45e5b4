/* data.c — the subcommands that fetch what a run produced: metrics, clusters (and a
 * cluster's image grid), pseudo-labels and checkpoints. Files are saved through cli_save, so
 * an interrupted download never leaves a half file under the name asked for. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "format.h"
#include "request.h"

#define PATH_LEN 1024
#define METRICS_PAGE 10000
#define METRICS_MAX_PAGES 1000

/* Takes the run id positional argument (once). */
static int take_id(const char *cmd, const char *arg, long *id, bool *have)
{
    if (*have)
        return cli_usage_error(cmd, "one run id only ('%s' is extra)", arg);
    *have = true;
    return cli_parse_run_id(cmd, arg, id);
}

/* Saves path to file and says so (unless the file is standard output). */
static int save_and_report(Cli *cli, const char *path, const char *file, const char *what)
{
    size_t bytes = 0;
    int rc = cli_save(cli, path, file, &bytes);
    if (rc != CLI_OK || strcmp(file, "-") == 0)
        return rc;
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        if (o && cJSON_AddStringToObject(o, "file", file) &&
            cJSON_AddNumberToObject(o, "bytes", (double)bytes))
            cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("saved %s to ", what);
        cli_put_safe(stdout, file);
        printf(" (%zu bytes)\n", bytes);
    }
    return CLI_OK;
}

/* ---- metrics ---- */

enum { M_STAGE = 1, M_NAME, M_CSV };

/* One CSV field: quoted when it holds a comma, a quote or a line end. */
static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* A number for CSV: empty when unknown. */
static char *csv_num(char *buf, size_t n, double v)
{
    if (isfinite(v))
        snprintf(buf, n, "%.0f", v);
    else if (n)
        buf[0] = '\0';
    return buf;
}

/* Fetches every page of a run's metrics into one array (taken by *out). */
static int fetch_metrics(Cli *cli, long id, const char *stage, const char *name, cJSON **out)
{
    cJSON *all = cJSON_CreateArray();
    double after = -1;
    int rc = CLI_OK;
    *out = NULL;
    if (!all) {
        cli_errorf("out of memory");
        return CLI_RUN_FAILED;
    }
    for (int page = 0; page < METRICS_MAX_PAGES; page++) {
        char path[PATH_LEN], num[32];
        CliResponse resp;
        cJSON *root = NULL, *items, *item;
        double last;
        int count = 0;
        snprintf(path, sizeof path, "/v1/runs/%ld/metrics?limit=%d", id, METRICS_PAGE);
        if (after >= 0)
            snprintf(num, sizeof num, "%.0f", after);
        if ((stage && cli_query_add(path, sizeof path, "stage", stage)) ||
            (name && cli_query_add(path, sizeof path, "name", name)) ||
            (after >= 0 && cli_query_add(path, sizeof path, "after", num))) {
            rc = cli_usage_error("metrics", "the query is too long");
            break;
        }
        if ((rc = cli_call_json(cli, "GET", path, NULL, false, &root, &resp)) != CLI_OK)
            break;
        cli_response_free(&resp);
        items = cJSON_GetObjectItemCaseSensitive(root, "metrics");
        /* move the page's items into all */
        while (cJSON_IsArray(items) && (item = cJSON_DetachItemFromArray(items, 0)) != NULL) {
            cJSON_AddItemToArray(all, item);
            count++;
        }
        last = cli_json_num(root, "last_id");
        cJSON_Delete(root);
        /* a short page is the last; so is one that does not move forward */
        if (count < METRICS_PAGE || !isfinite(last) || last <= after)
            break;
        after = last;
    }
    if (rc != CLI_OK) {
        cJSON_Delete(all);
        return rc;
    }
    *out = all;
    return CLI_OK;
}

int cmd_metrics(Cli *cli, int argc, char **argv)
{
    static const CliOpt opts[] = {
        {"stage", 0, true, M_STAGE},
        {"name", 0, true, M_NAME},
        {"csv", 0, false, M_CSV},
        {NULL, 0, false, 0},
    };
    static const char *const headers[] = {"ID", "STAGE", "EPOCH", "STEP",
                                          "NAME", "VALUE", "TIME (UTC)"};
    const char *stage = NULL, *name = NULL;
    bool csv = false, have = false;
    long id = 0;
    CliArgs it;
    cJSON *all = NULL;
    const cJSON *m;
    CliTable t = {0};
    int opt, rc = CLI_OK;

    cli_args_init(&it, argc, argv, 1, argv[0], opts, cli);
    while ((opt = cli_args_next(&it)) != ARG_END) {
        if (cli_help_or_error(opt, argv[0], &rc))
            return rc;
        switch (opt) {
        case M_STAGE: stage = it.arg; break;
        case M_NAME: name = it.arg; break;
        case M_CSV: csv = true; break;
        default:
            if (take_id(argv[0], it.arg, &id, &have) != CLI_OK)
                return CLI_USAGE;
        }
    }
    if (!have)
        return cli_usage_error(argv[0], "a run id is needed");
    if ((rc = cli_resolve(cli)) != CLI_OK)
        return rc;
    if ((rc = fetch_metrics(cli, id, stage, name, &all)) != CLI_OK)
        return rc;
    if (cli->json && !csv) {
        cJSON *o = cJSON_CreateObject();
        cJSON *last = cJSON_GetArrayItem(all, cJSON_GetArraySize(all) - 1);
        double last_id = cli_json_num(last, "id");
        if (!o || !cJSON_AddItemToObject(o, "metrics", all)) {
            cJSON_Delete(o);
            cJSON_Delete(all);
            cli_errorf("out of memory");
            return CLI_RUN_FAILED;
        }
        if (isfinite(last_id))
            cJSON_AddNumberToObject(o, "last_id", last_id);
        else
            cJSON_AddNullToObject(o, "last_id");
        cli_print_json(o);
        cJSON_Delete(o);
        return CLI_OK;
    }
    if (csv)
        printf("id,stage,epoch,step,name,value,time\n");
    else if (cli_table_init(&t, 7, headers, "rlrrlrl")) {
        cJSON_Delete(all);
        cli_errorf("out of memory");
        return CLI_RUN_FAILED;
    }
    cJSON_ArrayForEach(m, all)
    {
        char mid[32], ep[32], step[32], val[48], st[64], nm[64], tm[64];
        const char *time = cli_json_str(m, "time");
        cli_sanitize(st, sizeof st, cli_json_str(m, "stage"));
        cli_sanitize(nm, sizeof nm, cli_json_str(m, "name"));
        if (csv) {
            csv_num(mid, sizeof mid, cli_json_num(m, "id"));
            csv_num(ep, sizeof ep, cli_json_num(m, "epoch"));
            csv_num(step, sizeof step, cli_json_num(m, "step"));
            cli_fmt_float(val, sizeof val, cli_json_num(m, "value"));
            cli_sanitize(tm, sizeof tm, time);
            printf("%s,", mid);
            csv_field(st);
            printf(",%s,%s,", ep, step);
            csv_field(nm);
            printf(",%s,", val);
            csv_field(tm);
            putchar('\n');
        } else {
            cli_fmt_num(mid, sizeof mid, "%.0f", cli_json_num(m, "id"));
            cli_fmt_num(ep, sizeof ep, "%.0f", cli_json_num(m, "epoch"));
            cli_fmt_num(step, sizeof step, "%.0f", cli_json_num(m, "step"));
            cli_fmt_float(val, sizeof val, cli_json_num(m, "value"));
            if (!val[0])
                snprintf(val, sizeof val, "-");
            cli_fmt_time(tm, sizeof tm, time);
            const char *cells[7] = {mid, st, ep, step, nm, val, tm};
            if (cli_table_add(&t, cells)) {
                cli_errorf("out of memory");
                rc = CLI_RUN_FAILED;
                break;
            }
        }
    }
    if (!csv && rc == CLI_OK) {
        if (t.nrows)
            cli_table_print(&t, stdout);
        else
            printf("no metrics\n");
    }
    cli_table_free(&t);
    cJSON_Delete(all);
    return rc;
}

/* ---- clusters ---- */

enum { C_GRID = 1, C_OUT, C_N, C_SCALE };

int cmd_clusters(Cli *cli, int argc, char **argv)
{
    static const CliOpt opts[] = {
        {"grid", 0, true, C_GRID}, {"output", 'o', true, C_OUT},
        {"n", 0, true, C_N},       {"scale", 0, true, C_SCALE},
        {NULL, 0, false, 0},
    };
    static const char *const headers[] = {"CLUSTER", "SIZE", "LABEL", "FRACTION"};
    const char *out = NULL;
    long id = 0, grid = -1, n = -1, scale = -1;
    bool have = false;
    CliArgs it;
    CliResponse resp = {0};
    cJSON *root = NULL;
    const cJSON *clusters, *c;
    CliTable t = {0};
    char path[PATH_LEN];
    int opt, rc = CLI_OK;

    cli_args_init(&it, argc, argv, 1, argv[0], opts, cli);
    while ((opt = cli_args_next(&it)) != ARG_END) {
        if (cli_help_or_error(opt, argv[0], &rc))
            return rc;
        switch (opt) {
        case C_GRID:
            if (cli_opt_long(argv[0], "--grid", it.arg, 0, INT_MAX, &grid))
                return CLI_USAGE;
            break;
        case C_OUT: out = it.arg; break;
        case C_N:
            if (cli_opt_long(argv[0], "--n", it.arg, 1, 256, &n))
                return CLI_USAGE;
            break;
        case C_SCALE:
            if (cli_opt_long(argv[0], "--scale", it.arg, 1, 8, &scale))
                return CLI_USAGE;
            break;
        default:
            if (take_id(argv[0], it.arg, &id, &have) != CLI_OK)
                return CLI_USAGE;
        }
    }
    if (!have)
        return cli_usage_error(argv[0], "a run id is needed");
    if (grid < 0 && (out || n > 0 || scale > 0))
        return cli_usage_error(argv[0], "-o, --n and --scale go with --grid C");
    if (grid >= 0 && !out)
        return cli_usage_error(argv[0], "--grid needs -o FILE.png");
    if ((rc = cli_resolve(cli)) != CLI_OK)
        return rc;

    if (grid >= 0) {
        char what[64];
        int len = snprintf(path, sizeof path, "/v1/runs/%ld/clusters/%ld/grid.png", id, grid);
        if (n > 0)
            len += snprintf(path + len, sizeof path - (size_t)len, "?n=%ld", n);
        if (scale > 0)
            snprintf(path + len, sizeof path - (size_t)len, "%cscale=%ld", n > 0 ? '&' : '?',
                     scale);
        snprintf(what, sizeof what, "the grid of cluster %ld", grid);
        return save_and_report(cli, path, out, what);
    }

    snprintf(path, sizeof path, "/v1/runs/%ld/clusters", id);
    if ((rc = cli_call_json(cli, "GET", path, NULL, false, &root, &resp)) != CLI_OK)
        return rc;
    if (cli->json) {
        cli_print_body(&resp);
        goto done;
    }
    {
        char k[32], imgs[32], purity[32], nmi[32], inertia[32];
        printf("k %s  images %s  purity %s  NMI %s  inertia %s\n",
               cli_fmt_num(k, sizeof k, "%.0f", cli_json_num(root, "k")),
               cli_fmt_num(imgs, sizeof imgs, "%.0f", cli_json_num(root, "n")),
               cli_fmt_pct(purity, sizeof purity, cli_json_num(root, "purity"), 2),
               cli_fmt_num(nmi, sizeof nmi, "%.4f", cli_json_num(root, "nmi")),
               cli_fmt_num(inertia, sizeof inertia, "%.6g", cli_json_num(root, "inertia")));
    }
    clusters = cJSON_GetObjectItemCaseSensitive(root, "clusters");
    if (cli_table_init(&t, 4, headers, "rrrr")) {
        cli_errorf("out of memory");
        rc = CLI_RUN_FAILED;
        goto done;
    }
    cJSON_ArrayForEach(c, (cJSON_IsArray(clusters) ? clusters : NULL))
    {
        char cid[32], size[32], label[32], frac[32];
        const char *cells[4] = {
            cli_fmt_num(cid, sizeof cid, "%.0f", cli_json_num(c, "id")),
            cli_fmt_num(size, sizeof size, "%.0f", cli_json_num(c, "size")),
            cli_fmt_num(label, sizeof label, "%.0f", cli_json_num(c, "label")),
            cli_fmt_pct(frac, sizeof frac, cli_json_num(c, "label_fraction"), 1),
        };
        if (cli_table_add(&t, cells)) {
            cli_errorf("out of memory");
            rc = CLI_RUN_FAILED;
            goto done;
        }
    }
    if (t.nrows) {
        putchar('\n');
        cli_table_print(&t, stdout);
    }
done:
    cli_table_free(&t);
    cJSON_Delete(root);
    cli_response_free(&resp);
    return rc;
}

/* ---- pseudo-labels ---- */

enum { P_OUT = 1, P_FORMAT };

int cmd_pseudo_labels(Cli *cli, int argc, char **argv)
{
    static const CliOpt opts[] = {
        {"output", 'o', true, P_OUT},
        {"format", 0, true, P_FORMAT},
        {NULL, 0, false, 0},
    };
    const char *out = NULL, *format = "csv";
    long id = 0;
    bool have = false;
    CliArgs it;
    char path[128];
    int opt, rc = CLI_OK;

    cli_args_init(&it, argc, argv, 1, argv[0], opts, cli);
    while ((opt = cli_args_next(&it)) != ARG_END) {
        if (cli_help_or_error(opt, argv[0], &rc))
            return rc;
        switch (opt) {
        case P_OUT: out = it.arg; break;
        case P_FORMAT:
            if (strcmp(it.arg, "csv") != 0 && strcmp(it.arg, "json") != 0)
                return cli_usage_error(argv[0], "--format: '%s' is neither csv nor json",
                                       it.arg);
            format = it.arg;
            break;
        default:
            if (take_id(argv[0], it.arg, &id, &have) != CLI_OK)
                return CLI_USAGE;
        }
    }
    if (!have)
        return cli_usage_error(argv[0], "a run id is needed");
    if (!out)
        return cli_usage_error(argv[0], "-o FILE is needed ('-o -' for standard output)");
    if ((rc = cli_resolve(cli)) != CLI_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/runs/%ld/pseudo-labels%s", id,
             strcmp(format, "json") == 0 ? "?format=json" : "");
    return save_and_report(cli, path, out, "the pseudo-labels");
}

/* ---- checkpoint ---- */

enum { K_CKPT = 1, K_OUT, K_LIST };

static int list_checkpoints(const cJSON *list)
{
    static const char *const headers[] = {"ID",    "STAGE", "EPOCH", "BYTES",
                                          "CRC32", "CREATED (UTC)"};
    CliTable t;
    const cJSON *c;
    if (cli_table_init(&t, 6, headers, "rlrrll"))
        return CLI_RUN_FAILED;
    cJSON_ArrayForEach(c, (cJSON_IsArray(list) ? list : NULL))
    {
        char cid[32], ep[32], bytes[32], created[48];
        const char *cells[6] = {
            cli_fmt_num(cid, sizeof cid, "%.0f", cli_json_num(c, "id")),
            cli_json_str(c, "stage"),
            cli_fmt_num(ep, sizeof ep, "%.0f", cli_json_num(c, "epoch")),
            cli_fmt_num(bytes, sizeof bytes, "%.0f", cli_json_num(c, "bytes")),
            cli_json_str(c, "crc32"),
            cli_fmt_time(created, sizeof created, cli_json_str(c, "created_at")),
        };
        if (cli_table_add(&t, cells)) {
            cli_table_free(&t);
            return CLI_RUN_FAILED;
        }
    }
    if (t.nrows)
        cli_table_print(&t, stdout);
    else
        printf("no checkpoints\n");
    cli_table_free(&t);
    return CLI_OK;
}

int cmd_checkpoint(Cli *cli, int argc, char **argv)
{
    static const CliOpt opts[] = {
        {"checkpoint", 'c', true, K_CKPT},
        {"output", 'o', true, K_OUT},
        {"list", 0, false, K_LIST},
        {NULL, 0, false, 0},
    };
    const char *out = NULL;
    long id = 0, ckpt = -1;
    bool have = false, list = false;
    CliArgs it;
    CliResponse resp = {0};
    cJSON *root = NULL;
    const cJSON *arr, *c, *chosen = NULL;
    char path[128], what[160];
    int opt, rc = CLI_OK;

    cli_args_init(&it, argc, argv, 1, argv[0], opts, cli);
    while ((opt = cli_args_next(&it)) != ARG_END) {
        if (cli_help_or_error(opt, argv[0], &rc))
            return rc;
        switch (opt) {
        case K_CKPT:
            if (cli_opt_long(argv[0], "-c", it.arg, 1, LONG_MAX, &ckpt))
                return CLI_USAGE;
            break;
        case K_OUT: out = it.arg; break;
        case K_LIST: list = true; break;
        default:
            if (take_id(argv[0], it.arg, &id, &have) != CLI_OK)
                return CLI_USAGE;
        }
    }
    if (!have)
        return cli_usage_error(argv[0], "a run id is needed");
    if (list && (out || ckpt > 0))
        return cli_usage_error(argv[0], "--list takes neither -c nor -o");
    if (!list && !out)
        return cli_usage_error(argv[0], "-o FILE is needed ('-o -' for standard output)");
    if ((rc = cli_resolve(cli)) != CLI_OK)
        return rc;

    if (ckpt > 0) {
        snprintf(path, sizeof path, "/v1/runs/%ld/checkpoints/%ld", id, ckpt);
        snprintf(what, sizeof what, "checkpoint %ld", ckpt);
        return save_and_report(cli, path, out, what);
    }
    snprintf(path, sizeof path, "/v1/runs/%ld/checkpoints", id);
    if ((rc = cli_call_json(cli, "GET", path, NULL, false, &root, &resp)) != CLI_OK)
        return rc;
    arr = cJSON_GetObjectItemCaseSensitive(root, "checkpoints");
    if (list) {
        if (cli->json)
            cli_print_body(&resp);
        else if ((rc = list_checkpoints(arr)) != CLI_OK)
            cli_errorf("out of memory");
        goto done;
    }
    /* the newest: the highest id (the list is newest first, but ids say it for sure) */
    cJSON_ArrayForEach(c, (cJSON_IsArray(arr) ? arr : NULL))
    {
        double cid = cli_json_num(c, "id");
        if (isfinite(cid) && cid >= 1 && cid < 9e15 &&
            (!chosen || cid > cli_json_num(chosen, "id")))
            chosen = c;
    }
    if (!chosen) {
        cli_errorf("run %ld has no checkpoints", id);
        rc = CLI_REFUSED;
        goto done;
    }
    ckpt = (long)cli_json_num(chosen, "id");
    snprintf(path, sizeof path, "/v1/runs/%ld/checkpoints/%ld", id, ckpt);
    {
        char st[32], ep[32];
        cli_sanitize(st, sizeof st, cli_json_str(chosen, "stage") ? cli_json_str(chosen, "stage")
                                                                  : "?");
        cli_fmt_num(ep, sizeof ep, "%.0f", cli_json_num(chosen, "epoch"));
        snprintf(what, sizeof what, "checkpoint %ld (%s, epoch %s)", ckpt, st, ep);
    }
    rc = save_and_report(cli, path, out, what);
done:
    cJSON_Delete(root);
    cli_response_free(&resp);
    return rc;
}
