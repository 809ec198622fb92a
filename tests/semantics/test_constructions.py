"""Which configurations of a class are real paths: its standalone defaults count unless the
class is an internal helper its file always builds with arguments."""

from __future__ import annotations

from dllint.semantics.constructions import REAL, internal_helpers, reality
from tests.helpers import lint_files
from tests.semantics.helpers import cls, semantics

SOURCE = """
from torch import nn


class DepthWise(nn.Module):
    def __init__(self, dim, bias=True):
        super(DepthWise, self).__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1, bias=bias)
        self.bn = nn.BatchNorm2d(dim)

    def forward(self, x):
        return self.bn(self.conv(x))


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.to_q = DepthWise(dim, bias=False)

    def forward(self, x):
        return self.to_q(x)


class Passed(nn.Module):
    def __init__(self, dim, bias=True):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, bias=bias)

    def forward(self, x):
        return self.conv(x)


def build(block=Passed):
    return block(8, bias=False)


model = Attention(64)
"""


def _conv_layers(sem, name):
    target = cls(sem, name)
    builders = sem.evaluator.layer_builder
    return [
        layer for layer in sem.layers
        if layer.qualified == "torch.nn.Conv2d" and id(layer) in builders and builders[id(layer)].cls is target
    ]


def test_a_class_built_only_with_arguments_is_an_internal_helper() -> None:
    sem = semantics(SOURCE)
    helpers = internal_helpers(sem)
    assert id(cls(sem, "DepthWise")) in helpers
    assert id(cls(sem, "Attention")) in helpers  # ``Attention(64)`` at module level
    assert id(cls(sem, "Passed")) not in helpers  # a default argument's value: passed around


def test_its_standalone_layers_are_real_only_if_another_file_names_it() -> None:
    sem = semantics(SOURCE)
    realities: dict[bool, list] = {}
    for layer in _conv_layers(sem, "DepthWise"):
        realities.setdefault(layer.arg("bias", True), []).append(reality(sem, layer))
    assert realities[True] == [frozenset({"model.DepthWise"})]  # its defaults: standalone only
    # built by ``Attention(64)`` of the module body, and by Attention's own standalone defaults
    assert len(realities[False]) == 2
    assert REAL in realities[False] and frozenset({"model.Attention"}) in realities[False]


def test_the_layers_of_a_class_passed_around_stay_real() -> None:
    sem = semantics(SOURCE)
    assert all(reality(sem, layer) is REAL for layer in _conv_layers(sem, "Passed"))


HELPER_FILE = SOURCE.replace("model = Attention(64)\n", "")


def test_a_report_held_only_by_a_helpers_defaults_stands_when_another_file_imports_it() -> None:
    alone = {"blocks.py": HELPER_FILE, "train.py": "from blocks import Attention\nmodel = Attention(64)\n"}
    imported = {"blocks.py": HELPER_FILE, "train.py": "from blocks import Attention, DepthWise\nmodel = DepthWise(64)\n"}
    module = {"blocks.py": HELPER_FILE, "train.py": "import blocks\nmodel = blocks.Attention(64)\n"}
    assert [f.location.row for f in lint_files(alone, ["DL301"])] == []
    assert [(f.filename, f.location.row) for f in lint_files(imported, ["DL301"])] == [("blocks.py", 8)]
    assert [(f.filename, f.location.row) for f in lint_files(module, ["DL301"])] == [("blocks.py", 8)]
