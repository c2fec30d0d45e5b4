#!/usr/bin/python3
"""bench_step.py - the PyTorch reference for bench/bench_step.sh: times one SimCLR training
step (2N views forward, NT-Xent, backward, Adam) of the same networks gsimclr builds
(server/nn/model.c), on this machine, with the same thread count. Prints
    torch NET views_per_s=V step_ms=M
Usage: /usr/bin/python3 bench/bench_step.py NET [batch] [steps] [threads]"""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def cnn3(width=32, head=(128, 64)):
    layers, c_in = [], 1
    for s in range(3):
        c = width << s
        layers += [nn.Conv2d(c_in, c, 3, 1, 1, bias=True), nn.BatchNorm2d(c), nn.ReLU(),
                   nn.MaxPool2d(2)]
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), mlp(c_in, head))


class Block(nn.Module):
    def __init__(self, c_in, c, stride):
        super().__init__()
        self.c1 = nn.Conv2d(c_in, c, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(c)
        self.short = None
        if stride != 1 or c_in != c:
            self.short = nn.Sequential(nn.Conv2d(c_in, c, 1, stride, 0, bias=False),
                                       nn.BatchNorm2d(c))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.short(x) if self.short is not None else x))


def resnet(width=32, stages=3, blocks=1, head=(128, 64)):
    layers = [nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    c_in = width
    for s in range(stages):
        for b in range(blocks):
            c = width << s
            layers.append(Block(c_in, c, 2 if (s > 0 and b == 0) else 1))
            c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), mlp(c_in, head))


def mlp(c_in, head):
    layers = []
    for j, w in enumerate(head):
        layers.append(nn.Linear(c_in, w))
        if j < len(head) - 1:
            layers.append(nn.ReLU())
        c_in = w
    return nn.Sequential(*layers)


def nt_xent(z, tau):
    n2 = z.shape[0]
    n = n2 // 2
    z = F.normalize(z, dim=1)
    sim = z @ z.t() / tau
    sim = sim.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, n2), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


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
        loss = nt_xent(net(x), 0.5)
        loss.backward()
        opt.step()
        if s >= 3:
            times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    print(f"torch {name} views_per_s={2 * n / t:.1f} step_ms={t * 1e3:.2f} "
          f"mkldnn={torch.backends.mkldnn.is_available()}")


if __name__ == "__main__":
    main()
