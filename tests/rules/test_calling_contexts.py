"""Calling contexts across files: a function of one file judged with what the callers in other
files of the run pass it, and helpers of other files counted for what they do."""

from __future__ import annotations

from tests.helpers import lint_files

ENGINE = """
import torch


def train_epoch(model, loader, optimizer, criterion):
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()


def evaluate(model, loader):
    correct = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()
    return correct
"""

MODELS = """
import torch.nn as nn


class TextRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(1000, 32)
        self.rnn = nn.LSTM(32, 64, batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(64, 2)

    def forward(self, tokens):
        out, _ = self.rnn(self.embedding(tokens))
        return self.fc(self.dropout(out[:, -1]))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))

    def forward(self, x):
        return self.net(x)
"""


def _main(model: str, evaluate: str) -> str:
    return f"""
import torch
from engine import evaluate, train_epoch
from models import MLP, TextRNN

model = {model}()
optimizer = torch.optim.Adam(model.parameters())
loaders = torch.load("data.pt")
for epoch in range(10):
    train_epoch(model, loaders["train"], optimizer, torch.nn.CrossEntropyLoss())
    {evaluate}
    evaluate(model, loaders["val"])
"""


def _codes(files: dict[str, str], codes: list[str]) -> list[tuple[str, int, str]]:
    return sorted((f.filename, f.location.row, f.code) for f in lint_files(files, codes))


def test_a_training_function_is_judged_with_the_model_its_callers_pass() -> None:
    recurrent = {"engine.py": ENGINE, "models.py": MODELS, "main.py": _main("TextRNN", "model.eval()")}
    plain = {"engine.py": ENGINE, "models.py": MODELS, "main.py": _main("MLP", "model.eval()")}
    assert _codes(recurrent, ["DL501"]) == [("engine.py", 11, "DL501")]
    assert _codes(plain, ["DL501"]) == []


def test_eval_mode_set_by_every_caller_in_another_file_is_honoured() -> None:
    evaluated = {"engine.py": ENGINE, "models.py": MODELS, "main.py": _main("MLP", "model.eval()")}
    not_evaluated = {"engine.py": ENGINE, "models.py": MODELS, "main.py": _main("MLP", "pass")}
    assert _codes(evaluated, ["DL502"]) == []
    assert _codes(not_evaluated, ["DL502"]) == [("engine.py", 17, "DL502")]


def test_a_helper_of_another_file_that_clips_counts_and_one_that_does_not_does_not() -> None:
    utils = """
import torch


def clip(model, value):
    torch.nn.utils.clip_grad_norm_(model.parameters(), value)


def log(model, step):
    print(step)
"""
    train = """
import torch
from models import TextRNN
from utils import {helper}

model = TextRNN()
optimizer = torch.optim.Adam(model.parameters())
for tokens, labels in torch.load("data.pt"):
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(tokens), labels).backward()
    {helper}(model, 1.0)
    optimizer.step()
"""
    assert _codes({"utils.py": utils, "models.py": MODELS, "train.py": train.format(helper="clip")}, ["DL501"]) == []
    assert _codes({"utils.py": utils, "models.py": MODELS, "train.py": train.format(helper="log")}, ["DL501"]) == [
        ("train.py", 12, "DL501")
    ]


def test_a_helper_of_another_file_that_clips_by_hand_counts() -> None:
    # Text-Classification-Pytorch's ``clip_gradient`` (a clamp of every gradient), and a
    # hand-written clip by norm; the helpers' names say nothing about clipping. Clamping the
    # weights instead (WGAN) clips no gradient.
    utils = """
import torch


def bound(model, clip_value):
    for p in model.parameters():
        p.grad.data.clamp_(-clip_value, clip_value)


def rescale(model, max_norm):
    total_norm = sum(p.grad.norm(2).item() ** 2 for p in model.parameters()) ** 0.5
    clip_coef = max_norm / (total_norm + 1e-6)
    if clip_coef < 1:
        for p in model.parameters():
            p.grad.mul_(clip_coef)


def bound_weights(model, clip_value):
    for p in model.parameters():
        p.data.clamp_(-clip_value, clip_value)
"""
    train = """
import torch
from models import TextRNN
from utils import {helper}

model = TextRNN()
optimizer = torch.optim.Adam(model.parameters())
for tokens, labels in torch.load("data.pt"):
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(tokens), labels).backward()
    {helper}(model, 1.0)
    optimizer.step()
"""
    for helper in ("bound", "rescale"):
        assert _codes({"utils.py": utils, "models.py": MODELS, "train.py": train.format(helper=helper)}, ["DL501"]) == []
    assert _codes({"utils.py": utils, "models.py": MODELS, "train.py": train.format(helper="bound_weights")}, ["DL501"]) == [
        ("train.py", 12, "DL501")
    ]


def test_a_helper_of_another_file_that_clears_gradients_counts() -> None:
    utils = """
import torch


def reset(optimizer):
    optimizer.zero_grad()


def report(optimizer):
    print(optimizer)
"""
    train = """
import torch
from utils import {helper}

model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in torch.load("data.pt"):
    {helper}(optimizer)
    ((model(x) - y) ** 2).mean().backward()
    optimizer.step()
"""
    assert _codes({"utils.py": utils, "train.py": train.format(helper="reset")}, ["DL504"]) == []
    assert _codes({"utils.py": utils, "train.py": train.format(helper="report")}, ["DL504"]) == [("train.py", 9, "DL504")]



def test_a_from_scratch_sgd_of_a_package_that_zeroes_the_gradients_counts() -> None:
    # d2l's ``sgd`` (d2l/train.py), re-exported by the package and called instead of a
    # ``trainer.step()`` the only caller never takes; the helper's file imports nothing.
    sgd = """
def sgd(params, lr, batch_size):
    for param in params:
        param.data.sub_(lr * param.grad / batch_size)
        param.grad.data.{clear}
"""
    train = """
import torch
import pkg


def train(net, data, loss, params, lr, batch_size, trainer=None):
    for epoch in range(3):
        for X, y in data:
            l = loss(net(X), y).sum()
            l.backward()
            if trainer is None:
                pkg.sgd(params, lr, batch_size)
            else:
                trainer.step()


W = torch.zeros(4, 2, requires_grad=True)
train(lambda X: X @ W, torch.load("data.pt"), lambda a, b: (a - b) ** 2, [W], 0.1, 3)
"""
    files = {"pkg/__init__.py": "from .train import sgd\n", "main.py": train}
    assert _codes({**files, "pkg/train.py": sgd.format(clear="zero_()")}, ["DL504"]) == []
    assert _codes({**files, "pkg/train.py": sgd.format(clear="mul_(0.9)")}, ["DL504"]) == [("main.py", 10, "DL504")]

def test_a_factory_of_another_file_that_puts_the_model_in_eval_mode_counts() -> None:
    utils = """
import torch
from models import MLP


def load_model(path):
    model = MLP()
    model.load_state_dict(torch.load(path))
    model.eval()
    return model


def build_model():
    return MLP()
"""
    predict = """
import torch
from utils import {factory}

model = {factory}("weights.pt")
with torch.no_grad():
    print(model(torch.randn(1, 8)).argmax(1))
"""
    files = {"models.py": MODELS, "utils.py": utils}
    assert _codes({**files, "predict.py": predict.format(factory="load_model")}, ["DL502"]) == []
    assert _codes({**files, "predict.py": predict.format(factory="build_model")}, ["DL502"]) == [("predict.py", 7, "DL502")]


HELPERS = """
import torch
from torch import nn


class RNNModel(nn.Module):
    def __init__(self, rnn_layer, vocab_size):
        super().__init__()
        self.rnn = rnn_layer
        self.dense = nn.Linear(rnn_layer.hidden_size, vocab_size)

    def forward(self, inputs, state):
        Y, state = self.rnn(inputs, state)
        return self.dense(Y.view(-1, Y.shape[-1])), state


def predict_rnn(prefix, num_chars, rnn, params, state):
    output = [prefix[0]]
    for t in range(num_chars):
        X = torch.tensor([[output[-1]]])
        (Y, state) = rnn(X, state, params)
        output.append(int(Y[0].argmax(dim=1).item()))
    return output


def predict_rnn_pytorch(prefix, num_chars, model):
    state = None
    output = [prefix[0]]
    for t in range(num_chars):
        X = torch.tensor([output[-1]]).view(1, 1)
        (Y, state) = model(X, state)
        output.append(int(Y.argmax(dim=1).item()))
    return output


def train_and_predict(model, data, optimizer):
    for X, Y in data:
        optimizer.zero_grad()
        out, _ = model(X, None)
        torch.nn.functional.cross_entropy(out, Y).backward()
        optimizer.step()
    return predict_rnn_pytorch([0], 10, model)
"""


def _caller(model: str, direct: bool = True) -> str:
    predict = "print(predict_rnn_pytorch([0], 10, model))" if direct else ""
    return f"""
import torch
from torch import nn
from helpers import RNNModel, predict_rnn, predict_rnn_pytorch, train_and_predict


def rnn(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    H = torch.tanh(torch.matmul(inputs, W_xh) + torch.matmul(H, W_hh) + b_h)
    return [torch.matmul(H, W_hq) + b_q], (H,)


class Regularised(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(10, 256)
        self.drop = nn.Dropout(0.5)
        self.dense = nn.Linear(256, 10)

    def forward(self, inputs, state):
        Y, state = self.rnn(inputs, state)
        return self.dense(self.drop(Y)), state


params = [torch.randn(3, 3) * 0.01 for _ in range(5)]
print(predict_rnn([0], 10, rnn, params, (torch.zeros(1, 3),)))

model = {model}
{predict}
train_and_predict(model, torch.load("data.pt"), torch.optim.SGD(model.parameters(), lr=1.0))
"""


def test_a_helper_is_judged_with_what_its_callers_in_other_files_pass() -> None:
    # A plain function for ``rnn``, a dropout-free wrapped GRU for ``model``: nothing to put in eval mode.
    plain = {"helpers.py": HELPERS, "main.py": _caller("RNNModel(nn.GRU(input_size=10, hidden_size=256), 10)")}
    assert _codes(plain, ["DL502"]) == []
    # A model with Dropout passed from another file: the helpers (the one it calls directly, and
    # the one a helper of its own file calls with the model it was given) run it in train mode.
    dropout = {"helpers.py": HELPERS, "main.py": _caller("Regularised()")}
    assert _codes(dropout, ["DL502"]) == [("helpers.py", 31, "DL502")]
    # The recurrent layer it wraps, built by the caller, drops out between its stacked layers.
    wrapped = {"helpers.py": HELPERS, "main.py": _caller("RNNModel(nn.GRU(10, 256, num_layers=2, dropout=0.5), 10)")}
    assert _codes(wrapped, ["DL502"]) == [("helpers.py", 31, "DL502")]


def test_a_model_passed_on_by_a_helper_of_the_same_file_is_judged_by_the_outer_callers() -> None:
    # Only ``train_and_predict`` is called from another file; it hands its model to ``predict_rnn_pytorch``.
    plain = {"helpers.py": HELPERS, "main.py": _caller("RNNModel(nn.GRU(10, 256), 10)", direct=False)}
    assert _codes(plain, ["DL502"]) == []
    dropout = {"helpers.py": HELPERS, "main.py": _caller("Regularised()", direct=False)}
    assert _codes(dropout, ["DL502"]) == [("helpers.py", 31, "DL502")]


def test_a_helper_nobody_in_the_run_calls_stays_flagged() -> None:
    assert _codes({"helpers.py": HELPERS}, ["DL502"]) == [("helpers.py", 21, "DL502"), ("helpers.py", 31, "DL502")]
