"""Names resolved across files the way Python resolves them: star imports (and their
``__all__``), package ``__init__`` re-exports, one module name in two folders."""

from __future__ import annotations

import textwrap
from pathlib import Path

from dllint.engine import lint_sources
from dllint.sources import Source
from tests.helpers import SelectedSettings

GRU_MODEL = """
import torch.nn as nn

class RNN(nn.Module):
    def __init__(self, n, hidden):
        super().__init__()
        self.encoder = nn.Embedding(n, hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.decoder = nn.Linear(hidden, n)

    def forward(self, x, h):
        out, h = self.gru(self.encoder(x), h)
        return self.decoder(out), h
"""

LINEAR_MODEL = """
import torch.nn as nn

class RNN(nn.Module):
    def __init__(self, n, hidden):
        super().__init__()
        self.i2h = nn.Linear(n + hidden, hidden)
        self.i2o = nn.Linear(n + hidden, n)

    def forward(self, x, h):
        return self.i2o(x), self.i2h(x)
"""

HELPERS = """
import random
import string

all_characters = string.printable
n_characters = len(all_characters)

def random_chunk(text, length):
    start = random.randint(0, len(text) - length)
    return text[start:start + length]
"""

STAR_TRAIN = """
import torch
import torch.nn as nn

from helpers import *
from model import *

decoder = RNN(n_characters, 50)
optimizer = torch.optim.Adam(decoder.parameters(), lr=0.01)
criterion = nn.CrossEntropyLoss()

def train(inp, target, hidden):
    decoder.zero_grad()
    loss = 0
    for c in range(200):
        output, hidden = decoder(inp[c], hidden)
        loss += criterion(output, target[c])
    loss.backward()
    optimizer.step()
"""

STEP_ROW = 19  # optimizer.step() in STAR_TRAIN


def _lint(tmp_path: Path, files: dict[str, str], codes=("DL501",)) -> list[tuple[str, int, str]]:
    sources = []
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        sources.append(Source(str(path), textwrap.dedent(text)))
    result = lint_sources(sources, SelectedSettings(frozenset(codes)), jobs=1)
    assert not result.internal_errors, result.internal_errors
    return sorted((Path(f.filename).relative_to(tmp_path).as_posix(), f.location.row, f.code) for f in result.findings)


def test_a_model_star_imported_from_another_file_is_known(tmp_path: Path) -> None:
    files = {"model.py": GRU_MODEL, "helpers.py": HELPERS, "train.py": STAR_TRAIN}
    assert _lint(tmp_path, files) == [("train.py", STEP_ROW, "DL501")]


def test_a_star_imported_model_without_recurrent_layers_is_quiet(tmp_path: Path) -> None:
    files = {"model.py": LINEAR_MODEL, "helpers.py": HELPERS, "train.py": STAR_TRAIN}
    assert _lint(tmp_path, files) == []


def test_the_same_module_name_in_two_folders_is_the_one_beside_the_script(tmp_path: Path) -> None:
    files = {
        "generation/model.py": GRU_MODEL, "generation/helpers.py": HELPERS, "generation/train.py": STAR_TRAIN,
        "classification/model.py": LINEAR_MODEL, "classification/helpers.py": HELPERS,
        "classification/train.py": STAR_TRAIN,
    }
    assert _lint(tmp_path, files) == [("generation/train.py", STEP_ROW, "DL501")]


def test_all_that_leaves_the_class_out_does_not_bring_it(tmp_path: Path) -> None:
    model = "__all__ = ['Encoder']\n" + textwrap.dedent(GRU_MODEL)
    files = {"model.py": model, "helpers.py": HELPERS, "train.py": STAR_TRAIN}
    assert _lint(tmp_path, files) == []


def test_all_that_lists_the_class_brings_it(tmp_path: Path) -> None:
    model = "__all__ = ('Encoder',)\n__all__ += ['RNN']\n" + textwrap.dedent(GRU_MODEL)
    files = {"model.py": model, "helpers.py": HELPERS, "train.py": STAR_TRAIN}
    assert _lint(tmp_path, files) == [("train.py", STEP_ROW, "DL501")]


def test_a_private_name_is_not_star_exported(tmp_path: Path) -> None:
    model = textwrap.dedent(GRU_MODEL).replace("class RNN", "class _RNN")
    train = STAR_TRAIN.replace("RNN(", "_RNN(")
    assert _lint(tmp_path, {"model.py": model, "helpers.py": HELPERS, "train.py": train}) == []


def test_a_class_of_the_script_shadows_the_star_imported_one(tmp_path: Path) -> None:
    train = STAR_TRAIN.replace("decoder = RNN", LINEAR_MODEL.replace("import torch.nn as nn\n", "") + "\ndecoder = RNN")
    assert _lint(tmp_path, {"model.py": GRU_MODEL, "helpers.py": HELPERS, "train.py": train}) == []


def test_the_later_star_import_wins(tmp_path: Path) -> None:
    files = {"model.py": LINEAR_MODEL, "recurrent.py": GRU_MODEL, "helpers.py": HELPERS}
    later_recurrent = STAR_TRAIN.replace("from model import *", "from model import *\nfrom recurrent import *")
    assert _lint(tmp_path, {**files, "train.py": later_recurrent}) == [("train.py", STEP_ROW + 1, "DL501")]
    later_plain = STAR_TRAIN.replace("from model import *", "from recurrent import *\nfrom model import *")
    assert _lint(tmp_path, {**files, "train.py": later_plain}) == []


def test_a_star_import_chain_through_another_module(tmp_path: Path) -> None:
    """``generate.py`` star-imports ``model``; ``from generate import *`` brings what it brought."""
    generate = "import torch\nfrom model import *\n\ndef generate(decoder):\n    return decoder\n"
    train = STAR_TRAIN.replace("from model import *", "from generate import *")
    files = {"model.py": GRU_MODEL, "helpers.py": HELPERS, "generate.py": generate, "train.py": train}
    assert _lint(tmp_path, files) == [("train.py", STEP_ROW, "DL501")]


PACKAGE_TRAIN = """
import torch
from {module} import {name}

model = {name}(100, 50)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

def train(batches, hidden):
    for x, y in batches:
        optimizer.zero_grad()
        out, hidden = model(x, hidden)
        loss = torch.nn.functional.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
"""

PACKAGE_STEP_ROW = 14


def _train(module: str, name: str) -> str:
    return PACKAGE_TRAIN.format(module=module, name=name)


def test_a_class_re_exported_by_a_package_init(tmp_path: Path) -> None:
    files = {
        "nets/__init__.py": "from .recurrent import RNN\nfrom .plain import *\n",
        "nets/recurrent.py": GRU_MODEL,
        "nets/plain.py": LINEAR_MODEL.replace("class RNN", "class Plain"),
        "train.py": _train("nets", "RNN"),
    }
    assert _lint(tmp_path, files) == [("train.py", PACKAGE_STEP_ROW, "DL501")]
    files["train.py"] = _train("nets", "Plain")
    assert _lint(tmp_path, files) == []


def test_a_class_star_re_exported_by_nested_package_inits(tmp_path: Path) -> None:
    files = {
        "lib/__init__.py": "from .models import *\n",
        "lib/models/__init__.py": "from .rnn import *\n",
        "lib/models/rnn.py": "__all__ = ['CharRNN']\n" + textwrap.dedent(GRU_MODEL).replace("class RNN", "class CharRNN"),
        "train.py": _train("lib", "CharRNN"),
    }
    assert _lint(tmp_path, files) == [("train.py", PACKAGE_STEP_ROW, "DL501")]


def test_one_class_name_in_two_packages_is_the_one_the_import_names(tmp_path: Path) -> None:
    """Two packages each define and re-export ``RNN``: the import decides which one, where
    matching the name alone could not tell."""
    files = {
        "recurrent_pkg/__init__.py": "from .nets import RNN\n",
        "recurrent_pkg/nets.py": GRU_MODEL,
        "plain_pkg/__init__.py": "from .nets import *\n",
        "plain_pkg/nets.py": LINEAR_MODEL,
        "train.py": _train("recurrent_pkg", "RNN"),
    }
    assert _lint(tmp_path, files) == [("train.py", PACKAGE_STEP_ROW, "DL501")]
    files["train.py"] = _train("plain_pkg", "RNN")
    assert _lint(tmp_path, files) == []


def test_a_re_export_of_something_else_under_the_class_name_is_not_the_class(tmp_path: Path) -> None:
    """``pkg`` binds ``RNN`` to its plain model: the recurrent class of that name elsewhere
    in the run is not what ``from pkg import RNN`` gets."""
    files = {
        "pkg/__init__.py": "from .plain import Plain as RNN\n",
        "pkg/plain.py": LINEAR_MODEL.replace("class RNN", "class Plain"),
        "other/nets.py": GRU_MODEL,
        "train.py": _train("pkg", "RNN"),
    }
    assert _lint(tmp_path, files) == []


ZOO = """
from model import RNN as Recurrent
from plain import RNN as Plain

MODELS = {"gru": Recurrent, "linear": Plain}
PLAIN_MODELS = [Plain]
"""

CHOSEN_TRAIN = """
import argparse
import torch
{imports}

parser = argparse.ArgumentParser()
parser.add_argument("--arch", default="linear")
args = parser.parse_args()

model = {chosen}(100, 50)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

def train(batches, hidden):
    for x, y in batches:
        optimizer.zero_grad()
        out, hidden = model(x, hidden)
        loss = torch.nn.functional.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
"""

CHOSEN_STEP_ROW = 19


def _chosen(imports: str, chosen: str) -> str:
    return CHOSEN_TRAIN.format(imports=imports, chosen=chosen)


def test_a_class_picked_by_name_from_a_dict_of_another_file_is_any_of_its_values(tmp_path: Path) -> None:
    files = {"model.py": GRU_MODEL, "plain.py": LINEAR_MODEL, "zoo.py": ZOO}
    files["train.py"] = _chosen("from zoo import MODELS", "MODELS[args.arch]")
    assert _lint(tmp_path, files) == [("train.py", CHOSEN_STEP_ROW, "DL501")]
    files["train.py"] = _chosen("import zoo", "zoo.MODELS[args.arch]")
    assert _lint(tmp_path, files) == [("train.py", CHOSEN_STEP_ROW, "DL501")]
    files["train.py"] = _chosen("from zoo import *", "PLAIN_MODELS[args.arch]")
    assert _lint(tmp_path, files) == []  # no candidate is recurrent


def test_a_class_picked_by_getattr_from_a_module_of_the_run_is_any_of_its_classes(tmp_path: Path) -> None:
    files = {"recurrent.py": GRU_MODEL, "plain.py": LINEAR_MODEL}
    files["train.py"] = _chosen("import recurrent", "getattr(recurrent, args.arch)")
    assert _lint(tmp_path, files) == [("train.py", CHOSEN_STEP_ROW, "DL501")]
    files["train.py"] = _chosen("import plain", "getattr(plain, args.arch)")
    assert _lint(tmp_path, files) == []
    files["train.py"] = _chosen("import plain", "plain.__dict__[args.arch]")
    assert _lint(tmp_path, files) == []


DROPOUT_MODEL = """
import torch.nn as nn

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 2))

    def forward(self, x):
        return self.body(x)
"""

PREDICT = """
import torch
from models import *

model = Classifier()
model.load_state_dict(torch.load("classifier.pt"))
with torch.no_grad():
    labels = model(torch.randn(4, 10)).argmax(dim=1)
"""


def test_inference_with_a_star_imported_model_that_holds_dropout(tmp_path: Path) -> None:
    assert _lint(tmp_path, {"models.py": DROPOUT_MODEL, "predict.py": PREDICT}, ("DL502",)) == [
        ("predict.py", 8, "DL502")
    ]
    plain = DROPOUT_MODEL.replace("nn.ReLU(), nn.Dropout(0.5)", "nn.ReLU()")
    assert _lint(tmp_path, {"models.py": plain, "predict.py": PREDICT}, ("DL502",)) == []


ENGINE = """
import torch

def train_epoch(model, loader, optimizer):
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        out, _ = model(x, None)
        torch.nn.functional.cross_entropy(out, y).backward()
        optimizer.step()
"""

STAR_MAIN = """
import torch
from engine import *
from {models} import *

model = RNN(100, 50)
optimizer = torch.optim.Adam(model.parameters())
train_epoch(model, torch.load("batches.pt"), optimizer)
"""


def test_a_training_function_star_imported_by_its_caller_is_judged_with_the_model_passed(tmp_path: Path) -> None:
    """``from engine import *`` then ``train_epoch(model, …)``: the function the caller names is
    engine's, the model it passes is star-imported too."""
    files = {"engine.py": ENGINE, "recurrent.py": GRU_MODEL, "plain.py": LINEAR_MODEL}
    assert _lint(tmp_path, {**files, "main.py": STAR_MAIN.format(models="recurrent")}) == [("engine.py", 10, "DL501")]
    assert _lint(tmp_path, {**files, "main.py": STAR_MAIN.format(models="plain")}) == []
