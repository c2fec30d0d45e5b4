/* image.h — single images: a PNG or JPEG file decoded to 8-bit gray or RGB (server/data/png.c
 * alone includes png.h, server/data/jpeg.c alone jpeglib.h), an antialiased resize to a square
 * side, and PNG encoding row by row (the cluster grids and dataset previews). A damaged file,
 * a file that is not a PNG or JPEG, or one whose header declares more pixels than allowed is
 * refused with a message naming it; the pixel limit is checked on the header, before any
 * pixel buffer is allocated. Nothing here knows datasets, folders or runs.
 *
 * Conversions, where well defined: palette -> RGB; 1, 2 and 4-bit gray -> 8-bit; 16-bit ->
 * 8-bit (rounded, v * 255 / 65535); an alpha channel (and PNG tRNS transparency) is dropped,
 * as PIL's convert("RGB") and torchvision's folder loader drop it; gray + alpha -> gray.
 * CMYK and YCCK JPEGs are refused (turning ink into light needs the file's colour profile).
 * Gamma and colour profiles are not applied (as PIL does not). */
#ifndef GS_IMAGE_H
#define GS_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gs/err.h"

/* Default limit on the pixels an image may declare: 64 Mpx, larger than any camera photo
 * a person trains on and small enough that two decoding threads stay within memory. */
#define IMAGE_MAX_PIXELS (1L << 26)

/* A decoded image, interleaved (h, w, c) with c = 1 (gray) or 3 (RGB). The buffer is reused
 * from one decode to the next (it grows when needed): a decoding thread keeps one. */
typedef struct {
    uint8_t *px;  /* (h, w, c) */
    size_t cap;   /* bytes allocated */
    int w, h, c;
} ImageBuf;

void image_buf_free(ImageBuf *b);

/* The file's format from its first bytes: 'p' PNG, 'j' JPEG, 0 neither. */
int image_sniff(const unsigned char *head, size_t n);

/* Reads the image's header only: its size and the channels a decode gives (1 or 3). name is
 * for messages. */
int image_probe(FILE *f, const char *name, long max_pixels, int *w, int *h, int *c,
                GsErr *err);
/* Decodes the whole image into buf. min_side > 0 lets a JPEG decode at 1/2, 1/4 or 1/8 of
 * its size (libjpeg's DCT scaling) while its shorter side stays >= min_side: a caller that
 * resizes to min_side anyway loses nothing and skips most of the work; 0 = full size. */
int image_decode(FILE *f, const char *name, long max_pixels, int min_side, ImageBuf *buf,
                 GsErr *err);
/* image_decode on a file path (opened here, with O_NOFOLLOW when nofollow is set). */
int image_decode_path(const char *path, const char *name, int nofollow, long max_pixels,
                      int min_side, ImageBuf *buf, GsErr *err);

typedef enum { IMAGE_FIT_CROP, IMAGE_FIT_STRETCH } ImageFit;

/* Resamples src (h, w, c) interleaved to dst (c_out, size, size) planar: the centred square of
 * side min(w, h) (IMAGE_FIT_CROP) or the whole image (IMAGE_FIT_STRETCH), with a triangle
 * filter whose support widens with the reduction (PIL's antialiased bilinear), so shrinking
 * averages every source pixel and enlarging interpolates. A same-size resample copies the
 * pixels exactly. c_out is c, or 3 for a gray src (replicated). Allocates its scratch. */
int image_resize(const uint8_t *src, int w, int h, int c, ImageFit fit, int size, int c_out,
                 uint8_t *dst, GsErr *err);

/* Fills row y (w * c bytes, interleaved) of an image being encoded. */
typedef void (*ImageRowFn)(void *ctx, long y, uint8_t *row);
/* A w x h 8-bit PNG, gray (c = 1) or RGB (c = 3), compression level 0..9, built from rows into
 * a malloc'd buffer (*out, *len), owned by the caller. */
int image_png_encode(long w, long h, int c, int level, ImageRowFn row, void *ctx,
                     uint8_t **out, size_t *len, GsErr *err);

#endif
