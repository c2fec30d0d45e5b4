"""torch_models.py - PyTorch twins of the networks server/nn/model.c builds, for the parity
fixtures (tests/ref/make_fixtures.py) and the speed reference (bench/bench_step.py). Each
builder creates its modules in model.c's node order, so parameters() lists them in the same
order as the C net's parameter spans: conv weight (and bias), bn gamma, bn beta, ...,
linear weight, linear bias."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(c_in, head):
    layers = []
    for j, w in enumerate(head):
        layers.append(nn.Linear(c_in, w))
        if j < len(head) - 1:
            layers.append(nn.ReLU())
        c_in = w
    return nn.Sequential(*layers)


def cnn3(in_c=1, width=32, stages=3, head=(128, 64), widths=None):
    """encoder_cnn3(): [conv3x3 s1 p1 + bias, BN, ReLU, maxpool 2] x stages, GAP, MLP head;
    the stage widths double from `width` unless `widths` gives each."""
    layers, c_in = [], in_c
    widths = widths or [width << s for s in range(stages)]
    for c in widths:
        layers += [nn.Conv2d(c_in, c, 3, 1, 1, bias=True), nn.BatchNorm2d(c), nn.ReLU(),
                   nn.MaxPool2d(2)]
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), mlp(c_in, head))


class Block(nn.Module):
    """model.c's basic_block: two 3x3 convs, 1x1 strided conv + BN shortcut on a shape change."""

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


def resnet(in_c=1, width=32, stages=3, blocks=1, head=(128, 64)):
    """encoder_defaults(): CIFAR stem (3x3 s1, no max-pool), stages of basic blocks (the first
    stage at stride 1, the others halve the plane), GAP, MLP head."""
    layers = [nn.Conv2d(in_c, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    c_in = width
    for s in range(stages):
        for b in range(blocks):
            c = width << s
            layers.append(Block(c_in, c, 2 if (s > 0 and b == 0) else 1))
            c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), mlp(c_in, head))


def dae(in_c, h, w, filters):
    """model_build_dae(): encoder blocks conv3x3-BN-ReLU, each followed by maxpool 2 while the
    plane is even; the decoder mirrors them with nearest upsampling; a final conv with bias and
    a sigmoid. Returns the network (input -> reconstruction)."""
    layers, c_in, pooled = [], in_c, []
    for f in filters:
        layers += [nn.Conv2d(c_in, f, 3, 1, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU()]
        c_in = f
        if h % 2 == 0 and w % 2 == 0 and h >= 4 and w >= 4:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
            pooled.append(True)
        else:
            pooled.append(False)
    for i in reversed(range(len(filters))):
        if pooled[i]:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        f = filters[i - 1] if i > 0 else filters[0]
        layers += [nn.Conv2d(c_in, f, 3, 1, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU()]
        c_in = f
    layers += [nn.Conv2d(c_in, in_c, 3, 1, 1, bias=True), nn.Sigmoid()]
    return nn.Sequential(*layers)


def ntxent(z, tau):
    """SimCLR's NT-Xent over 2N rows: rows i and i+N are positives, self-similarity masked."""
    n2 = z.shape[0]
    n = n2 // 2
    zn = F.normalize(z, dim=1)
    sim = zn @ zn.t() / tau
    sim = sim.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, n2), torch.arange(0, n)])
    return F.cross_entropy(sim, target)
