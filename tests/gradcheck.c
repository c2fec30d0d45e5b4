/* gradcheck.c — central finite differences against analytic gradients. */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gs/rng.h"

GcOpts gc_defaults(void)
{
    GcOpts o = {.eps = 1e-2, .rtol = 2e-2, .atol = 2e-3, .max_checks = 0, .abs_floor = 0, .skip_kinks = false,
                .kinked = NULL};
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

/* (f(x + h) - f(x - h)) / 2h for element i, dividing by the step actually taken in float */
static double central_diff(float *x, size_t i, double eps, GcLossFn loss, void *ctx)
{
    float keep = x[i];
    float up = (float)(keep + eps), down = (float)(keep - eps);
    x[i] = up;
    double lp = loss(ctx);
    x[i] = down;
    double lm = loss(ctx);
    x[i] = keep;
    return (lp - lm) / ((double)up - (double)down);
}

int gradcheck(const char *what, float *x, size_t n, const float *analytic, GcLossFn loss,
              void *ctx, GcOpts o)
{
    size_t step = 1, checked = 0;
    double *num;
    char *kink;
    double max_num = 0;
    int bad = 0;
    size_t worst = 0;
    double worst_ratio = 0;

    if (o.max_checks && n > o.max_checks)
        step = (n + o.max_checks - 1) / o.max_checks;
    size_t n_kinked = 0;
    num = calloc(n, sizeof *num);
    kink = calloc(n, 1);
    if (!num || !kink) {
        fprintf(stdout, "    gradcheck %s: out of memory\n", what);
        free(num);
        free(kink);
        return 1;
    }
    for (size_t i = 0; i < n; i += step) {
        if (o.skip_kinks) {
            /* A kink between x - eps and x + eps shows as one-sided quotients that disagree,
             * however close to x it lies. */
            float keep = x[i];
            float up = (float)(keep + o.eps), down = (float)(keep - o.eps);
            double f0 = loss(ctx);
            x[i] = up;
            double fp = loss(ctx);
            x[i] = down;
            double fm = loss(ctx);
            x[i] = keep;
            double dplus = (fp - f0) / ((double)up - keep), dminus = (f0 - fm) / (keep - (double)down);
            num[i] = (fp - fm) / ((double)up - (double)down);
            if (fabs(dplus - dminus) > o.rtol * fabs(num[i]) + o.abs_floor)
                kink[i] = 1;
        } else {
            num[i] = central_diff(x, i, o.eps, loss, ctx);
        }
        if (fabs(num[i]) > max_num)
            max_num = fabs(num[i]);
        checked++;
    }
    double floor_abs = o.atol * (max_num > 1e-6 ? max_num : 1e-6);
    if (floor_abs < o.abs_floor)
        floor_abs = o.abs_floor;
    for (size_t i = 0; i < n; i += step) {
        if (kink[i]) {
            n_kinked++;
            continue;
        }
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
    if (o.kinked)
        *o.kinked += n_kinked;
    free(num);
    free(kink);
    return bad;
}
