/* data.c — the subcommands that fetch what a run produced: metrics, clusters (and a
 * cluster's image grid), pseudo-labels, checkpoints, the ONNX encoder and the embeddings. Files are saved through cli_save, so
 * an interrupted download never leaves a half file under the name asked for. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "format.h"
#include "request.h"

#define PATH_LEN 1024
#define METRICS_PAGE 10000
#define METRICS_MAX_PAGES 1000

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
    static const char *const headers[] = {"ID", "STAGE", "EPOCH", "STEP",
                                          "NAME", "VALUE", "TIME (UTC)"};
    MetricsOpts o = {0};
    CliOperands run;
    cJSON *all = NULL;
    const cJSON *m;
    CliTable t = {0};
    int rc;

    if ((rc = cli_command_parse(cli, &CLI_CMD_METRICS, argc, argv, &o, &run)) != CLI_GO_ON)
        return rc;
    if ((rc = fetch_metrics(cli, run.id, o.stage, o.name, &all)) != CLI_OK)
        return rc;
    if (cli->json && !o.csv) {
        cJSON *answer = cJSON_CreateObject();
        cJSON *last = cJSON_GetArrayItem(all, cJSON_GetArraySize(all) - 1);
        double last_id = cli_json_num(last, "id");
        if (!answer || !cJSON_AddItemToObject(answer, "metrics", all)) {
            cJSON_Delete(answer);
            cJSON_Delete(all);
            cli_errorf("out of memory");
            return CLI_RUN_FAILED;
        }
        if (isfinite(last_id))
            cJSON_AddNumberToObject(answer, "last_id", last_id);
        else
            cJSON_AddNullToObject(answer, "last_id");
        cli_print_json(answer);
        cJSON_Delete(answer);
        return CLI_OK;
    }
    if (o.csv)
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
        if (o.csv) {
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
    if (!o.csv && rc == CLI_OK) {
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

int cmd_clusters(Cli *cli, int argc, char **argv)
{
    static const char *const headers[] = {"CLUSTER", "SIZE", "MAJORITY LABEL", "PURITY"};
    ClustersOpts o = {0};
    CliOperands run;
    CliResponse resp = {0};
    cJSON *root = NULL;
    const cJSON *clusters, *c;
    CliTable t = {0};
    char path[PATH_LEN], dataset[256] = "";
    int rc;

    if ((rc = cli_command_parse(cli, &CLI_CMD_CLUSTERS, argc, argv, &o, &run)) != CLI_GO_ON)
        return rc;

    if (o.grid.text) {
        char what[64];
        int len = snprintf(path, sizeof path, "/v1/runs/%ld/clusters/%ld/grid.png", run.id,
                           o.grid.value);
        if (o.n.text)
            len += snprintf(path + len, sizeof path - (size_t)len, "?n=%ld", o.n.value);
        if (o.scale.text)
            snprintf(path + len, sizeof path - (size_t)len, "%cscale=%ld",
                     o.n.text ? '&' : '?', o.scale.value);
        snprintf(what, sizeof what, "the grid of cluster %ld", o.grid.value);
        return save_and_report(cli, path, o.out, what);
    }

    snprintf(path, sizeof path, "/v1/runs/%ld/clusters", run.id);
    if ((rc = cli_call_json(cli, "GET", path, NULL, false, &root, &resp)) != CLI_OK)
        return rc;
    if (cli->json) {
        cli_print_body(&resp);
        goto done;
    }
    /* the run's dataset names its classes (the page shows "3 · Dress" too); without the run
     * the labels stay numbers */
    {
        CliResponse rr = {0};
        cJSON *runj = NULL;
        snprintf(path, sizeof path, "/v1/runs/%ld", run.id);
        if (cli_call_json(cli, "GET", path, NULL, false, &runj, &rr) == CLI_OK) {
            const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(runj, "config");
            const char *ds = cli_json_str(cfg, "dataset");
            if (ds)
                cli_sanitize(dataset, sizeof dataset, ds);
        }
        cJSON_Delete(runj);
        cli_response_free(&rr);
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
    if (cli_table_init(&t, 4, headers, "rrlr")) {
        cli_errorf("out of memory");
        rc = CLI_RUN_FAILED;
        goto done;
    }
    cJSON_ArrayForEach(c, (cJSON_IsArray(clusters) ? clusters : NULL))
    {
        char cid[32], size[32], label[64], frac[32];
        double lab = cli_json_num(c, "label");
        const char *lname = cli_class_name(dataset, lab);
        cli_fmt_num(label, sizeof label, "%.0f", lab);
        if (lname)
            snprintf(label + strlen(label), sizeof label - strlen(label), " \xc2\xb7 %s", lname);
        const char *cells[4] = {
            cli_fmt_num(cid, sizeof cid, "%.0f", cli_json_num(c, "id")),
            cli_fmt_num(size, sizeof size, "%.0f", cli_json_num(c, "size")),
            label,
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

int cmd_pseudo_labels(Cli *cli, int argc, char **argv)
{
    PseudoLabelsOpts o = {.format = "csv"};
    CliOperands run;
    char path[128];
    int rc = cli_command_parse(cli, &CLI_CMD_PSEUDO_LABELS, argc, argv, &o, &run);

    if (rc != CLI_GO_ON)
        return rc;
    /* CSV is the route's default: asked for without a query */
    bool csv = strcmp(o.format, "csv") == 0;
    snprintf(path, sizeof path, "/v1/runs/%ld/pseudo-labels%s%s", run.id,
             csv ? "" : "?format=", csv ? "" : o.format);
    return save_and_report(cli, path, o.out, "the pseudo-labels");
}

/* ---- export, embeddings ---- */

int cmd_export(Cli *cli, int argc, char **argv)
{
    ExportOpts o = {0};
    CliOperands run;
    char path[128], what[64];
    int rc = cli_command_parse(cli, &CLI_CMD_EXPORT, argc, argv, &o, &run);

    if (rc != CLI_GO_ON)
        return rc;
    snprintf(path, sizeof path, "/v1/runs/%ld/model.onnx%s", run.id, o.head ? "?head=1" : "");
    snprintf(what, sizeof what, "the encoder of run %ld%s", run.id,
             o.head ? " with its projection head" : "");
    return save_and_report(cli, path, o.out, what);
}

int cmd_embeddings(Cli *cli, int argc, char **argv)
{
    EmbeddingsOpts o = {.split = "train"};
    CliOperands run;
    char path[128], what[64];
    int rc = cli_command_parse(cli, &CLI_CMD_EMBEDDINGS, argc, argv, &o, &run);

    if (rc != CLI_GO_ON)
        return rc;
    snprintf(path, sizeof path, "/v1/runs/%ld/embeddings?split=%s%s", run.id, o.split,
             o.labels ? "&labels=1" : "");
    snprintf(what, sizeof what, "the %s %s of run %ld", o.split,
             o.labels ? "labels" : "embeddings", run.id);
    return save_and_report(cli, path, o.out, what);
}

/* ---- checkpoint ---- */

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
    CheckpointOpts o = {0};
    CliOperands run;
    CliResponse resp = {0};
    cJSON *root = NULL;
    const cJSON *arr, *c, *chosen = NULL;
    char path[128], what[160];
    long id, ckpt;
    int rc;

    if ((rc = cli_command_parse(cli, &CLI_CMD_CHECKPOINT, argc, argv, &o, &run)) != CLI_GO_ON)
        return rc;
    id = run.id;

    if (o.ckpt.text) {
        snprintf(path, sizeof path, "/v1/runs/%ld/checkpoints/%ld", id, o.ckpt.value);
        snprintf(what, sizeof what, "checkpoint %ld", o.ckpt.value);
        return save_and_report(cli, path, o.out, what);
    }
    snprintf(path, sizeof path, "/v1/runs/%ld/checkpoints", id);
    if ((rc = cli_call_json(cli, "GET", path, NULL, false, &root, &resp)) != CLI_OK)
        return rc;
    arr = cJSON_GetObjectItemCaseSensitive(root, "checkpoints");
    if (o.list) {
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
    rc = save_and_report(cli, path, o.out, what);
done:
    cJSON_Delete(root);
    cli_response_free(&resp);
    return rc;
}
