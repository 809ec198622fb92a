"""Values from configuration: argparse defaults, config objects and class attributes reach
the layers built from them (``semantics/config_values.py``)."""

from __future__ import annotations

import pytest

from dllint.semantics import UNKNOWN
from tests.semantics.helpers import semantics


def _dropouts(text: str) -> list[tuple[object, str]]:
    """(p, the configuration note) of every dropout layer built, in order."""
    return [(layer.arg("p", 0.5), layer.config_note("p")) for layer in semantics(text).layers if layer.op.kind == "dropout"]


ARGPARSE_MODULE = """
import argparse
import torch.nn as nn

parser = argparse.ArgumentParser(description="MLP on MNIST")
parser.add_argument("--dropout", type=float, default=0.9, help="dropout rate")
parser.add_argument("--hidden", type=int, default="256")
args = parser.parse_args()

head = nn.Sequential(nn.Linear(784, args.hidden), nn.ReLU(), nn.Dropout(args.dropout), nn.Linear(args.hidden, 10))
"""


def test_argparse_default_reaches_a_layer_and_is_named() -> None:
    assert _dropouts(ARGPARSE_MODULE) == [(0.9, ", with the default `--dropout 0.9`")]


def test_string_default_is_converted_by_its_type() -> None:
    sem = semantics(ARGPARSE_MODULE)
    linear = next(layer for layer in sem.layers if layer.qualified == "torch.nn.Linear")
    assert linear.arg("out_features") == 256


def test_parser_built_in_a_function_with_dest_and_dashes() -> None:
    text = """
    import argparse
    import torch.nn as nn

    def get_args():
        parser = argparse.ArgumentParser()
        parser.add_argument("--drop-rate", type=float, default=0.85)
        parser.add_argument("--keep", type=float, default=0.9, dest="keep_prob")
        return parser.parse_args()

    args = get_args()
    a = nn.Dropout(args.drop_rate)
    b = nn.Dropout(p=args.keep_prob)
    """
    assert _dropouts(text) == [(0.85, ", with the default `--drop-rate 0.85`"), (0.9, ", with the default `--keep 0.9`")]


def test_namespace_passed_from_main_guard_into_a_model() -> None:
    text = """
    import argparse
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.drop = nn.Dropout(p)

        def forward(self, x):
            return self.drop(x)

    def main(args):
        model = Net(args.dropout)
        return model

    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--dropout", type=float, default=0.9)
        main(parser.parse_args())
    """
    sem = semantics(text)
    found = [layer for layer in sem.layers if layer.op.kind == "dropout" and layer.arg("p") == 0.9]
    assert found
    node, where = found[0].report_site("p")
    assert node is found[0].instance_site  # reported where the model is built: ``Net(args.dropout)``
    assert where == " (the `nn.Dropout` inside the model built here, with the default `--dropout 0.9`)"


def test_module_level_namespace_read_inside_a_class() -> None:
    text = """
    import argparse
    import torch.nn as nn

    parser = argparse.ArgumentParser()
    parser.add_argument("--p", type=float, default=0.8)
    opt = parser.parse_args()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(opt.p)

    net = Net()
    """
    assert (0.8, ", with the default `--p 0.8`") in _dropouts(text)


@pytest.mark.parametrize(
    "option, after, read",
    [
        ('parser.add_argument("--p", type=float)', "", "args.p"),  # no default: None unless given
        ('parser.add_argument("--p", type=float, default=0.9, choices=[0.1, 0.9])', "", "args.p"),
        ('parser.add_argument("--p", type=float, default=0.9, required=True)', "", "args.p"),
        ('parser.add_argument("p", type=float, default=0.9)', "", "args.p"),  # positional: always given
        ('parser.add_argument("--p", type=float, default=0.9, nargs="?")', "", "args.p"),
        ('parser.add_argument("--p", type=float, default=0.9)', "args = load_overrides(args)", "args.p"),
        ('parser.add_argument("--p", type=float, default=0.9)', "init_distributed_mode(args)", "args.p"),
        ('parser.add_argument("--p", type=float, default=0.9)', "args.__dict__.update(overrides)", "args.p"),
        ('parser.add_argument("--p", type=float, default=0.9)', "setattr(args, key, value)", "args.p"),
        ('parser.add_argument("--p", type=float, default=0.9)', "", "args.other"),  # not an option
        ('parser.add_argument("--p", type=float, default=0.9)', "", "vars(args)[name]"),
    ],
    ids=["no-default", "choices", "required", "positional", "nargs", "reassigned", "handed-to-a-helper",
         "dict-update", "setattr", "undeclared", "unknown-key"],
)
def test_what_stays_unknown(option: str, after: str, read: str) -> None:
    text = "\n".join([
        "import argparse",
        "import torch.nn as nn",
        "from helpers import load_overrides, init_distributed_mode",
        "parser = argparse.ArgumentParser()",
        option,
        "args = parser.parse_args()",
        after,
        f"layer = nn.Dropout({read})",
    ])
    assert _dropouts(text) == [(UNKNOWN, "")]


def test_reading_and_logging_keep_the_defaults() -> None:
    text = """
    import argparse
    import logging
    import torch.nn as nn
    parser = argparse.ArgumentParser()
    parser.add_argument("--p", type=float, default=0.9)
    args = parser.parse_args()
    print(args)
    logging.info("config: %s", vars(args))
    layer = nn.Dropout(args.p)
    """
    assert _dropouts(text) == [(0.9, ", with the default `--p 0.9`")]


def test_value_set_in_code_wins_over_the_default() -> None:
    text = """
    import argparse
    import torch.nn as nn
    parser = argparse.ArgumentParser()
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--q", type=float, default=0.9)
    parser.set_defaults(q=0.3)
    args = parser.parse_args()
    args.p = 0.2
    a = nn.Dropout(args.p)
    b = nn.Dropout(args.q)
    """
    assert _dropouts(text) == [(0.2, ""), (0.3, ", with the default `--q 0.3`")]


def test_notebook_parse_of_no_arguments_fixes_the_values() -> None:
    text = """
    import argparse
    import torch.nn as nn
    parser = argparse.ArgumentParser()
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--q", type=float, default=0.9)
    args = parser.parse_args(args=[])
    other = parser.parse_args(["--q", "0.1"])
    a = nn.Dropout(args.p)
    b = nn.Dropout(other.p)
    c = nn.Dropout(other.q)
    """
    assert _dropouts(text) == [(0.9, ", with `--p = 0.9`"), (0.9, ", with `--p = 0.9`"), (UNKNOWN, "")]


def test_store_true_flags_decide_conditions() -> None:
    text = """
    import argparse
    import torch.nn as nn
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-dropout", action="store_true")
    args = parser.parse_args()
    layers = [nn.Linear(10, 10)]
    if not args.no_dropout:
        layers.append(nn.Dropout(0.95))
    model = nn.Sequential(*layers)
    """
    sem = semantics(text)
    assert [layer.arg("p") for layer in sem.layers if layer.op.kind == "dropout"] == [0.95]
    # decided, not a choice between paths, and the path says by what
    assert {trace.path for trace in sem.traces} == {"`--no-dropout` is off (the default)"}


def test_choices_stay_a_choice_between_paths() -> None:
    text = """
    import argparse
    import torch.nn as nn
    parser = argparse.ArgumentParser()
    parser.add_argument("--norm", default="batch", choices=["batch", "none"])
    args = parser.parse_args()
    layers = [nn.Conv2d(3, 8, 3)]
    if args.norm == "batch":
        layers.append(nn.BatchNorm2d(8))
    model = nn.Sequential(*layers)
    """
    paths = sorted(trace.path for trace in semantics(text).traces)
    assert paths == ['`args.norm == "batch"` is false', '`args.norm == "batch"` is true']


CONFIG_OBJECTS = """
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import NamedTuple
import torch.nn as nn

@dataclass
class TrainConfig:
    dropout: float = 0.9
    attn_dropout: float = field(default=0.85)
    widths: list = field(default_factory=list)

class HParams(NamedTuple):
    dropout: float = 0.95
    hidden: int = 64

class Config:
    dropout = 0.8

cfg = TrainConfig()
small = TrainConfig(dropout=0.1)
hp = HParams()
hp2 = HParams(0.2)
ns = SimpleNamespace(dropout=0.9, hidden=32)

layers = [
    nn.Dropout(cfg.dropout),
    nn.Dropout(cfg.attn_dropout),
    nn.Dropout(small.dropout),
    nn.Dropout(hp.dropout),
    nn.Dropout(hp2.dropout),
    nn.Dropout(Config.dropout),
    nn.Dropout(Config().dropout),
    nn.Dropout(ns.dropout),
]
"""


def test_config_objects_hold_their_defaults() -> None:
    assert _dropouts(CONFIG_OBJECTS) == [
        (0.9, ", with `TrainConfig.dropout = 0.9`"),
        (0.85, ", with `TrainConfig.attn_dropout = 0.85`"),
        (0.1, ""),
        (0.95, ", with `HParams.dropout = 0.95`"),
        (0.2, ""),
        (0.8, ", with `Config.dropout = 0.8`"),
        (0.8, ", with `Config.dropout = 0.8`"),
        (0.9, ""),
    ]


def test_class_attribute_assigned_elsewhere_is_unknown() -> None:
    text = """
    import torch.nn as nn

    class Config:
        dropout = 0.9

    def configure(rate):
        Config.dropout = rate

    layer = nn.Dropout(Config.dropout)
    """
    assert _dropouts(text) == [(UNKNOWN, "")]


def test_instance_field_set_in_code_wins() -> None:
    text = """
    from dataclasses import dataclass
    import torch.nn as nn

    @dataclass
    class Config:
        dropout: float = 0.9

    cfg = Config()
    cfg.dropout = 0.3
    layer = nn.Dropout(cfg.dropout)
    """
    assert _dropouts(text) == [(0.3, "")]


def test_class_attribute_of_a_model_class_is_a_plain_constant() -> None:
    text = """
    import torch.nn as nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, planes):
            super().__init__()
            self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1)

    block = Bottleneck(64)
    """
    sem = semantics(text)
    conv = [layer for layer in sem.layers if layer.arg("in_channels") == 64]
    assert [layer.arg("out_channels") for layer in conv] == [256]
    assert conv[0].config_note("out_channels") == ""


def test_dict_configs_read_by_key_and_get() -> None:
    text = """
    from easydict import EasyDict
    import torch.nn as nn

    config = {"dropout": 0.9}
    cfg = EasyDict({"dropout": 0.95, "hidden": 128})
    a = nn.Dropout(config["dropout"])
    b = nn.Dropout(cfg.dropout)
    c = nn.Dropout(cfg.get("rate", 0.85))
    d = nn.Dropout(cfg["dropout"])
    cfg.merge_from_file("experiment.yaml")
    e = nn.Dropout(cfg.dropout)
    """
    assert [p for p, _ in _dropouts(text)] == [0.9, 0.95, 0.85, 0.95, UNKNOWN]


def test_arithmetic_keeps_the_provenance() -> None:
    text = """
    import argparse
    import torch.nn as nn
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep-prob", type=float, default=0.1)
    args = parser.parse_args()
    layer = nn.Dropout(1 - args.keep_prob)
    """
    assert _dropouts(text) == [(0.9, ", with the default `--keep-prob 0.1`")]


def test_module_parser_is_complete_when_a_class_is_built_before_the_module_body_runs() -> None:
    text = """
    import argparse
    import torch.nn as nn

    parser = argparse.ArgumentParser()
    group = parser.add_argument_group("model")
    group.add_argument("--no-bn", action="store_true")
    args = parser.parse_args()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3)
            self.bn = nn.BatchNorm2d(16) if not args.no_bn else nn.Identity()

    model = Net()
    """
    sem = semantics(text)
    sem.summary  # noqa: B018 - the engine asks for it first: it builds the classes before the module body runs
    net = next(c for c in sem.info.classes if c.name == "Net")
    assert [instance.path for instance in sem.configurations(net)] == ["`--no-bn` is off (the default)"]


def test_a_config_instance_handed_to_unknown_code_forgets_its_defaults() -> None:
    text = """
    from dataclasses import dataclass
    import torch.nn as nn
    from experiment import apply_overrides

    @dataclass
    class Config:
        dropout: float = 0.9

    cfg = Config()
    first = nn.Dropout(cfg.dropout)
    apply_overrides(cfg)
    second = nn.Dropout(cfg.dropout)
    """
    assert [p for p, _ in _dropouts(text)] == [0.9, UNKNOWN]


def test_a_trainer_holding_the_namespace_builds_with_its_defaults() -> None:
    text = """
    import argparse
    import torch
    import torch.nn as nn

    class Trainer:
        def __init__(self, args):
            self.args = args
            self.model = nn.Sequential(nn.Linear(784, args.hidden), nn.ReLU(), nn.Dropout(args.dropout))

        def head(self):
            return nn.Dropout(self.args.head_dropout)

        def fit(self, loader):
            optimizer = torch.optim.SGD(self.model.parameters(), lr=self.args.lr)
            extra = self.head()
            for x, y in loader:
                loss = nn.functional.cross_entropy(self.model(extra(x)), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--hidden", type=int, default=128)
        parser.add_argument("--dropout", type=float, default=0.9)
        parser.add_argument("--head-dropout", type=float, default=0.8)
        parser.add_argument("--lr", type=float, default=0.1)
        Trainer(parser.parse_args()).fit(train_loader)
    """
    found = {value for value in _dropouts(text) if value[0] is not UNKNOWN}  # (also each method on its own: unknown)
    assert found == {(0.9, ", with the default `--dropout 0.9`"), (0.8, ", with the default `--head-dropout 0.8`")}
