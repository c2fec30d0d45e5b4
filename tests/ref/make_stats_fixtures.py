#!/usr/bin/python3
"""make_stats_fixtures.py — writes tests/fixtures/stats.txt, SciPy's answers that
tests/test_stats.c holds server/base/stats.c to (1e-9 relative).

Run as `/usr/bin/python3 tests/ref/make_stats_fixtures.py tests/fixtures/stats.txt` (Debian's
python3-scipy and python3-mpmath). Plain text, one case a line, numbers in repr (round-trip)
form:
    t_cdf T DF P                   scipy.stats.t.cdf(T, DF)
    t_ppf Q DF T EXACT             scipy.stats.t.ppf(Q, DF), and the root of the t CDF found
                                   by mpmath at 40 digits: SciPy 1.10's stdtrit is accurate to
                                   a few 1e-9 relative only, so the exact root is the reference
    betainc A B X I                scipy.special.betainc(A, B, X)
    interval N X1..XN MEAN SD LO HI   mean, sd (ddof 1), scipy.stats.t.interval(0.95, N-1, MEAN, SD/sqrt(N))
    paired N A1..AN B1..BN MEAN SD LO HI T P   differences A-B; scipy.stats.ttest_rel(A, B)
"""
import math
import sys

import mpmath
import numpy as np
from scipy import special, stats


def line(*parts):
    return " ".join(p if isinstance(p, str) else repr(float(p)) for p in parts)


def exact_t_ppf(q, df):
    mpmath.mp.dps = 40
    q, df = mpmath.mpf(q), mpmath.mpf(df)

    def cdf(t):
        x = df / (df + t * t)
        tail = mpmath.betainc(df / 2, mpmath.mpf(1) / 2, 0, x, regularized=True) / 2
        return 1 - tail if t > 0 else tail

    return float(mpmath.findroot(lambda t: cdf(t) - q, stats.t.ppf(float(q), float(df))))


def main():
    out = []
    for t in (-40.0, -3.5, -1.0, -1e-3, 0.0, 0.3, 1.96, 2.776, 12.0, 1e3):
        for df in (1, 2, 4, 9, 29, 1000):
            out.append(line("t_cdf", t, df, stats.t.cdf(t, df)))
    for q in (0.5, 0.6, 0.9, 0.95, 0.975, 0.995, 0.9995, 0.025, 1e-6):
        for df in (1, 2, 3, 4, 9, 29, 120):
            out.append(line("t_ppf", q, df, stats.t.ppf(q, df), exact_t_ppf(q, df)))
    for a, b, x in ((0.5, 0.5, 0.3), (2, 0.5, 0.999), (50, 0.5, 0.9), (0.5, 2, 1e-4),
                    (3, 7, 0.35), (100, 100, 0.5), (1, 1, 0.25), (10, 0.5, 0.0), (10, 0.5, 1.0)):
        out.append(line("betainc", a, b, x, special.betainc(a, b, x)))
    rng = np.random.default_rng(7)
    samples = [[0.8845, 0.8832, 0.8861, 0.8820, 0.8857],
               [0.5, 0.75],
               list(rng.normal(0.88, 0.004, 10)),
               [1.0, 1.0, 1.0 + 1e-12],
               [-3.0, 2.0, 7.5, 0.25]]
    for x in samples:
        n = len(x)
        m, sd = np.mean(x), np.std(x, ddof=1)
        lo, hi = stats.t.interval(0.95, n - 1, loc=m, scale=sd / math.sqrt(n))
        out.append(line("interval", n, *x, m, sd, lo, hi))
    pairs = [([0.8845, 0.8832, 0.8861, 0.8820, 0.8857], [0.8832, 0.8840, 0.8822, 0.8801, 0.8830]),
             ([0.5, 0.6, 0.7], [0.4, 0.45, 0.71]),
             (list(rng.normal(0.88, 0.004, 12)), list(rng.normal(0.879, 0.004, 12))),
             ([1.0, 2.0], [0.0, 0.5])]
    for a, b in pairs:
        n = len(a)
        d = np.subtract(a, b)
        m, sd = np.mean(d), np.std(d, ddof=1)
        lo, hi = stats.t.interval(0.95, n - 1, loc=m, scale=sd / math.sqrt(n))
        r = stats.ttest_rel(a, b)
        out.append(line("paired", n, *a, *b, m, sd, lo, hi, r.statistic, r.pvalue))
    with open(sys.argv[1], "w") as f:
        f.write("\n".join(out) + "\n")
    print("%s: %d cases" % (sys.argv[1], len(out)))


if __name__ == "__main__":
    main()
