/* image_harness.c — image_harness_run: an input file through image_probe, image_decode (PNG
 * by libpng in server/data/png.c, JPEG by libjpeg-turbo in server/data/jpeg.c, told apart by
 * image_sniff) and image_resize, from memory (fmemopen), as the image-folder reader does with
 * a file. Beyond "no memory error, no undefined behaviour", for every input:
 * - a refusal has a message naming the file, and leaves the caller's buffer as it was;
 * - a decode succeeds only where the header probe succeeded, and gives the width, height and
 *   channels (1 or 3) the probe read from the header, within the pixel limit, every pixel
 *   readable;
 * - the pixel limit set one below the declared size refuses the file with a message naming
 *   the limit, before a pixel buffer exists (the buffer handed in stays unallocated);
 * - a JPEG that decodes also decodes with a min_side, scaled by the smallest of 1/8, 1/4,
 *   1/2 that keeps its shorter side >= min_side (1/1 when none does), to
 *   ceil(w / d) x ceil(h / d);
 * - a decoded image resizes to any square side, into a buffer of exactly that size.
 * The limit is 1 Mpx here, not the product's 64 Mpx: a mutated header's claim is then paid
 * with at most 3 MB, and the limit's code path is the same. Parameters (min_side, the resize
 * side, crop or stretch, gray kept or made RGB) come from a hash of the input, so the same
 * input always meets the same ones. */
#define _GNU_SOURCE /* fmemopen */
#include "image_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gs/image.h"

#define NAME "input.img"
#define LIMIT (1L << 20)

static uint32_t hash(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static FILE *open_mem(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)(uintptr_t)data, size, "rb");
    if (!f) {
        perror("fuzz: fmemopen");
        abort();
    }
    return f;
}

static void check_refusal(const char *what, const GsErr *err)
{
    if (!err->msg[0])
        fuzz_fail("%s failed without a message", what);
    if (!strstr(err->msg, NAME))
        fuzz_fail("%s failed with a message that does not name the file: '%s'", what, err->msg);
}

/* A scaled JPEG decode: min_side m on a w x h image. */
static void check_scaled(const uint8_t *data, size_t size, int w, int h, int c, int m)
{
    ImageBuf b = {0};
    GsErr err;
    err.msg[0] = 0;
    FILE *f = open_mem(data, size);
    int rc = image_decode(f, NAME, LIMIT, m, &b, &err);
    fclose(f);
    /* the same entropy data is read at every scale: what decodes whole decodes scaled */
    if (rc != 0)
        fuzz_fail("min_side %d: a %dx%d JPEG that decodes at full size is refused: %s", m, w, h,
                  err.msg);
    /* the scale the promise asks for: the smallest of 1/8, 1/4, 1/2 keeping the shorter
     * side >= m, else 1/1 (several scales may give the same size: a side of 1 stays 1) */
    int short_side = w < h ? w : h, d = 1;
    for (int k = 8; k >= 2 && d == 1; k /= 2)
        if ((short_side + k - 1) / k >= m)
            d = k;
    if (b.w != (w + d - 1) / d || b.h != (h + d - 1) / d || b.c != c)
        fuzz_fail("min_side %d: %dx%dx%d decoded as %dx%dx%d, not at the scale 1/%d (%dx%d)", m,
                  w, h, c, b.w, b.h, b.c, d, (w + d - 1) / d, (h + d - 1) / d);
    image_buf_free(&b);
}

void image_harness_run(const uint8_t *data, size_t size)
{
    if (size == 0)
        return; /* fmemopen wants a size; an empty file is tests/test_images.c's */
    uint32_t hv = hash(data, size);
    int kind = image_sniff(data, size);
    int pw = 0, ph = 0, pc = 0;
    GsErr perr, err;
    perr.msg[0] = err.msg[0] = 0;

    FILE *f = open_mem(data, size);
    int prc = image_probe(f, NAME, LIMIT, &pw, &ph, &pc, &perr);
    fclose(f);
    if (prc != 0)
        check_refusal("image_probe", &perr);
    else if (!kind || pw < 1 || ph < 1 || (pc != 1 && pc != 3) || (long)pw * ph > LIMIT)
        fuzz_fail("image_probe accepted %dx%dx%d (format '%c', limit %ld)", pw, ph, pc,
                  kind ? kind : '?', LIMIT);

    ImageBuf b = {0};
    f = open_mem(data, size);
    int rc = image_decode(f, NAME, LIMIT, 0, &b, &err);
    fclose(f);
    if (rc != 0) {
        check_refusal("image_decode", &err);
        if (b.w || b.h || b.c)
            fuzz_fail("a refused decode set the buffer's size to %dx%dx%d", b.w, b.h, b.c);
        image_buf_free(&b);
    } else {
        if (prc != 0)
            fuzz_fail("image_decode accepted what image_probe refused: %s", perr.msg);
        if (b.w != pw || b.h != ph || b.c != pc)
            fuzz_fail("the header says %dx%dx%d, the decode gave %dx%dx%d", pw, ph, pc, b.w,
                      b.h, b.c);
        size_t n = (size_t)b.w * b.h * b.c;
        if (!b.px || b.cap < n)
            fuzz_fail("a %dx%dx%d image in a buffer of %zu bytes", b.w, b.h, b.c, b.cap);
        volatile unsigned sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += b.px[i];
        (void)sum;

        /* resized into a buffer of exactly its size, so ASan sees any write past it */
        int side = 1 + (int)((hv >> 8) % 48);
        int c_out = ((hv >> 16) & 1) ? 3 : b.c;
        ImageFit fit = ((hv >> 17) & 1) ? IMAGE_FIT_STRETCH : IMAGE_FIT_CROP;
        uint8_t *dst = malloc((size_t)side * side * c_out);
        if (!dst)
            abort();
        GsErr rerr;
        rerr.msg[0] = 0;
        if (image_resize(b.px, b.w, b.h, b.c, fit, side, c_out, dst, &rerr) != 0)
            fuzz_fail("a decoded %dx%dx%d image did not resize to %d (%d channels): %s", b.w,
                      b.h, b.c, side, c_out, rerr.msg);
        for (size_t i = 0; i < (size_t)side * side * c_out; i++)
            sum += dst[i];
        free(dst);
        image_buf_free(&b);

        if (kind == 'j')
            check_scaled(data, size, pw, ph, pc, 1 + (int)(hv % 64));
    }

    /* the same header one pixel over the limit: refused before any pixel buffer exists */
    if (prc == 0) {
        long declared = (long)pw * ph;
        ImageBuf z = {0};
        GsErr lerr;
        lerr.msg[0] = 0;
        f = open_mem(data, size);
        int lrc = image_decode(f, NAME, declared - 1, 0, &z, &lerr);
        fclose(f);
        if (lrc == 0)
            fuzz_fail("%dx%d decoded under a limit of %ld pixels", pw, ph, declared - 1);
        check_refusal("image_decode over the limit", &lerr);
        if (!strstr(lerr.msg, "limit"))
            fuzz_fail("%dx%d over the limit refused for another reason: '%s'", pw, ph,
                      lerr.msg);
        if (z.px || z.cap)
            fuzz_fail("%dx%d over the limit: %zu bytes allocated before the refusal", pw, ph,
                      z.cap);
        image_buf_free(&z);
    }
}
