/* imagegrid.c — a grid of dataset images as a PNG in memory, drawn row by row into the PNG
 * encoder of the data layer (image_png_encode; server/data/png.c owns libpng). It checks
 * every argument before touching a pixel and never writes the dataset; an encoder failure
 * comes back as an error with everything freed. */
#include "gs/imagegrid.h"

#include "gs/image.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The grid being drawn, for grid_row. */
typedef struct {
    const uint8_t *pixels;
    int c, h, w;
    const int32_t *index;
    int n, cols;
    long grid_w;
    int scale;
    uint8_t *src_row;   /* one unscaled grid row: (grid_w * c) */
} GridRows;

/* Row y of the PNG: the unscaled grid row y / scale, every pixel repeated scale times. */
static void grid_row(void *ctx, long y, uint8_t *row)
{
    GridRows *g = ctx;
    size_t c = (size_t)g->c;
    /* rows come in order, and scale of them share one source row */
    if (y % g->scale == 0)
        grid_source_row(g->src_row, y / g->scale, g->pixels, g->c, g->h, g->w, g->index, g->n,
                        g->cols, g->grid_w);
    for (long x = 0; x < g->grid_w; x++)
        for (int k = 0; k < g->scale; k++)
            memcpy(row + ((size_t)x * (size_t)g->scale + (size_t)k) * c,
                   g->src_row + (size_t)x * c, c);
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

    GridRows g = {.pixels = pixels, .c = c, .h = h, .w = w, .index = index, .n = n,
                  .cols = grid_cols, .grid_w = grid_w, .scale = scale,
                  .src_row = malloc((size_t)grid_w * (size_t)c)};
    if (!g.src_row)
        return gs_errf(err, "image grid: out of memory");
    /* Upscaled pictures with flat gaps compress well even at a low level, and a grid is made
     * on a request thread, so speed wins over the last few percent of size. */
    GsErr inner;
    int rc = image_png_encode(png_w, png_h, c, 3, grid_row, &g, png_out, png_len, &inner);
    free(g.src_row);
    if (rc)
        return gs_errf(err, "image grid: %s", inner.msg);
    return 0;
}
