"""Purely linear networks a notebook builds on purpose, to contrast them with their repair.

Teaching notebooks build a network with no activation between its weight layers to show that
it fails (a stack of ``Linear`` layers cannot separate circles or a spiral), then build the
same-shaped network with a non-linearity and show that it works. The collapse is the lesson:
"add an activation" is advice the notebook itself gives, a cell later.

A finding about a collapse (two weight layers with nothing non-linear between them) is
*contrasted* (:meth:`Contrasts.contrasted`) when, in an ``.ipynb`` file whose every root was
evaluated to the end:

* every network the finding sits in — a whole network (a model class in a configuration the
  notebook builds, or an ``nn.Sequential`` that no other network holds) — is purely linear: no
  activation between any two of its weight layers; and
* for each, the notebook also builds a *repair*: another whole network from the same input
  width to the same output width, through at least as many weight layers, with an activation
  on every path between two of them.

Widths are compared as the evaluation knows them: folded constants (``D = 2`` at module level
makes ``nn.Linear(D, H)``'s input width 2), else the same module-level name (``Linear(D, H)``
and ``Linear(D, H)`` with ``D`` read from a file). A width dllint cannot tell — a parameter or
local of a function that the evaluation did not fold, an expression — matches nothing. A network with other widths or
fewer layers is not a repair (a notebook's collapse next to an unrelated, correct network is
still a forgotten activation).

A second signal, on its own: an activation *commented out* between the two layers
(``# nn.ReLU(),`` on a line between them in the same ``nn.Sequential`` or ``forward``) — the
notebook's author took it out, as an exercise ("try uncommenting it").

Scripts (``.py``) are not covered: a module is imported and its networks used elsewhere, and a
linear baseline next to its repair in a library is more likely a leftover than a lesson.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator, Optional, Union

import libcst as cst

from dllint.semantics.contexts import STANDALONE
from dllint.semantics.demonstrations import exports_code
from dllint.semantics.syntax import dotted_name
from dllint.semantics.values import Container, Instance, Layer, Merge, Tensor, Value, options_of

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics, ForwardGraph

_WEIGHT_FAMILIES = ("linear", "conv", "conv_transpose")
# A commented-out activation: ``# nn.ReLU(),``, ``# x = F.relu(x)``, ``# self.act(x)``,
# ``# torch.tanh(h)``.
_COMMENTED_ACTIVATION = re.compile(
    r"^#+\s*(\w+\s*=\s*)?((nn|F|torch|self)\.)?("
    r"relu6?|leaky_?relu|prelu|rrelu|gelu|elu|selu|celu|silu|mish|softplus|sigmoid|tanh|hardtanh|hardswish|"
    r"act|activation|nonlinearity|non_linearity"
    r")\w*\s*\(",
    re.I,
)
# Any commented-out call: ``# nn.Linear(64, 32),``, ``# x = self.fc2(x)``.
_COMMENTED_CALL = re.compile(r"^#+\s*(\w+\s*=\s*)?[\w.]+\s*\(")
_DEPTH = 200  # tensors walked back from one weight layer to the ones before it

Width = Union[int, str]


class _Network:
    """One whole network's weight layers, as one forward graph applies them."""

    def __init__(self, graph: "ForwardGraph") -> None:
        self.owner: Value = graph.instance if graph.instance is not None else graph.container  # type: ignore[assignment]
        self.applications = [tensor for tensor in graph.tensors if _weight_layer(tensor) is not None]
        self.tensors = {id(tensor) for tensor in graph.tensors}
        # For each weight layer applied (by the tensor's id), the weight layers whose output
        # reaches it with no activation on the way.
        self.linear_pairs: dict[int, list[Tensor]] = {
            id(tensor): list(self._linear_predecessors(tensor)) for tensor in self.applications
        }

    @property
    def widths(self) -> Optional[tuple[Width, Width]]:
        if not self.applications:
            return None
        start = _width(_weight_layer(self.applications[0]), "in")  # type: ignore[arg-type]
        end = _width(_weight_layer(self.applications[-1]), "out")  # type: ignore[arg-type]
        return (start, end) if start is not None and end is not None else None

    @property
    def purely_linear(self) -> bool:
        """Every weight layer after the first is reached by the previous one's output with no
        activation on the way."""
        return len(self.applications) >= 2 and all(self.linear_pairs[id(tensor)] for tensor in self.applications[1:])

    @property
    def repaired(self) -> bool:
        """An activation on every path between two weight layers."""
        return len(self.applications) >= 2 and not any(self.linear_pairs.values())

    def _linear_predecessors(self, tensor: Tensor) -> Iterator[Tensor]:
        stack: list[Value] = list(tensor.inputs)
        seen: set[int] = set()
        while stack and len(seen) < _DEPTH:
            value = stack.pop()
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, Merge):
                stack.extend(value.options)
                continue
            if not isinstance(value, Tensor) or id(value) not in self.tensors:
                continue
            if _weight_layer(value) is not None:
                yield value
                continue
            op = value.module_op
            if op is not None and op.kind == "activation":
                continue
            stack.extend(value.inputs)


class Contrasts:
    """The purely linear networks of one notebook that it contrasts with their repair
    (``sem.contrasts``)."""

    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        self.applies = sem.source.is_notebook and not exports_code(sem) and all(trace.complete for trace in sem.traces)
        self._networks: list[_Network] = []
        if not self.applies:
            return
        held = _held_networks(sem)
        evaluator = sem.evaluator
        for graph in sem.all_graphs():
            owner = graph.instance if graph.instance is not None else graph.container
            if owner is None or id(owner) in held:
                continue
            if isinstance(owner, Instance):
                key = evaluator.configuration_key.get(id(owner))
                contexts = evaluator.built_from.get(key, ()) if key is not None else ()
                if not contexts or all(context is STANDALONE for context in contexts):
                    continue  # a class's defaults: a configuration nobody in the notebook builds
            self._networks.append(_Network(graph))

    def contrasted(self, node: cst.CSTNode) -> bool:
        """Whether a collapse reported at ``node`` (where the second weight layer is built or
        applied) is a deliberate one: a purely linear network the notebook contrasts with its
        repair, or one whose activation between the two layers is commented out."""
        if not self.applies:
            return False
        containing = [(network, tensor) for network in self._networks for tensor in network.applications if _applied_at(tensor, node)]
        if not containing:
            return False
        if all(self._activation_commented_out(network, tensor) for network, tensor in containing):
            return True
        return all(network.purely_linear and self._repaired_elsewhere(network) for network, _ in containing)

    def _repaired_elsewhere(self, network: _Network) -> bool:
        widths = network.widths
        if widths is None:
            return False
        return any(
            other.owner is not network.owner
            and other.repaired
            and other.widths == widths
            and len(other.applications) >= len(network.applications)
            for other in self._networks
        )

    def _activation_commented_out(self, network: _Network, second: Tensor) -> bool:
        firsts = network.linear_pairs.get(id(second), [])
        return bool(firsts) and all(self._commented_between(first, second) for first in firsts)

    def _commented_between(self, first: Tensor, second: Tensor) -> bool:
        sites = _site(self.sem, first), _site(self.sem, second)
        if sites[0] is None or sites[1] is None or not _same_scope(self.sem, *sites):
            return False
        positions = self.sem.positions(())
        start, end = positions.get(sites[0]), positions.get(sites[1])
        if start is None or end is None or start.end.line >= end.start.line:
            return False
        code = [
            comment
            for row in range(start.end.line + 1, end.start.line)
            if (comment := self.sem.comment_alone_on(row)) is not None and _COMMENTED_CALL.search(comment)
        ]
        # Only activations: a commented-out block of layers is a removed sub-network, not a removed activation.
        return bool(code) and all(_COMMENTED_ACTIVATION.search(comment) for comment in code)


def _weight_layer(tensor: Tensor) -> Optional[Layer]:
    op = tensor.module_op
    if tensor.kind == "module" and isinstance(tensor.target, Layer) and op is not None and op.kind == "affine" and op.family in _WEIGHT_FAMILIES:
        return tensor.target
    return None


def _width(layer: Layer, side: str) -> Optional[Width]:
    """A layer's input or output width: the folded constant, else the name it is written as."""
    if layer.op.family == "linear":
        name = "in_features" if side == "in" else "out_features"
    else:
        name = "in_channels" if side == "in" else "out_channels"
    value = layer.arg(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    expr = layer.args.get(name)
    written = dotted_name(expr) if expr is not None else None
    if written is None:
        return None
    # A parameter or local of a function (``features`` in two classes' ``__init__``) may be
    # anything: only a module-level name is the same width wherever it is written.
    root = written.split(".")[0]
    scope = layer.scope
    while scope is not None and scope.kind != "module":
        if scope.kind == "function" and root in scope.bindings:
            return None
        scope = scope.parent
    return written


def _applied_at(tensor: Tensor, node: cst.CSTNode) -> bool:
    layer = _weight_layer(tensor)
    return tensor.node is node or (layer is not None and layer.node is node)


def _site(sem: "FileSemantics", tensor: Tensor) -> Optional[cst.CSTNode]:
    """Where a weight layer stands in the code that chains it: the call that applies it
    (``self.fc1(x)`` in a ``forward``), else where it is built (its line in an ``nn.Sequential``)."""
    layer = _weight_layer(tensor)
    node = tensor.node
    if layer is None:
        return None
    if isinstance(node, cst.Call):
        callees = {id(getattr(option, "node", option)) for callee, _, _ in sem.observed(node) for option in options_of(callee)}
        if callees == {id(layer.node)}:
            return node
    return layer.node


def _same_scope(sem: "FileSemantics", a: cst.CSTNode, b: cst.CSTNode) -> bool:
    """Both in one function, or both in one call at module level (one ``nn.Sequential(...)``)."""
    structure = sem.structure

    def scope(node: cst.CSTNode) -> Optional[cst.CSTNode]:
        outers = list(structure.ancestors(node))
        function = next((outer for outer in outers if isinstance(outer, cst.FunctionDef)), None)
        return function or next((outer for outer in outers if isinstance(outer, cst.SimpleStatementLine)), None)

    return scope(a) is not None and scope(a) is scope(b)


def _held_networks(sem: "FileSemantics") -> set[int]:
    """The networks another network holds (a submodule, a Sequential's item): not whole ones."""
    evaluator = sem.evaluator
    held: set[int] = set()
    owners: list[Value] = [*evaluator.containers]
    for cls in sem.module_classes():
        owners.extend(evaluator.configurations(cls))
    for owner in owners:
        if isinstance(owner, Instance):
            children = list(owner.attrs.values()) if owner.attrs else []
        elif isinstance(owner, Container) and owner.kind in ("sequential", "module_list", "module_dict"):
            children = list(owner.items)
        else:
            continue
        for child in children:
            for option in child.options if isinstance(child, Merge) else (child,):
                held.add(id(option))
    return held
