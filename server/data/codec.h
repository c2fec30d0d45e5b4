/* codec.h — private to server/data: the two decoders behind image.h, each in the file that
 * alone includes its library (png.c: png.h, jpeg.c: jpeglib.h). Both read from a stream at
 * its start, check the declared size against max_pixels before allocating, and with
 * header_only stop after the header (*w, *h, *c set, buf untouched). */
#ifndef GS_DATA_CODEC_H
#define GS_DATA_CODEC_H

#include <stdio.h>

#include "gs/image.h"

int codec_png_read(FILE *f, const char *name, long max_pixels, int header_only, ImageBuf *buf,
                   int *w, int *h, int *c, GsErr *err);
int codec_jpeg_read(FILE *f, const char *name, long max_pixels, int header_only, int min_side,
                    ImageBuf *buf, int *w, int *h, int *c, GsErr *err);

/* Makes buf hold at least n bytes (its content is not kept). */
int codec_buf_reserve(ImageBuf *buf, size_t n);

#endif
