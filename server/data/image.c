/* image.c — image.h's front: tells PNG from JPEG by their first bytes (not by the file's
 * name: a .jpg that holds a PNG decodes as the PNG it is) and hands the stream to the codec
 * that owns the library. Must not: include a codec library's header. */
#define _GNU_SOURCE /* O_NOFOLLOW, fdopen */
#include "gs/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"

void image_buf_free(ImageBuf *b)
{
    if (!b)
        return;
    free(b->px);
    memset(b, 0, sizeof *b);
}

int codec_buf_reserve(ImageBuf *buf, size_t n)
{
    if (n <= buf->cap)
        return 0;
    uint8_t *p = realloc(buf->px, n);
    if (!p)
        return -1;
    buf->px = p;
    buf->cap = n;
    return 0;
}

int image_sniff(const unsigned char *head, size_t n)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(head, png_sig, 8) == 0)
        return 'p';
    if (n >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff)
        return 'j';
    return 0;
}

/* The format of the stream, which is left at its start. */
static int stream_format(FILE *f, const char *name, GsErr *err)
{
    unsigned char head[8];
    size_t got = fread(head, 1, sizeof head, f);
    if (ferror(f))
        return gs_errf(err, "%s: read error: %s", name, strerror(errno));
    if (fseek(f, 0, SEEK_SET) != 0)
        return gs_errf(err, "%s: cannot seek: %s", name, strerror(errno));
    if (got == 0)
        return gs_errf(err, "%s: empty file, not an image", name);
    int kind = image_sniff(head, got);
    if (!kind)
        return gs_errf(err, "%s: not a PNG or JPEG image (unknown first bytes)", name);
    return kind;
}

int image_probe(FILE *f, const char *name, long max_pixels, int *w, int *h, int *c,
                GsErr *err)
{
    int kind = stream_format(f, name, err);
    if (kind < 0)
        return -1;
    if (kind == 'p')
        return codec_png_read(f, name, max_pixels, 1, NULL, w, h, c, err);
    return codec_jpeg_read(f, name, max_pixels, 1, 0, NULL, w, h, c, err);
}

int image_decode(FILE *f, const char *name, long max_pixels, int min_side, ImageBuf *buf,
                 GsErr *err)
{
    int w, h, c;
    int kind = stream_format(f, name, err);
    if (kind < 0)
        return -1;
    if (kind == 'p')
        return codec_png_read(f, name, max_pixels, 0, buf, &w, &h, &c, err);
    return codec_jpeg_read(f, name, max_pixels, 0, min_side, buf, &w, &h, &c, err);
}

int image_decode_path(const char *path, const char *name, int nofollow, long max_pixels,
                      int min_side, ImageBuf *buf, GsErr *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0)
        return gs_errf(err, "%s: cannot open: %s", name,
                       errno == ELOOP ? "it became a link after the folder was scanned"
                                      : strerror(errno));
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return gs_errf(err, "%s: cannot open: %s", name, strerror(e));
    }
    int rc = image_decode(f, name, max_pixels, min_side, buf, err);
    fclose(f);
    return rc;
}
