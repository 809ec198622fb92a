"""A forward at a script's or notebook's top level read as a prediction (loops.top_level_prediction)."""

from __future__ import annotations

from dllint.semantics.loops import top_level_prediction, trained_in_file
from tests.semantics.helpers import semantics

_MODELS = """
import torch
import torch.nn.functional as F
from torchvision import models

def fit(model, loader):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

def show(model, images):
    return model(images).argmax(1)

frozen = models.vgg16(pretrained=True)
_, pred = torch.max(frozen(images).data, 1)
tuned = models.vgg16(pretrained=True)
_, before = torch.max(tuned(images).data, 1)
fit(tuned, loader)
shape = frozen(images).shape
labels = show(frozen, images)
"""


def _forwards(sem):
    """(the called name, whether it is a top-level prediction) for each forward, in the order
    the runs meet them."""
    found = {}
    for trace in sem.traces:
        for event in trace.events:
            if event.kind == "forward":
                verdict = top_level_prediction(sem, trace, event)
                found.setdefault(id(event.node), (event.node.func.value, set()))[1].add(verdict)
    return list(found.values())


def test_scored_top_level_forwards_of_a_model_the_file_never_trains_are_predictions() -> None:
    sem = semantics(_MODELS)
    assert _forwards(sem) == [
        ("frozen", {True}),  # torch.max(...) of its output
        ("tuned", {False}),  # fit() trains it
        ("model", {False}),  # in fit(): a training step
        ("frozen", {False}),  # only its shape is read
        ("model", {False}),  # in show(): not the top level
    ]


def test_trained_in_file_follows_the_model_into_the_function_that_trains_it() -> None:
    sem = semantics(_MODELS)
    models = {
        event.node.func.value: event.target
        for trace in sem.traces for event in trace.events if event.kind == "forward" and not event.stack
    }
    assert trained_in_file(sem, models["tuned"]) and not trained_in_file(sem, models["frozen"])
