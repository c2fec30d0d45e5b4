#!/usr/bin/python3
"""make_standin_embeddings.py — a stand-in for the DAE embeddings that bench_kmeans.sh reads
until the pipeline writes build/embeddings.gsem: the 60,000 Fashion-MNIST training images,
pixels scaled to [0, 1], projected onto their top D principal components (deterministic),
written as GSEM (magic "GSEM", u32 n, u32 d, n*d little-endian float32).
Usage: make_standin_embeddings.py OUT [D=128]"""
import gzip
import struct
import sys

import numpy as np

SRC = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def main():
    out = sys.argv[1]
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    with gzip.open(SRC, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 2051, "not an IDX image file"
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    x = x.astype(np.float64) / 255.0
    xc = x - x.mean(axis=0)
    # Eigenvectors of the covariance, largest first; the sign of each is fixed so the output
    # does not depend on the LAPACK build.
    w, v = np.linalg.eigh(xc.T @ xc / n)
    v = v[:, np.argsort(w)[::-1][:d]]
    v *= np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(d)])
    z = (xc @ v).astype("<f4")
    with open(out, "wb") as f:
        f.write(b"GSEM" + struct.pack("<II", n, d))
        f.write(np.ascontiguousarray(z).tobytes())
    print(f"wrote {out}: n={n} d={d}")


if __name__ == "__main__":
    main()
