"""The loss rules (DL401, DL402, DL404) follow a model class defined in another file of the
run: the verdict waits for the project index to say what that class's forward returns."""

from __future__ import annotations

import pytest

from tests.helpers import lint_files

TRAIN = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from models import Net

def train(loader):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ce = nn.CrossEntropyLoss()
    bce = nn.BCEWithLogitsLoss()
    for x, y in loader:
        out = model(x)
        loss = ce(out, y) + F.nll_loss(out, y) + bce(out, y.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""

LOSS_LINE = 14


def _model(body: str) -> str:
    return f"""
import torch
import torch.nn as nn
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        {body}
"""


def _findings(models: str | None):
    files = {"train.py": TRAIN} if models is None else {"models.py": models, "train.py": TRAIN}
    return sorted((f.filename, f.location.row, f.code) for f in lint_files(files, ("DL401", "DL402", "DL404")))


@pytest.mark.parametrize(
    "body, codes",
    [
        ("return self.softmax(self.fc(x))", ["DL401", "DL404"]),  # CE, and NLLLoss fed probabilities
        ("return F.log_softmax(self.fc(x), dim=-1)", ["DL404"]),
        ("return torch.sigmoid(self.fc(x))", ["DL402"]),
        ("return self.fc(x)", ["DL404"]),  # NLLLoss fed raw logits
        ("return self.fc(x) if self.training else self.softmax(self.fc(x))", []),
        ("return self.fc(x).relu()", []),
    ],
    ids=["softmax", "log_softmax", "sigmoid", "logits", "eval-only-softmax", "unknown-output"],
)
def test_model_of_another_file_decides(body: str, codes: list[str]) -> None:
    assert _findings(_model(body)) == [("train.py", LOSS_LINE, code) for code in codes]


def test_class_not_in_the_run_is_not_guessed() -> None:
    assert _findings(None) == []


def test_findings_stay_in_the_file_that_computes_the_loss() -> None:
    findings = _findings(_model("return self.softmax(self.fc(x))"))
    assert {filename for filename, _, _ in findings} == {"train.py"}


BASE = """
import torch.nn as nn

class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.out = nn.LogSoftmax(dim=1)

    def forward(self, x):
        return self.out(self.fc(x))
"""

SUBCLASS = """
from base import Backbone

class Net(Backbone):
    def extra_repr(self):
        return "net"
"""


def test_a_class_without_forward_returns_what_its_base_returns() -> None:
    findings = lint_files({"base.py": BASE, "models.py": SUBCLASS, "train.py": TRAIN}, ("DL401", "DL402", "DL404"))
    assert sorted((f.filename, f.location.row, f.code) for f in findings) == [("train.py", LOSS_LINE, "DL404")]


# --- outputs that travel in containers ---------------------------------------------------------

CONTAINER_MODEL = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from dataclasses import dataclass
from typing import NamedTuple


class Pair(NamedTuple):
    logits: torch.Tensor
    probs: torch.Tensor


@dataclass
class Heads:
    scores: torch.Tensor
    log_probs: torch.Tensor


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        logits = self.fc(x)
        {body}
"""

CONTAINER_TRAIN = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from models import Net

def train(loader):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        {read}
        loss = {loss}
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""

CONTAINER_LOSS_LINE = 12


@pytest.mark.parametrize(
    "body, read, loss, codes",
    [
        ('return {"logits": logits, "probs": torch.sigmoid(logits)}', "out = model(x)",
         'F.binary_cross_entropy(out["probs"], y)', ["DL402"]),
        ('return {"logits": logits, "probs": torch.sigmoid(logits)}', "out = model(x)",
         'F.binary_cross_entropy_with_logits(out["logits"], y)', []),
        ('return {"logits": logits, "probs": torch.sigmoid(logits)}', "out = model(x)",
         'F.binary_cross_entropy_with_logits(out["probs"], y)', ["DL402"]),
        ("return torch.softmax(logits, dim=1), logits", "probs, logits = model(x)",
         "F.cross_entropy(probs, y)", ["DL401"]),
        ("return torch.softmax(logits, dim=1), logits", "probs, logits = model(x)",
         "F.cross_entropy(logits, y)", []),
        ("return torch.softmax(logits, dim=1), logits", "out = model(x)",
         "F.cross_entropy(out[0], y)", ["DL401"]),
        ("return Pair(logits, torch.sigmoid(logits))", "out = model(x)",
         "F.binary_cross_entropy(out.probs, y)", ["DL402"]),
        ("return Pair(logits, torch.sigmoid(logits))", "out = model(x)",
         "F.binary_cross_entropy_with_logits(out.logits, y)", []),
        ("return Heads(scores=logits, log_probs=F.log_softmax(logits, dim=1))", "out = model(x)",
         "F.cross_entropy(out.log_probs, y)", ["DL404"]),
        ("return Heads(scores=logits, log_probs=F.log_softmax(logits, dim=1))", "out = model(x)",
         "F.nll_loss(out.log_probs, y)", []),
        ('return {"logits": logits, "probs": torch.sigmoid(logits)}', "out = model(x)",
         "F.binary_cross_entropy(out[key], y)", []),  # which element: unknown
        ("return torch.sigmoid(logits)", "out = model(x)",
         "F.binary_cross_entropy(out[:, 0], y)", ["DL402"]),  # indexing a tensor output
        ("return torch.sigmoid(logits)", "out = model(x)",
         "F.binary_cross_entropy(out.probs, y)", []),  # no such field
        ('return {"probs": torch.sigmoid(logits)} if self.training else logits', "out = model(x)",
         'F.binary_cross_entropy(out["probs"], y)', []),  # a dict on one path only
    ],
    ids=["dict-probs", "dict-logits", "dict-double-sigmoid", "tuple-unpacked", "tuple-logits", "tuple-index",
         "namedtuple-field", "namedtuple-logits", "dataclass-log-probs", "dataclass-nll", "unknown-key",
         "tensor-indexed", "tensor-no-field", "container-on-one-path"],
)
def test_element_of_a_container_output_of_another_file(body: str, read: str, loss: str, codes: list[str]) -> None:
    files = {"models.py": CONTAINER_MODEL.format(body=body), "train.py": CONTAINER_TRAIN.format(read=read, loss=loss)}
    findings = lint_files(files, ("DL401", "DL402", "DL404"))
    assert sorted((f.filename, f.location.row, f.code) for f in findings) == [
        ("train.py", CONTAINER_LOSS_LINE, code) for code in codes
    ]


def test_message_names_the_element() -> None:
    files = {
        "models.py": CONTAINER_MODEL.format(body='return {"logits": logits, "probs": torch.sigmoid(logits)}'),
        "train.py": CONTAINER_TRAIN.format(read="out = model(x)", loss='F.binary_cross_entropy(out["probs"], y)'),
    }
    (finding,) = lint_files(files, ("DL402",))
    assert "the `probs` element of `Net`'s output, which its forward computes with a sigmoid" in finding.message
