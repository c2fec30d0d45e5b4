#!/usr/bin/python3
"""bench_step.py - the PyTorch reference for bench/bench_step.sh: times one training step of
the same networks gsimclr builds (server/nn/model.c), on this machine, with the same thread
count: a SimCLR step (2N views forward, NT-Xent, backward, Adam) or the autoencoder's (N
images forward, mean squared error, backward, Adam). SPEC is what bench_step prints as
torch=SPEC: cnn3 | cnn3:W1,W2,W3:H1,H2 | resnet | dae:F1,F2,F3. Prints
    torch SPEC views_per_s=V step_ms=M mkldnn=B
(images per second for the autoencoder).
Usage: /usr/bin/python3 bench/bench_step.py SPEC [batch] [steps] [threads] [tau]"""
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from torch_models import cnn3, dae, ntxent, resnet  # noqa: E402


def ints(text):
    return [int(v) for v in text.split(",")]


def build(spec):
    """(network, is_autoencoder) for a SPEC."""
    parts = spec.split(":")
    if parts[0] == "cnn3":
        if len(parts) == 1:
            return cnn3(), False
        return cnn3(widths=ints(parts[1]), head=tuple(ints(parts[2]))), False
    if parts[0] == "resnet" and len(parts) == 1:
        return resnet(), False
    if parts[0] == "dae" and len(parts) == 2:
        return dae(1, 28, 28, ints(parts[1])), True
    raise SystemExit(f"bench_step.py: unknown network {spec}")


def main():
    spec = sys.argv[1] if len(sys.argv) > 1 else "cnn3"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    tau = float(sys.argv[5]) if len(sys.argv) > 5 else 0.5
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net, is_dae = build(spec)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    views = n if is_dae else 2 * n
    x = torch.rand(views, 1, 28, 28)
    times = []
    for s in range(3 + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        out = net(x)
        loss = F.mse_loss(out, x) if is_dae else ntxent(out, tau)
        loss.backward()
        opt.step()
        if s >= 3:
            times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    print(f"torch {spec} views_per_s={views / t:.1f} step_ms={t * 1e3:.2f} "
          f"mkldnn={torch.backends.mkldnn.is_available()}")


if __name__ == "__main__":
    main()
