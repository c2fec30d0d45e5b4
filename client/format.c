/* format.c — tables and number formatting for the client's human output (see format.h).
 * Everything here takes what the server sent as untrusted: missing keys, nulls, wrong types
 * and control characters all print as something harmless. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s does not start one. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    uint32_t c = s[0];
    size_t n;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, c &= 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, c &= 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, c &= 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* The character at p as safe text: its length in bytes (at least 1), and in *sub the byte
 * that stands for it ('?' for a control character or invalid UTF-8, ' ' for a tab), or 0
 * when it may be shown as it is. */
static size_t safe_char(const unsigned char *p, char *sub)
{
    uint32_t cp;
    size_t k = utf8_seq(p, &cp);
    if (k == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
        *sub = (k && cp == '\t') ? ' ' : '?';
        return k ? k : 1;
    }
    *sub = 0;
    return k;
}

char *cli_sanitize(char *buf, size_t n, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t o = 0;
    if (n == 0)
        return buf;
    while (*p) {
        char sub;
        size_t k = safe_char(p, &sub), w = sub ? 1 : k;
        if (o + w >= n)
            break;
        if (sub)
            buf[o] = sub;
        else
            memcpy(buf + o, p, k);
        o += w;
        p += k;
    }
    buf[o] = '\0';
    return buf;
}

void cli_put_safe(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        char sub;
        size_t k = safe_char(p, &sub);
        if (sub)
            fputc(sub, out);
        else
            fwrite(p, 1, k, out);
        p += k;
    }
}

size_t cli_utf8_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    return w;
}

void cli_utf8_truncate(char *s, size_t max)
{
    size_t w = 0, i = 0, last = 0;
    if (cli_utf8_width(s) <= max)
        return;
    if (max == 0) {
        s[0] = '\0';
        return;
    }
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (w == max - 1) {
                last = i;
                break;
            }
            w++;
        }
    }
    s[last] = '~';
    s[last + 1] = '\0';
}

static char *dup_safe(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        cli_sanitize(d, n, s);
    return d;
}

int cli_table_init(CliTable *t, int ncols, const char *const *headers, const char *align)
{
    memset(t, 0, sizeof *t);
    t->headers = calloc((size_t)ncols, sizeof *t->headers);
    t->align = calloc((size_t)ncols + 1, 1);
    if (!t->headers || !t->align) {
        cli_table_free(t);
        return -1;
    }
    t->ncols = ncols;
    for (int c = 0; c < ncols; c++) {
        t->headers[c] = dup_safe(headers[c] ? headers[c] : "");
        if (!t->headers[c]) {
            cli_table_free(t);
            return -1;
        }
        t->align[c] = (align && align[c] == 'r') ? 'r' : 'l';
    }
    return 0;
}

int cli_table_add(CliTable *t, const char *const *cells)
{
    char **row;
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **nc = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *nc);
        if (!nc)
            return -1;
        t->cells = nc;
        t->cap = cap;
    }
    row = t->cells + (size_t)t->nrows * (size_t)t->ncols;
    for (int c = 0; c < t->ncols; c++) {
        row[c] = dup_safe(cells[c] ? cells[c] : "-");
        if (!row[c]) {
            for (int k = 0; k < c; k++)
                free(row[k]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

static void print_row(const CliTable *t, char *const *cells, const size_t *w, FILE *out)
{
    int last = t->ncols - 1;
    /* trailing empty left-aligned columns would only print blanks */
    while (last > 0 && t->align[last] == 'l' && cells[last][0] == '\0')
        last--;
    for (int c = 0; c <= last; c++) {
        size_t cw = cli_utf8_width(cells[c]);
        size_t pad = w[c] > cw ? w[c] - cw : 0;
        if (c)
            fputs("  ", out);
        if (t->align[c] == 'r')
            fprintf(out, "%*s", (int)pad, "");
        fputs(cells[c], out);
        if (t->align[c] == 'l' && c < last)
            fprintf(out, "%*s", (int)pad, "");
    }
    fputc('\n', out);
}

void cli_table_print(const CliTable *t, FILE *out)
{
    size_t *w = calloc((size_t)t->ncols, sizeof *w);
    if (!w)
        return;
    for (int c = 0; c < t->ncols; c++)
        w[c] = cli_utf8_width(t->headers[c]);
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            size_t cw = cli_utf8_width(t->cells[(size_t)r * (size_t)t->ncols + (size_t)c]);
            if (cw > w[c])
                w[c] = cw;
        }
    print_row(t, t->headers, w, out);
    for (int r = 0; r < t->nrows; r++)
        print_row(t, t->cells + (size_t)r * (size_t)t->ncols, w, out);
    free(w);
}

void cli_table_free(CliTable *t)
{
    if (t->headers)
        for (int c = 0; c < t->ncols; c++)
            free(t->headers[c]);
    if (t->cells)
        for (size_t i = 0; i < (size_t)t->nrows * (size_t)t->ncols; i++)
            free(t->cells[i]);
    free(t->headers);
    free(t->align);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

double cli_json_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

const char *cli_json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

char *cli_fmt_num(char *buf, size_t n, const char *fmt, double v)
{
    if (!isfinite(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, fmt, v);
    return buf;
}

char *cli_fmt_float(char *buf, size_t n, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", "");
        return buf;
    }
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, n, "%.*g", digits, v);
        if ((float)strtod(buf, NULL) == (float)v)
            return buf;
    }
    snprintf(buf, n, "%.17g", v); /* beyond float range: keep every digit */
    return buf;
}

char *cli_fmt_pct(char *buf, size_t n, double fraction, int decimals)
{
    if (!isfinite(fraction))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.*f%%", decimals, 100.0 * fraction);
    return buf;
}

char *cli_fmt_duration(char *buf, size_t n, double secs)
{
    if (!isfinite(secs) || secs < 0 || secs > 1e9)
        snprintf(buf, n, "-");
    else if (secs < 60)
        snprintf(buf, n, "%.1fs", secs);
    else if (secs < 3600) {
        long s = lround(secs);
        snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
    } else {
        long m = lround(secs / 60);
        snprintf(buf, n, "%ldh%02ldm", m / 60, m % 60);
    }
    return buf;
}

/* n decimal digits at s into *out; -1 when any is not a digit. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The fields of "YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00|)": f = {y, mo, d, h, mi, s}. */
static int parse_fields(const char *iso, int f[6], double *frac)
{
    const char *p;
    if (!iso || strlen(iso) < 19)
        return -1;
    if (digits(iso, 4, &f[0]) || iso[4] != '-' || digits(iso + 5, 2, &f[1]) || iso[7] != '-' ||
        digits(iso + 8, 2, &f[2]) || (iso[10] != 'T' && iso[10] != ' ') ||
        digits(iso + 11, 2, &f[3]) || iso[13] != ':' || digits(iso + 14, 2, &f[4]) ||
        iso[16] != ':' || digits(iso + 17, 2, &f[5]))
        return -1;
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 60)
        return -1;
    p = iso + 19;
    *frac = 0;
    if (*p == '.') {
        double scale = 0.1;
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9') {
            *frac += scale * (*p - '0');
            scale *= 0.1;
            p++;
        }
    }
    if (!(strcmp(p, "Z") == 0 || strcmp(p, "+00:00") == 0 || *p == '\0'))
        return -1;
    return 0;
}

int cli_parse_time(const char *iso, double *out)
{
    int f[6];
    double frac;
    if (parse_fields(iso, f, &frac))
        return -1;
    *out = (double)days_from_civil(f[0], f[1], f[2]) * 86400.0 + f[3] * 3600.0 + f[4] * 60.0 +
           f[5] + frac;
    return 0;
}

char *cli_fmt_time(char *buf, size_t n, const char *iso)
{
    int f[6];
    double frac;
    if (!iso)
        snprintf(buf, n, "-");
    else if (parse_fields(iso, f, &frac) == 0)
        snprintf(buf, n, "%04d-%02d-%02d %02d:%02d:%02d", f[0], f[1], f[2], f[3], f[4], f[5]);
    else
        cli_sanitize(buf, n, iso);
    return buf;
}

char *cli_fmt_bar(char *buf, size_t n, double fraction, int width)
{
    int full;
    if (n == 0)
        return buf;
    if (!(fraction >= 0)) /* NaN too */
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    if (width < 0)
        width = 0;
    if ((size_t)width >= n)
        width = (int)n - 1;
    full = (int)(fraction * width + 1e-9);
    for (int i = 0; i < width; i++)
        buf[i] = i < full ? '#' : '-';
    buf[width] = '\0';
    return buf;
}

static const char *reason(long status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

void cli_error_message(char *buf, size_t n, long status, const char *body, size_t len)
{
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *e = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
    const char *msg = cli_json_str(e, "message"), *field = cli_json_str(e, "field");
    if (!msg && cJSON_IsString(e)) /* {"error": "text"} from something else on the port */
        msg = e->valuestring;
    if (msg && *msg) {
        char m[400], f[100];
        cli_sanitize(m, sizeof m, msg);
        if (field && *field)
            snprintf(buf, n, "%s (field %s)", m, cli_sanitize(f, sizeof f, field));
        else
            snprintf(buf, n, "%s", m);
    } else {
        const char *r = reason(status);
        snprintf(buf, n, "the server answered HTTP %ld%s%s", status, *r ? " " : "", r);
    }
    cJSON_Delete(root);
}

const char *cli_class_name(const char *dataset, double label)
{
    /* Fashion-MNIST's classes in label order (Xiao, Rasul and Vollgraf 2017); web/lib/format.js
     * holds the same list */
    static const char *const FASHION_MNIST[] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                "Bag",         "Ankle boot"};
    if (!dataset || strcmp(dataset, "fashion-mnist") != 0 || !isfinite(label) || label < 0 ||
        label >= 10 || label != floor(label))
        return NULL;
    return FASHION_MNIST[(int)label];
}
