/* test_imagegrid.c — image grids decoded back with libpng's simplified reader: size, every
 * pixel of 1- and 3-channel grids at scale 1 and 3 (images, gaps, empty cells), and errors
 * for every bad argument. */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "gs/imagegrid.h"
#include "harness.h"

/* A dataset of `count` images (count, c, h, w) whose pixel value encodes (image, channel,
 * y, x), so a misplaced pixel shows. */
static uint8_t *make_pixels(int count, int c, int h, int w)
{
    uint8_t *p = malloc((size_t)count * (size_t)(c * h * w));
    if (!p)
        return NULL;
    for (int i = 0; i < count; i++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    p[(((size_t)i * (size_t)c + (size_t)ch) * (size_t)h + (size_t)y) *
                          (size_t)w + (size_t)x] = (uint8_t)(i * 37 + ch * 71 + y * 5 + x * 3 + 1);
    return p;
}

/* Decodes a PNG into a malloc'd (height, width, c) buffer. */
static uint8_t *decode(const uint8_t *png, size_t len, int c, int *width, int *height)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, png, len))
        return NULL;
    img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        png_image_free(&img);
        return NULL;
    }
    *width = (int)img.width;
    *height = (int)img.height;
    return buf;
}

/* Checks every pixel of a decoded grid against the source images. */
static void check_grid(int c, int scale)
{
    const int count = 7, h = 4, w = 5, cols = 3;
    int32_t index[] = {6, 0, 3, 3, 5};   /* 5 images: two rows, the last one short */
    const int n = 5, rows = 2;
    uint8_t *pixels = make_pixels(count, c, h, w);
    uint8_t *png = NULL;
    size_t len = 0;
    GsErr err = {{0}};
    CHECK(pixels != NULL);
    if (!pixels)
        return;
    int rc = image_grid_png(pixels, count, c, h, w, index, n, cols, scale, &png, &len, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc != 0) {
        free(pixels);
        return;
    }
    CHECK(len > 8 && memcmp(png, "\x89PNG", 4) == 0);
    int width = 0, height = 0;
    uint8_t *img = decode(png, len, c, &width, &height);
    CHECK(img != NULL);
    if (img) {
        CHECK_INT_EQ(width, (cols * (w + 1) - 1) * scale);
        CHECK_INT_EQ(height, (rows * (h + 1) - 1) * scale);
        int bad = 0;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int ch = 0; ch < c; ch++) {
                    int gy = y / scale, gx = x / scale;
                    int r = gy / (h + 1), iy = gy % (h + 1);
                    int col = gx / (w + 1), ix = gx % (w + 1);
                    int k = r * cols + col;
                    int want = IMAGE_GRID_GAP;
                    if (iy < h && ix < w && k < n)
                        want = pixels[(((size_t)index[k] * (size_t)c + (size_t)ch) * (size_t)h +
                                       (size_t)iy) * (size_t)w + (size_t)ix];
                    int got = img[((size_t)y * (size_t)width + (size_t)x) * (size_t)c +
                                  (size_t)ch];
                    if (got != want && bad++ < 5)
                        CHECK_MSG(0, "c=%d scale=%d pixel (%d,%d,%d): %d, want %d", c, scale,
                                  y, x, ch, got, want);
                }
        CHECK_INT_EQ(bad, 0);
    }
    free(img);
    free(png);
    free(pixels);
}

TEST(imagegrid_gray_scale1)
{
    check_grid(1, 1);
}

TEST(imagegrid_gray_scale3)
{
    check_grid(1, 3);
}

TEST(imagegrid_rgb_scale1)
{
    check_grid(3, 1);
}

TEST(imagegrid_rgb_scale3)
{
    check_grid(3, 3);
}

/* One image and cols larger than n: the grid is just the image, no gap. */
TEST(imagegrid_single_image)
{
    uint8_t *pixels = make_pixels(2, 1, 28, 28);
    int32_t index[] = {1};
    uint8_t *png = NULL;
    size_t len = 0;
    GsErr err;
    CHECK(pixels != NULL);
    if (!pixels)
        return;
    CHECK_MSG(image_grid_png(pixels, 2, 1, 28, 28, index, 1, 16, 2, &png, &len, &err) == 0,
              "%s", err.msg);
    int width = 0, height = 0;
    uint8_t *img = png ? decode(png, len, 1, &width, &height) : NULL;
    CHECK(img != NULL);
    if (img) {
        CHECK_INT_EQ(width, 56);
        CHECK_INT_EQ(height, 56);
        CHECK_INT_EQ(img[0], pixels[28 * 28]);
        CHECK_INT_EQ(img[55 * 56 + 55], pixels[28 * 28 + 27 * 28 + 27]);
    }
    free(img);
    free(png);
    free(pixels);
}

/* The largest grid the API asks for (256 Fashion-MNIST images, scale 8) is accepted. */
TEST(imagegrid_api_maximum)
{
    const int count = 300;
    uint8_t *pixels = make_pixels(count, 1, 28, 28);
    int32_t index[256];
    uint8_t *png = NULL;
    size_t len = 0;
    GsErr err;
    CHECK(pixels != NULL);
    if (!pixels)
        return;
    for (int i = 0; i < 256; i++)
        index[i] = (i * 7) % count;
    CHECK_MSG(image_grid_png(pixels, count, 1, 28, 28, index, 256, 16, 8, &png, &len, &err) == 0,
              "%s", err.msg);
    int width = 0, height = 0;
    uint8_t *img = png ? decode(png, len, 1, &width, &height) : NULL;
    CHECK(img != NULL);
    CHECK_INT_EQ(width, (16 * 29 - 1) * 8);
    CHECK_INT_EQ(height, (16 * 29 - 1) * 8);
    free(img);
    free(png);
    free(pixels);
}

TEST(imagegrid_bad_arguments)
{
    uint8_t *pixels = make_pixels(4, 3, 8, 8);
    int32_t index[] = {0, 1, 2, 3};
    int32_t bad_hi[] = {0, 4}, bad_lo[] = {-1};
    uint8_t *png = (uint8_t *)"x";
    size_t len = 5;
    GsErr err;
    CHECK(pixels != NULL);
    if (!pixels)
        return;
#define REFUSED(call)                                                     \
    do {                                                                  \
        err.msg[0] = '\0';                                                \
        CHECK_MSG((call) == -1, "accepted: %s", #call);                   \
        CHECK_MSG(err.msg[0] != '\0', "no message: %s", #call);           \
        CHECK(png == NULL && len == 0);                                   \
    } while (0)
    REFUSED(image_grid_png(NULL, 4, 3, 8, 8, index, 4, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, NULL, 4, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 2, 8, 8, index, 4, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 0, 8, 8, index, 4, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 0, 8, index, 4, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, -1, index, 4, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 100000, index, 4, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 0, 3, 8, 8, index, 4, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, index, 0, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, index, -3, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, index, 100000, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, index, 4, 0, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, index, 4, 1000, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, index, 4, 2, 0, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, index, 4, 2, 17, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, bad_hi, 2, 2, 1, &png, &len, &err));
    REFUSED(image_grid_png(pixels, 4, 3, 8, 8, bad_lo, 1, 2, 1, &png, &len, &err));
    /* 1024x1024 images, 16 a row, scale 16: far over the output limits. */
    REFUSED(image_grid_png(pixels, 4, 3, 1024, 1024, index, 4, 16, 16, &png, &len, &err));
#undef REFUSED
    CHECK(image_grid_png(pixels, 4, 3, 8, 8, index, 4, 2, 1, NULL, &len, &err) == -1);
    CHECK(image_grid_png(pixels, 4, 3, 8, 8, index, 4, 2, 1, &png, NULL, &err) == -1);
    free(pixels);
}
