/* imagegrid.h — a grid of dataset images encoded as a PNG in memory, for the cluster pages
 * and dataset previews (encoded by image_png_encode: server/data/png.c owns libpng). It reads pixels, never writes them, and knows nothing of
 * runs, clusters or HTTP: the caller picks which images to draw. */
#ifndef GS_IMAGEGRID_H
#define GS_IMAGEGRID_H

#include <stddef.h>
#include <stdint.h>

#include "gs/err.h"

/* Limits: larger requests are refused with an error, never attempted. */
#define IMAGE_GRID_MAX_IMAGES 4096
#define IMAGE_GRID_MAX_COLS 256
#define IMAGE_GRID_MAX_SCALE 16
#define IMAGE_GRID_MAX_SIDE 1024          /* of one source image, h and w */
#define IMAGE_GRID_MAX_PNG_SIDE 16384     /* of the whole grid, in pixels */
#define IMAGE_GRID_MAX_PNG_PIXELS (64L << 20)
/* The value of the gaps between images and of empty cells (white). */
#define IMAGE_GRID_GAP 255

/* Draws images index[0..n) of a dataset of `count` images (N, C, H, W) uint8 — C = 1
 * (grayscale) or 3 (RGB, planar) — in rows of `cols` (fewer when n < cols), left to right and
 * top to bottom, with one gap pixel between neighbours and no outer border, every pixel
 * repeated scale x scale times (nearest neighbour). The PNG is 8-bit gray (C = 1) or RGB
 * (C = 3), (cols * (w + 1) - 1) * scale wide and (rows * (h + 1) - 1) * scale high, rows =
 * ceil(n / cols). On success *png is a malloc'd buffer of *png_len bytes, owned by the caller.
 * Returns 0, or -1 with err (bad argument, index out of range, too large, out of memory). */
int image_grid_png(const uint8_t *pixels, int count, int c, int h, int w,
                   const int32_t *index, int n, int cols, int scale,
                   uint8_t **png, size_t *png_len, GsErr *err);

#endif
