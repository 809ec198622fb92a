"""State carried from one loop iteration into the next through a model's forward pass.

``out, hidden = model(x, hidden)`` in a training loop hands the next iteration the state the
model returned — and, unless it is detached (``hidden.detach()``, ``repackage_hidden``) or
re-initialised, the autograd graph that computed it. When a ``backward()`` ran through that
graph in between, the next iteration's graph contains it again: the next ``backward()`` fails
("Trying to backward through the graph a second time") or, with ``retain_graph=True``,
backpropagates through every earlier batch.

Read off the evaluator's traces: loops are unrolled, so iteration *k* and *k + 1* of a loop are
both in a trace, each event knowing which iteration of which loop it ran in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.semantics.autograd import called_inside, produced
from dllint.semantics.config_values import Record
from dllint.semantics.loops import holds, looks_like_model
from dllint.semantics.trace import Event, Trace
from dllint.semantics.values import Container, Merge, Obj, Tensor, Value, options_of

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics

_RECURRENT = frozenset({"recurrent"})


class CarriedState:
    """``later`` (a model's forward call, or an RNN layer applied) receives, as its argument number ``argument``, state that
    ``earlier`` returned in a previous iteration of ``loop``, still attached to the graph that
    ``backward`` (in between, in ``earlier``'s iteration) already backpropagated through; and a
    later backward runs through ``later``'s output again."""

    __slots__ = ("trace", "earlier", "later", "argument", "loop", "backward")

    def __init__(self, trace: Trace, earlier: Event, later: Event, argument: int, loop: cst.CSTNode, backward: Event) -> None:
        self.trace = trace
        self.earlier = earlier
        self.later = later
        self.argument = argument
        self.loop = loop
        self.backward = backward


def carried_states(sem: "FileSemantics") -> list[CarriedState]:
    autograd = sem.autograd
    found: list[CarriedState] = []
    seen: set[tuple[int, int]] = set()
    for trace in sem.traces:
        events = trace.events
        forwards = [
            (index, e) for index, e in enumerate(events)
            if not e.no_grad and e.iterations and (
                e.kind == "recurrent" or (e.kind == "forward" and looks_like_model(sem, e.target, e.node, modules_only=False))
            )
        ]
        backwards = [(index, e) for index, e in enumerate(events) if e.kind == "backward" and not e.no_grad]
        if not forwards or len(backwards) < 2:
            continue
        for later_index, later in forwards:
            if any(id(function) in autograd.unresolved_cuts for function in later.stack):
                continue  # something there detaches a tensor in place, maybe this state
            for argument, value in enumerate(later.args):
                key = (id(later.node), argument)
                if key in seen:
                    continue
                graph = autograd.graph(value)
                for earlier_index, earlier in reversed(forwards):  # the nearest model call first
                    if earlier_index >= later_index:
                        continue
                    loop = _crossed_loop(earlier, later)
                    if loop is None:
                        continue
                    state = [t for t in produced(earlier) if id(t) in graph]
                    if not state or not _recurrent(sem, earlier, later, state):
                        continue
                    if not _carried_on_every_path(sem, value, {id(t) for t in state}):
                        continue
                    backward = _backward_through(sem, earlier, state, backwards, earlier_index, later_index, loop)
                    if backward is None or not _backpropagated_again(sem, later, backwards, later_index):
                        continue
                    seen.add(key)
                    found.append(CarriedState(trace, earlier, later, argument, loop, backward))
                    break
    return [carried for carried in found if not any(called_inside(sem, carried.later, other.later) for other in found)]


def _recurrent(sem: "FileSemantics", producer: Event, consumer: Event, state: list[Tensor]) -> bool:
    """Whether ``state``, which ``producer`` returned and ``consumer`` is fed, is a recurrent
    state: the hidden state of an RNN/LSTM/GRU layer (applied directly or held by the model,
    maybe: a model of unknown class), one of the several values a model's forward returns
    (``output, hidden = model(x, hidden)``, a from-scratch RNN), or an output fed back with
    new input (``h = cell(x, h)``). A model known to hold no recurrent layer whose whole output
    is fed back as its only input (``feat = conv(feat)``: one layer stacked as several, depth
    not time) carries no recurrent state."""
    if producer.kind == "recurrent":
        return True
    if holds(sem, producer.target, _RECURRENT, unknown=True).holds is not False:
        return True
    outputs = {id(option) for option in options_of(producer.output)} if producer.output is not None else set()
    return any(id(tensor) not in outputs for tensor in state) or len(consumer.args) > 1


def _carried_on_every_path(sem: "FileSemantics", value: Value, state: set[int]) -> bool:
    """Whether ``value`` is computed from the state, attached to its graph — unless a branch
    before it detaches the state: ``if hidden is not None: hidden = hidden.detach()`` joins the
    detached and the undetached state, and the evaluator does not know which branch a later
    iteration takes, so it is not reported (nor ``if step % k == 0: hidden = hidden.detach()``,
    truncation every k batches on purpose, nor a branch handing the state to a helper of
    another file). A branch that re-initialises the state or leaves it alone does not count:
    ``if hidden is None: hidden = init()`` still carries it on from the second iteration."""
    autograd = sem.autograd
    memo: dict[int, bool] = {}

    def carried(current: Value, depth: int) -> bool:
        key = id(current)
        if key in memo:
            return memo[key]
        memo[key] = False  # a cycle carries nothing
        if depth > 100:
            return False
        if isinstance(current, Merge):
            verdicts = [carried(option, depth + 1) for option in current.options]
            result = any(verdicts) and not any(
                not verdict and _may_cut(option, state) for option, verdict in zip(current.options, verdicts)
            )
        elif isinstance(current, Container):
            result = any(carried(item, depth + 1) for item in current.items)
        elif isinstance(current, Tensor):
            result = key in state or (not autograd.cut(current) and any(carried(s, depth + 1) for s in current.inputs))
        else:
            result = False
        memo[key] = result
        return result

    return carried(value, 0)


def _may_cut(option: Value, state: set[int]) -> bool:
    """Whether a branch's value may be the state, cut: computed from it (``hidden.detach()``,
    ``helper(hidden)``), or a tuple of unknown contents (``tuple(h.detach() for h in hidden)``,
    whose elements the evaluator does not list)."""
    return (isinstance(option, Container) and not option.complete) or _raw_reaches(option, state)


def _raw_reaches(value: Value, state: set[int]) -> bool:
    """Whether ``value`` was computed from the state at all, cut or not."""
    queue = [value]
    seen: set[int] = set()
    while queue and len(seen) < 2000:
        current = queue.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if id(current) in state:
            return True
        if isinstance(current, Merge):
            queue.extend(current.options)
        elif isinstance(current, Container):
            queue.extend(current.items)
        elif isinstance(current, Tensor):
            queue.extend(current.inputs)
        elif isinstance(current, Obj):
            queue.extend(current.args)
            queue.extend(current.kwargs.values())
        elif isinstance(current, Record):
            queue.extend(current.fields.values())
    return False


def _crossed_loop(earlier: Event, later: Event) -> Optional[cst.CSTNode]:
    """The loop whose back edge lies between two events: both ran in the same iterations of
    the loops around it, and ``later`` in a later iteration of this one."""
    for (loop_a, index_a), (loop_b, index_b) in zip(earlier.iterations, later.iterations):
        if loop_a is not loop_b:
            return None
        if index_a != index_b:
            return loop_a if index_a < index_b else None
    return None


def _backward_through(sem: "FileSemantics", earlier: Event, state: list[Tensor], backwards: list[tuple[int, Event]],
                      start: int, end: int, loop: cst.CSTNode) -> Optional[Event]:
    """A backward between the two forwards, in ``earlier``'s iteration of ``loop``, whose
    graph contains the part of the state's graph that ``earlier`` computed."""
    autograd = sem.autograd
    inputs = autograd.graph_of_all(earlier.args)
    computed = autograd.graph_of_all(state) - inputs
    if not computed:
        return None
    iteration = next(index for node, index in earlier.iterations if node is loop)
    for index, backward in backwards:
        if not start < index < end:
            continue
        if not any(node is loop and i == iteration for node, i in backward.iterations):
            continue
        if autograd.graph(backward.target) & computed:
            return backward
    return None


def _backpropagated_again(sem: "FileSemantics", later: Event, backwards: list[tuple[int, Event]], start: int) -> bool:
    autograd = sem.autograd
    outputs = produced(later)
    return any(index > start and autograd.reaches(backward.target, outputs) for index, backward in backwards)
