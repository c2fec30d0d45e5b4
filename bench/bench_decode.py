#!/usr/bin/env python3
"""bench_decode.py — PIL's decoding speed on an image folder, for bench/bench_decode.sh: every
.png/.jpg/.jpeg under FOLDER opened, converted to RGB or L as its mode says, resized to
SIZE x SIZE (antialiased bilinear, as ours) when SIZE > 0, and read into a NumPy array,
on THREADS threads (PIL releases the GIL while it decodes), best of REPEATS.
usage: bench_decode.py FOLDER THREADS [SIZE] [REPEATS]"""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image


def load(path, size):
    with Image.open(path) as im:
        im = im.convert("L" if im.mode in ("L", "LA", "I;16", "1") else "RGB")
        if size and im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im)


def main():
    folder, threads = sys.argv[1], int(sys.argv[2])
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs
                   if f.lower().endswith((".png", ".jpg", ".jpeg")))
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = list(pool.map(lambda p: load(p, size), files, chunksize=64))
            best = min(best, time.perf_counter() - t0)
            del out
    print(f"pil_img_per_s={len(files) / best:.0f} images={len(files)}")


if __name__ == "__main__":
    main()
