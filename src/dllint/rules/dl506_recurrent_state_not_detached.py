from __future__ import annotations

from typing import Iterator

import libcst as cst

from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics
from dllint.semantics.recurrence import CarriedState
from dllint.semantics.syntax import source_text


class RecurrentStateNotDetached(Rule):
    """
    ## What it does
    Flags a forward call in a training loop — `output, hidden = model(data, hidden)` — that is
    fed the state the model returned at the previous iteration while that state is still
    attached to the previous iteration's autograd graph, when a `backward()` ran through that
    graph in between and another runs through this call's output. The state is followed through
    variables, tuples, helper functions and methods of the same file, nested loops (batches ×
    epochs) and recurrent models of any kind (an `nn.LSTM`, a model class holding one, a model
    passed in, a from-scratch RNN returning `(output, hidden)` or a cell fed `(x, h)`),
    also in loops a framework runs (state kept on a Lightning module between `training_step`
    calls, `accelerator.backward(loss)`).

    Not flagged: `hidden = hidden.detach()` (tuple-wise for an LSTM's `(h, c)`),
    `repackage_hidden(hidden)`, `hidden.detach_()` (or each element in place:
    `for h in hidden: h.detach_()`, also when the model is a step function passed in), `Variable(hidden.data)`; state
    re-initialised each iteration (`hidden = model.init_hidden(bs)`, `hidden = None`); state
    passed from step to step within one sequence (an inner time loop) and reset per batch;
    inference loops (no `backward()`); a model that holds no recurrent layer applied again to its
    own whole output as its only input (`feat = conv(feat)`: one layer stacked as several, depth
    rather than time, as when measuring a stack's receptive field).

    ## Why is this bad?
    Truncated backpropagation through time splits a long sequence into chunks, carries the
    hidden state's *value* from one chunk to the next and backpropagates through one chunk
    only. Carrying the tensor without detaching it also carries its history: the graph of the
    next chunk reaches back into the previous one, which `backward()` has already freed. The
    second `backward()` raises "Trying to backward through the graph a second time"; the usual
    "fix", `retain_graph=True`, makes every step backpropagate through *all* earlier batches, so
    each step is slower and holds more memory than the last, and the gradients mix in stale
    batches of weights that have since been updated.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    class LanguageModel(nn.Module):
        def __init__(self, vocab, dim):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.lstm = nn.LSTM(dim, dim)
            self.head = nn.Linear(dim, vocab)

        def forward(self, tokens, hidden):
            output, hidden = self.lstm(self.embed(tokens), hidden)
            return self.head(output), hidden

    model = LanguageModel(10000, 256)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    hidden = None
    for tokens, targets in batches:
        optimizer.zero_grad()
        logits, hidden = model(tokens, hidden)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    class LanguageModel(nn.Module):
        def __init__(self, vocab, dim):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.lstm = nn.LSTM(dim, dim)
            self.head = nn.Linear(dim, vocab)

        def forward(self, tokens, hidden):
            output, hidden = self.lstm(self.embed(tokens), hidden)
            return self.head(output), hidden

    model = LanguageModel(10000, 256)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    hidden = None
    for tokens, targets in batches:
        optimizer.zero_grad()
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        logits, hidden = model(tokens, hidden)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
    ```

    ## References
    - Werbos, [Backpropagation through time: what it does and how to do it](https://doi.org/10.1109/5.58337), Proceedings of the IEEE, 1990
    - Williams & Peng, [An efficient gradient-based algorithm for on-line training of recurrent network trajectories](https://doi.org/10.1162/neco.1990.2.4.490), Neural Computation, 1990 (truncated BPTT)
    - [PyTorch examples: word_language_model, `repackage_hidden`](https://github.com/pytorch/examples/blob/main/word_language_model/main.py) ("we detach the hidden state from how it was previously produced. If we didn't, the model would try backpropagating all the way to start of the dataset")
    - [PyTorch: torch.Tensor.detach](https://pytorch.org/docs/stable/generated/torch.Tensor.detach.html)
    """

    code = "DL506"
    name = "recurrent-state-not-detached"
    summary = "Recurrent state carried into the next training iteration without detaching it"

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        for carried in sem.carried_states:
            node = carried.later.node
            if id(node) in reported:
                continue
            reported.add(id(node))
            yield Report(node, _message(carried))


def _message(carried: CarriedState) -> str:
    state = _argumentsource_text(carried.later.node, carried.argument)
    call = source_text(carried.later.node)
    source = "this call" if carried.earlier.node is carried.later.node else f"`{source_text(carried.earlier.node)}`"
    backward = source_text(carried.backward.node)
    if _retains_graph(carried.backward.node):
        consequence = (
            f"`{backward}` keeps that graph (`retain_graph=True`), so every backward runs through all earlier "
            "batches: each step costs more time and memory than the last"
        )
    else:
        consequence = (
            f"`{backward}` has already freed that graph, so the next backward raises "
            "\"Trying to backward through the graph a second time\""
        )
    return (
        f"`{call}` is fed {state}, the state {source} returned in the previous iteration, still attached to "
        f"that iteration's graph: {consequence} — detach it at the start of each iteration "
        "(`hidden = hidden.detach()`; for an LSTM's `(h, c)`, `tuple(h.detach() for h in hidden)`) or re-initialise it"
    )


def _argumentsource_text(call: cst.CSTNode, index: int) -> str:
    if isinstance(call, cst.Call) and not any(arg.star for arg in call.args):
        positional = [arg for arg in call.args if arg.keyword is None]
        if index < len(positional):
            return f"`{source_text(positional[index].value)}`"
    return "an argument"


def _retains_graph(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and any(
        arg.keyword is not None and arg.keyword.value == "retain_graph"
        and not (isinstance(arg.value, cst.Name) and arg.value.value in ("False", "None"))
        for arg in node.args
    )
