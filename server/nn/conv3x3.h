/* conv3x3.h — conv.c's other algorithms for 3x3, stride 1, pad 1 convolutions (output plane =
 * input plane; nearly all of this product's): register-blocked direct kernels
 * (direct3x3.c), Winograd's F(2x2, 3x3) and F(4x4, 3x3) (winograd.c), and what the three
 * convolution files share. Private to server/nn: callers go through conv2d_*, which picks
 * the algorithm (conv.c: pick_algo). */
#ifndef GS_CONV3X3_H
#define GS_CONV3X3_H

#include <stdbool.h>
#include <stddef.h>

#include "gs/layers.h"

/* True for the shapes both compute: K 3, stride 1, pad 1, output plane = input plane. */
static inline bool conv3x3_same(const ConvShape *s)
{
    return s->K == 3 && s->stride == 1 && s->pad == 1 && s->Ho == s->H && s->Wo == s->W;
}

/* Per-thread blocks of a ws start on 64-byte boundaries (relative to ws) to keep threads'
 * writes off each other's cache lines. */
#define CONV_PAD_FLOATS 16

static inline size_t conv_round_up(size_t n)
{
    return (n + CONV_PAD_FLOATS - 1) / CONV_PAD_FLOATS * CONV_PAD_FLOATS;
}

/* Thread t's contiguous range [b0, b1) of B images split over T threads. */
static inline void conv_image_range(int B, int T, int t, int *b0, int *b1)
{
    *b0 = (int)((long long)B * t / T);
    *b1 = (int)((long long)B * (t + 1) / T);
}

/* True where the AVX2 + FMA kernels run (direct3x3.c's and Winograd F(4x4)'s): the CPU has
 * both and conv2d_allow_avx2 did not turn them off. */
bool conv3x3_avx2(void);

/* As conv2d_forward / conv2d_backward (without the bias gradient) for such shapes; m: the
 * tile's outputs per side, 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3)). */
size_t winograd_ws_floats(const ConvShape *s, int B, int m);
void winograd_forward(const ConvShape *s, int m, int B, float *out, const float *inp,
                      const float *w, const float *b, float *ws);
void winograd_backward(const ConvShape *s, int m, int B, float *dinp, float *dw,
                       const float *dout, const float *inp, const float *w, float *ws);

/* As conv2d_*; these also take an input read upsampled (s->up > 1). */
size_t direct3x3_ws_floats(const ConvShape *s, int B);
void direct3x3_forward(const ConvShape *s, int B, float *out, const float *inp, const float *w,
                       const float *b, float *ws);
void direct3x3_backward(const ConvShape *s, int B, float *dinp, float *dw, const float *dout,
                        const float *inp, const float *w, float *ws);

#endif
