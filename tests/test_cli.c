/* test_cli.c — the command-line client, bin/gsimclr. Three layers:
 *  - unit tests of its pure parts (the SSE parser, --set values and config merging, tables and
 *    number formats, the option loop and the subcommands' option tables, the progress display),
 *    which this file compiles in by including those client .c files (none of them has network
 *    code): the test binary links the daemon's objects but not the client's, so this needs no
 *    Makefile change, and the client's external names all start with cli_ or CLI_, so nothing
 *    collides;
 *  - the binary (GS_CLI, default bin/gsimclr) against a scripted HTTP server in this process,
 *    for what a real daemon will not do on demand: malformed answers, error bodies, a stream
 *    that drops (Last-Event-ID), a checkpoint download;
 *  - the binary against the real service started in-process on port 0: a tiny run submitted
 *    with --wait and every subcommand on it, then the exit codes.
 * The child's stdout and stderr go to files; sanitizer reports in them fail the test. */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gs/service.h"
#include "harness.h"

/* The client's pure parts, compiled in (see the header comment). */
#include "../client/args.c"
#include "../client/commands.c"
#include "../client/format.c"
#include "../client/progress.c"
#include "../client/runconf.c"
#include "../client/sse.c"

/* Linked only when the daemon's service.c is part of the build; the end-to-end tests skip
 * with a note otherwise. */
#pragma weak service_start
#pragma weak service_port
#pragma weak service_stop
#pragma weak service_config_defaults

/* ---- SSE parser ------------------------------------------------------------------------- */

/* Events as text: "type|id|data\n" each, so two parses compare with strcmp. */
typedef struct {
    char *text;
    size_t len, cap;
    int stop_after;  /* ask the parser to stop after this many events (0: never) */
    int n;
} EvLog;

static int log_event(void *ctx, const CliSseEvent *ev)
{
    EvLog *l = ctx;
    size_t need = strlen(ev->type) + strlen(ev->id) + ev->data_len + 4;
    if (l->len + need + 1 > l->cap) {
        size_t cap = (l->cap + need + 1) * 2;
        char *t = realloc(l->text, cap);
        if (!t)
            return -1;
        l->text = t;
        l->cap = cap;
    }
    l->len += (size_t)sprintf(l->text + l->len, "%s|%s|", ev->type, ev->id);
    memcpy(l->text + l->len, ev->data, ev->data_len);
    l->len += ev->data_len;
    l->text[l->len++] = '\n';
    l->text[l->len] = '\0';
    l->n++;
    return (l->stop_after && l->n >= l->stop_after) ? 7 : 0;
}

/* Parses s fed in the pieces cut at the given offsets (ascending, < len). */
static char *parse_pieces(const char *s, size_t len, const size_t *cuts, int ncuts,
                          CliSse *keep)
{
    CliSse p;
    EvLog l = {0};
    size_t at = 0;
    cli_sse_init(&p, log_event, &l);
    for (int i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        CHECK_INT_EQ(cli_sse_feed(&p, s + at, end - at), 0);
        at = end;
    }
    if (keep)
        *keep = p;
    else
        cli_sse_free(&p);
    if (!l.text)
        l.text = calloc(1, 1);
    return l.text;
}

static char *parse_whole(const char *s)
{
    return parse_pieces(s, strlen(s), NULL, 0, NULL);
}

static const char FIELDS_STREAM[] =
    ": a comment\n"
    "event: run\ndata: {\"id\": 3}\n\n"
    "data: line one\ndata:line two\ndata\n\n"  /* "data" alone is an empty data line */
    "id: 17\nevent: log\ndata: x\n\n"
    "data: y\n\n"                               /* the id outlives its event */
    "event: empty\n\n"                          /* no data: nothing dispatched */
    "retry: 2500\nretry: 12x\n"                 /* only digits count */
    "id: 18\0z\ndata: z\n\n"                    /* an id holding NUL is ignored */
    "unknown: field\ndata:  two spaces\n\n"     /* one space after the colon is dropped */
    "id: 19\ndata: never dispatched";           /* no blank line before the end */

TEST(cli_sse_fields)
{
    CliSse p;
    char *got = parse_pieces(FIELDS_STREAM, sizeof FIELDS_STREAM - 1, NULL, 0, &p);
    CHECK_MSG(strcmp(got, "run||{\"id\": 3}\n"
                          "message||line one\nline two\n\n"
                          "log|17|x\n"
                          "message|17|y\n"
                          "message|17|z\n"
                          "message|17| two spaces\n") == 0,
              "events:\n%s", got);
    CHECK_INT_EQ(p.comments, 1);
    CHECK_INT_EQ(p.retry_ms, 2500);
    CHECK_INT_EQ(p.events, 6);
    /* the id of an event not yet dispatched is not the last event ID (nor after a reset) */
    CHECK(strcmp(p.id, "17") == 0);
    cli_sse_reset(&p);
    CHECK(strcmp(p.id, "17") == 0);
    p.fn = NULL; /* its log lived in parse_pieces */
    CHECK_INT_EQ(cli_sse_feed(&p, "data: w\n\n", 9), 0);
    CHECK(strcmp(p.id, "17") == 0);
    cli_sse_free(&p);
    free(got);
}

/* A stream with every feature, cut at every byte boundary, and fed a byte at a time, must
 * give exactly the events it gives whole. */
TEST(cli_sse_split_everywhere)
{
    const char *s = "\xEF\xBB\xBF: keep-alive\r\n"
                    "event: run\r\ndata: {\"status\": \"running\"}\r\n\r\n"
                    "id: 5\revent: log\rdata: a\rdata: b\r\r"
                    "event: progress\ndata: {\"epoch\": 2}\n\n"
                    "retry: 100\r\nid: 6\r\nevent: end\r\ndata: {}\r\n\r\n";
    size_t len = strlen(s), *cuts = malloc(len * sizeof *cuts);
    char *whole = parse_whole(s);
    CHECK_MSG(strcmp(whole, "run||{\"status\": \"running\"}\n"
                            "log|5|a\nb\n"
                            "progress|5|{\"epoch\": 2}\n"
                            "end|6|{}\n") == 0,
              "whole:\n%s", whole);
    for (size_t i = 1; i < len; i++) {
        char *got = parse_pieces(s, len, &i, 1, NULL);
        CHECK_MSG(strcmp(got, whole) == 0, "cut at %zu:\n%s", i, got);
        free(got);
    }
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    {
        char *got = parse_pieces(s, len, cuts, (int)len - 1, NULL);
        CHECK_MSG(strcmp(got, whole) == 0, "byte at a time:\n%s", got);
        free(got);
    }
    free(cuts);
    free(whole);
}

/* CR at the end of one chunk and LF at the start of the next are one line end, not two (two
 * would make a blank line and dispatch early); a lone CR is a line end of its own. */
TEST(cli_sse_line_ends)
{
    size_t cut;
    const char *s1 = "data: a\r\ndata: b\r\n\r\n";
    cut = 8; /* between the CR and the LF after "a" */
    char *got = parse_pieces(s1, strlen(s1), &cut, 1, NULL);
    CHECK_MSG(strcmp(got, "message||a\nb\n") == 0, "%s", got);
    free(got);
    got = parse_whole("data: a\rdata: b\r\rdata: c\n\r\n");
    CHECK_MSG(strcmp(got, "message||a\nb\nmessage||c\n") == 0, "%s", got);
    free(got);
    /* a BOM only at the very start */
    got = parse_whole("\xEF\xBB\xBF" "data: x\n\n\xEF\xBB\xBF" "data: y\n\n");
    CHECK_MSG(strcmp(got, "message||x\n") == 0, "%s", got); /* the second is a bad field */
    free(got);
}

TEST(cli_sse_stop_reset_limits)
{
    CliSse p;
    EvLog l = {.stop_after = 1};
    const char *two = "data: 1\n\ndata: 2\n\n";
    char *big;
    cli_sse_init(&p, log_event, &l);
    CHECK_INT_EQ(cli_sse_feed(&p, two, strlen(two)), 7); /* the callback's value */
    CHECK_INT_EQ(l.n, 1);
    /* reset forgets the partial event but keeps the id */
    l.stop_after = 0;
    CHECK_INT_EQ(cli_sse_feed(&p, "id: 9\ndata: partial", 19), 0);
    cli_sse_reset(&p);
    CHECK_INT_EQ(cli_sse_feed(&p, "\ndata: after\n\n", 14), 0);
    /* "id: 9" belonged to an event never dispatched */
    CHECK_MSG(l.text && strcmp(l.text, "message||1\nmessage||after\n") == 0, "%s",
              l.text ? l.text : "(none)");
    cli_sse_free(&p);
    free(l.text);

    /* a line over the cap is refused, however it arrives */
    big = malloc(CLI_SSE_MAX_LINE + 16);
    CHECK(big != NULL);
    if (!big)
        return;
    memset(big, 'x', CLI_SSE_MAX_LINE + 16);
    memcpy(big, "data: ", 6);
    cli_sse_init(&p, NULL, NULL);
    CHECK_INT_EQ(cli_sse_feed(&p, big, CLI_SSE_MAX_LINE / 2), 0);
    CHECK_INT_EQ(cli_sse_feed(&p, big + 6, CLI_SSE_MAX_LINE), -1);
    cli_sse_free(&p);
    cli_sse_init(&p, NULL, NULL);
    big[CLI_SSE_MAX_LINE + 8] = '\n';
    CHECK_INT_EQ(cli_sse_feed(&p, big, CLI_SSE_MAX_LINE + 9), -1);
    cli_sse_free(&p);
    free(big);
}

/* ---- --set values and the submitted configuration ---------------------------------------- */

static char *json_text(const cJSON *v)
{
    char *t = cJSON_PrintUnformatted(v);
    return t ? t : strdup("(null)");
}

TEST(cli_set_value_types)
{
    static const struct {
        const char *in, *json; /* NULL json: refused */
    } cases[] = {
        {"true", "true"},         {"false", "false"},      {"null", "null"},
        {"0", "0"},               {"-3", "-3"},            {"0.2", "0.2"},
        {"1e-6", "1e-06"},        {"2E3", "2000"},         {"256", "256"},
        {"cnn3", "\"cnn3\""},     {"007", "\"007\""},      {"1.", "\"1.\""},
        {".5", "\".5\""},         {"+1", "\"+1\""},        {"0x10", "\"0x10\""},
        {"inf", "\"inf\""},       {"nan", "\"nan\""},      {"1e999", "\"1e999\""},
        {"", "\"\""},             {"True", "\"True\""},    {"a b", "\"a b\""},
        {"[8,16,32]", "[8,16,32]"}, {"[0.5, 1]", "[0.5,1]"},
        {"{\"arch\":\"cnn3\"}", "{\"arch\":\"cnn3\"}"},
        {"\"42\"", "\"42\""},     {"\"true\"", "\"true\""},
        {"[1,2", NULL},           {"{bad}", NULL},         {"\"open", NULL},
        {"[1] x", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[300] = "";
        cJSON *v = cli_value_parse(cases[i].in, err, sizeof err);
        if (!cases[i].json) {
            CHECK_MSG(v == NULL && err[0], "'%s' should be refused", cases[i].in);
        } else {
            char *t = v ? json_text(v) : strdup("(refused)");
            CHECK_MSG(strcmp(t, cases[i].json) == 0, "'%s' -> %s, want %s (%s)", cases[i].in,
                      t, cases[i].json, err);
            free(t);
        }
        cJSON_Delete(v);
    }
}

TEST(cli_config_merge)
{
    char dir[] = "/tmp/gs_cli_XXXXXX", path[128], err[600];
    cJSON *cfg;
    char *t;
    FILE *f;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/c.json", dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("{\"name\": \"file\", \"simclr\": {\"epochs\": 5, \"encoder\": {\"arch\": \"resnet\"}},"
          " \"kmeans\": 3}\n",
          f);
    fclose(f);
    cfg = cli_config_load(path, err, sizeof err);
    CHECK_MSG(cfg != NULL, "%s", err);
    if (!cfg)
        return;
    CHECK_INT_EQ(cli_config_assign(cfg, "simclr.epochs=2", err, sizeof err), 0);
    CHECK_INT_EQ(cli_config_assign(cfg, "simclr.encoder.width=8", err, sizeof err), 0);
    CHECK_INT_EQ(cli_config_assign(cfg, "simclr.augment.crop_scale=[0.5,1]", err, sizeof err),
                 0);
    CHECK_INT_EQ(cli_config_assign(cfg, "dae.filters=[8,16,32]", err, sizeof err), 0);
    CHECK_INT_EQ(cli_config_assign(cfg, "subset_random=true", err, sizeof err), 0);
    CHECK_INT_EQ(cli_config_assign(cfg, "name=a=b", err, sizeof err), 0); /* first = splits */
    CHECK_INT_EQ(cli_config_set(cfg, "seed", cJSON_CreateNumber(7), err, sizeof err), 0);
    t = json_text(cfg);
    CHECK_MSG(strcmp(t, "{\"name\":\"a=b\",\"simclr\":{\"epochs\":2,\"encoder\":{\"arch\":"
                        "\"resnet\",\"width\":8},\"augment\":{\"crop_scale\":[0.5,1]}},"
                        "\"kmeans\":3,\"dae\":{\"filters\":[8,16,32]},\"subset_random\":true,"
                        "\"seed\":7}") == 0,
              "%s", t);
    free(t);
    /* refused: through a non-object, empty parts, no '=', bad JSON */
    CHECK(cli_config_assign(cfg, "kmeans.k=4", err, sizeof err) == -1 &&
          strstr(err, "kmeans is not an object"));
    CHECK(cli_config_assign(cfg, "simclr..epochs=4", err, sizeof err) == -1 &&
          strstr(err, "empty"));
    CHECK(cli_config_assign(cfg, ".x=4", err, sizeof err) == -1);
    CHECK(cli_config_assign(cfg, "x.=4", err, sizeof err) == -1);
    CHECK(cli_config_assign(cfg, "=4", err, sizeof err) == -1);
    CHECK(cli_config_assign(cfg, "noequals", err, sizeof err) == -1 &&
          strstr(err, "PATH=VALUE"));
    CHECK(cli_config_assign(cfg, "dae.filters=[8,", err, sizeof err) == -1 &&
          strstr(err, "not valid JSON"));
    cJSON_Delete(cfg);

    /* files that are not one JSON object */
    static const char *const bad[] = {"[1, 2]", "{\"a\": 1} trailing", "{\"a\":", "", "42"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = fopen(path, "w");
        if (!f)
            break;
        fputs(bad[i], f);
        fclose(f);
        cfg = cli_config_load(path, err, sizeof err);
        CHECK_MSG(cfg == NULL && strstr(err, path), "'%s' loaded (%s)", bad[i], err);
        cJSON_Delete(cfg);
    }
    f = fopen(path, "w");
    if (f) {
        fwrite("{}\0{}", 1, 5, f);
        fclose(f);
    }
    cfg = cli_config_load(path, err, sizeof err);
    CHECK(cfg == NULL && strstr(err, "NUL"));
    unlink(path);
    cfg = cli_config_load(path, err, sizeof err);
    CHECK(cfg == NULL && strstr(err, "No such file"));
    rmdir(dir);
}

/* ---- tables and formats ----------------------------------------------------------------- */

/* What fn(out) prints, via open_memstream. */
static char *capture_table(const CliTable *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return strdup("");
    cli_table_print(t, f);
    fclose(f);
    return buf;
}

TEST(cli_table_format)
{
    static const char *const headers[] = {"ID", "NAME", "VALUE", "NOTE"};
    CliTable t;
    char *out;
    CHECK_INT_EQ(cli_table_init(&t, 4, headers, "rlrl"), 0);
    const char *r1[] = {"1", "dae", "0.5", ""};
    const char *r2[] = {"12", "caf\xC3\xA9 \xE2\x82\xAC", "10.25", NULL};
    const char *r3[] = {"3", "evil\033[31m\x07", "-", "tab\there"};
    CHECK_INT_EQ(cli_table_add(&t, r1), 0);
    CHECK_INT_EQ(cli_table_add(&t, r2), 0);
    CHECK_INT_EQ(cli_table_add(&t, r3), 0);
    out = capture_table(&t);
    /* widths count code points ("café €" is 6), numbers right-aligned, control characters
     * replaced, a NULL cell "-", an empty last cell leaves no trailing blanks */
    CHECK_MSG(strcmp(out, "ID  NAME        VALUE  NOTE\n"
                          " 1  dae           0.5\n"
                          "12  caf\xC3\xA9 \xE2\x82\xAC      10.25  -\n"
                          " 3  evil?[31m?      -  tab here\n") == 0,
              "table:\n%s", out);
    free(out);
    cli_table_free(&t);
    /* an empty table prints its header */
    CHECK_INT_EQ(cli_table_init(&t, 2, headers, NULL), 0);
    out = capture_table(&t);
    CHECK_MSG(strcmp(out, "ID  NAME\n") == 0, "%s", out);
    free(out);
    cli_table_free(&t);
}

TEST(cli_format_values)
{
    char b[64];
    double t;
    CHECK(strcmp(cli_fmt_pct(b, sizeof b, 0.85533, 2), "85.53%") == 0);
    CHECK(strcmp(cli_fmt_pct(b, sizeof b, NAN, 2), "-") == 0);
    CHECK(strcmp(cli_fmt_num(b, sizeof b, "%.0f", INFINITY), "-") == 0);
    CHECK(strcmp(cli_fmt_duration(b, sizeof b, 21.34), "21.3s") == 0);
    CHECK(strcmp(cli_fmt_duration(b, sizeof b, 302), "5m02s") == 0);
    CHECK(strcmp(cli_fmt_duration(b, sizeof b, 3780), "1h03m") == 0);
    CHECK(strcmp(cli_fmt_duration(b, sizeof b, -1), "-") == 0);
    CHECK(strcmp(cli_fmt_duration(b, sizeof b, NAN), "-") == 0);
    CHECK(strcmp(cli_fmt_float(b, sizeof b, 0.001f), "0.001") == 0);
    cli_fmt_float(b, sizeof b, 4.6323034f);
    CHECK_MSG((float)strtod(b, NULL) == 4.6323034f && strlen(b) <= 10, "%s", b);
    CHECK(strcmp(cli_fmt_float(b, sizeof b, 0.1), "0.1") == 0);
    CHECK(strcmp(cli_fmt_float(b, sizeof b, 15), "15") == 0);
    CHECK(strcmp(cli_fmt_float(b, sizeof b, NAN), "") == 0);
    CHECK(strcmp(cli_fmt_bar(b, sizeof b, 0.5, 10), "#####-----") == 0);
    CHECK(strcmp(cli_fmt_bar(b, sizeof b, 7, 4), "####") == 0);
    CHECK(strcmp(cli_fmt_bar(b, sizeof b, NAN, 4), "----") == 0);
    CHECK(strcmp(cli_fmt_bar(b, 4, 1, 10), "###") == 0); /* never past the buffer */

    CHECK(cli_parse_time("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
    CHECK(cli_parse_time("2026-11-28T01:02:03Z", &t) == 0 && t == 1795827723.0);
    CHECK(cli_parse_time("2000-02-29T12:00:00.5Z", &t) == 0 && t == 951825600.5);
    CHECK(cli_parse_time("2026-11-28T01:02:03+00:00", &t) == 0);
    CHECK(cli_parse_time("2026-13-28T01:02:03Z", &t) == -1);
    CHECK(cli_parse_time("2026-11-28T01:02", &t) == -1);
    CHECK(cli_parse_time("2026-11-28T01:02:03+02:00", &t) == -1);
    CHECK(cli_parse_time(NULL, &t) == -1);
    CHECK(strcmp(cli_fmt_time(b, sizeof b, "2026-11-28T01:02:03Z"), "2026-11-28 01:02:03") == 0);
    CHECK(strcmp(cli_fmt_time(b, sizeof b, NULL), "-") == 0);
    CHECK(strcmp(cli_fmt_time(b, sizeof b, "soon\033"), "soon?") == 0);

    /* sanitising: C0, DEL, C1 (as UTF-8), invalid and truncated UTF-8; valid text kept */
    CHECK(strcmp(cli_sanitize(b, sizeof b, "a\033b\x7f" "c\xC2\x9B" "d\xFF" "e\xE2\x82"),
                 "a?b?c?d?e??") == 0);
    CHECK(strcmp(cli_sanitize(b, sizeof b, "\xE2\x9C\x93 ok"), "\xE2\x9C\x93 ok") == 0);
    CHECK(strcmp(cli_sanitize(b, 4, "abcdef"), "abc") == 0);
    CHECK(strcmp(cli_sanitize(b, 3, "\xE2\x9C\x93"), "") == 0); /* no half characters */
    snprintf(b, sizeof b, "abcdefgh");
    cli_utf8_truncate(b, 5);
    CHECK(strcmp(b, "abcd~") == 0);
    snprintf(b, sizeof b, "\xC3\xA9\xC3\xA9\xC3\xA9");
    cli_utf8_truncate(b, 2);
    CHECK(strcmp(b, "\xC3\xA9~") == 0);
    snprintf(b, sizeof b, "short");
    cli_utf8_truncate(b, 5);
    CHECK(strcmp(b, "short") == 0);
}

TEST(cli_error_messages)
{
    char m[512];
    const char *e1 = "{\"error\": {\"code\": \"invalid_config\", \"message\": \"simclr.batch: "
                     "must be an integer in 2..4096\", \"field\": \"simclr.batch\"}}";
    const char *e2 = "{\"error\": {\"code\": \"not_found\", \"message\": \"no run 99999\"}}";
    const char *e3 = "{\"error\": {\"message\": \"bad\\u001b[2J\", \"field\": 7}}";
    cli_error_message(m, sizeof m, 400, e1, strlen(e1));
    CHECK_MSG(strcmp(m, "simclr.batch: must be an integer in 2..4096 (field simclr.batch)") == 0,
              "%s", m);
    cli_error_message(m, sizeof m, 404, e2, strlen(e2));
    CHECK(strcmp(m, "no run 99999") == 0);
    cli_error_message(m, sizeof m, 400, e3, strlen(e3));
    CHECK_MSG(strcmp(m, "bad?[2J") == 0, "%s", m);
    cli_error_message(m, sizeof m, 502, "<html>Bad Gateway</html>", 24);
    CHECK_MSG(strcmp(m, "the server answered HTTP 502 Bad Gateway") == 0, "%s", m);
    cli_error_message(m, sizeof m, 418, NULL, 0);
    CHECK(strcmp(m, "the server answered HTTP 418") == 0);
    cli_error_message(m, sizeof m, 500, "{\"error\": \"plain\"}", 18);
    CHECK(strcmp(m, "plain") == 0);
    cli_error_message(m, sizeof m, 500, "{\"error\": {\"message\": \"\"}}", 26);
    CHECK(strcmp(m, "the server answered HTTP 500 Internal Server Error") == 0);
}

TEST(cli_args_iterator)
{
    static const CliOpt opts[] = {
        {.name = "file", .short_name = 'f', .kind = CLI_TEXT}, /* 1 */
        {.name = "wait", .kind = CLI_FLAG},                    /* 2 */
        {.name = "n", .kind = CLI_TEXT},                       /* 3 */
        {0},
    };
    char *argv[] = {"submit", "-f", "a.json", "--wait", "--n=5", "-fb.json", "--json",
                    "--server", "http://x", "7", "--", "--wait", "-"};
    int argc = (int)(sizeof argv / sizeof argv[0]);
    Cli cli = {0};
    CliArgs it;
    long v;
    cli_args_init(&it, argc, argv, 1, "submit", opts, &cli);
    CHECK_INT_EQ(cli_args_next(&it), 1);
    CHECK(strcmp(it.arg, "a.json") == 0);
    CHECK_INT_EQ(cli_args_next(&it), 2);
    CHECK_INT_EQ(cli_args_next(&it), 3);
    CHECK(strcmp(it.arg, "5") == 0);
    CHECK_INT_EQ(cli_args_next(&it), 1);
    CHECK(strcmp(it.arg, "b.json") == 0);
    CHECK_INT_EQ(cli_args_next(&it), ARG_POS); /* the globals were taken on the way */
    CHECK(strcmp(it.arg, "7") == 0);
    CHECK(cli.json && cli.server_opt && strcmp(cli.server_opt, "http://x") == 0);
    CHECK_INT_EQ(cli_args_next(&it), ARG_POS); /* after "--" */
    CHECK(strcmp(it.arg, "--wait") == 0);
    CHECK_INT_EQ(cli_args_next(&it), ARG_POS);
    CHECK(strcmp(it.arg, "-") == 0);
    CHECK_INT_EQ(cli_args_next(&it), ARG_END);

    /* errors print a usage line on stderr; keep the test output clean */
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    char *bad1[] = {"x", "--nope"}, *bad2[] = {"x", "--file"}, *bad3[] = {"x", "--wait=1"},
         *bad4[] = {"x", "-z"}, *bad5[] = {"x", "--help"}, *bad6[] = {"x", "--json"};
    cli_args_init(&it, 2, bad1, 1, "x", opts, &cli);
    CHECK_INT_EQ(cli_args_next(&it), ARG_ERR);
    cli_args_init(&it, 2, bad2, 1, "x", opts, &cli);
    CHECK_INT_EQ(cli_args_next(&it), ARG_ERR);
    cli_args_init(&it, 2, bad3, 1, "x", opts, &cli);
    CHECK_INT_EQ(cli_args_next(&it), ARG_ERR);
    cli_args_init(&it, 2, bad4, 1, "x", opts, &cli);
    CHECK_INT_EQ(cli_args_next(&it), ARG_ERR);
    cli_args_init(&it, 2, bad5, 1, "x", opts, &cli);
    CHECK_INT_EQ(cli_args_next(&it), ARG_HELP);
    cli_args_init(&it, 2, bad6, 1, "x", opts, NULL); /* no globals here */
    CHECK_INT_EQ(cli_args_next(&it), ARG_ERR);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(devnull);

    CHECK(cli_parse_long("42", 0, 100, &v) == 0 && v == 42);
    CHECK(cli_parse_long("-1", -5, 5, &v) == 0 && v == -1);
    CHECK(cli_parse_long("101", 0, 100, &v) == -1);
    CHECK(cli_parse_long(" 4", 0, 100, &v) == -1);
    CHECK(cli_parse_long("4x", 0, 100, &v) == -1);
    CHECK(cli_parse_long("", 0, 100, &v) == -1);
    CHECK(cli_parse_long("+4", 0, 100, &v) == -1);
    CHECK(cli_parse_long("99999999999999999999", 0, LONG_MAX, &v) == -1);
}

/* ---- the subcommands' option tables ----------------------------------------------------- */

static const CliCommand *const ALL_COMMANDS[] = {
    &CLI_CMD_SUBMIT,   &CLI_CMD_LIST,     &CLI_CMD_SHOW,          &CLI_CMD_WATCH,
    &CLI_CMD_CANCEL,   &CLI_CMD_DELETE,   &CLI_CMD_ANNOTATE,      &CLI_CMD_METRICS,
    &CLI_CMD_CLUSTERS, &CLI_CMD_PSEUDO_LABELS, &CLI_CMD_CHECKPOINT, &CLI_CMD_COMPARE,
};

/* Every table can be walked: no spelling twice (nor one the splitter keeps for itself: -h,
 * --help, the global options), numbers with a range, choices only on text, help labels that
 * fit their column. */
TEST(cli_option_tables)
{
    static const char *const reserved[] = {"help", "server", "token", "token-file", "json"};
    for (size_t k = 0; k < sizeof ALL_COMMANDS / sizeof ALL_COMMANDS[0]; k++) {
        const CliCommand *c = ALL_COMMANDS[k];
        char usage[64];
        snprintf(usage, sizeof usage, "Usage: gsimclr %s", c->name);
        CHECK_MSG(c->about && strncmp(c->about, usage, strlen(usage)) == 0, "%s", c->name);
        for (const CliOpt *o = c->opts; o && (o->name || o->short_name); o++) {
            const char *n = o->name ? o->name : "";
            char label[96];
            CHECK_MSG(o->short_name != 'h', "%s: -h", c->name);
            for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
                CHECK_MSG(strcmp(n, reserved[r]) != 0, "%s: --%s", c->name, n);
            for (const CliOpt *p = o + 1; p->name || p->short_name; p++) {
                CHECK_MSG(!o->name || !p->name || strcmp(o->name, p->name) != 0,
                          "%s: --%s twice", c->name, n);
                CHECK_MSG(!o->short_name || o->short_name != p->short_name, "%s: -%c twice",
                          c->name, o->short_name);
            }
            CHECK_MSG(o->kind != CLI_NUMBER || o->min <= o->max, "%s --%s", c->name, n);
            CHECK_MSG(!o->choices || o->kind == CLI_TEXT, "%s --%s", c->name, n);
            if (o->help)
                CHECK_MSG((int)strlen(help_label(label, sizeof label, o)) + 2 < c->help_col,
                          "%s: '%s' does not fit its column", c->name, label);
        }
    }
}

/* Runs cli_command_parse on a NULL-ended argv with stdout and stderr silenced. It resolves
 * the server and token too: given here, so the environment plays no part. */
static int parse_quietly(const CliCommand *c, const char *const *args, void *opts,
                         CliOperands *out)
{
    char *argv[16];
    int argc = 0, saved[2], devnull = open("/dev/null", O_WRONLY), rc;
    Cli cli = {.server_opt = "http://127.0.0.1:1", .token_opt = "t"};
    while (args[argc] && argc < 15) {
        argv[argc] = (char *)args[argc];
        argc++;
    }
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    saved[0] = dup(1);
    saved[1] = dup(2);
    dup2(devnull, 1);
    dup2(devnull, 2);
    rc = cli_command_parse(&cli, c, argc, argv, opts, out);
    fflush(stdout);
    fflush(stderr);
    dup2(saved[0], 1);
    dup2(saved[1], 2);
    close(saved[0]);
    close(saved[1]);
    close(devnull);
    if (rc == CLI_GO_ON && !c->resolve_later)
        CHECK(cli.server && strcmp(cli.server, "http://127.0.0.1:1") == 0 && cli.token &&
              strcmp(cli.token, "t") == 0);
    else
        CHECK(!cli.server && !cli.token);
    free(cli.server);
    free(cli.token);
    return rc;
}

TEST(cli_option_loop)
{
    CliOperands run;
    ClustersOpts co = {0};
    CHECK_INT_EQ(parse_quietly(&CLI_CMD_CLUSTERS,
                               (const char *[]){"clusters", "--grid=3", "7", "-ofile", "--n",
                                                "5", NULL},
                               &co, &run),
                 CLI_GO_ON);
    CHECK(run.id == 7 && co.grid.value == 3 && strcmp(co.grid.text, "3") == 0);
    CHECK(co.out && strcmp(co.out, "file") == 0 && co.n.value == 5 && !co.scale.text);

    /* submit's overrides keep their command-line order; -f and --wait are stored */
    CliOverride ov[16];
    SubmitOpts so = {.overrides = ov};
    CHECK_INT_EQ(parse_quietly(&CLI_CMD_SUBMIT,
                               (const char *[]){"submit", "--epochs", "2", "--set", "a=1",
                                                "--method", "simclr", "-f", "x.json", "--wait",
                                                NULL},
                               &so, &run),
                 CLI_GO_ON);
    CHECK_INT_EQ(so.n_overrides, 3);
    CHECK(strcmp(ov[0].path, "simclr.epochs") == 0 && ov[0].number && ov[0].value == 2);
    CHECK(!ov[1].path && strcmp(ov[1].text, "a=1") == 0 && !ov[1].number);
    CHECK(strcmp(ov[2].path, "method") == 0 && strcmp(ov[2].text, "simclr") == 0);
    CHECK(so.wait && strcmp(so.file, "x.json") == 0);

    CHECK_INT_EQ(parse_quietly(&CLI_CMD_COMPARE, (const char *[]){"compare", "3", "1", "2", NULL},
                               NULL, &run),
                 CLI_GO_ON);
    CHECK(run.n_ids == 3 && run.ids[0] == 3 && run.ids[1] == 1 && run.ids[2] == 2);
    free(run.ids);

    /* what stops: a help (exit 0) and usage errors (exit 2), leaving nothing to free */
    ListOpts lo = {0};
    PseudoLabelsOpts po = {0};
    CHECK_INT_EQ(parse_quietly(&CLI_CMD_SHOW, (const char *[]){"show", "--help", NULL}, NULL,
                               &run),
                 CLI_OK);
    CHECK_INT_EQ(parse_quietly(&CLI_CMD_LIST, (const char *[]){"list", "--limit", "501", NULL},
                               &lo, &run),
                 CLI_USAGE);
    CHECK_INT_EQ(parse_quietly(&CLI_CMD_LIST, (const char *[]){"list", "x", NULL}, &lo, &run),
                 CLI_USAGE);
    CHECK_INT_EQ(parse_quietly(&CLI_CMD_PSEUDO_LABELS,
                               (const char *[]){"pseudo-labels", "1", "--format", "xml", NULL},
                               &po, &run),
                 CLI_USAGE);
    CHECK_INT_EQ(parse_quietly(&CLI_CMD_SHOW, (const char *[]){"show", NULL}, NULL, &run),
                 CLI_USAGE);
    CHECK_INT_EQ(parse_quietly(&CLI_CMD_SHOW, (const char *[]){"show", "1", "2", NULL}, NULL,
                               &run),
                 CLI_USAGE);
    CHECK_INT_EQ(parse_quietly(&CLI_CMD_COMPARE, (const char *[]){"compare", "1", "x", NULL},
                               NULL, &run),
                 CLI_USAGE);
    CHECK(run.ids == NULL);
}

/* ---- the progress display (watch, submit --wait) ---------------------------------------- */

static const char *RUN_EV =
    "{\"id\": 3, \"name\": \"demo\", \"status\": \"running\", \"progress\": 0.1, \"stages\": ["
    "{\"name\": \"dae\", \"status\": \"running\", \"epoch\": 1, \"epochs\": 2, \"step\": 1, "
    "\"steps\": 4, \"loss\": 0.5, \"items_per_s\": 100, \"eta_s\": 3, \"seconds\": null},"
    "{\"name\": \"simclr\", \"status\": \"pending\", \"epoch\": 0, \"epochs\": 5}]}";
static const char *END_EV =
    "{\"id\": 3, \"name\": \"demo\", \"status\": \"succeeded\", \"progress\": 1, "
    "\"started_at\": \"2026-11-28T01:00:00Z\", \"finished_at\": \"2026-11-28T01:01:30Z\","
    "\"stages\": [{\"name\": \"dae\", \"status\": \"succeeded\", \"epoch\": 2, \"epochs\": 2, "
    "\"step\": 4, \"steps\": 4, \"loss\": 0.25, \"seconds\": 10},"
    "{\"name\": \"simclr\", \"status\": \"succeeded\", \"epoch\": 5, \"epochs\": 5, "
    "\"seconds\": 80}], \"result\": {\"linear_top1\": 0.8553, \"knn_top1\": 0.841, "
    "\"purity\": 0.71, \"nmi\": 0.36}}";

static int feed(CliProgress *w, const char *type, const char *data)
{
    return cli_progress_event(w, type, data, strlen(data), "");
}

/* Drives a CliProgress with a run's events and returns what it printed. */
static char *watch_script(CliProgressMode mode, bool tty, int width, const char *end_data,
                          int *exit_code)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CliProgress w;
    if (!f)
        return strdup("");
    cli_progress_init(&w, f, mode, tty, width);
    CHECK_INT_EQ(feed(&w, "run", RUN_EV), 0);
    CHECK_INT_EQ(feed(&w, "progress", "{\"stage\": \"dae\", \"epoch\": 1, \"epochs\": 2, "
                                      "\"step\": 2, \"steps\": 4, \"loss\": 0.4, "
                                      "\"items_per_s\": 120, \"eta_s\": 2, \"progress\": 0.2}"),
                 0);
    CHECK_INT_EQ(feed(&w, "progress", "{\"stage\": \"dae\", \"epoch\": 2, \"epochs\": 2, "
                                      "\"step\": 3, \"steps\": 4, \"loss\": 0.3}"),
                 0);
    CHECK_INT_EQ(feed(&w, "log", "{\"id\": 1, \"kind\": \"log\", \"message\": \"dae: epoch 1/2 "
                                 "loss 0.4\"}"),
                 0);
    CHECK_INT_EQ(feed(&w, "metric", "{\"id\": 1, \"stage\": \"dae\", \"name\": \"loss\"}"), 0);
    CHECK_INT_EQ(feed(&w, "progress", "{\"stage\": \"dae\", \"epoch\": 2, \"epochs\": 2, "
                                      "\"step\": 4, \"steps\": 4, \"loss\": 0.25}"),
                 0);
    CHECK_INT_EQ(feed(&w, "mystery", "{}"), 0);
    CHECK_INT_EQ(feed(&w, "end", end_data), 1);
    CHECK(cli_progress_done(&w));
    cli_progress_finish(&w);
    *exit_code = cli_progress_exit_code(&w);
    cli_progress_free(&w);
    fclose(f);
    return buf;
}

TEST(cli_progress_plain)
{
    int code;
    char *out = watch_script(PROGRESS_HUMAN, false, 80, END_EV, &code);
    /* one line per epoch change (not per progress event), one per log, one per stage's end
     * (simclr's end comes only with the end event: no progress of it was ever seen); no
     * escapes */
    CHECK_MSG(strcmp(out, "run 3 (demo): running\n"
                          "dae  epoch 1/2  loss 0.4000  120 img/s  ETA 2.0s\n"
                          "dae  epoch 2/2  loss 0.3000\n"
                          "dae: epoch 1/2 loss 0.4\n"
                          "dae  succeeded in 10.0s  epoch 2/2  loss 0.2500\n"
                          "simclr  succeeded in 1m20s  epoch 5/5\n"
                          "run 3 succeeded in 1m30s: linear top-1 85.53%, kNN top-1 84.10%, "
                          "purity 71.0%, NMI 0.360\n") == 0,
              "plain:\n%s", out);
    CHECK_INT_EQ(code, 0);
    free(out);

    out = watch_script(PROGRESS_HUMAN, false, 80,
                       "{\"id\": 3, \"status\": \"failed\", \"error\": \"dae: loss is NaN\"}",
                       &code);
    CHECK_MSG(strstr(out, "run 3 failed: dae: loss is NaN\n") != NULL, "%s", out);
    CHECK_INT_EQ(code, 1);
    free(out);
    out = watch_script(PROGRESS_HUMAN, false, 80, "{\"id\": 3, \"status\": \"canceled\"}", &code);
    CHECK_INT_EQ(code, 1);
    free(out);
}

TEST(cli_progress_terminal)
{
    int code;
    char *out = watch_script(PROGRESS_HUMAN, true, 100, END_EV, &code), *p, *line;
    int redraws = 0;
    /* a block of 3 lines (run + 2 stages) redrawn by moving up 3 lines and clearing */
    for (p = out; (p = strstr(p, "\033[3A\r\033[J")) != NULL; p++)
        redraws++;
    CHECK_MSG(redraws >= 4, "%d redraws:\n%s", redraws, out);
    CHECK_MSG(strstr(out, "\ndae    [############------------]  50%  epoch 1/2  loss 0.4000  "
                          "120 img/s  ETA 2.0s\n") != NULL,
              "%s", out);
    CHECK(strstr(out, "\nsimclr [------------------------]   0%  pending\n") != NULL);
    /* the log line is printed right after a cursor move, above the block */
    CHECK(strstr(out, "\033[J" "dae: epoch 1/2 loss 0.4\nrun 3 (demo): running") != NULL);
    CHECK(strstr(out, "\nsimclr [########################] 100%  succeeded in 1m20s\n") != NULL);
    CHECK(strstr(out, "\nrun 3 succeeded in 1m30s: ") != NULL);
    CHECK_INT_EQ(code, 0);
    free(out);

    /* a narrow terminal: no line of the block is as wide as the terminal (30 columns) */
    out = watch_script(PROGRESS_HUMAN, true, 30, END_EV, &code);
    for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *text = strstr(line, "\033[J") ? strstr(line, "\033[J") + 3 : line;
        if (strncmp(text, "dae: ", 5) != 0 && strncmp(text, "run 3 succeeded", 15) != 0)
            CHECK_MSG(cli_utf8_width(text) <= 29, "too wide: '%s'", text);
    }
    free(out);
}

TEST(cli_progress_json_and_malformed)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CliProgress w;
    int lines = 0;
    if (!f)
        return;
    cli_progress_init(&w, f, PROGRESS_JSON_EVENTS, false, 80);
    /* garbage of every kind: nothing may crash, all is printed as JSON lines */
    CHECK_INT_EQ(feed(&w, "run", "not json"), 0);
    CHECK_INT_EQ(feed(&w, "run", "[1,2]"), 0);
    CHECK_INT_EQ(feed(&w, "run", "{\"id\": \"x\", \"stages\": 5, \"status\": 7}"), 0);
    CHECK_INT_EQ(feed(&w, "run", "{\"stages\": [1, null, {\"name\": 3}, {\"name\": \"a\"}, "
                                 "{\"name\": \"b\"}, {\"name\": \"c\"}, {\"name\": \"d\"}, "
                                 "{\"name\": \"e\"}, {\"name\": \"f\"}, {\"name\": \"g\"}, "
                                 "{\"name\": \"h\"}, {\"name\": \"i\"}]}"),
                 0);
    CHECK_INT_EQ(w.n_stages, CLI_PROGRESS_MAX_STAGES);
    CHECK_INT_EQ(feed(&w, "progress", "{\"stage\": \"zz\", \"epoch\": 1e300, \"step\": -1e300, "
                                      "\"steps\": 0, \"loss\": \"high\"}"),
                 0);
    CHECK_INT_EQ(feed(&w, "log", "{\"message\": 5}"), 0);
    CHECK_INT_EQ(cli_progress_event(&w, "end", "{\"status\": \"succeeded\"}", 24, "12"), 1);
    cli_progress_finish(&w);
    CHECK_INT_EQ(cli_progress_exit_code(&w), 0);
    cli_progress_free(&w);
    fclose(f);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        CHECK_MSG(cJSON_IsObject(o) && cli_json_str(o, "event"), "not a JSON event: %s", line);
        lines++;
        if (lines == 7)
            CHECK(cli_json_str(o, "id") && strcmp(cli_json_str(o, "id"), "12") == 0);
        cJSON_Delete(o);
    }
    CHECK_INT_EQ(lines, 7);
    free(buf);

    /* the stage line never overflows its buffer or the width */
    CliStageView s = {.epoch = 123456789, .epochs = 987654321, .step = 5, .steps = 10,
                      .loss = 1e300, .items_per_s = 1e300, .eta_s = 1e300};
    char small[32];
    snprintf(s.name, sizeof s.name, "simclr");
    snprintf(s.status, sizeof s.status, "running");
    cli_progress_stage_line(small, sizeof small, &s, 200);
    CHECK(strlen(small) < sizeof small);
}

/* The terminal block at 80 columns (COLUMNS=80, the issue's case): every stage line fits in
 * 79 columns and still ends with the ETA, however long the figures; the bar narrows, then the
 * rate, loss and epoch go, in that order. k-means' figure is its inertia per point, and a
 * stage past its last step says it is finishing instead of "ETA 0.0s". */
TEST(cli_progress_80_columns)
{
    struct {
        const char *name;
        int epoch, epochs;
        long step, steps;
        double loss, rate, eta;
        const char *want;     /* must be in the line */
        const char *not_want; /* must not be, or NULL */
    } cases[] = {
        {"simclr", 12, 28, 11000, 26236, 4.3012, 1116, 725, "ETA 12m05s", NULL},
        {"simclr", 128, 9999, 1234567, 99999999, 12345.6789, 123456789, 99999, "ETA 27h47m",
         NULL},
        {"simclr", 1, 1, 5, 10, 1e300, 1e300, 1e300, "ETA -", NULL},
        {"dae", 5, 5, 1175, 1175, 0.0182, 1470, 0, "finishing", "ETA"},
        {"kmeans", 1, 1, 0, 1, 0.861, 0, NAN, "inertia/pt 0.861", "loss"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CliStageView v = {.epoch = cases[i].epoch, .epochs = cases[i].epochs,
                          .step = cases[i].step, .steps = cases[i].steps,
                          .loss = cases[i].loss, .items_per_s = cases[i].rate,
                          .eta_s = cases[i].eta, .seconds = NAN};
        char line[512];
        snprintf(v.name, sizeof v.name, "%s", cases[i].name);
        snprintf(v.status, sizeof v.status, "running");
        cli_progress_stage_line(line, sizeof line, &v, 80);
        CHECK_MSG(cli_utf8_width(line) <= 79, "case %zu: %zu columns: '%s'", i,
                  cli_utf8_width(line), line);
        CHECK_MSG(strstr(line, cases[i].want) && (!cases[i].not_want ||
                                                  !strstr(line, cases[i].not_want)),
                  "case %zu: '%s'", i, line);
        CHECK_MSG(!strchr(line, '~'), "case %zu: cut: '%s'", i, line);
    }
    /* the usual line keeps every figure at 80 columns, its bar narrowed */
    CliStageView v = {.epoch = 12, .epochs = 28, .step = 11000, .steps = 26236, .loss = 4.3012,
                      .items_per_s = 1116, .eta_s = 725, .seconds = NAN};
    char line[512];
    snprintf(v.name, sizeof v.name, "simclr");
    snprintf(v.status, sizeof v.status, "running");
    cli_progress_stage_line(line, sizeof line, &v, 80);
    CHECK_MSG(strstr(line, "epoch 12/28  loss 4.3012  1116 img/s  ETA 12m05s"), "'%s'", line);
    /* the whole live block at 80 columns: no line wider than 79, the ETA on the stage line */
    int code;
    char *out = watch_script(PROGRESS_HUMAN, true, 80, END_EV, &code);
    bool eta = false;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        char *text = strstr(l, "\033[J") ? strstr(l, "\033[J") + 3 : l;
        if (strncmp(text, "run 3 succeeded", 15) == 0)
            continue;
        CHECK_MSG(cli_utf8_width(text) <= 79, "too wide: '%s'", text);
        eta = eta || (strncmp(text, "dae ", 4) == 0 && strstr(text, "ETA 2.0s"));
    }
    CHECK(eta);
    free(out);
}

/* ---- running the binary ----------------------------------------------------------------- */

typedef struct {
    int code;      /* exit code, or 128 + signal, or -1 when it could not run / timed out */
    char *out, *err;
} CliRun;

static const char *cli_binary(void)
{
    const char *b = getenv("GS_CLI");
    return b && *b ? b : "bin/gsimclr";
}

/* The binary must be there: `make test` builds it; `make asan`/`tsan` may not. */
static bool cli_present(void)
{
    bool ok = access(cli_binary(), X_OK) == 0;
    CHECK_MSG(ok, "%s is missing: run `make bin/gsimclr`, or set GS_CLI to a client binary",
              cli_binary());
    return ok;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    if (buf) {
        size_t got = fread(buf, 1, (size_t)(n > 0 ? n : 0), f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf ? buf : strdup("");
}

static void run_free(CliRun *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Runs the client with args (NULL-terminated) and the given extra environment entries
 * ("NAME=value", NULL-terminated, may be NULL); server NULL leaves GSIMCLR_SERVER unset. */
static CliRun run_cli_env(const char *server, const char *const *args, const char *const *env,
                          double timeout_s)
{
    CliRun r = {-1, NULL, NULL};
    char dir[] = "/tmp/gs_clirun_XXXXXX", out_path[64], err_path[64], server_env[256];
    const char *argv[64], *envp[32];
    int na = 0, ne = 0, status = 0;
    pid_t pid;
    struct timespec t0, t1;
    if (!mkdtemp(dir)) {
        r.out = strdup("");
        r.err = strdup("mkdtemp failed");
        return r;
    }
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    argv[na++] = cli_binary();
    for (int i = 0; args[i] && na < 63; i++)
        argv[na++] = args[i];
    argv[na] = NULL;
    envp[ne++] = "PATH=/usr/bin:/bin";
    /* a sanitizer build reports with exit codes of its own, never 1..4 */
    envp[ne++] = "ASAN_OPTIONS=exitcode=86:detect_leaks=1";
    envp[ne++] = "UBSAN_OPTIONS=halt_on_error=1:exitcode=87:print_stacktrace=1";
    if (server) {
        snprintf(server_env, sizeof server_env, "GSIMCLR_SERVER=%s", server);
        envp[ne++] = server_env;
    }
    for (int i = 0; env && env[i] && ne < 31; i++)
        envp[ne++] = env[i];
    envp[ne] = NULL;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || in < 0)
            _exit(120);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        execve(argv[0], (char *const *)argv, (char *const *)envp);
        _exit(121);
    }
    if (pid > 0) {
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid)
                break;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if ((double)(t1.tv_sec - t0.tv_sec) > timeout_s) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                status = -1;
                break;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (status == -1)
            r.code = -1;
        else if (WIFEXITED(status))
            r.code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
            r.code = 128 + WTERMSIG(status);
    }
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    rmdir(dir);
    CHECK_MSG(r.code != 120 && r.code != 121, "could not run %s (make bin/gsimclr, or set GS_CLI)",
              cli_binary());
    CHECK_MSG(r.code >= 0, "%s timed out after %.0f s", args[0], timeout_s);
    CHECK_MSG(r.code < 86 && !strstr(r.err, "Sanitizer") && !strstr(r.err, "runtime error"),
              "%s %s: crashed or sanitizer report (exit %d):\n%s", cli_binary(), args[0], r.code,
              r.err);
    return r;
}

static CliRun run_cli(const char *server, const char *const *args)
{
    return run_cli_env(server, args, NULL, 60);
}

#define CHECK_RUN(r, want_code)                                                              \
    CHECK_MSG((r).code == (want_code), "exit %d, want %d\nstdout:\n%s\nstderr:\n%s",           \
              (r).code, (want_code), (r).out, (r).err)

/* ---- a scripted HTTP server --------------------------------------------------------------
 * Each accepted connection reads one request and gets the next scripted reply: raw bytes,
 * written in pieces with pauses when asked, then the connection is closed. Requests are
 * recorded (head and body) so tests can check what the client sent. */

typedef struct {
    const char *data;  /* a whole HTTP response, status line included */
    size_t len;        /* 0: strlen(data) */
    size_t piece;      /* write this many bytes at a time (0: all at once) */
    int pause_ms;      /* between pieces */
} MockReply;

#define MOCK_MAX_REQ 16

typedef struct {
    int fd, port;
    pthread_t thread;
    const MockReply *replies;
    int n_replies;
    pthread_mutex_t mu;
    bool stop;
    int n_req;
    char *req[MOCK_MAX_REQ]; /* each request as received */
    char url[64];            /* "http://127.0.0.1:PORT", once started */
} Mock;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads one request (head, and a body of Content-Length bytes). */
static char *read_request(int fd)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1), *end = NULL;
    long body = 0;
    if (!buf)
        return NULL;
    while (len < cap) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t n;
        if (poll(&pfd, 1, 5000) <= 0)
            break;
        n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strstr(buf, "Content-Length: ");
            if (!cl)
                cl = strstr(buf, "content-length: ");
            body = cl && cl < end ? atol(cl + 16) : 0;
        }
        if (end && len >= (size_t)(end + 4 - buf) + (size_t)body)
            break;
    }
    buf[len] = '\0';
    return buf;
}

static void *mock_main(void *arg)
{
    Mock *m = arg;
    for (int served = 0;; served++) {
        int c = accept(m->fd, NULL, NULL);
        const MockReply *r;
        static const MockReply fallback = {
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            "Content-Length: 55\r\nConnection: close\r\n\r\n"
            "{\"error\": {\"code\": \"internal\", \"message\": \"no more\"}}",
            0, 0, 0};
        char *req;
        size_t len, at = 0;
        if (c < 0)
            break;
        req = read_request(c);
        pthread_mutex_lock(&m->mu);
        if (m->n_req < MOCK_MAX_REQ && req)
            m->req[m->n_req++] = req;
        else
            free(req);
        pthread_mutex_unlock(&m->mu);
        r = served < m->n_replies ? &m->replies[served] : &fallback;
        len = r->len ? r->len : strlen(r->data);
        while (at < len) {
            size_t n = r->piece ? (r->piece < len - at ? r->piece : len - at) : len - at;
            ssize_t w = send(c, r->data + at, n, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            at += (size_t)w;
            if (r->pause_ms && at < len)
                sleep_ms(r->pause_ms);
        }
        shutdown(c, SHUT_WR);
        /* let the client read to the end before the close */
        {
            char sink[256];
            struct pollfd pfd = {c, POLLIN, 0};
            while (poll(&pfd, 1, 2000) > 0 && recv(c, sink, sizeof sink, 0) > 0)
                ;
        }
        close(c);
    }
    return NULL;
}

static bool mock_start(Mock *m, const MockReply *replies, int n)
{
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof a;
    int one = 1;
    memset(m, 0, sizeof *m);
    m->replies = replies;
    m->n_replies = n;
    pthread_mutex_init(&m->mu, NULL);
    m->fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(m->fd, 8) != 0 ||
        getsockname(m->fd, (struct sockaddr *)&a, &alen) != 0) {
        CHECK_MSG(0, "mock server: %s", strerror(errno));
        if (m->fd >= 0)
            close(m->fd);
        return false;
    }
    m->port = ntohs(a.sin_port);
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%d", m->port);
    if (pthread_create(&m->thread, NULL, mock_main, m) != 0) {
        close(m->fd);
        CHECK_MSG(0, "mock server thread");
        return false;
    }
    return true;
}

/* Stops accepting and joins; the recorded requests stay readable until mock_free. */
static void mock_stop(Mock *m)
{
    shutdown(m->fd, SHUT_RDWR); /* accept() fails from now on */
    pthread_join(m->thread, NULL);
    close(m->fd);
}

static void mock_free(Mock *m)
{
    for (int i = 0; i < m->n_req; i++)
        free(m->req[i]);
    pthread_mutex_destroy(&m->mu);
}

#define JSON_200(body)                                                                     \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" body
#define SSE_200 "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"

/* Error answers: the message and field from the JSON body, never a dump; exit 4. */
TEST(cli_mock_error_answers)
{
    if (!cli_present())
        return;
    static const MockReply replies[] = {
        {"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
         "{\"error\": {\"code\": \"invalid_config\", \"message\": \"simclr.batch: must be an "
         "integer in 2..4096\", \"field\": \"simclr.batch\"}}",
         0, 0, 0},
        {"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"
         "<html><body>upstream \033[2J exploded</body></html>",
         0, 0, 0},
        {"HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
         "{\"error\": {\"code\": \"conflict\", \"message\": \"run 1 has already ended\"}}",
         0, 0, 0},
        {"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 0, 0, 0},
    };
    Mock m;
    CliRun r;
    if (!mock_start(&m, replies, 4))
        return;
    r = run_cli(m.url, (const char *[]){"submit", "--batch", "1", NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strcmp(r.err, "gsimclr: simclr.batch: must be an integer in 2..4096 (field "
                            "simclr.batch)\n") == 0,
              "%s", r.err);
    CHECK(strcmp(r.out, "") == 0);
    run_free(&r);
    r = run_cli(m.url, (const char *[]){"list", NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strcmp(r.err, "gsimclr: the server answered HTTP 502 Bad Gateway\n") == 0, "%s",
              r.err);
    run_free(&r);
    r = run_cli(m.url, (const char *[]){"cancel", "1", NULL});
    CHECK_RUN(r, 4);
    CHECK(strcmp(r.err, "gsimclr: run 1 has already ended\n") == 0);
    run_free(&r);
    r = run_cli(m.url, (const char *[]){"delete", "1", "--json", NULL});
    CHECK_RUN(r, 4);
    CHECK(strstr(r.err, "HTTP 401 Unauthorized") != NULL);
    run_free(&r);
    mock_stop(&m);
    mock_free(&m);
}

/* Answers that are not what the API promises: exit 4 or a table of dashes, never a crash. */
TEST(cli_mock_malformed_answers)
{
    if (!cli_present())
        return;
    static const struct {
        const char *args[6];
        const char *body;
        int code;
    } cases[] = {
        {{"list"}, "this is not json", 4},
        {{"list"}, "[1, 2, 3]", 0},
        {{"list"}, "{\"runs\": 5}", 0},
        {{"list"}, "{\"runs\": [5, null, {\"id\": \"x\", \"status\": 7, \"name\": [1], "
                   "\"progress\": \"a\", \"result\": 3, \"created_at\": \"\\u001b[2J\"}], "
                   "\"total\": 1e308, \"offset\": -1e308}", 0},
        {{"show", "1"}, "{\"id\": 1e300, \"stages\": {\"a\": 1}, \"result\": [], \"config\": 5}",
         0},
        {{"show", "1"}, "{\"stages\": [1, {\"name\": null, \"epoch\": 1e300, \"steps\": \"x\"}],"
                        " \"result\": {\"linear_top1\": \"high\"}, \"error\": 5}", 0},
        {{"show", "1"}, "", 4},
        {{"show", "1"}, "{\"id\": 1", 4},
        {{"compare", "1"}, "{\"result\": {\"k\": -1e308, \"dae_seconds\": 1e300}, "
                           "\"started_at\": \"2026-01-01T00:00:00Z\", \"finished_at\": 7}", 0},
        {{"metrics", "1"}, "{\"metrics\": [{\"id\": null, \"value\": \"v\"}, 3, [], "
                           "{\"stage\": \"a,\\\"b\", \"time\": \"\\n\"}]}", 0},
        {{"metrics", "1", "--csv"}, "{\"metrics\": [{\"stage\": \"a,\\\"b\", "
                                    "\"name\": \"x\\ny\"}]}", 0},
        {{"metrics", "1"}, "{\"metrics\": {}}", 0},
        /* clusters asks for the run too (its dataset names the labels) */
        {{"clusters", "1"}, "{\"k\": \"64\", \"clusters\": [{\"id\": -0.5, \"size\": null, "
                            "\"label\": 1e300}, \"x\", {\"label\": 3}]}", 0},
        {{"cancel", "1"}, "{}", 0},
        {{"submit"}, "{\"status\": \"queued\"}", 4}, /* no id */
        {{"submit"}, "{\"id\": -4}", 4},
        {{"checkpoint", "1", "-o", "/tmp/gs_cli_never_written"}, "{\"checkpoints\": "
                                                                  "[{\"id\": \"9\"}, 4]}", 4},
    };
    /* the answer to a command's second call, by case: clusters asks for the run too */
    static const char *const body2[sizeof cases / sizeof cases[0]] = {
        [12] = "{\"config\": {\"dataset\": \"fashion-mnist\\u001b[2J\"}}",
    };
    int n = (int)(sizeof cases / sizeof cases[0]), nr = 0;
    MockReply *replies = calloc((size_t)n * 2, sizeof *replies);
    char **texts = calloc((size_t)n * 2, sizeof *texts);
    Mock m;
    if (!replies || !texts)
        return;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            const char *body = k ? body2[i] : cases[i].body;
            if (!body)
                continue;
            size_t len = strlen(body) + 200;
            texts[nr] = malloc(len);
            snprintf(texts[nr], len,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\nConnection: close\r\n\r\n%s",
                     strlen(body), body);
            replies[nr].data = texts[nr];
            nr++;
        }
    }
    if (mock_start(&m, replies, nr)) {
            for (int i = 0; i < n; i++) {
            CliRun r = run_cli(m.url, cases[i].args);
            CHECK_MSG(r.code == cases[i].code, "case %d (%s): exit %d, want %d\n%s%s", i,
                      cases[i].args[0], r.code, cases[i].code, r.out, r.err);
            CHECK_MSG(!strchr(r.out, '\033'), "case %d: an escape reached stdout", i);
            if (i == 10) /* the CSV quotes what needs quoting */
                CHECK_MSG(strcmp(r.out, "id,stage,epoch,step,name,value,time\n"
                                        ",\"a,\"\"b\",,,x?y,,\n") == 0,
                          "%s", r.out);
            run_free(&r);
        }
        mock_stop(&m);
        mock_free(&m);
    }
    CHECK(access("/tmp/gs_cli_never_written", F_OK) != 0);
    for (int i = 0; i < nr; i++)
        free(texts[i]);
    free(texts);
    free(replies);
}

/* submit builds its body from the file, then the options in order; the token goes along. */
TEST(cli_mock_submit_body)
{
    if (!cli_present())
        return;
    static const MockReply replies[] = {
        {"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nLocation: /v1/runs/42\r\n"
         "Connection: close\r\n\r\n{\"id\": 42, \"status\": \"queued\"}",
         0, 0, 0},
        {"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
         "{\"id\": 43, \"status\": \"queued\"}",
         0, 0, 0},
    };
    char dir[] = "/tmp/gs_cli_XXXXXX", cfg[96], tok[96], tokenv[128];
    Mock m;
    CliRun r;
    FILE *f;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cfg, sizeof cfg, "%s/run.json", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    f = fopen(cfg, "w");
    if (f) {
        fputs("{\"name\": \"from file\", \"simclr\": {\"epochs\": 9, \"batch\": 64}, "
              "\"kmeans\": {\"k\": 8}}",
              f);
        fclose(f);
    }
    f = fopen(tok, "w");
    if (f) {
        fputs("  s3cret-token \n", f);
        fclose(f);
    }
    if (!mock_start(&m, replies, 2))
        return;
    r = run_cli(m.url, (const char *[]){"--token-file", tok, "submit", "-f", cfg, "--epochs", "2",
                                      "--set", "simclr.epochs=3", "--k", "16", "--method",
                                      "simclr", "--set", "simclr.encoder.arch=cnn3", "--set",
                                      "dae.filters=[8,16,32]", "--subset", "1000", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strcmp(r.out, "42\n") == 0, "%s", r.out);
    run_free(&r);
    snprintf(tokenv, sizeof tokenv, "GSIMCLR_TOKEN=envtoken");
    r = run_cli_env(m.url, (const char *[]){"submit", "--json", "--name", "x", NULL},
                    (const char *[]){tokenv, NULL}, 30);
    CHECK_RUN(r, 0);
    CHECK_MSG(strstr(r.out, "\"id\": 43") != NULL, "%s", r.out); /* the server's JSON as sent */
    run_free(&r);
    mock_stop(&m);
    CHECK_INT_EQ(m.n_req, 2);
    if (m.n_req == 2) {
        const char *body = strstr(m.req[0], "\r\n\r\n");
        cJSON *got = body ? cJSON_Parse(body + 4) : NULL;
        char *text = got ? json_text(got) : strdup("(none)");
        CHECK_MSG(strncmp(m.req[0], "POST /v1/runs HTTP/1.1\r\n", 24) == 0, "%s", m.req[0]);
        CHECK(strstr(m.req[0], "\r\nAuthorization: Bearer s3cret-token\r\n") != NULL);
        CHECK(strstr(m.req[0], "\r\nContent-Type: application/json\r\n") != NULL);
        CHECK_MSG(strcmp(text, "{\"name\":\"from file\",\"simclr\":{\"epochs\":3,\"batch\":64,"
                               "\"encoder\":{\"arch\":\"cnn3\"}},\"kmeans\":{\"k\":16},"
                               "\"method\":\"simclr\",\"dae\":{\"filters\":[8,16,32]},"
                               "\"subset\":1000}") == 0,
                  "body: %s", text);
        free(text);
        cJSON_Delete(got);
        CHECK(strstr(m.req[1], "\r\nAuthorization: Bearer envtoken\r\n") != NULL);
        CHECK(strstr(m.req[1], "{\"name\":\"x\"}") != NULL);
    }
    mock_free(&m);
    unlink(cfg);
    unlink(tok);
    rmdir(dir);
}

/* A stream that drops before the end: the client reconnects with Last-Event-ID and follows
 * the second stream, sent a few bytes at a time, to the end. */
TEST(cli_mock_watch_reconnect)
{
    if (!cli_present())
        return;
    static const MockReply replies[] = {
        {SSE_200 ": hello\n\n"
                 "event: run\ndata: {\"id\": 5, \"status\": \"running\", \"stages\": "
                 "[{\"name\": \"simclr\", \"status\": \"running\"}]}\n\n"
                 "event: log\nid: 7\ndata: {\"id\": 7, \"kind\": \"log\", \"message\": "
                 "\"first connection\"}\n\n"
                 "event: progress\ndata: {\"stage\": \"simclr\", \"epoch\": 1, \"epochs\": 2, "
                 "\"step\": 3, \"steps\": 6, \"loss\": 4.5}\n\n"
                 "event: log\nid: 8\ndata: {\"id\": 8, \"kind\": \"log\", \"message\": \"cut "
                 "her",   /* the connection closes mid-event */
         0, 0, 0},
        {SSE_200 "retry: 100\r\n"
                 "event: run\r\ndata: {\"id\": 5, \"status\": \"running\"}\r\n\r\n"
                 "event: log\r\nid: 9\r\ndata: {\"id\": 9, \"kind\": \"log\", \"message\": "
                 "\"second connection\"}\r\n\r\n"
                 "event: progress\r\ndata: {\"stage\": \"simclr\", \"epoch\": 2, \"epochs\": 2,"
                 " \"step\": 6, \"steps\": 6, \"loss\": 4.1}\r\n\r\n"
                 "event: end\r\nid: 10\r\ndata: {\"id\": 5, \"status\": \"canceled\"}\r\n\r\n",
         0, 7, 1},
    };
    Mock m;
    CliRun r;
    if (!mock_start(&m, replies, 2))
        return;
    r = run_cli(m.url, (const char *[]){"watch", "5", NULL});
    CHECK_RUN(r, 1); /* canceled */
    CHECK_MSG(strcmp(r.out, "run 5: running\n"
                            "first connection\n"
                            "simclr  epoch 1/2  loss 4.5000\n"
                            "(event stream closed; reconnecting in 0.5s, try 1 of 5)\n"
                            "second connection\n"
                            "simclr  epoch 2/2  loss 4.1000\n"
                            "run 5 canceled\n") == 0,
              "stdout:\n%s\nstderr:\n%s", r.out, r.err);
    run_free(&r);
    mock_stop(&m);
    CHECK_INT_EQ(m.n_req, 2);
    if (m.n_req == 2) {
        CHECK(strncmp(m.req[0], "GET /v1/runs/5/events HTTP/1.1\r\n", 32) == 0);
        CHECK(strstr(m.req[0], "Accept: text/event-stream\r\n") != NULL);
        CHECK(strstr(m.req[0], "Last-Event-ID") == NULL);
        CHECK_MSG(strstr(m.req[1], "\r\nLast-Event-ID: 7\r\n") != NULL, "%s", m.req[1]);
    }
    mock_free(&m);
}

/* watch --json prints each event as a JSON line; a 404 is exit 4; a stream that only ever
 * closes is given up after the retries (exit 3); an answer that is not an event stream is
 * exit 4. */
TEST(cli_mock_watch_json_and_give_up)
{
    if (!cli_present())
        return;
    static const MockReply replies[] = {
        {SSE_200 "event: run\ndata: {\"id\": 2, \"status\": \"running\"}\n\n"
                 "event: end\nid: 4\ndata: {\"id\": 2, \"status\": \"succeeded\"}\n\n",
         0, 0, 0},
        {"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
         "{\"error\": {\"code\": \"not_found\", \"message\": \"no run 2\"}}",
         0, 0, 0},
        {SSE_200 "retry: 100\n\nevent: run\ndata: {\"id\": 2, \"status\": \"running\"}\n\n", 0, 0,
         0},
        {SSE_200 "event: run\ndata: {\"id\": 2, \"status\": \"running\"}\n\n", 0, 0, 0},
        {SSE_200 "event: run\ndata: {\"id\": 2, \"status\": \"running\"}\n\n", 0, 0, 0},
        {SSE_200 "event: run\ndata: {\"id\": 2, \"status\": \"running\"}\n\n", 0, 0, 0},
        {SSE_200 "event: run\ndata: {\"id\": 2, \"status\": \"running\"}\n\n", 0, 0, 0},
        {SSE_200 "event: run\ndata: {\"id\": 2, \"status\": \"running\"}\n\n", 0, 0, 0},
        {JSON_200("{\"id\": 2}"), 0, 0, 0}, /* not an event stream */
    };
    Mock m;
    CliRun r;
    if (!mock_start(&m, replies, 9))
        return;
    r = run_cli(m.url, (const char *[]){"--json", "watch", "2", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strcmp(r.out, "{\"event\":\"run\",\"id\":null,\"data\":{\"id\":2,\"status\":"
                            "\"running\"}}\n{\"event\":\"end\",\"id\":\"4\",\"data\":{\"id\":2,"
                            "\"status\":\"succeeded\"}}\n") == 0,
              "%s", r.out);
    run_free(&r);
    r = run_cli(m.url, (const char *[]){"watch", "2", NULL});
    CHECK_RUN(r, 4);
    CHECK(strcmp(r.err, "gsimclr: no run 2\n") == 0);
    run_free(&r);
    r = run_cli(m.url, (const char *[]){"watch", "2", NULL});
    CHECK_RUN(r, 3);
    CHECK_MSG(strstr(r.err, "lost the event stream of run 2") != NULL, "%s", r.err);
    CHECK(strstr(r.out, "try 5 of 5") != NULL);
    run_free(&r);
    r = run_cli(m.url, (const char *[]){"watch", "2", NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strstr(r.err, "not an event stream") != NULL, "%s", r.err);
    run_free(&r);
    mock_stop(&m);
    mock_free(&m);
}

/* ---- a terminal, and Ctrl-C --------------------------------------------------------------- */

/* Runs the client with its standard output on a pseudo-terminal `cols` columns wide (0: no
 * size set, so COLUMNS decides) or on a file (cols < 0), and, when interrupt_on is set, sends
 * it SIGINT once its standard output holds that text, as Ctrl-C would. */
static CliRun run_cli_tty(const char *server, const char *const *args, const char *const *env,
                          int cols, const char *interrupt_on, double timeout_s)
{
    CliRun r = {-1, NULL, NULL};
    char dir[] = "/tmp/gs_clitty_XXXXXX", err_path[64], out_path[64], server_env[256];
    const char *argv[64], *envp[32];
    int na = 0, ne = 0, status = 0, master = -1;
    size_t len = 0, cap = 1 << 16;
    char *out = calloc(1, cap + 1);
    bool sent = false;
    struct timespec t0, t1;
    if (!out || !mkdtemp(dir)) {
        free(out);
        r.out = strdup("");
        r.err = strdup("no memory or mkdtemp failed");
        return r;
    }
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    if (cols >= 0) {
        master = posix_openpt(O_RDWR | O_NOCTTY);
        if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || !ptsname(master)) {
            CHECK_MSG(0, "no pseudo-terminal: %s", strerror(errno));
            if (master >= 0)
                close(master);
            free(out);
            rmdir(dir);
            r.out = strdup("");
            r.err = strdup("");
            return r;
        }
        struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)cols};
        ioctl(master, TIOCSWINSZ, &ws);
    }
    argv[na++] = cli_binary();
    for (int i = 0; args[i] && na < 63; i++)
        argv[na++] = args[i];
    argv[na] = NULL;
    envp[ne++] = "PATH=/usr/bin:/bin";
    envp[ne++] = "ASAN_OPTIONS=exitcode=86:detect_leaks=1";
    envp[ne++] = "UBSAN_OPTIONS=halt_on_error=1:exitcode=87:print_stacktrace=1";
    snprintf(server_env, sizeof server_env, "GSIMCLR_SERVER=%s", server);
    envp[ne++] = server_env;
    for (int i = 0; env && env[i] && ne < 31; i++)
        envp[ne++] = env[i];
    envp[ne] = NULL;
    char *slave = master >= 0 ? strdup(ptsname(master)) : NULL;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        int o = master >= 0 ? open(slave, O_RDWR) : open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || in < 0)
            _exit(120);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        execve(argv[0], (char *const *)argv, (char *const *)envp);
        _exit(121);
    }
    for (bool done = pid <= 0; !done;) {
        if (master >= 0) {
            struct pollfd pfd = {master, POLLIN, 0};
            while (poll(&pfd, 1, 10) > 0 && len < cap) {
                ssize_t n = read(master, out + len, cap - len);
                if (n <= 0)
                    break;
                len += (size_t)n;
                out[len] = '\0';
            }
        } else {
            char *now = slurp(out_path);
            snprintf(out, cap + 1, "%s", now);
            len = strlen(out);
            free(now);
            sleep_ms(10);
        }
        if (interrupt_on && !sent && strstr(out, interrupt_on)) {
            kill(pid, SIGINT);
            sent = true;
        }
        if (waitpid(pid, &status, WNOHANG) == pid)
            done = true;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (!done && (double)(t1.tv_sec - t0.tv_sec) > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            status = -1;
            done = true;
        }
    }
    if (master >= 0) { /* what is left in the terminal after the exit */
        struct pollfd pfd = {master, POLLIN, 0};
        ssize_t n;
        while (len < cap && poll(&pfd, 1, 50) > 0 && (n = read(master, out + len, cap - len)) > 0)
            len += (size_t)n;
        out[len] = '\0';
        close(master);
    } else {
        char *now = slurp(out_path);
        snprintf(out, cap + 1, "%s", now);
        free(now);
    }
    if (status == -1)
        r.code = -1;
    else if (WIFEXITED(status))
        r.code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        r.code = 128 + WTERMSIG(status);
    r.out = out;
    r.err = slurp(err_path);
    unlink(err_path);
    unlink(out_path);
    rmdir(dir);
    free(slave);
    CHECK_MSG(r.code >= 0, "%s timed out after %.0f s", args[0], timeout_s);
    CHECK_MSG((r.code < 86 || (sent && r.code == 130)) && !strstr(r.err, "Sanitizer") &&
                  !strstr(r.err, "runtime error"),
              "%s: crashed or sanitizer report (exit %d):\n%s", args[0], r.code, r.err);
    return r;
}

/* Removes ANSI escape sequences (ESC [ ... letter) and carriage returns in place. */
static void strip_terminal(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '\033' && p[1] == '[') {
            p += 2;
            while (*p && !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
                p++;
            if (!*p)
                break;
            continue;
        }
        if (*p != '\r')
            *o++ = *p;
    }
    *o = '\0';
}

#define SSE_RUNNING(id)                                                                    \
    "event: run\ndata: {\"id\": " id ", \"name\": \"demo\", \"status\": \"running\", "       \
    "\"progress\": 0.5, \"stages\": [{\"name\": \"dae\", \"status\": \"succeeded\", "        \
    "\"epoch\": 5, \"epochs\": 5, \"seconds\": 168.2, \"loss\": 0.0182}, {\"name\": \"kmeans\", " \
    "\"status\": \"succeeded\", \"seconds\": 6.1, \"loss\": 0.861}, {\"name\": \"simclr\", "    \
    "\"status\": \"running\"}, {\"name\": \"eval\", \"status\": \"pending\"}]}\n\n"           \
    "event: progress\ndata: {\"stage\": \"simclr\", \"epoch\": 12, \"epochs\": 28, "           \
    "\"step\": 11000, \"steps\": 26236, \"loss\": 4.3012, \"items_per_s\": 1116.4, "            \
    "\"eta_s\": 725.3, \"progress\": 0.51}\n\n"

/* watch on an 80-column terminal (the window's size, and COLUMNS=80): the live block's lines
 * fit in 79 columns, and the SimCLR line ends with its ETA. */
TEST(cli_watch_terminal_80_columns)
{
    if (!cli_present())
        return;
    static const MockReply replies[] = {
        {SSE_200 SSE_RUNNING("3") "event: end\ndata: {\"id\": 3, \"status\": \"succeeded\"}\n\n",
         0, 0, 0},
        {SSE_200 SSE_RUNNING("3") "event: end\ndata: {\"id\": 3, \"status\": \"succeeded\"}\n\n",
         0, 0, 0},
    };
    for (int k = 0; k < 2; k++) {
        Mock m;
        if (!mock_start(&m, replies + k, 1))
            return;
        /* first a terminal that says it is 80 wide, then one that says nothing (COLUMNS) */
        CliRun r = run_cli_tty(m.url, (const char *[]){"watch", "3", NULL},
                               (const char *[]){"COLUMNS=80", "TERM=xterm", NULL}, k ? 0 : 80,
                               NULL, 30);
        CHECK_RUN(r, 0);
        strip_terminal(r.out);
        int stage_lines = 0;
        bool eta = false;
        for (char *l = strtok(r.out, "\n"); l; l = strtok(NULL, "\n")) {
            if (strncmp(l, "run 3 succeeded", 15) == 0)
                continue;
            CHECK_MSG(cli_utf8_width(l) <= 79, "case %d: %zu columns: '%s'", k,
                      cli_utf8_width(l), l);
            if (strncmp(l, "simclr [", 8) == 0) {
                stage_lines++;
                eta = eta || strstr(l, "1116 img/s  ETA 12m05s") != NULL;
            }
        }
        CHECK_MSG(stage_lines > 0 && eta, "case %d: no SimCLR line with its ETA", k);
        run_free(&r);
        mock_stop(&m);
        mock_free(&m);
    }
}

/* Ctrl-C while following a run (watch, submit --wait) stops the client only: it says the run
 * goes on, how to follow it again and how to cancel it (with the --server it was given), and
 * exits 130; nothing is sent to the daemon. */
TEST(cli_interrupt_says_the_run_goes_on)
{
    if (!cli_present())
        return;
    /* a stream that stays open: keep-alive comments, a few bytes at a time */
    static char stream[16384];
    size_t n = (size_t)snprintf(stream, sizeof stream, "%s", SSE_200 SSE_RUNNING("7"));
    while (n + 8 < sizeof stream)
        n += (size_t)snprintf(stream + n, sizeof stream - n, ": k\n");
    static const char created[] =
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        "{\"id\": 7, \"status\": \"queued\"}";
    MockReply replies[] = {
        {stream, 0, 256, 100}, /* watch */
        {created, 0, 0, 0},    /* submit --wait: the POST, */
        {stream, 0, 256, 100}, /* then its stream */
    };
    Mock m;
    if (!mock_start(&m, replies, 3))
        return;
    CliRun r = run_cli_tty(m.url, (const char *[]){"watch", "7", NULL}, NULL, -1,
                           "run 7 (demo): running", 30);
    CHECK_RUN(r, 130);
    CHECK_MSG(strstr(r.err, "stopped watching; run 7 goes on in gsimclrd") &&
                  strstr(r.err, "follow it again:  gsimclr watch 7\n") &&
                  strstr(r.err, "cancel it:        gsimclr cancel 7\n"),
              "stderr:\n%s", r.err);
    run_free(&r);
    char server_opt[96];
    snprintf(server_opt, sizeof server_opt, "--server=%s", m.url);
    r = run_cli_tty("http://127.0.0.1:9", (const char *[]){server_opt, "submit", "--wait", NULL},
                    NULL, -1, "run 7 (demo): running", 30);
    CHECK_RUN(r, 130);
    char want[200];
    snprintf(want, sizeof want, "gsimclr --server %s cancel 7\n", m.url);
    CHECK_MSG(strncmp(r.out, "7\n", 2) == 0 && strstr(r.err, "run 7 goes on") &&
                  strstr(r.err, want),
              "stdout:\n%s\nstderr:\n%s", r.out, r.err);
    run_free(&r);
    mock_stop(&m);
    /* the client asked for the stream and nothing else: no cancel was sent */
    CHECK_INT_EQ(m.n_req, 3);
    for (int i = 0; i < m.n_req; i++)
        CHECK_MSG(!strstr(m.req[i], "/cancel"), "%s", m.req[i]);
    mock_free(&m);
}

/* checkpoint without -c: the list, then the newest by id, saved under the name asked for; a
 * failed download leaves no file behind. */
TEST(cli_mock_downloads)
{
    if (!cli_present())
        return;
    static const char ckpt[] = "GSCK\x01\x00\x00\x00binary\x00\xff payload";
    char reply2[256];
    int hl = snprintf(reply2, sizeof reply2,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      sizeof ckpt - 1);
    memcpy(reply2 + hl, ckpt, sizeof ckpt - 1);
    MockReply replies[] = {
        {JSON_200("{\"checkpoints\": [{\"id\": 9, \"stage\": \"simclr\", \"epoch\": 4}, "
                  "{\"id\": 11, \"stage\": \"simclr\", \"epoch\": 5}, {\"id\": 10}]}"),
         0, 0, 0},
        {reply2, (size_t)hl + sizeof ckpt - 1, 5, 1},
        {"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
         "{\"error\": {\"code\": \"not_found\", \"message\": \"no checkpoint 3\"}}",
         0, 0, 0},
        {JSON_200("{\"checkpoints\": []}"), 0, 0, 0},
        {"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nConnection: close\r\n\r\n"
         "image,cluster\n0,3\n1,0\n",
         0, 0, 0},
    };
    char dir[] = "/tmp/gs_cli_XXXXXX", file[96];
    Mock m;
    CliRun r;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(file, sizeof file, "%s/c.gsck", dir);
    if (!mock_start(&m, replies, 5))
        return;
    r = run_cli(m.url, (const char *[]){"checkpoint", "1", "-o", file, NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strstr(r.out, "checkpoint 11 (simclr, epoch 5)") != NULL, "%s", r.out);
    run_free(&r);
    {
        FILE *f = fopen(file, "rb");
        char got[64] = {0};
        size_t n = f ? fread(got, 1, sizeof got, f) : 0;
        CHECK_INT_EQ(n, sizeof ckpt - 1);
        CHECK(memcmp(got, ckpt, sizeof ckpt - 1) == 0);
        if (f)
            fclose(f);
        unlink(file);
    }
    r = run_cli(m.url, (const char *[]){"checkpoint", "1", "-c", "3", "-o", file, NULL});
    CHECK_RUN(r, 4);
    CHECK(strcmp(r.err, "gsimclr: no checkpoint 3\n") == 0);
    CHECK(access(file, F_OK) != 0);
    run_free(&r);
    r = run_cli(m.url, (const char *[]){"checkpoint", "1", "-o", file, NULL});
    CHECK_RUN(r, 4);
    CHECK(strcmp(r.err, "gsimclr: run 1 has no checkpoints\n") == 0);
    run_free(&r);
    r = run_cli(m.url, (const char *[]){"pseudo-labels", "1", "-o", "-", NULL});
    CHECK_RUN(r, 0);
    CHECK(strcmp(r.out, "image,cluster\n0,3\n1,0\n") == 0);
    run_free(&r);
    mock_stop(&m);
    if (m.n_req == 5) {
        CHECK(strncmp(m.req[0], "GET /v1/runs/1/checkpoints HTTP", 31) == 0);
        CHECK(strncmp(m.req[1], "GET /v1/runs/1/checkpoints/11 HTTP", 34) == 0);
        CHECK(strncmp(m.req[4], "GET /v1/runs/1/pseudo-labels HTTP", 33) == 0);
    }
    mock_free(&m);
    /* no temporary file left either */
    CHECK_MSG(rmdir(dir) == 0, "%s is not empty", dir);
}

/* Usage errors (2) and an address nobody listens on (3), no server needed. */
TEST(cli_exit_codes_offline)
{
    if (!cli_present())
        return;
    static const char *const usage[][6] = {
        {"nosuch"},
        {"show"},
        {"show", "abc"},
        {"show", "0"},
        {"show", "1", "2"},
        {"list", "--limit", "501"},
        {"list", "--bogus"},
        {"submit", "--epochs", "-1"},
        {"submit", "--method", "byol"},
        {"submit", "--set", "noequals"},
        {"submit", "-f", "/nonexistent/config.json"},
        {"metrics", "1", "--stage"},
        {"clusters", "1", "--grid", "2"},
        {"clusters", "1", "-o", "x.png"},
        {"clusters", "1", "--grid", "0", "-o", "x.png"},  /* --n needs --grid: fine here */
        {"pseudo-labels", "1"},
        {"pseudo-labels", "1", "-o", "x", "--format", "xml"},
        {"checkpoint", "1"},
        {"compare"},
        {"watch"},
        {"--token-file", "/nonexistent/token", "list"},
    };
    int n = (int)(sizeof usage / sizeof usage[0]);
    int sock = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof a;
    char url[64];
    CliRun r;
    for (int i = 0; i < n; i++) {
        if (i == 14)
            continue; /* valid usage; it needs a server */
        r = run_cli("http://127.0.0.1:9", usage[i]);
        CHECK_MSG(r.code == 2, "%s %s: exit %d, want 2\n%s", usage[i][0],
                  usage[i][1] ? usage[i][1] : "", r.code, r.err);
        CHECK_MSG(strncmp(r.err, "gsimclr", 7) == 0, "%s", r.err);
        run_free(&r);
    }
    /* a port that was bound and released: nobody listens */
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sock >= 0 && bind(sock, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(sock, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    if (sock >= 0)
        close(sock);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    static const char *const down[][4] = {{"list"}, {"show", "1"}, {"watch", "1"},
                                          {"submit"}, {"compare", "1", "2"}};
    for (size_t i = 0; i < sizeof down / sizeof down[0]; i++) {
        r = run_cli(url, down[i]);
        CHECK_RUN(r, 3);
        CHECK_MSG(strstr(r.err, "gsimclr: cannot reach") != NULL, "%s", r.err);
        run_free(&r);
    }
    /* help and version: exit 0, every subcommand has its own help */
    static const char *const helps[] = {"submit", "list", "show", "watch", "cancel", "delete",
                                        "annotate", "metrics", "clusters", "pseudo-labels",
                                        "checkpoint", "compare"};
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        r = run_cli(NULL, (const char *[]){helps[i], "--help", NULL});
        CHECK_RUN(r, 0);
        CHECK_MSG(strncmp(r.out, "Usage: gsimclr ", 15) == 0 && strstr(r.out, "Exit codes:"),
                  "%s --help:\n%s", helps[i], r.out);
        run_free(&r);
    }
    r = run_cli(NULL, (const char *[]){"--help", NULL});
    CHECK_RUN(r, 0);
    CHECK(strstr(r.out, "GSIMCLR_SERVER") && strstr(r.out, "GSIMCLR_TOKEN") &&
          strstr(r.out, "  4  the server said no"));
    run_free(&r);
    r = run_cli(NULL, (const char *[]){"--version", NULL});
    CHECK_RUN(r, 0);
    CHECK(strncmp(r.out, "gsimclr ", 8) == 0);
    run_free(&r);
}

/* ---- against the real daemon ------------------------------------------------------------ */

typedef struct {
    Service *svc;
    char dir[64], url[64];
} Daemon;

static bool daemon_start(Daemon *d)
{
    ServiceConfig cfg;
    GsErr err;
    char db[128];
    memset(d, 0, sizeof *d);
    if (!service_start || !service_port || !service_stop || !service_config_defaults) {
        printf("    note: the daemon's service is not linked in; end-to-end CLI tests skipped\n");
        return false;
    }
    snprintf(d->dir, sizeof d->dir, "/tmp/gs_clid_XXXXXX");
    if (!mkdtemp(d->dir)) {
        CHECK_MSG(0, "mkdtemp");
        return false;
    }
    snprintf(db, sizeof db, "%s/db", d->dir);
    service_config_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.data_dir = db;
    cfg.web_dir = d->dir;
    cfg.examples_dir = "examples";
    cfg.workers = 1;
    cfg.threads = 2;
    if (service_start(&d->svc, &cfg, &err) != 0) {
        CHECK_MSG(0, "service_start: %s", err.msg);
        return false;
    }
    snprintf(d->url, sizeof d->url, "http://127.0.0.1:%d", service_port(d->svc));
    return true;
}

static void daemon_stop(Daemon *d)
{
    char cmd[160];
    service_stop(d->svc);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    if (strncmp(d->dir, "/tmp/gs_clid_", 13) == 0 && system(cmd) != 0)
        CHECK_MSG(0, "%s failed", cmd);
}

#define TINY_RUN                                                                            \
    "{\"name\": \"cli tiny\", \"subset\": 1000, \"test_subset\": 300, \"dae\": {\"filters\": " \
    "[8,16,32], \"epochs\": 1}, \"kmeans\": {\"k\": 16, \"n_init\": 1}, \"simclr\": "         \
    "{\"encoder\": {\"arch\": \"cnn3\", \"width\": 8, \"head\": [32,16]}, \"epochs\": 1, "    \
    "\"batch\": 64}, \"eval\": {\"linear\": {\"epochs\": 2}, \"knn_k\": 10}}"

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A tiny G-SimCLR run submitted with --wait, then every subcommand on it. */
TEST(cli_daemon_end_to_end)
{
    if (!cli_present())
        return;
    Daemon d;
    char dir[] = "/tmp/gs_cli_XXXXXX", cfg[96], ckpt[96], grid[96], labels[96];
    CliRun r;
    FILE *f;
    if (!daemon_start(&d))
        return;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cfg, sizeof cfg, "%s/tiny.json", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run.gsck", dir);
    snprintf(grid, sizeof grid, "%s/grid.png", dir);
    snprintf(labels, sizeof labels, "%s/labels.csv", dir);
    f = fopen(cfg, "w");
    if (f) {
        fputs(TINY_RUN, f);
        fclose(f);
    }

    r = run_cli_env(d.url, (const char *[]){"submit", "-f", cfg, "--seed", "3", "--wait", NULL},
                    NULL, 300);
    CHECK_RUN(r, 0);
    CHECK_MSG(strncmp(r.out, "1\nrun 1 (cli tiny): ", 20) == 0, "%s", r.out);
    /* every stage's end is reported, in order, whatever the progress samples happened to show */
    {
        const char *dae = strstr(r.out, "\ndae  succeeded in "),
                   *km = strstr(r.out, "\nkmeans  succeeded in "),
                   *sim = strstr(r.out, "\nsimclr  succeeded in "),
                   *ev = strstr(r.out, "\neval  succeeded in ");
        CHECK_MSG(dae && km && sim && ev && dae < km && km < sim && sim < ev, "%s", r.out);
        /* the simclr line says the epochs it ran: "simclr  succeeded in 0.9s  epoch 1/1 ..." */
        const char *sim_end = sim ? strchr(sim + 1, '\n') : NULL;
        const char *ep = sim ? strstr(sim, "  epoch 1/1") : NULL;
        CHECK_MSG(ep && sim_end && ep < sim_end, "%s", r.out);
    }
    CHECK(strstr(r.out, "run 1 succeeded in ") && strstr(r.out, "linear top-1 "));
    run_free(&r);

    r = run_cli(d.url, (const char *[]){"list", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strncmp(r.out, "ID  STATUS     METHOD   NAME      PROGRESS", 42) == 0 &&
                  strstr(r.out, "\n 1  succeeded  gsimclr  cli tiny      100%"),
              "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"list", "--json", "--status", "failed", NULL});
    CHECK_RUN(r, 0);
    CHECK(strstr(r.out, "\"runs\":[]") || strstr(r.out, "\"runs\": []"));
    run_free(&r);

    r = run_cli(d.url, (const char *[]){"show", "1", NULL});
    CHECK_RUN(r, 0);
    CHECK(strstr(r.out, "  status                 succeeded\n") != NULL);
    CHECK(strstr(r.out, "seed 3") != NULL);
    CHECK(strstr(r.out, "\nsimclr  succeeded    1/1") != NULL);
    CHECK(strstr(r.out, "  linear top-1           ") != NULL);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"--json", "show", "1", NULL});
    CHECK_RUN(r, 0);
    {
        cJSON *run = cJSON_Parse(r.out);
        CHECK(cJSON_IsObject(run) && cli_json_num(run, "id") == 1 &&
              cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(run, "config")));
        cJSON_Delete(run);
    }
    run_free(&r);

    r = run_cli(d.url, (const char *[]){"metrics", "1", "--csv", NULL});
    CHECK_RUN(r, 0);
    CHECK(strncmp(r.out, "id,stage,epoch,step,name,value,time\n", 36) == 0);
    CHECK(strstr(r.out, ",simclr,1,-1,loss,") && strstr(r.out, ",eval,"));
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"metrics", "1", "--stage", "kmeans", "--name", "purity",
                                        NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(count_lines(r.out) == 2 && strstr(r.out, "kmeans") && strstr(r.out, "purity"),
              "%s", r.out);
    run_free(&r);

    r = run_cli(d.url, (const char *[]){"clusters", "1", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strncmp(r.out, "k 16  images 1000  purity ", 26) == 0, "%s", r.out);
    CHECK_MSG(strstr(r.out, "CLUSTER  SIZE  MAJORITY LABEL") != NULL, "%s", r.out);
    CHECK_INT_EQ(count_lines(r.out), 1 + 1 + 1 + 16);
    /* the labels by Fashion-MNIST's class names, as the page shows them */
    {
        static const char *const names[] = {" \xc2\xb7 T-shirt/top", " \xc2\xb7 Trouser",
                                            " \xc2\xb7 Pullover", " \xc2\xb7 Dress",
                                            " \xc2\xb7 Coat", " \xc2\xb7 Sandal",
                                            " \xc2\xb7 Shirt", " \xc2\xb7 Sneaker",
                                            " \xc2\xb7 Bag", " \xc2\xb7 Ankle boot"};
        int named = 0;
        for (int i = 0; i < 10; i++)
            named += strstr(r.out, names[i]) != NULL;
        CHECK_MSG(named >= 3, "%d class names in:\n%s", named, r.out);
    }
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"clusters", "1", "--grid", "0", "-o", grid, "--n", "8",
                                        NULL});
    CHECK_RUN(r, 0);
    {
        char *png = slurp(grid);
        CHECK(memcmp(png, "\x89PNG", 4) == 0);
        free(png);
    }
    run_free(&r);

    r = run_cli(d.url, (const char *[]){"pseudo-labels", "1", "-o", labels, NULL});
    CHECK_RUN(r, 0);
    {
        char *csv = slurp(labels);
        CHECK(strncmp(csv, "image,cluster\n", 14) == 0);
        CHECK_INT_EQ(count_lines(csv), 1001);
        free(csv);
    }
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"pseudo-labels", "1", "-o", "-", "--format", "json",
                                        NULL});
    CHECK_RUN(r, 0);
    {
        cJSON *pl = cJSON_Parse(r.out);
        CHECK(cli_json_num(pl, "n") == 1000 &&
              cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pl, "clusters")) == 1000);
        cJSON_Delete(pl);
    }
    run_free(&r);

    r = run_cli(d.url, (const char *[]){"checkpoint", "1", "-o", ckpt, NULL});
    CHECK_RUN(r, 0);
    CHECK(strstr(r.out, "(simclr, epoch 1)") != NULL);
    {
        char *c = slurp(ckpt);
        CHECK(memcmp(c, "GSCK", 4) == 0);
        free(c);
    }
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"checkpoint", "1", "--list", NULL});
    CHECK_RUN(r, 0);
    CHECK(strstr(r.out, "dae") && strstr(r.out, "kmeans") && strstr(r.out, "simclr"));
    run_free(&r);

    /* a second, plain SimCLR run to compare with */
    r = run_cli_env(d.url, (const char *[]){"submit", "-f", cfg, "--method", "simclr", "--name",
                                            "cli simclr", "--wait", "--json", NULL},
                    NULL, 300);
    CHECK_RUN(r, 0);
    {
        cJSON *run = cJSON_Parse(r.out);
        const char *st = cli_json_str(run, "status");
        CHECK_MSG(st && strcmp(st, "succeeded") == 0, "%s", r.out);
        cJSON_Delete(run);
    }
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"compare", "1", "2", NULL});
    CHECK_RUN(r, 0);
    CHECK(strstr(r.out, "run 1") && strstr(r.out, "run 2"));
    CHECK(strstr(r.out, "\nmethod ") && strstr(r.out, "gsimclr") && strstr(r.out, "simclr"));
    CHECK(strstr(r.out, "\nlinear top-1 ") && strstr(r.out, "\ntotal time "));
    /* plain SimCLR skips the autoencoder and k-means: said so, not "0.0s" */
    {
        const char *dae = strstr(r.out, "\ndae time "), *km = strstr(r.out, "\nkmeans time ");
        const char *dae_end = dae ? strchr(dae + 1, '\n') : NULL;
        const char *km_end = km ? strchr(km + 1, '\n') : NULL;
        CHECK_MSG(dae_end && km_end && strstr(dae, "skipped") && strstr(dae, "skipped") < dae_end &&
                      strstr(km, "skipped") < km_end,
                  "%s", r.out);
    }
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"show", "2", NULL});
    CHECK_RUN(r, 0);
    {
        /* the stage table's row: its SECONDS say skipped too, its EPOCH and STEP no "0/0" */
        const char *row = strstr(r.out, "\ndae     skipped"), *end = row ? strchr(row + 1, '\n') : NULL;
        const char *sec = row ? strstr(row + 16, "skipped") : NULL;
        CHECK_MSG(row && end && sec && sec < end && !strstr(r.out, "0/0"), "%s", r.out);
    }
    CHECK_MSG(strstr(r.out, "  dae time               skipped\n") &&
                  strstr(r.out, "  kmeans time            skipped\n"),
              "%s", r.out);
    run_free(&r);

    /* tags and a note: set, shown, found by list --search; a refused one changes nothing */
    r = run_cli(d.url, (const char *[]){"annotate", "1", "--tags", " baseline, tiny ,,",
                                        "--note", "first try\nlr 3e-3", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strstr(r.out, "  tags                   baseline, tiny\n") &&
                  strstr(r.out, "  note                   first try\n"
                                "                         lr 3e-3\n"),
              "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"annotate", "1", "--tags", "a,a", NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strstr(r.err, "(field tags[1])"), "%s", r.err);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"annotate", "1", NULL});
    CHECK_RUN(r, 2);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"show", "1", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strstr(r.out, "  tags                   baseline, tiny\n") &&
                  strstr(r.out, "  note                   first try\n"),
              "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"list", "--search", "BASELINE", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(count_lines(r.out) == 2 && strstr(r.out, "\n 1  succeeded"), "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"list", "--search", "no such text", NULL});
    CHECK_RUN(r, 0);
    CHECK(strcmp(r.out, "no runs\n") == 0);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"compare", "--json", "1", "2", NULL});
    CHECK_RUN(r, 0);
    {
        cJSON *arr = cJSON_Parse(r.out);
        CHECK(cJSON_GetArraySize(arr) == 2);
        CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 1), "k")));
        cJSON_Delete(arr);
    }
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"clusters", "2", NULL}); /* simclr has none */
    CHECK_RUN(r, 4);
    run_free(&r);

    /* the server says no: messages, fields, exit 4 */
    r = run_cli(d.url, (const char *[]){"cancel", "1", NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strncmp(r.err, "gsimclr: ", 9) == 0 && !strchr(r.err, '{'), "%s", r.err);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"show", "99999", NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strncmp(r.err, "gsimclr: ", 9) == 0 && !strchr(r.err, '{'), "%s", r.err);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"submit", "--batch", "1", NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strstr(r.err, "(field simclr.batch)\n") != NULL, "%s", r.err);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"submit", "--set", "simclr.nonsense=1", NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strstr(r.err, "simclr.nonsense") != NULL, "%s", r.err);
    run_free(&r);

    r = run_cli(d.url, (const char *[]){"delete", "2", NULL});
    CHECK_RUN(r, 0);
    CHECK(strcmp(r.out, "run 2 deleted\n") == 0);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"show", "2", NULL});
    CHECK_RUN(r, 4);
    run_free(&r);

    unlink(cfg);
    unlink(ckpt);
    unlink(grid);
    unlink(labels);
    rmdir(dir);
    daemon_stop(&d);
}

/* cancel: a queued run at once; a running one followed by watch ends canceled (exit 1). */
TEST(cli_daemon_cancel)
{
    if (!cli_present())
        return;
    Daemon d;
    CliRun r;
    char id1[32] = "", id2[32] = "";
    if (!daemon_start(&d))
        return;
    /* a long run to be canceled while running, and one behind it in the queue */
    r = run_cli(d.url, (const char *[]){"submit", "--name", "long", "--subset", "2000",
                                        "--epochs", "50", "--set", "simclr.encoder.arch=cnn3",
                                        "--set", "dae.epochs=20", NULL});
    CHECK_RUN(r, 0);
    snprintf(id1, sizeof id1, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"submit", "--name", "queued", NULL});
    CHECK_RUN(r, 0);
    snprintf(id2, sizeof id2, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    run_free(&r);

    r = run_cli(d.url, (const char *[]){"cancel", id2, NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strstr(r.out, "canceled") != NULL, "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"delete", id1, NULL}); /* still running: 409 */
    CHECK_RUN(r, 4);
    run_free(&r);
    /* wait until it runs, then cancel and watch it end */
    for (int i = 0; i < 200; i++) {
        r = run_cli(d.url, (const char *[]){"--json", "show", id1, NULL});
        bool running = strstr(r.out, "\"status\":\"running\"") ||
                       strstr(r.out, "\"status\": \"running\"");
        run_free(&r);
        if (running)
            break;
        sleep_ms(50);
    }
    r = run_cli(d.url, (const char *[]){"cancel", id1, NULL});
    CHECK_RUN(r, 0);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"watch", id1, NULL});
    CHECK_RUN(r, 1);
    CHECK_MSG(strstr(r.out, "canceled") != NULL, "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"list", "--status", "canceled", NULL});
    CHECK_RUN(r, 0);
    CHECK_INT_EQ(count_lines(r.out), 3);
    run_free(&r);
    daemon_stop(&d);
}

/* Fine-tuning's output through the daemon: a pretrained run with eval.finetune shows its
 * table (fraction, labels, fine-tuned, from scratch, gain) in `show` and `compare`, and a
 * method supervised run skips every pretraining stage, reports only the from-scratch column,
 * the same figure as the pretrained run's, and is listed by --method supervised. */
TEST(cli_daemon_finetune_and_supervised)
{
    if (!cli_present())
        return;
    Daemon d;
    CliRun r;
    if (!daemon_start(&d))
        return;
    const char *ft[] = {"--subset", "1000", "--set", "test_subset=300", "--set",
                        "simclr.encoder.arch=cnn3", "--set", "simclr.encoder.width=8",
                        "--set", "simclr.encoder.head=[32,16]", "--epochs", "1", "--set",
                        "eval.linear.epochs=2", "--set", "eval.finetune.fractions=[0.1]",
                        "--set", "eval.finetune.epochs=3", "--seed", "5", "--wait"};
    const char *argv[32] = {"submit", "--method", "simclr"};
    int n = 3;
    for (size_t i = 0; i < sizeof ft / sizeof *ft; i++)
        argv[n++] = ft[i];
    argv[n] = NULL;
    r = run_cli_env(d.url, argv, NULL, 300);
    CHECK_RUN(r, 0);
    run_free(&r);
    argv[2] = "supervised";
    r = run_cli_env(d.url, argv, NULL, 300);
    CHECK_RUN(r, 0);
    CHECK_MSG(strstr(r.out, "\ndae  skipped") && strstr(r.out, "\nkmeans  skipped") &&
                  strstr(r.out, "\nsimclr  skipped") && strstr(r.out, "\neval  succeeded in "),
              "%s", r.out);
    run_free(&r);

    /* show: the table, the pretrained run with all four figures, the supervised one with
     * only its from-scratch column */
    char scratch1[32] = "", scratch2[32] = "";
    for (int id = 1; id <= 2; id++) {
        char ids[16];
        snprintf(ids, sizeof ids, "%d", id);
        r = run_cli(d.url, (const char *[]){"show", ids, NULL});
        CHECK_RUN(r, 0);
        const char *head = strstr(r.out, "\nfine-tuning  labels");
        CHECK_MSG(head && strstr(head, "fine-tuned  from scratch"), "%s", r.out);
        const char *row = head ? strstr(head + 1, "\n10%") : NULL;
        CHECK_MSG(row != NULL, "%s", r.out);
        if (row) {
            char frac[8], lab[16], a[16], b[16], g[16];
            int got = sscanf(row + 1, "%7s %15s %15s %15s %15s", frac, lab, a, b, g);
            CHECK_MSG(got == 5, "%s", row);
            snprintf(id == 1 ? scratch1 : scratch2, sizeof scratch1, "%s", b);
            if (id == 1)
                CHECK_MSG(strchr(a, '%') && strchr(b, '%') && (g[0] == '+' || g[0] == '-') &&
                              g[1] != 0,
                          "%s", row);
            else
                CHECK_MSG(strcmp(a, "-") == 0 && strchr(b, '%') && strcmp(g, "-") == 0,
                          "%s", row);
        }
        run_free(&r);
    }
    CHECK_MSG(scratch1[0] && strcmp(scratch1, scratch2) == 0, "from scratch: %s vs %s",
              scratch1, scratch2);
    r = run_cli(d.url, (const char *[]){"--json", "show", "2", NULL});
    CHECK_RUN(r, 0);
    {
        cJSON *run = cJSON_Parse(r.out);
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(run, "result");
        const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "finetune"), 0);
        CHECK_MSG(row && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(row, "finetuned_top1")) &&
                      cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(row, "scratch_top1")) &&
                      cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(res, "simclr_loss")),
                  "%s", r.out);
        cJSON_Delete(run);
    }
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"list", "--method", "supervised", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(count_lines(r.out) == 2 && strstr(r.out, "supervised"), "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"compare", "1", "2", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strstr(r.out, "10%") != NULL, "%s", r.out);
    run_free(&r);
    daemon_stop(&d);
}

/* gsimclr sweep: submitted from a file and followed with --wait, its table, paired
 * differences and verdict lines; sweeps; show --csv and --json; the refusals and their exit
 * codes; delete. */
TEST(cli_daemon_sweep)
{
    if (!cli_present())
        return;
    Daemon d;
    char dir[] = "/tmp/gs_cli_XXXXXX", spec[96], bad[96];
    CliRun r;
    if (!daemon_start(&d))
        return;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(spec, sizeof spec, "%s/sweep.json", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    FILE *f = fopen(spec, "w");
    if (f) {
        fputs("{\"name\": \"cli sweep\", \"base\": {\"subset\": 400, \"test_subset\": 200,"
              " \"threads\": 1, \"dae\": {\"filters\": [4, 8, 8], \"epochs\": 1},"
              " \"kmeans\": {\"k\": 8, \"n_init\": 1}, \"simclr\": {\"encoder\": {\"arch\":"
              " \"cnn3\", \"width\": 4, \"head\": [16, 8]}, \"epochs\": 1, \"batch\": 32},"
              " \"eval\": {\"linear\": {\"epochs\": 2}, \"knn_k\": 10}},"
              " \"grid\": {\"method\": [\"gsimclr\", \"simclr\"], \"seed\": [1, 2]}}\n", f);
        fclose(f);
    }
    f = fopen(bad, "w");
    if (f) {
        fputs("{\"grid\": {\"simclr.batch\": [64, 1]}}\n", f);
        fclose(f);
    }
    r = run_cli_env(d.url, (const char *[]){"sweep", "-f", spec, "--wait", NULL}, NULL, 300);
    CHECK_RUN(r, 0);
    CHECK_MSG(strncmp(r.out, "1\nsweep 1: ", 11) == 0, "%s", r.out);
    CHECK_MSG(strstr(r.out, "sweep 1 \"cli sweep\": succeeded, 4 runs") &&
                  strstr(r.out, "method   N    MEAN") &&
                  strstr(r.out, "paired differences") &&
                  strstr(r.out, "G-SimCLR - SimCLR: ") && strstr(r.out, " points, 95% CI [") &&
                  strstr(r.out, "over 2 seeds\n"),
              "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"sweeps", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strstr(r.out, "ID  STATUS") && strstr(r.out, " 1  succeeded   4/4  linear_top1  cli sweep"),
              "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"sweep", "show", "1", "--csv", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strncmp(r.out, "method,n,mean,sd,", 17) == 0 && count_lines(r.out) == 3, "%s",
              r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"--json", "sweep", "show", "1", NULL});
    CHECK_RUN(r, 0);
    cJSON *j = cJSON_Parse(r.out);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "rows")) == 2 &&
          cJSON_GetArraySize(cJSON_GetObjectItem(j, "pairs")) == 1);
    cJSON_Delete(j);
    run_free(&r);
    /* refusals: the daemon's message naming the value (4), usage (2) */
    r = run_cli(d.url, (const char *[]){"sweep", "-f", bad, NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strstr(r.err, "grid.simclr.batch[1]: simclr.batch: must be an integer in 2..4096, "
                            "got 1 (field grid.simclr.batch)"),
              "%s", r.err);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"sweep", "show", "99", NULL});
    CHECK_RUN(r, 4);
    CHECK_MSG(strstr(r.err, "no sweep 99"), "%s", r.err);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"sweep", "show", NULL});
    CHECK_RUN(r, 2);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"sweep", NULL});
    CHECK_RUN(r, 2);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"sweep", "cancel", "1", NULL}); /* all have ended */
    CHECK_RUN(r, 4);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"sweep", "delete", "1", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strstr(r.out, "sweep 1 deleted"), "%s", r.out);
    run_free(&r);
    r = run_cli(d.url, (const char *[]){"sweeps", NULL});
    CHECK_RUN(r, 0);
    CHECK_MSG(strcmp(r.out, "no sweeps\n") == 0, "%s", r.out);
    run_free(&r);
    unlink(spec);
    unlink(bad);
    rmdir(dir);
    daemon_stop(&d);
}
