/* fixture.c — the reader behind fixture.h. The whole file is read, then parsed with a bounds
 * check before every field, so a truncated or corrupt fixture is an error naming the file
 * rather than a read past the end. Floats are decoded byte by byte from little-endian so the
 * reader does not depend on the host's byte order or on alignment. */
#include "fixture.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_VERSION 1u
#define FIXTURE_MAX_NAME 255u
#define FIXTURE_MAX_TENSORS 100000u

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} Reader;

static int rd_u32(Reader *r, uint32_t *v)
{
    if (r->len - r->pos < 4)
        return -1;
    const unsigned char *b = r->p + r->pos;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    r->pos += 4;
    return 0;
}

static int read_all(const char *path, unsigned char **buf, size_t *len, GsErr *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return gs_errf(err, "%s: cannot open: %s (regenerate with `make fixtures`)", path,
                       strerror(errno));
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    if (!b) {
        fclose(f);
        return gs_errf(err, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            unsigned char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                fclose(f);
                return gs_errf(err, "%s: out of memory", path);
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return gs_errf(err, "%s: read error", path);
    }
    *buf = b;
    *len = n;
    return 0;
}

void fixture_free(Fixture *fx)
{
    if (!fx->t)
        return;
    for (int i = 0; i < fx->n; i++) {
        free(fx->t[i].name);
        free(fx->t[i].data);
    }
    free(fx->t);
    fx->t = NULL;
    fx->n = 0;
}

/* Parses one tensor at r's position into t; on failure t owns nothing. */
static int parse_tensor(Reader *r, FxTensor *t, const char *path, uint32_t index, GsErr *err)
{
    uint32_t name_len = 0, ndim = 0;
    memset(t, 0, sizeof *t);
    if (rd_u32(r, &name_len) < 0)
        return gs_errf(err, "%s: truncated at tensor %u (name length)", path, index);
    if (name_len == 0 || name_len > FIXTURE_MAX_NAME)
        return gs_errf(err, "%s: tensor %u has a bad name length %u", path, index, name_len);
    if (r->len - r->pos < name_len)
        return gs_errf(err, "%s: truncated in the name of tensor %u", path, index);
    char *name = malloc(name_len + 1);
    if (!name)
        return gs_errf(err, "%s: out of memory", path);
    memcpy(name, r->p + r->pos, name_len);
    name[name_len] = '\0';
    r->pos += name_len;
    int trunc = rd_u32(r, &ndim) < 0;
    if (trunc || ndim > FIXTURE_MAX_DIMS) {
        gs_errf(err, "%s: tensor '%s': %s", path, name,
                trunc ? "truncated (ndim)" : "too many dimensions");
        free(name);
        return -1;
    }
    size_t count = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint32_t dim = 0;
        if (rd_u32(r, &dim) < 0) {
            gs_errf(err, "%s: tensor '%s': truncated (dims)", path, name);
            free(name);
            return -1;
        }
        /* the data must fit in what is left of the file, which also rules out overflow */
        if (dim != 0 && count > (r->len - r->pos) / 4 / dim) {
            gs_errf(err, "%s: tensor '%s': truncated (dims larger than the file)", path, name);
            free(name);
            return -1;
        }
        t->dims[d] = (int)dim;
        count *= dim;
    }
    if (count > (r->len - r->pos) / 4) {
        gs_errf(err, "%s: tensor '%s': truncated (%zu floats expected, %zu bytes left)", path,
                name, count, r->len - r->pos);
        free(name);
        return -1;
    }
    float *data = malloc((count ? count : 1) * sizeof *data);
    if (!data) {
        free(name);
        return gs_errf(err, "%s: out of memory", path);
    }
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = 0;
        rd_u32(r, &bits); /* cannot fail: the size was checked above */
        memcpy(&data[i], &bits, sizeof bits);
    }
    t->name = name;
    t->ndim = (int)ndim;
    t->count = count;
    t->data = data;
    return 0;
}

int fixture_load(Fixture *fx, const char *path, GsErr *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    uint32_t version = 0, count = 0;
    memset(fx, 0, sizeof *fx);
    snprintf(fx->path, sizeof fx->path, "%s", path);
    if (read_all(path, &buf, &len, err) < 0)
        return -1;
    Reader r = {buf, len, 0};
    if (len < 4 || memcmp(buf, "GSFX", 4) != 0) {
        free(buf);
        return gs_errf(err, "%s: not a fixture file (bad magic)", path);
    }
    r.pos = 4;
    if (rd_u32(&r, &version) < 0 || rd_u32(&r, &count) < 0) {
        free(buf);
        return gs_errf(err, "%s: truncated header", path);
    }
    if (version != FIXTURE_VERSION) {
        free(buf);
        return gs_errf(err, "%s: fixture version %u, this reader knows %u", path, version,
                       FIXTURE_VERSION);
    }
    if (count > FIXTURE_MAX_TENSORS) {
        free(buf);
        return gs_errf(err, "%s: implausible tensor count %u", path, count);
    }
    fx->t = calloc(count ? count : 1, sizeof *fx->t);
    if (!fx->t) {
        free(buf);
        return gs_errf(err, "%s: out of memory", path);
    }
    for (uint32_t i = 0; i < count; i++) {
        if (parse_tensor(&r, &fx->t[i], path, i, err) < 0) {
            free(buf);
            fixture_free(fx);
            return -1;
        }
        fx->n = (int)i + 1;
    }
    free(buf);
    if (r.pos != r.len) {
        fixture_free(fx);
        return gs_errf(err, "%s: %zu trailing bytes after the last tensor", path, len - r.pos);
    }
    return 0;
}

const FxTensor *fixture_get(const Fixture *fx, const char *name, GsErr *err)
{
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->t[i].name, name) == 0)
            return &fx->t[i];
    gs_errf(err, "%s: no tensor '%s'", fx->path, name);
    return NULL;
}

const FxTensor *fixture_get_n(const Fixture *fx, const char *name, size_t count, GsErr *err)
{
    const FxTensor *t = fixture_get(fx, name, err);
    if (t && t->count != count) {
        gs_errf(err, "%s: tensor '%s' has %zu floats, expected %zu", fx->path, name, t->count,
                count);
        return NULL;
    }
    return t;
}
