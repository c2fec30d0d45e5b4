#!/usr/bin/python3
"""make_fixtures.py — writes the PyTorch parity fixtures that tests/test_parity.c reads.

Run as `/usr/bin/python3 tests/ref/make_fixtures.py tests/fixtures` (Debian's python3-torch).
Everything is single-threaded and seeded, so a rerun on the same CPU type rewrites the same
bytes (another CPU may change last bits, within every tolerance the tests use); the
files are committed so the C tests never need torch.

File format (little-endian), read by tests/fixture.c:
    magic "GSFX", u32 version (1), u32 count, then `count` tensors, each:
    u32 name length, name bytes (ASCII, no NUL), u32 ndim, u32 dims[ndim],
    float32 data[prod(dims)]   (ndim 0 is a scalar: one float)
Integers such as strides are stored as float tensors too; they are small enough to be exact.
"""
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import cnn3, dae, ntxent, resnet  # noqa: E402

MAGIC = b"GSFX"
VERSION = 1


def write_fixture(path, tensors):
    """tensors: list of (name, tensor-like); order is kept so the file reads top to bottom."""
    out = bytearray()
    out += MAGIC
    out += struct.pack("<II", VERSION, len(tensors))
    for name, t in tensors:
        t = torch.as_tensor(t).detach().to(torch.float32).contiguous()
        nb = name.encode("ascii")
        out += struct.pack("<I", len(nb)) + nb
        out += struct.pack("<I", t.dim())
        out += struct.pack("<%dI" % t.dim(), *t.shape)
        out += t.numpy().astype("<f4").tobytes()
    with open(path, "wb") as f:
        f.write(out)
    print("%-28s %8d bytes, %d tensors" % (path, len(out), len(tensors)))


def snap(t):
    """A copy taken now: parameters, gradients and running statistics are updated in place by
    later steps, and the file is written only at the end."""
    return t.detach().clone()


def scalar(v):
    return torch.tensor(float(v))


def conv2d_cases():
    torch.manual_seed(101)
    B, Cin, H, W, Cout, K = 3, 4, 9, 7, 5, 3
    tensors = []
    # "a" is the strided case with padding, "b" stride 1 without padding: together they
    # exercise both borders of im2col and both output-size formulas.
    for tag, stride, pad in (("a", 2, 1), ("b", 1, 0)):
        x = torch.randn(B, Cin, H, W, requires_grad=True)
        w = (torch.randn(Cout, Cin, K, K) * 0.3).requires_grad_()
        b = torch.randn(Cout, requires_grad=True)
        out = F.conv2d(x, w, b, stride=stride, padding=pad)
        dout = torch.randn_like(out)
        out.backward(dout)
        tensors += [
            (tag + ".stride", scalar(stride)), (tag + ".pad", scalar(pad)),
            (tag + ".x", x), (tag + ".w", w), (tag + ".b", b), (tag + ".out", out),
            (tag + ".dout", dout), (tag + ".dx", x.grad), (tag + ".dw", w.grad),
            (tag + ".db", b.grad),
        ]
    return tensors


def bn_case(tag, shape, momentum=0.1, eps=1e-5):
    C = shape[1]
    bn = nn.BatchNorm2d(C, eps=eps, momentum=momentum) if len(shape) == 4 else \
        nn.BatchNorm1d(C, eps=eps, momentum=momentum)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(C) + 0.5)
        bn.bias.copy_(torch.randn(C))
    gamma0 = bn.weight.detach().clone()
    beta0 = bn.bias.detach().clone()
    # An offset and scale per channel so the statistics are not close to 0 and 1.
    x = torch.randn(*shape) * 2.0 + 0.7
    x.requires_grad_()
    bn.train()
    out = bn(x)
    dout = torch.randn_like(out)
    out.backward(dout)
    dims = [0] + list(range(2, len(shape)))
    mean = x.detach().mean(dim=dims)
    var_b = x.detach().var(dim=dims, unbiased=False)
    rstd = 1.0 / torch.sqrt(var_b + eps)
    bn.eval()
    x_inf = torch.randn(*shape) * 1.5 + 0.3
    with torch.no_grad():
        out_inf = bn(x_inf)
    return [
        (tag + ".eps", scalar(eps)), (tag + ".momentum", scalar(momentum)),
        (tag + ".x", x), (tag + ".gamma", gamma0), (tag + ".beta", beta0),
        (tag + ".out", out), (tag + ".mean", mean), (tag + ".rstd", rstd),
        (tag + ".run_mean", snap(bn.running_mean)), (tag + ".run_var", snap(bn.running_var)),
        (tag + ".dout", dout), (tag + ".dx", x.grad), (tag + ".dgamma", bn.weight.grad),
        (tag + ".dbeta", bn.bias.grad), (tag + ".x_inf", x_inf), (tag + ".out_inf", out_inf),
    ]


def batchnorm_cases():
    torch.manual_seed(202)
    return bn_case("bn2d", (4, 3, 5, 5)) + bn_case("bn1d", (6, 5))



def ntxent_cases():
    torch.manual_seed(303)
    z0 = torch.randn(16, 8)
    tensors = [("z", z0)]
    for tag, tau in (("a", 0.5), ("b", 0.1)):
        z = z0.clone().requires_grad_()
        loss = ntxent(z, tau)
        loss.backward()
        tensors += [(tag + ".tau", scalar(tau)), (tag + ".loss", loss.detach()),
                    (tag + ".dz", z.grad)]
    return tensors



def adam_trajectory(dtype, perturb=0.0, seed=0):
    """Three Adam steps of a SimCLR step on the reference CNN from the seeded start, in dtype.
    With perturb > 0 every initial parameter is first scaled by (1 + perturb * N(0, 1)): a
    float32 run whose rounding went another way. Returns the final parameters (float64)."""
    torch.manual_seed(404)
    net = cnn3()
    x = torch.rand(16, 1, 28, 28)
    net = net.to(dtype)
    x = x.to(dtype)
    params = list(net.parameters())
    if perturb:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in params:
                p.mul_(1 + perturb * torch.randn(p.shape, generator=g, dtype=dtype))
    enc, head = net[:12], net[14]
    opt = torch.optim.Adam(params, lr=1e-3)
    enc.train()
    head.train()
    for _ in range(3):
        opt.zero_grad()
        ntxent(head(enc(x).mean(dim=(2, 3))), 0.5).backward()
        opt.step()
    return [p.detach().to(torch.float64).clone() for p in params]


def final_params_with_envelope():
    """The final parameters of the exact (float64) trajectory, and how far float32 rounding
    alone carries a run from it. Adam divides each gradient by its own running size, so three
    steps amplify rounding differences chaotically in some elements: a float32 run and the
    same run with its start moved by 1e-7 (about one rounding) end up to 1e-2 of a tensor's
    scale apart there, while most elements agree to 1e-6. Any float32 implementation, torch's
    or ours, lands somewhere in that spread, so the C test holds each element to the usual
    tolerance plus a multiple of the spread measured here: the largest distance from the
    float64 run over five float32 runs (one as is, four perturbed). Stored sparsely as (index,
    spread) rows for the elements where it exceeds 1e-5 of the tensor's scale."""
    exact = adam_trajectory(torch.float64)
    runs = [adam_trajectory(torch.float32)]
    runs += [adam_trajectory(torch.float32, 1e-7, seed) for seed in range(1, 5)]
    tensors = []
    for k, ref in enumerate(exact):
        spread = torch.stack([(r[k] - ref).abs().reshape(-1) for r in runs]).max(0).values
        scale = max(ref.abs().max().item(), 1e-6)
        idx = torch.nonzero(spread > 1e-5 * scale).reshape(-1)
        rows = torch.stack([idx.to(torch.float64), spread[idx]], 1) if len(idx) else \
            torch.zeros(0, 2)
        tensors += [("final.%d" % k, ref), ("spread.%d" % k, rows)]
    return tensors


def simclr_case():
    torch.manual_seed(404)
    net = cnn3()
    enc, head = net[:12], net[14]
    # Parameter order = node order: conv w, conv b, bn gamma, bn beta, ..., linear w, linear b.
    params = list(net.parameters())
    x = torch.rand(16, 1, 28, 28)
    tau, lr = 0.5, 1e-3
    tensors = [("x", x), ("tau", scalar(tau)), ("lr", scalar(lr)),
               ("n_params", scalar(len(params)))]
    tensors += [("init.%d" % k, snap(p)) for k, p in enumerate(params)]
    opt = torch.optim.Adam(params, lr=lr)
    enc.train()
    head.train()
    losses = []
    bns = [m for m in enc if isinstance(m, nn.BatchNorm2d)]
    convs = [m for m in enc if isinstance(m, nn.Conv2d)]
    # The conv bias each forward used. Its gradient is zero in exact arithmetic (BN follows),
    # so its Adam trajectory is rounding noise, yet it enters BN's running mean; the C test
    # takes each side's own bias out of the running mean before comparing.
    bias_steps = [[] for _ in convs]
    for step in range(3):
        for j, conv in enumerate(convs):
            bias_steps[j].append(snap(conv.bias))
        opt.zero_grad()
        h = enc(x).mean(dim=(2, 3))
        loss = ntxent(head(h), tau)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            tensors += [("grad1.%d" % k, snap(p.grad)) for k, p in enumerate(params)]
        opt.step()
    tensors.append(("loss", torch.tensor(losses)))
    tensors += final_params_with_envelope()
    for j, bn in enumerate(bns):
        tensors += [("run_mean.%d" % j, snap(bn.running_mean)),
                    ("run_var.%d" % j, snap(bn.running_var)),
                    ("bias_steps.%d" % j, torch.stack(bias_steps[j]))]
    return tensors


def net_case(net, x, out_dim):
    """One forward (training-mode BN) and backward of a whole network for the loss
    sum(out * r): the output and every parameter's gradient, in node order."""
    r = torch.rand(x.shape[0], out_dim) * 2 - 1
    params = list(net.parameters())
    net.train()
    out = net(x)
    (out.reshape(x.shape[0], -1) * r).sum().backward()
    tensors = [("x", x), ("r", r), ("out", out.detach().reshape(x.shape[0], -1)),
               ("n_params", scalar(len(params)))]
    tensors += [("init.%d" % k, snap(p)) for k, p in enumerate(params)]
    tensors += [("grad.%d" % k, snap(p.grad)) for k, p in enumerate(params)]
    return tensors


def resnet_case():
    """A small residual encoder with every kind of block: identity and projected shortcuts,
    stride 2, a non-square input."""
    torch.manual_seed(505)
    net = resnet(in_c=1, width=4, stages=2, blocks=2, head=(6, 5))
    return net_case(net, torch.rand(6, 1, 10, 8), 5)


def dae_case():
    """A small denoising autoencoder: 12 -> 6 -> 3 (the third block does not pool)."""
    torch.manual_seed(606)
    net = dae(1, 12, 12, (4, 6, 8))
    return net_case(net, torch.rand(4, 1, 12, 12), 144)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUTDIR")
    torch.set_num_threads(1)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    write_fixture(os.path.join(outdir, "conv2d.gsfx"), conv2d_cases())
    write_fixture(os.path.join(outdir, "batchnorm.gsfx"), batchnorm_cases())
    write_fixture(os.path.join(outdir, "ntxent.gsfx"), ntxent_cases())
    write_fixture(os.path.join(outdir, "simclr_adam.gsfx"), simclr_case())
    write_fixture(os.path.join(outdir, "net_resnet.gsfx"), resnet_case())
    write_fixture(os.path.join(outdir, "net_dae.gsfx"), dae_case())


if __name__ == "__main__":
    main()
