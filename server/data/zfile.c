/* zfile.c — the only file of the product that includes zlib.h (one owner per outside
 * library): gzip-or-plain reading for the dataset readers and CRC-32 for the checkpoint
 * format. zlib's gzread reads both kinds of file; this wraps its partial reads, its uInt
 * counts and its deferred errors so callers see whole reads and messages naming the file.
 * Must not: parse what it reads, or exit. */
#include "gs/zfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* gzread and crc32 take unsigned counts; stay well below their limit. */
#define ZFILE_CHUNK ((size_t)1 << 30)
/* Input buffer: large reads of a big dataset file in few system calls. */
#define ZFILE_BUFFER (1u << 18)

struct ZFile {
    gzFile gz;
    char path[]; /* for messages */
};

int zfile_open(ZFile **out, const char *path, GsErr *err)
{
    *out = NULL;
    size_t plen = strlen(path);
    ZFile *f = malloc(sizeof *f + plen + 1);
    if (!f)
        return gs_errf(err, "%s: cannot open: out of memory", path);
    memcpy(f->path, path, plen + 1);
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz) {
        int e = errno;
        free(f);
        return gs_errf(err, "%s: cannot open: %s", path, e ? strerror(e) : "out of memory");
    }
    gzbuffer(f->gz, ZFILE_BUFFER);
    *out = f;
    return 0;
}

/* Loops because gzread may return less than asked before the end. A gzip stream that simply
 * stops early is not an error here: it reads short, and zlib keeps Z_BUF_ERROR pending for
 * zfile_finish. */
long long zfile_read(ZFile *f, void *buf, size_t len, GsErr *err)
{
    size_t got = 0;
    int zerr;
    while (got < len) {
        size_t want = len - got < ZFILE_CHUNK ? len - got : ZFILE_CHUNK;
        int r = gzread(f->gz, (unsigned char *)buf + got, (unsigned)want);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    const char *msg = gzerror(f->gz, &zerr);
    if (zerr != Z_OK && zerr != Z_BUF_ERROR) {
        gs_errf(err, "%s: read error: %s", f->path, zerr == Z_ERRNO ? strerror(errno) : msg);
        return -1;
    }
    return (long long)got;
}

/* A gzip member cut before its trailer (CRC, length) reads in full but leaves "unexpected end
 * of file" behind; the file is damaged, so say so. */
int zfile_finish(ZFile *f, GsErr *err)
{
    int zerr, rc = 0;
    const char *msg = gzerror(f->gz, &zerr);
    if (zerr != Z_OK) {
        rc = gs_errf(err, "%s: corrupt gzip stream: %s", f->path, msg);
        zfile_close(f);
        return rc;
    }
    int zrc = gzclose_r(f->gz);
    if (zrc != Z_OK)
        rc = gs_errf(err, "%s: close failed (zlib error %d)", f->path, zrc);
    free(f);
    return rc;
}

void zfile_close(ZFile *f)
{
    if (!f)
        return;
    gzclose_r(f->gz);
    free(f);
}

uint32_t zfile_crc32(const void *data, size_t len)
{
    return zfile_crc32_update(0, data, len);
}

uint32_t zfile_crc32_update(uint32_t start, const void *data, size_t len)
{
    const unsigned char *p = data;
    uLong crc = start;
    while (len > 0) {
        uInt piece = len > ZFILE_CHUNK ? (uInt)ZFILE_CHUNK : (uInt)len;
        crc = crc32(crc, p, piece);
        p += piece;
        len -= piece;
    }
    return (uint32_t)crc;
}
