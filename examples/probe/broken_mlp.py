"""Models with the mistakes the linter flags statically, for the probe to show at runtime.

    dllint probe examples/probe/broken_mlp.py:BrokenMLP --input 32,64 --target classes:10 --confirm
    dllint probe examples/probe/broken_mlp.py:RandnMLP --input 32,64 --target classes:10 --confirm
    dllint probe examples/probe/broken_mlp.py:HealthyMLP --input 32,64 --target classes:10

BrokenMLP: DL201 (a deep sigmoid stack) is confirmed by DLP001 (vanishing gradients), DL101 (a
zero-initialised hidden layer) by DLP008 (symmetric units). RandnMLP: DL102 (``nn.init.normal_``
with its default std of 1) by DLP007 (activation scale drift). The DL502 finding in ``predict`` is about inference
code, which the CLI does not run, so it is reported "not observed" with that reason; wrap the
inference in ``with Probe(model):`` to check it (docs/probe.md).
"""

import torch
from torch import nn


class BrokenMLP(nn.Module):
    def __init__(self, inp=64, width=128, classes=10):
        super().__init__()
        self.inp = nn.Linear(inp, width)
        self.hidden = nn.Sequential(
            nn.Linear(width, width), nn.Sigmoid(),
            nn.Linear(width, width), nn.Sigmoid(),
            nn.Linear(width, width), nn.Sigmoid(),
            nn.Linear(width, width), nn.Sigmoid(),
            nn.Linear(width, width), nn.Sigmoid(),
            nn.Linear(width, width), nn.Sigmoid(),
        )
        self.bottleneck = nn.Linear(width, width)
        nn.init.zeros_(self.bottleneck.weight)
        self.out = nn.Linear(width, classes)

    def forward(self, x):
        h = self.hidden(torch.relu(self.inp(x)))
        h = torch.relu(self.bottleneck(h))
        return self.out(h)


class RandnMLP(nn.Module):
    def __init__(self, inp=64, width=128, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(inp, width)
        self.fc2 = nn.Linear(width, width)
        self.fc3 = nn.Linear(width, width)
        self.fc4 = nn.Linear(width, width)
        self.out = nn.Linear(width, classes)
        nn.init.normal_(self.fc1.weight)  # std 1: activations grow ~sqrt(fan_in / 2)x per layer
        nn.init.normal_(self.fc2.weight)
        nn.init.normal_(self.fc3.weight)
        nn.init.normal_(self.fc4.weight)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        x = torch.relu(self.fc3(x))
        x = torch.relu(self.fc4(x))
        return self.out(x)


class HealthyMLP(nn.Module):
    def __init__(self, inp=64, width=128, classes=10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(inp, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Linear(width, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Linear(width, classes),
        )

    def forward(self, x):
        return self.net(x)


def predict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)
