/* checkpoint.c — builds and checks the binary checkpoint format of checkpoint.h: "GSCK",
 * u32 version, u32 section count, sections {name[32], u64 length, bytes}, u32 CRC-32, all
 * little-endian whatever the host. It must never trust a length it has not checked against
 * the buffer, never read past the buffer it was given, and never leave a half-written file
 * under the final name. */
#include "gs/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gs/zfile.h"

static const uint8_t CKPT_MAGIC[4] = {'G', 'S', 'C', 'K'};
#define CKPT_HEADER 12
#define CKPT_TRAILER 4
#define CKPT_SECTION_HEAD (CKPT_NAME_MAX + 8)

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint32_t checksum(const uint8_t *p, size_t len)
{
    return zfile_crc32(p, len);
}

void ckpt_writer_init(CkptWriter *w)
{
    memset(w, 0, sizeof *w);
}

void ckpt_writer_free(CkptWriter *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

/* Makes room for `more` bytes; doubling keeps many small sections linear overall. */
static int writer_reserve(CkptWriter *w, size_t more)
{
    if (more > SIZE_MAX - w->len)
        return -1;
    size_t need = w->len + more;
    if (need <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(w->data, cap);
    if (!p)
        return -1;
    w->data = p;
    w->cap = cap;
    return 0;
}

static int writer_start(CkptWriter *w)
{
    if (w->len > 0)
        return 0;
    if (writer_reserve(w, CKPT_HEADER) != 0)
        return -1;
    memcpy(w->data, CKPT_MAGIC, 4);
    put_u32(w->data + 4, CKPT_VERSION);
    put_u32(w->data + 8, 0);
    w->len = CKPT_HEADER;
    return 0;
}

int ckpt_add(CkptWriter *w, const char *name, const void *p, size_t bytes, GsErr *err)
{
    /* Any failure sticks, so a caller that checks only ckpt_finish cannot save a checkpoint
     * that silently lacks a section. */
    if (w->failed)
        return gs_errf(err, "checkpoint: an earlier section failed, not adding '%s'",
                       name ? name : "(null)");
    if (!name || !name[0]) {
        w->failed = 1;
        return gs_errf(err, "checkpoint: empty section name");
    }
    size_t name_len = strnlen(name, CKPT_NAME_MAX);
    if (name_len >= CKPT_NAME_MAX) {
        w->failed = 1;
        return gs_errf(err, "checkpoint: section name '%.40s...' is %d bytes or longer, the "
                       "limit is %d", name, CKPT_NAME_MAX, CKPT_NAME_MAX - 1);
    }
    if (bytes > 0 && !p) {
        w->failed = 1;
        return gs_errf(err, "checkpoint: section '%s' has %zu bytes but no data", name, bytes);
    }
    if (writer_start(w) != 0) {
        w->failed = 1;
        return gs_errf(err, "checkpoint: out of memory starting the header");
    }
    /* Sections so far are our own writes, so the walk needs no bounds checks. */
    size_t pos = CKPT_HEADER;
    for (uint32_t i = 0; i < w->n_sections; i++) {
        if (strncmp((const char *)w->data + pos, name, CKPT_NAME_MAX) == 0) {
            w->failed = 1;
            return gs_errf(err, "checkpoint: duplicate section '%s'", name);
        }
        pos += CKPT_SECTION_HEAD + (size_t)get_u64(w->data + pos + CKPT_NAME_MAX);
    }
    if (bytes > SIZE_MAX - CKPT_SECTION_HEAD - CKPT_TRAILER ||
        writer_reserve(w, CKPT_SECTION_HEAD + bytes) != 0) {
        w->failed = 1;
        return gs_errf(err, "checkpoint: out of memory adding section '%s' (%zu bytes to %zu)",
                       name, bytes, w->len);
    }
    uint8_t *h = w->data + w->len;
    memset(h, 0, CKPT_NAME_MAX);
    memcpy(h, name, name_len);
    put_u64(h + CKPT_NAME_MAX, (uint64_t)bytes);
    if (bytes > 0)
        memcpy(h + CKPT_SECTION_HEAD, p, bytes);
    w->len += CKPT_SECTION_HEAD + bytes;
    w->n_sections++;
    return 0;
}

int ckpt_finish(CkptWriter *w, GsErr *err)
{
    if (w->failed)
        return gs_errf(err, "checkpoint: not finished, a section could not be added");
    if (writer_start(w) != 0 || writer_reserve(w, CKPT_TRAILER) != 0) {
        w->failed = 1;
        return gs_errf(err, "checkpoint: out of memory finishing (%zu bytes)", w->len);
    }
    put_u32(w->data + 8, w->n_sections);
    put_u32(w->data + w->len, checksum(w->data, w->len));
    w->len += CKPT_TRAILER;
    return 0;
}

int ckpt_open(CkptReader *r, const void *buf, size_t len, GsErr *err)
{
    const uint8_t *d = buf;
    memset(r, 0, sizeof *r);
    if (!d || len < 4)
        return gs_errf(err, "checkpoint: truncated: %zu bytes, the header alone takes %d", len,
                       CKPT_HEADER);
    if (memcmp(d, CKPT_MAGIC, 4) != 0)
        return gs_errf(err, "checkpoint: bad magic");
    if (len < CKPT_HEADER + CKPT_TRAILER)
        return gs_errf(err, "checkpoint: truncated: %zu bytes, the header and checksum take %d",
                       len, CKPT_HEADER + CKPT_TRAILER);
    uint32_t version = get_u32(d + 4), n = get_u32(d + 8);
    if (version != CKPT_VERSION)
        return gs_errf(err, "checkpoint: version %u, this build reads %d", (unsigned)version,
                       CKPT_VERSION);

    /* The section walk comes before the checksum so that a file cut short is reported as
     * truncated, which tells more than a checksum mismatch would. */
    size_t end = len - CKPT_TRAILER, pos = CKPT_HEADER;
    for (uint32_t i = 0; i < n; i++) {
        size_t remain = end - pos;
        if (remain < CKPT_SECTION_HEAD)
            return gs_errf(err, "checkpoint: truncated: section %u of %u needs a %d-byte "
                           "header, %zu bytes remain", (unsigned)i + 1, (unsigned)n,
                           CKPT_SECTION_HEAD, remain);
        const char *name = (const char *)d + pos;
        if (memchr(name, '\0', CKPT_NAME_MAX) == NULL)
            return gs_errf(err, "checkpoint: section %u of %u has an unterminated name",
                           (unsigned)i + 1, (unsigned)n);
        uint64_t bytes = get_u64(d + pos + CKPT_NAME_MAX);
        remain -= CKPT_SECTION_HEAD;
        if (bytes > remain)
            return gs_errf(err, "checkpoint: truncated: section '%s' claims %llu bytes, %zu "
                           "remain", name, (unsigned long long)bytes, remain);
        pos += CKPT_SECTION_HEAD + (size_t)bytes;
    }
    if (pos != end)
        return gs_errf(err, "checkpoint: %zu stray bytes after the %u sections", end - pos,
                       (unsigned)n);
    uint32_t stored = get_u32(d + end), computed = checksum(d, end);
    if (stored != computed)
        return gs_errf(err, "checkpoint: checksum mismatch (stored 0x%08x, computed 0x%08x)",
                       (unsigned)stored, (unsigned)computed);
    r->data = d;
    r->len = len;
    r->version = version;
    r->n_sections = n;
    r->crc = stored;
    return 0;
}

const void *ckpt_find(const CkptReader *r, const char *name, size_t *bytes, GsErr *err)
{
    /* ckpt_open has checked every length, so the walk stays inside the buffer. */
    size_t pos = CKPT_HEADER;
    for (uint32_t i = 0; r->data && i < r->n_sections; i++) {
        size_t len = (size_t)get_u64(r->data + pos + CKPT_NAME_MAX);
        if (strncmp((const char *)r->data + pos, name, CKPT_NAME_MAX) == 0) {
            if (bytes)
                *bytes = len;
            return r->data + pos + CKPT_SECTION_HEAD;
        }
        pos += CKPT_SECTION_HEAD + len;
    }
    if (bytes)
        *bytes = 0;
    gs_errf(err, "checkpoint: no section '%s'", name);
    return NULL;
}

int ckpt_get(const CkptReader *r, const char *name, void *dst, size_t bytes, GsErr *err)
{
    size_t have;
    const void *p = ckpt_find(r, name, &have, err);
    if (!p)
        return -1;
    if (have != bytes)
        return gs_errf(err, "checkpoint: section '%s' holds %zu bytes, expected %zu", name,
                       have, bytes);
    if (bytes > 0)
        memcpy(dst, p, bytes);
    return 0;
}

/* Makes the rename itself durable; without it a crash could bring back the old name. */
static int fsync_parent(const char *path, GsErr *err)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return gs_errf(err, "checkpoint: out of memory for the directory of %s", path);
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        gs_errf(err, "checkpoint: open directory %s: %s", dir, strerror(errno));
        free(dir);
        return -1;
    }
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = gs_errf(err, "checkpoint: fsync directory %s: %s", dir, strerror(errno));
    close(fd);
    free(dir);
    return rc;
}

int ckpt_write_file(const char *path, const void *data, size_t len, GsErr *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        return gs_errf(err, "checkpoint: out of memory for %s", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        gs_errf(err, "checkpoint: create %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            gs_errf(err, "checkpoint: write %s: %s", tmp, strerror(errno));
            goto fail_fd;
        }
        done += (size_t)w;
    }
    /* The data must be on disk before the rename publishes it, or a crash could leave the
     * new name pointing at an empty or partial file. */
    if (fsync(fd) != 0) {
        gs_errf(err, "checkpoint: fsync %s: %s", tmp, strerror(errno));
        goto fail_fd;
    }
    if (close(fd) != 0) {
        gs_errf(err, "checkpoint: close %s: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (rename(tmp, path) != 0) {
        gs_errf(err, "checkpoint: rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail_unlink;
    }
    free(tmp);
    return fsync_parent(path, err);

fail_fd:
    close(fd);
fail_unlink:
    unlink(tmp);
    free(tmp);
    return -1;
}

int ckpt_read_file(const char *path, uint8_t **data, size_t *len, GsErr *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gs_errf(err, "checkpoint: open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        gs_errf(err, "checkpoint: stat %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return gs_errf(err, "checkpoint: %s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX - 1) {
        close(fd);
        return gs_errf(err, "checkpoint: %s is too large to read", path);
    }
    size_t size = (size_t)st.st_size;
    /* One spare byte lets the read loop notice a file that grew since fstat. */
    uint8_t *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return gs_errf(err, "checkpoint: out of memory reading %s (%zu bytes)", path, size);
    }
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, size + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            gs_errf(err, "checkpoint: read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > size) {
            gs_errf(err, "checkpoint: %s changed size while being read", path);
            goto fail;
        }
    }
    if (got != size) {
        gs_errf(err, "checkpoint: %s: read %zu of %zu bytes", path, got, size);
        goto fail;
    }
    close(fd);
    *data = buf;
    *len = size;
    return 0;

fail:
    close(fd);
    free(buf);
    return -1;
}
