/* gradcheck.c — central finite differences against analytic gradients. */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gs/rng.h"

GcOpts gc_defaults(void)
{
    GcOpts o = {.eps = 1e-2, .rtol = 2e-2, .atol = 2e-3, .max_checks = 0};
    return o;
}

void gc_fill(float *x, size_t n, unsigned seed, float lo, float hi)
{
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = rng_range(&r, lo, hi);
}

double gc_dot(const float *out, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)out[i] * (double)r[i];
    return s;
}

int gradcheck(const char *what, float *x, size_t n, const float *analytic, GcLossFn loss,
              void *ctx, GcOpts o)
{
    size_t step = 1, checked = 0;
    double *num;
    double max_num = 0;
    int bad = 0;
    size_t worst = 0;
    double worst_ratio = 0;

    if (o.max_checks && n > o.max_checks)
        step = (n + o.max_checks - 1) / o.max_checks;
    num = calloc(n, sizeof *num);
    if (!num) {
        fprintf(stdout, "    gradcheck %s: out of memory\n", what);
        return 1;
    }
    for (size_t i = 0; i < n; i += step) {
        float keep = x[i];
        x[i] = (float)(keep + o.eps);
        double lp = loss(ctx);
        x[i] = (float)(keep - o.eps);
        double lm = loss(ctx);
        x[i] = keep;
        /* divide by the step actually taken in float, not the nominal eps */
        double h = (double)(float)(keep + o.eps) - (double)(float)(keep - o.eps);
        num[i] = (lp - lm) / h;
        if (fabs(num[i]) > max_num)
            max_num = fabs(num[i]);
        checked++;
    }
    double floor_abs = o.atol * (max_num > 1e-6 ? max_num : 1e-6);
    for (size_t i = 0; i < n; i += step) {
        double diff = fabs((double)analytic[i] - num[i]);
        double allowed = floor_abs + o.rtol * fabs(num[i]);
        if (!(diff <= allowed)) {
            bad++;
        }
        double ratio = diff / allowed;
        if (!(ratio <= worst_ratio)) {
            worst_ratio = ratio;
            worst = i;
        }
    }
    if (bad)
        fprintf(stdout,
                "    gradcheck %s: %d of %zu elements off; worst [%zu] analytic %.6g numeric %.6g\n",
                what, bad, checked, worst, (double)analytic[worst], num[worst]);
    free(num);
    return bad;
}
