"""State carried across loop iterations still attached to a graph a backward already used."""

from __future__ import annotations

import libcst as cst

from tests.semantics.helpers import semantics

MODEL = """
import torch
import torch.nn as nn


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.rnn = nn.LSTM(16, 16)
        self.head = nn.Linear(16, 100)

    def forward(self, tokens, hidden):
        output, hidden = self.rnn(self.embed(tokens), hidden)
        return self.head(output), hidden


model = LM()
optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
"""


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def test_state_carried_into_the_next_batch_is_found_at_the_outer_call() -> None:
    sem = semantics(
        MODEL
        + """
hidden = None
for epoch in range(2):
    for tokens, targets in batches:
        optimizer.zero_grad()
        logits, hidden = model(tokens, hidden)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
"""
    )
    [carried] = sem.carried_states
    assert _code(carried.later.node) == "model(tokens, hidden)"
    assert carried.earlier.node is carried.later.node
    assert carried.argument == 1
    assert _code(carried.backward.node) == "loss.backward()"
    assert isinstance(carried.loop, cst.For) and _code(carried.loop.iter) == "batches"


def test_detached_reset_or_within_one_sequence_is_not_carried() -> None:
    sem = semantics(
        MODEL
        + """
hidden = None
for tokens, targets in batches:
    if hidden is not None:
        hidden = tuple(h.detach() for h in hidden)
    logits, hidden = model(tokens, hidden)
    nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
    optimizer.step()

for tokens, targets in batches:
    hidden = None
    loss = 0
    for t in range(tokens.size(0)):
        logits, hidden = model(tokens[t:t + 1], hidden)
        loss = loss + nn.functional.cross_entropy(logits[0], targets[t])
    loss.backward()
    optimizer.step()
"""
    )
    assert sem.carried_states == []


def test_no_backward_in_between_carries_nothing() -> None:
    sem = semantics(
        MODEL
        + """
hidden = None
total = 0
for tokens, targets in batches:
    logits, hidden = model(tokens, hidden)
    total = total + nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
total.backward()
"""
    )
    assert sem.carried_states == []
