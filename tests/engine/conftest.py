"""A small multi-file project that triggers several rules, cross-file ones included."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Iterable, Optional

import pytest

from dllint import engine
from dllint.config import RuleSelection, Settings

MODELS = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, padding=1)
        self.rnn = nn.LSTM(8, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(self.rnn(self.conv(x))[0])
"""

# The same model without its recurrent layer (and without the even kernel).
MODELS_LINEAR = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(self.conv(x))
"""

TRAIN = """
import torch
from pkg.models import Net


def train(loader):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@torch.no_grad()
def predict(x):
    model = Net()
    return model(x)
"""

# Never names torch: analysed only because it imports a model-defining module of the run.
PLAIN_TRAIN = """
from pkg.models import Net


def fit(loader, make_optimizer, loss_fn):
    model = Net()
    optimizer = make_optimizer(model.parameters())
    for x, y in loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""

BLOCKS = """
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.drop = nn.Dropout(0.9)

    def forward(self, x):
        return self.drop(torch.relu(self.bn(self.conv(x))))
"""

FILES = {
    "pkg/__init__.py": "",
    "pkg/models.py": MODELS,
    "pkg/blocks.py": BLOCKS,
    "train.py": TRAIN,
    "plain_train.py": PLAIN_TRAIN,
    "broken.py": "def f(:\n    pass\n",
    "noqa_only.py": "x = 1  # noqa: DL101\n",
    "util.py": "import os\n\nprint(os.sep)\n",
}


def write_tree(root: Path, files: Optional[dict[str, str]] = None) -> list[str]:
    for name, text in (files or FILES).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if ".dllint_cache" not in p.parts)


def settings(root: Path, *, cache: bool = True, extend: Iterable[str] = ("DL002",), rules: Any = None) -> Settings:
    return Settings(
        selections=(RuleSelection(extend_select=tuple(extend)),),
        project_root=root,
        cache_dir=root / ".dllint_cache",
        use_cache=cache,
        rules=rules or {},
    )


def as_tuples(findings) -> list[tuple]:
    return [(f.filename, f.location.row, f.location.column, f.code, f.message, f.fix) for f in findings]


class Spy:
    """Counts the files phase 1 analysed in-process (cache misses), by mode."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def files(self, mode: Optional[str] = None) -> list[str]:
        return sorted(name for name, m in self.calls if mode is None or m == mode)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    recorder = Spy()
    real = engine._run_task

    def run_task(payload):
        recorder.calls.append((payload[0], payload[6]))  # (filename, mode)
        return real(payload)

    monkeypatch.setattr(engine, "_run_task", run_task)
    return recorder


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    write_tree(root)
    return root
