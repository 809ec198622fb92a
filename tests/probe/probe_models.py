"""The calibration suite: small real models that must trigger each detector, and healthy models
that must trigger none. Shared by the tests, the benchmark and the docs picture.

Nothing here is tuned to the detectors: the broken models are the textbook mistakes (seed notes
1.4 / 1.5 / 1.7, Glorot & Bengio 2010), the healthy ones are the standard recipes, trained with
the usual optimiser settings for each.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


# ---------------------------------------------------------------------------------------------
# data: a learnable synthetic task (a fixed random teacher labels random inputs)
# ---------------------------------------------------------------------------------------------


class Teacher:
    def __init__(self, in_shape, classes=10, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.in_shape = tuple(in_shape)
        self.classes = classes
        n = math.prod(self.in_shape)
        self.w = torch.randn(n, classes, generator=g) / math.sqrt(n)
        self.g = g

    def batch(self, size=32):
        x = torch.randn(size, *self.in_shape, generator=self.g)
        y = (x.reshape(size, -1) @ self.w).argmax(1)
        return x, y


class TokenTeacher:
    """Sequence classification: the label is a function of token counts."""

    def __init__(self, vocab=100, length=16, classes=4, seed=0):
        self.g = torch.Generator().manual_seed(seed)
        self.vocab, self.length, self.classes = vocab, length, classes
        self.w = torch.randn(vocab, classes, generator=self.g)

    def batch(self, size=32):
        x = torch.randint(0, self.vocab, (size, self.length), generator=self.g)
        y = self.w[x].sum(1).argmax(1)
        return x, y


def train(model, data, steps, opt, probe=None, clip=None, loss_fn=F.cross_entropy, batch=32):
    model.train()
    for _ in range(steps):
        x, y = data.batch(batch)
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if probe is not None:
            probe.step(loss)
    return model


# ---------------------------------------------------------------------------------------------
# broken models
# ---------------------------------------------------------------------------------------------


class SigmoidMLP(nn.Module):
    """The 10-layer sigmoid MLP (DL201's textbook case); ``init_std`` None keeps PyTorch's init."""

    def __init__(self, inp=32, width=64, depth=10, classes=10, init_std=None):
        super().__init__()
        layers = []
        d = inp
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.Sigmoid()]
            d = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, classes)
        if init_std is not None:
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, init_std)
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.head(self.body(x))


class ReluMLP(nn.Module):
    def __init__(self, inp=32, width=64, depth=4, classes=10, bias=None):
        super().__init__()
        self.layers = nn.ModuleList()
        d = inp
        for _ in range(depth):
            self.layers.append(nn.Linear(d, width))
            d = width
        self.act = nn.ReLU()
        self.head = nn.Linear(width, classes)
        if bias is not None:
            for lin in self.layers:
                nn.init.constant_(lin.bias, bias)

    def forward(self, x):
        for lin in self.layers:
            x = self.act(lin(x))  # one ReLU module reused after every layer
        return self.head(x)


class ZeroMLP(nn.Module):
    """Every weight set to zero (seed 1.7.1): hidden units can never become different."""

    def __init__(self, inp=32, width=64, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(inp, width)
        self.fc2 = nn.Linear(width, width)
        self.out = nn.Linear(width, classes)
        for m in (self.fc1, self.fc2, self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.out(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


class RandnNet(nn.Module):
    """Weights drawn with std 1 (``torch.randn(out, in)``, DL102) in a deep ReLU net."""

    def __init__(self, inp=32, width=64, depth=8, classes=10):
        super().__init__()
        dims = [inp] + [width] * depth
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(o, i)) for i, o in zip(dims, dims[1:]))
        self.fcs = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, dims[1:]))
        with torch.no_grad():
            for fc in self.fcs:
                fc.weight.copy_(torch.randn_like(fc.weight))
        self.relu = nn.ReLU()
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        for fc in self.fcs:
            x = self.relu(fc(x))
        return self.head(x)


class Poison(nn.Module):
    """A module whose own computation goes non-finite: log of a value that is not positive."""

    def forward(self, x):
        return torch.log(x - 0.5)


class PoisonNet(nn.Module):
    def __init__(self, inp=32, width=64, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(inp, width), nn.ReLU())
        self.block = nn.Sequential(nn.Linear(width, width), nn.Sigmoid(), Poison(), nn.Linear(width, width))
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(torch.relu(self.block(self.stem(x))))


class DropoutBNNet(nn.Module):
    def __init__(self, inp=32, width=64, classes=10):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(inp, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(0.5),
                                 nn.Linear(width, classes))

    def forward(self, x):
        return self.net(x)


# ---------------------------------------------------------------------------------------------
# healthy models
# ---------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.short is None else self.short(x)))


class SmallResNet(nn.Module):
    def __init__(self, classes=10, width=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.layer1 = BasicBlock(width, width)
        self.layer2 = BasicBlock(width, 2 * width, 2)
        self.layer3 = BasicBlock(2 * width, 4 * width, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, classes)
        for m in self.modules():  # torchvision's ResNet init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class BNMLP(nn.Module):
    def __init__(self, inp=32, width=128, depth=4, classes=10):
        super().__init__()
        layers = []
        d = inp
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU()]
            d = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.body(x))


class TinyTransformer(nn.Module):
    def __init__(self, vocab=100, d=64, heads=4, layers=2, classes=4, length=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(1, length, d))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        h = self.encoder(self.embed(x) + self.pos[:, : x.shape[1]])
        return self.head(self.norm(h).mean(1))


class LSTMClassifier(nn.Module):
    def __init__(self, vocab=100, d=32, hidden=64, classes=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        out, (h, c) = self.lstm(self.embed(x))  # tuple output
        return self.head(out[:, -1])


# ---------------------------------------------------------------------------------------------
# functional activations: F.relu / torch.relu / x.relu() / torch.sigmoid / torch.tanh in forward
# ---------------------------------------------------------------------------------------------


def _apply_relu(h, style):
    if style == "F":
        return F.relu(h)
    if style == "torch":
        return torch.relu(h)
    if style == "method":
        return h.relu()
    if style == "inplace":
        return F.relu(h, inplace=True)
    if style == "method_":
        return h.relu_()
    raise ValueError(style)


class FReluBlock(nn.Module):
    """A Linear followed by a ReLU called functionally in this module's forward."""

    def __init__(self, d_in, d_out, style="F"):
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.style = style

    def forward(self, x):
        return _apply_relu(self.fc(x), self.style)


class FunctionalReluMLP(nn.Module):
    """ReluMLP with the ReLUs called in the blocks' forward (``style``: F.relu, torch.relu, x.relu(),
    F.relu(inplace=True), x.relu_())."""

    def __init__(self, inp=32, width=64, depth=4, classes=10, bias=None, style="F"):
        super().__init__()
        self.blocks = nn.ModuleList(FReluBlock(inp if i == 0 else width, width, style) for i in range(depth))
        self.head = nn.Linear(width, classes)
        if bias is not None:
            for block in self.blocks:
                nn.init.constant_(block.fc.bias, bias)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class FunctionalSigmoidMLP(nn.Module):
    """SigmoidMLP with ``torch.sigmoid`` (or ``torch.tanh``) called in the model's own forward."""

    def __init__(self, inp=32, width=64, depth=10, classes=10, init_std=None, act="sigmoid"):
        super().__init__()
        dims = [inp] + [width] * depth
        self.fcs = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, dims[1:]))
        self.head = nn.Linear(width, classes)
        self.act = act
        if init_std is not None:
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, init_std)
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        for fc in self.fcs:
            x = torch.sigmoid(fc(x)) if self.act == "sigmoid" else torch.tanh(fc(x))
        return self.head(x)


class FBasicBlock(nn.Module):
    """torchvision's BasicBlock with the ReLUs written as F.relu (as many user models and timm do)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.short is None else self.short(x)), inplace=True)


class FunctionalResNet(nn.Module):
    def __init__(self, classes=10, width=16):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.layer1 = FBasicBlock(width, width)
        self.layer2 = FBasicBlock(width, 2 * width, 2)
        self.layer3 = FBasicBlock(2 * width, 4 * width, 2)
        self.fc = nn.Linear(4 * width, classes)
        for m in self.modules():  # torchvision's ResNet init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class FunctionalTanhMLP(nn.Module):
    """A tanh MLP with Xavier init (Glorot & Bengio's recipe), tanh called as x.tanh()."""

    def __init__(self, inp=32, width=128, depth=4, classes=10):
        super().__init__()
        dims = [inp] + [width] * depth
        self.fcs = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, dims[1:]))
        self.head = nn.Linear(width, classes)
        for fc in self.fcs:
            nn.init.xavier_uniform_(fc.weight, gain=nn.init.calculate_gain("tanh"))
            nn.init.zeros_(fc.bias)

    def forward(self, x):
        for fc in self.fcs:
            x = fc(x).tanh()
        return self.head(x)
