/* format.h — turning server JSON into text for people: aligned tables, numbers that may be
 * null, percentages, durations, UTC times, progress bars, and the error line printed for a
 * 4xx/5xx answer. Everything a server sent is printed through cli_put_safe or the table, which
 * replace control characters, so a hostile server cannot drive the terminal. Pure functions:
 * no network, testable by tests/test_cli.c. */
#ifndef GS_CLI_FORMAT_H
#define GS_CLI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

typedef struct {
    int ncols;
    char **headers;     /* ncols */
    char *align;        /* ncols characters, 'l' or 'r' */
    char **cells;       /* (rows, ncols), each malloc'd, control characters replaced */
    int nrows, cap;
} CliTable;

/* align: one 'l' or 'r' per column (NULL: all left). -1 when out of memory. */
int cli_table_init(CliTable *t, int ncols, const char *const *headers, const char *align);
/* Copies one row of ncols cells (a NULL cell prints as "-"). -1 when out of memory. */
int cli_table_add(CliTable *t, const char *const *cells);
/* Columns separated by two spaces, widths in UTF-8 code points, no trailing blanks. */
void cli_table_print(const CliTable *t, FILE *out);
void cli_table_free(CliTable *t);

/* The number at key, NAN when absent, null or not a number. obj may be NULL. */
double cli_json_num(const cJSON *obj, const char *key);
/* The string at key, NULL when absent or not a string. obj may be NULL. */
const char *cli_json_str(const cJSON *obj, const char *key);

/* printf-style number, or "-" when v is not finite. Returns buf. */
char *cli_fmt_num(char *buf, size_t n, const char *fmt, double v);
/* The shortest "%.Ng" text (N <= 9) that reads back as the same float: metric values are
 * float32 figures, and 0.001f should print as 0.001, not 0.00100000005. "" when not finite. */
char *cli_fmt_float(char *buf, size_t n, double v);
/* A fraction as a percentage with `decimals` decimals ("85.53%"), "-" when not finite. */
char *cli_fmt_pct(char *buf, size_t n, double fraction, int decimals);
/* Seconds as "0.4s", "21.3s", "5m02s", "1h03m", "-" when not finite or negative. */
char *cli_fmt_duration(char *buf, size_t n, double secs);
/* An ISO-8601 UTC time "2026-11-28T01:02:03Z" (fractions allowed) as "2026-11-28 01:02:03",
 * "-" for NULL; anything unparsable is shown sanitised as it came. */
char *cli_fmt_time(char *buf, size_t n, const char *iso);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" (or "+00:00"): 0 and *out seconds since the epoch, or
 * -1. No timegm (not POSIX) and no TZ involved. */
int cli_parse_time(const char *iso, double *out);
/* A bar of width cells for fraction in [0, 1] (clamped; NaN counts as 0): "#####-----". */
char *cli_fmt_bar(char *buf, size_t n, double fraction, int width);

/* Copies s into buf replacing control characters (C0, DEL, and C1 in UTF-8) by '?'. */
char *cli_sanitize(char *buf, size_t n, const char *s);
/* Writes s with control characters replaced by '?'. */
void cli_put_safe(FILE *out, const char *s);
/* Number of UTF-8 code points in s. */
size_t cli_utf8_width(const char *s);
/* Cuts s in place to at most max code points, ending with "~" when it was cut. */
void cli_utf8_truncate(char *s, size_t max);

/* The name of class `label` of the dataset a run names ("fashion-mnist": its ten published
 * class names, as the web page shows them), or NULL when the dataset's names are not known
 * here. */
const char *cli_class_name(const char *dataset, double label);

/* The message for an error answer: "<message> (field <field>)" from the JSON error body, or
 * "HTTP <status>" with the status's reason when the body says nothing usable. */
void cli_error_message(char *buf, size_t n, long status, const char *body, size_t len);

#endif
