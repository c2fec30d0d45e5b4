/* sse.c — the event-stream parser (see sse.h). It keeps one line buffer and one data buffer,
 * both grown by doubling and capped, so a hostile server can cost at most a few times
 * CLI_SSE_MAX_LINE bytes. */
#include <stdlib.h>
#include <string.h>

#include "sse.h"

void cli_sse_init(CliSse *p, CliSseFn fn, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->ctx = ctx;
    p->retry_ms = -1;
    p->first_line = true;
}

void cli_sse_reset(CliSse *p)
{
    p->line_len = 0;
    p->data_len = 0;
    p->type[0] = '\0';
    memcpy(p->id_buf, p->id, sizeof p->id_buf);
    p->cr = false;
    p->first_line = true;
}

void cli_sse_free(CliSse *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_cap = p->data_cap = 0;
}

/* Appends n bytes to *buf (keeping room for a NUL); -1 past the cap or out of memory. */
static int append(char **buf, size_t *len, size_t *cap, const char *src, size_t n)
{
    if (n > CLI_SSE_MAX_LINE || *len > CLI_SSE_MAX_LINE - n)
        return -1;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        char *nb;
        while (c < *len + n + 1)
            c *= 2;
        nb = realloc(*buf, c);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = c;
    }
    if (n)
        memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static int dispatch(CliSse *p)
{
    CliSseEvent ev;
    int rc;
    memcpy(p->id, p->id_buf, sizeof p->id);
    if (p->data_len == 0) { /* no data lines: nothing to dispatch, per the standard */
        p->type[0] = '\0';
        return 0;
    }
    p->data_len--; /* the last data line's "\n" */
    p->data[p->data_len] = '\0';
    ev.type = p->type[0] ? p->type : "message";
    ev.data = p->data;
    ev.data_len = p->data_len;
    ev.id = p->id;
    p->events++;
    rc = p->fn ? p->fn(p->ctx, &ev) : 0;
    p->data_len = 0;
    p->type[0] = '\0';
    return rc;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* One complete line (without its line end). */
static int process_line(CliSse *p, const char *line, size_t len)
{
    const char *colon, *value;
    size_t name_len, value_len;
    if (p->first_line) {
        p->first_line = false;
        if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            len -= 3;
        }
    }
    if (len == 0)
        return dispatch(p);
    if (line[0] == ':') {
        p->comments++;
        return 0;
    }
    colon = memchr(line, ':', len);
    name_len = colon ? (size_t)(colon - line) : len;
    value = colon ? colon + 1 : line + len;
    value_len = colon ? len - name_len - 1 : 0;
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        size_t n = value_len < sizeof p->type - 1 ? value_len : sizeof p->type - 1;
        memcpy(p->type, value, n);
        p->type[n] = '\0';
    } else if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        if (append(&p->data, &p->data_len, &p->data_cap, value, value_len) ||
            append(&p->data, &p->data_len, &p->data_cap, "\n", 1))
            return -1;
    } else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
        if (!memchr(value, '\0', value_len) && value_len < sizeof p->id_buf) {
            memcpy(p->id_buf, value, value_len);
            p->id_buf[value_len] = '\0';
        }
    } else if (name_len == 5 && memcmp(line, "retry", 5) == 0) {
        if (all_digits(value, value_len) && value_len <= 9) {
            long ms = 0;
            for (size_t i = 0; i < value_len; i++)
                ms = ms * 10 + (value[i] - '0');
            p->retry_ms = ms;
        }
    }
    /* any other field is ignored */
    return 0;
}

int cli_sse_feed(CliSse *p, const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        int rc;
        if (p->cr) {
            p->cr = false;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j == len) { /* no line end in this chunk: keep the piece for the next */
            return append(&p->line, &p->line_len, &p->line_cap, buf + i, j - i);
        }
        if (buf[j] == '\r')
            p->cr = true;
        if (p->line_len) { /* the line started in an earlier chunk */
            if (append(&p->line, &p->line_len, &p->line_cap, buf + i, j - i))
                return -1;
            rc = process_line(p, p->line, p->line_len);
            p->line_len = 0;
        } else {
            if (j - i > CLI_SSE_MAX_LINE)
                return -1;
            rc = process_line(p, buf + i, j - i);
        }
        if (rc)
            return rc;
        i = j + 1;
    }
    return 0;
}
