/* resize.c — image_resize: one image, interleaved 8-bit, resampled to a square of planar
 * channels. The filter is PIL's antialiased bilinear (a triangle whose support is scaled by
 * the reduction, weights normalised per output pixel), done separably: rows first into a float
 * scratch, then columns, rounded once at the end. Shrinking thus averages every source pixel
 * under the footprint (no aliasing, unlike nearest or plain bilinear sampling), and a
 * same-size resample is an exact copy, so a 28x28 PNG folder trains bit for bit like the IDX
 * file it was written from. Must not: keep state between calls (it runs on many threads). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gs/image.h"

static float triangle(float x)
{
    x = x < 0 ? -x : x;
    return x < 1.0f ? 1.0f - x : 0.0f;
}

/* For each of out_n outputs over the source span [b0, b1) of an axis of in_n pixels: the
 * first source index lo[i], the count n[i], and the weights k[i * ks .. + n[i]) summing to 1. */
static void filter_table(int in_n, double b0, double b1, int out_n, int ks, int *lo, int *n,
                         float *k)
{
    double scale = (b1 - b0) / out_n;
    double fscale = scale < 1.0 ? 1.0 : scale;
    double support = fscale; /* the triangle's support is 1, stretched by the reduction */
    for (int i = 0; i < out_n; i++) {
        double center = b0 + (i + 0.5) * scale;
        int a = (int)floor(center - support + 0.5), b = (int)floor(center + support + 0.5);
        a = a < 0 ? 0 : a;
        b = b > in_n ? in_n : b;
        if (b - a > ks)
            b = a + ks;
        float *ki = k + (size_t)i * ks, sum = 0.0f;
        for (int x = a; x < b; x++) {
            ki[x - a] = triangle((float)((x - center + 0.5) / fscale));
            sum += ki[x - a];
        }
        for (int x = 0; x < b - a; x++)
            ki[x] = sum > 0.0f ? ki[x] / sum : 0.0f;
        lo[i] = a;
        n[i] = b - a;
    }
}

static uint8_t round_u8(float v)
{
    v = v + 0.5f;
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

int image_resize(const uint8_t *src, int w, int h, int c, ImageFit fit, int size, int c_out,
                 uint8_t *dst, GsErr *err)
{
    if (!src || !dst || w < 1 || h < 1 || size < 1 || (c != 1 && c != 3) ||
        (c_out != c && !(c == 1 && c_out == 3)))
        return gs_errf(err, "resize: bad arguments (%dx%dx%d to %d, %d channels)", w, h, c, size,
                       c_out);
    /* the source box: the centred square, or everything */
    int bx = 0, by = 0, bw = w, bh = h;
    if (fit == IMAGE_FIT_CROP) {
        int side = w < h ? w : h;
        bx = (w - side) / 2;
        by = (h - side) / 2;
        bw = bh = side;
    }
    size_t plane = (size_t)size * (size_t)size;
    if (bw == size && bh == size) {
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                const uint8_t *p = src + ((size_t)(by + y) * w + (size_t)(bx + x)) * c;
                for (int ch = 0; ch < c_out; ch++)
                    dst[ch * plane + (size_t)y * size + x] = p[c == 1 ? 0 : ch];
            }
        return 0;
    }
    int ksx = 2 * (int)ceil(bw > size ? (double)bw / size : 1.0) + 1;
    int ksy = 2 * (int)ceil(bh > size ? (double)bh / size : 1.0) + 1;
    int *lox = malloc(sizeof(int) * 4 * (size_t)size);
    float *kx = malloc(sizeof(float) * (size_t)size * ((size_t)ksx + (size_t)ksy));
    if (!lox || !kx) {
        free(lox);
        free(kx);
        return gs_errf(err, "resize: out of memory");
    }
    int *nx = lox + size, *loy = lox + 2 * size, *ny = lox + 3 * size;
    float *ky = kx + (size_t)size * ksx;
    filter_table(w, bx, bx + bw, size, ksx, lox, nx, kx);
    filter_table(h, by, by + bh, size, ksy, loy, ny, ky);
    /* the source rows the columns pass reads */
    int r0 = loy[0], r1 = loy[size - 1] + ny[size - 1];
    for (int y = 0; y < size; y++) {
        r0 = loy[y] < r0 ? loy[y] : r0;
        r1 = loy[y] + ny[y] > r1 ? loy[y] + ny[y] : r1;
    }
    float *tmp = malloc(sizeof(float) * (size_t)(r1 - r0) * (size_t)size * (size_t)c);
    if (!tmp) {
        free(lox);
        free(kx);
        return gs_errf(err, "resize: out of memory");
    }
    /* rows: tmp (r1 - r0, size, c) */
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = src + (size_t)r * w * c;
        float *t = tmp + (size_t)(r - r0) * size * c;
        for (int x = 0; x < size; x++) {
            const float *k = kx + (size_t)x * ksx;
            const uint8_t *p = row + (size_t)lox[x] * c;
            if (c == 1) {
                float s = 0.0f;
                for (int j = 0; j < nx[x]; j++)
                    s += k[j] * p[j];
                t[x] = s;
            } else {
                float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
                for (int j = 0; j < nx[x]; j++) {
                    s0 += k[j] * p[3 * j];
                    s1 += k[j] * p[3 * j + 1];
                    s2 += k[j] * p[3 * j + 2];
                }
                t[3 * x] = s0;
                t[3 * x + 1] = s1;
                t[3 * x + 2] = s2;
            }
        }
    }
    /* columns: dst (c_out, size, size) */
    for (int y = 0; y < size; y++) {
        const float *k = ky + (size_t)y * ksy;
        for (int x = 0; x < size; x++)
            for (int ch = 0; ch < c; ch++) {
                const float *t = tmp + (size_t)(loy[y] - r0) * size * c + (size_t)x * c + ch;
                float s = 0.0f;
                for (int j = 0; j < ny[y]; j++)
                    s += k[j] * t[(size_t)j * size * c];
                uint8_t v = round_u8(s);
                if (c == 1) /* gray, into every plane of an RGB set */
                    for (int o = 0; o < c_out; o++)
                        dst[o * plane + (size_t)y * size + x] = v;
                else
                    dst[ch * plane + (size_t)y * size + x] = v;
            }
    }
    free(tmp);
    free(lox);
    free(kx);
    return 0;
}
