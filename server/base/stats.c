/* stats.c — see stats.h. Student's t distribution through the regularized incomplete beta
 * function, evaluated by its continued fraction (modified Lentz); sums in double. Nothing
 * here allocates but the bootstrap's resample means, and nothing keeps state between calls. */
#include "gs/stats.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "gs/rng.h"

double stats_mean(const double *x, int n)
{
    double s = 0;
    if (n < 1)
        return NAN;
    for (int i = 0; i < n; i++)
        s += x[i];
    return s / n;
}

double stats_sd(const double *x, int n)
{
    double m = stats_mean(x, n), ss = 0;
    if (n < 2)
        return NAN;
    /* two passes: the deviations from the mean, not sum(x^2) - n m^2, which cancels */
    for (int i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (n - 1));
}

/* The continued fraction of I_x(a, b) (Numerical Recipes' betacf, modified Lentz), valid
 * and fast for x < (a + 1) / (a + b + 2). y = 1 - x is passed in exactly. */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap, h;
    d = fabs(d) < tiny ? tiny : d;
    d = 1 / d;
    h = d;
    for (int m = 1; m <= 10000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + aa / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + aa / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 4 * DBL_EPSILON)
            break;
    }
    return h;
}

/* I_x(a, b) with y = 1 - x given separately, so that x close to 1 keeps its precision. */
static double betainc_xy(double a, double b, double x, double y)
{
    if (!(a > 0) || !(b > 0) || !(x >= 0) || !(y >= 0) || isnan(x) || isnan(y))
        return NAN;
    if (x == 0)
        return 0;
    if (y == 0)
        return 1;
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(y);
    if (x < (a + 1) / (a + b + 2))
        return exp(lfront) * beta_cf(a, b, x) / a;
    return 1 - exp(lfront) * beta_cf(b, a, y) / b;
}

double stats_betainc(double a, double b, double x)
{
    return betainc_xy(a, b, x, 1 - x);
}

/* P(|T| >= |t|) for Student's t with df degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2). */
static double t_two_sided(double t, double df)
{
    double t2 = t * t;
    if (isinf(t))
        return 0;
    return betainc_xy(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
}

double stats_t_cdf(double t, double df)
{
    if (isnan(t) || !(df > 0))
        return NAN;
    double tail = 0.5 * t_two_sided(t, df);
    return t > 0 ? 1 - tail : tail;
}

/* The t >= 0 whose two-sided tail P(|T| >= t) is want (0 < want <= 1), by bisection. */
static double t_for_tail(double want, double df)
{
    double lo = 0, hi = 1;
    while (t_two_sided(hi, df) > want && hi < 1e300)
        hi *= 2;
    for (int i = 0; i < 2000 && hi - lo > 4 * DBL_EPSILON * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (t_two_sided(mid, df) > want)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

double stats_t_quantile(double q, double df)
{
    if (!(q > 0 && q < 1) || !(df > 0))
        return NAN;
    if (q == 0.5)
        return 0;
    /* matched on the smaller tail, so nothing is lost to 1 - q */
    return q > 0.5 ? t_for_tail(2 * (1 - q), df) : -t_for_tail(2 * q, df);
}

StatsInterval stats_t_interval(const double *x, int n, double level)
{
    StatsInterval r = {.n = n, .mean = stats_mean(x, n), .sd = stats_sd(x, n), .lo = NAN,
                       .hi = NAN};
    if (n >= 2 && level > 0 && level < 1) {
        double half = stats_t_quantile(0.5 + level / 2, n - 1) * r.sd / sqrt((double)n);
        r.lo = r.mean - half;
        r.hi = r.mean + half;
    }
    return r;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.quantile's default: linear interpolation at position q (n - 1) of the sorted values. */
static double quantile_sorted(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1)
        return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

int stats_bootstrap_interval(const double *x, int n, double level, int resamples,
                             uint64_t seed, StatsInterval *out)
{
    *out = (StatsInterval){.n = n, .mean = stats_mean(x, n), .sd = stats_sd(x, n), .lo = NAN,
                           .hi = NAN};
    if (n < 2 || resamples < 2 || !(level > 0 && level < 1))
        return 0;
    double *means = malloc((size_t)resamples * sizeof *means);
    if (!means)
        return -1;
    Rng rng;
    rng_seed(&rng, seed);
    for (int r = 0; r < resamples; r++) {
        double s = 0;
        for (int i = 0; i < n; i++)
            s += x[rng_below(&rng, (uint64_t)n)];
        means[r] = s / n;
    }
    qsort(means, (size_t)resamples, sizeof *means, by_value);
    out->lo = quantile_sorted(means, resamples, (1 - level) / 2);
    out->hi = quantile_sorted(means, resamples, (1 + level) / 2);
    free(means);
    return 0;
}

StatsPaired stats_paired_t(const double *a, const double *b, int n, double level)
{
    StatsPaired r = {.n = n, .mean = NAN, .sd = NAN, .lo = NAN, .hi = NAN, .t = NAN, .p = NAN};
    double sum = 0, ss = 0;
    if (n < 1)
        return r;
    for (int i = 0; i < n; i++)
        sum += a[i] - b[i];
    r.mean = sum / n;
    if (n < 2)
        return r;
    for (int i = 0; i < n; i++)
        ss += (a[i] - b[i] - r.mean) * (a[i] - b[i] - r.mean);
    r.sd = sqrt(ss / (n - 1));
    if (level > 0 && level < 1) {
        double half = stats_t_quantile(0.5 + level / 2, n - 1) * r.sd / sqrt((double)n);
        r.lo = r.mean - half;
        r.hi = r.mean + half;
    }
    if (r.sd > 0) {
        r.t = r.mean / (r.sd / sqrt((double)n));
        r.p = t_two_sided(r.t, n - 1);
    } else if (r.mean != 0) {
        r.t = r.mean > 0 ? INFINITY : -INFINITY;
        r.p = 0;
    }
    return r;
}
