/* augment.h — per-image augmentations drawn from the seeded RNG: SimCLR views (random
 * resized crop, horizontal flip, colour jitter, random grayscale) and the autoencoder's
 * Gaussian noise. Input images are uint8 (C, H, W); outputs are float (C, H, W) in [0, 1]. */
#ifndef GS_AUGMENT_H
#define GS_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "gs/rng.h"

typedef struct {
    float crop_scale_min, crop_scale_max;  /* area fraction, e.g. 0.2 .. 1.0 */
    float crop_ratio_min, crop_ratio_max;  /* aspect ratio, e.g. 3/4 .. 4/3 */
    float flip_p;                          /* horizontal flip probability */
    float jitter_p;                        /* probability the colour jitter is applied */
    float brightness, contrast;            /* factors drawn in [1-x, 1+x] */
    float saturation, hue;                 /* RGB only: factor in [1-s, 1+s]; hue shift in [-h, h] */
    float gray_p;                          /* RGB only: probability of converting to gray */
    float blur_p;                          /* probability of a Gaussian blur (0 = off) */
    float blur_sigma_min, blur_sigma_max;  /* its sigma, drawn uniformly, in pixels */
} AugConfig;

/* SimCLR defaults for small images (scale 0.2..1, ratio 3/4..4/3, flip 0.5, jitter 0.8 with
 * 0.4/0.4/0.4/0.1, gray 0.2, no blur; SimCLR's ImageNet blur is blur 0.5, sigma 0.1..2). */
AugConfig augment_defaults(void);

/* Plain conversion to float in [0, 1]. */
void augment_to_float(float *out, const uint8_t *img, size_t n);
/* One random view of img (C, H, W) into out (C, H, W): crop (bilinear resize back to H x W),
 * flip, jitter, grayscale, blur, in SimCLR's order. Draws only from rng, and nothing for the
 * blur when blur_p is 0 (so views without blur are those of earlier versions). */
void augment_view(float *out, const uint8_t *img, int C, int H, int W, const AugConfig *cfg,
                  Rng *rng);
/* out = clip(in + N(0, sigma^2), 0, 1) element-wise. */
void augment_noise(float *out, const float *in, size_t n, float sigma, Rng *rng);

#endif
