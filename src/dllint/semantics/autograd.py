"""What a ``backward()`` reaches: the autograd graph, read off the evaluator's dataflow.

Every :class:`~dllint.semantics.values.Tensor` records what it was computed from; gradients
flow back along those edges (and into the tensors of a tuple, or of a ``torch.cat``/``stack``
of one) except where autograd's graph is cut:

* ``.detach()``, and ``.detach_()`` / ``.requires_grad_(False)`` (in place: the tensor they are
  called on is cut), ``.data`` (the evaluator does not follow it), ``Variable(x)`` (a new
  leaf), ``x.new_zeros(...)`` and other results that carry no gradient (indices, comparisons,
  ``.item()``, ``.numpy()``);
* a tensor computed while gradient recording was off (``torch.no_grad()``, a ``@no_grad``
  function, or inside one).

A value's *graph* is the set of tensors its gradient reaches. Forward calls of models are the
trace's ``forward`` events; :func:`produced` is what one of them returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

import libcst as cst

from dllint.semantics import catalog
from dllint.semantics.values import (
    Constant,
    Container,
    Instance,
    Merge,
    Obj,
    Tensor,
    Unknown,
    Value,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics
    from dllint.semantics.trace import Event

# Methods whose result has no gradient history (a new leaf, an index, a Python number).
_NO_GRADIENT_METHODS = frozenset({
    "detach", "detach_", "data", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "item", "tolist", "numpy",
    "argmax", "argmin", "argsort", "size", "dim", "numel", "nonzero", "long", "int", "bool", "byte",
    "eq", "ne", "lt", "gt", "le", "ge", "isnan", "isinf", "isfinite",
})
_NO_GRADIENT_FUNCTIONS = frozenset({
    "torch.autograd.Variable", "torch.autograd.variable.Variable", "torch.argmax", "torch.argmin", "torch.argsort",
    "torch.multinomial", "torch.bernoulli", "torch.eq", "torch.ne", "torch.lt", "torch.gt", "torch.le", "torch.ge",
    "torch.isnan", "torch.isinf", "torch.isfinite",
})
# Functions of a sequence of tensors (``torch.cat((a, b), 1)``): the evaluator keeps them as
# calls with their arguments; gradients flow into every tensor of the sequence.
_LIMIT = 5000


class Autograd:
    """The graph facts of one file, computed on first use (``sem.autograd``)."""

    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        sem.traces  # noqa: B018 - every root evaluated: all tensors recorded
        self._no_grad = sem.evaluator.no_grad_tensors
        self._cut_in_place: set[int] = set()
        # Functions that detach, in place, a tensor the evaluator could not follow
        # (``for h in hidden: h.detach_()``, where ``h`` is one element of a tuple).
        self.unresolved_cuts: set[int] = set()
        sem.forward_graphs  # noqa: B018 - and every forward pass
        receivers_at: dict[int, tuple[cst.CSTNode, list[Value]]] = {}
        for node, receiver in sem.evaluator.detached_in_place:
            receivers_at.setdefault(id(node), (node, []))[1].extend(_options(receiver))
        for node, receivers in receivers_at.values():
            for receiver in receivers:
                if isinstance(receiver, Tensor):
                    self._cut_in_place.add(id(receiver))
                    if receiver.kind == "subscript":  # ``hidden[0].detach_()``, ``for h in hidden: h.detach_()``
                        self._cut_in_place.update(id(source) for value in receiver.inputs for source in _options(value))
            if not any(isinstance(receiver, Tensor) for receiver in receivers):
                self._unresolved(node)
        for site in sem.method_calls("detach_"):
            if id(site.node) not in receivers_at:  # never evaluated: what it detaches is unknown
                self._unresolved(site.node)
        for trace in sem.traces:
            for event in trace.events:
                if event.kind == "requires_grad" and event.args and _is_false(event.args[0]):
                    self._cut_in_place.update(id(option) for option in _options(event.target) if isinstance(option, Tensor))
                    if any(type(option) is Unknown for option in _options(event.target)):
                        self._unresolved(event.node)
        self._graphs: dict[int, frozenset[int]] = {}

    def _unresolved(self, node: object) -> None:
        site = self.sem.site_of(node) if isinstance(node, cst.Call) else None
        if site is not None and site.function is not None:
            self.unresolved_cuts.add(id(site.function))

    def cut(self, tensor: Tensor) -> bool:
        """Whether gradients stop at this tensor (it is not part of any graph behind it)."""
        if id(tensor) in self._no_grad or id(tensor) in self._cut_in_place:
            return True
        if tensor.kind == "compare" or (tensor.kind == "method" and tensor.target in _NO_GRADIENT_METHODS):
            return True  # (a comparison is a boolean tensor: no gradient)
        return tensor.kind == "function" and tensor.target in _NO_GRADIENT_FUNCTIONS

    def graph(self, value: Value) -> frozenset[int]:
        """Ids of the tensors a gradient flowing back from ``value`` reaches (itself included)."""
        key = id(value)
        known = self._graphs.get(key)
        if known is None:
            known = self._graphs[key] = frozenset(id(t) for t in self.walk(value))
        return known

    def walk(self, value: Value) -> Iterator[Tensor]:
        """The tensors of :meth:`graph`, breadth first."""
        queue = list(_options(value))
        seen: set[int] = set()
        while queue and len(seen) < _LIMIT:
            current = queue.pop(0)
            if id(current) in seen:
                continue
            seen.add(id(current))
            if isinstance(current, Container):  # a tuple of tensors passed on (an LSTM's (h, c))
                queue.extend(option for item in current.items for option in _options(item))
                continue
            if isinstance(current, Obj) and current.qualified in catalog.SEQUENCE_FUNCTIONS:
                queue.extend(option for argument in current.args for option in _options(argument))
                continue
            if not isinstance(current, Tensor) or self.cut(current):
                continue
            yield current
            for source in current.inputs:
                queue.extend(_options(source))

    def graph_of_all(self, values: Iterable[Value]) -> frozenset[int]:
        found: set[int] = set()
        for value in values:
            found |= self.graph(value)
        return frozenset(found)

    def reaches(self, value: Value, tensors: Iterable[Tensor]) -> bool:
        """Whether a gradient from ``value`` reaches one of ``tensors``."""
        graph = self.graph(value)
        return any(id(tensor) in graph for tensor in tensors)


def produced(event: "Event") -> list[Tensor]:
    """The tensors a forward call returned (the items of a returned tuple, each option of a
    value that differs by branch)."""
    found: list[Tensor] = []
    stack: list[tuple[Value, int]] = [(event.output, 0)] if event.output is not None else []
    seen: set[int] = set()
    while stack:
        value, depth = stack.pop()
        if id(value) in seen or depth > 4:
            continue
        seen.add(id(value))
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, Merge):
            stack.extend((option, depth + 1) for option in value.options)
        elif isinstance(value, Container):
            stack.extend((item, depth + 1) for item in value.items)
    return found


def called_inside(sem: "FileSemantics", inner: "Event", outer: "Event") -> bool:
    """Whether the forward call ``inner`` ran inside the forward pass of ``outer``'s model
    (``self.lstm(...)`` within ``model(...)``)."""
    if inner is outer:
        return False
    for option in _options(outer.target):
        if isinstance(option, Instance) and option.cls is not None:
            forward = sem.find_method(option.cls, "forward")
            if forward is not None and forward in inner.stack:
                return True
    return False


def _is_false(value: Value) -> bool:
    return isinstance(value, Constant) and value.value is False


def _options(value: Value) -> tuple[Value, ...]:
    return value.options if isinstance(value, Merge) else (value,)
