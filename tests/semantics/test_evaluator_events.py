"""The evaluator's records that the autograd facts build on: ``requires_grad`` toggles as trace
events (in execution order), loop variables over ``model.parameters()``, and the tensors
computed with gradient recording off."""

from __future__ import annotations

from dllint.semantics import Instance
from dllint.semantics.values import ParameterOf
from tests.semantics.helpers import semantics


def _events(sem, kind):
    return [event for trace in sem.traces for event in trace.events if event.kind == kind]


def test_requires_grad_toggles_are_events_in_execution_order() -> None:
    sem = semantics(
        """
        import torch.nn as nn

        class G(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, z):
                return self.fc(z)

        class D(G):
            pass

        netG = G()
        netD = D()
        for x in loader:
            netG.requires_grad_(False)
            for p in netD.parameters():
                p.requires_grad = True
            loss = netD(netG(x)).mean()
            loss.backward()
            netG.requires_grad_(True)
            for name, q in netD.named_parameters():
                q.requires_grad_(False)
        """
    )
    trace = sem.traces[0]
    toggles = []
    for event in trace.events:  # the first pass through the loop; each toggle once
        if event.kind in ("requires_grad", "backward") and event.iterations[0][1] == 0:
            if not toggles or toggles[-1].node is not event.node:
                toggles.append(event)
    kinds = [(e.kind, e.args[0].value if e.args else None) for e in toggles]
    assert kinds == [("requires_grad", False), ("requires_grad", True), ("backward", None), ("requires_grad", True), ("requires_grad", False)]
    model_toggle, parameter_toggle = toggles[0], toggles[1]
    assert isinstance(model_toggle.target, Instance)
    assert isinstance(parameter_toggle.target, ParameterOf)
    assert parameter_toggle.target.model is not model_toggle.target  # netD's parameter, not netG
    named = toggles[4].target
    assert isinstance(named, ParameterOf) and named.model is parameter_toggle.target.model


def test_parameter_loop_variables_still_behave_as_unknown() -> None:
    sem = semantics(
        """
        import torch

        def train(model, loader):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for x in loader:
                model(x).sum().backward()
                for p in model.parameters():
                    p.grad = None
                optimizer.step()
        """
    )
    clears = _events(sem, "zero_grad")
    assert clears and all(isinstance(e.target, ParameterOf) for e in clears)


def test_tensors_computed_under_no_grad_are_recorded() -> None:
    sem = semantics(
        """
        import torch
        import torch.nn as nn

        class Gen(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)

            def forward(self, z):
                return torch.tanh(self.fc(z))

        gen = Gen()
        with torch.no_grad():
            frozen = gen(torch.randn(2, 8))
        live = gen(torch.randn(2, 8))
        """
    )
    forwards = _events(sem, "forward")
    outputs = [f.output for f in forwards]
    recorded = sem.evaluator.no_grad_tensors
    assert [id(o) in recorded for o in outputs] == [True, False]
