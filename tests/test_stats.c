/* test_stats.c — server/base/stats.c against SciPy's answers in tests/fixtures/stats.txt
 * (written by tests/ref/make_stats_fixtures.py): t distribution, incomplete beta, t
 * intervals and the paired t-test to 1e-9 relative; the bootstrap's determinism and coverage;
 * the degenerate inputs a sweep meets (one seed, identical values). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/stats.h"
#include "harness.h"

#define STATS_TOL 1e-9

/* |a - b| <= tol max(|b|, tiny): relative, with an absolute floor for values near zero */
static int close_rel(double a, double b, double floor_abs)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b))
        return a == b;
    double scale = fabs(b) > floor_abs ? fabs(b) : floor_abs;
    return fabs(a - b) <= STATS_TOL * scale;
}

#define CHECK_REL(what, a, b, floor_abs)                                                      \
    CHECK_MSG(close_rel((a), (b), (floor_abs)), "%s: ours %.17g, scipy %.17g (%s)", what,   \
              (double)(a), (double)(b), line)

static int read_doubles(char **p, double *v, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        v[i] = strtod(*p, &end);
        if (end == *p)
            return -1;
        *p = end;
    }
    return 0;
}

TEST(stats_against_scipy)
{
    FILE *f = fopen(TEST_FIXTURE_DIR "/stats.txt", "r");
    char buf[4096];
    int cases = 0;
    CHECK_MSG(f != NULL, "cannot open %s/stats.txt", TEST_FIXTURE_DIR);
    if (!f)
        return;
    while (fgets(buf, sizeof buf, f)) {
        char line[4096], kind[16];
        int used = 0;
        double v[64];
        snprintf(line, sizeof line, "%s", buf);
        line[strcspn(line, "\n")] = 0;
        if (sscanf(buf, "%15s %n", kind, &used) != 1)
            continue;
        char *p = buf + used;
        if (strcmp(kind, "t_cdf") == 0 && read_doubles(&p, v, 3) == 0) {
            CHECK_REL("t cdf", stats_t_cdf(v[0], v[1]), v[2], 1e-300);
        } else if (strcmp(kind, "t_ppf") == 0 && read_doubles(&p, v, 4) == 0) {
            /* SciPy's own inverse is good to a few 1e-9 only: the exact root (mpmath) is the
             * reference, SciPy's answer is held to its accuracy */
            double t = stats_t_quantile(v[0], v[1]);
            CHECK_MSG(fabs(t - v[3]) <= 1e-12 * fabs(v[3]) + 1e-15,
                      "t quantile: ours %.17g, exact %.17g (%s)", t, v[3], line);
            CHECK_MSG(fabs(t - v[2]) <= 5e-9 * fabs(v[2]) + 1e-15,
                      "t quantile: ours %.17g, scipy %.17g (%s)", t, v[2], line);
        } else if (strcmp(kind, "betainc") == 0 && read_doubles(&p, v, 4) == 0) {
            CHECK_REL("betainc", stats_betainc(v[0], v[1], v[2]), v[3], 1e-300);
        } else if (strcmp(kind, "interval") == 0 && read_doubles(&p, v, 1) == 0 && v[0] <= 20 &&
                   read_doubles(&p, v + 1, (int)v[0] + 4) == 0) {
            int n = (int)v[0];
            const double *x = v + 1, *want = v + 1 + n;
            StatsInterval ci = stats_t_interval(x, n, 0.95);
            CHECK_INT_EQ(ci.n, n);
            CHECK_REL("mean", ci.mean, want[0], 1e-12);
            CHECK_REL("sd", ci.sd, want[1], 1e-300);
            CHECK_REL("interval lo", ci.lo, want[2], fabs(want[0]));
            CHECK_REL("interval hi", ci.hi, want[3], fabs(want[0]));
        } else if (strcmp(kind, "paired") == 0 && read_doubles(&p, v, 1) == 0 && v[0] <= 20 &&
                   read_doubles(&p, v + 1, 2 * (int)v[0] + 6) == 0) {
            int n = (int)v[0];
            const double *a = v + 1, *b = a + n, *want = b + n;
            StatsPaired r = stats_paired_t(a, b, n, 0.95);
            CHECK_REL("paired mean", r.mean, want[0], 1e-12);
            CHECK_REL("paired sd", r.sd, want[1], 1e-300);
            CHECK_REL("paired lo", r.lo, want[2], fabs(want[0]));
            CHECK_REL("paired hi", r.hi, want[3], fabs(want[0]));
            CHECK_REL("paired t", r.t, want[4], 1e-300);
            CHECK_REL("paired p", r.p, want[5], 1e-300);
        } else {
            CHECK_MSG(0, "stats.txt: unreadable line '%s'", line);
            continue;
        }
        cases++;
    }
    fclose(f);
    CHECK_MSG(cases >= 100, "only %d cases read", cases);
}

TEST(stats_degenerate_inputs)
{
    double one[] = {0.88}, same[] = {0.5, 0.5, 0.5}, a[] = {1, 2, 3}, b[] = {0, 1, 2};
    StatsInterval ci = stats_t_interval(one, 1, 0.95);
    CHECK(ci.n == 1 && ci.mean == 0.88 && isnan(ci.sd) && isnan(ci.lo) && isnan(ci.hi));
    ci = stats_t_interval(same, 3, 0.95);
    CHECK(ci.sd == 0 && ci.lo == 0.5 && ci.hi == 0.5);
    CHECK(isnan(stats_mean(one, 0)));

    /* every difference equal: no spread, the difference is certain (SciPy: t = inf, p = 0) */
    StatsPaired r = stats_paired_t(a, b, 3, 0.95);
    CHECK(r.mean == 1 && r.sd == 0 && isinf(r.t) && r.t > 0 && r.p == 0);
    r = stats_paired_t(b, a, 3, 0.95);
    CHECK(isinf(r.t) && r.t < 0 && r.p == 0);
    /* no difference at all: undefined, as SciPy says */
    r = stats_paired_t(a, a, 3, 0.95);
    CHECK(r.mean == 0 && isnan(r.t) && isnan(r.p));
    r = stats_paired_t(a, b, 1, 0.95);
    CHECK(r.n == 1 && r.mean == 1 && isnan(r.sd) && isnan(r.p) && isnan(r.lo));

    CHECK(isnan(stats_t_quantile(0, 3)) && isnan(stats_t_quantile(1, 3)));
    CHECK(isnan(stats_t_quantile(0.9, 0)) && isnan(stats_t_cdf(1, -1)));
    CHECK(stats_t_quantile(0.5, 7) == 0);
    CHECK(stats_t_cdf(INFINITY, 3) == 1 && stats_t_cdf(-INFINITY, 3) == 0);
}

TEST(stats_bootstrap)
{
    double x[] = {0.8845, 0.8832, 0.8861, 0.8820, 0.8857, 0.8811, 0.8870};
    int n = (int)(sizeof x / sizeof *x);
    StatsInterval b1, b2, b3;
    CHECK(stats_bootstrap_interval(x, n, 0.95, 10000, 42, &b1) == 0);
    CHECK(stats_bootstrap_interval(x, n, 0.95, 10000, 42, &b2) == 0);
    CHECK(stats_bootstrap_interval(x, n, 0.95, 10000, 43, &b3) == 0);
    /* deterministic for a seed, another seed draws other resamples */
    CHECK(b1.lo == b2.lo && b1.hi == b2.hi);
    CHECK(b1.lo != b3.lo || b1.hi != b3.hi);
    /* it covers the t interval's centre, and is about as wide (a percentile bootstrap of a
     * mean is a little narrower than t's for small n) */
    StatsInterval t = stats_t_interval(x, n, 0.95);
    CHECK_MSG(b1.lo < t.mean && t.mean < b1.hi, "bootstrap [%g, %g], mean %g", b1.lo, b1.hi,
              t.mean);
    double wb = b1.hi - b1.lo, wt = t.hi - t.lo;
    CHECK_MSG(wb > 0.4 * wt && wb < 1.2 * wt, "bootstrap width %g, t width %g", wb, wt);
    CHECK(b1.lo >= 0.8811 && b1.hi <= 0.8870);
    /* too little to resample */
    CHECK(stats_bootstrap_interval(x, 1, 0.95, 1000, 1, &b1) == 0 && isnan(b1.lo));
    CHECK(stats_bootstrap_interval(x, n, 0.95, 1, 1, &b1) == 0 && isnan(b1.hi));
}
