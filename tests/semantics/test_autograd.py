"""The autograd graph the semantics layer reads off the dataflow: where gradients stop."""

from __future__ import annotations

import pytest

from dllint.semantics.autograd import produced
from tests.semantics.helpers import semantics

GAN = """
import torch
import torch.nn as nn
from torch.autograd import Variable


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, z):
        return torch.tanh(self.fc(z))


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        return self.fc(x)


gen = Gen()
critic = Critic()
z = torch.randn(4, 8)
fake = gen(z)
attached = critic(fake)
detached = critic(fake.detach())
wrapped = critic(Variable(fake))
doubled = critic(fake * 2 + 1)
with torch.no_grad():
    sampled = gen(z)
from_sample = critic(sampled)
"""


@pytest.fixture
def gan():
    sem = semantics(GAN)
    return sem, [event for event in sem.traces[0].events if event.kind == "forward"]


def test_the_graph_follows_operations_and_stops_at_detach_variable_and_no_grad(gan) -> None:
    sem, (generated, attached, detached, wrapped, doubled, sampled, from_sample) = gan
    fake = produced(generated)
    assert sem.autograd.reaches(attached.output, fake)
    assert sem.autograd.reaches(doubled.output, fake)
    assert not sem.autograd.reaches(detached.output, fake)
    assert not sem.autograd.reaches(wrapped.output, fake)
    assert sampled.no_grad and not sem.autograd.reaches(from_sample.output, produced(sampled))


def test_tuples_pass_their_tensors_on() -> None:
    sem = semantics(
        """
        import torch
        import torch.nn as nn

        lstm = nn.LSTM(4, 4)
        h = (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4))
        out, state = lstm(torch.randn(3, 1, 4), h)
        out2, state2 = lstm(torch.randn(3, 1, 4), state)
        """
    )
    first, second = [e for e in sem.traces[0].events if e.kind == "recurrent"]
    assert sem.autograd.reaches(second.output, produced(first))


def test_in_place_detach_cuts_the_tensor_and_the_tuple_it_came_from() -> None:
    sem = semantics(
        """
        import torch
        import torch.nn as nn

        gru = nn.GRU(4, 4)
        out, h = gru(torch.randn(3, 1, 4))
        h.detach_()
        out2, h2 = gru(torch.randn(3, 1, 4), h)
        lstm = nn.LSTM(4, 4)
        out3, state = lstm(torch.randn(3, 1, 4))
        state[0].detach_()
        state[1].detach_()
        out4, state4 = lstm(torch.randn(3, 1, 4), state)
        """
    )
    gru_first, gru_second, lstm_first, lstm_second = [e for e in sem.traces[0].events if e.kind == "recurrent"]
    assert not sem.autograd.reaches(gru_second.output, produced(gru_first))
    assert not sem.autograd.reaches(lstm_second.output, produced(lstm_first))



@pytest.mark.parametrize(("detach", "cut"), [
    ("for s in state:\n        s.detach_()", True),
    ("[s.detach_() for s in state]", True),
    ("for s in state:\n        s.detach()", False),  # a detached copy, thrown away
])
def test_each_element_of_a_state_detached_in_place_cuts_it_in_every_evaluation(detach: str, cut: bool) -> None:
    # ``model`` is a parameter: its output, and so the state, is one opaque tensor whose
    # elements the loop visits. The function is also inlined from many call sites, so the
    # in-place detach runs far more often than the evaluator keeps observations of a call.
    sem = semantics(
        f"""
import torch


def carry(model, x, state):
    out, state = model(x, state)
    {detach}
    out, state = model(x, state)
    return out


for _ in range(6):
    carry(lambda x, h: (x, (h,)), torch.randn(2, 4), (torch.zeros(2, 4),))
    carry(lambda x, h: (x, (h,)), torch.randn(2, 4), (torch.zeros(2, 4),))
"""
    )
    forwards = [
        event for trace in sem.traces for event in trace.events
        if event.kind == "forward" and [function.name for function in event.stack] == ["carry"]
    ]
    assert len(forwards) >= 2
    for first, second in zip(forwards[::2], forwards[1::2]):
        assert sem.autograd.reaches(second.output, produced(first)) is not cut
