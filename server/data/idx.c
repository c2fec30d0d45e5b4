/* idx.c — reader for IDX files (the MNIST family: u8 images n x h x w and u8 labels n),
 * gzip-compressed or plain (zfile.h reads both). The header is untrusted: its sizes are checked
 * before any arithmetic, and the buffer grows with the bytes actually read, so a header that
 * claims billions of images in a small file costs a "truncated" error, not a huge malloc.
 * A file must hold exactly what its header says: short data and trailing bytes are both errors.
 * idx_info stops after the headers. Must not: leave a half-filled Dataset behind, or exit. */
#include "gs/dataset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gs/zfile.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
/* Limits far beyond any real dataset but small enough that n * h * w fits in 64 bits and
 * every index fits in an int. */
#define IDX_MAX_N 0x7fffffffu
#define IDX_MAX_SIDE 65536u
#define IDX_MAX_IMAGE_BYTES (1u << 24)
/* First allocation; doubled as data arrives, up to the size the header claims. The fuzz build
 * (make fuzz) sets it to a few bytes, so that small inputs reach the growth below, and a
 * header's false claim costs no 64 MiB allocation per input under ASan. */
#ifndef IDX_INITIAL_BYTES
#define IDX_INITIAL_BYTES ((size_t)1 << 26)
#endif

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static const char *kind_name(uint32_t magic)
{
    return magic == IDX_MAGIC_IMAGES ? "images" : "labels";
}

/* Reads and checks the header of the open file f: its magic against want_magic (ndim = its
 * low byte), then the dims into dims; *total is the byte count of the data they announce. */
static int idx_read_header(ZFile *f, const char *path, uint32_t want_magic, uint32_t *dims,
                           size_t *total_out, GsErr *err)
{
    int ndim = (int)(want_magic & 0xff);
    unsigned char head[16];
    size_t head_len = 4 + 4 * (size_t)ndim;
    long long got = zfile_read(f, head, head_len, err);
    if (got < 0)
        return -1;
    if (got < 4)
        return gs_errf(err, "%s: truncated header: %lld of 4 magic bytes", path, got);
    uint32_t magic = be32(head);
    if (magic != want_magic) {
        if (head[0] != 0 || head[1] != 0)
            return gs_errf(err, "%s: wrong magic 0x%08x, expected 0x%08x (IDX %s): not an IDX "
                           "file", path, magic, want_magic, kind_name(want_magic));
        if (head[2] != 0x08)
            return gs_errf(err, "%s: wrong magic 0x%08x, expected 0x%08x: element type 0x%02x "
                           "is not unsigned byte (0x08)", path, magic, want_magic, head[2]);
        return gs_errf(err, "%s: wrong magic 0x%08x, expected 0x%08x: %d dimensions, expected "
                       "%d for IDX %s", path, magic, want_magic, head[3], ndim,
                       kind_name(want_magic));
    }
    if ((size_t)got < head_len)
        return gs_errf(err, "%s: truncated header: %lld of %zu bytes", path, got, head_len);

    uint64_t total = 1;
    for (int d = 0; d < ndim; d++) {
        dims[d] = be32(head + 4 + 4 * d);
        if (dims[d] == 0)
            return gs_errf(err, "%s: dimension %d is zero", path, d);
        uint32_t limit = d == 0 ? IDX_MAX_N : IDX_MAX_SIDE;
        if (dims[d] > limit)
            return gs_errf(err, "%s: absurd dimension %d: %u (limit %u)", path, d, dims[d],
                           limit);
        if (d > 0)
            total *= dims[d];
    }
    if (total > IDX_MAX_IMAGE_BYTES)
        return gs_errf(err, "%s: absurd image size %llu bytes (limit %u)", path,
                       (unsigned long long)total, IDX_MAX_IMAGE_BYTES);
    total *= dims[0]; /* < 2^31 * 2^24: no overflow */
    if (total > SIZE_MAX)
        return gs_errf(err, "%s: %llu bytes do not fit in memory", path,
                       (unsigned long long)total);
    *total_out = (size_t)total;
    return 0;
}

/* Opens path, reads its header (idx_read_header), then exactly the bytes it announces into a
 * fresh buffer. */
static int idx_read(const char *path, uint32_t want_magic, uint32_t *dims, uint8_t **data,
                    GsErr *err)
{
    uint8_t *buf = NULL;
    ZFile *f = NULL;
    size_t want = 0;
    *data = NULL;

    if (zfile_open(&f, path, err) < 0)
        return -1;
    if (idx_read_header(f, path, want_magic, dims, &want, err) < 0)
        goto fail;

    size_t cap = want < IDX_INITIAL_BYTES ? want : IDX_INITIAL_BYTES;
    size_t have = 0;
    buf = malloc(cap);
    if (!buf) {
        gs_errf(err, "%s: out of memory for %zu bytes", path, cap);
        goto fail;
    }
    for (;;) {
        long long got = zfile_read(f, buf + have, cap - have, err);
        if (got < 0)
            goto fail;
        have += (size_t)got;
        if (have < cap || cap == want)
            break;
        size_t ncap = cap > want / 2 ? want : cap * 2;
        uint8_t *nbuf = realloc(buf, ncap);
        if (!nbuf) {
            gs_errf(err, "%s: out of memory for %zu bytes", path, ncap);
            goto fail;
        }
        buf = nbuf;
        cap = ncap;
    }
    if (have < want) {
        gs_errf(err, "%s: truncated: expected %zu %s bytes, got %zu", path, want,
                want_magic == IDX_MAGIC_IMAGES ? "pixel" : "label", have);
        goto fail;
    }
    unsigned char extra;
    long long got = zfile_read(f, &extra, 1, err);
    if (got < 0)
        goto fail;
    if (got > 0) {
        gs_errf(err, "%s: trailing data after the %zu bytes the header announces", path, want);
        goto fail;
    }
    int rc = zfile_finish(f, err);
    f = NULL;
    if (rc < 0)
        goto fail;
    *data = buf;
    return 0;

fail:
    free(buf);
    zfile_close(f);
    return -1;
}

/* Opens path and checks its header only. */
static int idx_peek(const char *path, uint32_t want_magic, uint32_t *dims, GsErr *err)
{
    ZFile *f;
    size_t total;
    if (zfile_open(&f, path, err) < 0)
        return -1;
    int rc = idx_read_header(f, path, want_magic, dims, &total, err);
    zfile_close(f);
    return rc;
}

int idx_info(SplitInfo *info, const char *images_path, const char *labels_path, GsErr *err)
{
    uint32_t idims[3] = {0}, ldims[1] = {0};
    memset(info, 0, sizeof *info);
    if (!images_path)
        return gs_errf(err, "idx_info: no images path");
    if (idx_peek(images_path, IDX_MAGIC_IMAGES, idims, err) < 0)
        return -1;
    if (labels_path) {
        if (idx_peek(labels_path, IDX_MAGIC_LABELS, ldims, err) < 0)
            return -1;
        if (ldims[0] != idims[0])
            return gs_errf(err, "%s: %u labels, but %s has %u images", labels_path, ldims[0],
                           images_path, idims[0]);
    }
    info->n = (int)idims[0];
    info->c = 1;
    info->h = (int)idims[1];
    info->w = (int)idims[2];
    info->labeled = labels_path != NULL;
    return 0;
}

int idx_load(Dataset *ds, const char *images_path, const char *labels_path, GsErr *err)
{
    uint32_t idims[3], ldims[1];
    uint8_t *pixels = NULL, *raw_labels = NULL;
    int32_t *labels = NULL;

    memset(ds, 0, sizeof *ds);
    if (!images_path)
        return gs_errf(err, "idx_load: no images path");
    if (idx_read(images_path, IDX_MAGIC_IMAGES, idims, &pixels, err) < 0)
        return -1;
    if (!labels_path) {
        ds->n = (int)idims[0];
        ds->c = 1;
        ds->h = (int)idims[1];
        ds->w = (int)idims[2];
        ds->pixels = pixels;
        return 0;
    }
    if (idx_read(labels_path, IDX_MAGIC_LABELS, ldims, &raw_labels, err) < 0)
        goto fail;
    if (ldims[0] != idims[0]) {
        gs_errf(err, "%s: %u labels, but %s has %u images", labels_path, ldims[0],
                images_path, idims[0]);
        goto fail;
    }
    labels = malloc((size_t)ldims[0] * sizeof *labels);
    if (!labels) {
        gs_errf(err, "%s: out of memory for %u labels", labels_path, ldims[0]);
        goto fail;
    }
    int max_label = 0;
    for (uint32_t i = 0; i < ldims[0]; i++) {
        labels[i] = raw_labels[i];
        if (raw_labels[i] > max_label)
            max_label = raw_labels[i];
    }
    free(raw_labels);

    ds->n = (int)idims[0];
    ds->c = 1;
    ds->h = (int)idims[1];
    ds->w = (int)idims[2];
    ds->pixels = pixels;
    ds->labels = labels;
    ds->n_classes = max_label + 1;
    return 0;

fail:
    free(pixels);
    free(raw_labels);
    free(labels);
    return -1;
}
