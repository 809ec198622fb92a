"""What ``torch.load`` gives back when the file pickles whole models (``semantics/checkpoints.py``)."""

from __future__ import annotations

import textwrap

from dllint.semantics import Instance
from dllint.semantics.values import options_of
from tests.semantics.helpers import semantics

CLASSES = """
import torch
import torch.nn as nn


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
"""


def _called(body: str, name: str = "model") -> set[str]:
    """The classes of what ``<name>(x)`` calls, over every path (``loaded``: a model of unknown class)."""
    sem = semantics(CLASSES + textwrap.dedent(body))
    found = set()
    for trace in sem.traces:
        for event in trace.events:
            func = getattr(event.node, "func", None)
            if event.kind == "forward" and getattr(func, "value", None) == name:
                for option in options_of(event.target):
                    assert isinstance(option, Instance)
                    found.add("loaded" if option.origin == "loaded" else option.cls.name)
    return found


def test_a_restore_of_the_pickle_the_file_saves_is_that_model() -> None:
    body = """
    PATH = "./model/cnn.pkl"
    model = CNN()
    try:
        model = torch.load(PATH)
    except Exception:
        pass
    model(x)
    torch.save(model, PATH)
    """
    assert _called(body) == {"CNN"}


def test_constant_paths_match_after_folding_and_moves_are_the_same_model() -> None:
    body = """
    model = CNN()
    model = model.to("cuda")
    if resume:
        model = torch.load("./model/" + "cnn.pkl", map_location="cpu")
    model(x)
    torch.save(model, "model/cnn.pkl")
    """
    assert _called(body) == {"CNN"}


def test_models_saved_together_come_back_together() -> None:
    body = """
    generator = CNN()
    discriminator = MLP()
    if resume:
        generator, discriminator = torch.load("gan.pkl")
    generator(x)
    discriminator(x)
    torch.save([generator, discriminator], "gan.pkl")
    """
    assert _called(body, "generator") == {"CNN"}
    assert _called(body, "discriminator") == {"MLP"}


def test_in_a_function_the_saved_names_are_read_in_its_run() -> None:
    body = """
    def main(args, loader):
        model = CNN()
        if args.resume:
            model = torch.load(args.checkpoint)
        for x, y in loader:
            model(x).sum().backward()
        torch.save(model, args.checkpoint)
    """
    assert _called(body) == {"CNN"}


def test_unclear_paths_are_enough_when_every_saved_model_is_of_one_class() -> None:
    body = """
    model = CNN()
    if resume:
        model = torch.load(args.checkpoint)
    model(x)
    torch.save(model, f"{args.out}/last.pkl")
    torch.save(model, f"{args.out}/best.pkl")
    """
    assert _called(body) == {"CNN"}


def test_unclear_paths_and_two_saved_classes_stay_unknown() -> None:
    body = """
    model = CNN()
    other = MLP()
    if resume:
        model = torch.load(args.checkpoint)
    model(x)
    torch.save(model, f"{args.out}/cnn.pkl")
    torch.save(other, f"{args.out}/mlp.pkl")
    """
    assert _called(body) == {"CNN", "loaded"}


def test_a_path_the_file_never_saves_to_stays_unknown() -> None:
    body = """
    model = CNN()
    if resume:
        model = torch.load("downloaded.pkl")
    model(x)
    torch.save(model, "cnn.pkl")
    """
    assert _called(body) == {"CNN", "loaded"}


def test_state_dicts_are_not_models() -> None:
    saved_state = """
    model = CNN()
    state = torch.load("cnn.pt")
    restored = torch.load("cnn.pt")
    restored(x)
    torch.save(model.state_dict(), "cnn.pt")
    """
    assert _called(saved_state, "restored") == {"loaded"}
    loaded_into = """
    model = CNN()
    model.load_state_dict(torch.load("cnn.pkl"))
    restored = torch.load("cnn.pkl")
    restored(x)
    torch.save(model, "cnn.pkl")
    """
    assert _called(loaded_into, "restored") == {"CNN"}
    sem = semantics(CLASSES + textwrap.dedent(loaded_into))
    assert sem.evaluator.checkpoints.restored(_load_calls(sem)[0], None, None) is None


def test_saves_of_what_the_file_cannot_resolve_keep_the_load_unknown() -> None:
    body = """
    class Trainer:
        def save(self, path):
            torch.save(self.model, path)

    model = CNN()
    if resume:
        model = torch.load(args.checkpoint)
    model(x)
    torch.save(model, args.checkpoint)
    """
    assert _called(body) == {"CNN", "loaded"}


def _load_calls(sem):
    return [site.node for site in sem.info.calls if site.qualified == "torch.load"]


def test_a_saved_name_assigned_by_a_helper_that_loads_stays_unknown() -> None:
    body = """
    def restore(path):
        return torch.load(path)

    model = CNN()
    model = restore("cnn.pkl")
    model(x)
    torch.save(model, "cnn.pkl")
    """
    assert _called(body) == {"loaded"}


def test_the_same_name_must_be_the_same_variable() -> None:
    handles = """
    cnn = CNN()
    mlp = MLP()
    with open("cnn.pkl", "wb") as f:
        torch.save(cnn, f)
    with open("mlp.pkl", "wb") as f:
        torch.save(mlp, f)
    with open(args.restore, "rb") as f:
        model = torch.load(f)
    model(x)
    """
    assert _called(handles) == {"loaded"}
    parameters = """
    def save_cnn(path):
        torch.save(cnn, path)

    def save_mlp(path):
        torch.save(mlp, path)

    def load(path):
        return torch.load(path)

    cnn = CNN()
    mlp = MLP()
    model = load(args.checkpoint)
    model(x)
    """
    assert _called(parameters) == {"loaded"}
