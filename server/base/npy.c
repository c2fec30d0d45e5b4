/* npy.c — the .npy format 1.0 (see npy.h): writing an array, and reading back the header of
 * a file written here. The format is NumPy's own (numpy/lib/format.py): that reader's rules
 * are the ones kept here — header length counted from the magic, the total a multiple of 64,
 * the dict literal closed by a newline. Must not: know what the array means, or touch files. */
#include "gs/npy.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
enum { PREAMBLE = 10, ALIGN = 64 }; /* magic, 2 version bytes, u16 header length */

static const struct {
    const char *descr;
    size_t size;
} TYPES[] = {[NPY_F32] = {"<f4", 4}, [NPY_I32] = {"<i4", 4}, [NPY_I64] = {"<i8", 8}};

static int host_is_little(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Copies n elements of size bytes each, swapping their bytes on a big-endian host so the
 * file is little-endian. */
static void put_le(uint8_t *dst, const void *src, size_t n, size_t size)
{
    if (host_is_little()) {
        memcpy(dst, src, n * size);
        return;
    }
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < size; b++)
            dst[i * size + b] = s[i * size + size - 1 - b];
}

int npy_encode(NpyType type, const int64_t *shape, int ndim, const void *data, uint8_t **out,
               size_t *len, GsErr *err)
{
    *out = NULL;
    *len = 0;
    if ((unsigned)type >= sizeof TYPES / sizeof TYPES[0])
        return gs_errf(err, "npy: unknown element type %d", (int)type);
    if (ndim < 1 || ndim > NPY_MAX_DIMS)
        return gs_errf(err, "npy: %d dimensions, outside 1..%d", ndim, NPY_MAX_DIMS);
    char dict[256];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                      TYPES[type].descr);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && count > SIZE_MAX / 16 / (size_t)shape[i]))
            return gs_errf(err, "npy: dimension %d of %lld elements is not possible", i,
                           (long long)shape[i]);
        count *= (size_t)shape[i];
        dl += snprintf(dict + dl, sizeof dict - (size_t)dl, "%lld%s", (long long)shape[i],
                       ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    }
    dl += snprintf(dict + dl, sizeof dict - (size_t)dl, "), }");
    /* the dict, spaces, then '\n' so that the data starts at a multiple of ALIGN */
    size_t head = ((PREAMBLE + (size_t)dl + 1 + ALIGN - 1) / ALIGN) * ALIGN;
    size_t bytes = count * TYPES[type].size;
    uint8_t *buf = malloc(head + bytes);
    if (!buf)
        return gs_errf(err, "npy: out of memory for %zu bytes", head + bytes);
    size_t hlen = head - PREAMBLE;
    memcpy(buf, MAGIC, sizeof MAGIC);
    buf[6] = 1; /* version 1.0 */
    buf[7] = 0;
    buf[8] = (uint8_t)(hlen & 0xff);
    buf[9] = (uint8_t)(hlen >> 8);
    memcpy(buf + PREAMBLE, dict, (size_t)dl);
    memset(buf + PREAMBLE + dl, ' ', hlen - (size_t)dl - 1);
    buf[head - 1] = '\n';
    if (bytes)
        put_le(buf + head, data, count, TYPES[type].size);
    *out = buf;
    *len = head + bytes;
    return 0;
}

/* The text after `'key': ` in the header, or NULL. */
static const char *after_key(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s': ", key);
    const char *p = strstr(h, pat);
    return p ? p + strlen(pat) : NULL;
}

int npy_parse(const uint8_t *buf, size_t len, NpyInfo *info, GsErr *err)
{
    memset(info, 0, sizeof *info);
    if (len < PREAMBLE || memcmp(buf, MAGIC, sizeof MAGIC) != 0)
        return gs_errf(err, "npy: not an .npy file (no \\x93NUMPY magic)");
    if (buf[6] != 1 || buf[7] != 0)
        return gs_errf(err, "npy: format version %d.%d, only 1.0 is read", buf[6], buf[7]);
    size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    if (PREAMBLE + hlen > len)
        return gs_errf(err, "npy: header of %zu bytes runs past the end (%zu bytes)", hlen,
                       len);
    char h[1024];
    if (hlen == 0 || hlen >= sizeof h || buf[PREAMBLE + hlen - 1] != '\n')
        return gs_errf(err, "npy: header of %zu bytes is not a dict closed by a newline", hlen);
    memcpy(h, buf + PREAMBLE, hlen);
    h[hlen] = 0;
    if (memchr(h, 0, hlen))
        return gs_errf(err, "npy: header holds a NUL byte");

    const char *d = after_key(h, "descr");
    int type = -1;
    for (int t = 0; d && t < (int)(sizeof TYPES / sizeof TYPES[0]); t++) {
        size_t n = strlen(TYPES[t].descr);
        if (d[0] == '\'' && strncmp(d + 1, TYPES[t].descr, n) == 0 && d[1 + n] == '\'')
            type = t;
    }
    if (type < 0)
        return gs_errf(err, "npy: element type is not one of <f4, <i4, <i8");
    const char *f = after_key(h, "fortran_order");
    if (!f || strncmp(f, "False", 5) != 0)
        return gs_errf(err, "npy: only C-order arrays are read (fortran_order False)");
    const char *s = after_key(h, "shape");
    if (!s || *s != '(')
        return gs_errf(err, "npy: no shape tuple in the header");
    s++;
    size_t count = 1;
    while (*s != ')') {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0 || info->ndim == NPY_MAX_DIMS)
            return gs_errf(err, "npy: shape is not a tuple of up to %d sizes", NPY_MAX_DIMS);
        if (v > 0 && count > SIZE_MAX / 16 / (size_t)v)
            return gs_errf(err, "npy: shape is too large");
        count *= (size_t)v;
        info->shape[info->ndim++] = v;
        s = end;
        if (*s == ',')
            s++;
        while (*s == ' ')
            s++;
        if (!*s)
            return gs_errf(err, "npy: shape tuple is not closed");
    }
    if (info->ndim == 0)
        return gs_errf(err, "npy: a scalar (shape ()) is not read");
    info->type = (NpyType)type;
    info->data_offset = PREAMBLE + hlen;
    info->data_bytes = count * TYPES[type].size;
    if (len - info->data_offset != info->data_bytes)
        return gs_errf(err, "npy: %zu data bytes for a shape that needs %zu (%s)",
                       len - info->data_offset, info->data_bytes,
                       len - info->data_offset < info->data_bytes ? "truncated" : "trailing bytes");
    return 0;
}
