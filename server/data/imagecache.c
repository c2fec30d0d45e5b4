/* imagecache.c — the decoded cache of an image folder: one file per folder, size and fit
 * (folder_cache_path), so a second run reads the pixels instead of decoding every image again.
 * It is keyed by the whole file list: each file's path, size, mtime, class and split, plus the
 * options that change the pixels; a cache that does not match the folder as scanned now is
 * stale and ignored. Layout (little-endian):
 *   "GSDC" | u32 version | u64 meta_len | u64 pixel_len | u32 crc32(meta, pixels) | u32 0
 *   meta: i32 size option, i32 fit, i64 max_pixels, str dir, i32 n_files, n_train, n_classes,
 *         labelled; n_classes str; per file: str rel, i64 size, i64 mtime_ns, i32 label,
 *         i32 split, i32 w, i32 h, u8 bad [, str why]; i32 c, i32 size, i32 n_ok
 *   pixels: (n_ok, c, size, size)                               (str = u32 length, bytes)
 * Written to a temporary file in the same folder and renamed, so a reader sees the old file
 * or the new one, never half of one; read back only after the magic, version, lengths and
 * checksum all hold. Must not: trust any length or count before checking it against what is
 * left of the file. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "folder.h"
#include "gs/bytebuf.h"
#include "gs/zfile.h"

#define CACHE_MAGIC "GSDC"
#define CACHE_VERSION 1u
#define HEADER_BYTES 32
/* The file list of a million images is well under this; more is a damaged length. */
#define META_MAX ((uint64_t)1 << 30)

/* ---- writing ------------------------------------------------------------------------------ */

static void put_str(ByteBuf *o, const char *s)
{
    size_t n = strlen(s);
    bytebuf_put_u32(o, (uint32_t)n);
    bytebuf_put(o, s, n);
}

static void put_meta(ByteBuf *o, const FolderScan *s, int size, ImageFit fit, long max_pixels,
                     const FolderDecoded *d)
{
    bytebuf_put_u32(o, (uint32_t)size);
    bytebuf_put_u32(o, (uint32_t)fit);
    bytebuf_put_u64(o, (uint64_t)max_pixels);
    put_str(o, s->dir);
    bytebuf_put_u32(o, (uint32_t)s->n_files);
    bytebuf_put_u32(o, (uint32_t)s->n_train);
    bytebuf_put_u32(o, (uint32_t)s->n_classes);
    bytebuf_put_u32(o, s->labelled);
    for (int k = 0; k < s->n_classes; k++)
        put_str(o, s->classes[k]);
    for (int i = 0; i < s->n_files; i++) {
        const FolderFile *f = &s->files[i];
        put_str(o, f->rel);
        bytebuf_put_u64(o, (uint64_t)f->size);
        bytebuf_put_u64(o, (uint64_t)f->mtime_ns);
        bytebuf_put_u32(o, (uint32_t)f->label);
        bytebuf_put_u32(o, (uint32_t)f->split);
        bytebuf_put_u32(o, (uint32_t)d->w[i]);
        bytebuf_put_u32(o, (uint32_t)d->h[i]);
        uint8_t bad = d->bad[i] != NULL;
        bytebuf_put(o, &bad, 1);
        if (bad)
            put_str(o, d->bad[i]);
    }
    bytebuf_put_u32(o, (uint32_t)d->c);
    bytebuf_put_u32(o, (uint32_t)d->size);
    bytebuf_put_u32(o, (uint32_t)d->n_ok);
}

/* All n bytes of p written (writing) or read, through EINTR and short transfers; -1 on an
 * error or an early end of file. p is only read when writing. */
static int transfer_all(int fd, uint8_t *p, size_t n, bool writing)
{
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t k = writing ? write(fd, p, chunk) : read(fd, p, chunk);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int write_all(int fd, const void *data, size_t n)
{
    return transfer_all(fd, (uint8_t *)(uintptr_t)data, n, true);
}

int imagecache_write(const char *path, const FolderScan *s, int size, ImageFit fit,
                     long max_pixels, const FolderDecoded *d, GsErr *err)
{
    ByteBuf meta = {0}, head = {0};
    size_t pixel_len = (size_t)d->n_ok * (size_t)d->c * (size_t)d->size * (size_t)d->size;
    put_meta(&meta, s, size, fit, max_pixels, d);
    uint32_t crc = zfile_crc32_update(zfile_crc32(meta.p, meta.len), d->pixels, pixel_len);
    bytebuf_put(&head, CACHE_MAGIC, 4);
    bytebuf_put_u32(&head, CACHE_VERSION);
    bytebuf_put_u64(&head, meta.len);
    bytebuf_put_u64(&head, pixel_len);
    bytebuf_put_u32(&head, crc);
    bytebuf_put_u32(&head, 0);
    if (meta.oom || head.oom) {
        bytebuf_free(&meta);
        bytebuf_free(&head);
        return gs_errf(err, "%s: out of memory", path);
    }
    char tmp[PATH_MAX + 160];
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        bytebuf_free(&meta);
        bytebuf_free(&head);
        return gs_errf(err, "%s: cannot create: %s", tmp, strerror(errno));
    }
    int bad = write_all(fd, head.p, head.len) || write_all(fd, meta.p, meta.len) ||
              write_all(fd, d->pixels, pixel_len) || fsync(fd);
    int e = errno;
    bytebuf_free(&meta);
    bytebuf_free(&head);
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad || rename(tmp, path) != 0) {
        if (!bad)
            e = errno;
        unlink(tmp);
        return gs_errf(err, "%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t len, at;
    bool bad;
} In;

static const uint8_t *take(In *in, size_t n)
{
    if (in->bad || n > in->len - in->at) {
        in->bad = true;
        return NULL;
    }
    const uint8_t *p = in->p + in->at;
    in->at += n;
    return p;
}

static uint32_t get_u32(In *in)
{
    const uint8_t *b = take(in, 4);
    return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                   (uint32_t)b[3] << 24
             : 0;
}

static uint64_t get_u64(In *in)
{
    uint64_t lo = get_u32(in);
    return lo | (uint64_t)get_u32(in) << 32;
}

/* A string of the meta, compared with want (when not NULL); *copy gets a malloc'd copy when
 * asked. False when it differs or cannot be read. */
static bool get_str(In *in, const char *want, char **copy)
{
    uint32_t n = get_u32(in);
    const uint8_t *b = take(in, n);
    if (!b)
        return false;
    if (want && (strlen(want) != n || memcmp(want, b, n) != 0))
        return false;
    if (copy) {
        if (!(*copy = malloc((size_t)n + 1)))
            return false;
        memcpy(*copy, b, n);
        (*copy)[n] = 0;
    }
    return true;
}

static int read_exact(int fd, void *buf, size_t n)
{
    return transfer_all(fd, buf, n, false);
}

/* The meta against the scan; fills d's per-file tables. A message for what differs. */
static int check_meta(In *in, const FolderScan *s, int size, ImageFit fit, long max_pixels,
                      FolderDecoded *d, const char **why)
{
    *why = "its options differ (size, fit or pixel limit)";
    if (get_u32(in) != (uint32_t)size || get_u32(in) != (uint32_t)fit ||
        get_u64(in) != (uint64_t)max_pixels)
        return -1;
    *why = "it is of another folder";
    if (!get_str(in, s->dir, NULL))
        return -1;
    *why = "the folder's files changed (count, classes)";
    if (get_u32(in) != (uint32_t)s->n_files || get_u32(in) != (uint32_t)s->n_train ||
        get_u32(in) != (uint32_t)s->n_classes || get_u32(in) != (uint32_t)s->labelled)
        return -1;
    for (int k = 0; k < s->n_classes; k++)
        if (!get_str(in, s->classes[k], NULL))
            return -1;
    int n = s->n_files;
    d->w = calloc((size_t)n, sizeof *d->w);
    d->h = calloc((size_t)n, sizeof *d->h);
    d->bad = calloc((size_t)n, sizeof *d->bad);
    if (!d->w || !d->h || !d->bad) {
        *why = "out of memory";
        return -1;
    }
    int n_ok = 0;
    *why = "the folder's files changed (names, sizes or times)";
    for (int i = 0; i < n; i++) {
        const FolderFile *f = &s->files[i];
        if (!get_str(in, f->rel, NULL) || get_u64(in) != (uint64_t)f->size ||
            get_u64(in) != (uint64_t)f->mtime_ns || get_u32(in) != (uint32_t)f->label ||
            get_u32(in) != (uint32_t)f->split)
            return -1;
        d->w[i] = (int)get_u32(in);
        d->h[i] = (int)get_u32(in);
        const uint8_t *bad = take(in, 1);
        if (!bad)
            return -1;
        if (*bad && !get_str(in, NULL, &d->bad[i]))
            return -1;
        n_ok += !*bad;
    }
    d->c = (int)get_u32(in);
    d->size = (int)get_u32(in);
    d->n_ok = (int)get_u32(in);
    *why = "damaged: inconsistent counts";
    if (in->bad || in->at != in->len || (d->c != 1 && d->c != 3) || d->size < 1 ||
        d->size > 1024 || d->n_ok != n_ok || (size && d->size != size))
        return -1;
    return 0;
}

int imagecache_read(const char *path, const FolderScan *s, int size, ImageFit fit,
                    long max_pixels, FolderDecoded *d, GsErr *err)
{
    memset(d, 0, sizeof *d);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            err->msg[0] = 0;
        else
            gs_errf(err, "ignored: cannot open: %s", strerror(errno));
        return -1;
    }
    uint8_t head[HEADER_BYTES], *meta = NULL;
    const char *why = "damaged: too short";
    struct stat st;
    In in = {head, sizeof head, 0, false};
    if (fstat(fd, &st) != 0 || read_exact(fd, head, sizeof head))
        goto bad;
    why = "not a decoded cache of this version";
    const uint8_t *magic = take(&in, 4);
    if (memcmp(magic, CACHE_MAGIC, 4) != 0 || get_u32(&in) != CACHE_VERSION)
        goto bad;
    uint64_t meta_len = get_u64(&in), pixel_len = get_u64(&in);
    uint32_t crc = get_u32(&in);
    why = "damaged: its lengths do not match the file";
    if (meta_len > META_MAX || pixel_len > (uint64_t)st.st_size ||
        (uint64_t)st.st_size != HEADER_BYTES + meta_len + pixel_len)
        goto bad;
    meta = malloc(meta_len ? (size_t)meta_len : 1);
    d->pixels = malloc(pixel_len ? (size_t)pixel_len : 1);
    why = "out of memory";
    if (!meta || !d->pixels)
        goto bad;
    why = "damaged: cannot be read in full";
    if (read_exact(fd, meta, (size_t)meta_len) || read_exact(fd, d->pixels, (size_t)pixel_len))
        goto bad;
    why = "damaged: checksum mismatch";
    if (zfile_crc32_update(zfile_crc32(meta, (size_t)meta_len), d->pixels,
                           (size_t)pixel_len) != crc)
        goto bad;
    In m = {meta, (size_t)meta_len, 0, false};
    if (check_meta(&m, s, size, fit, max_pixels, d, &why))
        goto bad;
    why = "damaged: pixel count does not match";
    if (pixel_len != (uint64_t)d->n_ok * (uint64_t)d->c * (uint64_t)d->size * (uint64_t)d->size)
        goto bad;
    free(meta);
    close(fd);
    return 0;
bad:
    free(meta);
    close(fd);
    folder_decoded_free(d, s->n_files);
    (void)path;
    return gs_errf(err, "ignored: %s", why);
}
