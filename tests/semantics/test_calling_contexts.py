"""Calling contexts across files, as a file's summary and its events state them: what a call of
another file's function passes, and which parameters' callers decide a model."""

from __future__ import annotations

from dllint.project import NOT_A_MODEL
from dllint.semantics.loops import parameters_deciding
from tests.semantics.helpers import semantics

CALLER = """
import torch
from torch import nn
from helpers import RNNModel, predict


def rnn(inputs, state, params):
    return inputs @ params[0], state


predict(rnn)
predict(RNNModel(nn.GRU(10, 256, num_layers=2, dropout=0.5), 10))
predict(RNNModel(nn.GRU(10, 256), 10))
"""


def test_a_call_of_another_file_says_a_plain_function_is_no_model_and_what_a_wrapper_is_built_with() -> None:
    sem = semantics(CALLER, "main.py")
    passed = [call.args[0] for call in sem.summary.calls if call.callee == "helpers.predict"]
    assert len(passed) == 3
    function, stacked, single = passed
    assert function is NOT_A_MODEL
    assert {"external:helpers.RNNModel", "dropout", "recurrent"} <= stacked.families
    assert "dropout" not in single.families and "recurrent" in single.families


HELPERS = """
import torch


def predict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def run(model, loader):
    return [predict(model, x) for x in loader]


class Runner:
    @torch.no_grad()
    def evaluate(self, model, x):
        return model(x).argmax(1)
"""


def _forwards(sem, function: str):
    return [
        event for trace in sem.traces for event in trace.events
        if event.kind == "forward" and event.stack and event.stack[-1].name == function
    ]


def test_the_outer_callers_decide_a_model_a_helper_of_the_same_file_passes_on() -> None:
    sem = semantics(HELPERS, "helpers.py")
    contexts = parameters_deciding(sem, _forwards(sem, "predict"))
    assert ("helpers.predict", "model", True) in contexts  # called by ``run`` in this file
    assert ("helpers.run", "model", False) in contexts


def test_a_method_parameter_has_no_calling_context_in_other_files() -> None:
    sem = semantics(HELPERS, "helpers.py")
    events = _forwards(sem, "evaluate")
    assert events and parameters_deciding(sem, events) is None
