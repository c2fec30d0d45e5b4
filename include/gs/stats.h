/* stats.h — the statistics a sweep reports over seeds: mean, sample standard deviation,
 * Student's t confidence intervals, the paired t-test and a seeded percentile bootstrap. Pure
 * functions of their inputs (the bootstrap of its seed too), checked against SciPy
 * (tests/ref/make_stats_fixtures.py). Knows nothing of runs or sweeps. */
#ifndef GS_STATS_H
#define GS_STATS_H

#include <stdint.h>

/* Arithmetic mean of x[0..n); NaN when n < 1. */
double stats_mean(const double *x, int n);
/* Sample standard deviation (n - 1 in the denominator); NaN when n < 2. */
double stats_sd(const double *x, int n);

/* Student's t distribution with df > 0 degrees of freedom: P(T <= t), and its inverse
 * (the q-quantile, 0 < q < 1). NaN outside the domain. */
double stats_t_cdf(double t, double df);
double stats_t_quantile(double q, double df);

/* The regularized incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1. */
double stats_betainc(double a, double b, double x);

typedef struct {
    int n;
    double mean, sd;
    double lo, hi; /* the interval; NaN when it cannot be had (n < 2) */
} StatsInterval;

/* The mean of x with its two-sided Student's t interval at level (e.g. 0.95): mean -/+
 * t_{(1+level)/2, n-1} sd / sqrt(n). */
StatsInterval stats_t_interval(const double *x, int n, double level);

/* The percentile bootstrap interval of the mean at level: `resamples` resamples of x drawn
 * with replacement from the seeded RNG, the interval between the (1-level)/2 and (1+level)/2
 * quantiles of their means (linear interpolation between order statistics, as numpy's
 * default). Deterministic for a seed. lo/hi NaN when n < 2 or resamples < 2; -1 when out of
 * memory. */
int stats_bootstrap_interval(const double *x, int n, double level, int resamples,
                             uint64_t seed, StatsInterval *out);

typedef struct {
    int n;            /* pairs */
    double mean, sd;  /* of the differences a[i] - b[i] */
    double lo, hi;    /* t interval of the mean difference */
    double t;         /* the statistic mean / (sd / sqrt(n)) */
    double p;         /* two-sided p-value, n - 1 degrees of freedom */
} StatsPaired;

/* The paired t-test of a against b (scipy.stats.ttest_rel, two-sided) with the t interval of
 * the mean difference at level. With n < 2 everything but n and mean is NaN. When every
 * difference is equal (sd = 0) the test is degenerate: t is +-inf and p = 0 for a non-zero
 * difference, and t, p are NaN for an all-zero one (SciPy says the same). */
StatsPaired stats_paired_t(const double *a, const double *b, int n, double level);

#endif
