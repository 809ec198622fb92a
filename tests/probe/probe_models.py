"""The calibration suite: small real models that must trigger each detector, and healthy models
that must trigger none. Shared by the tests, the benchmark and the docs picture.

Nothing here is tuned to the detectors: the broken models are the textbook mistakes (Glorot &
Bengio 2010; He et al. 2015; Lu et al. 2019 on dying ReLUs; Goodfellow et al. 2016, sec. 8.4 on
symmetry), the healthy ones are the standard recipes, trained with
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
    """Every weight set to zero: hidden units can never become different (Goodfellow et al. 2016, sec. 8.4)."""

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


class SigmoidAttentionBlock(nn.Module):
    """An attention block without its residual connections and normalisation, with a sigmoid FFN."""

    def __init__(self, d=32, heads=4):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.Sigmoid(), nn.Linear(2 * d, d), nn.Sigmoid())

    def forward(self, x):
        return self.ffn(self.attn(x, x, x, need_weights=False)[0])


class SigmoidTransformer(nn.Module):
    """DL201's deep sigmoid stack inside repeated attention blocks: the depth trend compared like
    with like (block 0's FFN against block 7's) still shows the gradient vanishing."""

    def __init__(self, vocab=100, d=32, depth=8, classes=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.Sequential(*(SigmoidAttentionBlock(d) for _ in range(depth)))
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        return self.head(self.blocks(self.embed(x)).mean(1))


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


# ---------------------------------------------------------------------------------------------
# modern architectures (healthy): attention, zero-initialised heads and residual branches,
# encoder-decoders. Each is the standard recipe of its paper, shrunk to train in seconds on a CPU.
# ---------------------------------------------------------------------------------------------


class ResNet(nn.Module):
    """torchvision's ResNet layout (stem conv 7x7/2 + max-pool 3x3/2, four stages of BasicBlocks,
    global pooling, fc) and init, built here: torchvision is not a dependency. ``layers=(2, 2, 2, 2)``
    and ``width=64`` is resnet18; ``zero_init_residual`` zeroes each block's last BatchNorm gamma
    (Goyal et al. 2017, torchvision's option of that name), so every block starts as the identity."""

    def __init__(self, layers=(2, 2, 2, 2), width=64, classes=10, zero_init_residual=False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], width
        for i, blocks in enumerate(layers):
            cout = width * 2 ** i
            stage = [TVBasicBlock(cin, cout, 1 if i == 0 else 2)]
            stages.append(nn.Sequential(*stage, *(TVBasicBlock(cout, cout) for _ in range(blocks - 1))))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, TVBasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TVBasicBlock(nn.Module):
    """torchvision's BasicBlock, with its attribute names (conv1, bn1, conv2, bn2, downsample)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ViTBlock(nn.Module):
    """A pre-norm encoder block as in torchvision's ViT (ln_1, self_attention, ln_2, mlp)."""

    def __init__(self, d, heads, mlp, dropout=0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ln_2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, mlp), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp, d),
                                 nn.Dropout(dropout))
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.self_attention(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    """Dosovitskiy et al. 2021, laid out and initialised as torchvision's ``VisionTransformer``: a
    patch-embedding convolution (``conv_proj``), a class token, learned position embeddings,
    pre-norm blocks, and a linear head initialised to zero (``heads.head``: weight and bias)."""

    def __init__(self, image=16, patch=4, d=64, depth=2, heads=4, mlp=128, classes=10):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, d, patch, patch)
        fan_in = 3 * patch * patch
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        tokens = (image // patch) ** 2 + 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, d).normal_(std=0.02))
        self.encoder = nn.Module()
        self.encoder.layers = nn.Sequential(*(ViTBlock(d, heads, mlp) for _ in range(depth)))
        self.encoder.ln = nn.LayerNorm(d, eps=1e-6)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(d, classes))
        nn.init.zeros_(self.heads.head.weight)
        nn.init.zeros_(self.heads.head.bias)

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        x = self.encoder.ln(self.encoder.layers(x))
        return self.heads(x[:, 0])


class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(n, t, d))


class GPTBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(d, 4 * d))
        self.mlp.add_module("gelu", nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """A pre-norm GPT-2 block stack (Radford et al. 2019) with its init: N(0, 0.02) weights, the
    residual projections scaled by 1/sqrt(2 * layers), a language-model head tied to nothing."""

    def __init__(self, vocab=64, length=32, d=64, depth=4, heads=4):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(length, d)
        self.h = nn.ModuleList(GPTBlock(d, heads) for _ in range(depth))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * depth) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class MarkovText:
    """Next-token prediction on sequences of a fixed random Markov chain (learnable, not trivial)."""

    def __init__(self, vocab=64, length=32, seed=0):
        self.g = torch.Generator().manual_seed(seed)
        self.vocab, self.length = vocab, length
        self.transition = torch.softmax(3 * torch.randn(vocab, vocab, generator=self.g), dim=1)

    def batch(self, size=32):
        seq = torch.empty(size, self.length + 1, dtype=torch.long)
        seq[:, 0] = torch.randint(0, self.vocab, (size,), generator=self.g)
        for t in range(self.length):
            seq[:, t + 1] = torch.multinomial(self.transition[seq[:, t]], 1, generator=self.g).squeeze(1)
        return seq[:, :-1], seq[:, 1:]


def token_cross_entropy(logits, target):
    """Cross-entropy per token of a (N, T, vocab) output."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


class UNet(nn.Module):
    """Ronneberger et al. 2015 with padded convolutions and BatchNorm (the usual modern form): two
    3x3 conv-BN-ReLU per level, max-pool down, transposed-conv up, skip concatenation, 1x1 output."""

    def __init__(self, cin=3, classes=4, width=8, levels=3):
        super().__init__()

        def double(a, b):
            return nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
                                 nn.Conv2d(b, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True))

        widths = [width * 2 ** i for i in range(levels)]
        self.down = nn.ModuleList()
        c = cin
        for w in widths:
            self.down.append(double(c, w))
            c = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = double(c, 2 * c)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        c = 2 * c
        for w in reversed(widths):
            self.up.append(nn.ConvTranspose2d(c, w, 2, stride=2))
            self.dec.append(double(2 * w, w))
            c = w
        self.out = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = dec(torch.cat([skip, up(x)], dim=1))
        return self.out(x)


class Segments:
    """Per-pixel classes of a fixed random smooth teacher (a 5x5 conv of the image, argmax)."""

    def __init__(self, size=16, classes=4, seed=0):
        self.g = torch.Generator().manual_seed(seed)
        self.size = size
        self.w = torch.randn(classes, 3, 5, 5, generator=self.g)

    def batch(self, batch=32):
        x = torch.randn(batch, 3, self.size, self.size, generator=self.g)
        return x, F.conv2d(x, self.w, padding=2).argmax(1)


class Seq2SeqAttention(nn.Module):
    """An LSTM encoder-decoder with Luong (2015) dot-product attention, trained with teacher forcing:
    the decoder reads the target shifted right (start token 0) and attends over the encoder states."""

    def __init__(self, vocab=32, d=32, hidden=64):
        super().__init__()
        self.src_embed = nn.Embedding(vocab, d)
        self.tgt_embed = nn.Embedding(vocab, d)
        self.encoder = nn.LSTM(d, hidden, batch_first=True)
        self.decoder = nn.LSTM(d, hidden, batch_first=True)
        self.combine = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, src_tgt):
        src, tgt_in = src_tgt.unbind(1)
        enc, state = self.encoder(self.src_embed(src))
        dec, _ = self.decoder(self.tgt_embed(tgt_in), state)
        weights = torch.softmax(dec @ enc.transpose(1, 2), dim=-1)
        context = weights @ enc
        return self.out(torch.tanh(self.combine(torch.cat([dec, context], dim=-1))))


class Reverse:
    """Sequence reversal: the source and the decoder input (the target shifted right) stacked
    as ``(N, 2, T)`` so the model takes one tensor; the target is the reversed source."""

    def __init__(self, vocab=32, length=10, seed=0):
        self.g = torch.Generator().manual_seed(seed)
        self.vocab, self.length = vocab, length

    def batch(self, size=32):
        src = torch.randint(1, self.vocab, (size, self.length), generator=self.g)
        tgt = src.flip(1)
        tgt_in = torch.cat([torch.zeros(size, 1, dtype=torch.long), tgt[:, :-1]], dim=1)
        return torch.stack([src, tgt_in], dim=1), tgt


def bert_classifier(classes=4, vocab=100):
    """transformers' BertForSequenceClassification, 2 layers of hidden size 64 (built from a config:
    nothing is downloaded), returning its logits."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=32, num_labels=classes)
    return LogitsOf(BertForSequenceClassification(config))


class LogitsOf(nn.Module):
    """Calls a Hugging Face model on token ids and returns ``.logits``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids).logits
