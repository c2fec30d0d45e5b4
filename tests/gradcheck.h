/* gradcheck.h — finite-difference gradient checking shared by the layer and loss tests.
 * The caller provides a function that recomputes a scalar loss (in double) from the current
 * contents of its buffers; gradcheck perturbs each checked input element by +-eps, takes the
 * central difference and compares it with the analytic gradient. */
#ifndef GS_TEST_GRADCHECK_H
#define GS_TEST_GRADCHECK_H

#include <stdbool.h>
#include <stddef.h>

typedef double (*GcLossFn)(void *ctx);

typedef struct {
    double eps;   /* perturbation, default 1e-2 */
    double rtol;  /* per-element relative tolerance, default 2e-2 */
    double atol;  /* absolute floor as a fraction of the largest |numeric gradient|, default 2e-3 */
    size_t max_checks; /* check at most this many elements (spread evenly), 0 = all */
    double abs_floor;  /* absolute tolerance floor, for tensors whose true gradient may be 0
                        * (a bias before batch-norm): set it from the whole network's scale */
    /* ReLU and max-pool kinks: a step that crosses one makes the difference quotient
     * meaningless. With skip_kinks, the forward and backward one-sided quotients are compared
     * too; where they disagree the loss is not smooth within eps, the element is skipped and
     * counted in *kinked, and the rest are compared as usual. */
    bool skip_kinks;
    size_t *kinked;
} GcOpts;

GcOpts gc_defaults(void);

/* Compares analytic (n) with numeric d loss / d x for x (n). Returns the number of elements
 * outside tolerance; prints the worst one under `what` when any fails. x is restored. */
int gradcheck(const char *what, float *x, size_t n, const float *analytic, GcLossFn loss,
              void *ctx, GcOpts opts);

/* Fills x (n) with uniform values in [lo, hi) from a simple seeded generator. */
void gc_fill(float *x, size_t n, unsigned seed, float lo, float hi);
/* sum_i out[i] * r[i] in double: the loss whose gradient with respect to out is r. */
double gc_dot(const float *out, const float *r, size_t n);

#endif
