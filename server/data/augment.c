/* augment.c — SimCLR views and DAE noise, following torchvision's semantics
 * (RandomResizedCrop -> RandomHorizontalFlip -> RandomApply(ColorJitter) -> RandomGrayscale ->
 * ToTensor) so results compare with the PyTorch reference. Every random number comes from the
 * Rng passed in, so a saved Rng state reproduces a view exactly. It runs twice per image per
 * epoch: no allocation, and the crop, resize and flip are one pass from the uint8 source
 * straight into the output. Channels other than 3 are treated as gray: only brightness and
 * contrast apply to them. The hue moves in HSV (torchvision's rgb -> hsv -> rgb), grayscale
 * is ITU-R 601 luma, and the optional Gaussian blur is SimCLR's ImageNet one. */
#include "gs/augment.h"

#include <math.h>

#define INV255 (1.0f / 255.0f)
/* ITU-R 601 luma, as PIL's convert("L") and the brief's grayscale. */
#define LUMA_R 0.299f
#define LUMA_G 0.587f
#define LUMA_B 0.114f

enum { OP_BRIGHTNESS, OP_CONTRAST, OP_SATURATION, OP_HUE };

AugConfig augment_defaults(void)
{
    return (AugConfig){
        .crop_scale_min = 0.2f, .crop_scale_max = 1.0f,
        .crop_ratio_min = 3.0f / 4.0f, .crop_ratio_max = 4.0f / 3.0f,
        .flip_p = 0.5f, .jitter_p = 0.8f,
        .brightness = 0.4f, .contrast = 0.4f, .saturation = 0.4f, .hue = 0.1f,
        .gray_p = 0.2f,
        .blur_p = 0.0f, .blur_sigma_min = 0.1f, .blur_sigma_max = 2.0f,
    };
}

/* Max then min, the shape compilers map to min/max instructions; a NaN comes out as 0. */
static inline float clamp01(float v)
{
    v = v > 0.0f ? v : 0.0f;
    return v < 1.0f ? v : 1.0f;
}

static inline float max2(float a, float b)
{
    return a > b ? a : b;
}

static inline float min2(float a, float b)
{
    return a < b ? a : b;
}

void augment_to_float(float *out, const uint8_t *img, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] = (float)img[i] * INV255;
}

/* torchvision RandomResizedCrop.get_params: up to 10 tries of (area fraction, log-uniform
 * aspect ratio) that fit, then a central crop clamped to the ratio range. Sizes are rounded
 * half to even like Python's round(). */
static void crop_params(int H, int W, const AugConfig *cfg, Rng *rng, int *top, int *left,
                        int *ch, int *cw)
{
    double area = (double)H * (double)W;
    double rmin = fmin(cfg->crop_ratio_min, cfg->crop_ratio_max);
    double rmax = fmax(cfg->crop_ratio_min, cfg->crop_ratio_max);
    double lr0 = log(cfg->crop_ratio_min), lr1 = log(cfg->crop_ratio_max);
    for (int t = 0; t < 10; t++) {
        double target = area * rng_range(rng, cfg->crop_scale_min, cfg->crop_scale_max);
        double ratio = exp(lr0 + (lr1 - lr0) * rng_uniform(rng));
        double sw = sqrt(target * ratio), sh = sqrt(target / ratio);
        /* Written so that NaN from a nonsensical config fails the test too. */
        if (!(sw >= 0.5 && sw < W + 0.5 && sh >= 0.5 && sh < H + 0.5))
            continue;
        int w = (int)nearbyint(sw), h = (int)nearbyint(sh);
        if (w < 1 || w > W || h < 1 || h > H)
            continue;
        *top = (int)rng_below(rng, (uint64_t)(H - h + 1));
        *left = (int)rng_below(rng, (uint64_t)(W - w + 1));
        *ch = h;
        *cw = w;
        return;
    }
    double in_ratio = (double)W / (double)H;
    int w = W, h = H;
    if (in_ratio < rmin)
        h = (int)nearbyint(W / rmin);
    else if (in_ratio > rmax)
        w = (int)nearbyint(H * rmax);
    h = h < 1 ? 1 : (h > H ? H : h);
    w = w < 1 ? 1 : (w > W ? W : w);
    *top = (H - h) / 2;
    *left = (W - w) / 2;
    *ch = h;
    *cw = w;
}

/* Bilinear resize of the crop (top, left, ch, cw) of img to H x W, with PyTorch's
 * align_corners=False source index (x + 0.5) * scale - 0.5, clamped at 0 below and at the
 * last pixel above; mirrored when flip. At scale 1 the weights are exactly 1 and 0, so an
 * uncropped view is the image itself. The column weights go in small stack tables, a block
 * of columns at a time, so the inner loop is lookups and multiply-adds for any width. */
#define AUG_COLS 256

static void resized_crop(float *out, const uint8_t *img, int C, int H, int W, int top, int left,
                         int ch, int cw, int flip)
{
    int xa[AUG_COLS], xb[AUG_COLS];  /* source columns left and right of each output column */
    float wa[AUG_COLS], wb[AUG_COLS]; /* their weights */
    size_t plane = (size_t)H * (size_t)W;
    float sy = (float)ch / (float)H, sx = (float)cw / (float)W;
    for (int x0 = 0; x0 < W; x0 += AUG_COLS) {
        int nb = W - x0 < AUG_COLS ? W - x0 : AUG_COLS;
        for (int k = 0; k < nb; k++) {
            int x = flip ? W - 1 - (x0 + k) : x0 + k;
            float fx = ((float)x + 0.5f) * sx - 0.5f;
            if (fx < 0.0f)
                fx = 0.0f;
            int i = (int)fx;
            if (i > cw - 1)
                i = cw - 1;
            wb[k] = fx - (float)i;
            wa[k] = 1.0f - wb[k];
            xa[k] = left + i;
            xb[k] = left + i + (i < cw - 1);
        }
        for (int y = 0; y < H; y++) {
            float fy = ((float)y + 0.5f) * sy - 0.5f;
            if (fy < 0.0f)
                fy = 0.0f;
            int i = (int)fy;
            if (i > ch - 1)
                i = ch - 1;
            /* 1/255 folded into the row weights; at weight 1 it is still exact. */
            float l1 = fy - (float)i, va = (1.0f - l1) * INV255, vb = l1 * INV255;
            size_t ra = (size_t)(top + i) * W, rb = (size_t)(top + i + (i < ch - 1)) * W;
            for (int c = 0; c < C; c++) {
                const uint8_t *r0 = img + c * plane + ra, *r1 = img + c * plane + rb;
                float *o = out + c * plane + (size_t)y * W + x0;
                for (int k = 0; k < nb; k++)
                    o[k] = va * (wa[k] * r0[xa[k]] + wb[k] * r0[xb[k]]) +
                           vb * (wa[k] * r1[xa[k]] + wb[k] * r1[xb[k]]);
            }
        }
    }
}

/* The element-wise loops carry `omp simd` because -O2 alone leaves them scalar; without
 * OpenMP the pragma is ignored and the result is the same. */
static void adjust_brightness(float *img, size_t n, float f)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        img[i] = clamp01(img[i] * f);
}

/* Sum in double, over eight independent chains: one chain would wait on the add latency
 * at every element and dominate the cost of a whole view. */
static double sum_floats(const float *x, size_t n)
{
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += x[i + k];
    for (; i < n; i++)
        acc[0] += x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Blend with the mean of the grayscale image (for gray input, the mean of all values). The
 * luma mean is the weighted sum of the channel means, so no per-pixel gray is needed. */
static void adjust_contrast(float *img, int C, size_t plane, float f)
{
    double mean;
    if (C == 3)
        mean = (LUMA_R * sum_floats(img, plane) + LUMA_G * sum_floats(img + plane, plane) +
                LUMA_B * sum_floats(img + 2 * plane, plane)) / (double)plane;
    else
        mean = sum_floats(img, (size_t)C * plane) / ((double)C * (double)plane);
    float bias = (1.0f - f) * (float)mean;
#pragma omp simd
    for (size_t i = 0; i < (size_t)C * plane; i++)
        img[i] = clamp01(f * img[i] + bias);
}

static void adjust_saturation(float *img, size_t plane, float f)
{
    float *r = img, *g = img + plane, *b = img + 2 * plane;
#pragma omp simd
    for (size_t i = 0; i < plane; i++) {
        float gray = (1.0f - f) * (LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i]);
        r[i] = clamp01(f * r[i] + gray);
        g[i] = clamp01(f * g[i] + gray);
        b[i] = clamp01(f * b[i] + gray);
    }
}

/* torchvision's _rgb2hsv, hue moved by shift (mod 1), then _hsv2rgb. Written without
 * data-dependent branches: on real images the max channel and the hue sector change from pixel
 * to pixel, and a branchy version spent ~25 ns a pixel on mispredictions. The hue is kept in
 * sixths of a turn and offset to be positive, so its sector is an integer truncation and the
 * two wraps of torchvision (fmod, then % 1) are one integer % 6. */
static void adjust_hue(float *img, size_t plane, float shift)
{
    /* Which of (v, q, p, t) each channel takes in each of the six sectors (torchvision's
     * a1, a2, a3 stacks). */
    static const unsigned char pick_r[6] = {0, 1, 2, 2, 3, 0};
    static const unsigned char pick_g[6] = {3, 0, 0, 1, 2, 2};
    static const unsigned char pick_b[6] = {2, 2, 3, 0, 0, 1};
    float *rp = img, *gp = img + plane, *bp = img + 2 * plane;
    /* shift as sixths in [0, 6), plus 6: the raw hue below is >= -1, so the sum is positive. */
    float offset = 6.0f * (shift - floorf(shift)) + 6.0f;
    for (size_t i = 0; i < plane; i++) {
        float r = rp[i], g = gp[i], b = bp[i];
        float v = max2(r, max2(g, b)), cr = v - min2(r, min2(g, b));
        /* torch.where(eqc, ones, ...) for the divisors; cr, v >= 0. A gray pixel gets
         * s = 0 and comes back unchanged. */
        float inv = 1.0f / (cr + (float)(cr <= 0.0f));
        float s = cr / (v + (float)(v <= 0.0f));
        float rc = (v - r) * inv, gc = (v - g) * inv, bc = (v - b) * inv;
        float hs[3] = {bc - gc, 2.0f + rc - bc, 4.0f + gc - rc};
        int which = v == r ? 0 : (v == g ? 1 : 2);
        float h6 = hs[which] + offset;
        int whole = (int)h6;
        float f = h6 - (float)whole;
        int sector = whole % 6;
        /* p, q, t lie in [0, v] since s, f are in [0, 1]: torch's clamps are no-ops here. */
        float vals[4] = {v, v * (1.0f - s * f), v * (1.0f - s), v * (1.0f - s * (1.0f - f))};
        rp[i] = vals[pick_r[sector]];
        gp[i] = vals[pick_g[sector]];
        bp[i] = vals[pick_b[sector]];
    }
}

static void to_grayscale(float *img, size_t plane)
{
    float *r = img, *g = img + plane, *b = img + 2 * plane;
#pragma omp simd
    for (size_t i = 0; i < plane; i++) {
        float gray = clamp01(LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i]);
        r[i] = g[i] = b[i] = gray;
    }
}

/* ColorJitter: the ops in a random order (torchvision's randperm), each factor drawn once
 * (in the fixed order brightness, contrast, saturation, hue, like get_params); an op whose
 * strength is 0 is off and draws nothing. Gray images have only the first two ops. */
static void color_jitter(float *img, int C, size_t plane, const AugConfig *cfg, Rng *rng)
{
    int rgb = C == 3, n_ops = rgb ? 4 : 2;
    int order[4] = {OP_BRIGHTNESS, OP_CONTRAST, OP_SATURATION, OP_HUE};
    float factor[4] = {1.0f, 1.0f, 1.0f, 0.0f};
    int on[4] = {cfg->brightness > 0.0f, cfg->contrast > 0.0f, rgb && cfg->saturation > 0.0f,
                 rgb && cfg->hue > 0.0f};
    for (int i = n_ops - 1; i > 0; i--) {
        int j = (int)rng_below(rng, (uint64_t)i + 1);
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    if (on[OP_BRIGHTNESS])
        factor[OP_BRIGHTNESS] =
            rng_range(rng, fmaxf(0.0f, 1.0f - cfg->brightness), 1.0f + cfg->brightness);
    if (on[OP_CONTRAST])
        factor[OP_CONTRAST] =
            rng_range(rng, fmaxf(0.0f, 1.0f - cfg->contrast), 1.0f + cfg->contrast);
    if (on[OP_SATURATION])
        factor[OP_SATURATION] =
            rng_range(rng, fmaxf(0.0f, 1.0f - cfg->saturation), 1.0f + cfg->saturation);
    if (on[OP_HUE])
        factor[OP_HUE] = rng_range(rng, -cfg->hue, cfg->hue);
    for (int k = 0; k < n_ops; k++) {
        int op = order[k];
        if (!on[op])
            continue;
        switch (op) {
        case OP_BRIGHTNESS: adjust_brightness(img, (size_t)C * plane, factor[op]); break;
        case OP_CONTRAST: adjust_contrast(img, C, plane, factor[op]); break;
        case OP_SATURATION: adjust_saturation(img, plane, factor[op]); break;
        default: adjust_hue(img, plane, factor[op]); break;
        }
    }
}

/* The widest plane side the blur works on; larger views are left unblurred (the encoder takes
 * at most 512). */
#define BLUR_MAX_SIDE 1024
#define BLUR_MAX_RADIUS 64

/* Reflected index into 0..n-1 (torchvision's reflect padding: the edge is not repeated). */
static inline int reflect(int i, int n)
{
    if (n == 1)
        return 0;
    while (i < 0 || i >= n)
        i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

/* SimCLR's Gaussian blur: kernel side 10% of the image (odd, at least 3), sigma drawn in
 * [sigma_min, sigma_max], applied separably with reflect padding to every channel. No
 * allocation: one line buffer on the stack. */
static void gaussian_blur(float *img, int C, int H, int W, float sigma)
{
    int side = H < W ? H : W;
    int r = (int)(0.1f * (float)side) / 2;
    r = r < 1 ? 1 : (r > BLUR_MAX_RADIUS ? BLUR_MAX_RADIUS : r);
    if (H > BLUR_MAX_SIDE || W > BLUR_MAX_SIDE)
        return;
    float k[2 * BLUR_MAX_RADIUS + 1], line[BLUR_MAX_SIDE];
    double sum = 0.0;
    for (int i = -r; i <= r; i++) {
        k[i + r] = expf(-(float)(i * i) / (2.0f * sigma * sigma));
        sum += k[i + r];
    }
    for (int i = 0; i <= 2 * r; i++)
        k[i] = (float)(k[i] / sum);
    for (int c = 0; c < C; c++) {
        float *p = img + (size_t)c * H * W;
        for (int y = 0; y < H; y++) {
            float *row = p + (size_t)y * W;
            for (int x = 0; x < W; x++) {
                float s = 0.0f;
                for (int j = -r; j <= r; j++)
                    s += k[j + r] * row[reflect(x + j, W)];
                line[x] = s;
            }
            for (int x = 0; x < W; x++)
                row[x] = line[x];
        }
        for (int x = 0; x < W; x++) {
            for (int y = 0; y < H; y++) {
                float s = 0.0f;
                for (int j = -r; j <= r; j++)
                    s += k[j + r] * p[(size_t)reflect(y + j, H) * W + x];
                line[y] = s;
            }
            for (int y = 0; y < H; y++)
                p[(size_t)y * W + x] = line[y];
        }
    }
}

void augment_view(float *out, const uint8_t *img, int C, int H, int W, const AugConfig *cfg,
                  Rng *rng)
{
    size_t plane = (size_t)H * (size_t)W;
    int top, left, ch, cw;
    crop_params(H, W, cfg, rng, &top, &left, &ch, &cw);
    int flip = rng_uniform(rng) < cfg->flip_p;
    resized_crop(out, img, C, H, W, top, left, ch, cw, flip);
    if (rng_uniform(rng) < cfg->jitter_p)
        color_jitter(out, C, plane, cfg, rng);
    if (C == 3 && rng_uniform(rng) < cfg->gray_p)
        to_grayscale(out, plane);
    if (cfg->blur_p > 0.0f && rng_uniform(rng) < cfg->blur_p)
        gaussian_blur(out, C, H, W, rng_range(rng, cfg->blur_sigma_min, cfg->blur_sigma_max));
}

void augment_noise(float *out, const float *in, size_t n, float sigma, Rng *rng)
{
    for (size_t i = 0; i < n; i++)
        out[i] = clamp01(in[i] + sigma * rng_normal(rng));
}
