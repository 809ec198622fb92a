"""Names chosen at run time: a class or an activation picked from a dict, by ``getattr``, by a
``get_activation(name)`` helper — one value for a known name, every candidate for an unknown
one — and layers built in loops (``setattr``/``getattr`` with f-strings, ``add_module``,
``ModuleList``/``ModuleDict`` comprehensions, ``nn.Sequential(*layers)``)."""

from __future__ import annotations

import libcst as cst

from dllint.semantics import Container, Instance, Layer, families_of, options_of
from dllint.semantics.values import Value
from tests.semantics.helpers import cls, semantics

MODELS = """
import torch.nn as nn

class LSTMNet(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.rnn = nn.LSTM(n, n)

class MLP(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.drop = nn.Dropout(0.1)

MODELS = {"lstm": LSTMNet, "mlp": MLP}
"""


def _observed(sem, callee: str) -> list[Value]:
    """The first argument that reached each call of ``callee(...)``."""
    sem.traces  # noqa: B018
    found = []
    for site in sem.info.calls:
        if isinstance(site.node.func, cst.Name) and site.node.func.value == callee:
            found.extend(args[0] for _, args, _ in sem.observed(site.node) if args)
    return found


def _names(value: Value) -> list[str]:
    names = []
    for option in options_of(value):
        if isinstance(option, Instance):
            names.append(option.cls.name if option.cls is not None else str(option.qualified))
        elif isinstance(option, Layer):
            names.append(option.qualified.rsplit(".", 1)[-1])
        else:
            names.append(type(option).__name__)
    return sorted(names)


def test_a_class_picked_from_a_dict_by_an_unknown_key_is_every_candidate() -> None:
    sem = semantics(MODELS + "\nuse(MODELS[input()](8))\n")
    [model] = _observed(sem, "use")
    assert _names(model) == ["LSTMNet", "MLP"]
    assert {"lstm", "dropout"} <= families_of(model)


def test_a_known_key_picks_the_one_class() -> None:
    sem = semantics(MODELS + "\nuse(MODELS['mlp'](8))\nuse(MODELS.get('lstm')(8))\n")
    assert [_names(model) for model in _observed(sem, "use")] == [["MLP"], ["LSTMNet"]]


def test_get_with_an_unknown_key_and_a_default_is_every_candidate_and_the_default() -> None:
    sem = semantics(MODELS + "\nclass Plain(nn.Module):\n    pass\n\nuse(MODELS.get(input(), Plain)(8))\n")
    [model] = _observed(sem, "use")
    assert _names(model) == ["LSTMNet", "MLP", "Plain"]


def test_a_class_chosen_by_a_condition_then_called_builds_each() -> None:
    sem = semantics(MODELS + "\ndef build(deep):\n    net_class = LSTMNet if deep else MLP\n    use(net_class(8))\n    return nn.Linear(8, 8)\n")
    built = sorted(name for model in _observed(sem, "use") for name in _names(model))
    assert built == ["LSTMNet", "MLP"]  # in one run that merges the arms, or one per path


def test_a_dict_of_plain_values_by_an_unknown_key_stays_unknown() -> None:
    sem = semantics("SIZES = {'small': 64, 'large': 512}\nuse(SIZES[input()])\n")
    assert [type(value).__name__ for value in _observed(sem, "use")] == ["Unknown"]


def test_too_many_candidates_stay_unknown() -> None:
    classes = "".join(f"class M{i}(nn.Module):\n    pass\n" for i in range(10))
    table = "ZOO = {" + ", ".join(f"'m{i}': M{i}" for i in range(10)) + "}\n"
    sem = semantics("import torch.nn as nn\n" + classes + table + "\nuse(ZOO[input()]())\n")
    [model] = _observed(sem, "use")
    assert not any(isinstance(option, Instance) and option.cls is not None for option in options_of(model))


ACTIVATIONS = """
import torch.nn as nn

ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh}

def get_activation(name):
    if name == "relu":
        return nn.ReLU()
    elif name == "tanh":
        return nn.Tanh()
    raise ValueError(name)

def get_activation_from_table(name):
    return ACTS[name]()
"""


def test_an_activation_by_name_from_a_dict_or_a_helper() -> None:
    sem = semantics(
        ACTIVATIONS
        + "\nname = input()\n"
        "use(ACTS['tanh']())\nuse(ACTS[name]())\n"
        "use(get_activation('tanh'))\nuse(get_activation(name))\n"
        "use(get_activation_from_table('relu'))\nuse(get_activation_from_table(name))\n"
        "use(getattr(nn, 'Tanh')())\n"
    )
    assert [_names(value) for value in _observed(sem, "use")] == [
        ["Tanh"], ["ReLU", "Tanh"], ["Tanh"], ["ReLU", "Tanh"], ["ReLU"], ["ReLU", "Tanh"], ["Tanh"],
    ]


def _attrs(sem, name: str) -> dict[str, Value]:
    instance = sem.generic_instance(cls(sem, name))
    assert isinstance(instance, Instance)
    return instance.attrs or {}


def test_layers_registered_in_a_loop_by_setattr_and_add_module() -> None:
    sem = semantics(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, act="tanh"):
                super().__init__()
                for i in range(3):
                    setattr(self, f"fc{i}", nn.Linear(8, 8))
                    self.add_module(f"act{i}", get_activation(act))

            def forward(self, x):
                for i in range(3):
                    x = getattr(self, f"act{i}")(getattr(self, f"fc{i}")(x))
                return x

        def get_activation(name):
            return {"relu": nn.ReLU, "tanh": nn.Tanh}[name]()
        """
    )
    attrs = _attrs(sem, "Net")
    assert sorted(attrs) == ["act0", "act1", "act2", "fc0", "fc1", "fc2"]
    assert _names(attrs["act2"]) == ["Tanh"]
    [graph] = [g for g in sem.forward_graphs if g.cls is cls(sem, "Net")]
    applied = [layer.qualified.rsplit(".", 1)[-1] for _, layer in graph.module_applications()]
    assert applied == ["Linear", "Tanh"] * 3


def test_containers_built_by_comprehensions_and_star_arguments() -> None:
    sem = semantics(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, heads=("cls", "box")):
                super().__init__()
                self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
                self.heads = nn.ModuleDict({name: nn.Linear(8, 2) for name in heads})
                layers = []
                for width in (16, 32):
                    layers += [nn.Linear(8, width), nn.Dropout(0.1)]
                self.body = nn.Sequential(*layers)

            def forward(self, x, task):
                return self.heads[task](self.body(x))
        """
    )
    attrs = _attrs(sem, "Net")
    assert isinstance(attrs["blocks"], Container) and len(attrs["blocks"].items) == 3
    heads = attrs["heads"]
    assert isinstance(heads, Container) and heads.keys == ["cls", "box"] and heads.complete
    body = attrs["body"]
    assert isinstance(body, Container) and [item.qualified.rsplit(".", 1)[-1] for item in body.items] == ["Linear", "Dropout", "Linear", "Dropout"]
    [graph] = [g for g in sem.forward_graphs if g.cls is cls(sem, "Net")]
    applied = [layer for _, layer in graph.module_applications()]
    assert {id(layer) for layer in applied} >= {id(item) for item in heads.items}  # the task picks either head


def test_a_dict_comprehension_over_unknown_keys_still_holds_what_it_builds() -> None:
    sem = semantics(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, tasks):
                super().__init__()
                self.heads = nn.ModuleDict({task: nn.Dropout(0.5) for task in tasks})
        """
    )
    heads = _attrs(sem, "Net")["heads"]
    assert isinstance(heads, Container) and not heads.complete
    assert {"dropout", "unknown"} <= families_of(heads)


def test_getattr_with_a_name_an_enclosing_condition_restricts() -> None:
    sem = semantics(
        """
        import torch.nn as nn

        class RNNModel(nn.Module):
            def __init__(self, rnn_type, n):
                super().__init__()
                if rnn_type in ["LSTM", "GRU"]:
                    self.rnn = getattr(nn, rnn_type)(n, n)
                else:
                    self.rnn = nn.RNN(n, n)
                if rnn_type == "GRU":
                    self.extra = getattr(nn, rnn_type)(n, n)
                self.cell = getattr(nn, rnn_type + "Cell")(n, n)  # no condition restricts it
        """
    )
    configurations = sem.configurations(cls(sem, "RNNModel"))
    built = {name for instance in configurations for name in _names(instance.attrs["rnn"])}
    assert built == {"GRU", "LSTM", "RNN"}
    assert {name for instance in configurations if "extra" in instance.attrs for name in _names(instance.attrs["extra"])} == {"GRU"}
    assert all(not isinstance(instance.attrs["cell"], Layer) for instance in configurations)


def test_names_built_with_percent_format_concatenation_and_str() -> None:
    sem = semantics(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                for i in range(3):
                    setattr(self, "fc{}".format(i), nn.Linear(8, 8))
                    setattr(self, "act%d" % i, nn.Tanh())
                    self.add_module("norm_" + str(i), nn.LayerNorm(8))
                setattr(self, "_".join(["head", "out"]), nn.Linear(8, 2))
                setattr(self, "%s_%d" % ("proj", 1), nn.Linear(8, 8))

            def forward(self, x):
                for i in range(3):
                    x = getattr(self, "norm_" + str(i))(getattr(self, "act%d" % i)(getattr(self, "fc{}".format(i))(x)))
                return self.head_out(self.proj_1(x))
        """
    )
    attrs = _attrs(sem, "Net")
    assert sorted(attrs) == sorted(
        [f"fc{i}" for i in range(3)] + [f"act{i}" for i in range(3)] + [f"norm_{i}" for i in range(3)] + ["head_out", "proj_1"]
    )
    [graph] = [g for g in sem.forward_graphs if g.cls is cls(sem, "Net")]
    applied = [layer.qualified.rsplit(".", 1)[-1] for _, layer in graph.module_applications()]
    assert applied == ["Linear", "Tanh", "LayerNorm"] * 3 + ["Linear", "Linear"]


def test_a_forward_over_named_children_applies_them_in_registration_order() -> None:
    sem = semantics(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.width = 8
                for i in range(2):
                    self.add_module(f"fc{i}", nn.Linear(8, 8))
                    self.add_module(f"act{i}", nn.Sigmoid())
                self.body = nn.Sequential(nn.Linear(8, 8), nn.Tanh())

            def forward(self, x):
                for name, module in self.named_children():
                    x = module(x)
                for module in self.body.children():
                    x = module(x)
                return x
        """
    )
    [graph] = [g for g in sem.forward_graphs if g.cls is cls(sem, "Net")]
    applied = [layer.qualified.rsplit(".", 1)[-1] for _, layer in graph.module_applications()]
    assert applied == ["Linear", "Sigmoid", "Linear", "Sigmoid", "Linear", "Tanh", "Linear", "Tanh"]
