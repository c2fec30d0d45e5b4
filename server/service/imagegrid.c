/* imagegrid.c — a grid of dataset images as a PNG in memory, on libpng (the only file that
 * includes png.h). It checks every argument before touching a pixel and never writes the
 * dataset; a libpng failure comes back as an error with everything freed. */
#include "gs/imagegrid.h"

#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything the encoder allocates, held by one heap object so that its address (the only
 * local the setjmp path needs) never changes after setjmp. */
typedef struct {
    uint8_t *out;        /* the PNG so far: (cap) bytes, len used */
    size_t len, cap;
    uint8_t *src_row;    /* one unscaled grid row: (grid_w * c) */
    uint8_t *row;        /* one scaled grid row: (grid_w * scale * c) */
    char why[128];       /* libpng's message when it fails */
} GridState;

static void grid_write(png_structp png, png_bytep data, png_size_t n)
{
    GridState *st = png_get_io_ptr(png);
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

static void grid_flush(png_structp png)
{
    (void)png;
}

static void grid_on_error(png_structp png, png_const_charp msg)
{
    GridState *st = png_get_error_ptr(png);
    snprintf(st->why, sizeof st->why, "%s", msg);
    png_longjmp(png, 1);
}

static void grid_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void grid_state_free(GridState *st)
{
    free(st->out);
    free(st->src_row);
    free(st->row);
    free(st);
}

/* Fills src_row (grid_w * c, interleaved) with pixel row y of the unscaled grid. */
static void grid_source_row(uint8_t *src_row, long y, const uint8_t *pixels, int c, int h,
                            int w, const int32_t *index, int n, int cols, long grid_w)
{
    long cell_h = h + 1, cell_w = w + 1;
    long r = y / cell_h, iy = y % cell_h;
    size_t plane = (size_t)h * (size_t)w, image = plane * (size_t)c;
    memset(src_row, IMAGE_GRID_GAP, (size_t)grid_w * (size_t)c);
    if (iy == h)
        return;   /* the gap row below a grid row */
    for (int col = 0; col < cols; col++) {
        long k = r * cols + col;
        if (k >= n)
            break;
        const uint8_t *img = pixels + (size_t)index[k] * image + (size_t)iy * (size_t)w;
        uint8_t *dst = src_row + (size_t)(col * cell_w) * (size_t)c;
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                dst[(size_t)x * (size_t)c + (size_t)ch] = img[(size_t)ch * plane + (size_t)x];
    }
}

int image_grid_png(const uint8_t *pixels, int count, int c, int h, int w,
                   const int32_t *index, int n, int cols, int scale,
                   uint8_t **png_out, size_t *png_len, GsErr *err)
{
    if (!png_out || !png_len)
        return gs_errf(err, "image grid: no output buffer");
    *png_out = NULL;
    *png_len = 0;
    if (!pixels || !index)
        return gs_errf(err, "image grid: no pixels or no index");
    if (c != 1 && c != 3)
        return gs_errf(err, "image grid: %d channels (want 1 or 3)", c);
    if (h < 1 || w < 1 || h > IMAGE_GRID_MAX_SIDE || w > IMAGE_GRID_MAX_SIDE)
        return gs_errf(err, "image grid: image size %dx%d outside 1..%d", h, w,
                       IMAGE_GRID_MAX_SIDE);
    if (count < 1)
        return gs_errf(err, "image grid: an empty dataset");
    if (n < 1 || n > IMAGE_GRID_MAX_IMAGES)
        return gs_errf(err, "image grid: n = %d outside 1..%d", n, IMAGE_GRID_MAX_IMAGES);
    if (cols < 1 || cols > IMAGE_GRID_MAX_COLS)
        return gs_errf(err, "image grid: cols = %d outside 1..%d", cols, IMAGE_GRID_MAX_COLS);
    if (scale < 1 || scale > IMAGE_GRID_MAX_SCALE)
        return gs_errf(err, "image grid: scale = %d outside 1..%d", scale,
                       IMAGE_GRID_MAX_SCALE);
    for (int i = 0; i < n; i++)
        if (index[i] < 0 || index[i] >= count)
            return gs_errf(err, "image grid: index[%d] = %d outside 0..%d", i, (int)index[i],
                           count - 1);

    const int grid_cols = cols < n ? cols : n;
    long rows = (n + grid_cols - 1) / grid_cols;
    long grid_w = (long)grid_cols * (w + 1) - 1, grid_h = rows * (h + 1) - 1;
    long png_w = grid_w * scale, png_h = grid_h * scale;
    if (png_w > IMAGE_GRID_MAX_PNG_SIDE || png_h > IMAGE_GRID_MAX_PNG_SIDE ||
        png_w * png_h > IMAGE_GRID_MAX_PNG_PIXELS)
        return gs_errf(err, "image grid: %ldx%ld pixels is too large (at most %d a side and "
                       "%ld in all)", png_w, png_h, IMAGE_GRID_MAX_PNG_SIDE,
                       (long)IMAGE_GRID_MAX_PNG_PIXELS);

    GridState *st = calloc(1, sizeof *st);
    if (!st)
        return gs_errf(err, "image grid: out of memory");
    st->src_row = malloc((size_t)grid_w * (size_t)c);
    st->row = malloc((size_t)png_w * (size_t)c);
    if (!st->src_row || !st->row) {
        grid_state_free(st);
        return gs_errf(err, "image grid: out of memory");
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, st, grid_on_error,
                                              grid_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        grid_state_free(st);
        return gs_errf(err, "image grid: out of memory for libpng");
    }
    /* png, info and st are not modified after this point, so they are valid after longjmp. */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        gs_errf(err, "image grid: libpng: %s", st->why[0] ? st->why : "failed");
        grid_state_free(st);
        return -1;
    }
    png_set_write_fn(png, st, grid_write, grid_flush);
    /* Upscaled pictures with flat gaps compress well even at a low level, and a grid is made
     * on a request thread, so speed wins over the last few percent of size. */
    png_set_compression_level(png, 3);
    png_set_IHDR(png, info, (png_uint_32)png_w, (png_uint_32)png_h, 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (long y = 0; y < grid_h; y++) {
        grid_source_row(st->src_row, y, pixels, c, h, w, index, n, grid_cols, grid_w);
        for (long x = 0; x < grid_w; x++)
            for (int k = 0; k < scale; k++)
                memcpy(st->row + ((size_t)x * (size_t)scale + (size_t)k) * (size_t)c,
                       st->src_row + (size_t)x * (size_t)c, (size_t)c);
        for (int k = 0; k < scale; k++)
            png_write_row(png, st->row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);

    *png_out = st->out;
    *png_len = st->len;
    st->out = NULL;
    grid_state_free(st);
    return 0;
}
