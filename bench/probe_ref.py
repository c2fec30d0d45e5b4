#!/usr/bin/python3
"""probe_ref.py FEATURES OURS — scikit-learn's logistic regression, run to convergence, on the
features `gsimclrd --run ... --features FEATURES` wrote, as the reference for our linear
evaluation (OURS: its test top-1). Same protocol as ours: standardise, choose C on a
stratified 10 % validation split of the training rows, refit on all of them, score the test
rows once. Last line: probe-ref: ours=A sklearn=B diff=A-B"""
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def load(path):
    raw = open(path, "rb").read()
    if raw[:8] != b"GSFEATS1":
        sys.exit(f"probe_ref: {path}: not a gsimclrd features file")
    d, ntr, nte = (int(v) for v in np.frombuffer(raw[8:20], dtype=np.int32))
    want = 20 + 4 * (ntr * d + ntr + nte * d + nte)
    if len(raw) != want:
        sys.exit(f"probe_ref: {path}: {len(raw)} bytes, expected {want}")
    o = 20
    def take(count, dtype):
        nonlocal o
        a = np.frombuffer(raw[o:o + 4 * count], dtype=dtype)
        o += 4 * count
        return a
    xtr = take(ntr * d, np.float32).reshape(ntr, d)
    ytr = take(ntr, np.int32)
    xte = take(nte * d, np.float32).reshape(nte, d)
    yte = take(nte, np.int32)
    return xtr, ytr, xte, yte


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: probe_ref.py FEATURES OURS_TOP1")
    xtr, ytr, xte, yte = load(sys.argv[1])
    ours = float(sys.argv[2])
    fit, val, yfit, yval = train_test_split(xtr, ytr, test_size=0.1, stratify=ytr,
                                            random_state=0)
    sc = StandardScaler().fit(fit)
    best = (-1.0, None)
    for c in (0.01, 0.1, 1.0, 10.0):
        t0 = time.time()
        m = LogisticRegression(C=c, max_iter=5000).fit(sc.transform(fit), yfit)
        acc = m.score(sc.transform(val), yval)
        print(f"probe-ref: C={c:g} validation top-1 {acc:.4f} ({time.time() - t0:.1f} s)",
              flush=True)
        if acc > best[0]:
            best = (acc, c)
    sc = StandardScaler().fit(xtr)
    m = LogisticRegression(C=best[1], max_iter=5000).fit(sc.transform(xtr), ytr)
    ref = m.score(sc.transform(xte), yte)
    print(f"probe-ref: {xtr.shape[0]} train x {xtr.shape[1]}-d, chose C={best[1]:g}")
    print(f"probe-ref: ours={ours:.4f} sklearn={ref:.4f} diff={ours - ref:+.4f}")


if __name__ == "__main__":
    main()
