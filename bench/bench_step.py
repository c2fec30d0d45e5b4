#!/usr/bin/python3
"""bench_step.py - the PyTorch reference for bench/bench_step.sh: times one SimCLR training
step (2N views forward, NT-Xent, backward, Adam) of the same networks gsimclr builds
(server/nn/model.c), on this machine, with the same thread count. Prints
    torch NET views_per_s=V step_ms=M
Usage: /usr/bin/python3 bench/bench_step.py NET [batch] [steps] [threads]"""
import statistics
import sys
import time

import os

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from torch_models import cnn3, ntxent, resnet  # noqa: E402


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "cnn3"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = {"cnn3": cnn3, "resnet": resnet}[name]()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(2 * n, 1, 28, 28)
    times = []
    for s in range(3 + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = ntxent(net(x), 0.5)
        loss.backward()
        opt.step()
        if s >= 3:
            times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    print(f"torch {name} views_per_s={2 * n / t:.1f} step_ms={t * 1e3:.2f} "
          f"mkldnn={torch.backends.mkldnn.is_available()}")


if __name__ == "__main__":
    main()
