"""GAN roles read off the dataflow, and which models an optimizer updates."""

from __future__ import annotations

import libcst as cst

from dllint.semantics.optimizers import optimizer_of, updated_models
from tests.semantics.helpers import semantics

MODELS = """
import itertools

import torch
import torch.nn as nn


class G(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 16)

    def forward(self, z):
        return torch.tanh(self.fc(z))


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 1)

    def forward(self, x):
        return self.fc(x)


netG, netD = G(), D()
opt_G = torch.optim.Adam(netG.parameters())
opt_D = torch.optim.Adam(netD.parameters())
"""


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def test_the_discriminator_step_and_the_generator_step_that_applies_its_gradients() -> None:
    sem = semantics(
        MODELS
        + """
for real in loader:
    opt_G.zero_grad()
    opt_D.zero_grad()
    fake = netG(torch.randn(4, 8))
    d_loss = netD(real).mean() - netD(fake).mean()
    d_loss.backward(retain_graph=True)
    opt_D.step()
    g_loss = netD(fake).mean()
    g_loss.backward()
    opt_G.step()
"""
    )
    steps = sem.discriminator_steps
    assert steps and all(not step.cleared for step in steps)
    step = steps[0]
    assert _code(step.discriminator.node) == "netD(fake)"
    assert _code(step.generator.node) == "netG(torch.randn(4, 8))"
    assert _code(step.step.node) == "opt_D.step()" and _code(step.generator_step.node) == "opt_G.step()"


def test_cleared_when_the_generator_is_zeroed_before_its_step() -> None:
    sem = semantics(
        MODELS
        + """
for real in loader:
    opt_D.zero_grad()
    fake = netG(torch.randn(4, 8))
    (netD(real).mean() - netD(fake).mean()).backward()
    opt_D.step()
    netG.zero_grad()
    netD(netG(torch.randn(4, 8))).mean().backward()
    opt_G.step()
"""
    )
    assert sem.discriminator_steps and all(step.cleared for step in sem.discriminator_steps)


def test_no_discriminator_step_without_a_separate_generator_step() -> None:
    sem = semantics(
        MODELS
        + """
for real in loader:
    opt_G.zero_grad()
    opt_D.zero_grad()
    loss = netD(netG(torch.randn(4, 8))).mean()
    loss.backward()
    opt_D.step()
    opt_G.step()
    loss2 = netD(real).mean()
    loss2.backward()
"""
    )
    assert sem.discriminator_steps == []


def test_updated_models_of_optimizers() -> None:
    sem = semantics(
        MODELS
        + """
joint = torch.optim.Adam(itertools.chain(netG.parameters(), netD.parameters()))
summed = torch.optim.Adam(list(netG.parameters()) + list(netD.parameters()))
groups = torch.optim.SGD([{"params": netG.parameters(), "lr": 1e-3}, {"params": netD.parameters()}])
filtered = torch.optim.Adam(filter(lambda p: p.requires_grad, netD.parameters()))
for x in loader:
    netD(netG(x)).mean().backward()
    opt_G.step()
    joint.step()
    summed.step()
    groups.step()
    filtered.step()


def passed_in(optimizer):
    optimizer.step()
"""
    )
    module_steps = [e for e in sem.traces[0].events if e.kind == "step"][:5]
    named = {
        _code(step.node): sorted(type(m).__name__ + ":" + m.cls.name for m in updated_models(sem, optimizer_of(step)))
        for step in module_steps
    }
    assert named == {
        "opt_G.step()": ["Instance:G"],
        "joint.step()": ["Instance:D", "Instance:G"],
        "summed.step()": ["Instance:D", "Instance:G"],
        "groups.step()": ["Instance:D", "Instance:G"],
        "filtered.step()": ["Instance:D"],
    }
    [passed] = [e for t in sem.traces[1:] for e in t.events if e.kind == "step"]
    assert updated_models(sem, optimizer_of(passed)) is None
