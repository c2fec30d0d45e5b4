#!/usr/bin/env python3
"""dist_model.py — what the SimCLR stage's data parallelism should give on larger clusters,
from figures measured on one machine (bench-dist): the images per second one host computes,
and what a step exchanges (the gradient all-reduce of every parameter, the all-gather of the
2B x D embeddings, and per batch-norm layer one all-gather forward and one all-reduce
backward of a few floats per channel). No overlap of communication and computation is
assumed (gsimclr has none: every collective waits). Large messages go by ring (all-reduce:
2 (H-1)/H of the bytes each way and 2 (H-1) latencies; all-gather: (H-1)/H and H-1), small
ones by recursive doubling (log2 H latencies), as Open MPI's tuned collectives choose.
Usage: dist_model.py RATE PARAMS DIM BN_LAYERS [BATCH]   (prints Markdown tables)"""
import math
import sys

LINKS = [  # name, bytes/s of payload, one-way latency of a small message (s)
    ("10 Gbit/s", 10e9 / 8 * 0.9, 30e-6),    # TCP over 10GbE: ~90 % of line rate, ~30 us
    ("100 Gbit/s", 100e9 / 8 * 0.8, 8e-6),   # TCP over 100GbE: ~80 %, ~8 us (RDMA: less)
]
HOSTS = [2, 8, 16, 64]


def step_comm(H, B, params, dim, bn_layers, bw, lat):
    if H == 1:
        return 0.0
    grad = 4.0 * params
    emb = 4.0 * 2 * B * dim
    t = 2 * (H - 1) / H * grad / bw + 2 * (H - 1) * lat          # ring all-reduce
    t += (H - 1) / H * emb / bw + (H - 1) * lat                   # ring all-gather
    t += 2 * bn_layers * math.ceil(math.log2(H)) * lat            # small collectives
    return t


def efficiency(H, B, rate, params, dim, bn_layers, bw, lat):
    compute = B / (H * rate)
    return compute / (compute + step_comm(H, B, params, dim, bn_layers, bw, lat)), compute


def main():
    rate, params, dim, bn = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 256
    print(f"Inputs: {rate:.0f} images/s per host, {params:,} parameters, D = {dim}, "
          f"{bn} batch-norm layers, global batch {batch}.\n")
    print("| link | hosts | compute ms/step | comm ms/step | efficiency | images/s | "
          "smallest global batch for efficiency 0.9 (0.5) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, bw, lat in LINKS:
        for H in HOSTS:
            e, compute = efficiency(H, batch, rate, params, dim, bn, bw, lat)
            comm = step_comm(H, batch, params, dim, bn, bw, lat)

            def smallest(target):
                b = H  # at least one image per host
                while b <= 1 << 22:
                    if efficiency(H, b, rate, params, dim, bn, bw, lat)[0] >= target:
                        return b
                    b *= 2 if b < 1024 else 1.25
                    b = int(b)
                return None
            b9, b5 = smallest(0.9), smallest(0.5)
            print(f"| {name} | {H} | {1e3 * compute:.1f} | {1e3 * comm:.2f} | {e:.2f} | "
                  f"{e * H * rate:,.0f} | {b9:,} ({b5:,}) |")


if __name__ == "__main__":
    main()
