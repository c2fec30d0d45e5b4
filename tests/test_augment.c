/* test_augment.c — SimCLR views and DAE noise: reproducible from the rng state, exact in the
 * degenerate settings (identity, mirror), each jitter op checked against its definition on
 * known images, crop sizes within the configured ranges, noise statistics. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gs/augment.h"
#include "harness.h"

/* A config that changes nothing: full crop, no flip, no jitter, no gray. */
static AugConfig identity_cfg(void)
{
    AugConfig c = augment_defaults();
    c.crop_scale_min = c.crop_scale_max = 1.0f;
    c.crop_ratio_min = c.crop_ratio_max = 1.0f;
    c.flip_p = 0.0f;
    c.jitter_p = 0.0f;
    c.gray_p = 0.0f;
    return c;
}

/* Jitter always on, with only the given strengths. */
static AugConfig jitter_only(float b, float c, float s, float h)
{
    AugConfig cfg = identity_cfg();
    cfg.jitter_p = 1.0f;
    cfg.brightness = b;
    cfg.contrast = c;
    cfg.saturation = s;
    cfg.hue = h;
    return cfg;
}

static void random_image(uint8_t *img, size_t n, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        img[i] = (uint8_t)rng_below(&r, 256);
}

TEST(aug_defaults)
{
    AugConfig c = augment_defaults();
    CHECK_CLOSE(c.crop_scale_min, 0.2, 1e-6);
    CHECK_CLOSE(c.crop_scale_max, 1.0, 1e-6);
    CHECK_CLOSE(c.crop_ratio_min, 0.75, 1e-6);
    CHECK_CLOSE(c.crop_ratio_max, 4.0 / 3.0, 1e-6);
    CHECK_CLOSE(c.flip_p, 0.5, 1e-6);
    CHECK_CLOSE(c.jitter_p, 0.8, 1e-6);
    CHECK_CLOSE(c.brightness, 0.4, 1e-6);
    CHECK_CLOSE(c.contrast, 0.4, 1e-6);
    CHECK_CLOSE(c.saturation, 0.4, 1e-6);
    CHECK_CLOSE(c.hue, 0.1, 1e-6);
    CHECK_CLOSE(c.gray_p, 0.2, 1e-6);
}

TEST(aug_to_float)
{
    uint8_t img[4] = {0, 1, 128, 255};
    float out[4];
    augment_to_float(out, img, 4);
    CHECK(out[0] == 0.0f);
    CHECK_CLOSE(out[1], 1.0 / 255.0, 1e-7);
    CHECK_CLOSE(out[2], 128.0 / 255.0, 1e-7);
    CHECK(out[3] == 1.0f);
}

TEST(aug_deterministic_for_rng_state)
{
    enum { C = 3, H = 32, W = 32, N = C * H * W };
    static uint8_t img[N];
    static float a[N], b[N];
    AugConfig cfg = augment_defaults();
    Rng r1, r2;
    random_image(img, N, 5);
    rng_seed(&r1, 77);
    for (int v = 0; v < 50; v++) {
        r2 = r1;
        augment_view(a, img, C, H, W, &cfg, &r1);
        augment_view(b, img, C, H, W, &cfg, &r2);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK(memcmp(&r1, &r2, sizeof r1) == 0);
    }
    /* Consecutive views differ. */
    augment_view(b, img, C, H, W, &cfg, &r1);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

TEST(aug_identity_config_reproduces_image)
{
    static uint8_t img[3 * 32 * 32];
    static float out[3 * 32 * 32], ref[3 * 32 * 32];
    AugConfig cfg = identity_cfg();
    Rng r;
    rng_seed(&r, 3);
    const int shapes[3][3] = {{1, 28, 28}, {3, 32, 32}, {1, 5, 5}};
    for (int s = 0; s < 3; s++) {
        int C = shapes[s][0], H = shapes[s][1], W = shapes[s][2];
        size_t n = (size_t)C * H * W;
        random_image(img, n, 10 + (uint64_t)s);
        augment_to_float(ref, img, n);
        for (int v = 0; v < 20; v++) {
            augment_view(out, img, C, H, W, &cfg, &r);
            CHECK_MSG(memcmp(out, ref, n * sizeof *out) == 0, "shape %d view %d differs", s, v);
        }
    }
}

TEST(aug_flip_is_mirror)
{
    enum { C = 3, S = 8, N = C * S * S };
    uint8_t img[N];
    float out[N], ref[N];
    AugConfig cfg = identity_cfg();
    cfg.flip_p = 1.0f;
    Rng r;
    rng_seed(&r, 4);
    random_image(img, N, 12);
    augment_to_float(ref, img, N);
    augment_view(out, img, C, S, S, &cfg, &r);
    int bad = 0;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                bad += out[(c * S + y) * S + x] != ref[(c * S + y) * S + (S - 1 - x)];
    CHECK_INT_EQ(bad, 0);
    /* And with flip_p 0 it is not mirrored. */
    cfg.flip_p = 0.0f;
    augment_view(out, img, C, S, S, &cfg, &r);
    CHECK(memcmp(out, ref, sizeof out) == 0);
}

/* Non-square images: with ratio 1..1 a full crop is impossible, torchvision falls back to a
 * central crop; with the ratio range covering W/H the full image is taken. */
TEST(aug_non_square_full_crop)
{
    enum { C = 1, H = 9, W = 12, N = C * H * W };
    uint8_t img[N];
    float out[N], ref[N];
    AugConfig cfg = identity_cfg();
    cfg.crop_ratio_min = cfg.crop_ratio_max = 12.0f / 9.0f;
    Rng r;
    rng_seed(&r, 8);
    random_image(img, N, 13);
    augment_to_float(ref, img, N);
    augment_view(out, img, C, H, W, &cfg, &r);
    CHECK(memcmp(out, ref, sizeof out) == 0);
}

TEST(aug_outputs_in_unit_range)
{
    enum { C = 3, H = 32, W = 32, N = C * H * W };
    static uint8_t img[N];
    static float out[N];
    AugConfig cfgs[2] = {augment_defaults(), augment_defaults()};
    /* Far stronger than anyone would use, to push every op into its clamps. */
    cfgs[1].brightness = 3.0f;
    cfgs[1].contrast = 3.0f;
    cfgs[1].saturation = 3.0f;
    cfgs[1].hue = 0.5f;
    cfgs[1].jitter_p = 1.0f;
    cfgs[1].crop_scale_min = 0.01f;
    Rng r;
    rng_seed(&r, 21);
    int bad = 0;
    for (int k = 0; k < 2; k++)
        for (int v = 0; v < 200; v++) {
            int Cv = v % 2 ? 3 : 1;
            random_image(img, N, (uint64_t)v);
            augment_view(out, img, Cv, H, W, &cfgs[k], &r);
            for (int i = 0; i < Cv * H * W; i++)
                bad += !(out[i] >= 0.0f && out[i] <= 1.0f);
        }
    CHECK_INT_EQ(bad, 0);
}

/* Brightness alone: out = clamp(f * in) with one f in [1 - b, 1 + b] per view. */
TEST(aug_brightness_factor)
{
    enum { H = 16, W = 16, N = H * W };
    uint8_t img[N];
    float out[N];
    AugConfig cfg = jitter_only(0.5f, 0.0f, 0.0f, 0.0f);
    Rng r;
    rng_seed(&r, 31);
    for (int i = 0; i < N; i++)
        img[i] = (uint8_t)(i == 0 ? 20 : i % 256);
    float fmin = 10.0f, fmax = 0.0f;
    int clipped = 0;
    for (int v = 0; v < 300; v++) {
        augment_view(out, img, 1, H, W, &cfg, &r);
        float f = out[0] / (20.0f / 255.0f);
        fmin = fminf(fmin, f);
        fmax = fmaxf(fmax, f);
        CHECK_MSG(f >= 0.5f - 1e-5f && f <= 1.5f + 1e-5f, "factor %g", f);
        int bad = 0;
        for (int i = 0; i < N; i++) {
            float want = fminf(1.0f, (float)img[i] / 255.0f * f);
            bad += fabsf(out[i] - want) > 2e-6f;
            clipped += out[i] == 1.0f;
        }
        CHECK_MSG(bad == 0, "view %d: %d pixels are not clamp(%g * in)", v, bad, f);
    }
    CHECK_MSG(fmin < 0.55f && fmax > 1.45f, "factors only in [%g, %g]", fmin, fmax);
    CHECK(clipped > 0);
}

/* Contrast alone: out = clamp(f * in + (1 - f) * mean), the mean of the whole image. */
TEST(aug_contrast_blend_with_mean)
{
    enum { H = 8, W = 8, P = H * W, N = 3 * P };
    uint8_t img[N];
    float out[N], in[N];
    AugConfig cfg = jitter_only(0.0f, 0.4f, 0.0f, 0.0f);
    Rng r;
    rng_seed(&r, 41);
    /* Values 96..159 (and 96..123 in G, B): with f <= 1.4 nothing clamps. */
    for (int i = 0; i < N; i++)
        img[i] = (uint8_t)(96 + i % P - (i >= P) * (i % P) / 2);
    augment_to_float(in, img, N);
    for (int C = 1; C <= 3; C += 2) {
        /* The mean is that of the image for one channel, of its luma for RGB. */
        double mean = 0;
        for (int p = 0; p < P; p++)
            mean += C == 1 ? in[p] : 0.299 * in[p] + 0.587 * in[P + p] + 0.114 * in[2 * P + p];
        mean /= P;
        for (int v = 0; v < 50; v++) {
            augment_view(out, img, C, H, W, &cfg, &r);
            /* f from the first and last pixels; every value must follow the same line. */
            double f = (out[P - 1] - out[0]) / (in[P - 1] - in[0]);
            CHECK_MSG(f >= 0.6 - 1e-4 && f <= 1.4 + 1e-4, "factor %g", f);
            int bad = 0;
            for (int i = 0; i < C * P; i++)
                bad += fabs(out[i] - (f * in[i] + (1 - f) * mean)) > 1e-5;
            CHECK_MSG(bad == 0, "C=%d view %d: %d values off the blend", C, v, bad);
        }
    }
}

/* Saturation keeps each pixel's luma (when nothing clamps) and moves the colours along the
 * line through their gray. */
TEST(aug_saturation_keeps_luma)
{
    enum { C = 3, H = 6, W = 6, P = H * W, N = C * P };
    uint8_t img[N];
    float out[N], in[N];
    AugConfig cfg = jitter_only(0.0f, 0.0f, 0.4f, 0.0f);
    Rng r;
    rng_seed(&r, 51);
    for (int i = 0; i < N; i++)
        img[i] = (uint8_t)(102 + (i * 37) % 52); /* 0.4 .. 0.6 */
    augment_to_float(in, img, N);
    int changed = 0;
    for (int v = 0; v < 30; v++) {
        augment_view(out, img, C, H, W, &cfg, &r);
        for (int p = 0; p < P; p++) {
            double g0 = 0.299 * in[p] + 0.587 * in[P + p] + 0.114 * in[2 * P + p];
            double g1 = 0.299 * out[p] + 0.587 * out[P + p] + 0.114 * out[2 * P + p];
            CHECK_CLOSE(g1, g0, 1e-5);
        }
        changed += memcmp(out, in, sizeof out) != 0;
    }
    CHECK(changed > 25);
}

/* Hue in [0, 1) by the textbook formula (independent of the library's branch structure). */
static double hue_of(double r, double g, double b)
{
    double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b)), d = mx - mn, h;
    if (mx == r)
        h = fmod((g - b) / d + 6.0, 6.0);
    else if (mx == g)
        h = (b - r) / d + 2.0;
    else
        h = (r - g) / d + 4.0;
    return h / 6.0;
}

/* A hue shift keeps each pixel's max (V) and max - min (chroma), and changes colours. */
TEST(aug_hue_keeps_value_and_chroma)
{
    enum { C = 3, H = 8, W = 8, P = H * W, N = C * P };
    uint8_t img[N];
    float out[N], in[N];
    AugConfig cfg = jitter_only(0.0f, 0.0f, 0.0f, 0.5f);
    Rng r;
    rng_seed(&r, 61);
    random_image(img, N, 62);
    augment_to_float(in, img, N);
    int changed = 0, bad = 0, shift_seen = 0;
    double shift = 0;
    for (int v = 0; v < 30; v++) {
        augment_view(out, img, C, H, W, &cfg, &r);
        for (int p = 0; p < P; p++) {
            float a = in[p], b = in[P + p], c = in[2 * P + p];
            float x = out[p], y = out[P + p], z = out[2 * P + p];
            float vmax0 = fmaxf(a, fmaxf(b, c)), vmin0 = fminf(a, fminf(b, c));
            float vmax1 = fmaxf(x, fmaxf(y, z)), vmin1 = fminf(x, fminf(y, z));
            bad += fabsf(vmax0 - vmax1) > 1e-5f || fabsf((vmax0 - vmin0) - (vmax1 - vmin1)) > 1e-5f;
            /* Every pixel with some colour turns by the same angle, within [-0.5, 0.5]. */
            if (vmax0 - vmin0 > 0.2f) {
                double d = hue_of(x, y, z) - hue_of(a, b, c);
                d -= floor(d);
                if (d > 0.5)
                    d -= 1.0;
                if (shift_seen && fabs(d - shift) > 1e-3 && fabs(fabs(d - shift) - 1.0) > 1e-3)
                    bad++;
                shift = d;
                shift_seen = 1;
            }
        }
        shift_seen = 0;
        changed += memcmp(out, in, sizeof out) != 0;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK(changed > 25);
}

/* Pure red shifted by the full hue range lands on known colours: the result is always a
 * fully saturated colour of value 1 with one channel 0 or 1 at each step of the wheel. */
TEST(aug_hue_of_pure_red)
{
    enum { C = 3, H = 2, W = 2, P = H * W, N = C * P };
    uint8_t img[N];
    float out[N];
    AugConfig cfg = jitter_only(0.0f, 0.0f, 0.0f, 0.5f);
    Rng r;
    rng_seed(&r, 71);
    for (int p = 0; p < P; p++) {
        img[p] = 255;
        img[P + p] = 0;
        img[2 * P + p] = 0;
    }
    int saw_green = 0, saw_blue = 0;
    for (int v = 0; v < 200; v++) {
        augment_view(out, img, C, H, W, &cfg, &r);
        float x = out[0], y = out[P], z = out[2 * P];
        CHECK_CLOSE(fmaxf(x, fmaxf(y, z)), 1.0, 1e-5);
        CHECK_CLOSE(fminf(x, fminf(y, z)), 0.0, 1e-5);
        saw_green += y > 0.99f && x < 0.01f;
        saw_blue += z > 0.99f && x < 0.01f;
    }
    CHECK(saw_green > 0 && saw_blue > 0);
}

/* A hue range of +-0.002 turn moves colours by at most that: the shift is centred on 0. */
TEST(aug_hue_small_shift_small_change)
{
    enum { C = 3, H = 8, W = 8, P = H * W, N = C * P };
    uint8_t img[N];
    float out[N], in[N];
    AugConfig cfg = jitter_only(0.0f, 0.0f, 0.0f, 0.002f);
    Rng r;
    rng_seed(&r, 72);
    random_image(img, N, 73);
    augment_to_float(in, img, N);
    double worst = 0;
    for (int v = 0; v < 20; v++) {
        augment_view(out, img, C, H, W, &cfg, &r);
        for (int i = 0; i < N; i++)
            worst = fmax(worst, fabs(out[i] - in[i]));
    }
    /* A channel moves by at most 6 * shift * chroma <= 0.012. */
    CHECK_MSG(worst > 0 && worst <= 0.0121, "largest change %g", worst);
}

TEST(aug_grayscale_rgb_equal_channels)
{
    enum { C = 3, H = 10, W = 10, P = H * W, N = C * P };
    uint8_t img[N];
    float out[N], in[N];
    AugConfig cfg = identity_cfg();
    cfg.gray_p = 1.0f;
    Rng r;
    rng_seed(&r, 81);
    random_image(img, N, 82);
    augment_to_float(in, img, N);
    augment_view(out, img, C, H, W, &cfg, &r);
    int bad = 0;
    for (int p = 0; p < P; p++) {
        float g = 0.299f * in[p] + 0.587f * in[P + p] + 0.114f * in[2 * P + p];
        bad += out[p] != out[P + p] || out[p] != out[2 * P + p] || fabsf(out[p] - g) > 1e-6f;
    }
    CHECK_INT_EQ(bad, 0);
    /* With the default gray_p of 0.2 about a fifth of RGB views come out gray. */
    AugConfig def = augment_defaults();
    def.jitter_p = 0.0f;
    int gray = 0, views = 2000;
    for (int v = 0; v < views; v++) {
        augment_view(out, img, C, H, W, &def, &r);
        gray += memcmp(out, out + P, P * sizeof *out) == 0 &&
                memcmp(out, out + 2 * P, P * sizeof *out) == 0;
    }
    CHECK_MSG(gray > 330 && gray < 470, "%d of %d views gray", gray, views);
}

/* For one channel the RGB-only ops (saturation, hue, grayscale) do nothing. */
TEST(aug_gray_input_skips_rgb_ops)
{
    enum { H = 12, W = 12, N = H * W };
    uint8_t img[N];
    float out[N], in[N];
    AugConfig cfg = jitter_only(0.0f, 0.0f, 0.9f, 0.5f);
    cfg.gray_p = 1.0f;
    Rng r;
    rng_seed(&r, 91);
    random_image(img, N, 92);
    augment_to_float(in, img, N);
    for (int v = 0; v < 10; v++) {
        augment_view(out, img, 1, H, W, &cfg, &r);
        CHECK(memcmp(out, in, sizeof out) == 0);
    }
}

/* The crop box is observable: in an image whose channel 0 holds the column and channel 1 the
 * row, the output's first and last columns (rows) are exactly the crop's first and last,
 * because the bilinear source index clamps at both ends; and every pixel in between is the
 * bilinear interpolation, which on a ramp is the ramp at the source coordinate. */
TEST(aug_crop_area_within_scale_range)
{
    enum { C = 2, S = 120, P = S * S };
    static uint8_t img[C * P];
    static float out[C * P];
    AugConfig cfg = identity_cfg();
    cfg.crop_scale_min = 0.2f;
    cfg.crop_scale_max = 1.0f;
    cfg.crop_ratio_min = 3.0f / 4.0f;
    cfg.crop_ratio_max = 4.0f / 3.0f;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            img[y * S + x] = (uint8_t)x;
            img[P + y * S + x] = (uint8_t)y;
        }
    Rng r;
    rng_seed(&r, 101);
    double amin = 2, amax = 0, asum = 0;
    int wide = 0, views = 2000, bad = 0;
    for (int v = 0; v < views; v++) {
        augment_view(out, img, C, S, S, &cfg, &r);
        int left = (int)lrintf(out[0] * 255.0f), right = (int)lrintf(out[S - 1] * 255.0f);
        int top = (int)lrintf(out[P] * 255.0f), bottom = (int)lrintf(out[P + (S - 1) * S] * 255.0f);
        int cw = right - left + 1, ch = bottom - top + 1;
        bad += left < 0 || right >= S || top < 0 || bottom >= S || cw < 1 || ch < 1;
        double area = (double)cw * ch / P, ratio = (double)cw / ch;
        /* Sides are rounded to whole pixels: allow half a pixel on each. */
        double slack = (double)(cw + ch) * 0.5 / P + 1e-9;
        bad += area < 0.2 - slack || area > 1.0 + slack;
        bad += ratio < 0.75 * (1 - 1.0 / ch) || ratio > 4.0 / 3.0 * (1 + 1.0 / ch);
        /* Bilinear on a ramp is exact: every output is the crop's ramp at PyTorch's
         * align_corners=False source index (x + 0.5) * cw / S - 0.5, clamped to the crop. */
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float sx = fminf(fmaxf(((float)x + 0.5f) * ((float)cw / S) - 0.5f, 0.0f), (float)(cw - 1));
                float sy = fminf(fmaxf(((float)y + 0.5f) * ((float)ch / S) - 0.5f, 0.0f), (float)(ch - 1));
                bad += fabsf(out[y * S + x] * 255.0f - ((float)left + sx)) > 2e-3f;
                bad += fabsf(out[P + y * S + x] * 255.0f - ((float)top + sy)) > 2e-3f;
            }
        amin = fmin(amin, area);
        amax = fmax(amax, area);
        asum += area;
        wide += cw > ch;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_MSG(amin < 0.22 && amax > 0.95, "areas only in [%g, %g]", amin, amax);
    /* Uniform in [0.2, 1] gives a mean of 0.6; large crops that do not fit are redrawn, so a
     * little less. */
    CHECK_MSG(asum / views > 0.5 && asum / views < 0.62, "mean area %g", asum / views);
    /* Log-uniform ratio: as many wide as tall. */
    CHECK_MSG(wide > views * 0.4 && wide < views * 0.6, "%d of %d wide", wide, views);
}

TEST(aug_noise_mean_std_and_clip)
{
    enum { N = 200000 };
    float *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    if (!in || !out) {
        free(in);
        free(out);
        CHECK_MSG(0, "out of memory");
        return;
    }
    Rng r;
    rng_seed(&r, 111);
    for (int i = 0; i < N; i++)
        in[i] = 0.5f;
    augment_noise(out, in, N, 0.1f, &r);
    double sum = 0, sumsq = 0;
    for (int i = 0; i < N; i++) {
        sum += out[i];
        sumsq += (out[i] - 0.5) * (out[i] - 0.5);
    }
    CHECK_CLOSE(sum / N, 0.5, 1e-3);
    CHECK_CLOSE(sqrt(sumsq / N), 0.1, 2e-3);
    CHECK(in[0] == 0.5f);

    /* Large sigma: about 31% of values beyond each bound, all clipped exactly to it. In place. */
    augment_noise(in, in, N, 1.0f, &r);
    int zeros = 0, ones = 0, outside = 0;
    for (int i = 0; i < N; i++) {
        outside += !(in[i] >= 0.0f && in[i] <= 1.0f);
        zeros += in[i] == 0.0f;
        ones += in[i] == 1.0f;
    }
    CHECK_INT_EQ(outside, 0);
    CHECK_MSG(zeros > N * 0.28 && zeros < N * 0.34, "%d zeros", zeros);
    CHECK_MSG(ones > N * 0.28 && ones < N * 0.34, "%d ones", ones);

    /* sigma 0 is the identity, and the same rng state gives the same noise. */
    Rng a, b;
    rng_seed(&a, 5);
    augment_noise(out, in, 1000, 0.0f, &a);
    CHECK(memcmp(out, in, 1000 * sizeof *in) == 0);
    b = a;
    augment_noise(out, in, 1000, 0.3f, &a);
    augment_noise(out + 1000, in, 1000, 0.3f, &b);
    CHECK(memcmp(out, out + 1000, 1000 * sizeof *out) == 0);
    augment_noise(out + 1000, in, 1000, 0.3f, &b);
    CHECK(memcmp(out, out + 1000, 1000 * sizeof *out) != 0);
    free(in);
    free(out);
}
