/* elementwise.c — relu, sigmoid and residual add, forward and backward. Backward adds into
 * the gradients (llm.c convention). Large arrays are split across the OpenMP threads;
 * small ones stay on the calling thread, where starting a team would cost more than the work. */
#include <math.h>
#include <stddef.h>

#include "gs/layers.h"

/* Below this many elements a parallel region costs more than it saves. */
#define PAR_MIN 32768

void relu_forward(float *out, const float *inp, size_t n)
{
    /* written so a NaN passes through (as in PyTorch) and reaches the loss's NaN check */
#pragma omp parallel for simd schedule(static) if (parallel : n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] < 0.0f ? 0.0f : inp[i];
}

void relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
#pragma omp parallel for simd schedule(static) if (parallel : n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

void sigmoid_forward(float *out, const float *inp, size_t n)
{
#pragma omp parallel for schedule(static) if (parallel : n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = 1.0f / (1.0f + expf(-inp[i]));
}

void sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n)
{
#pragma omp parallel for simd schedule(static) if (parallel : n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] += dout[i] * out[i] * (1.0f - out[i]);
}

void add_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd schedule(static) if (parallel : n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void add_backward(float *da, float *db, const float *dout, size_t n)
{
    if (da) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= PAR_MIN)
        for (size_t i = 0; i < n; i++)
            da[i] += dout[i];
    }
    if (db) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= PAR_MIN)
        for (size_t i = 0; i < n; i++)
            db[i] += dout[i];
    }
}
