"""Gradient recording as the semantics layer sees it: the innermost of ``no_grad`` /
``enable_grad`` / ``set_grad_enabled(flag)`` wins, as contexts, as decorators and as plain
``set_grad_enabled`` calls; a framework's evaluation hook starts under ``no_grad``."""

from __future__ import annotations

import libcst as cst

from tests.semantics.helpers import semantics


def _forwards_by_line(sem) -> dict[int, set[bool]]:
    """Line of each model call -> the no_grad flags its forward events carry."""
    found: dict[int, set[bool]] = {}
    for trace in sem.traces:
        for event in trace.events:
            if event.kind == "forward":
                line = sem.positions([event.node])[event.node].start.line
                found.setdefault(line, set()).add(event.no_grad)
    return found


def test_innermost_context_wins() -> None:
    sem = semantics(
        """
        import torch
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
        with torch.no_grad():
            a = model(x)
            with torch.enable_grad():
                b = model(x)
                with torch.set_grad_enabled(False):
                    c = model(x)
            d = model(x)
        with torch.set_grad_enabled(True):
            e = model(x)
        with torch.inference_mode():
            f = model(x)
        with torch.set_grad_enabled(flag):
            g = model(x)
        """
    )
    assert _forwards_by_line(sem) == {
        7: {True}, 9: {False}, 11: {True}, 12: {True}, 14: {False}, 16: {True}, 18: {False},
    }


def test_plain_set_grad_enabled_switches_the_statements_after_it() -> None:
    sem = semantics(
        """
        import torch
        import torch.nn as nn

        def run(x):
            model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
            a = model(x)
            torch.set_grad_enabled(False)
            b = model(x)
            torch.set_grad_enabled(True)
            c = model(x)
            return a, b, c
        """
    )
    site_flags = {sem.positions([site.node])[site.node].start.line: site.no_grad for site in sem.info.calls}
    assert (site_flags[7], site_flags[9], site_flags[11]) == (False, True, False)
    assert _forwards_by_line(sem) == {7: {False}, 9: {True}, 11: {False}}


def test_decorators_and_the_helpers_they_call() -> None:
    sem = semantics(
        """
        import torch
        import torch.nn as nn

        @torch.enable_grad()
        def adapt(model, x):
            return model(x)

        def helper(model, x):
            return model(x)

        @torch.no_grad()
        def evaluate(x):
            model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
            return adapt(model, x), helper(model, x)
        """
    )
    functions = {function.name: function for function in sem.info.functions}
    assert (functions["adapt"].no_grad, functions["helper"].no_grad, functions["evaluate"].no_grad) == (False, None, True)
    flags = _forwards_by_line(sem)
    assert flags[7] == {False}  # adapt re-enables gradients, whoever calls it
    assert True in flags[10]  # helper, inlined into evaluate, runs under its no_grad


def test_lightning_validation_step_that_re_enables_gradients() -> None:
    sem = semantics(
        """
        import lightning as L
        import torch
        import torch.nn as nn

        class Lit(L.LightningModule):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))

            def validation_step(self, batch, batch_idx):
                before = self.net(batch)
                torch.set_grad_enabled(True)
                during = self.net(batch)
                torch.set_grad_enabled(False)
                return before, during
        """
    )
    flags = _forwards_by_line(sem)
    assert flags[12] == {True} and flags[14] == {False}


def test_no_grad_block_stops_at_a_nearer_enable_grad() -> None:
    sem = semantics(
        """
        import torch

        with torch.no_grad():
            a = model(x)
            with torch.enable_grad():
                b = model(x)
        """
    )
    calls = {sem.positions([site.node])[site.node].start.line: site.node for site in sem.info.calls if site.method is None and isinstance(site.node.func, cst.Name) and site.node.func.value == "model"}
    outer = sem.structure.no_grad_block(calls[5])
    assert isinstance(outer, cst.With)
    assert sem.structure.no_grad_block(calls[7]) is None
