/* datasets.c — `gsimclr datasets [NAME]`: the daemon's datasets as a table (GET
 * /v1/datasets), one dataset's classes with their counts and its bad files (GET
 * /v1/datasets/NAME), and its preview grid saved to a file. It reads only: nothing on the
 * daemon changes. The name goes into the URL percent-encoded, so whatever is typed reaches the
 * daemon as one path segment, and the daemon judges it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "format.h"
#include "request.h"

#define PATH_LEN 1024
#define NAME_COLS 24
#define CLASS_COLS 40

static void table_oom(int *rc)
{
    cli_errorf("out of memory");
    *rc = CLI_RUN_FAILED;
}

/* "28x28" or "-" */
static char *fmt_size(char *buf, size_t n, const cJSON *d)
{
    double h = cli_json_num(d, "height"), w = cli_json_num(d, "width");
    if (!isfinite(h) || !isfinite(w) || h <= 0 || w <= 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.0fx%.0f", w, h);
    return buf;
}

/* The sizes a folder's decoded cache holds ("32,64"), "no" for none, "-" for other kinds. */
static char *fmt_cached(char *buf, size_t n, const cJSON *d)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "cached"), *v;
    size_t len = 0;
    snprintf(buf, n, "%s", cJSON_IsArray(c) ? "no" : "-");
    cJSON_ArrayForEach(v, (cJSON_IsArray(c) ? c : NULL))
    {
        if (cJSON_IsNumber(v) && len < n)
            len += (size_t)snprintf(buf + len, n - len, "%s%d", len ? "," : "",
                                    (int)v->valuedouble);
    }
    return buf;
}

static int list_datasets(Cli *cli, const cJSON *root)
{
    static const char *const headers[] = {"NAME", "KIND", "TRAIN", "TEST", "CLASSES",
                                          "CH", "SIZE", "CACHED"};
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "datasets"), *d;
    CliTable t = {0};
    int rc = CLI_OK, unusable = 0;
    (void)cli;
    if (cli_table_init(&t, 8, headers, "llrrrrll")) {
        table_oom(&rc);
        return rc;
    }
    cJSON_ArrayForEach(d, (cJSON_IsArray(list) ? list : NULL))
    {
        char name[64], train[24], test[24], classes[24], ch[24], size[32], cached[64];
        bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "available"));
        unusable += !ok;
        cli_sanitize(name, sizeof name, cli_json_str(d, "name") ? cli_json_str(d, "name") : "?");
        cli_utf8_truncate(name, NAME_COLS);
        cli_fmt_num(train, sizeof train, "%.0f", cli_json_num(d, "train"));
        cli_fmt_num(test, sizeof test, "%.0f", cli_json_num(d, "test"));
        if (ok && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "labelled")))
            snprintf(classes, sizeof classes, "none");
        else
            cli_fmt_num(classes, sizeof classes, "%.0f", cli_json_num(d, "classes"));
        cli_fmt_num(ch, sizeof ch, "%.0f", cli_json_num(d, "channels"));
        const char *cells[8] = {name, ok ? cli_json_str(d, "kind") : "unusable", train, test,
                                classes, ch, fmt_size(size, sizeof size, d),
                                fmt_cached(cached, sizeof cached, d)};
        if (cli_table_add(&t, cells)) {
            table_oom(&rc);
            goto done;
        }
    }
    if (t.nrows == 0) {
        printf("no datasets\n");
        goto done;
    }
    cli_table_print(&t, stdout);
    /* why the unusable ones are, one line each */
    cJSON_ArrayForEach(d, (unusable && cJSON_IsArray(list) ? list : NULL))
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "available")))
            continue;
        const char *why = cli_json_str(d, "error");
        cli_put_safe(stdout, cli_json_str(d, "name") ? cli_json_str(d, "name") : "?");
        fputs(": ", stdout);
        cli_put_safe(stdout, why ? why : "not a dataset");
        putchar('\n');
    }
    if (!cli_json_str(root, "data_root"))
        printf("(the daemon has no --data-root: only fashion-mnist)\n");
done:
    cli_table_free(&t);
    return rc;
}

static void kv(const char *key, const char *value)
{
    printf("%-10s ", key);
    cli_put_safe(stdout, value ? value : "-");
    putchar('\n');
}

static int show_dataset(const cJSON *d)
{
    char buf[128], size[32], cached[64];
    bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "available"));
    kv("name", cli_json_str(d, "name"));
    kv("path", cli_json_str(d, "path") ? cli_json_str(d, "path") : "(built in)");
    if (!ok) {
        kv("error", cli_json_str(d, "error"));
        return CLI_OK;
    }
    bool labelled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "labelled"));
    snprintf(buf, sizeof buf, "%s, %s", cli_json_str(d, "kind") ? cli_json_str(d, "kind") : "?",
             labelled ? "labelled" : "unlabelled");
    kv("kind", buf);
    double test = cli_json_num(d, "test");
    snprintf(buf, sizeof buf, "train %.0f, test %s", cli_json_num(d, "train"),
             isfinite(test) && test > 0 ? "" : "none");
    if (isfinite(test) && test > 0)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%.0f", test);
    kv("images", buf);
    snprintf(buf, sizeof buf, "%s, %.0f channel%s", fmt_size(size, sizeof size, d),
             cli_json_num(d, "channels"), cli_json_num(d, "channels") == 1 ? "" : "s");
    kv("size", buf);
    if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(d, "cached")))
        kv("cached", fmt_cached(cached, sizeof cached, d));
    double ignored = cli_json_num(d, "ignored");
    if (isfinite(ignored) && ignored > 0) {
        snprintf(buf, sizeof buf, "%.0f files that are not images", ignored);
        kv("ignored", buf);
    }

    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(d, "class_counts"), *c;
    static const char *const headers[] = {"CLASS", "TRAIN", "TEST"};
    CliTable t = {0};
    int rc = CLI_OK;
    if (cJSON_GetArraySize(counts) > 0) {
        if (cli_table_init(&t, 3, headers, "lrr")) {
            table_oom(&rc);
            return rc;
        }
        cJSON_ArrayForEach(c, counts)
        {
            char name[96], tr[24], te[24];
            cli_sanitize(name, sizeof name, cli_json_str(c, "name") ? cli_json_str(c, "name") : "?");
            cli_utf8_truncate(name, CLASS_COLS);
            cli_fmt_num(tr, sizeof tr, "%.0f", cli_json_num(c, "train"));
            cli_fmt_num(te, sizeof te, "%.0f", cli_json_num(c, "test"));
            const char *cells[3] = {name, tr, te};
            if (cli_table_add(&t, cells)) {
                table_oom(&rc);
                cli_table_free(&t);
                return rc;
            }
        }
        putchar('\n');
        cli_table_print(&t, stdout);
        cli_table_free(&t);
    }
    const cJSON *bad = cJSON_GetObjectItemCaseSensitive(d, "bad_files"), *b;
    if (cJSON_GetArraySize(bad) > 0) {
        printf("\n%d bad file%s (left out of runs with dataset.on_bad_file \"skip\"):\n",
               cJSON_GetArraySize(bad), cJSON_GetArraySize(bad) == 1 ? "" : "s");
        cJSON_ArrayForEach(b, bad)
        {
            fputs("  ", stdout);
            cli_put_safe(stdout, cJSON_IsString(b) ? b->valuestring : "?");
            putchar('\n');
        }
    }
    return rc;
}

int cmd_datasets(Cli *cli, int argc, char **argv)
{
    DatasetsOpts o = {0};
    CliOperands ops;
    CliResponse resp = {0};
    cJSON *root = NULL;
    char path[PATH_LEN] = "/v1/datasets";
    int rc;

    if ((rc = cli_command_parse(cli, &CLI_CMD_DATASETS, argc, argv, &o, &ops)) != CLI_GO_ON)
        return rc;
    if (o.out && !ops.name)
        return cli_usage_error(argv[0], "-o saves a dataset's preview: give its NAME");
    if (ops.name) {
        /* libcurl would fold "." and ".." away as steps of the path (encoded too) */
        if (strcmp(ops.name, ".") == 0 || strcmp(ops.name, "..") == 0 || strchr(ops.name, '/'))
            return cli_usage_error(argv[0], "'%s' is not a dataset name (a folder directly "
                                   "under the daemon's data root)", ops.name);
        char *enc = cli_url_escape(ops.name);
        if (!enc) {
            cli_errorf("out of memory");
            return CLI_RUN_FAILED;
        }
        int n = snprintf(path, sizeof path, "/v1/datasets/%s%s", enc,
                         o.out ? "/preview.png" : "");
        if (n < 0 || (size_t)n >= sizeof path) {
            free(enc);
            return cli_usage_error(argv[0], "the name is too long");
        }
        free(enc);
    }
    if (o.out) {
        size_t bytes = 0;
        if ((rc = cli_save(cli, path, o.out, &bytes)) != CLI_OK || strcmp(o.out, "-") == 0)
            return rc;
        if (cli->json) {
            cJSON *j = cJSON_CreateObject();
            if (j && cJSON_AddStringToObject(j, "file", o.out) &&
                cJSON_AddNumberToObject(j, "bytes", (double)bytes))
                cli_print_json(j);
            cJSON_Delete(j);
        } else {
            printf("saved the preview of ");
            cli_put_safe(stdout, ops.name);
            printf(" to ");
            cli_put_safe(stdout, o.out);
            printf(" (%zu bytes)\n", bytes);
        }
        return CLI_OK;
    }
    if ((rc = cli_call_json(cli, "GET", path, NULL, false, &root, &resp)) != CLI_OK)
        return rc;
    if (cli->json)
        cli_print_body(&resp);
    else
        rc = ops.name ? show_dataset(root) : list_datasets(cli, root);
    cJSON_Delete(root);
    cli_response_free(&resp);
    return rc;
}
