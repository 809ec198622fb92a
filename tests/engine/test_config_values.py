"""Configuration values across files: a file that imports a constant, a config class or a
command-line parser from another file of the run is analysed again with those values."""

from __future__ import annotations

from pathlib import Path

from dllint import engine
from tests.engine.conftest import settings, write_tree
from tests.helpers import lint_files

CONFIG = """
import argparse

DROPOUT = 0.9
HIDDEN = 128
KERNEL = 4
NAME = "resnet"


def get_args():
    parser = argparse.ArgumentParser(description="train the classifier")
    parser.add_argument("--keep-prob", type=float, default=0.85)
    parser.add_argument("--no-bn", action="store_true")
    parser.add_argument("--rate", type=float, default=0.9, choices=[0.1, 0.9])
    return parser.parse_args()


class Config:
    head_dropout = 0.95
"""

MODEL = """
import torch.nn as nn
from config import DROPOUT, HIDDEN, KERNEL, Config


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, HIDDEN, KERNEL, padding=KERNEL // 2)
        self.drop = nn.Dropout(DROPOUT)
        self.head_drop = nn.Dropout(Config.head_dropout)
        self.fc = nn.Linear(HIDDEN, 10)

    def forward(self, x):
        return self.fc(self.head_drop(self.drop(self.conv(x).mean((2, 3)))))
"""

TRAIN = """
import torch.nn as nn
from config import get_args

args = get_args()
layers = [nn.Linear(10, 10)]
if not args.no_bn:
    layers.append(nn.BatchNorm1d(10))
layers.append(nn.Dropout(args.keep_prob))
layers.append(nn.Dropout(args.rate))
model = nn.Sequential(*layers)
"""

CODES = ("DL203", "DL301", "DL303")


def _findings(files: dict[str, str]) -> list[tuple[str, int, str, str]]:
    return sorted((f.filename, f.location.row, f.code, f.message) for f in lint_files(files, CODES))


def test_values_of_another_file_reach_its_importers() -> None:
    found = _findings({"config.py": CONFIG, "model.py": MODEL, "train.py": TRAIN})
    assert [(name, row, code) for name, row, code, _ in found] == [
        ("model.py", 9, "DL203"), ("model.py", 10, "DL303"), ("model.py", 11, "DL303"),
        ("train.py", 6, "DL301"), ("train.py", 9, "DL303"),
    ]
    messages = {(name, row): message for name, row, _, message in found}
    assert "(with `config.KERNEL = 4`)" in messages["model.py", 9]
    assert "(with `config.DROPOUT = 0.9`)" in messages["model.py", 10]
    assert "(with `Config.head_dropout = 0.95`)" in messages["model.py", 11]
    assert "when `--no-bn` is off (the default), which a run can change" in messages["train.py", 6]
    assert "(with the default `--keep-prob 0.85`)" in messages["train.py", 9]


def test_nothing_is_guessed_without_the_file_that_defines_them() -> None:
    found = _findings({"model.py": MODEL, "train.py": TRAIN})
    assert [code for _, _, code, _ in found] == ["DL301"]  # on one of the paths `args.no_bn` chooses
    assert "the default" not in found[0][3]


def test_values_the_defining_file_changes_are_not_exported() -> None:
    changed = CONFIG.replace('DROPOUT = 0.9\n', 'DROPOUT = 0.9\nif NAME == "resnet":\n    DROPOUT = 0.1\n')
    changed = changed.replace("class Config:\n", "def tune(rate):\n    Config.head_dropout = rate\n\n\nclass Config:\n")
    found = _findings({"config.py": changed, "model.py": MODEL})
    assert [(name, row, code) for name, row, code, _ in found] == [("model.py", 9, "DL203")]


def test_an_edit_of_the_config_reaches_cached_importers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    files = write_tree(tmp_path, {"config.py": CONFIG, "model.py": MODEL})

    def dl303_rows() -> list[tuple[str, int]]:
        result = engine.lint_paths(files, settings(tmp_path, extend=CODES), jobs=1)
        assert not result.internal_errors, result.internal_errors
        return sorted((f.filename, f.location.row) for f in result.findings if f.code == "DL303")

    assert dl303_rows() == [("model.py", 10), ("model.py", 11)]
    assert dl303_rows() == [("model.py", 10), ("model.py", 11)]  # warm: from the cache
    (tmp_path / "config.py").write_text(CONFIG.replace("DROPOUT = 0.9", "DROPOUT = 0.1"), encoding="utf-8")
    assert dl303_rows() == [("model.py", 11)]


def test_a_relative_import_in_a_package() -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/settings.py": "EMBED_DROPOUT = 0.8\n",
        "pkg/encoder.py": "import torch.nn as nn\nfrom .settings import EMBED_DROPOUT\n\ndrop = nn.Dropout(EMBED_DROPOUT)\n",
    }
    (finding,) = lint_files(files, ("DL303",))
    assert (finding.filename, finding.location.row) == ("pkg/encoder.py", 4)
