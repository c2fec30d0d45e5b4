/* png.c — the only file of the product that includes png.h: PNG decoding for the image-folder
 * datasets (codec_png_read, behind image.h) and PNG encoding for the cluster grids and
 * previews (image_png_encode). libpng reports errors by longjmp, so everything a failed call
 * must free lives in one heap object whose address does not change after setjmp. A PNG is
 * untrusted: the declared size is checked against the pixel limit before the pixel buffer
 * exists, a file that ends early or whose compressed data is damaged is an error naming it,
 * and ancillary chunks stay under libpng's own memory cap. Must not: apply gamma or colour
 * profiles (PIL does not either), or exit. */
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* What a failed libpng call must free, and why it failed. */
typedef struct {
    FILE *f;
    png_bytep *rows;  /* (h) row pointers into the caller's buffer */
    uint8_t *out;     /* encoder: the PNG so far, (cap) bytes, len used */
    size_t len, cap;
    uint8_t *row;     /* encoder: one row, (w * c) */
    char why[160];
} PngState;

static void on_error(png_structp png, png_const_charp msg)
{
    PngState *st = png_get_error_ptr(png);
    snprintf(st->why, sizeof st->why, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (a wrong sRGB profile, an ancillary chunk with a bad CRC, which libpng drops) do
 * not make the pixels wrong. */
static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* libpng's stdio reader says only "Read Error" when the file ends; say what happened. */
static void read_stream(png_structp png, png_bytep data, png_size_t n)
{
    PngState *st = png_get_io_ptr(png);
    if (fread(data, 1, n, st->f) != n)
        png_error(png, ferror(st->f) ? "read error" : "truncated: the file ends early");
}

int codec_png_read(FILE *f, const char *name, long max_pixels, int header_only, ImageBuf *buf,
                   int *w, int *h, int *c, GsErr *err)
{
    unsigned char sig[8];
    if (fread(sig, 1, sizeof sig, f) != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0)
        return gs_errf(err, "%s: not a PNG file (bad signature)", name);
    PngState *st = calloc(1, sizeof *st);
    if (!st)
        return gs_errf(err, "%s: out of memory", name);
    st->f = f;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        free(st);
        return gs_errf(err, "%s: out of memory for libpng", name);
    }
    /* png, info and st are not modified after this point, so they are valid after longjmp. */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        gs_errf(err, "%s: damaged PNG: %s", name, st->why[0] ? st->why : "libpng failed");
        free(st->rows);
        free(st);
        return -1;
    }
    png_set_read_fn(png, st, read_stream);
    png_set_sig_bytes(png, sizeof sig);
    /* libpng's own size limit (a million a side) would refuse first with a vaguer message;
     * the pixel limit below is the one that counts. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_read_info(png, info);
    png_uint_32 pw, ph;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &pw, &ph, &depth, &ctype, &interlace, NULL, NULL);
    if ((double)pw * (double)ph > (double)max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        free(st);
        return gs_errf(err, "%s: declares %lux%lu = %.0f pixels, more than the limit of %ld "
                       "(refused before decoding: a decompression bomb?)", name,
                       (unsigned long)pw, (unsigned long)ph, (double)pw * (double)ph,
                       max_pixels);
    }
    int channels = (ctype & PNG_COLOR_MASK_COLOR) ? 3 : 1; /* palette has the colour bit */
    *w = (int)pw;
    *h = (int)ph;
    *c = channels;
    if (header_only) {
        png_destroy_read_struct(&png, &info, NULL);
        free(st);
        return 0;
    }
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_scale_16(png);
    if (ctype & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t row_bytes = (size_t)pw * (size_t)channels;
    if (png_get_rowbytes(png, info) != row_bytes)
        png_error(png, "unexpected row layout after conversion");
    if (codec_buf_reserve(buf, row_bytes * ph))
        png_error(png, "out of memory for the pixels");
    st->rows = malloc(sizeof *st->rows * ph);
    if (!st->rows)
        png_error(png, "out of memory for the rows");
    for (png_uint_32 y = 0; y < ph; y++)
        st->rows[y] = buf->px + (size_t)y * row_bytes;
    png_read_image(png, st->rows);
    /* Reads up to IEND, so a file cut after its image data is still caught. */
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(st->rows);
    free(st);
    buf->w = (int)pw;
    buf->h = (int)ph;
    buf->c = channels;
    return 0;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static void write_mem(png_structp png, png_bytep data, png_size_t n)
{
    PngState *st = png_get_io_ptr(png);
    if (n > SIZE_MAX / 2 - st->len)
        png_error(png, "PNG too large");
    if (st->len + n > st->cap) {
        size_t cap = st->cap ? st->cap : 65536;
        while (cap < st->len + n)
            cap *= 2;
        uint8_t *p = realloc(st->out, cap);
        if (!p)
            png_error(png, "out of memory for the PNG");
        st->out = p;
        st->cap = cap;
    }
    memcpy(st->out + st->len, data, n);
    st->len += n;
}

static void flush_mem(png_structp png)
{
    (void)png;
}

int image_png_encode(long w, long h, int c, int level, ImageRowFn row, void *ctx,
                     uint8_t **out, size_t *len, GsErr *err)
{
    *out = NULL;
    *len = 0;
    if (w < 1 || h < 1 || w > PNG_UINT_31_MAX || h > PNG_UINT_31_MAX)
        return gs_errf(err, "png: size %ldx%ld outside 1..%ld", w, h, (long)PNG_UINT_31_MAX);
    if (c != 1 && c != 3)
        return gs_errf(err, "png: %d channels (want 1 or 3)", c);
    if (level < 0 || level > 9)
        return gs_errf(err, "png: compression level %d outside 0..9", level);
    PngState *st = calloc(1, sizeof *st);
    if (!st || !(st->row = malloc((size_t)w * (size_t)c))) {
        free(st);
        return gs_errf(err, "png: out of memory");
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, st, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        free(st->row);
        free(st);
        return gs_errf(err, "png: out of memory for libpng");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        gs_errf(err, "png: libpng: %s", st->why[0] ? st->why : "failed");
        free(st->out);
        free(st->row);
        free(st);
        return -1;
    }
    png_set_write_fn(png, st, write_mem, flush_mem);
    png_set_compression_level(png, level);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (long y = 0; y < h; y++) {
        row(ctx, y, st->row);
        png_write_row(png, st->row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = st->out;
    *len = st->len;
    free(st->row);
    free(st);
    return 0;
}
