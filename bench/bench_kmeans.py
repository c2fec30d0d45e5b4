#!/usr/bin/python3
"""bench_kmeans.py — scikit-learn's side of bench_kmeans.sh: KMeans (Lloyd, k-means++ init)
on a GSEM matrix with the same settings as ours, limited to THREADS threads (OpenMP and BLAS).
Only the fit is timed. Prints one line:
  sklearn k=K seconds=S inertia=I n_iter=N
Usage: bench_kmeans.py FILE K [n_init=4] [max_iter=100] [threads=2] [seed=0]"""
import os
import struct
import sys
import time

threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
os.environ["OMP_NUM_THREADS"] = str(threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(threads)

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402


def read_gsem(path):
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"GSEM":
            sys.exit(f"{path}: not a GSEM file")
        n, d = struct.unpack("<II", head[4:])
        x = np.fromfile(f, dtype="<f4", count=n * d)
    if x.size != n * d:
        sys.exit(f"{path}: truncated")
    return x.reshape(n, d)


def main():
    x = read_gsem(sys.argv[1])
    k = int(sys.argv[2])
    n_init = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    max_iter = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    km = KMeans(n_clusters=k, init="k-means++", n_init=n_init, max_iter=max_iter, tol=1e-4,
                algorithm="lloyd", random_state=seed)
    with threadpool_limits(limits=threads):
        t0 = time.perf_counter()
        km.fit(x)
        t = time.perf_counter() - t0
    print(f"sklearn k={k} seconds={t:.4f} inertia={km.inertia_:.6e} n_iter={km.n_iter_}")


if __name__ == "__main__":
    main()
