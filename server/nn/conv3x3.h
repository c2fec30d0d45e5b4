/* conv3x3.h — conv.c's other algorithms for 3x3, stride 1, pad 1 convolutions (output plane =
 * input plane; nearly all of this product's): Winograd's F(2x2, 3x3) and F(4x4, 3x3)
 * (winograd.c) and a
 * direct loop for few channels (direct3x3.c). Private to server/nn: callers go through
 * conv2d_*, which picks the algorithm (conv.c: pick_algo). */
#ifndef GS_CONV3X3_H
#define GS_CONV3X3_H

#include <stdbool.h>
#include <stddef.h>

#include "gs/layers.h"

/* True for the shapes both compute: K 3, stride 1, pad 1, output plane = input plane. */
bool conv3x3_same(const ConvShape *s);

/* As conv2d_forward / conv2d_backward (without the bias gradient) for such shapes; m: the
 * tile's outputs per side, 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3)). */
size_t winograd_ws_floats(const ConvShape *s, int B, int m);
void winograd_forward(const ConvShape *s, int m, int B, float *out, const float *inp,
                      const float *w, const float *b, float *ws);
void winograd_backward(const ConvShape *s, int m, int B, float *dinp, float *dw,
                       const float *dout, const float *inp, const float *w, float *ws);

size_t direct3x3_ws_floats(const ConvShape *s, int B);
void direct3x3_forward(const ConvShape *s, int B, float *out, const float *inp, const float *w,
                       const float *b, float *ws);
void direct3x3_backward(const ConvShape *s, int B, float *dinp, float *dw, const float *dout,
                        const float *inp, const float *w, float *ws);

#endif
