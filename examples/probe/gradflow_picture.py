"""Draw docs/gradflow.png: the probe's gradient-flow picture of a 10-layer sigmoid MLP fed
unnormalised inputs (pixel values 0-255): gradients vanish towards the first layer (DLP001)
and the first sigmoid sits in its flat tail (DLP004).

    python examples/probe/gradflow_picture.py [out.png]
"""

import sys

import torch
from torch import nn
from torch.nn import functional as F

from dllint.probe import Probe


class SigmoidMLP(nn.Module):
    def __init__(self, inp=32, width=64, depth=10, classes=10):
        super().__init__()
        layers, d = [], inp
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.Sigmoid()]
            d = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.body(x))


def main(out="docs/gradflow.png"):
    torch.manual_seed(0)
    model = SigmoidMLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    teacher = torch.randn(32, 10)
    with Probe(model, every=5) as probe:
        for _ in range(20):
            x = torch.randn(64, 32)
            y = (x @ teacher).argmax(1)
            pixels = (x * 40 + 128).clamp(0, 255)  # the bug: raw pixel values, never normalised
            loss = F.cross_entropy(model(pixels), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            probe.step(loss)
    report = probe.report()
    print(report.to_text(layers=False))
    report.plot(out, title="10-layer sigmoid MLP on unnormalised inputs: gradient flow (dllint probe)")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
